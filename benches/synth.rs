//! Time to synthesize ResNeXt-101 32×8d without weights (graph + protobuf encoding), and with
//! random weights, to decode the graph-only bytes back, and to synthesize and profile it.

use criterion::{criterion_group, criterion_main, Criterion};
use onnxscope::model::proto::ModelProto;
use onnxscope::synth::{resnext, to_bytes, ResNeXtConfig};
use prost::Message;

fn bench(c: &mut Criterion) {
    let graph_only = ResNeXtConfig {
        weights: false,
        ..ResNeXtConfig::resnext(101, 32, 8)
    };
    c.bench_function("resnext101_32x8d graph only: synth", |b| {
        b.iter(|| resnext(&graph_only).unwrap())
    });
    c.bench_function("resnext101_32x8d graph only: synth + encode", |b| {
        b.iter(|| to_bytes(&resnext(&graph_only).unwrap()))
    });
    let bytes = to_bytes(&resnext(&graph_only).unwrap());
    c.bench_function("resnext101_32x8d graph only: decode", |b| {
        b.iter(|| ModelProto::decode(bytes.as_slice()).unwrap())
    });
    // The `compare --resnext` path, in memory: synthesize, load, profile with tract's shapes.
    let mut opts = onnxscope::analysis::ProfileOptions::default();
    opts.shapes.use_tract = true;
    opts.shapes.dims.insert("N".into(), 1);
    c.bench_function("resnext101_32x8d graph only: synth + profile", |b| {
        b.iter(|| {
            let bytes = to_bytes(&resnext(&graph_only).unwrap());
            let m = onnxscope::model::load_bytes(std::path::Path::new("r101.onnx"), bytes.into())
                .unwrap();
            onnxscope::analysis::profile_model(&m, &opts).unwrap()
        })
    });
    let mut group = c.benchmark_group("with weights");
    group.sample_size(10);
    let weighted = ResNeXtConfig::resnet(50);
    group.bench_function("resnet50 random weights: synth + encode", |b| {
        b.iter(|| to_bytes(&resnext(&weighted).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
