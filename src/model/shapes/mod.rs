//! Tensor shapes, element types and small values for every tensor of a graph. The op
//! registry's own shape rules (`ops::infer_shape`) type the common ops; where they leave a node
//! untyped, tract's inference runs (on a copy of the model in which large weights are presented
//! as typed inputs, so no weight is copied and missing external data does not matter) and its
//! shapes take precedence; what neither knows stays unknown, and the node's cost goes to
//! `unknown` with the reason. Tract's analysis of a large graph costs far more than the own
//! rules (allocations per node, a copy of the model), so it is skipped when the own rules type
//! every node, unless `tract_everywhere` asks for it.

use std::collections::HashMap;

use super::graph::{Graph, TensorKind};
use super::proto;
use super::values::{self, Value};
use super::{Model, Shape};
use crate::sym::Count;

#[derive(Clone, Debug, Default)]
pub struct TensorFacts {
    pub shape: Option<Shape>,
    pub dtype: i32,
    pub value: Option<Value>,
}

/// Facts for every tensor of one graph, indexed by `TensorId`.
#[derive(Clone, Debug, Default)]
pub struct ShapeInfo {
    pub facts: Vec<TensorFacts>,
    /// Nodes whose output shapes came from tract (the rest from own rules or declarations).
    pub from_tract: usize,
    /// Every output of every node got its shape from tract or an own rule (not from a
    /// declaration, not unknown).
    pub typed_all: bool,
    pub notes: Vec<String>,
}

/// Input shapes forced by the user (`--input`), and symbol bindings (`--dim`).
#[derive(Clone, Debug, Default)]
pub struct ShapeOptions {
    pub inputs: HashMap<String, Vec<i64>>,
    pub dims: HashMap<String, i64>,
    /// Tract may be used where own rules leave a node untyped.
    pub use_tract: bool,
    /// With `use_tract`: run tract's analysis even when the own rules type every node, and let
    /// its shapes take precedence everywhere (the agreement tests compare the two).
    pub tract_everywhere: bool,
}

/// Infers the facts of the model's main graph.
pub fn infer(model: &Model, opts: &ShapeOptions) -> ShapeInfo {
    let g = &model.graph;
    let mut seeds: Vec<TensorFacts> = vec![TensorFacts::default(); g.tensors.len()];
    for (id, t) in g.tensors.iter().enumerate() {
        seeds[id].dtype = t.dtype;
        if t.kind == TensorKind::Input {
            if let Some(forced) = opts.inputs.get(&t.name) {
                seeds[id].shape = Some(forced.iter().map(|d| Count::int(*d as i128)).collect());
            } else {
                seeds[id].shape = t
                    .declared
                    .as_ref()
                    .map(|s| s.iter().map(|d| d.bind(&opts.dims)).collect());
            }
        }
    }
    let mut notes = vec![];
    if opts.use_tract {
        let own = infer_graph(g, seeds.clone(), &HashMap::new(), model.opset(), &opts.dims);
        if own.typed_all && !opts.tract_everywhere {
            return own;
        }
        // Nodes outside what their op is defined for can abort the process inside tract's
        // analysis (no unwinding to catch): screened with the own rules' facts first.
        if let Some(why) = tract_screen(g, &own.facts) {
            let mut own = own;
            own.notes.insert(
                0,
                format!("tract's analysis skipped: {why}; own shape rules used"),
            );
            return own;
        }
    }
    let tract = if opts.use_tract {
        match crate::model::shapes::tract_facts(model, &seeds) {
            Ok(m) => m,
            Err(e) => {
                notes.push(format!(
                    "tract could not analyse the model ({e}); own shape rules used"
                ));
                HashMap::new()
            }
        }
    } else {
        HashMap::new()
    };
    let mut info = infer_graph(g, seeds, &tract, model.opset(), &opts.dims);
    info.notes.splice(0..0, notes);
    info
}

/// The first node of `g` that tract must not see (see `ops::OpDef::min_rank`), from `facts`.
pub fn tract_screen(g: &Graph, facts: &[TensorFacts]) -> Option<String> {
    crate::ops::tract_screen(g.nodes.iter().map(|n| {
        let inputs = n.inputs.iter().map(|t| t.map(|t| &facts[t])).collect();
        (n, inputs)
    }))
}

/// Infers the facts of a graph from seeded facts (inputs, outer scope) and tract's shapes.
pub fn infer_graph(
    g: &Graph,
    mut facts: Vec<TensorFacts>,
    tract: &HashMap<String, Shape>,
    opset: i64,
    dims: &HashMap<String, i64>,
) -> ShapeInfo {
    for (id, t) in g.tensors.iter().enumerate() {
        if let Some(st) = &t.stored {
            facts[id].dtype = st.data_type;
            facts[id].shape = Some(st.dims.iter().map(|d| Count::int(*d as i128)).collect());
            facts[id].value = values::decode(st);
        }
    }
    let mut from_tract = 0;
    let mut typed_all = true;
    for &n in &g.order {
        let node = &g.nodes[n];
        let outs: Vec<_> = node.outputs.iter().flatten().copied().collect();
        let ins: Vec<Option<&TensorFacts>> =
            node.inputs.iter().map(|i| i.map(|i| &facts[i])).collect();
        let own = crate::ops::infer_shape(node, &ins, opset).unwrap_or_default();
        let mut all_tract = !outs.is_empty();
        for (k, o) in node.outputs.iter().enumerate() {
            let Some(o) = *o else { continue };
            let mine = own.get(k).cloned().unwrap_or_default();
            let t = &g.tensors[o];
            let f = &mut facts[o];
            if f.value.is_none() {
                f.value = mine.value;
            }
            if f.dtype == 0 {
                f.dtype = if mine.dtype != 0 { mine.dtype } else { t.dtype };
            }
            if f.shape.is_none() {
                if let Some(s) = tract.get(&t.name) {
                    f.shape = Some(s.iter().map(|d| d.bind(dims)).collect());
                } else {
                    all_tract = false;
                    typed_all &= mine.shape.is_some();
                    f.shape = mine.shape.or_else(|| {
                        t.declared
                            .as_ref()
                            .map(|s| s.iter().map(|d| d.bind(dims)).collect())
                    });
                }
            }
        }
        if all_tract {
            from_tract += 1;
        }
    }
    ShapeInfo {
        facts,
        from_tract,
        typed_all,
        notes: vec![],
    }
}

fn tdim_to_count(d: &tract_onnx::prelude::TDim) -> Option<Count> {
    use tract_onnx::prelude::TDim;
    Some(match d {
        TDim::Val(v) => Count::int(*v as i128),
        TDim::Sym(s) => Count::sym(&super::graph::sanitize_symbol(&s.to_string())),
        TDim::Add(v) => {
            let parts: Option<Vec<Count>> = v.iter().map(tdim_to_count).collect();
            Count::sum(&parts?)
        }
        TDim::Mul(v) => {
            let parts: Option<Vec<Count>> = v.iter().map(tdim_to_count).collect();
            Count::product(&parts?)
        }
        TDim::MulInt(k, x) => &tdim_to_count(x)? * (*k as i128),
        TDim::Div(x, k) => tdim_to_count(x)?.div_exact(*k as i128)?,
        _ => return None,
    })
}

/// Runs tract's inference on a weight-free copy of the model; shapes by tensor name.
fn tract_facts(model: &Model, seeds: &[TensorFacts]) -> Result<HashMap<String, Shape>, String> {
    use prost::Message;
    use tract_onnx::prelude::*;
    use tract_onnx::tract_hir::infer::Factoid;
    let mut proto = model.decode_proto().map_err(|e| e.to_string())?;
    let Some(g) = proto.graph.as_mut() else {
        return Err("no graph".into());
    };
    // Large or absent weights become typed graph inputs: tract needs their types, not values.
    let mut kept = Vec::with_capacity(g.initializer.len());
    let mut as_inputs = vec![];
    for init in std::mem::take(&mut g.initializer) {
        let n: u64 = init.dims.iter().map(|d| (*d).max(0) as u64).product();
        if n > values::MAX_ELEMENTS || init.data_location == proto::DATA_LOCATION_EXTERNAL {
            as_inputs.push(value_info(&init.name, init.data_type, &init.dims));
        } else {
            kept.push(init);
        }
    }
    g.initializer = kept;
    g.input
        .retain(|i| !as_inputs.iter().any(|a| a.name == i.name));
    let real_inputs = g.input.len();
    g.input.extend(as_inputs);
    // Seeded input shapes (from --input / --dim) replace the declared ones.
    for vi in g.input.iter_mut().take(real_inputs) {
        if let Some(id) = model.graph.by_name.get(&vi.name) {
            if let Some(shape) = &seeds[*id].shape {
                if let Some(dims) = shape.iter().map(|d| d.as_int()).collect::<Option<Vec<_>>>() {
                    let dims: Vec<i64> = dims.into_iter().map(|d| d as i64).collect();
                    *vi = value_info(&vi.name, seeds[*id].dtype.max(1), &dims);
                }
            }
        }
    }
    let bytes = proto.encode_to_vec();
    let pb = tract_onnx::pb::ModelProto::decode(&bytes[..]).map_err(|e| e.to_string())?;
    let dir = model
        .path
        .parent()
        .and_then(|p| p.to_str())
        .map(str::to_string);
    let result = guard(move || -> TractResult<HashMap<String, Shape>> {
        let onnx = tract_onnx::onnx();
        let mut parsed = onnx.parse(&pb, dir.as_deref())?;
        let _ = parsed.model.analyse(true);
        let mut out = HashMap::new();
        for (name, outlet) in &parsed.outlets_by_name {
            let Ok(fact) = parsed.model.outlet_fact(*outlet) else {
                continue;
            };
            if let Some(dims) = fact.shape.concretize() {
                if let Some(s) = dims.iter().map(tdim_to_count).collect::<Option<Vec<_>>>() {
                    out.insert(name.clone(), s);
                }
            }
        }
        Ok(out)
    })?;
    result.map_err(|e| format!("{e:#}"))
}

thread_local! {
    /// Set while this thread runs a [`guard`]ed call: its panics are caught and reported as
    /// errors, so the panic hook stays silent for them.
    static GUARDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs, once per process, a panic hook that is silent for the threads inside [`guard`]
/// and defers to the hook it replaced everywhere else. The hook is never swapped back and
/// forth, so concurrent guarded calls (`check` and `compare` profile models on several threads)
/// cannot leave a thread with the default hook printing a backtrace.
fn install_quiet_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !GUARDED.with(|g| g.get()) {
                prev(info);
            }
        }));
    });
}

/// Runs a closure that calls into tract, turning a panic into an error.
pub fn guard<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_quiet_hook();
    let outer = GUARDED.with(|g| g.replace(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(outer));
    r.map_err(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        format!("tract panicked: {msg}")
    })
}

fn value_info(name: &str, elem_type: i32, dims: &[i64]) -> proto::ValueInfoProto {
    use proto::tensor_shape_proto::{dimension::Value as DV, Dimension};
    proto::ValueInfoProto {
        name: name.to_string(),
        r#type: Some(proto::TypeProto {
            value: Some(proto::type_proto::Value::TensorType(
                proto::type_proto::Tensor {
                    elem_type,
                    shape: Some(proto::TensorShapeProto {
                        dim: dims
                            .iter()
                            .map(|d| Dimension {
                                value: Some(DV::DimValue(*d)),
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
