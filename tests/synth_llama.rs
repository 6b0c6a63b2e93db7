//! `synth llama`: the graph's structure counted by hand from the architecture, the weights
//! declared at their logical sizes, and the tiny decoders run through tract against the
//! logits onnxruntime computed on the same synthesized files
//! (`tests/data/synth/llama/make_reference.py`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use ndarray::ArrayD;
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use onnxscope::synth::llama::{llama, LlamaConfig, Precision};

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/synth/llama")
}

fn op_counts(cfg: &LlamaConfig) -> BTreeMap<String, usize> {
    let m = llama(cfg).unwrap();
    let mut c = BTreeMap::new();
    for n in &m.graph.unwrap().node {
        *c.entry(n.op_type.clone()).or_insert(0) += 1;
    }
    c
}

#[test]
fn eight_b_graph_has_the_builder_layout() {
    let cfg = LlamaConfig::llama3_8b(Precision::Int4);
    let c = op_counts(&cfg);
    let l = 32;
    // Per layer: qkv, o, gate, up, down projections; one attention; one input norm (plain for
    // layer 0, Skip after) and one post-attention Skip norm; Sigmoid and two Mul (SiLU, gate·up).
    // Plus the LM head, the final Skip norm, and the mask subgraph (ReduceSum, Sub, Shape,
    // Gather, two Cast) and the embedding Gather.
    assert_eq!(c["MatMulNBits"], 5 * l + 1);
    assert_eq!(c["GroupQueryAttention"], l);
    assert_eq!(c["SimplifiedLayerNormalization"], 1);
    assert_eq!(c["SkipSimplifiedLayerNormalization"], (l - 1) + l + 1);
    assert_eq!(c["Sigmoid"], l);
    assert_eq!(c["Mul"], 2 * l);
    assert_eq!(c["Gather"], 2);
    assert_eq!(c["Cast"], 2);
    let total: usize = c.values().sum();
    assert_eq!(total, 11 * l + 6 + 1 + 1 + 1 + 1);
}

#[test]
fn eight_b_weights_are_declared_at_llama3_sizes() {
    // Llama-3-8B: V = 128256, H = 4096, 32 heads of d = 128, 8 kv-heads, I = 14336.
    let cfg = LlamaConfig::llama3_8b(Precision::Fp16);
    let m = llama(&cfg).unwrap();
    let g = m.graph.unwrap();
    let elems = |pred: &dyn Fn(&str) -> bool| -> u64 {
        g.initializer
            .iter()
            .filter(|t| pred(&t.name))
            .map(|t| t.dims.iter().product::<i64>() as u64)
            .sum()
    };
    let (v, h, d, heads, kv, i, layers) =
        (128256u64, 4096u64, 128u64, 32u64, 8u64, 14336u64, 32u64);
    let per_layer = h * (heads + 2 * kv) * d // qkv
        + heads * d * h // o
        + 3 * h * i // gate, up, down
        + 2 * h; // two RMS norm weights
    let want = v * h + layers * per_layer + h + h * v;
    assert_eq!(
        want, 8_030_261_248,
        "the published Llama-3-8B parameter count"
    );
    assert_eq!(elems(&|n| n.ends_with(".weight")), want);
    // The rotary caches are buffers: [max_position, d/2] each.
    assert_eq!(elems(&|n| n.ends_with("_cache")), 2 * 8192 * 64);
    // No weight is stored: the file is the graph.
    assert!(g
        .initializer
        .iter()
        .filter(|t| t.name.ends_with(".weight"))
        .all(|t| t.raw_data.is_empty()));
}

#[test]
fn int4_weights_are_packed_by_block() {
    let cfg = LlamaConfig {
        block_size: 64,
        ..LlamaConfig::llama3_8b(Precision::Int4)
    };
    let m = llama(&cfg).unwrap();
    let g = m.graph.unwrap();
    let w = g
        .initializer
        .iter()
        .find(|t| t.name == "model.layers.0.mlp.down_proj.MatMul.weight_Q4")
        .unwrap();
    // down: K = 14336, N = 4096 → [N, K/64, 64/2].
    assert_eq!(w.dims, vec![4096, 14336 / 64, 32]);
}

#[test]
fn bad_configs_are_refused() {
    for (args, msg) in [
        (&["--heads", "0"][..], "heads"),
        (&["--hidden", "4001"], "multiple of --heads"),
        (&["--hidden", "4000"], "must be even"),
        (&["--kv-heads", "5"], "divide --heads"),
        (&["--block-size", "24"], "block-size"),
    ] {
        let out = Command::cargo_bin("onnxscope")
            .unwrap()
            .args(["synth", "llama", "--no-weights", "-o", "/dev/null"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(msg) && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
}

fn save(p: &Path, a: ArrayD<i64>) {
    a.write_npy(std::fs::File::create(p).unwrap()).unwrap();
}

#[test]
fn tiny_decoders_run_as_onnxruntime_does() {
    for p in ["fp32", "int4"] {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("m.onnx");
        Command::cargo_bin("onnxscope")
            .unwrap()
            .args([
                "synth", "llama", "--layers", "2", "--hidden", "64", "--heads", "4",
            ])
            .args(["--kv-heads", "2", "--intermediate", "128", "--vocab", "256"])
            .args([
                "--max-position",
                "128",
                "--seed",
                "7",
                "--precision",
                p,
                "-o",
            ])
            .arg(&model)
            .assert()
            .success();
        let ids = ArrayD::from_shape_vec(vec![1, 5], vec![1i64, 17, 42, 99, 200]).unwrap();
        save(&dir.path().join("ids.npy"), ids);
        save(
            &dir.path().join("mask.npy"),
            ArrayD::from_elem(vec![1, 5], 1i64),
        );
        let past = ArrayD::<f32>::zeros(vec![1, 2, 0, 16]);
        past.write_npy(std::fs::File::create(dir.path().join("past.npy")).unwrap())
            .unwrap();
        let mut cmd = Command::cargo_bin("onnxscope").unwrap();
        cmd.arg("run")
            .arg(&model)
            .arg("--output-dir")
            .arg(dir.path());
        let input = |n: &str, f: &str| format!("{n}={}", dir.path().join(f).display());
        cmd.args(["--input", &input("input_ids", "ids.npy")]);
        cmd.args(["--input", &input("attention_mask", "mask.npy")]);
        for l in 0..2 {
            for kv in ["key", "value"] {
                cmd.args([
                    "--input",
                    &input(&format!("past_key_values.{l}.{kv}"), "past.npy"),
                ]);
            }
        }
        cmd.assert().success();
        let got =
            ArrayD::<f32>::read_npy(std::fs::File::open(dir.path().join("logits.npy")).unwrap())
                .unwrap();
        let want = ArrayD::<f32>::read_npy(
            std::fs::File::open(data().join(format!("{p}_logits.npy"))).unwrap(),
        )
        .unwrap();
        assert_eq!(got.shape(), want.shape());
        let d = got
            .iter()
            .zip(want.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(d < 1e-4, "{p}: max |Δlogit| = {d}");
    }
}
