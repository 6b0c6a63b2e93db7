//! Golden files: every output format of `profile`, `compare` and `check` on the bundled models,
//! stored under `tests/out/` as insta snapshots. Any change in what a user sees is a reviewed
//! diff (`cargo insta review`), never a silent one. The expectations here are the outputs of the
//! release that introduced them; the counts inside are pinned by hand elsewhere (`ops`, `models`,
//! `realworld`), these files pin the rendering and the JSON schema.

use assert_cmd::Command;

fn run(args: &[&str]) -> (String, i32) {
    let out = Command::cargo_bin("onnxscope")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some(),
        "onnxscope {args:?} died by a signal"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "onnxscope {args:?} panicked: {stderr}"
    );
    (
        String::from_utf8(out.stdout).unwrap(),
        out.status.code().unwrap(),
    )
}

fn golden(name: &str, args: &[&str], code: i32) {
    let (stdout, got) = run(args);
    assert_eq!(got, code, "exit code of onnxscope {args:?}");
    insta::with_settings!({
        snapshot_path => "out",
        prepend_module_to_snapshot => false,
        omit_expression => true,
        description => args.join(" "),
    }, {
        insta::assert_snapshot!(name, stdout);
    });
}

/// The bundled models and the dims they need.
const MODELS: &[(&str, &str, &[&str])] = &[
    ("tiny_cnn", "models/tiny_cnn.onnx", &[]),
    ("resnet50", "models/resnet50.onnx", &["--dim", "N=1"]),
    (
        "resnext50",
        "models/resnext50_32x4d.onnx",
        &["--dim", "N=1"],
    ),
    ("det", "models/det/det.onnx", &[]),
    ("seg", "models/seg/seg.onnx", &[]),
    (
        "fasterrcnn",
        "models/realworld/fasterrcnn_mobilenet_v3_large_320_fpn.onnx",
        &[],
    ),
    (
        "mobilenet_v3_small",
        "models/realworld/mobilenet_v3_small.onnx",
        &["--dim", "N=1"],
    ),
    ("qdq", "models/realworld/small_convnet_qdq.onnx", &[]),
    ("qop", "models/realworld/small_convnet_qop.onnx", &[]),
    ("tiny_cnn_qop", "models/realworld/tiny_cnn_qop.onnx", &[]),
    (
        "transformer_encoder",
        "models/realworld/transformer_encoder.onnx",
        &[],
    ),
    (
        "vit_b_16",
        "models/realworld/vit_b_16.onnx",
        &["--dim", "N=1"],
    ),
];

fn profile_all(format: &str, models: &[(&str, &str, &[&str])]) {
    for (name, path, dims) in models {
        let mut args = vec!["profile", path, "--format", format];
        args.extend_from_slice(dims);
        golden(&format!("profile_{name}_{format}"), &args, 0);
    }
}

#[test]
fn profile_json() {
    profile_all("json", MODELS);
}

#[test]
fn profile_table() {
    profile_all("table", MODELS);
}

#[test]
fn profile_csv() {
    profile_all("csv", MODELS);
}

#[test]
fn profile_md() {
    profile_all("md", MODELS);
}

#[test]
fn profile_dot() {
    // ViT and the detector give megabytes of DOT: the smaller graphs cover the renderer.
    profile_all("dot", &MODELS[..5]);
}

#[test]
fn profile_rollups_and_columns() {
    // JSON carries every node and rollup whatever the view: covered by `profile_json`.
    for fmt in ["table", "csv", "md"] {
        for (name, path, dims) in &MODELS[..3] {
            for extra in [
                &["--group-by", "op"][..],
                &["--group-by", "stage"],
                &["--top", "5", "--columns", "memory"],
            ] {
                let mut args = vec!["profile", path, "--format", fmt];
                args.extend_from_slice(dims);
                args.extend_from_slice(extra);
                let tag = extra.join("_").replace("--", "");
                golden(&format!("profile_{name}_{fmt}_{tag}"), &args, 0);
            }
        }
    }
}

#[test]
fn profile_symbolic_json() {
    // No --dim: counts stay expressions in the unbound symbols.
    for (name, path) in [
        ("resnet50", "models/resnet50.onnx"),
        (
            "transformer_encoder",
            "models/realworld/transformer_encoder.onnx",
        ),
    ] {
        golden(
            &format!("profile_{name}_json_symbolic"),
            &["profile", path, "--format", "json"],
            0,
        );
    }
}

#[test]
fn profile_roofline_and_training() {
    for (name, path, dims) in &MODELS[..3] {
        for fmt in ["json", "table"] {
            let mut args = vec!["profile", path, "--format", fmt];
            args.extend_from_slice(dims);
            args.extend_from_slice(&["--device", "laptop-cpu"]);
            golden(&format!("profile_{name}_{fmt}_device"), &args, 0);
            // --batch binds the symbolic batch dim itself (it refuses a --dim for it too).
            let mut args = vec!["profile", path, "--format", fmt];
            args.extend_from_slice(&["--train", "--optimizer", "adam", "--batch", "4"]);
            golden(&format!("profile_{name}_{fmt}_train"), &args, 0);
            let mut args = vec!["profile", path, "--format", fmt];
            args.extend_from_slice(dims);
            args.extend_from_slice(&["--peak-gflops", "100", "--bandwidth-gbs", "20"]);
            golden(&format!("profile_{name}_{fmt}_custom_device"), &args, 0);
        }
    }
}

#[test]
fn compare_all_formats() {
    for fmt in ["table", "json", "csv", "md", "svg", "html"] {
        for by in ["total", "op", "stage", "node"] {
            golden(
                &format!("compare_resnet_resnext_{fmt}_{by}"),
                &[
                    "compare",
                    "models/resnet50.onnx",
                    "models/resnext50_32x4d.onnx",
                    "--dim",
                    "N=1",
                    "--format",
                    fmt,
                    "--by",
                    by,
                ],
                0,
            );
        }
        golden(
            &format!("compare_resnext_study_{fmt}"),
            &[
                "compare",
                "--resnext",
                "1x64d,2x40d,4x24d,8x14d,32x4d",
                "--format",
                fmt,
            ],
            0,
        );
    }
}

#[test]
fn check_all_formats() {
    for fmt in ["table", "json", "junit", "github", "md"] {
        golden(
            &format!("check_bundled_{fmt}"),
            &[
                "check",
                "models/tiny_cnn.onnx",
                "models/resnet50.onnx",
                "models/resnext50_32x4d.onnx",
                "--budget",
                "models/budget.toml",
                "--format",
                fmt,
            ],
            0,
        );
        golden(
            &format!("check_over_budget_{fmt}"),
            &[
                "check",
                "models/resnet50.onnx",
                "models/resnext50_32x4d.onnx",
                "--dim",
                "N=1",
                "--max-flops",
                "8.3G",
                "--max-params",
                "25M",
                "--format",
                fmt,
            ],
            1,
        );
    }
}
