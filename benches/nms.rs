//! Measures greedy NMS (torchvision semantics, IoU 0.5, one thread) on 1k, 10k and 100k seeded synthetic boxes.
//!
//! The boxes come from `post::nms::synthetic_boxes` (xorshift64, reproducible in Python by
//! `models/post/make_nms_reference.py`): a 640×640 image, sides 10–100, uniform scores.
//! Run: `cargo bench --bench nms`; medians are in `target/criterion/nms/*/new/estimates.json`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use onnxscope::post::nms::{nms, synthetic_boxes, NmsOptions, Semantics};

fn bench_nms(c: &mut Criterion) {
    let mut group = c.benchmark_group("nms");
    for n in [1_000usize, 10_000, 100_000] {
        let (boxes, scores) = synthetic_boxes(n, n as u64);
        group.throughput(Throughput::Elements(n as u64));
        if n == 100_000 {
            group.sample_size(20);
        }
        for semantics in [Semantics::Torchvision, Semantics::Onnx] {
            let opts = NmsOptions {
                semantics,
                ..Default::default()
            };
            let name = format!("{semantics:?}").to_lowercase();
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| nms(boxes.view(), scores.view(), None, &opts).unwrap())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_nms);
criterion_main!(benches);
