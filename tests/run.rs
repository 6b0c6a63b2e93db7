//! The `run` command: outputs against onnxruntime's on every bundled model that carries its
//! weights, image and random inputs, every input dtype, input errors, tract failures, atomic
//! output files, NMS and Dice end to end against torchvision / MONAI references, and the
//! `--profile` mapping of tract's optimized nodes back to ONNX names.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use ndarray::ArrayD;
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use onnxscope::model::proto::data_type as dt;
use onnxscope::post::npyio::{self, NpyArray};
use serde_json::Value;

use crate::common::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn m(rel: &str) -> String {
    root().join(rel).display().to_string()
}

fn cmd(args: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("onnxscope")
        .unwrap()
        .arg("run")
        .args(args)
        .assert()
}

fn ok(args: &[&str]) -> String {
    let out = cmd(args).success();
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

fn json(args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.extend(["--format", "json"]);
    serde_json::from_str(&ok(&a)).unwrap()
}

/// Runs expecting exit 2; returns stderr.
fn fails(args: &[&str]) -> String {
    let out = cmd(args).code(2);
    let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn read_f32(p: &Path) -> ArrayD<f32> {
    ArrayD::<f32>::read_npy(std::fs::File::open(p).unwrap()).unwrap()
}

fn max_abs_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn reference(rel: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(root().join(rel)).unwrap()).unwrap()
}

/// (model, input name, input file, onnxruntime output file, output name)
const REFERENCES: &[(&str, &str, &str, &str, &str)] = &[
    (
        "models/det/det.onnx",
        "images",
        "models/det/input.npy",
        "models/det/output.npy",
        "output0",
    ),
    (
        "models/seg/seg.onnx",
        "image",
        "models/seg/input.npy",
        "models/seg/output.npy",
        "logits",
    ),
    (
        "models/tiny_cnn.onnx",
        "x",
        "models/det/ref_tiny_cnn_input.npy",
        "models/det/ref_tiny_cnn_output.npy",
        "y",
    ),
    (
        "models/realworld/small_convnet_qdq.onnx",
        "x",
        "models/det/ref_small_convnet_qdq_input.npy",
        "models/det/ref_small_convnet_qdq_output.npy",
        "y",
    ),
    (
        "models/realworld/small_convnet_qop.onnx",
        "x",
        "models/det/ref_small_convnet_qop_input.npy",
        "models/det/ref_small_convnet_qop_output.npy",
        "y",
    ),
    // stored value_info and outputs declare stale symbols (`DynamicDimension.0`, `unk__14`)
    // that tract cannot unify with the input's sizes: `run` reads it again without them
    (
        "models/odd/stale_value_info.onnx",
        "x",
        "tests/data/odd/stale_x.npy",
        "tests/data/odd/stale_y.npy",
        "y",
    ),
];

#[test]
fn outputs_equal_onnxruntime_on_every_runnable_bundled_model() {
    for (model, input, file, expected, output) in REFERENCES {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let v = json(&[
            &m(model),
            "--input",
            &format!("{input}={}", m(file)),
            "--output-dir",
            out.to_str().unwrap(),
        ]);
        let o = &v["outputs"][0];
        assert_eq!(o["name"], *output, "{model}");
        let got = read_f32(&out.join(format!("{output}.npy")));
        let want = read_f32(&root().join(expected));
        let d = max_abs_diff(&got, &want);
        assert!(d <= 1e-4, "{model}: max |tract - onnxruntime| = {d}");
        assert_eq!(
            o["shape"].as_array().unwrap().len(),
            want.ndim(),
            "{model}: summary shape"
        );
        let mean = want.iter().map(|x| *x as f64).sum::<f64>() / want.len() as f64;
        assert!((o["mean"].as_f64().unwrap() - mean).abs() < 1e-4, "{model}");
    }
}

/// Every `.onnx` under models/, recursively.
fn bundled_models() -> Vec<PathBuf> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "onnx") {
                out.push(p);
            }
        }
    }
    let mut v = vec![];
    walk(&root().join("models"), &mut v);
    v.sort();
    v
}

#[test]
fn every_bundled_model_runs_or_fails_cleanly() {
    let mut absent = 0;
    for p in bundled_models() {
        let model = onnxscope::model::load(&p).unwrap();
        let ps = p.display().to_string();
        if model.missing_external.is_empty() {
            // runs, or fails with tract's reason (exit 2), never a crash
            let out = Command::cargo_bin("onnxscope")
                .unwrap()
                .args(["run", &ps, "--random"])
                .output()
                .unwrap();
            let code = out.status.code();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(matches!(code, Some(0) | Some(2)), "{ps}: {code:?} {err}");
            if code == Some(2) {
                assert!(err.contains("tract cannot run the model"), "{ps}: {err}");
            }
        } else {
            absent += 1;
            let err = fails(&[&ps, "--random"]);
            assert!(err.contains("weights absent"), "{ps}: {err}");
            assert!(err.contains(".onnx.data"), "{ps}: {err}");
        }
    }
    assert!(absent >= 2, "resnet50 and resnext50 are graph-only");
}

#[test]
fn graph_only_torchvision_models_say_their_weights_are_absent() {
    for (file, data) in [
        ("models/resnet50.onnx", "resnet50.onnx.data"),
        ("models/resnext50_32x4d.onnx", "resnext50_32x4d.onnx.data"),
    ] {
        let err = fails(&[&m(file), "--random"]);
        assert!(err.contains("weights absent"), "{err}");
        assert!(err.contains(data), "{err}");
        assert!(err.contains("tensors, e.g. '"), "{err}");
        // profile still works on it
        Command::cargo_bin("onnxscope")
            .unwrap()
            .args(["profile", &m(file)])
            .assert()
            .success();
    }
}

#[test]
fn a_model_tract_cannot_run_fails_with_its_reason() {
    // QLinearGlobalAveragePool (com.microsoft) has no tract implementation
    let err = fails(&[&m("models/realworld/tiny_cnn_qop.onnx"), "--random"]);
    assert!(err.contains("tract cannot run the model"), "{err}");
    assert!(err.contains("QLinearGlobalAveragePool"), "{err}");

    let mut bad = model(
        vec![node("Frobnicate", "frob", &["x"], &["y"], vec![])],
        vec![fvi("x", &[1, 4])],
        vec![fvi("y", &[1, 4])],
        vec![],
    );
    bad.graph.as_mut().unwrap().node[0].domain = "com.example".into();
    bad.opset_import
        .push(onnxscope::model::proto::OperatorSetIdProto {
            domain: "com.example".into(),
            version: 1,
        });
    let (_d, p) = write_model(&bad, "frob.onnx");
    let err = fails(&[p.to_str().unwrap(), "--random"]);
    assert!(err.contains("tract cannot run the model"), "{err}");
    assert!(err.contains("Frobnicate"), "{err}");
}

#[test]
fn image_inputs_are_normalised_like_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let v = json(&[
        &m("models/det/det.onnx"),
        "--input",
        &m("models/det/image.png"),
        "--scale",
        "1/255",
        "--mean",
        "0.485,0.456,0.406",
        "--std",
        "0.229,0.224,0.225",
        "--output-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(v["inputs"][0]["source"], m("models/det/image.png"));
    let got = read_f32(&dir.path().join("output0.npy"));
    let want = read_f32(&root().join("models/det/output.npy"));
    let d = max_abs_diff(&got, &want);
    assert!(d <= 1e-4, "{d}");

    // the wrong size names the fix; --resize applies it
    let err = fails(&[
        &m("models/seg/seg.onnx"),
        "--input",
        &m("models/det/image.png"),
    ]);
    assert!(err.contains("--resize 32x32"), "{err}");
    let v = json(&[
        &m("models/seg/seg.onnx"),
        "--input",
        &m("models/det/image.png"),
        "--resize",
        "32x32",
    ]);
    assert_eq!(v["inputs"][0]["shape"], serde_json::json!([1, 3, 32, 32]));
    // per-channel flags with the wrong count
    let err = fails(&[
        &m("models/det/det.onnx"),
        "--input",
        &m("models/det/image.png"),
        "--mean",
        "0.5,0.5",
    ]);
    assert!(
        err.contains("--mean") && err.contains("3 channels"),
        "{err}"
    );
}

#[test]
fn random_inputs_are_seeded() {
    let a = json(&[&m("models/tiny_cnn.onnx"), "--random", "--seed", "5"]);
    let b = json(&[&m("models/tiny_cnn.onnx"), "--random", "--seed", "5"]);
    let c = json(&[&m("models/tiny_cnn.onnx"), "--random", "--seed", "6"]);
    assert_eq!(a["outputs"], b["outputs"]);
    assert_ne!(a["outputs"], c["outputs"]);
    assert_eq!(a["inputs"][0]["source"], "random");
    // unbound N is 1; --dim binds it
    assert_eq!(a["inputs"][0]["shape"], serde_json::json!([1, 3, 8, 8]));
    let d = json(&[&m("models/tiny_cnn.onnx"), "--random", "--dim", "N=3"]);
    assert_eq!(d["outputs"][0]["shape"], serde_json::json!([3, 10]));
}

#[test]
fn random_inputs_of_absurd_size_are_refused_not_allocated() {
    // tiny_cnn's input is [N, 3, 8, 8]: N = 10^12 asks for 1.92·10^14 elements, over the
    // 2^30 cap; N = 2^62 makes the product overflow a usize. Both are one-line errors.
    let tiny = m("models/tiny_cnn.onnx");
    for n in ["1000000000000", "4611686018427387904"] {
        let err = fails(&[&tiny, "--random", "--dim", &format!("N={n}")]);
        assert!(
            err.contains("input 'x'") && err.contains("--dim") && err.lines().count() == 1,
            "{err}"
        );
    }
}

#[test]
fn input_errors_name_the_input() {
    let tiny = m("models/tiny_cnn.onnx");
    let err = fails(&[&tiny]);
    assert!(
        err.contains("input 'x'") && err.contains("--random"),
        "{err}"
    );
    let err = fails(&[
        &tiny,
        "--input",
        &format!("y={}", m("models/det/input.npy")),
    ]);
    assert!(err.contains("no input 'y'") && err.contains("'x'"), "{err}");
    let err = fails(&[
        &tiny,
        "--input",
        &format!("x={}", m("models/det/input.npy")),
    ]);
    assert!(
        err.contains("input 'x'") && err.contains("axis 2 is 64"),
        "{err}"
    );
    let err = fails(&[
        &tiny,
        "--input",
        &format!("x={}", m("models/seg/target.npy")),
    ]);
    assert!(err.contains("float32") && err.contains("int64"), "{err}");
    let err = fails(&[
        &tiny,
        "--input",
        &format!("x={}", m("models/det/ref_tiny_cnn_input.npy")),
        "--dim",
        "N=1",
    ]);
    assert!(err.contains("--dim N=1"), "{err}");
    let err = fails(&[&tiny, "--input", "x=/nonexistent/x.npy"]);
    assert!(err.contains("/nonexistent/x.npy"), "{err}");
    let err = fails(&[&tiny, "--random", "--repeat", "0"]);
    assert!(err.contains("--repeat"), "{err}");
}

/// A model taking one input of each dtype and returning a computed output of the same dtype.
fn dtype_model() -> onnxscope::model::proto::ModelProto {
    let v = |name: &str, elem: i32| vi(name, elem, &[D::V(3)]);
    model(
        vec![
            node("Add", "add_i64", &["a", "a"], &["a2"], vec![]),
            node("Add", "add_i32", &["b", "b"], &["b2"], vec![]),
            node("Add", "add_i8", &["c", "c"], &["c2"], vec![]),
            node("Add", "add_u8", &["d", "d"], &["d2"], vec![]),
            node("Not", "not", &["e"], &["e2"], vec![]),
            node("Mul", "mul_f64", &["f", "f"], &["f2"], vec![]),
        ],
        vec![
            v("a", dt::INT64),
            v("b", dt::INT32),
            v("c", dt::INT8),
            v("d", dt::UINT8),
            v("e", dt::BOOL),
            v("f", dt::DOUBLE),
        ],
        vec![
            v("a2", dt::INT64),
            v("b2", dt::INT32),
            v("c2", dt::INT8),
            v("d2", dt::UINT8),
            v("e2", dt::BOOL),
            v("f2", dt::DOUBLE),
        ],
        vec![],
    )
}

fn save<A: WriteNpyExt>(dir: &Path, name: &str, a: &A) -> String {
    let p = dir.join(name);
    a.write_npy(std::fs::File::create(&p).unwrap()).unwrap();
    p.display().to_string()
}

#[test]
fn every_dtype_goes_in_and_comes_out() {
    use ndarray::arr1;
    let (dir, p) = write_model(&dtype_model(), "dtypes.onnx");
    let d = dir.path();
    let files = [
        format!("a={}", save(d, "a.npy", &arr1(&[1i64, -2, 3]))),
        format!("b={}", save(d, "b.npy", &arr1(&[4i32, 5, -6]))),
        format!("c={}", save(d, "c.npy", &arr1(&[7i8, -8, 9]))),
        format!("d={}", save(d, "d.npy", &arr1(&[10u8, 20, 30]))),
        format!("e={}", save(d, "e.npy", &arr1(&[true, false, true]))),
        format!("f={}", save(d, "f.npy", &arr1(&[0.5f64, 1.5, -2.0]))),
    ];
    let out = d.join("out");
    let mut args: Vec<&str> = vec![p.to_str().unwrap(), "--output-dir", out.to_str().unwrap()];
    for f in &files {
        args.extend(["--input", f]);
    }
    let v = json(&args);
    let dtypes: Vec<&str> = v["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["dtype"].as_str().unwrap())
        .collect();
    assert_eq!(
        dtypes,
        ["int64", "int32", "int8", "uint8", "bool", "float64"]
    );
    let read = |n: &str| npyio::read(&out.join(n)).unwrap();
    match read("a2.npy") {
        NpyArray::I64(a) => assert_eq!(a.into_raw_vec_and_offset().0, [2, -4, 6]),
        o => panic!("{}", o.dtype()),
    }
    match read("b2.npy") {
        NpyArray::I32(a) => assert_eq!(a.into_raw_vec_and_offset().0, [8, 10, -12]),
        o => panic!("{}", o.dtype()),
    }
    match read("c2.npy") {
        NpyArray::I8(a) => assert_eq!(a.into_raw_vec_and_offset().0, [14, -16, 18]),
        o => panic!("{}", o.dtype()),
    }
    match read("d2.npy") {
        NpyArray::U8(a) => assert_eq!(a.into_raw_vec_and_offset().0, [20, 40, 60]),
        o => panic!("{}", o.dtype()),
    }
    match read("e2.npy") {
        NpyArray::Bool(a) => assert_eq!(a.into_raw_vec_and_offset().0, [false, true, false]),
        o => panic!("{}", o.dtype()),
    }
    match read("f2.npy") {
        NpyArray::F64(a) => assert_eq!(a.into_raw_vec_and_offset().0, [0.25, 2.25, 4.0]),
        o => panic!("{}", o.dtype()),
    }
    // a wrong dtype is named with both sides
    let wrong = format!("a={}", save(d, "wrong.npy", &arr1(&[1i32, 2, 3])));
    let mut args2: Vec<&str> = vec![p.to_str().unwrap(), "--random", "--input", &wrong];
    let err = fails(&args2);
    assert!(
        err.contains("input 'a' takes int64") && err.contains("int32"),
        "{err}"
    );
    // and random data exists for every dtype
    args2.truncate(2);
    let v = json(&args2);
    assert_eq!(v["outputs"].as_array().unwrap().len(), 6);
}

#[test]
fn output_files_are_named_safely_and_written_atomically() {
    let mm = model(
        vec![
            node("Relu", "r", &["x"], &["out/a:0"], vec![]),
            node("Neg", "n", &["x"], &[".hidden"], vec![]),
        ],
        vec![fvi("x", &[2, 2])],
        vec![fvi("out/a:0", &[2, 2]), fvi(".hidden", &[2, 2])],
        vec![],
    );
    let (dir, p) = write_model(&mm, "names.onnx");
    let out = dir.path().join("o");
    let v = json(&[
        p.to_str().unwrap(),
        "--random",
        "--output-dir",
        out.to_str().unwrap(),
    ]);
    assert!(out.join("out_a_0.npy").exists());
    assert!(out.join("_hidden.npy").exists());
    assert_eq!(
        v["outputs"][0]["file"].as_str().unwrap(),
        out.join("out_a_0.npy").display().to_string()
    );
    let names: HashSet<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    // a failing post-processing step writes nothing
    let out2 = dir.path().join("o2");
    fails(&[
        &m("models/seg/seg.onnx"),
        "--input",
        &format!("image={}", m("models/seg/input.npy")),
        "--nms",
        "--output-dir",
        out2.to_str().unwrap(),
    ]);
    assert!(!out2.exists() || std::fs::read_dir(&out2).unwrap().next().is_none());

    // an output dir that is a file is an error naming it
    let file = dir.path().join("plain");
    std::fs::write(&file, b"x").unwrap();
    let err = fails(&[
        &m("models/tiny_cnn.onnx"),
        "--random",
        "--output-dir",
        file.to_str().unwrap(),
    ]);
    assert!(err.contains("plain"), "{err}");
}

#[test]
fn nms_end_to_end_matches_torchvision() {
    let r = reference("models/det/reference.json");
    let input = format!("images={}", m("models/det/input.npy"));
    for case in r["nms"].as_array().unwrap() {
        let st = case["score_threshold"].as_f64().unwrap().to_string();
        let it = case["iou_threshold"].as_f64().unwrap().to_string();
        let mut args = vec![
            m("models/det/det.onnx"),
            "--input".into(),
            input.clone(),
            "--nms".into(),
            "--score-threshold".into(),
            st,
            "--iou-threshold".into(),
            it,
        ];
        if case["class_agnostic"].as_bool().unwrap() {
            args.push("--class-agnostic".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let v = json(&args);
        let nms = &v["nms"];
        assert_eq!(nms["keep"], case["keep"], "{case}");
        let dets = nms["detections"].as_array().unwrap();
        for (d, (c, s)) in dets.iter().zip(
            case["classes"]
                .as_array()
                .unwrap()
                .iter()
                .zip(case["scores"].as_array().unwrap()),
        ) {
            assert_eq!(d["class"], *c);
            assert!((d["score"].as_f64().unwrap() - s.as_f64().unwrap()).abs() < 1e-5);
        }
        // the table shows the same count
        let t = ok(&args);
        assert!(t.contains(&format!("NMS: {} kept", dets.len())), "{t}");
    }
    // the output is chosen by name; a wrong name lists the outputs
    let err = fails(&[
        &m("models/det/det.onnx"),
        "--input",
        &input,
        "--nms",
        "--boxes-output",
        "boxes",
    ]);
    assert!(
        err.contains("no output 'boxes'") && err.contains("'output0'"),
        "{err}"
    );
}

#[test]
fn dice_end_to_end_matches_monai() {
    let r = reference("models/seg/reference.json");
    let input = format!("image={}", m("models/seg/input.npy"));
    for target in ["models/seg/target.npy", "models/seg/target.png"] {
        for case in r["dice"].as_array().unwrap() {
            let mut args = vec![
                m("models/seg/seg.onnx"),
                "--input".into(),
                input.clone(),
                "--dice".into(),
                m(target),
                "--to-onehot-y".into(),
            ];
            for f in case["flags"].as_array().unwrap() {
                args.push(f.as_str().unwrap().into());
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let v = json(&args);
            let d = &v["dice"];
            let close = |a: &Value, b: &Value, tol: f64| {
                let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
                assert!((a - b).abs() < tol, "{a} vs {b} ({target}, {case})");
            };
            close(&d["loss"], &case["loss"], 1e-5);
            let per_class = d["dice"]["per_class"].as_array().unwrap();
            if let Some(hard) = case.get("hard_per_class") {
                assert_eq!(d["dice"]["kind"], "hard");
                for (a, b) in per_class.iter().zip(hard.as_array().unwrap()) {
                    close(a, b, 1e-6);
                }
                close(&d["dice"]["mean"], &case["hard_mean"], 1e-6);
            } else {
                assert_eq!(d["dice"]["kind"], "soft");
                for (a, b) in per_class
                    .iter()
                    .zip(case["soft_per_class"].as_array().unwrap())
                {
                    close(a, b, 1e-5);
                }
            }
        }
    }
    // two outputs need --dice-output; the seg model has one, so a wrong name lists it
    let err = fails(&[
        &m("models/seg/seg.onnx"),
        "--input",
        &input,
        "--dice",
        &m("models/seg/target.npy"),
        "--dice-output",
        "nope",
    ]);
    assert!(err.contains("'logits'"), "{err}");
}

/// ONNX node names of a model.
fn onnx_names(p: &str) -> HashSet<String> {
    onnxscope::model::load(Path::new(p))
        .unwrap()
        .graph
        .nodes
        .iter()
        .map(|n| n.name.clone())
        .collect()
}

#[test]
fn profile_maps_times_to_onnx_names_and_keeps_the_profile_flops() {
    let cases: [(&str, &str, &str, &[&str]); 3] = [
        ("models/det/det.onnx", "images", "models/det/input.npy", &[]),
        ("models/seg/seg.onnx", "image", "models/seg/input.npy", &[]),
        (
            "models/tiny_cnn.onnx",
            "x",
            "models/det/ref_tiny_cnn_input.npy",
            &["--dim", "N=2"],
        ),
    ];
    for (model, input, file, dims) in cases {
        let path = m(model);
        let names = onnx_names(&path);
        let v = json(&[
            &path,
            "--input",
            &format!("{input}={}", m(file)),
            "--profile",
            "--repeat",
            "3",
        ]);
        let p = &v["profile"];
        assert_eq!(p["repeat"], 3);
        let nodes = p["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), names.len(), "{model}: one row per ONNX node");
        let mut timed = 0.0;
        for n in nodes {
            let name = n["name"].as_str().unwrap();
            assert!(
                names.contains(name),
                "{model}: '{name}' is not an ONNX node"
            );
            // every optimized node listed under it carries its name as a prefix
            for t in n["tract_nodes"].as_array().unwrap() {
                assert!(t["name"].as_str().unwrap().starts_with(name), "{t}");
            }
            timed += n["time_ms"].as_f64().unwrap();
        }
        for r in p["top_by_time"].as_array().unwrap() {
            assert!(names.contains(r["name"].as_str().unwrap()));
        }
        for r in p["top_by_flops"].as_array().unwrap() {
            assert!(names.contains(r["name"].as_str().unwrap()));
        }
        // the model's source is not an ONNX node: it is reported as unmatched
        let un = &p["unmatched"];
        assert!(un["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["op"] == "Source"));
        assert!(timed > 0.0 && timed <= p["total_ms"].as_f64().unwrap() * 1.5);

        // FLOPs and MACs per node are the profile pass's at the same shapes
        let mut pargs = vec!["profile", &path, "--format", "json"];
        pargs.extend_from_slice(dims);
        let out = Command::cargo_bin("onnxscope")
            .unwrap()
            .args(&pargs)
            .assert()
            .success();
        let prof: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        assert_eq!(p["flops"], prof["totals"]["flops"], "{model}");
        assert_eq!(p["macs"], prof["totals"]["macs"], "{model}");
        for pn in prof["nodes"].as_array().unwrap() {
            let rn = nodes.iter().find(|n| n["name"] == pn["name"]).unwrap();
            assert_eq!(rn["flops"], pn["flops"], "{model} {}", pn["name"]);
            assert_eq!(rn["macs"], pn["macs"], "{model} {}", pn["name"]);
            assert!(rn["flops"].is_u64(), "{model}: concrete counts");
        }
    }
}

#[test]
fn profile_table_lists_nodes_and_the_two_rankings() {
    let t = ok(&[
        &m("models/tiny_cnn.onnx"),
        "--random",
        "--profile",
        "--repeat",
        "2",
        "--top",
        "3",
    ]);
    for want in [
        "Profile: median of 2 runs",
        "conv1",
        "Pad, LazyIm2col, OptMatMul",
        "unmatched",
        "(between nodes)",
        "Top 3 nodes by time and by FLOPs",
        "13.8 k",
    ] {
        assert!(t.contains(want), "missing '{want}' in\n{t}");
    }
}

#[test]
fn json_keys_are_stable() {
    let v = json(&[
        &m("models/tiny_cnn.onnx"),
        "--random",
        "--profile",
        "--repeat",
        "1",
    ]);
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort();
    assert_eq!(
        k,
        [
            "inputs",
            "model",
            "outputs",
            "profile",
            "runs",
            "schema_version",
            "time_ms",
            "warnings"
        ]
    );
    let o = v["outputs"][0].as_object().unwrap();
    for key in [
        "name", "shape", "dtype", "min", "max", "mean", "nan", "file",
    ] {
        assert!(o.contains_key(key), "{key}");
    }
    let p = v["profile"].as_object().unwrap();
    for key in [
        "repeat",
        "total_ms",
        "flops",
        "macs",
        "gflops_per_s",
        "nodes",
        "unmatched",
        "outside_nodes_ms",
        "top_by_time",
        "top_by_flops",
        "by_stage",
    ] {
        assert!(p.contains_key(key), "{key}");
    }
}

#[test]
fn external_weights_are_read_and_their_absence_is_named() {
    use onnxscope::model::proto::{ModelProto, StringStringEntryProto, DATA_LOCATION_EXTERNAL};
    use prost::Message;
    // tiny_cnn with every initializer moved to tiny_ext.onnx.data
    let bytes = std::fs::read(root().join("models/tiny_cnn.onnx")).unwrap();
    let mut proto = ModelProto::decode(bytes.as_slice()).unwrap();
    let mut data: Vec<u8> = vec![];
    for t in &mut proto.graph.as_mut().unwrap().initializer {
        let raw = std::mem::take(&mut t.raw_data);
        assert!(!raw.is_empty());
        let entry = |k: &str, v: String| StringStringEntryProto {
            key: k.into(),
            value: v,
        };
        t.external_data = vec![
            entry("location", "tiny_ext.onnx.data".into()),
            entry("offset", data.len().to_string()),
            entry("length", raw.len().to_string()),
        ];
        t.data_location = DATA_LOCATION_EXTERNAL;
        data.extend_from_slice(&raw);
    }
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny_ext.onnx");
    std::fs::write(&model, proto.encode_to_vec()).unwrap();
    std::fs::write(dir.path().join("tiny_ext.onnx.data"), &data).unwrap();
    let input = format!("x={}", m("models/det/ref_tiny_cnn_input.npy"));
    let out = dir.path().join("out");
    ok(&[
        model.to_str().unwrap(),
        "--input",
        &input,
        "--output-dir",
        out.to_str().unwrap(),
    ]);
    let got = read_f32(&out.join("y.npy"));
    let want = read_f32(&root().join("models/det/ref_tiny_cnn_output.npy"));
    assert!(max_abs_diff(&got, &want) <= 1e-4);

    // without the data file: exit 2 naming the file and a tensor; profile only warns
    std::fs::remove_file(dir.path().join("tiny_ext.onnx.data")).unwrap();
    let err = fails(&[model.to_str().unwrap(), "--input", &input]);
    assert!(err.contains("tiny_ext.onnx.data"), "{err}");
    assert!(
        err.contains("5 tensors") && err.contains("conv1.weight"),
        "{err}"
    );
    Command::cargo_bin("onnxscope")
        .unwrap()
        .args(["profile", model.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicates::str::contains("weights absent"));
}

#[test]
fn jpeg_inputs_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let jpg = dir.path().join("image.jpg");
    image::open(root().join("models/det/image.png"))
        .unwrap()
        .to_rgb8()
        .save(&jpg)
        .unwrap();
    let v = json(&[
        &m("models/det/det.onnx"),
        "--input",
        &format!("images={}", jpg.display()),
        "--scale",
        "1/255",
    ]);
    assert_eq!(v["outputs"][0]["shape"], serde_json::json!([1, 7, 64]));
    let err = fails(&[
        &m("models/det/det.onnx"),
        "--input",
        "images=/nonexistent/i.png",
    ]);
    assert!(err.contains("/nonexistent/i.png"), "{err}");
}

#[test]
fn unnamed_onnx_nodes_are_matched_through_their_first_output() {
    // tract names an unnamed node after its first output; onnxscope reports it as `Op_index`
    let mm = model(
        vec![
            node("Relu", "", &["x"], &["h"], vec![]),
            node("Sigmoid", "", &["h"], &["y"], vec![]),
        ],
        vec![fvi("x", &[1, 64])],
        vec![fvi("y", &[1, 64])],
        vec![],
    );
    let (_d, p) = write_model(&mm, "unnamed.onnx");
    let v = json(&[
        p.to_str().unwrap(),
        "--random",
        "--profile",
        "--repeat",
        "2",
    ]);
    let nodes = v["profile"]["nodes"].as_array().unwrap();
    let names: Vec<&str> = nodes.iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Relu_0", "Sigmoid_1"]);
    for n in nodes {
        assert!(
            !n["tract_nodes"].as_array().unwrap().is_empty(),
            "{n}: its optimized node is matched"
        );
    }
}

#[test]
fn profile_shows_the_roofline_estimate_beside_measured_time() {
    // A device of 1 GFLOP/s and 1 GB/s: a node takes max(FLOPs, bytes) ns.
    //   conv1: 13,824 FLOPs; bytes read x 3·8·8·4 = 768 + w 4·3·9·4 = 432 + b 16, written
    //          4·8·8·4 = 1,024 → 2,240: compute-bound, 13,824 ns = 0.013824 ms.
    //   relu1: 256 FLOPs; 1,024 read + 1,024 written = 2,048 bytes: memory-bound, 0.002048 ms.
    let out = assert_cmd::Command::cargo_bin("onnxscope")
        .unwrap()
        .args([
            "run",
            concat!(env!("CARGO_MANIFEST_DIR"), "/models/tiny_cnn.onnx"),
            "--random",
            "--profile",
            "--repeat",
            "2",
        ])
        .args([
            "--peak-gflops",
            "1",
            "--bandwidth-gbs",
            "1",
            "--format",
            "json",
        ])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let p = &v["profile"];
    assert_eq!(p["estimate_device"], "custom");
    let est = |name: &str| {
        p["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == name)
            .unwrap()["estimate_ms"]
            .as_f64()
            .unwrap()
    };
    assert!((est("conv1") - 13_824e-6).abs() < 1e-12, "{}", est("conv1"));
    assert!((est("relu1") - 2_048e-6).abs() < 1e-12, "{}", est("relu1"));
    assert!(p["estimate_ms"].as_f64().unwrap() > est("conv1"));
    assert!(p["total_ms"].as_f64().unwrap() > 0.0);
}

/// A float16 `.npy` written byte by byte: the version-1 header numpy writes (padded so the data
/// starts on a 64-byte boundary), then the IEEE half-precision bit patterns.
fn save_f16(
    dir: &Path,
    name: &str,
    descr: &str,
    fortran: bool,
    shape: &[usize],
    bits: &[u16],
) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut h = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape_text}, }}",
        if fortran { "True" } else { "False" }
    );
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((h.len() as u16).to_le_bytes());
    bytes.extend(h.as_bytes());
    for b in bits {
        bytes.extend(if descr.starts_with('>') {
            b.to_be_bytes()
        } else {
            b.to_le_bytes()
        });
    }
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

#[test]
fn float16_npy_inputs_feed_a_float16_model() {
    // s = x + y, p = x·y on float16 [2, 2]; every value below is exact in float16.
    let h = |name: &str| vi(name, dt::FLOAT16, &[D::V(2), D::V(2)]);
    let f16_model = model(
        vec![
            node("Add", "add", &["x", "y"], &["s"], vec![]),
            node("MatMul", "mm", &["x", "y"], &["p"], vec![]),
        ],
        vec![h("x"), h("y")],
        vec![h("s"), h("p")],
        vec![],
    );
    let (dir, p) = write_model(&f16_model, "f16.onnx");
    let d = dir.path();
    // float16 bits: 1.0 = 0x3C00, 2.0 = 0x4000, 0.5 = 0x3800, −1.0 = 0xBC00, 3.0 = 0x4200,
    // 0.25 = 0x3400, 1.5 = 0x3E00, −2.0 = 0xC000.
    // x = [[1, 2], [0.5, −1]], written in Fortran (column) order: 1, 0.5, 2, −1.
    let x = save_f16(
        d,
        "x.npy",
        "<f2",
        true,
        &[2, 2],
        &[0x3C00, 0x3800, 0x4000, 0xBC00],
    );
    // y = [[3, 0.25], [1.5, −2]], big-endian.
    let y = save_f16(
        d,
        "y.npy",
        ">f2",
        false,
        &[2, 2],
        &[0x4200, 0x3400, 0x3E00, 0xC000],
    );
    let out = d.join("out");
    let v = json(&[
        p.to_str().unwrap(),
        "--input",
        &format!("x={x}"),
        "--input",
        &format!("y={y}"),
        "--output-dir",
        out.to_str().unwrap(),
    ]);
    assert_eq!(v["inputs"][0]["dtype"], "float16", "{v}");
    assert_eq!(v["inputs"][1]["dtype"], "float16", "{v}");
    assert_eq!(v["outputs"][0]["note"], "float16 widened to float32", "{v}");
    // s = [[1 + 3, 2 + 0.25], [0.5 + 1.5, −1 − 2]]
    let s = read_f32(&out.join("s.npy"));
    assert_eq!(s.into_raw_vec_and_offset().0, [4.0, 2.25, 2.0, -3.0]);
    // p = [[1·3 + 2·1.5, 1·0.25 + 2·(−2)], [0.5·3 − 1·1.5, 0.5·0.25 + (−1)·(−2)]]
    let prod = read_f32(&out.join("p.npy"));
    assert_eq!(prod.into_raw_vec_and_offset().0, [6.0, -3.75, 0.0, 2.125]);

    // a float16 file for a float32 input is refused, naming both dtypes
    let tiny = m("models/tiny_cnn.onnx");
    let x4 = save_f16(d, "x4.npy", "<f2", false, &[1, 1, 2, 2], &[0x3C00; 4]);
    let err = fails(&[&tiny, "--input", &format!("x={x4}")]);
    assert!(
        err.contains("input 'x' takes float32") && err.contains("float16 [1,1,2,2]"),
        "{err}"
    );
    // a float16 file whose data is short names the file and the sizes
    let short = save_f16(d, "short.npy", "<f2", false, &[2, 2], &[0x3C00; 3]);
    let err = fails(&[
        p.to_str().unwrap(),
        "--input",
        &format!("x={short}"),
        "--input",
        &format!("y={y}"),
    ]);
    assert!(
        err.contains("short.npy") && err.contains("needs 8 bytes") && err.contains("holds 6"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn an_empty_input_runs() {
    // y = x + x with x [N, 2]: --dim N=0 makes an empty tensor, and the output is [0, 2].
    let m0 = model(
        vec![node("Add", "add", &["x", "x"], &["y"], vec![])],
        vec![vi("x", dt::FLOAT, &[D::S("N"), D::V(2)])],
        vec![vi("y", dt::FLOAT, &[D::S("N"), D::V(2)])],
        vec![],
    );
    let (dir, p) = write_model(&m0, "empty.onnx");
    let out = dir.path().join("out");
    let v = json(&[
        p.to_str().unwrap(),
        "--random",
        "--dim",
        "N=0",
        "--output-dir",
        out.to_str().unwrap(),
    ]);
    assert_eq!(v["outputs"][0]["shape"], serde_json::json!([0, 2]), "{v}");
    assert_eq!(v["outputs"][0]["min"], serde_json::Value::Null, "{v}");
    assert_eq!(read_f32(&out.join("y.npy")).shape(), &[0, 2]);
    // an empty .npy does the same
    let x = save(dir.path(), "x.npy", &ArrayD::<f32>::zeros(vec![0, 2]));
    let v = json(&[p.to_str().unwrap(), "--input", &format!("x={x}")]);
    assert_eq!(v["outputs"][0]["shape"], serde_json::json!([0, 2]), "{v}");
}
