//! `run` on the LLM exports of `models/llm/` (onnxruntime-genai builder: packed-QKV
//! GroupQueryAttention, MatMulNBits, GatherBlockQuantized, SkipSimplifiedLayerNormalization):
//! a prefill step (past 0) and a decode step (past 5, the prefill's `present.*`) against the
//! logits onnxruntime computed on the same inputs (`models/llm/make_llm.py`), within 1e-3; and
//! the int4 modes of the lowering pass.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use ndarray::ArrayD;
use ndarray_npy::ReadNpyExt;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_f32(p: &Path) -> ArrayD<f32> {
    ArrayD::<f32>::read_npy(std::fs::File::open(p).unwrap()).unwrap()
}

/// Runs one step of `model` (a folder of `models/llm/`) on the inputs saved in `step/`, and
/// returns the max |tract − onnxruntime| over the logits.
fn step_diff(model: &str, step: &str, extra: &[&str]) -> f32 {
    let dir = root().join("models/llm").join(model);
    let out = tempfile::tempdir().unwrap();
    let mut args = vec![
        "run".to_string(),
        dir.join("model.onnx").display().to_string(),
        "--output-dir".into(),
        out.path().display().to_string(),
    ];
    let mut inputs: Vec<_> = std::fs::read_dir(dir.join(step))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    inputs.sort();
    for p in inputs {
        let name = p.file_stem().unwrap().to_string_lossy().to_string();
        if name == "logits" || name.starts_with("present") {
            continue;
        }
        args.push("--input".into());
        args.push(format!("{name}={}", p.display()));
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let r = Command::cargo_bin("onnxscope")
        .unwrap()
        .args(&args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{model} {step}: {stderr}");
    let got = read_f32(&out.path().join("logits.npy"));
    let want = read_f32(&dir.join(step).join("logits.npy"));
    assert_eq!(got.shape(), want.shape(), "{model} {step}");
    got.iter()
        .zip(want.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

const MODELS: &[&str] = &[
    "llama_fp32",
    "llama_int4",
    "llama_int4_asym16",
    "qwen2_int4",
    "gemma_fp32",
    "phi3_fp32",
];

#[test]
fn prefill_matches_onnxruntime() {
    for m in MODELS {
        let d = step_diff(m, "prefill", &[]);
        assert!(d < 1e-3, "{m} prefill: max |Δlogit| = {d}");
    }
}

#[test]
fn decode_matches_onnxruntime() {
    for m in MODELS {
        let d = step_diff(m, "decode", &[]);
        assert!(d < 1e-3, "{m} decode: max |Δlogit| = {d}");
    }
}

#[test]
fn int4_fast_uses_f16_scales() {
    // tract's Q4_0 kernel rounds each 32-block's scale to f16: the logits move, by more than
    // the exact path's f32 rounding noise and less than a visible change of the model.
    let exact = step_diff("llama_int4", "decode", &["--int4", "exact"]);
    let fast = step_diff("llama_int4", "decode", &["--int4", "fast"]);
    assert!(exact < 1e-4, "exact: {exact}");
    assert!(fast > exact && fast < 5e-2, "fast: {fast}, exact: {exact}");
}
