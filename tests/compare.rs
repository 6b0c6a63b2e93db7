//! `compare` and the ResNeXt study: deltas against independent figures, node matching, every
//! format, and bottleneck-block counts worked out by hand.

use assert_cmd::Command;

use crate::common::*;

const R50: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/resnet50.onnx");
const RX50: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/resnext50_32x4d.onnx");

fn run(args: &[&str]) -> String {
    let out = Command::cargo_bin("onnxscope")
        .unwrap()
        .args(args)
        .assert()
        .success();
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

fn json(args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&run(args)).unwrap()
}

fn row<'a>(v: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == key)
        .unwrap_or_else(|| panic!("no row {key}"))
}

#[test]
fn totals_deltas_against_the_first_model() {
    let v = json(&["compare", R50, RX50, "--format", "json", "--dim", "N=1"]);
    assert_eq!(v["models"][0]["label"], "resnet50");
    // Independent figures (models/expected_figures.py, fvcore-checked):
    // FLOPs 8,195,202,560 → 8,481,080,320: Δ = 285,877,760, +3.488 %.
    let f = row(&v, "flops");
    assert_eq!(
        f["values"],
        serde_json::json!([8_195_202_560u64, 8_481_080_320u64])
    );
    assert_eq!(f["delta"][1], 8_481_080_320u64 - 8_195_202_560);
    let pct = f["delta_pct"][1].as_f64().unwrap();
    assert!(
        (pct - 100.0 * 285_877_760.0 / 8_195_202_560.0).abs() < 1e-9,
        "{pct}"
    );
    // params 25,530,472 → 24,994,792: Δ = −535,680.
    assert_eq!(row(&v, "params")["delta"][1], 24_994_792i64 - 25_530_472);
    assert_eq!(row(&v, "nodes")["values"], serde_json::json!([122, 122]));
}

#[test]
fn symbolic_models_compare_at_the_same_bindings() {
    let v = json(&["compare", R50, RX50, "--format", "json"]);
    assert_eq!(row(&v, "flops")["delta"][1], "285877760*N");
    let v8 = json(&["compare", R50, RX50, "--format", "json", "--dim", "N=8"]);
    assert_eq!(row(&v8, "flops")["delta"][1], 8 * 285_877_760u64);
}

#[test]
fn by_op_and_stage() {
    let v = json(&[
        "compare", R50, RX50, "--format", "json", "--by", "op", "--dim", "N=1",
    ]);
    // Conv FLOPs 8,174,272,512 vs 8,456,863,744 (expected_figures.json per-op tables).
    assert_eq!(
        row(&v, "Conv")["values"],
        serde_json::json!([8_174_272_512u64, 8_456_863_744u64])
    );
    let v = json(&[
        "compare", R50, RX50, "--format", "json", "--by", "stage", "--dim", "N=1",
    ]);
    // The stem is the same in both: conv1 236,027,904 FLOPs, Δ 0.
    assert_eq!(row(&v, "conv1")["delta"][1], 0);
}

fn two_models() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let a = model(
        vec![
            node("Relu", "keep", &["x"], &["r"], vec![]),
            node("Sigmoid", "gone", &["r"], &["s"], vec![]),
            node("MatMul", "mm", &["s", "w"], &["y"], vec![]),
        ],
        vec![fvi("x", &[2, 8])],
        vec![fvi("y", &[2, 4])],
        vec![weight("w", &[8, 4])],
    );
    let b = model(
        vec![
            node("Relu", "keep", &["x"], &["r"], vec![]),
            node("Tanh", "new", &["r"], &["s"], vec![]),
            node("MatMul", "mm", &["s", "w"], &["y"], vec![]),
        ],
        vec![fvi("x", &[2, 8])],
        vec![fvi("y", &[2, 6])],
        vec![weight("w", &[8, 6])],
    );
    let pa = dir.path().join("a.onnx");
    let pb = dir.path().join("b.onnx");
    std::fs::write(&pa, to_bytes(&a)).unwrap();
    std::fs::write(&pb, to_bytes(&b)).unwrap();
    (dir, pa, pb)
}

#[test]
fn by_node_is_a_model_diff() {
    let (_d, a, b) = two_models();
    let v = json(&[
        "compare",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--format",
        "json",
        "--by",
        "node",
    ]);
    let d = &v["node_diff"][0];
    assert_eq!(d["added"], serde_json::json!(["new"]));
    assert_eq!(d["removed"], serde_json::json!(["gone"]));
    let changed = d["changed"].as_array().unwrap();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0]["name"], "mm");
    // mm: (2·8 − 1)·2·4 = 120 → (2·8 − 1)·2·6 = 180 FLOPs; params 32 → 48.
    let w = changed[0]["change"].as_str().unwrap();
    assert!(
        w.contains("flops 120 → 180") && w.contains("params 32 → 48") && w.contains("2x4 → 2x6"),
        "{w}"
    );
    assert_eq!(row(&v, "keep")["delta"][1], 0);
    assert_eq!(row(&v, "gone")["values"][1], serde_json::Value::Null);
    let t = run(&[
        "compare",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--by",
        "node",
    ]);
    assert!(
        t.contains("b against a: 1 added, 1 removed, 1 changed")
            && t.contains("  + new")
            && t.contains("  - gone"),
        "{t}"
    );
}

#[test]
fn every_format_renders() {
    let (_d, a, b) = two_models();
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let table = run(&["compare", a, b]);
    assert!(
        table.contains("metric") && table.contains("b (Δ, %)"),
        "{table}"
    );
    // flops: a = 16 + 4·16 + 120 = 200 (Relu 16, Sigmoid 4·16, MatMul 120);
    // b = 16 + 16 + 180 = 212 (Tanh 1 per element): Δ +12, +6.00 %.
    let csv = run(&["compare", a, b, "--format", "csv"]);
    assert!(csv.starts_with("key,a,b,b_delta,b_delta_pct\n"), "{csv}");
    assert!(csv.contains("\nflops,200,212,12,6.0000\n"), "{csv}");
    let md = run(&["compare", a, b, "--format", "md"]);
    assert!(
        md.starts_with("| metric | a | b (Δ, %) |\n|---|---:|---:|\n"),
        "{md}"
    );
    assert!(md.contains("| flops | 200 | 212 (+12, +6.00%) |"), "{md}");
    let svg = run(&["compare", a, b, "--format", "svg"]);
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\"")
            && svg.trim_end().ends_with("</svg>")
    );
    // 3 metric groups (flops, macs, params; no memory access without weights? it is there) × 2 bars
    assert!(svg.matches("<rect x=").count() >= 3 * 2 + 2, "{svg}");
    let html = run(&["compare", a, b, "--format", "html"]);
    assert!(
        html.starts_with("<!DOCTYPE html>")
            && html.contains("<svg")
            && html.contains("<td>212 (+12, +6.00%)</td>"),
        "{html}"
    );
    // Self-contained: no script, nothing loaded from elsewhere; the only URL is the SVG
    // namespace (an identifier, never fetched).
    assert!(!html.contains("<script"), "{html}");
    assert!(
        !html.contains(" src=") && !html.contains(" href="),
        "{html}"
    );
    let ns = html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count();
    assert_eq!(ns, 1, "{html}");
    assert_eq!(
        html.matches("://").count(),
        ns,
        "a URL besides the namespace: {html}"
    );
}

#[test]
fn compare_needs_two_models() {
    Command::cargo_bin("onnxscope")
        .unwrap()
        .args(["compare", R50])
        .assert()
        .code(2);
}

/// Conv FLOPs of the ResNeXt conv2-stage template block (layer1.1: 256 channels in and out,
/// 56×56, no downsample, BatchNorm as its own node so no conv bias), by the seed rule:
///   conv1 1×1 256 → C·d:          (2·256 − 1)·56²·(C·d)
///   conv2 3×3 C·d → C·d, C groups: (2·d·9 − 1)·56²·(C·d)
///   conv3 1×1 C·d → 256:          (2·C·d − 1)·56²·256
fn block_flops_by_hand(c: i128, d: i128) -> i128 {
    let hw = 56 * 56;
    (2 * 256 - 1) * hw * (c * d) + (2 * d * 9 - 1) * hw * (c * d) + (2 * c * d - 1) * hw * 256
}

#[test]
fn bottleneck_block_counts_by_hand_at_several_cardinalities() {
    for (c, d) in [(1, 64), (2, 40), (4, 24), (8, 14), (32, 4)] {
        let cfg = onnxscope::synth::ResNeXtConfig::resnext(50, c as u32, d as u32);
        let m = onnxscope::synth::resnext(&onnxscope::synth::ResNeXtConfig {
            weights: false,
            ..cfg
        })
        .unwrap();
        let model = onnxscope::model::load_bytes(
            std::path::Path::new("b.onnx"),
            onnxscope::synth::to_bytes(&m).into(),
        )
        .unwrap();
        let mut o = onnxscope::analysis::ProfileOptions::default();
        o.shapes.dims.insert("N".into(), 1);
        let p = onnxscope::analysis::profile_model(&model, &o).unwrap();
        let flops: i128 = ["conv1", "conv2", "conv3"]
            .iter()
            .map(|k| int(&node_of(&p, &format!("/layer1/layer1.1/{k}/Conv")).flops))
            .sum();
        assert_eq!(flops, block_flops_by_hand(c, d), "{c}x{d}d");
        // params of the three convs: 256·Cd + 9·d·Cd + Cd·256 (no bias)
        let params: i128 = ["conv1", "conv2", "conv3"]
            .iter()
            .map(|k| int(&node_of(&p, &format!("/layer1/layer1.1/{k}/Conv")).params))
            .sum();
        assert_eq!(
            params,
            256 * c * d + 9 * d * c * d + c * d * 256,
            "{c}x{d}d"
        );
    }
}

#[test]
fn table_2_configurations_stay_within_the_papers_tolerance() {
    // ResNeXt paper, Tables 1–2: these five keep complexity roughly fixed at about 4.1×10⁹
    // multiply-adds and 25×10⁶ parameters. Allow 5 % either way.
    let v = json(&[
        "compare",
        "--resnext",
        "1x64d,2x40d,4x24d,8x14d,32x4d",
        "--format",
        "json",
        "--dim",
        "N=1",
    ]);
    let macs = row(&v, "macs")["values"].as_array().unwrap().clone();
    let params = row(&v, "params")["values"].as_array().unwrap().clone();
    assert_eq!(macs.len(), 5);
    for (m, p) in macs.iter().zip(&params) {
        let (m, p) = (m.as_f64().unwrap(), p.as_f64().unwrap());
        assert!((m / 4.1e9 - 1.0).abs() < 0.05, "MACs {m}");
        assert!((p / 25.0e6 - 1.0).abs() < 0.05, "params {p}");
    }
    // Grouping saves more as cardinality grows; memory access grows with it (ShuffleNet V2 G2).
    let saved = row(&v, "grouped_conv_saved_flops")["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect::<Vec<_>>();
    assert!(saved.windows(2).all(|w| w[0] < w[1]), "{saved:?}");
    let mem = row(&v, "mem_access_bytes")["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect::<Vec<_>>();
    assert!(mem.windows(2).all(|w| w[0] < w[1]), "{mem:?}");
}
