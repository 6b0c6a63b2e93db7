//! The JSON report: `Profile` serialised, with rollup rows keyed `op_type` / `stage`. The schema
//! is documented in README.md and pinned by a test; keys are only ever added.

use serde_json::{Map, Value};

use crate::analysis::Profile;

pub const SCHEMA_VERSION: u32 = 1;

fn rename(rows: &mut Value, to: &str) {
    if let Value::Array(rows) = rows {
        for r in rows {
            if let Value::Object(o) = r {
                if let Some(k) = o.remove("key") {
                    let mut m = Map::new();
                    m.insert(to.to_string(), k);
                    m.extend(std::mem::take(o));
                    *o = m;
                }
            }
        }
    }
}

pub fn to_value(p: &Profile) -> Value {
    let mut v = serde_json::to_value(p).expect("profile serialises");
    if let Value::Object(o) = &mut v {
        if let Some(r) = o.get_mut("by_op_type") {
            rename(r, "op_type");
        }
        if let Some(r) = o.get_mut("by_stage") {
            rename(r, "stage");
        }
        o.insert("schema_version".into(), Value::from(SCHEMA_VERSION));
    }
    v
}

pub fn render(p: &Profile) -> String {
    let mut s = serde_json::to_string_pretty(&to_value(p)).expect("json");
    s.push('\n');
    s
}
