//! The JSON report: the `Profile` written with serde as it is walked (no intermediate value
//! tree), rollup rows keyed `op_type` / `stage`, `schema_version` last. The schema is
//! documented in README.md and pinned by the golden files; keys are only ever added.

use std::io::Write;

use serde::ser::{SerializeStruct, Serializer};
use serde::Serialize;
use serde_json::Value;

use crate::analysis::profile::Rollup;
use crate::analysis::Profile;

pub const SCHEMA_VERSION: u32 = 1;

/// Rollup rows with their key written under `name`.
struct Keyed<'a> {
    name: &'static str,
    rows: &'a [Rollup],
}

struct KeyedRow<'a> {
    name: &'static str,
    row: &'a Rollup,
}

impl Serialize for KeyedRow<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.row;
        let mut m = s.serialize_struct("Rollup", 5)?;
        // The schema's key order (as first released: the key, then `params` ahead of the rest).
        m.serialize_field(self.name, &r.key)?;
        m.serialize_field("params", &r.params)?;
        m.serialize_field("count", &r.count)?;
        m.serialize_field("flops", &r.flops)?;
        m.serialize_field("macs", &r.macs)?;
        m.end()
    }
}

impl Serialize for Keyed<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.rows.iter().map(|row| KeyedRow {
            name: self.name,
            row,
        }))
    }
}

/// The profile as the JSON document: its sections in schema order.
struct Document<'a>(&'a Profile);

impl Serialize for Document<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = self.0;
        let mut m = s.serialize_struct("Profile", 12)?;
        m.serialize_field("model", &p.model)?;
        m.serialize_field("dims", &p.dims)?;
        m.serialize_field("totals", &p.totals)?;
        m.serialize_field(
            "by_op_type",
            &Keyed {
                name: "op_type",
                rows: &p.by_op_type,
            },
        )?;
        m.serialize_field(
            "by_stage",
            &Keyed {
                name: "stage",
                rows: &p.by_stage,
            },
        )?;
        m.serialize_field("nodes", &p.nodes)?;
        m.serialize_field("unknown", &p.unknown)?;
        m.serialize_field("warnings", &p.warnings)?;
        m.serialize_field("memory", &p.memory)?;
        m.serialize_field("roofline", &p.roofline)?;
        m.serialize_field("training", &p.training)?;
        m.serialize_field("schema_version", &SCHEMA_VERSION)?;
        m.end()
    }
}

/// The report as a JSON value (for callers that embed it).
pub fn to_value(p: &Profile) -> Value {
    serde_json::to_value(Document(p)).expect("profile serialises")
}

/// Writes the pretty-printed report and a final newline.
pub fn write(p: &Profile, w: impl Write) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::with_capacity(1 << 16, w);
    serde_json::to_writer_pretty(&mut w, &Document(p))?;
    w.write_all(b"\n")?;
    w.flush()
}

/// The pretty-printed report and a final newline.
pub fn render(p: &Profile) -> String {
    let mut out = Vec::with_capacity(4096 + 1024 * p.nodes.len());
    serde_json::to_writer_pretty(&mut out, &Document(p)).expect("profile serialises");
    out.push(b'\n');
    String::from_utf8(out).expect("serde_json writes UTF-8")
}
