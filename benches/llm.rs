//! The `llm` analysis on the 32-layer Llama-3-8B-shaped graph (int4, graph only), synthesized
//! here: load the bytes, then cost prefill, the decode steps and the KV cache at the defaults
//! (prompt 512, generate 128), with and without tract's shape inference; and the
//! `compare --llama 32x32,32x8,32x1` study end to end.

use criterion::{criterion_group, criterion_main, Criterion};
use onnxscope::analysis::llm::{analyse, LlmOptions};
use onnxscope::synth::llama::{llama, LlamaConfig, Precision};
use onnxscope::synth::to_bytes;

fn bench(c: &mut Criterion) {
    let cfg = LlamaConfig::llama3_8b(Precision::Int4);
    let bytes = to_bytes(&llama(&cfg).unwrap());
    let path = std::path::Path::new("llama_32l_4096h_32x8_int4.onnx");
    let model = onnxscope::model::load_bytes(path, bytes.clone().into()).unwrap();
    let opts = LlmOptions::default();
    c.bench_function("llama 8B int4 graph: load", |b| {
        b.iter(|| onnxscope::model::load_bytes(path, bytes.clone().into()).unwrap())
    });
    c.bench_function("llama 8B int4 graph: llm analysis", |b| {
        b.iter(|| analyse(&model, &opts).unwrap())
    });
    let own = LlmOptions {
        use_tract: false,
        ..LlmOptions::default()
    };
    c.bench_function(
        "llama 8B int4 graph: llm analysis, own shape rules only",
        |b| b.iter(|| analyse(&model, &own).unwrap()),
    );
    let study = onnxscope::compare::LlamaStudy {
        base: cfg.clone(),
        configs: onnxscope::compare::parse_llama_list("32x32,32x8,32x1").unwrap(),
        llm: LlmOptions::default(),
    };
    let mut g = c.benchmark_group("compare");
    g.sample_size(20);
    g.bench_function("compare --llama 32x32,32x8,32x1", |b| {
        b.iter(|| onnxscope::compare::run_llama(&study).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
