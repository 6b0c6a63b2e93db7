//! `check` and `compare` over many models profile them on several threads (`util::par::map`):
//! the report keeps the order of the command line and the exit code is the worst verdict, the
//! same with one worker (`ONNXSCOPE_THREADS=1`) as with several.
//!
//! Figures at N=1 (independent, `models/expected_figures.json`; tiny_cnn per node in
//! `models/make_tiny.py`): tiny_cnn 23,376 FLOPs, resnet50 8,195,202,560, resnext50_32x4d
//! 8,481,080,320. Against `--max-flops 8.3G` (8,300,000,000) the first two pass and the third is
//! over by 181,080,320.

use assert_cmd::Command;
use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const TINY: &str = "models/tiny_cnn.onnx";
const R50: &str = "models/resnet50.onnx";
const RX50: &str = "models/resnext50_32x4d.onnx";

/// `onnxscope ARGS` from the repository root with `threads` workers: (exit code, stdout, stderr).
fn run(threads: usize, args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("onnxscope")
        .unwrap()
        .current_dir(ROOT)
        .env("ONNXSCOPE_THREADS", threads.to_string())
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().expect("exit code"),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Nine models, the three kinds interleaved so that fast and slow ones alternate.
fn nine() -> Vec<&'static str> {
    [TINY, R50, RX50].repeat(3)
}

#[test]
fn check_keeps_the_command_line_order_and_fails_with_the_worst_verdict() {
    let mut args = vec!["check"];
    args.extend(nine());
    args.extend(["--dim", "N=1", "--max-flops", "8.3G", "--format", "json"]);
    let (code1, out1, err1) = run(1, &args);
    let (code4, out4, err4) = run(4, &args);
    assert_eq!(code1, 1, "{err1}");
    assert_eq!(code4, 1, "{err4}");
    assert_eq!(out1, out4, "one worker and four give the same report");
    let v: Value = serde_json::from_str(&out4).unwrap();
    let models = v["models"].as_array().unwrap();
    let paths: Vec<&str> = models.iter().map(|m| m["path"].as_str().unwrap()).collect();
    assert_eq!(paths, nine());
    for m in models {
        let flops = m["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "max_flops")
            .unwrap();
        let (expected, pass) = match m["path"].as_str().unwrap() {
            TINY => (23_376i64, true),
            R50 => (8_195_202_560, true),
            _ => (8_481_080_320, false),
        };
        assert_eq!(flops["value"], expected);
        assert_eq!(flops["margin"], 8_300_000_000 - expected);
        assert_eq!(m["pass"], pass, "{}", m["path"]);
    }
    assert_eq!(v["pass"], false);

    // Within budget everywhere: exit 0 with any number of workers.
    let mut ok = args.clone();
    let at = ok.iter().position(|a| *a == "8.3G").unwrap();
    ok[at] = "9G";
    assert_eq!(run(1, &ok).0, 0);
    assert_eq!(run(4, &ok).0, 0);

    // An unreadable model among them is an error (exit 2, nothing on stdout), whichever worker
    // meets it first.
    let mut bad = args.clone();
    bad.insert(5, "models/no_such.onnx");
    for threads in [1, 4] {
        let (code, out, err) = run(threads, &bad);
        assert_eq!(code, 2, "{threads} workers: {err}");
        assert!(out.is_empty(), "{out}");
        assert!(err.contains("models/no_such.onnx"), "{err}");
    }
}

#[test]
fn compare_keeps_the_command_line_order() {
    let mut args = vec!["compare"];
    args.extend(nine());
    args.extend(["--dim", "N=1", "--format", "json"]);
    let (code1, out1, err1) = run(1, &args);
    let (code4, out4, err4) = run(4, &args);
    assert_eq!((code1, code4), (0, 0), "{err1}{err4}");
    assert_eq!(out1, out4, "one worker and four give the same report");
    let v: Value = serde_json::from_str(&out4).unwrap();
    let flops = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "flops")
        .unwrap();
    let expected: Vec<i64> = [23_376i64, 8_195_202_560, 8_481_080_320].repeat(3);
    assert_eq!(flops["values"], serde_json::json!(expected));
}
