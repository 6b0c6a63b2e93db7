//! The `profile` command's formats and flags: the JSON schema CI parses (pinned key by key),
//! CSV/Markdown rows, table determinism, --top, --group-by, --dim, --input; and the crate's
//! structure: clap only at the edge (`cli`, `main`), no import cycle between top-level modules.

use assert_cmd::Command;

const TINY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/tiny_cnn.onnx");
const RESNEXT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/resnext50_32x4d.onnx");

fn stdout(args: &[&str]) -> String {
    let out = Command::cargo_bin("onnxscope")
        .unwrap()
        .args(args)
        .assert()
        .success();
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

fn keys(v: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
    k.sort();
    k
}

fn has_all(v: &serde_json::Value, want: &[&str]) {
    let k = keys(v);
    for w in want {
        assert!(k.iter().any(|x| x == w), "missing key '{w}' in {k:?}");
    }
}

#[test]
fn json_schema_is_stable() {
    let v: serde_json::Value =
        serde_json::from_str(&stdout(&["profile", RESNEXT, "--format", "json"])).unwrap();
    has_all(
        &v,
        &[
            "model",
            "dims",
            "totals",
            "by_op_type",
            "nodes",
            "unknown",
            "warnings",
            "schema_version",
        ],
    );
    has_all(&v["model"], &["path", "producer", "ir_version", "opsets"]);
    has_all(
        &v["totals"],
        &[
            "flops",
            "macs",
            "params",
            "param_bytes",
            "activation_bytes",
            "grouped_conv",
        ],
    );
    has_all(
        &v["totals"]["grouped_conv"],
        &[
            "count",
            "flops",
            "dense_flops",
            "saved_flops",
            "params",
            "dense_params",
            "saved_params",
        ],
    );
    has_all(
        &v["by_op_type"][0],
        &["op_type", "count", "flops", "macs", "params"],
    );
    let n = &v["nodes"][0];
    has_all(
        n,
        &[
            "name",
            "op_type",
            "domain",
            "inputs",
            "outputs",
            "flops",
            "macs",
            "params",
            "group",
            "dense_flops",
            "dense_params",
        ],
    );
    has_all(&n["inputs"][0], &["name", "shape", "dtype"]);
    // Unbound symbol: counts are expression strings; parameters stay integers.
    assert_eq!(v["totals"]["flops"], "8481080320*N");
    assert!(v["totals"]["params"].is_u64());
    assert_eq!(v["dims"]["N"], serde_json::Value::Null);
    assert_eq!(v["model"]["opsets"][""], 17);
    assert_eq!(
        n["inputs"][0]["shape"],
        serde_json::json!(["N", 3, 224, 224])
    );
    assert_eq!(n["inputs"][0]["dtype"], "float32");
    // Bound: integers.
    let b: serde_json::Value = serde_json::from_str(&stdout(&[
        "profile", RESNEXT, "--format", "json", "--dim", "N=2",
    ]))
    .unwrap();
    assert_eq!(b["totals"]["flops"], 2 * 8_481_080_320u64);
    assert_eq!(b["dims"]["N"], 2);
}

#[test]
fn input_override_sets_the_shape() {
    // 16×16 instead of 8×8 quadruples every spatial count of conv1: 2·3·9·(16·16)·4 = 55,296.
    let v: serde_json::Value = serde_json::from_str(&stdout(&[
        "profile",
        TINY,
        "--format",
        "json",
        "--input",
        "x=1x3x16x16",
    ]))
    .unwrap();
    assert_eq!(v["nodes"][0]["name"], "conv1");
    assert_eq!(v["nodes"][0]["flops"], 2 * 3 * 9 * 16 * 16 * 4);
}

#[test]
fn table_is_deterministic_and_has_the_sections() {
    let a = stdout(&["profile", RESNEXT]);
    let b = stdout(&["profile", RESNEXT]);
    assert_eq!(a, b);
    for needle in [
        "/layer1/layer1.0/conv2/Conv",
        "By op type",
        "Totals:",
        "Grouped convs: 16 convs",
        "warning: weights absent",
    ] {
        assert!(a.contains(needle), "{needle} not in table");
    }
}

#[test]
fn top_k_keeps_the_largest_nodes() {
    let out = stdout(&[
        "profile", TINY, "--format", "csv", "--top", "2", "--dim", "N=1",
    ]);
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.len(), 3, "{out}");
    assert!(
        rows[1].starts_with("conv1,Conv,1x4x8x8,13824,6912,112,"),
        "{}",
        rows[1]
    );
    assert!(
        rows[2].starts_with("conv2,Conv,1x4x8x8,8960,4608,72,"),
        "{}",
        rows[2]
    );
}

#[test]
fn csv_rows_carry_exact_integers() {
    let out = stdout(&["profile", TINY, "--format", "csv", "--dim", "N=1"]);
    let mut r = csv::Reader::from_reader(out.as_bytes());
    let h = r.headers().unwrap().clone();
    assert_eq!(&h[0], "name");
    assert_eq!(&h[3], "flops");
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    assert_eq!(rows.len(), 7);
    let total: u64 = rows.iter().map(|x| x[3].parse::<u64>().unwrap()).sum();
    assert_eq!(total, 23_376); // the hand total of models/make_tiny.py
}

#[test]
fn group_by_op_and_stage() {
    let out = stdout(&[
        "profile",
        RESNEXT,
        "--format",
        "csv",
        "--group-by",
        "op",
        "--dim",
        "N=1",
    ]);
    assert!(
        out.starts_with("op_type,count,flops,macs,params,flops_pct\n"),
        "{out}"
    );
    assert!(
        out.contains("\nConv,53,8456863744,4228431872,22945792,"),
        "{out}"
    );
    let out = stdout(&[
        "profile",
        RESNEXT,
        "--format",
        "csv",
        "--group-by",
        "stage",
        "--dim",
        "N=1",
    ]);
    let stages: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(
        stages,
        [
            "conv1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool",
            "Flatten", "fc"
        ]
    );
    // unstructured names fall back to the output resolution
    let out = stdout(&[
        "profile",
        TINY,
        "--format",
        "csv",
        "--group-by",
        "stage",
        "--dim",
        "N=1",
    ]);
    let stages: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(stages, ["8x8", "4x4", "1x1", "-"]);
}

#[test]
fn markdown_has_a_table_and_totals() {
    let out = stdout(&["profile", TINY, "--format", "md", "--dim", "N=1"]);
    let first = out.lines().next().unwrap();
    assert_eq!(
        first,
        "| name | op_type | output_shape | flops | macs | params | flops_pct |"
    );
    assert!(
        out.contains("| conv1 | Conv | 1x4x8x8 | 13.8 k | 6.91 k | 112 | 59.14% |"),
        "{out}"
    );
    assert!(out.contains("**Totals**: 23.4 k FLOPs"), "{out}");
}

/// Top-level modules of `src/` and the top-level modules each one's code names
/// (`crate::x`, `crate::{x, y}`, `$crate::x`; the `choices!` macro stands for `util`).
/// Comment lines are skipped.
fn module_graph() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    use std::collections::{BTreeMap, BTreeSet};
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules: BTreeMap<String, Vec<std::path::PathBuf>> = BTreeMap::new();
    fn files(p: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        if p.is_dir() {
            for e in std::fs::read_dir(p).unwrap() {
                files(&e.unwrap().path(), out);
            }
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p.to_path_buf());
        }
    }
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "lib" || name == "main" {
            continue;
        }
        let mut f = vec![];
        files(&p, &mut f);
        modules.entry(name).or_default().extend(f);
    }
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let mut graph = BTreeMap::new();
    for (m, fs) in &modules {
        let mut deps = BTreeSet::new();
        for f in fs {
            let text = std::fs::read_to_string(f).unwrap();
            for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
                let mut rest = line;
                while let Some(i) = rest.find("crate::") {
                    rest = &rest[i + "crate::".len()..];
                    let named: Vec<String> = if let Some(group) = rest.strip_prefix('{') {
                        // the first path segment of every item of the group
                        let end = group.find('}').unwrap_or(group.len());
                        group[..end]
                            .split(',')
                            .map(|s| s.trim().split("::").next().unwrap().to_string())
                            .collect()
                    } else {
                        let end = rest
                            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                            .unwrap_or(rest.len());
                        vec![rest[..end].to_string()]
                    };
                    for n in named {
                        let n = if n == "choices" {
                            "util".to_string()
                        } else {
                            n
                        };
                        if names.contains(&n) && n != *m {
                            deps.insert(n);
                        }
                    }
                }
            }
        }
        graph.insert(m.clone(), deps);
    }
    graph
}

#[test]
fn clap_is_used_only_by_cli_and_main() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut offenders = vec![];
    let mut stack = vec![src.clone()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            if p == src.join("cli") {
                continue;
            }
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else if p.extension().is_some_and(|e| e == "rs") && p != src.join("main.rs") {
            let text = std::fs::read_to_string(&p).unwrap();
            for (i, line) in text.lines().enumerate() {
                let code = line.trim_start();
                if !code.starts_with("//") && (code.contains("clap::") || code.contains("clap ::"))
                {
                    offenders.push(format!("{}:{}: {code}", p.display(), i + 1));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "clap outside cli/main:\n{}",
        offenders.join("\n")
    );
    // the scan sees the real thing: the CLI itself does use clap
    let cli = std::fs::read_to_string(src.join("cli/mod.rs")).unwrap();
    assert!(cli.contains("use clap::"));
}

/// Pairs of top-level modules that form one layer: `model` (its shape driver) calls the op
/// registry in `ops`, whose rules read `model`'s types. The pair is checked as one node, so a
/// cycle through it with any other module still fails.
const ONE_LAYER: &[(&str, &str)] = &[("ops", "model")];

#[test]
fn top_level_modules_form_no_cycle() {
    let mut g = module_graph();
    for (from, into) in ONE_LAYER {
        let deps = g.remove(*from).unwrap_or_default();
        for d in g.values_mut() {
            if d.remove(*from) {
                d.insert(into.to_string());
            }
        }
        let merged = g.get_mut(*into).unwrap();
        merged.extend(deps);
        merged.remove(*into);
    }
    // the scan sees real edges: the CLI reaches the commands, the commands reach the model
    assert!(
        g["cli"].contains("budget") && g["cli"].contains("runtime"),
        "{g:?}"
    );
    assert!(
        g["compare"].contains("analysis") && g["budget"].contains("model"),
        "{g:?}"
    );
    // depth-first search for a back edge; the path of the first cycle found is reported
    fn visit(
        m: &str,
        g: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        state: &mut std::collections::BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(m) {
            Some(1) => {
                let start = path.iter().position(|p| p == m).unwrap();
                let mut cycle = path[start..].to_vec();
                cycle.push(m.to_string());
                return Some(cycle);
            }
            Some(_) => return None,
            None => {}
        }
        state.insert(m.to_string(), 1);
        path.push(m.to_string());
        for d in &g[m] {
            if let Some(c) = visit(d, g, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(m.to_string(), 2);
        None
    }
    let mut state = Default::default();
    for m in g.keys() {
        if let Some(c) = visit(m, &g, &mut state, &mut vec![]) {
            panic!("import cycle between top-level modules: {}", c.join(" -> "));
        }
    }
    // and nothing but the CLI depends on it
    let users: Vec<&String> = g
        .iter()
        .filter(|(_, d)| d.contains("cli"))
        .map(|(m, _)| m)
        .collect();
    assert!(users.is_empty(), "modules that import cli: {users:?}");
}
