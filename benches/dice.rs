//! Measures Dice loss + scores in one pass on a 4×3×512×512 prediction (softmax logits vs a label map, sigmoid vs one-hot, probabilities vs one-hot).
//!
//! Inputs come from a seeded xorshift64 generator written below. Run: `cargo bench --bench
//! dice`; medians are in `target/criterion/dice/*/new/estimates.json`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ndarray::{Array, ArrayD, IxDyn};
use onnxscope::post::dice::{dice, Activation, DiceOptions, Discretize};

fn uniform(shape: &[usize], seed: u64, scale: f32, offset: f32) -> ArrayD<f32> {
    let mut x = seed;
    Array::from_shape_simple_fn(IxDyn(shape), move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 40) as f32 / 16_777_216.0 * scale + offset
    })
}

fn bench_dice(c: &mut Criterion) {
    let (n, k, h, w) = (4, 3, 512, 512);
    let logits = uniform(&[n, k, h, w], 1, 8.0, -4.0);
    let labels = uniform(&[n, 1, h, w], 2, 3.0, 0.0).mapv(f32::floor);
    let onehot = Array::from_shape_fn(IxDyn(&[n, k, h, w]), |i| {
        f32::from(u8::from(labels[[i[0], 0, i[2], i[3]]] == i[1] as f32))
    });
    let probs = uniform(&[n, k, h, w], 3, 1.0, 0.0);

    let mut group = c.benchmark_group("dice");
    group.throughput(Throughput::Elements((n * k * h * w) as u64));
    group.sample_size(20);
    let softmax = DiceOptions {
        activation: Activation::Softmax,
        to_onehot_y: true,
        discretize: Some(Discretize::Argmax),
        ..Default::default()
    };
    group.bench_function("softmax_labels_argmax_4x3x512x512", |b| {
        b.iter(|| dice(logits.view(), labels.view(), &softmax).unwrap())
    });
    let sigmoid = DiceOptions {
        activation: Activation::Sigmoid,
        discretize: Some(Discretize::Threshold(0.5)),
        ..Default::default()
    };
    group.bench_function("sigmoid_onehot_threshold_4x3x512x512", |b| {
        b.iter(|| dice(logits.view(), onehot.view(), &sigmoid).unwrap())
    });
    let plain = DiceOptions::default();
    group.bench_function("probabilities_onehot_soft_4x3x512x512", |b| {
        b.iter(|| dice(probs.view(), onehot.view(), &plain).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench_dice);
criterion_main!(benches);
