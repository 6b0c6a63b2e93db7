//! Measures `profile` end to end (decode, IR, shapes, costs, memory, JSON) on MatMul+Relu chains
//! of 2k, 20k and 100k nodes sharing one 64×64 weight, at `N = 1`: the cost per node and whether
//! it grows with the graph. The graphs are generated here; set `ONNXSCOPE_SCALE_DIR` to also
//! write them there (`chain<nodes>.onnx`) for whole-process timing.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use onnxscope::analysis::{profile_model, ProfileOptions};
use onnxscope::model::proto::{
    tensor_shape_proto::{dimension::Value as DV, Dimension},
    type_proto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};
use prost::Message;

fn value_info(name: &str) -> ValueInfoProto {
    let dim = |v: DV| Dimension {
        value: Some(v),
        denotation: String::new(),
    };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: 1,
                shape: Some(TensorShapeProto {
                    dim: vec![dim(DV::DimParam("N".into())), dim(DV::DimValue(64))],
                }),
            })),
            denotation: String::new(),
        }),
        doc_string: String::new(),
    }
}

/// x[N,64] → (MatMul W, Relu) × nodes/2 → output, W a 64×64 float initializer.
fn chain(nodes: usize) -> Vec<u8> {
    let node = |op: &str, name: String, input: Vec<String>, output: String| NodeProto {
        input,
        output: vec![output],
        name,
        op_type: op.into(),
        ..Default::default()
    };
    let mut prev = "x".to_string();
    let mut graph_nodes = Vec::with_capacity(nodes);
    for i in 0..nodes / 2 {
        graph_nodes.push(node(
            "MatMul",
            format!("matmul_{i}"),
            vec![prev.clone(), "W".into()],
            format!("m{i}"),
        ));
        graph_nodes.push(node(
            "Relu",
            format!("relu_{i}"),
            vec![format!("m{i}")],
            format!("r{i}"),
        ));
        prev = format!("r{i}");
    }
    let w = TensorProto {
        name: "W".into(),
        dims: vec![64, 64],
        data_type: 1,
        raw_data: vec![0u8; 64 * 64 * 4].into(),
        ..Default::default()
    };
    let m = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        graph: Some(GraphProto {
            node: graph_nodes,
            name: "chain".into(),
            initializer: vec![w],
            input: vec![value_info("x")],
            output: vec![value_info(&prev)],
            ..Default::default()
        }),
        ..Default::default()
    };
    m.encode_to_vec()
}

fn bench(c: &mut Criterion) {
    let mut opts = ProfileOptions::default();
    opts.shapes.use_tract = true;
    opts.shapes.dims.insert("N".into(), 1);
    let mut group = c.benchmark_group("profile+json chain");
    group.sample_size(10);
    for nodes in [2_000usize, 20_000, 100_000] {
        let bytes = chain(nodes);
        if let Ok(dir) = std::env::var("ONNXSCOPE_SCALE_DIR") {
            let path = Path::new(&dir).join(format!("chain{nodes}.onnx"));
            std::fs::write(&path, &bytes).expect("write the chain");
        }
        let bytes = bytes::Bytes::from(bytes);
        let path = Path::new("chain.onnx");
        group.throughput(Throughput::Elements(nodes as u64));
        group.bench_with_input(BenchmarkId::from_parameter(nodes), &bytes, |b, bytes| {
            b.iter(|| {
                let m = onnxscope::model::load_bytes(path, bytes.clone()).unwrap();
                let p = profile_model(&m, &opts).unwrap();
                // the JSON as `profile --format json` writes it: streamed, not held
                onnxscope::report::json::write(&p, std::io::sink()).unwrap();
                black_box(p)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
