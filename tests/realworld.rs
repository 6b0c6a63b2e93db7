//! Real exported models beyond ResNets (`models/realworld/`, written by
//! `models/realworld/export.py`) against figures computed independently by that script, never by
//! onnxscope: onnx shape inference on a copy with the symbols bound (shapes observed in
//! onnxruntime where onnx cannot resolve one, e.g. ViT's computed Reshape targets) and the
//! README's per-op formulas, node by node. Where each figure comes from in export.py:
//! - totals, per-op rollups, grouped convs at fixed dims: `figures()` (printed by `main()`);
//! - expressions in N (and S): `fit_polynomial()` over `figures()` at a grid of bindings;
//! - MACs cross-checked with fvcore on the torch models: `fvcore_checks()` (ViT: fvcore's conv +
//!   linear + the attention products by hand, as fvcore skips scaled_dot_product_attention);
//! - the detector: `detector_figures()` (params; FLOPs of the nodes whose shapes do not depend on
//!   the data, from two onnxruntime runs) and `static_analysis()` (the nodes that cannot be
//!   costed, reasoned from the graph).
//!
//! The numbers are written here, not read from a file, so a regenerated fixture cannot silently
//! move them.

use std::path::PathBuf;

use assert_cmd::Command;
use onnxscope::analysis::{profile, Profile, ProfileOptions};
use onnxscope::sym::Count;

fn path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join("realworld")
        .join(file)
}

fn run(file: &str, dims: &[(&str, i64)]) -> Profile {
    let mut o = ProfileOptions::default();
    o.shapes.use_tract = true;
    for (k, v) in dims {
        o.shapes.dims.insert(k.to_string(), *v);
    }
    profile(&path(file), &o).expect("profiles")
}

fn int(c: &Count) -> i128 {
    c.as_int().unwrap_or_else(|| panic!("symbolic: {c}"))
}

/// (count, FLOPs, MACs) of one op type's rollup.
fn op(p: &Profile, op_type: &str) -> (u64, i128, i128) {
    let r = p
        .by_op_type
        .iter()
        .find(|r| r.key == op_type)
        .unwrap_or_else(|| panic!("no {op_type} rollup"));
    (r.count, int(&r.flops), int(&r.macs))
}

/// Stored elements read in non-control slots (export.py `stored_params`), less those that feed
/// nothing but shape arithmetic (export.py `transitive_control_params`: 138 for ViT, 7 for the
/// encoder) — the parameter rule of README "Counting".
const VIT_PARAMS: i128 = 86_567_842 - 138;
const ENCODER_PARAMS: i128 = 49_992 - 7;

/// (FLOPs, MACs, params) of the totals.
fn totals(p: &Profile) -> (i128, i128, i128) {
    let t = &p.totals;
    (int(&t.flops), int(&t.macs), int(&t.params))
}

fn no_unknown(p: &Profile) {
    assert!(p.unknown.is_empty(), "{:?}", p.unknown);
}

fn cli_json(args: &[&str]) -> serde_json::Value {
    let out = Command::cargo_bin("onnxscope")
        .unwrap()
        .args(args)
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).expect("JSON")
}

#[test]
fn vit_b_16_matches_independent_figures() {
    // torchvision vit_b_16: 1 Conv (patches), 12 encoder blocks (MatMul in-projection, q·kᵀ,
    // Softmax, attn·v, Gemm out-projection, LayerNormalization, MatMul MLP with Gelu as
    // Div/Erf/Add/Mul/Mul), the class token Concat, Gemm head.
    let p = run("vit_b_16.onnx", &[("N", 1)]);
    no_unknown(&p);
    assert_eq!(totals(&p), (35_218_354_383, 17_563_828_224, VIT_PARAMS));
    assert_eq!(p.totals.nodes, 1996);
    assert_eq!(op(&p, "Conv"), (1, 231_211_008, 115_605_504));
    assert_eq!(op(&p, "MatMul"), (60, 32_084_293_104, 16_053_110_784));
    assert_eq!(op(&p, "Gemm"), (13, 2_790_223_872, 1_395_111_936));
    // 25 × 197 rows × (7·768 + 3) (with bias)
    assert_eq!(op(&p, "LayerNormalization"), (25, 26_491_575, 0));
    // 12 layers × 12 heads × 197 rows × (5·197 − 2)
    assert_eq!(op(&p, "Softmax"), (12, 27_885_744, 0));
    assert_eq!(op(&p, "Erf"), (12, 7_262_208, 0));
    assert_eq!(op(&p, "Add"), (85, 25_569_036, 0));
    assert_eq!(op(&p, "Mul"), (74, 18_155_548, 0));
    assert_eq!(op(&p, "Div"), (38, 7_262_234, 0));
    // fvcore: conv 115,605,504 + linear 16,732,895,232, plus the attention products it skips,
    // 12 layers × 2 × 12 heads × 197 × 197 × 64 = 715,327,488.
    assert_eq!(
        115_605_504 + 16_732_895_232 + 12 * 2 * 12 * 197 * 197 * 64,
        17_563_828_224i128
    );
    // torchvision counts 86,567,656 parameters; the other 186 stored elements are Constant
    // tensors of the decomposed ops (Gelu's √2 and ½, the attention scale) and of the shape
    // arithmetic feeding Concat/Mul/Div/Mod, which the parameter rule counts (see
    // models/realworld/README.md).
    assert_eq!(86_567_842 - 186, 86_567_656);
    // Of those 186, 138 feed nothing but shape arithmetic (export.py's
    // `transitive_control_params`): not parameters. The other 48 are float Constant scalars of the
    // decomposed ops, which stay counted.
    assert_eq!(VIT_PARAMS, 86_567_656 + 48);
}

#[test]
fn vit_b_16_batch_is_symbolic() {
    let p = run("vit_b_16.onnx", &[]);
    no_unknown(&p);
    // the shape arithmetic (Sqrt, Mod, Div of scalars) costs 120 FLOPs whatever N is
    assert_eq!(p.totals.flops.to_string(), "35218354263*N + 120");
    assert_eq!(p.totals.macs.to_string(), "17563828224*N");
    assert_eq!(p.dims.get("N"), Some(&None));
    let eight = run("vit_b_16.onnx", &[("N", 8)]);
    assert_eq!(int(&eight.totals.flops), 8 * 35_218_354_263 + 120);
}

#[test]
fn mobilenet_v3_small_matches_independent_figures() {
    // depthwise convs, HardSwish, SE blocks (GlobalAveragePool, 1×1 convs, HardSigmoid, Mul)
    let p = run("mobilenet_v3_small.onnx", &[("N", 1)]);
    no_unknown(&p);
    assert_eq!(totals(&p), (118_148_944, 56_510_400, 2_536_800));
    assert_eq!(p.totals.nodes, 122);
    assert_eq!(op(&p, "Conv"), (52, 109_793_152, 54_896_576));
    assert_eq!(op(&p, "HardSwish"), (19, 3_995_680, 0));
    assert_eq!(op(&p, "HardSigmoid"), (9, 9_184, 0));
    assert_eq!(op(&p, "GlobalAveragePool"), (10, 313_600, 0));
    assert_eq!(op(&p, "Mul"), (9, 285_376, 0));
    assert_eq!(op(&p, "Relu"), (14, 470_992, 0));
    assert_eq!(op(&p, "Add"), (6, 53_312, 0));
    assert_eq!(op(&p, "Gemm"), (2, 3_227_648, 1_613_824));
    // fvcore: conv 54,896,576 + linear 1,613,824
    assert_eq!(54_896_576 + 1_613_824, 56_510_400);
    let g = &p.totals.grouped_conv;
    assert_eq!(g.count, 11);
    assert_eq!(int(&g.flops), 14_921_088);
    assert_eq!(int(&g.dense_flops), 3_589_415_424);
    assert_eq!(int(&g.saved_flops), 3_589_415_424 - 14_921_088);
    assert_eq!(int(&g.params), 61_040);
    assert_eq!(int(&g.dense_params), 22_772_312);
    let sym = run("mobilenet_v3_small.onnx", &[]);
    assert_eq!(sym.totals.flops.to_string(), "118148944*N");
}

#[test]
fn transformer_encoder_counts_in_n_and_s() {
    // TransformerEncoderLayer(d_model 64, 4 heads, feed-forward 256): the projections grow with
    // N·S, q·kᵀ, the scale, Softmax and attn·v with N·S².
    let p = run("transformer_encoder.onnx", &[]);
    no_unknown(&p);
    assert_eq!(p.totals.flops.to_string(), "276*N*S^2 + 99518*N*S");
    assert_eq!(p.totals.macs.to_string(), "128*N*S^2 + 49152*N*S");
    assert_eq!(p.dims.get("N"), Some(&None));
    assert_eq!(p.dims.get("S"), Some(&None));
    assert_eq!(int(&p.totals.params), ENCODER_PARAMS);
    // per head and sample: q·kᵀ (2·16 − 1)·S², scale S², Softmax S·(5S − 2), attn·v (2S − 1)·16·S
    let sm = p.nodes.iter().find(|n| n.op_type == "Softmax").unwrap();
    assert_eq!(sm.flops.to_string(), "20*N*S^2 - 8*N*S");

    let one = run("transformer_encoder.onnx", &[("N", 1), ("S", 10)]);
    assert_eq!(totals(&one), (1_022_780, 504_320, ENCODER_PARAMS));
    // fvcore: linear 491,520 + matmul 12,800
    assert_eq!(491_520 + 12_800, 504_320);
    let other = run("transformer_encoder.onnx", &[("N", 3), ("S", 7)]);
    assert_eq!(totals(&other), (2_130_450, 1_051_008, ENCODER_PARAMS));
    assert_eq!(276 * 3 * 49 + 99_518 * 3 * 7, 2_130_450);
    // binding one symbol leaves the other
    let n2 = run("transformer_encoder.onnx", &[("N", 2)]);
    assert_eq!(n2.totals.flops.to_string(), "552*S^2 + 199036*S");
}

#[test]
fn transformer_encoder_cli_binds_both_symbols() {
    let file = path("transformer_encoder.onnx");
    let f = file.to_str().unwrap();
    let v = cli_json(&["profile", f, "--format", "json"]);
    assert_eq!(v["totals"]["flops"], "276*N*S^2 + 99518*N*S");
    assert_eq!(v["dims"]["N"], serde_json::Value::Null);
    let v = cli_json(&[
        "profile", f, "--format", "json", "--dim", "N=3", "--dim", "S=7",
    ]);
    assert_eq!(v["totals"]["flops"], 2_130_450);
    assert_eq!(v["totals"]["macs"], 1_051_008);
    assert_eq!(v["dims"]["S"], 7);
}

#[test]
fn quantized_qdq_matches_independent_figures() {
    // small_convnet (conv 3→8, depthwise 8, pointwise 8→16, GlobalAveragePool, MatMul 16×10 +
    // Add) through quantize_static, QDQ format: Quantize/DequantizeLinear around float ops.
    let p = run("small_convnet_qdq.onnx", &[("N", 1)]);
    no_unknown(&p);
    assert_eq!(totals(&p), (263_704, 106_656, 648));
    assert_eq!(op(&p, "QuantizeLinear"), (8, 27_036, 0));
    assert_eq!(op(&p, "DequantizeLinear"), (16, 19_260, 0));
    assert_eq!(op(&p, "Conv"), (3, 212_992, 106_496));
    assert_eq!(op(&p, "MatMul"), (1, 310, 160));
    // fvcore on the float model: conv 106,496 + matmul 160
    assert_eq!(106_496 + 160, 106_656);
    let g = &p.totals.grouped_conv;
    assert_eq!(
        (g.count, int(&g.flops), int(&g.dense_flops)),
        (1, 36_864, 294_912)
    );
    // dequantizing the stored weights does not depend on N
    let sym = run("small_convnet_qdq.onnx", &[]);
    assert_eq!(sym.totals.flops.to_string(), "262468*N + 1236");
}

#[test]
fn quantized_qoperator_matches_independent_figures() {
    // the same net, QOperator format restricted to Conv and MatMul: QLinearConv, QLinearMatMul
    let p = run("small_convnet_qop.onnx", &[("N", 1)]);
    no_unknown(&p);
    assert_eq!(totals(&p), (281_250, 106_656, 642));
    // as Conv + 3 per output for requantization
    assert_eq!(op(&p, "QLinearConv"), (3, 237_568, 106_496));
    // (2·16 − 1)·10 + 3·10
    assert_eq!(op(&p, "QLinearMatMul"), (1, 340, 160));
    assert_eq!(op(&p, "QuantizeLinear"), (4, 14_640, 0));
    assert_eq!(op(&p, "DequantizeLinear"), (4, 16_404, 0));
    assert_eq!(op(&p, "Relu"), (3, 8_192, 0));
    let g = &p.totals.grouped_conv;
    assert_eq!(
        (g.count, int(&g.flops), int(&g.dense_flops)),
        (1, 43_008, 301_056)
    );
}

#[test]
fn quantized_default_qoperator_costs_com_microsoft_ops() {
    // models/tiny_cnn.onnx through quantize_static with the defaults: the classifier and the
    // pooling become com.microsoft QGemm and QLinearGlobalAveragePool.
    let p = run("tiny_cnn_qop.onnx", &[("N", 1)]);
    no_unknown(&p);
    assert_eq!(totals(&p), (25_294, 11_560, 250));
    assert_eq!(op(&p, "QLinearConv"), (2, 24_320, 11_520));
    // Gemm 4→10 with bias: 2·4·10, + 3·10 requantization
    assert_eq!(op(&p, "QGemm"), (1, 110, 40));
    // 4 outputs × (4·4 + 3)
    assert_eq!(op(&p, "QLinearGlobalAveragePool"), (1, 76, 0));
    assert_eq!(op(&p, "MaxPool"), (1, 192, 0));
    // the MACs are the float tiny_cnn's
    assert_eq!(int(&p.totals.macs), 11_560);
    let fc = p.nodes.iter().find(|n| n.name == "fc_quant").unwrap();
    assert_eq!(fc.outputs[0].dtype, "uint8");
}

/// The detector's nodes that cannot be costed: the 74 that `static_analysis()` in export.py
/// finds (every costly node whose shapes follow the data after the first NonZero or
/// NonMaxSuppression, and the two RoiAlign, for which there is no formula), and the two
/// ReduceProd of `Shape(x)` of such a tensor: their input is [rank], which is static, but
/// onnxscope's shapes are all-or-nothing, so the length of a Shape output is unknown when any
/// dim of its input is.
const DETECTOR_UNKNOWN: &[&str] = &[
    "/rpn/GreaterOrEqual_2",
    "If_1510/else_branch/ReduceMax_1512",
    "If_1510/else_branch/Add_1515",
    "If_1510/else_branch/Mul_1516",
    "If_1510/else_branch/Add_1526",
    "If_1510/else_branch/NonMaxSuppression_1537",
    "/roi_heads/box_roi_pool/Sub",
    "/roi_heads/box_roi_pool/Sub_1",
    "/roi_heads/box_roi_pool/Mul",
    "/roi_heads/box_roi_pool/Sqrt",
    "/roi_heads/box_roi_pool/Div",
    "/roi_heads/box_roi_pool/Log",
    "/roi_heads/box_roi_pool/Div_1",
    "/roi_heads/box_roi_pool/Add",
    "/roi_heads/box_roi_pool/Add_1",
    "/roi_heads/box_roi_pool/Floor",
    "/roi_heads/box_roi_pool/Clip",
    "/roi_heads/box_roi_pool/Sub_2",
    "/roi_heads/box_roi_pool/Equal",
    "/roi_heads/box_roi_pool/RoiAlign",
    "/roi_heads/box_roi_pool/Equal_1",
    "/roi_heads/box_roi_pool/RoiAlign_1",
    "/roi_heads/box_head/fc6/Gemm",
    "/roi_heads/box_head/Relu",
    "/roi_heads/box_head/fc7/Gemm",
    "/roi_heads/box_head/Relu_1",
    "/roi_heads/box_predictor/cls_score/Gemm",
    "/roi_heads/box_predictor/bbox_pred/Gemm",
    "/roi_heads/Sub",
    "/roi_heads/Sub_1",
    "/roi_heads/Mul",
    "/roi_heads/Add",
    "/roi_heads/Mul_1",
    "/roi_heads/Add_1",
    "/roi_heads/Div",
    "/roi_heads/Div_1",
    "/roi_heads/Div_2",
    "/roi_heads/Div_3",
    "/roi_heads/Clip",
    "/roi_heads/Clip_1",
    "/roi_heads/Mul_2",
    "/roi_heads/Add_2",
    "/roi_heads/Mul_3",
    "/roi_heads/Add_3",
    "/roi_heads/Exp",
    "/roi_heads/Mul_4",
    "/roi_heads/Exp_1",
    "/roi_heads/Mul_5",
    "/roi_heads/Mul_6",
    "/roi_heads/Mul_7",
    "/roi_heads/Sub_2",
    "/roi_heads/Sub_3",
    "/roi_heads/Add_4",
    "/roi_heads/Add_5",
    "/roi_heads/Softmax",
    "/roi_heads/Max",
    "/roi_heads/Min",
    "/roi_heads/Max_1",
    "/roi_heads/Min_1",
    "/roi_heads/Greater",
    "/roi_heads/Sub_4",
    "/roi_heads/Sub_5",
    "/roi_heads/GreaterOrEqual",
    "/roi_heads/GreaterOrEqual_1",
    "/roi_heads/And",
    "If_1921/else_branch/ReduceMax_1923",
    "If_1921/else_branch/Add_1926",
    "If_1921/else_branch/Mul_1927",
    "If_1921/else_branch/Add_1937",
    "If_1921/else_branch/NonMaxSuppression_1948",
    "/Mul",
    "/Mul_1",
    "/Mul_2",
    "/Mul_3",
    "ReduceProd_1506",
    "ReduceProd_1917",
];

#[test]
fn detector_profiles_what_it_can_and_lists_the_rest() {
    // torchvision fasterrcnn_mobilenet_v3_large_320_fpn, one 3×320×320 image: two If nodes
    // (NonMaxSuppression in their else branches), TopK, NonZero, RoiAlign, ScatterElements.
    let file = path("fasterrcnn_mobilenet_v3_large_320_fpn.onnx");
    let v = cli_json(&["profile", file.to_str().unwrap(), "--format", "json"]);
    let t = &v["totals"];
    // 19,398,842 stored elements read in non-control slots, less the 76 that feed only shape
    // arithmetic (export.py: `stored_params` − `transitive_control_params`).
    assert_eq!(t["params"], 19_398_842 - 76);
    // independent: 1,462,266,061 over the nodes whose shapes do not depend on the data,
    // less the two ReduceProd above (1 FLOP each)
    assert_eq!(t["flops"], 1_462_266_061i64 - 2);
    assert_eq!(t["macs"], 718_998_400);
    assert_eq!(t["nodes"], 1462);
    let unknown: Vec<(String, String, String)> = v["unknown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["name"].as_str().unwrap().to_string(),
                u["op_type"].as_str().unwrap().to_string(),
                u["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut got: Vec<&str> = unknown.iter().map(|u| u.0.as_str()).collect();
    got.sort();
    let mut want = DETECTOR_UNKNOWN.to_vec();
    want.sort();
    assert_eq!(got, want);
    for (name, op_type, reason) in &unknown {
        if op_type == "RoiAlign" {
            assert_eq!(
                reason, "no cost rule for RoiAlign (domain ai.onnx)",
                "{name}"
            );
        } else {
            assert!(
                reason.starts_with("shape of input 0 unknown")
                    || reason.starts_with("shape of output 0 unknown"),
                "{name}: {reason}"
            );
        }
    }
    let warnings: Vec<&str> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        warnings
            .contains(&"76 nodes could not be costed and count 0 in the totals (see `unknown`)"),
        "{warnings:?}"
    );
    for iff in ["If_1510", "If_1921"] {
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with(&format!("{iff}: If: "))),
            "{warnings:?}"
        );
    }
    // the uncostable nodes are reported as such
    let nodes = v["nodes"].as_array().unwrap();
    let roi = nodes
        .iter()
        .find(|n| n["name"] == "/roi_heads/box_roi_pool/RoiAlign")
        .unwrap();
    assert_eq!(roi["costed"], false);
    let conv = nodes.iter().find(|n| n["op_type"] == "Conv").unwrap();
    assert_eq!(conv["costed"], true);
}

#[test]
fn detector_strict_is_an_error() {
    let file = path("fasterrcnn_mobilenet_v3_large_320_fpn.onnx");
    let out = Command::cargo_bin("onnxscope")
        .unwrap()
        .args(["profile", file.to_str().unwrap(), "--strict"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("RoiAlign"), "{err}");
}

#[test]
fn realworld_fixtures_stay_small() {
    let dir = path("");
    let mut total = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "onnx") {
            let n = std::fs::metadata(&p).unwrap().len();
            assert!(n < 1_000_000, "{} is {n} bytes", p.display());
            assert!(!p.with_extension("onnx.data").exists(), "{}", p.display());
            total += n;
        }
    }
    assert!(total < 3_000_000, "{total} bytes");
}

#[test]
fn own_shape_rules_agree_without_tract() {
    // onnxscope's own rules alone (what is left when tract cannot analyse a model) reach the
    // same figures: ViT's shape arithmetic (`expand(n, -1, -1)` as Equal/Where/ConstantOfShape,
    // Mod, computed Reshape targets) and the com.microsoft quantized ops' shapes.
    let no_tract = |file: &str, dims: &[(&str, i64)]| {
        let mut o = ProfileOptions::default();
        o.shapes.use_tract = false;
        for (k, v) in dims {
            o.shapes.dims.insert(k.to_string(), *v);
        }
        profile(&path(file), &o).expect("profiles")
    };
    let p = no_tract("vit_b_16.onnx", &[("N", 1)]);
    no_unknown(&p);
    assert_eq!(totals(&p), (35_218_354_383, 17_563_828_224, VIT_PARAMS));
    let p = no_tract("mobilenet_v3_small.onnx", &[("N", 1)]);
    assert_eq!(totals(&p), (118_148_944, 56_510_400, 2_536_800));
    let p = no_tract("transformer_encoder.onnx", &[]);
    no_unknown(&p);
    assert_eq!(p.totals.flops.to_string(), "276*N*S^2 + 99518*N*S");
    let p = no_tract("tiny_cnn_qop.onnx", &[("N", 1)]);
    no_unknown(&p);
    assert_eq!(totals(&p), (25_294, 11_560, 250));
    let p = no_tract("small_convnet_qop.onnx", &[("N", 1)]);
    assert_eq!(totals(&p), (281_250, 106_656, 642));
    let p = no_tract("small_convnet_qdq.onnx", &[("N", 1)]);
    assert_eq!(totals(&p), (263_704, 106_656, 648));
}
