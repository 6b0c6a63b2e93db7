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

// ---- compare --llama -------------------------------------------------------------------------

/// A tiny Llama shape: L = 2 layers, H = 64 hidden, I = 128 intermediate, V = 100 vocab.
const TINY: &[&str] = &[
    "--layers",
    "2",
    "--hidden",
    "64",
    "--intermediate",
    "128",
    "--vocab",
    "100",
];

fn llama_json(list: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["compare", "--llama", list, "--format", "json"];
    args.extend_from_slice(TINY);
    args.extend_from_slice(extra);
    json(&args)
}

fn ints(v: &serde_json::Value, key: &str) -> Vec<i128> {
    row(v, key)["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap() as i128)
        .collect()
}

#[test]
fn llama_kv_heads_by_hand() {
    // 4 query heads of d = 64/4 = 16; kv-heads 4 (multi-head), 2, 1 (multi-query); fp32.
    let v = llama_json(
        "4x4,4x2,4x1",
        &["--precision", "fp32", "--prompt", "4", "--generate", "2"],
    );
    let labels: Vec<&str> = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["4x4", "4x2", "4x1"]);
    assert_eq!(v["models"][1]["path"], "synth:llama_2l_64h_4x2_fp32");
    let (l, h, i, voc, d, heads) = (2i128, 64i128, 128i128, 100i128, 16i128, 4i128);
    let (p, g) = (4i128, 2i128);
    let kvs = [4i128, 2, 1];

    // KV cache: K and V, each kv·d values per layer and token, 4 bytes (f32).
    let kv_per_token: Vec<i128> = kvs.iter().map(|kv| 2 * l * kv * d * 4).collect();
    assert_eq!(kv_per_token, [1024, 512, 256]);
    assert_eq!(ints(&v, "kv_cache_bytes_per_token"), kv_per_token);
    // at the context P + G = 6 tokens
    let at_ctx: Vec<i128> = kv_per_token.iter().map(|b| b * (p + g)).collect();
    assert_eq!(ints(&v, "kv_cache_bytes_at_context"), at_ctx);
    assert_eq!(row(&v, "kv_cache_bytes_per_token")["delta"][2], -768);
    let pct = row(&v, "kv_cache_bytes_per_token")["delta_pct"][2]
        .as_f64()
        .unwrap();
    assert!((pct - -75.0).abs() < 1e-9, "{pct}");

    // Parameters: embedding V·H; per layer packed QKV H·(heads + 2·kv)·d, output heads·d·H,
    // gate/up/down 3·H·I, two RMS norms 2·H; final norm H; LM head H·V.
    let params = |kv: i128| {
        voc * h + l * (h * (heads + 2 * kv) * d + heads * d * h + 3 * h * i + 2 * h) + h + h * voc
    };
    let want: Vec<i128> = kvs.iter().map(|kv| params(*kv)).collect();
    assert_eq!(want[0], 95_040);
    assert_eq!(ints(&v, "params"), want);
    // The K and V projections are H × kv·d each: going from 4 to 2 kv-heads drops
    // 2 layers · 2 projections · 64 · (4 − 2)·16 = 8,192 parameters, to 1 kv-head 12,288.
    let deltas: Vec<i64> = row(&v, "params")["delta"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    assert_eq!(deltas, [0, -(2 * 2 * 64 * 2 * 16), -(2 * 2 * 64 * 3 * 16)]);
    // fp32 weights: 4 bytes each
    let wbytes: Vec<i128> = want.iter().map(|p| 4 * p).collect();
    assert_eq!(ints(&v, "weight_bytes"), wbytes);

    // FLOPs per token and layer that depend on kv-heads: the packed QKV projection,
    // (2H − 1)·(heads + 2·kv)·d, and the rotary embedding of K, 3 FLOPs per rotated element
    // (kv·d); attention itself works on the 4 query heads in every configuration.
    let kv_flops = |kv: i128| l * ((2 * h - 1) * 2 * kv * d + 3 * kv * d);
    let prefill = ints(&v, "prefill_flops");
    // the mean over 2 steps is a half-integer here (a float in JSON), the difference exact
    let decode: Vec<f64> = row(&v, "decode_flops_per_token")["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    for (k, kv) in kvs.iter().enumerate() {
        let drop = kv_flops(4) - kv_flops(*kv);
        assert_eq!(prefill[0] - prefill[k], p * drop, "prefill {kv}");
        assert_eq!(decode[0] - decode[k], drop as f64, "decode {kv}");
    }
    assert_eq!(kv_flops(4) - kv_flops(2), 16_448);

    // Decode bytes per step: the weights once + the KV cache of P + k tokens (read P + k − 1,
    // write 1), mean over k = 1, 2: weights + kv_per_token · 5.5.
    let dbytes: Vec<i128> = (0..3)
        .map(|k| wbytes[k] + kv_per_token[k] * 11 / 2)
        .collect();
    assert_eq!(ints(&v, "decode_bytes_per_token"), dbytes);
    // no device: no tokens/s row
    assert!(v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["key"] != "tokens_per_second"));
}

#[test]
fn llama_kv_bytes_follow_the_precision() {
    // int4 keeps f32 activations (so a f32 cache, 4 bytes); fp16 a 2-byte cache.
    // 8 heads of d = 8, kv-heads 8 and 2, block 16.
    for (precision, bytes) in [("int4", 4i128), ("fp16", 2)] {
        let v = llama_json("8x8,8x2", &["--precision", precision, "--block-size", "16"]);
        let want: Vec<i128> = [8i128, 2].iter().map(|kv| 2 * 2 * kv * 8 * bytes).collect();
        assert_eq!(ints(&v, "kv_cache_bytes_per_token"), want, "{precision}");
        // the default generation: 512 + 128 = 640 tokens
        assert_eq!(v["llama"]["context"], 640);
        assert_eq!(
            ints(&v, "kv_cache_bytes_at_context"),
            want.iter().map(|b| b * 640).collect::<Vec<_>>()
        );
        // logical parameters do not depend on the precision: K and V projections 64 × kv·8
        assert_eq!(row(&v, "params")["delta"][1], -(2 * 2 * 64 * 6 * 8));
    }
}

#[test]
fn llama_tokens_per_second_on_a_memory_bound_device() {
    // 1 GB/s and a peak so high that every step is memory-bound: a step takes bytes / 1e9 s.
    let v = llama_json(
        "4x4,4x1",
        &[
            "--precision",
            "fp32",
            "--prompt",
            "4",
            "--generate",
            "2",
            "--peak-gflops",
            "1000000",
            "--bandwidth-gbs",
            "1",
        ],
    );
    assert_eq!(v["models"][0]["decode_bound"], "memory");
    // weights 4·params (95,040 and 95,040 − 12,288), KV 1024 and 256 bytes per token;
    // steps k = 1, 2 read/write P + k = 5, 6 tokens.
    for (k, (params, kvb)) in [(95_040f64, 1024f64), (95_040.0 - 12_288.0, 256.0)]
        .into_iter()
        .enumerate()
    {
        let seconds = (4.0 * params + kvb * 5.0) / 1e9 + (4.0 * params + kvb * 6.0) / 1e9;
        let tps = row(&v, "tokens_per_second")["values"][k].as_f64().unwrap();
        assert!((tps - 2.0 / seconds).abs() < 1e-6 * tps, "{tps}");
    }
    let t = run(&[
        "compare",
        "--llama",
        "4x4,4x1",
        "--layers",
        "2",
        "--hidden",
        "64",
        "--intermediate",
        "128",
        "--vocab",
        "100",
        "--peak-gflops",
        "1000000",
        "--bandwidth-gbs",
        "1",
    ]);
    assert!(t.contains("decode is memory-bound"), "{t}");
}

#[test]
fn llama_every_format_renders() {
    let mut base = vec!["compare", "--llama", "4x4,4x2", "--precision", "fp32"];
    base.extend_from_slice(TINY);
    base.extend_from_slice(&["--prompt", "4", "--generate", "2"]);
    let with = |f: &str| {
        let mut a = base.clone();
        a.extend_from_slice(&["--format", f]);
        run(&a)
    };
    let table = run(&base);
    assert!(
        table.starts_with("Llama configurations (heads x kv-heads): 2 layers, hidden 64")
            && table.contains("4x2 (Δ, %)")
            && table.contains("kv_cache_bytes_per_token"),
        "{table}"
    );
    // KV bytes per token 1024 → 512: Δ −512, −50 %.
    let csv = with("csv");
    assert!(
        csv.starts_with("key,4x4,4x2,4x2_delta,4x2_delta_pct\n"),
        "{csv}"
    );
    assert!(
        csv.contains("\nkv_cache_bytes_per_token,1024,512,-512,-50.0000\n"),
        "{csv}"
    );
    let md = with("md");
    assert!(
        md.contains("| metric | 4x4 | 4x2 (Δ, %) |\n|---|---:|---:|\n"),
        "{md}"
    );
    assert!(
        md.contains("| kv_cache_bytes_per_token | 1.02 k | 512 (-512, -50.00%) |"),
        "{md}"
    );
}

#[test]
fn llama_bad_configurations_are_refused() {
    let fail = |args: &[&str], needle: &str| {
        let out = Command::cargo_bin("onnxscope")
            .unwrap()
            .args(args)
            .assert()
            .code(2);
        let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(out.get_output().stdout.is_empty());
    };
    fail(
        &["compare", "--llama", "32x0"],
        "'32x0': must be at least 1",
    );
    fail(&["compare", "--llama", "32,8"], "'32': no 'x'");
    fail(&["compare", "--llama", "32x8,"], "empty item");
    // kv-heads must divide heads
    fail(
        &["compare", "--llama", "32x5"],
        "kv-heads 5: must divide --heads",
    );
    fail(&["compare", "--llama", "32x8", R50], "not both");
    fail(
        &["compare", "--llama", "32x8", "--format", "svg"],
        "svg is not available",
    );
    fail(&["compare", "--llama", "32x8", "--by", "op"], "--by");
    fail(&["compare", "--llama", "32x8", "--prompt", "0"], "--prompt");
    fail(&["compare", "--llama", "32x8", "--dim", "N=1"], "--dim");
}

#[test]
fn llama_flags_need_llama() {
    Command::cargo_bin("onnxscope")
        .unwrap()
        .args(["compare", R50, RX50, "--layers", "2"])
        .assert()
        .code(2);
}
