//! The bodies of the fuzz targets: each takes the fuzzer's bytes, runs them through one of
//! onnxscope's readers the way the commands do, and returns the typed result. The fuzz binaries
//! (`fuzz_targets/`) call these; `tests/fuzz_regressions.rs` includes this same file and runs
//! every kept crash input through it, so a regression test exercises exactly the fuzzed path.
//! Only onnxscope's own dependencies are used here (no `arbitrary`): the structured targets
//! read their choices from the input with the small [`Reader`] below.

use std::path::Path;

use bytes::Bytes;
use ndarray::{ArrayD, IxDyn};
use prost::Message;

use onnxscope::analysis::{profile_model, ProfileOptions};
use onnxscope::budget::file::Budget;
use onnxscope::model::proto::{
    self, attribute_type, tensor_shape_proto::dimension, type_proto, AttributeProto, GraphProto,
    ModelProto, NodeProto, TensorProto, ValueInfoProto,
};
use onnxscope::model::shapes::ShapeOptions;
use onnxscope::post::nms::{BoxFormat, Layout, Semantics};
use onnxscope::post::{npyio, DiceOptions, NmsOptions};
use onnxscope::report::graph::ColorBy;
use onnxscope::report::{Format, GroupBy, ProfileView, Render, ReportOptions};

/// The name models are given in messages (and the directory external data is looked up in).
pub const MODEL_NAME: &str = "fuzz-input.onnx";

/// Model bytes → load → profile (own shape rules, tract where they leave a node untyped, as
/// `profile` does) → the JSON and table reports.
pub fn model_profile(data: &[u8]) -> Result<(), String> {
    profile_bytes(Bytes::copy_from_slice(data))
}

fn profile_bytes(bytes: Bytes) -> Result<(), String> {
    let model =
        onnxscope::model::load_bytes(Path::new(MODEL_NAME), bytes).map_err(|e| e.to_string())?;
    let opts = ProfileOptions {
        shapes: ShapeOptions {
            use_tract: true,
            ..Default::default()
        },
        strict: false,
    };
    let p = profile_model(&model, &opts).map_err(|e| e.to_string())?;
    for (format, group_by) in [
        (Format::Json, GroupBy::Node),
        (Format::Table, GroupBy::Stage),
    ] {
        let view = ProfileView {
            model: &model,
            profile: &p,
            options: ReportOptions {
                group_by,
                ..Default::default()
            },
            color_by: ColorBy::Flops,
        };
        view.render(format).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// `.npy` bytes → the reader of `nms`/`dice`/`run` → every conversion its callers make
/// (float32, labels, lossy float32, a tract tensor).
pub fn npy(data: &[u8]) -> Result<(), String> {
    // `run`'s reader, float16 included
    if let Ok(npyio::Loaded::F16(a)) = npyio::read_input_bytes(Path::new("fuzz-input.npy"), data) {
        let _ = a.len();
    }
    let a = npyio::read_bytes(Path::new("fuzz-input.npy"), data).map_err(|e| e.to_string())?;
    let _ = a.shape().iter().product::<usize>();
    let _ = a.clone().into_f32("fuzz");
    let _ = a.clone().into_labels("fuzz");
    let _ = a.clone().into_f32_lossy();
    let t = onnxscope::runtime::run::inputs::npy_to_tensor(a);
    let _ = t.shape().len();
    Ok(())
}

/// Budget file text → the parser of `check --budget` → the limits for a few model paths.
pub fn budget_toml(data: &[u8]) -> Result<(), String> {
    let src = std::str::from_utf8(data).map_err(|e| e.to_string())?;
    let b = Budget::parse("fuzz-budget.toml", src).map_err(|e| e.to_string())?;
    for m in ["models/tiny_cnn.onnx", "a/b/c.onnx", "model.onnx", ""] {
        let _ = b.effective(Path::new(m));
    }
    Ok(())
}

/// NMS and Dice: options and arrays (shapes and values) chosen by the input.
pub fn post(data: &[u8]) -> Result<(), String> {
    let mut r = Reader::new(data);
    if r.bool() {
        post_nms(&mut r)
    } else {
        post_dice(&mut r)
    }
}

fn post_nms(r: &mut Reader) -> Result<(), String> {
    let opts = NmsOptions {
        iou_threshold: r.f64(),
        score_threshold: r.bool().then(|| r.f32()),
        box_format: *r.pick(&[BoxFormat::Xyxy, BoxFormat::Xywh, BoxFormat::Cxcywh]),
        class_agnostic: r.bool(),
        max_per_class: r.bool().then(|| r.usize_small()),
        max_detections: r.bool().then(|| r.usize_small()),
        semantics: *r.pick(&[Semantics::Torchvision, Semantics::Onnx]),
        multi_label: r.bool(),
    };
    let layout = *r.pick(&[
        None,
        Some(Layout::Flat),
        Some(Layout::Bnc),
        Some(Layout::Bcn),
        Some(Layout::Yolov8),
        Some(Layout::Yolov5),
    ]);
    let boxes = r.array_f32();
    let scores = r.bool().then(|| r.array_f32());
    let classes = r.bool().then(|| r.array_f32().mapv(|v| v as i64));
    onnxscope::post::nms::detect(
        boxes.view(),
        scores.as_ref().map(|s| s.view()),
        classes.as_ref().map(|c| c.view()),
        layout,
        &opts,
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}

fn post_dice(r: &mut Reader) -> Result<(), String> {
    use onnxscope::post::dice::{Activation, Discretize, Reduction};
    let opts = DiceOptions {
        include_background: r.bool(),
        activation: *r.pick(&[Activation::None, Activation::Sigmoid, Activation::Softmax]),
        squared_pred: r.bool(),
        jaccard: r.bool(),
        reduction: *r.pick(&[Reduction::Mean, Reduction::Sum, Reduction::None]),
        smooth_nr: r.f64(),
        smooth_dr: r.f64(),
        batch: r.bool(),
        to_onehot_y: r.bool(),
        discretize: match r.u8() % 3 {
            0 => None,
            1 => Some(Discretize::Argmax),
            _ => Some(Discretize::Threshold(r.f32())),
        },
        ignore_empty: r.bool(),
    };
    let pred = r.array_f32();
    let target = if r.bool() {
        // same shape as the prediction (the common case), values chosen by the input
        let n = pred.len();
        let v: Vec<f32> = (0..n).map(|_| r.f32()).collect();
        ArrayD::from_shape_vec(pred.raw_dim(), v).map_err(|e| e.to_string())?
    } else {
        r.array_f32()
    };
    onnxscope::post::dice(pred.view(), target.view(), &opts)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Valid models, mutated as the input says (dims, ranks, attribute values and types, op
/// types, dangling inputs, cycles), then loaded and profiled like [`model_profile`].
pub fn model_mutate(data: &[u8]) -> Result<(), String> {
    match mutated_model(data) {
        Some(bytes) => profile_bytes(Bytes::from(bytes)),
        None => Ok(()),
    }
}

/// Valid models the structure-aware target starts from (small, so a mutation is cheap).
pub const SEEDS: &[&[u8]] = &[
    include_bytes!("../../models/tiny_cnn.onnx"),
    include_bytes!("../../models/det/det.onnx"),
    include_bytes!("../../models/seg/seg.onnx"),
    include_bytes!("../../models/realworld/transformer_encoder.onnx"),
    include_bytes!("../../models/realworld/small_convnet_qdq.onnx"),
    include_bytes!("../../models/realworld/small_convnet_qop.onnx"),
    include_bytes!("../../models/realworld/tiny_cnn_qop.onnx"),
    include_bytes!("../../models/realworld/mobilenet_v3_small.onnx"),
    include_bytes!("../../models/resnext50_32x4d.onnx"),
    include_bytes!("../../models/llm/qwen2_int4/model.onnx"),
];

/// The model bytes [`model_mutate`] profiles for `data` (`None` when a seed does not decode).
pub fn mutated_model(data: &[u8]) -> Option<Vec<u8>> {
    let mut r = Reader::new(data);
    let seed = SEEDS[r.u8() as usize % SEEDS.len()];
    let mut m = ModelProto::decode(seed).ok()?;
    let steps = 1 + r.u8() % 16;
    for _ in 0..steps {
        if r.is_empty() {
            break;
        }
        mutate(&mut m, &mut r);
    }
    Some(m.encode_to_vec())
}

/// Op types a node may be turned into: every op the registry knows, plus a few it does not.
fn op_types() -> Vec<(&'static str, &'static str)> {
    let mut v = onnxscope::ops::registry().ops();
    v.extend([("", "NoSuchOp"), ("ai.onnx.ml", "TreeEnsembleClassifier")]);
    v
}

const ATTR_NAMES: &[&str] = &[
    "axis",
    "axes",
    "perm",
    "group",
    "kernel_shape",
    "pads",
    "strides",
    "dilations",
    "auto_pad",
    "epsilon",
    "transA",
    "transB",
    "keepdims",
    "hidden_size",
    "num_heads",
    "block_size",
    "bits",
    "to",
    "mode",
    "direction",
    "output_padding",
    "output_shape",
    "split",
    "value",
    "then_branch",
    "body",
];

fn mutate(m: &mut ModelProto, r: &mut Reader) {
    let what = r.u8() % 14;
    if what == 0 {
        // opset version
        if let Some(o) = m.opset_import.first_mut() {
            o.version = r.i64_interesting();
        } else {
            m.opset_import.push(proto::OperatorSetIdProto {
                domain: String::new(),
                version: r.i64_interesting(),
            });
        }
        return;
    }
    let Some(g) = m.graph.as_mut() else { return };
    let g = pick_graph(g, r);
    match what {
        1 => {
            // a declared dim (inputs, outputs, value_info)
            if let Some(vi) = pick_value_info(g, r) {
                if let Some(shape) = tensor_shape(vi) {
                    if !shape.dim.is_empty() {
                        let i = r.index(shape.dim.len());
                        shape.dim[i].value = Some(if r.u8().is_multiple_of(4) {
                            dimension::Value::DimParam(r.pick(&["N", "", "seq", "-1"]).to_string())
                        } else {
                            dimension::Value::DimValue(r.i64_interesting())
                        });
                    }
                }
            }
        }
        2 => {
            // a declared rank: add or drop dims, or drop the shape
            if let Some(vi) = pick_value_info(g, r) {
                if let Some(shape) = tensor_shape(vi) {
                    match r.u8() % 3 {
                        0 => {
                            shape.dim.pop();
                        }
                        1 => shape.dim.push(proto::tensor_shape_proto::Dimension {
                            value: Some(dimension::Value::DimValue(r.i64_interesting())),
                            denotation: String::new(),
                        }),
                        _ => shape.dim.clear(),
                    }
                }
            }
        }
        3 => {
            // an attribute's value
            if let Some(a) = pick_attr(g, r) {
                match a.r#type {
                    attribute_type::INT => a.i = r.i64_interesting(),
                    attribute_type::FLOAT => a.f = r.f32(),
                    attribute_type::INTS => {
                        if a.ints.is_empty() || r.u8().is_multiple_of(4) {
                            let n = r.usize_small();
                            a.ints = (0..n).map(|_| r.i64_interesting()).collect();
                        } else {
                            let i = r.index(a.ints.len());
                            a.ints[i] = r.i64_interesting();
                        }
                    }
                    attribute_type::FLOATS => {
                        let n = r.usize_small();
                        a.floats = (0..n).map(|_| r.f32()).collect();
                    }
                    attribute_type::STRING => {
                        a.s = r
                            .pick(&["NOTSET", "SAME_UPPER", "VALID", "bidirectional", "", "x"])
                            .as_bytes()
                            .to_vec()
                    }
                    attribute_type::TENSOR => {
                        if let Some(t) = a.t.as_mut() {
                            mutate_tensor(t, r);
                        }
                    }
                    _ => a.i = r.i64_interesting(),
                }
            }
        }
        4 => {
            // an attribute's type (the value fields stay as they are)
            if let Some(a) = pick_attr(g, r) {
                a.r#type = i32::from(r.u8() % 16);
            }
        }
        5 => {
            // an attribute added (or replaced) by name, or removed
            if g.node.is_empty() {
                return;
            }
            let n = r.index(g.node.len());
            let node = &mut g.node[n];
            if r.bool() && !node.attribute.is_empty() {
                let i = r.index(node.attribute.len());
                node.attribute.remove(i);
            } else {
                let name = r.pick(ATTR_NAMES).to_string();
                node.attribute.retain(|a| a.name != name);
                let mut a = AttributeProto {
                    name,
                    ..Default::default()
                };
                if r.bool() {
                    a.r#type = attribute_type::INT;
                    a.i = r.i64_interesting();
                } else {
                    a.r#type = attribute_type::INTS;
                    let k = r.usize_small();
                    a.ints = (0..k).map(|_| r.i64_interesting()).collect();
                }
                node.attribute.push(a);
            }
        }
        6 => {
            // an op type
            if g.node.is_empty() {
                return;
            }
            let n = r.index(g.node.len());
            let ops = op_types();
            let (domain, op) = *r.pick(&ops);
            g.node[n].domain = domain.to_string();
            g.node[n].op_type = op.to_string();
        }
        7 => {
            // a dangling input name
            if let Some(node) = pick_node(g, r) {
                if !node.input.is_empty() {
                    let i = r.index(node.input.len());
                    node.input[i] = r.pick(&["dangling", "", "x"]).to_string();
                }
            }
        }
        8 => {
            // an edge: an input wired to any node's output (a later node's makes a cycle)
            if g.node.len() < 2 {
                return;
            }
            let from = r.index(g.node.len());
            let to = r.index(g.node.len());
            if g.node[from].output.is_empty() || g.node[to].input.is_empty() {
                return;
            }
            let o = g.node[from].output[r.index(g.node[from].output.len())].clone();
            let i = r.index(g.node[to].input.len());
            g.node[to].input[i] = o;
        }
        9 => {
            // inputs or outputs of a node added or removed
            if let Some(node) = pick_node(g, r) {
                match r.u8() % 4 {
                    0 => {
                        node.input.pop();
                    }
                    1 => {
                        let again = node.input.first().cloned().unwrap_or_default();
                        node.input.push(again);
                    }
                    2 => {
                        node.output.pop();
                    }
                    _ => node.input.push(String::new()),
                }
            }
        }
        10 => {
            // an initializer's dims, element type or payload
            if !g.initializer.is_empty() {
                let i = r.index(g.initializer.len());
                mutate_tensor(&mut g.initializer[i], r);
            }
        }
        11 => {
            // a node duplicated, removed or moved
            if g.node.is_empty() {
                return;
            }
            let n = r.index(g.node.len());
            match r.u8() % 3 {
                0 => {
                    let c = g.node[n].clone();
                    g.node.push(c);
                }
                1 => {
                    g.node.remove(n);
                }
                _ => {
                    let m = r.index(g.node.len());
                    g.node.swap(n, m);
                }
            }
        }
        12 => {
            // an element type
            if let Some(vi) = pick_value_info(g, r) {
                if let Some(type_proto::Value::TensorType(t)) =
                    vi.r#type.as_mut().and_then(|t| t.value.as_mut())
                {
                    t.elem_type = i32::from(r.u8() % 24);
                }
            }
        }
        _ => {
            // a graph input or output dropped, or an output made an input
            match r.u8() % 3 {
                0 if !g.input.is_empty() => {
                    let i = r.index(g.input.len());
                    g.input.remove(i);
                }
                1 if !g.output.is_empty() => {
                    let i = r.index(g.output.len());
                    g.output.remove(i);
                }
                _ => {
                    if let Some(node) = g.node.first() {
                        if let Some(o) = node.output.first() {
                            g.input.push(ValueInfoProto {
                                name: o.clone(),
                                ..Default::default()
                            });
                        }
                    }
                }
            }
        }
    }
}

/// The main graph, or (sometimes) a subgraph held by a node attribute.
fn pick_graph<'a>(g: &'a mut GraphProto, r: &mut Reader) -> &'a mut GraphProto {
    if !r.u8().is_multiple_of(8) {
        return g;
    }
    let has_sub = g
        .node
        .iter()
        .any(|n| n.attribute.iter().any(|a| a.g.is_some()));
    if !has_sub {
        return g;
    }
    let n = g
        .node
        .iter()
        .position(|n| n.attribute.iter().any(|a| a.g.is_some()))
        .expect("checked");
    let a = g.node[n]
        .attribute
        .iter()
        .position(|a| a.g.is_some())
        .expect("checked");
    g.node[n].attribute[a].g.as_mut().expect("checked")
}

fn pick_node<'a>(g: &'a mut GraphProto, r: &mut Reader) -> Option<&'a mut NodeProto> {
    if g.node.is_empty() {
        return None;
    }
    let n = r.index(g.node.len());
    g.node.get_mut(n)
}

fn pick_attr<'a>(g: &'a mut GraphProto, r: &mut Reader) -> Option<&'a mut AttributeProto> {
    let with: Vec<usize> = (0..g.node.len())
        .filter(|i| !g.node[*i].attribute.is_empty())
        .collect();
    if with.is_empty() {
        return None;
    }
    let n = with[r.index(with.len())];
    let node = &mut g.node[n];
    let i = r.index(node.attribute.len());
    node.attribute.get_mut(i)
}

fn pick_value_info<'a>(g: &'a mut GraphProto, r: &mut Reader) -> Option<&'a mut ValueInfoProto> {
    let (a, b, c) = (g.input.len(), g.output.len(), g.value_info.len());
    if a + b + c == 0 {
        return None;
    }
    let i = r.index(a + b + c);
    if i < a {
        g.input.get_mut(i)
    } else if i < a + b {
        g.output.get_mut(i - a)
    } else {
        g.value_info.get_mut(i - a - b)
    }
}

fn tensor_shape(vi: &mut ValueInfoProto) -> Option<&mut proto::TensorShapeProto> {
    match vi.r#type.as_mut()?.value.as_mut()? {
        type_proto::Value::TensorType(t) => Some(t.shape.get_or_insert_with(Default::default)),
        _ => None,
    }
}

fn mutate_tensor(t: &mut TensorProto, r: &mut Reader) {
    match r.u8() % 5 {
        0 => {
            if !t.dims.is_empty() {
                let i = r.index(t.dims.len());
                t.dims[i] = r.i64_interesting();
            }
        }
        1 => {
            if r.bool() {
                t.dims.pop();
            } else {
                t.dims.push(r.i64_interesting());
            }
        }
        2 => t.data_type = i32::from(r.u8() % 24),
        3 => {
            let n = r.index(t.raw_data.len() + 1);
            t.raw_data = t.raw_data.slice(..n);
        }
        _ => {
            let n = r.usize_small();
            t.int64_data = (0..n).map(|_| r.i64_interesting()).collect();
            t.raw_data = Bytes::new();
        }
    }
}

/// Choices read from the fuzzer's bytes; past the end every read is zero.
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = N.min(self.data.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        out
    }

    pub fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// An index below `len` (`len` > 0).
    pub fn index(&mut self, len: usize) -> usize {
        u16::from_le_bytes(self.take::<2>()) as usize % len.max(1)
    }

    pub fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[self.index(items.len())]
    }

    /// 0..=8, for lengths and small counts.
    pub fn usize_small(&mut self) -> usize {
        usize::from(self.u8() % 9)
    }

    /// Mostly the values that break shape arithmetic, sometimes any i64.
    pub fn i64_interesting(&mut self) -> i64 {
        const V: &[i64] = &[
            0,
            1,
            -1,
            2,
            3,
            -2,
            4,
            7,
            64,
            1 << 31,
            1 << 32,
            1 << 62,
            i64::MAX,
            i64::MIN,
            i32::MAX as i64,
            -(1 << 40),
        ];
        let k = self.u8();
        if k < 224 {
            V[usize::from(k) % V.len()]
        } else {
            i64::from_le_bytes(self.take::<8>())
        }
    }

    /// Mostly ordinary values, sometimes NaN, infinities, huge or tiny ones, or any bits.
    pub fn f32(&mut self) -> f32 {
        const V: &[f32] = &[
            0.0,
            0.5,
            1.0,
            -1.0,
            2.0,
            10.0,
            100.0,
            -0.0,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            f32::MIN_POSITIVE,
            1e-30,
            0.25,
            0.7,
        ];
        let k = self.u8();
        if k < 192 {
            V[usize::from(k) % V.len()]
        } else {
            f32::from_le_bytes(self.take::<4>())
        }
    }

    pub fn f64(&mut self) -> f64 {
        f64::from(self.f32())
    }

    /// An array of rank 0..=4 with dims 0..=8 and values from [`Reader::f32`].
    pub fn array_f32(&mut self) -> ArrayD<f32> {
        let rank = usize::from(self.u8() % 5);
        let dims: Vec<usize> = (0..rank).map(|_| self.usize_small()).collect();
        let n: usize = dims.iter().product();
        let v: Vec<f32> = (0..n).map(|_| self.f32()).collect();
        ArrayD::from_shape_vec(IxDyn(&dims), v).expect("length is the product of the dims")
    }
}
