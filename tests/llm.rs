//! `onnxscope llm` on the tiny onnxruntime-genai exports under `models/llm/` (and small graphs
//! built here): roles, prefill against decode, KV cache, weights, roofline tokens/s. Every
//! expected figure is written out from the architecture (models/llm/README.md: hidden 64,
//! 2 layers, 4 query heads, 2 KV heads, head 16, intermediate 128, vocab 256) by the counting
//! rules — linear (2K−1)·M·N, QKᵀ B·H·S·T·(2d−1), AV B·H·S·d·(2T−1), KV 2·L·Hkv·d·bytes —
//! never read back from the code under test.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use onnxscope::analysis::llm::{analyse_path, LlmOptions, LlmReport, Role};
use onnxscope::analysis::roofline::Device;
use onnxscope::model::proto::data_type as dt;

use crate::common::{model, node, vi, weight, write_model, D};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models/llm")
        .join(name)
        .join("model.onnx")
}

/// A decoder architecture, as in the fixtures' hf_config.json.
struct Arch {
    vocab: i128,
    hidden: i128,
    layers: i128,
    heads: i128,
    kv_heads: i128,
    head: i128,
    inter: i128,
    tied: bool,
    qkv_bias: bool,
}

const LLAMA: Arch = Arch {
    vocab: 256,
    hidden: 64,
    layers: 2,
    heads: 4,
    kv_heads: 2,
    head: 16,
    inter: 128,
    tied: false,
    qkv_bias: false,
};

/// FLOPs of [1,K]×[K,N] by the seed's FC rule (no bias).
fn fc(k: i128, n: i128) -> i128 {
    (2 * k - 1) * n
}

impl Arch {
    /// Linear FLOPs of one token: per layer qkv, o, gate, up, down; then the LM head.
    fn linear_per_token(&self) -> i128 {
        let (h, q, kv, d, i) = (
            self.hidden,
            self.heads,
            self.kv_heads,
            self.head,
            self.inter,
        );
        let layer = fc(h, (q + 2 * kv) * d) + fc(q * d, h) + 2 * fc(h, i) + fc(i, h);
        self.layers * layer + fc(h, self.vocab)
    }
    /// QKᵀ + AV of all layers for S new tokens attending T keys (batch 1).
    fn attention(&self, s: i128, t: i128) -> i128 {
        let (hq, d) = (self.heads, self.head);
        self.layers * (hq * s * t * (2 * d - 1) + hq * s * d * (2 * t - 1))
    }
    /// Logical parameters: embedding, per layer q/k/v/o/gate/up/down and two norms, final
    /// norm, LM head unless tied.
    fn params(&self) -> i128 {
        let (h, q, kv, d, i, v) = (
            self.hidden,
            self.heads,
            self.kv_heads,
            self.head,
            self.inter,
            self.vocab,
        );
        let bias = if self.qkv_bias { (q + 2 * kv) * d } else { 0 };
        let layer = h * q * d + 2 * h * kv * d + q * d * h + 3 * h * i + 2 * h + bias;
        v * h + self.layers * layer + h + if self.tied { 0 } else { v * h }
    }
    /// KV-cache bytes per token, float32: 2 (K and V) · layers · kv heads · head · 4.
    fn kv_per_token(&self) -> i128 {
        2 * self.layers * self.kv_heads * self.head * 4
    }
}

fn opts(prompt: i64, generate: i64) -> LlmOptions {
    LlmOptions {
        prompt,
        generate,
        ..Default::default()
    }
}

fn run(name: &str, prompt: i64, generate: i64) -> LlmReport {
    analyse_path(&fixture(name), &opts(prompt, generate)).expect("llm analysis")
}

fn op_row<'a>(r: &'a LlmReport, op: &str) -> &'a onnxscope::analysis::llm::OpTypeShare {
    r.by_op_type
        .iter()
        .find(|o| o.op_type == op)
        .unwrap_or_else(|| panic!("no op type {op} in {:?}", r.by_op_type))
}

fn as_i128(v: &serde_json::Value) -> i128 {
    v.as_i64()
        .map(i128::from)
        .or_else(|| v.as_u64().map(i128::from))
        .unwrap_or_else(|| panic!("{v} is not an integer"))
}

#[test]
fn llama_roles_come_from_the_inputs_and_genai_config() {
    let r = run("llama_int4", 5, 4);
    let roles = &r.roles;
    assert_eq!(roles.batch.as_deref(), Some("batch_size"));
    assert_eq!(roles.sequence.as_deref(), Some("sequence_length"));
    assert_eq!(roles.past.as_deref(), Some("past_sequence_length"));
    assert_eq!(roles.total.as_deref(), Some("total_sequence_length"));
    let head = roles
        .symbols
        .iter()
        .find(|s| s.symbol == "kv_cache_dim")
        .expect("kv_cache_dim listed");
    assert_eq!((head.role, head.value), (Role::HeadSize, Some(16)));
    assert!(head.source.contains("genai_config.json"), "{}", head.source);
    // 2 layers × key and value
    assert_eq!(roles.kv_inputs.len(), 2 * 2);
    assert_eq!(roles.kv_outputs.len(), 2 * 2);
    assert!(roles.kv_outputs.iter().all(|n| n.starts_with("present.")));
}

#[test]
fn head_size_from_the_attention_node_without_genai_config() {
    // the same graph alone in a directory: the head size comes from GroupQueryAttention's
    // packed QKV width 128 over num_heads 4 + 2 · kv_num_heads 2 = 8 → 16
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("model.onnx");
    std::fs::copy(fixture("llama_fp32"), &p).unwrap();
    let r = analyse_path(&p, &opts(5, 4)).unwrap();
    let head = r
        .roles
        .symbols
        .iter()
        .find(|s| s.symbol == "kv_cache_dim")
        .unwrap();
    assert_eq!(head.value, Some(128 / (4 + 2 * 2)));
    assert!(
        head.source.contains("GroupQueryAttention"),
        "{}",
        head.source
    );
    // --dim wins over every inferred value
    let mut o = opts(5, 4);
    o.dims.insert("kv_cache_dim".into(), 16);
    let r = analyse_path(&p, &o).unwrap();
    let head = r
        .roles
        .symbols
        .iter()
        .find(|s| s.symbol == "kv_cache_dim")
        .unwrap();
    assert!(head.source.starts_with("--dim"), "{}", head.source);
}

#[test]
fn kv_cache_bytes_by_hand() {
    for name in ["llama_int4", "llama_fp32"] {
        let r = run(name, 5, 4);
        // 2 · 2 layers · 2 kv heads · 16 · 4 bytes = 512 per token
        assert_eq!(r.kv_cache.bytes_per_token, 2 * 2 * 2 * 16 * 4, "{name}");
        assert_eq!(r.kv_cache.bytes_per_token, LLAMA.kv_per_token());
        assert_eq!(r.kv_cache.context, 5 + 4);
        assert_eq!(r.kv_cache.bytes_at_context, (5 + 4) * 512, "{name}");
        assert_eq!(r.kv_cache.dtypes, vec!["float32".to_string()]);
        assert_eq!((r.decode.context_first, r.decode.context_last), (6, 9));
    }
}

#[test]
fn weights_params_bytes_and_bits_by_hand() {
    // 256·64 embedding + 2 · (64·64 + 2·64·32 + 64·64 + 3·64·128 + 2·64) + 64 + 256·64 head
    let params =
        256 * 64 + 2 * (64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 128 + 2 * 64) + 64 + 256 * 64;
    assert_eq!(params, 106_816);
    assert_eq!(LLAMA.params(), params);
    let fp32 = run("llama_fp32", 5, 4);
    let int4 = run("llama_int4", 5, 4);
    assert_eq!(fp32.weights.params, params);
    assert_eq!(
        int4.weights.params, params,
        "int4 counts logical K·N weights"
    );
    assert_eq!(fp32.weights.bytes, params * 4);
    // int4, block 32, symmetric: per MatMulNBits [K, N] packed K·N/2 bytes + N·K/32 float
    // scales; the embedding (256·64) and the norms (5·64) stay float32
    let q = |k: i128, n: i128| k * n / 2 + n * (k / 32) * 4;
    let per_layer = q(64, 128) + q(64, 64) + 2 * q(64, 128) + q(128, 64);
    let int4_bytes = 2 * per_layer + q(64, 256) + 256 * 64 * 4 + 5 * 64 * 4;
    assert_eq!(int4_bytes, 123_136);
    assert_eq!(int4.weights.bytes, int4_bytes);
    let bits = int4.weights.bits_per_param.unwrap();
    assert!((bits - 8.0 * 123_136.0 / 106_816.0).abs() < 1e-9, "{bits}");
    assert!((fp32.weights.bits_per_param.unwrap() - 32.0).abs() < 1e-12);
}

#[test]
fn llama_linear_and_attention_flops_by_hand() {
    // per token: per layer qkv (2·64−1)·128 + o (2·64−1)·64 + gate, up (2·64−1)·128 +
    // down (2·128−1)·64 = 73,216; × 2 layers + LM head (2·64−1)·256 = 178,944
    let per_token = 2 * (127 * 128 + 127 * 64 + 2 * 127 * 128 + 255 * 64) + 127 * 256;
    assert_eq!(per_token, 178_944);
    assert_eq!(LLAMA.linear_per_token(), per_token);
    for (name, op) in [("llama_fp32", "MatMul"), ("llama_int4", "MatMulNBits")] {
        let r = run(name, 5, 4);
        let lin = op_row(&r, op);
        assert_eq!(lin.count, 11, "{name}: 5 linears × 2 layers + LM head");
        assert_eq!(lin.prefill_flops, 5 * per_token, "{name}");
        assert_eq!(as_i128(&lin.decode_flops_per_token), per_token, "{name}");
        assert_eq!(lin.decode_flops_last_token, per_token, "{name}");
        // attention at prefill: S = T = 5; decode: S = 1, T = 6..9 (mean of 6, 7, 8, 9)
        let gqa = op_row(&r, "GroupQueryAttention");
        let qk_av = |s: i128, t: i128| 2 * (4 * s * t * (2 * 16 - 1) + 4 * s * 16 * (2 * t - 1));
        assert_eq!(qk_av(5, 5), LLAMA.attention(5, 5));
        let extra = |s: i128, t: i128| gqa_extra(s, t);
        assert_eq!(gqa.prefill_flops, qk_av(5, 5) + extra(5, 5), "{name}");
        assert_eq!(
            gqa.decode_flops_last_token,
            qk_av(1, 9) + extra(1, 9),
            "{name}"
        );
        let mean: i128 = (6..=9).map(|t| qk_av(1, t) + extra(1, t)).sum::<i128>();
        assert_eq!(as_i128(&gqa.decode_flops_per_token) * 4, mean, "{name}");
    }
}

/// GroupQueryAttention FLOPs beside QKᵀ and AV, by the rule's documented constants (README op
/// table): see `gqa_extra_terms_follow_the_readme`.
fn gqa_extra(s: i128, t: i128) -> i128 {
    let (layers, hq, hkv, d) = (2, 4, 2, 16);
    // scale S·T, softmax (5T − 2)·S per query head; rotary 3 FLOPs per rotated element of
    // Q and K ((H + Hkv)·S·d)
    layers * (hq * s * t + hq * (5 * t - 2) * s + 3 * (hq + hkv) * s * d)
}

#[test]
fn int4_and_fp32_exports_cost_the_same() {
    let a = run("llama_int4", 7, 3);
    let b = run("llama_fp32", 7, 3);
    assert_eq!(a.prefill.flops, b.prefill.flops);
    assert_eq!(a.decode.flops_per_token, b.decode.flops_per_token);
    assert_eq!(a.decode.flops_last_token, b.decode.flops_last_token);
    assert_eq!(a.weights.params, b.weights.params);
    assert_eq!(a.kv_cache.bytes_per_token, b.kv_cache.bytes_per_token);
    let c = run("llama_int4_asym16", 7, 3);
    assert_eq!(c.prefill.flops, b.prefill.flops);
    assert_eq!(c.weights.params, b.weights.params);
}

#[test]
fn decode_mean_is_exact_over_the_steps() {
    // the last step minus the first: only the attention grows with the context, by the QKᵀ
    // and AV terms of one more key per step: per layer H·(2d−1) + H·d·2
    let r = run("llama_fp32", 5, 4);
    let per_key = 2 * (4 * (2 * 16 - 1) + 4 * 16 * 2) + gqa_extra(1, 2) - gqa_extra(1, 1);
    // the attention-mask ReduceSum adds T − 1 per step
    let per_key = per_key + 1;
    assert_eq!(
        r.decode.flops_last_token - r.decode.flops_first_token,
        3 * per_key
    );
    // the steps are an arithmetic progression: the mean is the middle of first and last
    let sum = r.decode.flops_first_token + r.decode.flops_last_token;
    assert_eq!(r.decode.flops_total, 2 * sum);
    assert_eq!(r.decode.steps.len(), 4);
    assert_eq!(
        r.decode.steps.iter().map(|s| s.context).collect::<Vec<_>>(),
        vec![6, 7, 8, 9]
    );
}

#[test]
fn qwen2_gemma_phi3_weights_and_cache() {
    // Qwen2: tied, q/k/v biases; Gemma: tied; Phi-3: untied, vocab 320
    let qwen = Arch {
        tied: true,
        qkv_bias: true,
        ..LLAMA
    };
    let gemma = Arch {
        tied: true,
        ..LLAMA
    };
    let phi3 = Arch {
        vocab: 320,
        ..LLAMA
    };
    assert_eq!(qwen.params(), 90_688);
    assert_eq!(gemma.params(), 90_432);
    assert_eq!(phi3.params(), 115_008);
    // Gemma's export scales the embedding by a stored scalar, Constant 8.0 = √64: one stored
    // element feeding arithmetic, a parameter by docs/COUNTING.md
    for (name, a, stored_scalars) in [
        ("qwen2_int4", qwen, 0),
        ("gemma_fp32", gemma, 1),
        ("phi3_fp32", phi3, 0),
    ] {
        let r = run(name, 5, 4);
        assert_eq!(r.weights.params, a.params() + stored_scalars, "{name}");
        assert_eq!(r.kv_cache.bytes_per_token, a.kv_per_token(), "{name}");
        assert_eq!(r.kv_cache.bytes_at_context, 9 * a.kv_per_token(), "{name}");
    }
}

#[test]
fn device_tokens_per_second_by_the_roofline() {
    // 1 GFLOP/s and 1 GB/s: a decode step of ~182 k FLOPs moving ~430 kB is memory-bound;
    // step k moves the weights (106,816 · 4 bytes) + the KV cache read and written, 512 · (5+k)
    let mut o = opts(5, 4);
    o.device = Some(Device::custom(1.0, 1.0).unwrap());
    let r = analyse_path(&fixture("llama_fp32"), &o).unwrap();
    let w = 106_816 * 4;
    let bytes: Vec<i128> = (1..=4).map(|k| w + 512 * (5 + k)).collect();
    assert_eq!(
        r.decode.steps.iter().map(|s| s.bytes).collect::<Vec<_>>(),
        bytes
    );
    let total: i128 = bytes.iter().sum();
    assert_eq!(as_i128(&r.decode.bytes_per_token) * 4, total);
    let tps = 4.0 / (total as f64 * 1e-9);
    let got = r.decode.tokens_per_second.unwrap();
    assert!((got - tps).abs() / tps < 1e-12, "{got} vs {tps}");
    assert_eq!(r.decode.bound.as_deref(), Some("memory"));
    assert!(r.prefill.seconds.unwrap() > 0.0);
}

/// A decoder without a KV cache: embedding Gather [V=16, h=8] then an LM-head MatMul [8, 16].
fn no_cache_model() -> onnxscope::model::proto::ModelProto {
    model(
        vec![
            node("Gather", "embed", &["emb", "input_ids"], &["x"], vec![]),
            node("MatMul", "lm_head", &["x", "w"], &["logits"], vec![]),
        ],
        vec![vi("input_ids", dt::INT64, &[D::S("batch"), D::S("seq")])],
        vec![vi(
            "logits",
            dt::FLOAT,
            &[D::S("batch"), D::S("seq"), D::V(16)],
        )],
        vec![weight("emb", &[16, 8]), weight("w", &[8, 16])],
    )
}

#[test]
fn a_model_without_kv_inputs_reruns_the_prefix_and_warns() {
    let (_dir, p) = write_model(&no_cache_model(), "nocache.onnx");
    let r = analyse_path(&p, &opts(5, 4)).unwrap();
    assert!(
        r.warnings.iter().any(|w| w.contains("no KV-cache inputs")),
        "{:?}",
        r.warnings
    );
    assert!(r.roles.past.is_none() && r.kv_cache.tensors.is_empty());
    assert_eq!(r.kv_cache.bytes_per_token, 0);
    // step k re-runs 5 + k tokens through the (2·8−1)·16 head
    let per_token = (2 * 8 - 1) * 16;
    assert_eq!(r.prefill.flops, 5 * per_token);
    let steps: Vec<i128> = (1..=4).map(|k| (5 + k) * per_token).collect();
    assert_eq!(
        r.decode.steps.iter().map(|s| s.flops).collect::<Vec<_>>(),
        steps
    );
    assert_eq!(
        as_i128(&r.decode.flops_per_token),
        (6 + 7 + 8 + 9) * per_token / 4
    );
    assert_eq!(r.decode.flops_last_token, 9 * per_token);
    assert_eq!(r.weights.params, 16 * 8 + 8 * 16);
}

fn llm_cmd(args: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("onnxscope")
        .unwrap()
        .arg("llm")
        .args(args)
        .assert()
}

#[test]
fn roles_that_cannot_be_told_are_one_line_errors() {
    // no input_ids
    let tiny = concat!(env!("CARGO_MANIFEST_DIR"), "/models/tiny_cnn.onnx");
    let out = llm_cmd(&[tiny]).code(2);
    let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(err.contains("no input 'input_ids'"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // a symbol with no role: the error names the --dim to give
    let mut m = no_cache_model();
    m.graph
        .as_mut()
        .unwrap()
        .input
        .push(vi("extra", dt::FLOAT, &[D::S("mystery")]));
    let (_dir, p) = write_model(&m, "extra.onnx");
    let p = p.to_str().unwrap();
    let out = llm_cmd(&[p, "--prompt", "5", "--generate", "4"]).code(2);
    let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(err.contains("--dim mystery=VALUE"), "{err}");
    llm_cmd(&[p, "--prompt", "5", "--generate", "4", "--dim", "mystery=3"]).success();
    // a step role cannot be bound by --dim
    let out = llm_cmd(&[p, "--dim", "seq=3", "--dim", "mystery=3"]).code(2);
    let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(err.contains("--prompt"), "{err}");
    // --generate 0
    llm_cmd(&[p, "--generate", "0", "--dim", "mystery=3"]).code(2);
}

#[test]
fn llm_json_keys_are_the_contract() {
    let out = llm_cmd(&[
        fixture("llama_int4").to_str().unwrap(),
        "--prompt",
        "5",
        "--generate",
        "4",
        "--device",
        "laptop-cpu",
        "--format",
        "json",
    ])
    .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    for (obj, keys) in [
        ("roles", &["batch", "sequence", "past", "total"][..]),
        ("weights", &["params", "bytes", "bits_per_param"][..]),
        (
            "kv_cache",
            &["bytes_per_token", "bytes_at_context", "context"][..],
        ),
        (
            "prefill",
            &["tokens", "flops", "macs", "bytes_moved", "seconds"][..],
        ),
        (
            "decode",
            &[
                "context_first",
                "context_last",
                "flops_per_token",
                "flops_last_token",
                "bytes_per_token",
                "tokens_per_second",
            ][..],
        ),
    ] {
        for k in keys {
            assert!(v[obj].get(*k).is_some(), "missing {obj}.{k}");
        }
    }
    assert!(v["warnings"].is_array());
    assert_eq!(v["roles"]["past"], "past_sequence_length");
    assert_eq!(v["kv_cache"]["bytes_per_token"], 512);
    for f in ["table", "md"] {
        let out = llm_cmd(&[
            fixture("llama_int4").to_str().unwrap(),
            "--prompt",
            "5",
            "--generate",
            "4",
            "--device",
            "laptop-cpu",
            "--format",
            f,
        ])
        .success();
        let s = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        assert!(
            s.contains("kv_cache_dim") && s.contains("memory-bound"),
            "{s}"
        );
    }
}

#[test]
fn profile_accepts_a_zero_past() {
    // the first step of every generation: past 0, sequence 5, total 5
    let out = Command::cargo_bin("onnxscope")
        .unwrap()
        .args([
            "profile",
            fixture("llama_fp32").to_str().unwrap(),
            "--dim",
            "past_sequence_length=0",
            "--dim",
            "sequence_length=5",
            "--dim",
            "total_sequence_length=5",
            "--dim",
            "batch_size=1",
            "--dim",
            "kv_cache_dim=16",
            "--format",
            "json",
        ])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["dims"]["past_sequence_length"], 0);
    let matmul: i128 = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["op_type"] == "MatMul")
        .map(|n| as_i128(&n["flops"]))
        .sum();
    assert_eq!(matmul, 5 * 178_944);
    // negative dims stay refused
    Command::cargo_bin("onnxscope")
        .unwrap()
        .args([
            "profile",
            fixture("llama_fp32").to_str().unwrap(),
            "--dim",
            "past_sequence_length=-1",
        ])
        .assert()
        .code(2);
}

/// Every FLOP of one llama step (batch 1, S new tokens, T keys) by the README op table:
/// the attention-mask subgraph (ReduceSum over T: T − 1; Sub: 1), the first
/// SimplifiedLayerNormalization (4n + 3 per row), four SkipSimplifiedLayerNormalization
/// (5n + 3 per row), the linears, two GroupQueryAttention, two Sigmoid (4 per element) and
/// four Mul (1 per element) over the intermediate 128.
fn llama_step(s: i128, t: i128) -> i128 {
    let h = 64;
    let mask = (t - 1) + 1;
    let norms = s * (4 * h + 3) + 4 * s * (5 * h + 3);
    let linear = s * LLAMA.linear_per_token();
    let attention = LLAMA.attention(s, t) + gqa_extra(s, t);
    let mlp_act = 2 * 4 * s * 128 + 4 * s * 128;
    mask + norms + linear + attention + mlp_act
}

#[test]
fn llama_every_flop_by_hand() {
    for name in ["llama_fp32", "llama_int4", "llama_int4_asym16"] {
        let r = run(name, 5, 4);
        assert_eq!(r.prefill.flops, llama_step(5, 5), "{name}");
        let steps: Vec<i128> = (6..=9).map(|t| llama_step(1, t)).collect();
        assert_eq!(
            r.decode.steps.iter().map(|s| s.flops).collect::<Vec<_>>(),
            steps,
            "{name}"
        );
        assert_eq!(r.decode.flops_last_token, llama_step(1, 9), "{name}");
        let sum: i128 = steps.iter().sum();
        assert_eq!(r.decode.flops_total, sum, "{name}");
        // the mean of 4 steps: exact, a float only when 4 does not divide the sum
        let mean = &r.decode.flops_per_token;
        if sum % 4 == 0 {
            assert_eq!(as_i128(mean), sum / 4, "{name}");
        } else {
            assert_eq!(mean.as_f64().unwrap(), sum as f64 / 4.0, "{name}");
        }
    }
}

fn check_cmd(args: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("onnxscope")
        .unwrap()
        .arg("check")
        .args(args)
        .assert()
}

#[test]
fn check_kv_cache_and_decode_flops_budgets() {
    let m = fixture("llama_int4");
    let m = m.to_str().unwrap();
    let gen = ["--prompt", "5", "--generate", "4"];
    // KV cache at 5 + 4 tokens: 9 · 512 = 4608 bytes (= 4.5 KiB)
    let kv = |limit: &str| {
        let mut a = vec![m];
        a.extend(gen);
        a.extend(["--max-kv-cache-bytes", limit]);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |a: Vec<String>| check_cmd(&a.iter().map(String::as_str).collect::<Vec<_>>());
    run(kv("4608")).code(0);
    run(kv("4.5KiB")).code(0);
    let out = run(kv("4607")).code(1);
    let s = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(s.contains("llm.max_kv_cache_bytes"), "{s}");
    // decode FLOPs per token: the mean of the steps at T = 6..9, rounded up
    let sum: i128 = (6..=9).map(|t| llama_step(1, t)).sum();
    let mean_up = (sum + 3) / 4;
    let flops = |limit: i128| {
        let mut a: Vec<String> = vec![m.to_string()];
        a.extend(gen.iter().map(|s| s.to_string()));
        a.extend(["--max-decode-flops-per-token".into(), limit.to_string()]);
        a
    };
    run(flops(mean_up)).code(0);
    run(flops(mean_up - 1)).code(1);
}

#[test]
fn check_tokens_per_second_needs_a_device_and_follows_the_roofline() {
    let m = fixture("llama_fp32");
    let m = m.to_str().unwrap();
    let base = [m, "--prompt", "5", "--generate", "4"];
    let with = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend(extra);
        check_cmd(&a)
    };
    let out = with(&["--min-tokens-per-second", "10"]).code(2);
    let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(err.contains("needs a device"), "{err}");
    // 1 GFLOP/s, 1 GB/s: 4 steps moving 4 · 427,264 + 512 · (6 + 7 + 8 + 9) bytes, memory-bound:
    // 4 / (1,724,416 · 10⁻⁹ s) = 2319.6 tokens/s
    let tps = 4.0 / ((4 * 427_264 + 512 * (6 + 7 + 8 + 9)) as f64 * 1e-9);
    assert_eq!(tps.floor(), 2319.0);
    let dev = ["--peak-gflops", "1", "--bandwidth-gbs", "1"];
    let mut ok = dev.to_vec();
    ok.extend(["--min-tokens-per-second", "2319"]);
    with(&ok).code(0);
    let mut over = dev.to_vec();
    over.extend(["--min-tokens-per-second", "2320"]);
    with(&over).code(1);
}

#[test]
fn check_llm_table_in_the_budget_file() {
    let dir = tempfile::tempdir().unwrap();
    let budget = dir.path().join("budget.toml");
    std::fs::write(
        &budget,
        "[llm]\nprompt = 5\ngenerate = 4\nmax_kv_cache_bytes = \"4.5KiB\"\ndevice = \"laptop-cpu\"\nmin_tokens_per_second = 1\n",
    )
    .unwrap();
    let m = fixture("llama_int4");
    let b = budget.to_str().unwrap();
    let out = check_cmd(&[m.to_str().unwrap(), "--budget", b, "--format", "json"]).code(0);
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let checks = v["models"][0]["checks"].as_array().unwrap();
    let kv = checks
        .iter()
        .find(|c| c["name"] == "llm.max_kv_cache_bytes")
        .unwrap();
    assert_eq!(kv["value"], 9 * 512);
    assert!(
        kv["source"].as_str().unwrap().ends_with("budget.toml:4"),
        "{kv}"
    );
    // the command line wins over the file: a longer generation overflows 4.5 KiB
    check_cmd(&[m.to_str().unwrap(), "--budget", b, "--generate", "5"]).code(1);
    // a bad key in [llm] names its line
    std::fs::write(&budget, "[llm]\nprompt = 5\nmax_kv_bytes = 1\n").unwrap();
    let out = check_cmd(&[m.to_str().unwrap(), "--budget", b]).code(2);
    let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(err.contains("budget.toml:3"), "{err}");
}

#[test]
fn a_local_window_is_costed_step_by_step() {
    // llama_fp32 with local_window_size 6 on both GroupQueryAttention nodes: a query attends at
    // most 6 + 1 keys (README op table), so decode at T = 6, 7, 8, 9 attends 6, 7, 7, 7 keys and
    // the cost is no longer one polynomial in the context
    use prost::Message;
    let bytes = std::fs::read(fixture("llama_fp32")).unwrap();
    let mut m = onnxscope::model::proto::ModelProto::decode(&bytes[..]).unwrap();
    let mut changed = 0;
    for n in &mut m.graph.as_mut().unwrap().node {
        if n.op_type == "GroupQueryAttention" {
            for a in &mut n.attribute {
                if a.name == "local_window_size" {
                    a.i = 6;
                    changed += 1;
                }
            }
        }
    }
    assert_eq!(changed, 2);
    let (_dir, p) = write_model(&m, "window.onnx");
    let r = analyse_path(&p, &opts(5, 4)).unwrap();
    assert!(r.decode.method.contains("each step"), "{}", r.decode.method);
    assert!(r.decode.flops_formula.is_none());
    let windowed = |s: i128, t: i128| {
        let keys = t.min(6 + 1);
        llama_step(s, t) - LLAMA.attention(s, t) - gqa_extra(s, t)
            + LLAMA.attention(s, keys)
            + gqa_extra(s, keys)
    };
    assert_eq!(r.prefill.flops, windowed(5, 5));
    assert_eq!(
        r.decode.steps.iter().map(|s| s.flops).collect::<Vec<_>>(),
        (6..=9).map(|t| windowed(1, t)).collect::<Vec<_>>()
    );
    // steps 3 and 4 attend the same 7 keys: they differ only by the mask's ReduceSum (T − 1)
    assert_eq!(r.decode.steps[3].flops - r.decode.steps[2].flops, 1);
}

/// `--input NAME=SHAPE` takes a 0 dim (an empty past KV cache) as `--dim` does: profiling the
/// first step with the past inputs forced to [1, 2, 0, 16] costs the prefill by hand at P = 5
/// (sequence 5, total 5) and matches `--dim past_sequence_length=0`.
#[test]
fn an_empty_past_given_as_input_shapes_is_the_prefill() {
    let m = fixture("llama_fp32");
    let m = m.to_str().unwrap();
    let profile_flops = |extra: &[&str]| -> i128 {
        let mut args = vec!["profile", m, "--format", "json"];
        args.extend_from_slice(extra);
        let out = Command::cargo_bin("onnxscope")
            .unwrap()
            .args(&args)
            .assert()
            .success();
        let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        as_i128(&v["totals"]["flops"])
    };
    let mut shapes = vec![
        "--input".to_string(),
        "input_ids=1x5".into(),
        "--input".into(),
        "attention_mask=1x5".into(),
    ];
    for l in 0..2 {
        for kv in ["key", "value"] {
            shapes.push("--input".into());
            shapes.push(format!("past_key_values.{l}.{kv}=1x2x0x16"));
        }
    }
    let shapes: Vec<&str> = shapes.iter().map(String::as_str).collect();
    let by_input = profile_flops(&shapes);
    assert_eq!(by_input, llama_step(5, 5));
    let by_dim = profile_flops(&[
        "--dim",
        "batch_size=1",
        "--dim",
        "sequence_length=5",
        "--dim",
        "total_sequence_length=5",
        "--dim",
        "past_sequence_length=0",
    ]);
    assert_eq!(by_input, by_dim);
    // a negative dim is still refused, naming the input
    let out = Command::cargo_bin("onnxscope")
        .unwrap()
        .args(["profile", m, "--input", "input_ids=1x-1"])
        .assert()
        .code(2);
    let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(
        err.contains("input_ids") && err.contains("-1") && err.lines().count() == 1,
        "{err}"
    );
}
