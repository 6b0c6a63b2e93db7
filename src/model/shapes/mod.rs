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

impl TensorFacts {
    /// What a Loop body's first two inputs are: the iteration number (int64 scalar) and the
    /// condition (bool scalar).
    pub fn loop_iteration() -> Vec<TensorFacts> {
        use crate::model::proto::data_type as dt;
        let scalar = |dtype| TensorFacts {
            shape: Some(vec![]),
            dtype,
            value: None,
        };
        vec![scalar(dt::INT64), scalar(dt::BOOL)]
    }
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
    let (dims, bind_notes) = input_bindings(g, opts);
    let mut info = infer_bound(model, opts, &dims);
    info.notes.splice(0..0, bind_notes);
    info
}

impl ShapeOptions {
    /// The same options with the symbols that `--input` pins added to `dims` (a declared
    /// `x: [N, 3, H, W]` forced to `1x3x224x224` binds N=1, H=224, W=224), so reports list
    /// every binding the user made, by either flag.
    pub fn with_input_bindings(&self, g: &Graph) -> ShapeOptions {
        ShapeOptions {
            dims: input_bindings(g, self).0,
            ..self.clone()
        }
    }
}

/// `opts.dims` plus the bindings forced input shapes imply for the symbols their declarations
/// name, and a note for each disagreement: a symbol `--dim` binds to another value (the forced
/// shape is used for that input, the `--dim` binding elsewhere), a fixed declared size the
/// forced shape changes, a rank that differs.
pub fn input_bindings(g: &Graph, opts: &ShapeOptions) -> (HashMap<String, i64>, Vec<String>) {
    let mut dims = opts.dims.clone();
    let mut notes = vec![];
    let mut forced: Vec<_> = opts.inputs.iter().collect();
    forced.sort();
    for (name, shape) in forced {
        let Some(t) = g.tensor(name) else { continue };
        let Some(declared) = &t.declared else {
            continue;
        };
        if declared.len() != shape.len() {
            notes.push(format!(
                "--input {name}: rank {} given, the model declares rank {}; the given shape is used",
                shape.len(),
                declared.len()
            ));
            continue;
        }
        for (axis, (d, &v)) in declared.iter().zip(shape).enumerate() {
            if let Some(fixed) = d.as_int() {
                if fixed != v as i128 {
                    notes.push(format!(
                        "--input {name}: axis {axis} given {v}, the model declares {fixed}; the given size is used"
                    ));
                }
                continue;
            }
            let syms = d.symbols();
            let [sym] = syms.as_slice() else { continue };
            if *d != Count::sym(sym) {
                continue;
            }
            match dims.get(sym) {
                Some(&b) if b != v => notes.push(format!(
                    "--input {name}: axis {axis} ({sym}) given {v}, but {sym}={b} is bound; {v} is used for '{name}'"
                )),
                Some(_) => {}
                None => {
                    dims.insert(sym.clone(), v);
                }
            }
        }
    }
    (dims, notes)
}

/// [`infer`] with the bindings already merged.
fn infer_bound(model: &Model, opts: &ShapeOptions, dims: &HashMap<String, i64>) -> ShapeInfo {
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
                    .map(|s| s.iter().map(|d| d.bind(dims)).collect());
            }
        }
    }
    let mut notes = vec![];
    if opts.use_tract {
        let own = infer_graph(g, seeds.clone(), &HashMap::new(), model.opset(), dims);
        if own.typed_all && !opts.tract_everywhere {
            return own;
        }
        // Nodes outside what their op is defined for can abort the process inside tract's
        // analysis (no unwinding to catch): screened with the own rules' facts first.
        if let Some(why) = tract_screen(g, &own.facts, model.opset()) {
            let mut own = own;
            own.notes.insert(
                0,
                format!("tract's analysis skipped: {why}; own shape rules used"),
            );
            return own;
        }
    }
    let tract = if opts.use_tract {
        // Once the user pins shapes, stored value_info and output shapes may be stale (a
        // symbol the pinned input resolves): tract infers from the inputs alone.
        let pinned = !opts.inputs.is_empty() || !dims.is_empty();
        match crate::model::shapes::tract_facts(model, &seeds, pinned) {
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
    let mut info = infer_graph(g, seeds, &tract, model.opset(), dims);
    info.notes.splice(0..0, notes);
    info
}

/// Seeds a subgraph's facts: its declared inputs (overridden by `inputs` where they are
/// known) and, for every name it reads from the enclosing graph `outer`, that name's facts
/// there — shapes and constant values alike (an outer initializer used as a Reshape target).
/// Names from further out pass through each enclosing level (`Graph::build`), so nested
/// bodies see them too.
pub fn seed_subgraph(
    sg: &Graph,
    outer: &Graph,
    outer_facts: &[TensorFacts],
    inputs: &[TensorFacts],
    dims: &HashMap<String, i64>,
) -> Vec<TensorFacts> {
    let mut f = vec![TensorFacts::default(); sg.tensors.len()];
    for (k, id) in sg.inputs.iter().enumerate() {
        let t = &sg.tensors[*id];
        f[*id] = TensorFacts {
            shape: t
                .declared
                .as_ref()
                .map(|s| s.iter().map(|d| d.bind(dims)).collect()),
            dtype: t.dtype,
            value: None,
        };
        if let Some(given) = inputs.get(k) {
            if given.shape.is_some() {
                f[*id].shape = given.shape.clone();
            }
            if given.dtype != 0 {
                f[*id].dtype = given.dtype;
            }
        }
    }
    for (id, t) in sg.tensors.iter().enumerate() {
        if t.kind == TensorKind::OuterScope {
            if let Some(o) = outer.by_name.get(&t.name) {
                if let Some(facts) = outer_facts.get(*o) {
                    f[id] = facts.clone();
                }
            }
        }
    }
    f
}

/// The facts of a subgraph's outputs, inferred with the enclosing graph's facts visible.
fn body_outputs(
    sg: &Graph,
    outer: &Graph,
    outer_facts: &[TensorFacts],
    inputs: &[TensorFacts],
    opset: i64,
    dims: &HashMap<String, i64>,
) -> Vec<TensorFacts> {
    let seeds = seed_subgraph(sg, outer, outer_facts, inputs, dims);
    let info = infer_graph(sg, seeds, &HashMap::new(), opset, dims);
    sg.outputs.iter().map(|o| info.facts[*o].clone()).collect()
}

/// Output facts of a control-flow node from its bodies. If: the taken branch's outputs when
/// the condition is a known constant, else what both branches agree on (a shape both give;
/// a value both give). Loop: a loop-carried value keeps its shape when the body returns the
/// same; a scan output is the body's per-iteration shape under the trip count (a symbol
/// `trips_<node>` when unknown, as the cost pass names it). Scan: state values as Loop's
/// carried ones; a scan output is the body's per-iteration shape with the scan length
/// inserted at its `scan_output_axes` axis.
fn control_flow_facts(
    g: &Graph,
    node: &super::Node,
    facts: &[TensorFacts],
    opset: i64,
    dims: &HashMap<String, i64>,
) -> crate::ops::ShapeResult {
    use crate::ops::control_flow::{IF, LOOP, SCAN};
    if !(node.domain.is_empty() || node.domain == "ai.onnx") {
        return None;
    }
    let body = |name: &str| {
        node.subgraphs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, sg)| sg)
    };
    let input = |k: usize| -> Option<&TensorFacts> {
        node.inputs
            .get(k)
            .copied()
            .flatten()
            .and_then(|t| facts.get(t))
    };
    match node.op_type.as_str() {
        IF => {
            let (then, other) = (body("then_branch")?, body("else_branch")?);
            let cond = input(0)
                .and_then(|f| f.value.as_ref())
                .and_then(|v| v.concrete())
                .and_then(|v| (v.len() == 1).then(|| v[0] != 0));
            let outs = |sg| body_outputs(sg, g, facts, &[], opset, dims);
            Some(match cond {
                Some(true) => outs(then),
                Some(false) => outs(other),
                None => outs(then)
                    .into_iter()
                    .zip(outs(other))
                    .map(|(a, b)| TensorFacts {
                        shape: a.shape.filter(|s| b.shape.as_ref() == Some(s)),
                        dtype: if a.dtype != 0 { a.dtype } else { b.dtype },
                        value: a.value.filter(|v| b.value.as_ref() == Some(v)),
                    })
                    .collect(),
            })
        }
        LOOP => {
            let sg = body("body")?;
            let carried = node.inputs.len().saturating_sub(2);
            let mut seeds = TensorFacts::loop_iteration();
            seeds.extend((0..carried).map(|k| input(2 + k).cloned().unwrap_or_default()));
            let outs = body_outputs(sg, g, facts, &seeds, opset, dims);
            let trips = input(0)
                .and_then(|f| f.value.as_ref())
                .and_then(|v| v.ints())
                .and_then(|v| v.first().cloned())
                .filter(|c| {
                    c.as_int()
                        .is_none_or(|v| (0..i64::MAX as i128).contains(&v))
                })
                .unwrap_or_else(|| {
                    Count::sym(&format!(
                        "trips_{}",
                        super::graph::sanitize_symbol(&node.name)
                    ))
                });
            let mut result = vec![];
            for (k, out) in outs.into_iter().skip(1).enumerate() {
                if k < carried {
                    let given = &seeds[2 + k];
                    result.push(TensorFacts {
                        shape: out.shape.filter(|s| given.shape.as_ref() == Some(s)),
                        dtype: out.dtype,
                        value: None,
                    });
                } else {
                    result.push(TensorFacts {
                        shape: out.shape.map(|s| {
                            let mut full = vec![trips.clone()];
                            full.extend(s);
                            full
                        }),
                        dtype: out.dtype,
                        value: None,
                    });
                }
            }
            Some(result)
        }
        SCAN => {
            let sg = body("body")?;
            let attrs = crate::model::attr::Attrs::new(&node.attributes, Default::default());
            let n_scan = attrs.int("num_scan_inputs").ok().flatten()?;
            let n_scan = usize::try_from(n_scan)
                .ok()
                .filter(|n| *n <= node.inputs.len())?;
            let n_state = node.inputs.len() - n_scan;
            let in_axes = attrs.ints("scan_input_axes").ok().flatten().unwrap_or(&[]);
            let out_axes = attrs.ints("scan_output_axes").ok().flatten().unwrap_or(&[]);
            let mut seeds: Vec<TensorFacts> = (0..n_state)
                .map(|k| input(k).cloned().unwrap_or_default())
                .collect();
            let mut length: Option<Count> = None;
            for k in 0..n_scan {
                let mut f = input(n_state + k).cloned().unwrap_or_default();
                f.value = None;
                let axis = in_axes.get(k).copied().unwrap_or(0);
                f.shape = f.shape.and_then(|mut s| {
                    let a = crate::ops::common::axis(axis, s.len())?;
                    length.get_or_insert_with(|| s[a].clone());
                    s.remove(a);
                    Some(s)
                });
                seeds.push(f);
            }
            let outs = body_outputs(sg, g, facts, &seeds, opset, dims);
            let mut result = vec![];
            for (k, out) in outs.into_iter().enumerate() {
                if k < n_state {
                    let given = &seeds[k];
                    result.push(TensorFacts {
                        shape: out.shape.filter(|s| given.shape.as_ref() == Some(s)),
                        dtype: out.dtype,
                        value: None,
                    });
                    continue;
                }
                let axis = out_axes.get(k - n_state).copied().unwrap_or(0);
                let shape = match (out.shape, &length) {
                    (Some(mut s), Some(len)) => {
                        crate::ops::common::axis(axis, s.len() + 1).map(|a| {
                            s.insert(a, len.clone());
                            s
                        })
                    }
                    _ => None,
                };
                result.push(TensorFacts {
                    shape,
                    dtype: out.dtype,
                    value: None,
                });
            }
            Some(result)
        }
        _ => None,
    }
}

/// The first node of `g` or of its subgraphs (typed with the outer scope visible) that tract
/// must not see (`ops::tract_screen`), from `facts`.
pub fn tract_screen(g: &Graph, facts: &[TensorFacts], opset: i64) -> Option<String> {
    let here = crate::ops::tract_screen(g.nodes.iter().map(|n| {
        let inputs = n
            .inputs
            .iter()
            .map(|t| t.and_then(|t| facts.get(t)))
            .collect();
        (n, inputs)
    }));
    if here.is_some() {
        return here;
    }
    let dims = HashMap::new();
    g.nodes.iter().find_map(|n| {
        n.subgraphs.iter().find_map(|(_, sg)| {
            let seeds = seed_subgraph(sg, g, facts, &[], &dims);
            let info = infer_graph(sg, seeds, &HashMap::new(), opset, &dims);
            tract_screen(sg, &info.facts, opset)
        })
    })
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
    // (tensor, declared, inferred) where stored value_info disagrees with inference.
    let mut stale: Vec<(String, Shape, Shape)> = vec![];
    for &n in &g.order {
        let node = &g.nodes[n];
        let outs: Vec<_> = node.outputs.iter().flatten().copied().collect();
        let ins: Vec<Option<&TensorFacts>> =
            node.inputs.iter().map(|i| i.map(|i| &facts[i])).collect();
        let own = crate::ops::infer_shape(node, &ins, opset)
            .or_else(|| {
                if node.subgraphs.is_empty() {
                    None
                } else {
                    control_flow_facts(g, node, &facts, opset, dims)
                }
            })
            .unwrap_or_default();
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
                let theirs: Option<Shape> = tract
                    .get(&t.name)
                    .map(|s| s.iter().map(|d| d.bind(dims)).collect());
                // Tract's shape, unless the own rule's says more (tract can keep a symbol
                // from stale value_info that the forced inputs resolve).
                let (shape, by_tract) = match (theirs, mine.shape) {
                    (Some(a), Some(b)) if concrete_dims(&b) > concrete_dims(&a) => (Some(b), false),
                    (Some(a), _) => (Some(a), true),
                    (None, b) => (b, false),
                };
                let declared: Option<Shape> = t
                    .declared
                    .as_ref()
                    .map(|s| s.iter().map(|d| d.bind(dims)).collect());
                if !by_tract {
                    all_tract = false;
                    typed_all &= shape.is_some();
                }
                if let (Some(s), Some(d)) = (&shape, &declared) {
                    if conflicts(s, d) {
                        stale.push((t.name.clone(), d.clone(), s.clone()));
                    }
                }
                f.shape = shape.or(declared);
            }
        }
        if all_tract {
            from_tract += 1;
        }
    }
    let mut notes = vec![];
    if let Some((name, declared, inferred)) = stale.first() {
        let show = |s: &Shape| {
            let d: Vec<String> = s.iter().map(|d| d.to_string()).collect();
            format!("[{}]", d.join(", "))
        };
        notes.push(format!(
            "stored value_info disagrees with the inferred shapes of {} tensors (inferred used), e.g. '{name}': declared {}, inferred {}",
            stale.len(),
            show(declared),
            show(inferred)
        ));
    }
    ShapeInfo {
        facts,
        from_tract,
        typed_all,
        notes,
    }
}

/// Dims of a shape that are plain integers.
fn concrete_dims(s: &Shape) -> usize {
    s.iter().filter(|d| d.as_int().is_some()).count()
}

/// A declared shape that an inferred one contradicts: another rank, or a fixed size that
/// differs (a declared symbol the inference resolves is no conflict).
fn conflicts(inferred: &Shape, declared: &Shape) -> bool {
    inferred.len() != declared.len()
        || inferred
            .iter()
            .zip(declared)
            .any(|(a, b)| matches!((a.as_int(), b.as_int()), (Some(x), Some(y)) if x != y))
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
/// With `pinned`, the stored value_info and output shapes are left out (tract infers from the
/// inputs alone).
fn tract_facts(
    model: &Model,
    seeds: &[TensorFacts],
    pinned: bool,
) -> Result<HashMap<String, Shape>, String> {
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
    drop_trailing_empty_inputs(g.node.iter_mut().map(|n| (&n.op_type, &mut n.input)));
    if pinned {
        g.value_info.clear();
        for o in &mut g.output {
            if let Some(proto::type_proto::Value::TensorType(t)) =
                o.r#type.as_mut().and_then(|t| t.value.as_mut())
            {
                t.shape = None;
            }
        }
    }
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

/// Trailing optional inputs named "" mean the same as inputs left out (ONNX), but tract's
/// parsers count them and index past the ones they drop (a Conv whose bias is "" panics):
/// they are left out. Loop keeps its positional (trip count, condition) pair.
pub fn drop_trailing_empty_inputs<'a>(
    nodes: impl Iterator<Item = (&'a String, &'a mut Vec<String>)>,
) {
    for (op, inputs) in nodes {
        if op == "Loop" {
            continue;
        }
        while inputs.last().is_some_and(|i| i.is_empty()) {
            inputs.pop();
        }
    }
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
        // one line: a panic message can carry an error's whole backtrace
        let msg = msg.lines().next().unwrap_or_default().trim_end();
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
