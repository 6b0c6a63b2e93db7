//! Real exports' odd dims and If-branch scope (issue 12): a Paddle-style `-1` batch, `--input`
//! over stale symbolic value_info, networks inside `If` branches that read the outer scope.
//! Fixtures in `models/odd/` (generator `models/odd/make_odd.py`, which also runs them in
//! onnxruntime); every expected count is worked out by hand below.

use assert_cmd::Command;
use serde_json::Value;

use crate::common::*;
use onnxscope::model::proto::data_type as dt;

fn fixture(name: &str) -> String {
    format!("{}/models/odd/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// `onnxscope profile --format json` on `path` with `extra` flags: the report, exit 0.
fn profile_json(path: &str, extra: &[&str]) -> Value {
    let out = Command::cargo_bin("onnxscope")
        .unwrap()
        .arg("profile")
        .arg(path)
        .args(extra)
        .args(["--format", "json"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).expect("json report")
}

fn warnings(p: &Value) -> Vec<String> {
    p["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect()
}

// paddle_cls.onnx, per sample (x [N, 3, 8, 8], all ops at 8×8):
//   Conv 3→4, k3, pad 1, bias: 2·Ci·K²·H·W·Co = 2·3·9·64·4 = 13824
//   BatchNormalization: 2 per element = 2·4·64             =   512
//   Relu: 1 per element = 4·64                              =   256
//   GlobalAveragePool: Πspatial per output = 64·4           =   256
//   Flatten                                                 =     0
//   Gemm 4→2 with bias: 2I·O = 2·4·2                        =    16
//   Softmax over 2: 5n − 2 = 8 per row, 1 row               =     8
const PADDLE_PER_SAMPLE: i64 = 13824 + 512 + 256 + 256 + 16 + 8;

#[test]
fn paddle_minus_one_batch_is_a_dynamic_dim() {
    assert_eq!(PADDLE_PER_SAMPLE, 14872);
    let p = profile_json(&fixture("paddle_cls.onnx"), &[]);
    assert_eq!(p["dims"]["x_d0"], Value::Null, "{}", p["dims"]);
    assert_eq!(p["totals"]["flops"], "14872*x_d0");
    let w = warnings(&p);
    assert!(
        w.iter()
            .any(|w| w.contains("input 'x' declares dim -1 on axis 0") && w.contains("'x_d0'")),
        "{w:?}"
    );
    // the output and one value_info also say -1: counted in one line
    assert!(
        w.iter()
            .any(|w| w.starts_with("2 dims of outputs and value_info are declared -1")),
        "{w:?}"
    );
    assert!(p["unknown"].as_array().unwrap().is_empty());

    // bound by --dim or by --input, and the binding is reported
    let p = profile_json(&fixture("paddle_cls.onnx"), &["--dim", "x_d0=3"]);
    assert_eq!(p["totals"]["flops"], 3 * PADDLE_PER_SAMPLE);
    assert_eq!(p["dims"]["x_d0"], 3);
    let p = profile_json(&fixture("paddle_cls.onnx"), &["--input", "x=2x3x8x8"]);
    assert_eq!(p["totals"]["flops"], 2 * PADDLE_PER_SAMPLE);
    assert_eq!(p["dims"]["x_d0"], 2);
}

#[test]
fn dims_below_minus_one_stay_an_error() {
    let m = model(
        vec![node("Relu", "r", &["x"], &["y"], vec![])],
        vec![vi("x", dt::FLOAT, &[D::V(-2), D::V(4)])],
        vec![fvi("y", &[1, 4])],
        vec![],
    );
    let (_d, path) = write_model(&m, "minus_two.onnx");
    let out = Command::cargo_bin("onnxscope")
        .unwrap()
        .arg("profile")
        .arg(&path)
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("'x' has dim -2 on axis 0"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

// stale_value_info.onnx, per sample (x [N, 3, 8, 8]):
//   Conv 3→4, k1, no bias: (2·Ci·K² − 1)·H·W·Co = (2·3·1 − 1)·64·4 = 1280
//   Relu: 4·64                                                      =  256
//   GlobalAveragePool: 64·4                                         =  256
//   Flatten, Unsqueeze, Squeeze                                     =    0
//   GRU, H = 3, I = 4, no B, one step, one direction:
//     3H·(2I − 1) + 3H·(2H − 1) + 3H + 14H = 9·7 + 9·5 + 9 + 42     =  159
//   Gemm 3→5 with bias: 2·3·5                                       =   30
const STALE_PER_SAMPLE: i64 = 1280 + 256 + 256 + 159 + 30;

#[test]
fn forced_input_wins_over_stale_value_info() {
    assert_eq!(STALE_PER_SAMPLE, 1981);
    let path = fixture("stale_value_info.onnx");
    let p = profile_json(&path, &[]);
    assert_eq!(p["totals"]["flops"], "1981*DynamicDimension_0");
    // --input pins the batch: every count is a number, and the binding is reported
    let p = profile_json(&path, &["--input", "x=1x3x8x8"]);
    assert_eq!(p["totals"]["flops"], STALE_PER_SAMPLE);
    assert_eq!(p["dims"]["DynamicDimension_0"], 1, "{}", p["dims"]);
    for n in p["nodes"].as_array().unwrap() {
        assert!(n["flops"].is_number(), "{n}");
    }
    let p = profile_json(&path, &["--input", "x=4x3x8x8"]);
    assert_eq!(p["totals"]["flops"], 4 * STALE_PER_SAMPLE);
    assert_eq!(p["dims"]["DynamicDimension_0"], 4);
    // the same without tract (own rules only)
    let p = profile_json(&path, &["--input", "x=4x3x8x8", "--no-tract"]);
    assert_eq!(p["totals"]["flops"], 4 * STALE_PER_SAMPLE);
    // --dim binds the same symbol
    let p = profile_json(&path, &["--dim", "DynamicDimension.0=2"]);
    assert_eq!(p["totals"]["flops"], 2 * STALE_PER_SAMPLE);
}

#[test]
fn forced_input_against_a_dim_binding_warns() {
    // --dim N=2 but --input x=3x…: x is 3 (the forced shape), the disagreement is told
    let p = profile_json(
        &fixture("stale_value_info.onnx"),
        &["--dim", "DynamicDimension.0=2", "--input", "x=3x3x8x8"],
    );
    assert_eq!(p["totals"]["flops"], 3 * STALE_PER_SAMPLE);
    let w = warnings(&p);
    assert!(
        w.iter()
            .any(|w| w.contains("--input x: axis 0 (DynamicDimension_0) given 3")),
        "{w:?}"
    );
}

#[test]
fn value_info_that_contradicts_inference_is_warned_and_ignored() {
    // Relu on x [2, 4] whose value_info claims [2, 5]: 2·4 = 8 FLOPs, one warning
    let mut m = model(
        vec![
            node("Relu", "r", &["x"], &["h"], vec![]),
            node("Relu", "r2", &["h"], &["y"], vec![]),
        ],
        vec![fvi("x", &[2, 4])],
        vec![fvi("y", &[2, 4])],
        vec![],
    );
    m.graph.as_mut().unwrap().value_info.push(fvi("h", &[2, 5]));
    let (_d, path) = write_model(&m, "contradicting.onnx");
    let p = profile_json(path.to_str().unwrap(), &[]);
    assert_eq!(p["totals"]["flops"], 2 * 4 + 2 * 4);
    let w = warnings(&p);
    assert!(
        w.iter().any(|w| w.contains("stored value_info disagrees")
            && w.contains("'h': declared [2, 5], inferred [2, 4]")),
        "{w:?}"
    );
}

// if_lstm.onnx: x [1, 1, 16], sr a scalar; If(sr == 16000) with both branches reading x and
// main-graph initializers. Shapes cross-checked with onnxruntime in make_odd.py.
//
// then_branch (16 kHz):
//   Shape, Size                                   0
//   Equal(rank, 2): one element                   1
//   If on the rank (x is 3-D: Identity)           0
//   Conv Ci=1 → Co=4, K=3, pad 1, bias, T=16:
//     2·Ci·K·T·Co = 2·1·3·16·4                  384
//   Transpose → X [S=16, B=1, I=4]                0
//   LSTM H=4, I=4, with B, 16 steps:
//     4H·(2I − 1) = 16·7 = 112; 4H·(2H − 1) = 16·7 = 112; 4H = 16; 8H = 32 (B);
//     (12 + 2 + 4)·H = 72 → 344 per step, ×16  5504
//   Reshape (target: outer initializer)           0
const THEN_BRANCH: i64 = 1 + 2 * 3 * 16 * 4 + 16 * (112 + 112 + 16 + 32 + 72);
// else_branch (8 kHz):
//   Conv Ci=1 → Co=2, K=5, stride 2, pad 2, bias: T = (16 + 4 − 5)/2 + 1 = 8:
//     2·1·5·8·2                                 160
//   Transpose → X [S=8, B=1, I=2]                 0
//   LSTM H=4, I=2, with B, 8 steps:
//     4H·(2I − 1) = 16·3 = 48; 112; 16; 32; 72 → 280 per step, ×8   2240
//   Reshape                                       0
//   Equal(sr, 8000)                               1
//   nested If: Mul or Add of [1, 4] by a main-graph [1]: 4 either way
const ELSE_BRANCH: i64 = 2 * 5 * 8 * 2 + 8 * (48 + 112 + 16 + 32 + 72) + 1 + 4;

#[test]
fn if_branches_read_the_outer_scope() {
    assert_eq!((THEN_BRANCH, ELSE_BRANCH), (5889, 2405));
    // main graph: Equal(sr, 16000) 1; the If: the larger branch; Softmax over 4: 5·4 − 2 = 18
    let total = 1 + THEN_BRANCH.max(ELSE_BRANCH) + (5 * 4 - 2);
    for extra in [&[][..], &["--no-tract"][..]] {
        let p = profile_json(&fixture("if_lstm.onnx"), extra);
        assert!(
            p["unknown"].as_array().unwrap().is_empty(),
            "{}",
            p["unknown"]
        );
        assert_eq!(p["totals"]["flops"], total, "{extra:?}");
        let rate_if = p["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == "rate_if")
            .unwrap();
        assert_eq!(rate_if["flops"], THEN_BRANCH);
        let note = rate_if["note"].as_str().unwrap();
        assert!(
            note.contains(&format!("else_branch {ELSE_BRANCH} FLOPs"))
                && note.contains(&format!("then_branch {THEN_BRANCH} FLOPs"))
                && note.contains("the larger (then_branch) is counted"),
            "{note}"
        );
    }
}

/// A Loop body that reads an outer initializer by name: typed with it visible, and the Loop's
/// outputs typed from the body (carried value: its shape; scan output: the trip count in front),
/// so the nodes after the Loop are costed too — with tract and with the own rules alone.
#[test]
fn loop_body_reads_the_outer_scope_and_types_the_loop_outputs() {
    use onnxscope::model::proto::{attribute_type, AttributeProto, GraphProto};
    let body = GraphProto {
        name: "body".into(),
        node: vec![
            node("Identity", "keep", &["cond_in"], &["cond_out"], vec![]),
            // `scale` [3] is a main-graph initializer the body reads by name
            node("Mul", "mul", &["v", "scale"], &["v_out"], vec![]),
            node("Identity", "emit", &["v_out"], &["scan_out"], vec![]),
        ],
        input: vec![
            vi("i", dt::INT64, &[]),
            vi("cond_in", dt::BOOL, &[]),
            fvi("v", &[2, 3]),
        ],
        output: vec![
            vi("cond_out", dt::BOOL, &[]),
            vi("v_out", dt::FLOAT, &[]),
            vi("scan_out", dt::FLOAT, &[]),
        ],
        ..Default::default()
    };
    // the body's data outputs declare no shape: theirs must come from the body's rules
    let mut body = body;
    for o in &mut body.output[1..] {
        if let Some(onnxscope::model::proto::type_proto::Value::TensorType(t)) =
            o.r#type.as_mut().and_then(|t| t.value.as_mut())
        {
            t.shape = None;
        }
    }
    let lp = node(
        "Loop",
        "loop",
        &["trips", "go", "x"],
        &["v_final", "stacked"],
        vec![AttributeProto {
            name: "body".into(),
            r#type: attribute_type::GRAPH,
            g: Some(body),
            ..Default::default()
        }],
    );
    let mut trips = ints_tensor("trips", &[4]);
    trips.dims = vec![];
    let mut go = ints_tensor("go", &[1]);
    go.data_type = dt::BOOL;
    go.dims = vec![];
    let m = model(
        vec![
            lp,
            node("Relu", "after_stacked", &["stacked"], &["y1"], vec![]),
            node("Relu", "after_final", &["v_final"], &["y2"], vec![]),
        ],
        vec![fvi("x", &[2, 3])],
        vec![
            vi("y1", dt::FLOAT, &[D::S("a"), D::S("b"), D::S("c")]),
            vi("y2", dt::FLOAT, &[D::S("d"), D::S("e")]),
        ],
        vec![trips, go, weight("scale", &[3])],
    );
    let (_d, path) = write_model(&m, "loop_outer.onnx");
    // body: Mul [2, 3] by [3] = 6 FLOPs, ×4 trips = 24; Relu on the stacked scan output
    // [4, 2, 3] = 24; Relu on the final carried value [2, 3] = 6
    let expected = 6 * 4 + 4 * 2 * 3 + 2 * 3;
    for extra in [&[][..], &["--no-tract"][..]] {
        let p = profile_json(path.to_str().unwrap(), extra);
        assert!(
            p["unknown"].as_array().unwrap().is_empty(),
            "{}",
            p["unknown"]
        );
        assert_eq!(p["totals"]["flops"], expected, "{extra:?}");
    }
}

/// The same for Scan: the body reads an outer initializer; the scan output gets the scan
/// length in front, the state keeps its shape.
#[test]
fn scan_body_reads_the_outer_scope_and_types_the_scan_outputs() {
    use onnxscope::model::proto::{attribute_type, AttributeProto, GraphProto};
    let mut body = GraphProto {
        name: "body".into(),
        node: vec![
            // `scale` [3] is a main-graph initializer the body reads by name
            node("Add", "acc", &["state", "scale"], &["state_out"], vec![]),
            node("Mul", "mul", &["row", "scale"], &["scan_out"], vec![]),
        ],
        input: vec![fvi("state", &[3]), fvi("row", &[2, 3])],
        output: vec![fvi("state_out", &[3]), fvi("scan_out", &[2, 3])],
        ..Default::default()
    };
    // the body's outputs declare no shape: theirs must come from the body's rules
    for o in &mut body.output {
        if let Some(onnxscope::model::proto::type_proto::Value::TensorType(t)) =
            o.r#type.as_mut().and_then(|t| t.value.as_mut())
        {
            t.shape = None;
        }
    }
    let scan = node(
        "Scan",
        "scan",
        &["s0", "x"],
        &["s_final", "stacked"],
        vec![
            AttributeProto {
                name: "body".into(),
                r#type: attribute_type::GRAPH,
                g: Some(body),
                ..Default::default()
            },
            a_int("num_scan_inputs", 1),
        ],
    );
    let m = model(
        vec![
            scan,
            node("Relu", "after_stacked", &["stacked"], &["y1"], vec![]),
            node("Relu", "after_final", &["s_final"], &["y2"], vec![]),
        ],
        vec![fvi("s0", &[3]), fvi("x", &[5, 2, 3])],
        vec![
            vi("y1", dt::FLOAT, &[D::S("a"), D::S("b"), D::S("c")]),
            vi("y2", dt::FLOAT, &[D::S("d")]),
        ],
        vec![weight("scale", &[3])],
    );
    let (_d, path) = write_model(&m, "scan_outer.onnx");
    // body: Add [3] = 3, Mul [2, 3] = 6 → 9 per row, ×5 rows = 45; Relu on the stacked
    // [5, 2, 3] = 30; Relu on the final state [3] = 3
    let expected = (3 + 2 * 3) * 5 + 5 * 2 * 3 + 3;
    for extra in [&[][..], &["--no-tract"][..]] {
        let p = profile_json(path.to_str().unwrap(), extra);
        assert!(
            p["unknown"].as_array().unwrap().is_empty(),
            "{}",
            p["unknown"]
        );
        assert_eq!(p["totals"]["flops"], expected, "{extra:?}");
    }
}

/// A trailing optional input named "" is the same as one left out (a Conv whose bias is ""):
/// tract's parser used to index past it and panic, so `run` refused a legal model.
#[test]
fn trailing_empty_optional_input_runs() {
    let m = model(
        vec![node("Conv", "conv", &["x", "w", ""], &["y"], vec![])],
        vec![fvi("x", &[1, 3, 4, 4])],
        vec![fvi("y", &[1, 4, 4, 4])],
        vec![weight("w", &[4, 3, 1, 1])],
    );
    let (_d, path) = write_model(&m, "conv_empty_bias.onnx");
    // Conv 3→4, k1, no bias: (2·3·1 − 1)·16·4 = 320
    let p = profile_json(path.to_str().unwrap(), &[]);
    assert_eq!(p["totals"]["flops"], (2 * 3 - 1) * 16 * 4);
    let out = Command::cargo_bin("onnxscope")
        .unwrap()
        .arg("run")
        .arg(&path)
        .arg("--random")
        .assert()
        .code(0)
        .get_output()
        .clone();
    assert!(String::from_utf8_lossy(&out.stdout).contains("1x4x4x4"));
}
