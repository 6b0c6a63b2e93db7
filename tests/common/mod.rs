//! Builders for small in-memory ONNX models used by the tests (prost structs → bytes → loader).

#![allow(dead_code)]

use onnxscope::model::proto::{
    self, tensor_shape_proto::dimension::Value as DV, tensor_shape_proto::Dimension,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};
use prost::Message;

/// A dim: a number or a symbol.
pub enum D {
    V(i64),
    S(&'static str),
}

pub fn vi(name: &str, elem: i32, dims: &[D]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(proto::type_proto::Value::TensorType(
                proto::type_proto::Tensor {
                    elem_type: elem,
                    shape: Some(TensorShapeProto {
                        dim: dims
                            .iter()
                            .map(|d| Dimension {
                                value: Some(match d {
                                    D::V(v) => DV::DimValue(*v),
                                    D::S(s) => DV::DimParam(s.to_string()),
                                }),
                                denotation: String::new(),
                            })
                            .collect(),
                    }),
                },
            )),
            denotation: String::new(),
        }),
        doc_string: String::new(),
    }
}

pub fn fvi(name: &str, dims: &[i64]) -> ValueInfoProto {
    vi(
        name,
        proto::data_type::FLOAT,
        &dims.iter().map(|d| D::V(*d)).collect::<Vec<_>>(),
    )
}

/// A float initializer of zeros (the values do not matter for counting).
pub fn weight(name: &str, dims: &[i64]) -> TensorProto {
    let n: i64 = dims.iter().product();
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: proto::data_type::FLOAT,
        raw_data: vec![0u8; (n * 4) as usize].into(),
        ..Default::default()
    }
}

pub fn ints_tensor(name: &str, v: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: vec![v.len() as i64],
        data_type: proto::data_type::INT64,
        int64_data: v.to_vec(),
        ..Default::default()
    }
}

pub fn a_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: proto::attribute_type::INT,
        i: v,
        ..Default::default()
    }
}
pub fn a_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: proto::attribute_type::INTS,
        ints: v.to_vec(),
        ..Default::default()
    }
}
pub fn a_float(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: proto::attribute_type::FLOAT,
        f: v,
        ..Default::default()
    }
}
pub fn a_str(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: proto::attribute_type::STRING,
        s: v.as_bytes().to_vec(),
        ..Default::default()
    }
}

pub fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute: attrs,
        ..Default::default()
    }
}

pub fn model(
    nodes: Vec<NodeProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    inits: Vec<TensorProto>,
) -> ModelProto {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        producer_name: "tests".into(),
        graph: Some(GraphProto {
            node: nodes,
            name: "g".into(),
            initializer: inits,
            input: inputs,
            output: outputs,
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn to_bytes(m: &ModelProto) -> Vec<u8> {
    m.encode_to_vec()
}

/// Writes the model to a temp dir and returns (dir guard, path).
pub fn write_model(m: &ModelProto, file: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join(file);
    std::fs::write(&p, to_bytes(m)).expect("write model");
    (dir, p)
}

/// Profiles an in-memory model with default options (tract on).
pub fn profile(m: &ModelProto) -> onnxscope::analysis::Profile {
    profile_with(m, &[])
}

/// Profiles with `--dim`-style bindings.
pub fn profile_with(m: &ModelProto, dims: &[(&str, i64)]) -> onnxscope::analysis::Profile {
    let model = onnxscope::model::load_bytes(std::path::Path::new("mem.onnx"), to_bytes(m).into())
        .expect("model loads");
    let mut opts = onnxscope::analysis::ProfileOptions::default();
    opts.shapes.use_tract = true;
    for (k, v) in dims {
        opts.shapes.dims.insert(k.to_string(), *v);
    }
    onnxscope::analysis::profile_model(&model, &opts).expect("profile")
}

/// The node report by name.
pub fn node_of<'a>(
    p: &'a onnxscope::analysis::Profile,
    name: &str,
) -> &'a onnxscope::analysis::NodeReport {
    p.nodes
        .iter()
        .find(|n| n.name == name)
        .unwrap_or_else(|| panic!("no node {name}"))
}

/// An integer count (panics when symbolic).
pub fn int(c: &onnxscope::sym::Count) -> i128 {
    c.as_int()
        .unwrap_or_else(|| panic!("count {c} is symbolic"))
}
