//! Bad input, one test each: a clear message naming the file (and node and attribute where they
//! apply), exit code 2, no panic. Unknown ops alone are listed and warned (exit 0), an error
//! under --strict. Missing external data is a warning for `profile` (costs need dims only).

use assert_cmd::Command;
use predicates::prelude::*;

use crate::common::*;
use onnxscope::model::proto::{self, StringStringEntryProto};

fn onnxscope() -> Command {
    Command::cargo_bin("onnxscope").expect("binary")
}

fn fails_with(path: &std::path::Path, extra: &[&str], needles: &[&str]) {
    let mut cmd = onnxscope();
    cmd.arg("profile").arg(path).args(extra);
    let out = cmd.assert().code(2).stdout(predicate::str::is_empty());
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(
        err.contains(&path.display().to_string()),
        "file not named: {err}"
    );
    for n in needles {
        assert!(err.contains(n), "'{n}' not in: {err}");
    }
}

fn conv_model(attrs: Vec<proto::AttributeProto>) -> proto::ModelProto {
    model(
        vec![node("Conv", "the_conv", &["x", "w"], &["y"], attrs)],
        vec![fvi("x", &[1, 4, 8, 8])],
        vec![fvi("y", &[1, 4, 8, 8])],
        vec![weight("w", &[4, 4, 3, 3])],
    )
}

#[test]
fn not_onnx() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("notes.onnx");
    std::fs::write(&p, "this is a text file, not a model\n").unwrap();
    fails_with(&p, &[], &["ONNX"]);
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("empty.onnx");
    std::fs::write(&p, b"").unwrap();
    fails_with(&p, &[], &["empty"]);
}

#[test]
fn truncated() {
    let bytes =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/models/tiny_cnn.onnx")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cut.onnx");
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    fails_with(&p, &[], &["not a valid ONNX model"]);
}

#[test]
fn missing_file() {
    let p = std::path::Path::new("/nonexistent/dir/model.onnx");
    fails_with(p, &[], &["cannot read"]);
}

#[test]
fn dangling_tensor_name() {
    let m = model(
        vec![node("Relu", "r", &["nowhere"], &["y"], vec![])],
        vec![fvi("x", &[1, 4])],
        vec![fvi("y", &[1, 4])],
        vec![],
    );
    let (_d, p) = write_model(&m, "dangling.onnx");
    fails_with(&p, &[], &["node 'r' (Relu)", "'nowhere'"]);
}

#[test]
fn cycle() {
    let m = model(
        vec![
            node("Add", "a", &["x", "d"], &["c"], vec![]),
            node("Relu", "b", &["c"], &["d"], vec![]),
        ],
        vec![fvi("x", &[1, 4])],
        vec![fvi("c", &[1, 4])],
        vec![],
    );
    let (_d, p) = write_model(&m, "cycle.onnx");
    fails_with(&p, &[], &["cycle"]);
}

#[test]
fn wrong_attribute_type() {
    let m = conv_model(vec![a_float("group", 2.0)]);
    let (_d, p) = write_model(&m, "attr.onnx");
    fails_with(
        &p,
        &[],
        &[
            "node 'the_conv' (Conv)",
            "attribute 'group'",
            "expected type INT, found FLOAT",
        ],
    );
}

/// A dim of 0 is legal ONNX (an empty tensor): the model loads and its counts are 0.
#[test]
fn zero_dim_is_an_empty_tensor() {
    let m = model(
        vec![
            node("Relu", "r", &["x"], &["h"], vec![]),
            node("Reshape", "flat", &["h", "shape"], &["y"], vec![]),
        ],
        vec![fvi("x", &[1, 0, 8])],
        vec![fvi("y", &[0])],
        vec![ints_tensor("shape", &[-1])],
    );
    let (_d, p) = write_model(&m, "zero.onnx");
    for extra in [&[][..], &["--no-tract"][..]] {
        let out = onnxscope()
            .arg("profile")
            .arg(&p)
            .args(extra)
            .args(["--format", "json"])
            .assert()
            .code(0);
        let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        // Relu: 1·0·8 = 0 elements; Reshape 0
        assert_eq!(v["totals"]["flops"], 0);
        assert!(
            v["unknown"].as_array().unwrap().is_empty(),
            "{}",
            v["unknown"]
        );
    }
    let out = onnxscope().arg("run").arg(&p).arg("--random").assert();
    let code = out.get_output().status.code();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        matches!(code, Some(0) | Some(2)) && !err.contains("panicked"),
        "{code:?} {err}"
    );
}

#[test]
fn negative_dim() {
    let m = model(
        vec![node("Relu", "r", &["x"], &["y"], vec![])],
        vec![fvi("x", &[1, -3, 8])],
        vec![fvi("y", &[1, 3, 8])],
        vec![],
    );
    let (_d, p) = write_model(&m, "neg.onnx");
    fails_with(&p, &[], &["graph input 'x'", "dim -3"]);
}

#[test]
fn negative_dim_on_the_command_line() {
    let p = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/models/tiny_cnn.onnx"));
    let out = onnxscope()
        .arg("profile")
        .arg(p)
        .args(["--dim", "N=-2"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("--dim") && err.contains("positive"), "{err}");
}

#[test]
fn absurd_dims_overflow_is_an_error_not_a_wrap() {
    // 2^40 × 2^40 × 2^40 elements: the product exceeds 128 bits.
    let big = 1i64 << 40;
    let m = model(
        vec![
            node("Relu", "huge_relu", &["x"], &["y"], vec![]),
            node("Relu", "huge_relu2", &["y"], &["z"], vec![]),
        ],
        vec![fvi("x", &[big, big, big, big])],
        vec![fvi("z", &[big, big, big, big])],
        vec![],
    );
    let (_d, p) = write_model(&m, "huge.onnx");
    fails_with(&p, &[], &["huge_relu", "overflow"]);
}

#[test]
fn unknown_op_is_listed_and_exit_0_but_an_error_under_strict() {
    let mut n = node("FooBar", "mystery", &["x"], &["y"], vec![]);
    n.domain = "com.example".into();
    let mut m = model(
        vec![n],
        vec![fvi("x", &[1, 4])],
        vec![fvi("y", &[1, 4])],
        vec![],
    );
    m.opset_import.push(proto::OperatorSetIdProto {
        domain: "com.example".into(),
        version: 1,
    });
    let (_d, p) = write_model(&m, "unknown.onnx");
    let out = onnxscope()
        .arg("profile")
        .arg(&p)
        .args(["--format", "json"])
        .assert()
        .code(0);
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["unknown"][0]["name"], "mystery");
    assert_eq!(v["unknown"][0]["op_type"], "FooBar");
    assert!(v["unknown"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("no cost rule"));
    assert!(v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains("could not be costed")));
    fails_with(&p, &["--strict"], &["mystery", "FooBar"]);
}

fn external_model(location: &str) -> proto::ModelProto {
    let mut w = weight("w", &[4, 4, 3, 3]);
    w.raw_data = Default::default();
    w.data_location = proto::DATA_LOCATION_EXTERNAL;
    w.external_data = vec![
        StringStringEntryProto {
            key: "location".into(),
            value: location.into(),
        },
        StringStringEntryProto {
            key: "offset".into(),
            value: "0".into(),
        },
        StringStringEntryProto {
            key: "length".into(),
            value: "576".into(),
        },
    ];
    model(
        vec![node("Conv", "c", &["x", "w"], &["y"], vec![])],
        vec![fvi("x", &[1, 4, 8, 8])],
        vec![fvi("y", &[1, 4, 6, 6])],
        vec![w],
    )
}

#[test]
fn missing_external_data_warns_and_still_counts() {
    let (_d, p) = write_model(&external_model("weights.bin"), "ext.onnx");
    let out = onnxscope()
        .arg("profile")
        .arg(&p)
        .args(["--format", "json"])
        .assert()
        .code(0);
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    // (2·4·9 − 1)·6·6·4 = 10,224 FLOPs without a bias; params 4·4·9 = 144.
    assert_eq!(v["totals"]["flops"], (2 * 4 * 9 - 1) * 6 * 6 * 4);
    assert_eq!(v["totals"]["params"], 4 * 4 * 9);
    let w = v["warnings"].to_string();
    assert!(
        w.contains("weights absent") && w.contains("weights.bin"),
        "{w}"
    );
}

#[test]
fn external_data_outside_the_model_folder_is_refused() {
    let (_d, p) = write_model(&external_model("../../etc/passwd"), "escape.onnx");
    fails_with(&p, &[], &["leaves the model's folder"]);
}

#[test]
fn unknown_input_name_on_the_command_line() {
    let p = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/models/tiny_cnn.onnx"));
    let out = onnxscope()
        .arg("profile")
        .arg(p)
        .args(["--input", "nope=1x3x8x8"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("no input 'nope'") && err.contains("x"),
        "{err}"
    );
}

/// Regression: a rank-1 BatchNormalization aborted the process inside tract's analysis
/// ("non-unwinding panic", SIGSEGV in release builds), for `profile` and `run` alike. Such a
/// node is screened before tract: `profile` lists it as uncostable, `run` refuses in one line.
#[test]
fn rank_1_batchnorm_never_reaches_tract() {
    let m = model(
        vec![
            node("Relu", "pre", &["x"], &["r"], vec![]),
            node(
                "BatchNormalization",
                "bn",
                &["r", "s", "b", "m", "v"],
                &["y"],
                vec![],
            ),
        ],
        vec![fvi("x", &[4])],
        vec![fvi("y", &[4])],
        vec![
            weight("s", &[4]),
            weight("b", &[4]),
            weight("m", &[4]),
            weight("v", &[4]),
        ],
    );
    let (_dir, p) = write_model(&m, "bn_rank1.onnx");
    let out = onnxscope()
        .arg("profile")
        .arg(&p)
        .args(["--format", "json"])
        .assert()
        .code(0);
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["unknown"][0]["name"], "bn");
    let reason = v["unknown"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("rank 1") && reason.contains("from rank 2"),
        "{reason}"
    );
    // Relu: 1 FLOP per element of the [4] input; BatchNormalization uncosted.
    assert_eq!(v["totals"]["flops"], 4);

    let out = onnxscope()
        .arg("run")
        .arg(&p)
        .arg("--random")
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.lines().count() == 1
            && err.contains("'bn' (BatchNormalization)")
            && !err.contains("panicked"),
        "{err}"
    );
}

/// A Conv whose input has rank 2 (no spatial dims) is uncostable with the reason.
#[test]
fn rank_2_conv_is_uncostable_not_a_crash() {
    let m = model(
        vec![node("Conv", "c", &["x", "w"], &["y"], vec![])],
        vec![fvi("x", &[1, 4])],
        vec![fvi("y", &[1, 4])],
        vec![weight("w", &[4, 4, 1, 1])],
    );
    let (_dir, p) = write_model(&m, "conv_rank2.onnx");
    let out = onnxscope()
        .arg("profile")
        .arg(&p)
        .args(["--format", "json"])
        .assert()
        .code(0);
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["unknown"][0]["name"], "c");
    assert!(v["unknown"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("from rank 3"));
}

/// One hostile node `op` on x (float, `shape`) with `attrs` and int64 initializers `consts`
/// as further inputs (`""` leaves a slot empty), and an extra node of an unknown domain so that
/// `profile` runs tract's analysis too (the own rules alone would type the rest).
fn hostile(
    op: &str,
    shape: &[i64],
    consts: &[(&str, &[i64])],
    attrs: Vec<proto::AttributeProto>,
    n_out: usize,
) -> proto::ModelProto {
    let mut inputs = vec!["x"];
    inputs.extend(consts.iter().map(|(n, _)| *n));
    let outs: Vec<String> = (0..n_out).map(|k| format!("y{k}")).collect();
    let out_refs: Vec<&str> = outs.iter().map(String::as_str).collect();
    let mut custom = node("Custom", "custom", &["x"], &["z"], vec![]);
    custom.domain = "org.example".into();
    let mut m = model(
        vec![node(op, "hostile", &inputs, &out_refs, attrs), custom],
        vec![fvi("x", shape)],
        out_refs
            .iter()
            .chain(["z"].iter())
            .map(|o| proto::ValueInfoProto {
                name: o.to_string(),
                ..Default::default()
            })
            .collect(),
        consts
            .iter()
            .filter(|(n, _)| !n.is_empty())
            .map(|(n, v)| ints_tensor(n, v))
            .collect(),
    );
    m.opset_import.push(proto::OperatorSetIdProto {
        domain: "org.example".into(),
        version: 1,
    });
    m
}

/// The classes of node that tract-onnx 0.23.9 indexes without checking (found by reading its op
/// parsers and rules and running each here): every one ends `profile` with exit 0 (the node is
/// screened before tract: a warning says why, own shape rules are used) and `run` with exit 2
/// and one line naming the node and the reason — never a signal, a kill, a panic or a
/// backtrace. Before the screen, `run` on the repeated Transpose axis was killed (memory
/// exhausted), and the others panicked inside tract (ArgMax and Reduce printing a backtrace;
/// Trilu's rank arithmetic overflows, which a release build wraps instead).
#[test]
fn tract_crash_classes_are_screened() {
    let k2 = || a_ints("kernel_shape", &[2, 2]);
    let cases: Vec<(&str, proto::ModelProto, &str)> = vec![
        (
            "repeated perm axis",
            hostile("Transpose", &[2, 3], &[], vec![a_ints("perm", &[0, 0])], 1),
            "not a permutation",
        ),
        (
            "perm out of range",
            hostile("Transpose", &[2, 3], &[], vec![a_ints("perm", &[0, 5])], 1),
            "not a permutation",
        ),
        (
            "short pads",
            hostile(
                "MaxPool",
                &[1, 3, 8, 8],
                &[],
                vec![k2(), a_ints("pads", &[1])],
                1,
            ),
            "pads has 1 values",
        ),
        (
            "short kernel_shape",
            hostile(
                "MaxPool",
                &[1, 3, 8, 8],
                &[],
                vec![a_ints("kernel_shape", &[2])],
                1,
            ),
            "kernel_shape has 1 values",
        ),
        (
            "short strides",
            hostile(
                "AveragePool",
                &[1, 3, 8, 8],
                &[],
                vec![k2(), a_ints("strides", &[2])],
                1,
            ),
            "strides has 1 values",
        ),
        (
            "zero stride",
            hostile(
                "MaxPool",
                &[1, 3, 8, 8],
                &[],
                vec![k2(), a_ints("strides", &[0, 0])],
                1,
            ),
            "must be positive",
        ),
        (
            "axis out of range (backtrace before)",
            hostile("ArgMax", &[2, 3], &[], vec![a_int("axis", 9)], 1),
            "axis 9 is out of range",
        ),
        (
            "reduce axes out of range (backtrace before)",
            hostile("ReduceSum", &[2, 3], &[("axes", &[9])], vec![], 1),
            "axes value 9 is out of range",
        ),
        (
            "Flatten axis",
            hostile("Flatten", &[2, 3], &[], vec![a_int("axis", 9)], 1),
            "axis 9 is out of range",
        ),
        (
            "Split axis",
            hostile("Split", &[2, 4], &[], vec![a_int("axis", 4)], 2),
            "axis 4 is out of range",
        ),
        (
            "Squeeze axes",
            hostile("Squeeze", &[1, 3], &[("axes", &[5])], vec![], 1),
            "axes value 5 is out of range",
        ),
        (
            "Slice step 0",
            hostile(
                "Slice",
                &[2, 3],
                &[("s", &[0]), ("e", &[1]), ("a", &[0]), ("t", &[0])],
                vec![],
                1,
            ),
            "a step of 0",
        ),
        (
            "block size 0",
            hostile(
                "DepthToSpace",
                &[1, 4, 2, 2],
                &[],
                vec![a_int("blocksize", 0)],
                1,
            ),
            "blocksize must be positive",
        ),
        (
            "padded size below 0",
            hostile("Pad", &[2, 3], &[("p", &[-5, -5, 0, 0])], vec![], 1),
            "leave axis 0 negative",
        ),
        (
            "LRN of rank 1",
            hostile("LRN", &[8], &[], vec![a_int("size", 3)], 1),
            "defined from rank 2",
        ),
        (
            "no input",
            {
                let mut m = hostile("Flatten", &[2, 3], &[], vec![], 1);
                m.graph.as_mut().unwrap().node[0].input.clear();
                m
            },
            "0 inputs; Flatten takes at least 1",
        ),
        (
            "a required input left out",
            hostile("Gather", &[2, 3], &[], vec![], 1),
            "1 inputs; Gather takes at least 2",
        ),
        (
            "a scalar into Flatten (default axis 1)",
            hostile("Flatten", &[], &[], vec![], 1),
            "axis 1 is out of range for an input of rank 0",
        ),
        (
            "a required input named \"\"",
            {
                let mut m = hostile("Conv", &[1, 3, 4, 4], &[], vec![], 1);
                m.graph.as_mut().unwrap().node[0].input = vec!["".into(), "x".into()];
                m
            },
            "required input 0 is missing",
        ),
        (
            "Trilu of rank 1",
            hostile("Trilu", &[4], &[], vec![], 1),
            "defined from rank 2",
        ),
        (
            "negative repeats",
            hostile("Tile", &[2, 3], &[("r", &[-1, 2])], vec![], 1),
            "a negative size",
        ),
        (
            "DFT axis",
            hostile("DFT", &[1, 8, 2], &[], vec![a_int("axis", 9)], 1),
            "axis 9 is out of range",
        ),
        (
            "short output_shape",
            {
                let mut m = hostile(
                    "ConvTranspose",
                    &[1, 3, 4, 4],
                    &[],
                    vec![a_ints("output_shape", &[5])],
                    1,
                );
                let g = m.graph.as_mut().unwrap();
                g.node[0].input.push("w".into());
                g.initializer.push(weight("w", &[3, 4, 3, 3]));
                m
            },
            "output_shape has 1 values",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (k, (what, m, reason)) in cases.iter().enumerate() {
        let p = dir.path().join(format!("hostile_{k}.onnx"));
        std::fs::write(&p, to_bytes(m)).unwrap();
        let out = onnxscope()
            .arg("profile")
            .arg(&p)
            .args(["--format", "json"])
            .timeout(std::time::Duration::from_secs(60))
            .assert()
            .code(0);
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(!err.contains("panicked"), "{what}: {err}");
        let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        let warned = v["warnings"].as_array().unwrap().iter().any(|w| {
            let w = w.as_str().unwrap();
            w.contains("tract's analysis skipped") && w.contains("'hostile'") && w.contains(reason)
        });
        assert!(warned, "{what}: {}", v["warnings"]);

        let out = onnxscope()
            .arg("run")
            .arg(&p)
            .arg("--random")
            .timeout(std::time::Duration::from_secs(60))
            .assert()
            .code(2);
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(
            err.trim_end().lines().count() == 1
                && err.contains("'hostile'")
                && err.contains(reason)
                && !err.contains("panicked"),
            "{what}: {err}"
        );
    }
}
