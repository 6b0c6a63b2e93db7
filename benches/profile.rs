//! Measures `profile` end to end (decode, IR, shapes, costs, JSON) on ResNet-50-sized graphs:
//! the bundled graph-only torchvision exports, and the same with tract switched off.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use onnxscope::analysis::{profile_model, ProfileOptions};

fn bench(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    for file in ["resnet50.onnx", "resnext50_32x4d.onnx"] {
        let path = dir.join(file);
        let bytes = bytes::Bytes::from(std::fs::read(&path).expect("fixture"));
        let mut with_tract = ProfileOptions::default();
        with_tract.shapes.use_tract = true;
        let own_rules = ProfileOptions::default();
        c.bench_function(&format!("load+profile+json {file}"), |b| {
            b.iter(|| {
                let m = onnxscope::model::load_bytes(&path, bytes.clone()).unwrap();
                let p = profile_model(&m, &with_tract).unwrap();
                black_box(onnxscope::report::json::render(&p))
            })
        });
        c.bench_function(&format!("load+profile own rules {file}"), |b| {
            b.iter(|| {
                let m = onnxscope::model::load_bytes(&path, bytes.clone()).unwrap();
                black_box(profile_model(&m, &own_rules).unwrap())
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
