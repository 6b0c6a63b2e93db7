//! The memory pass: weight bytes by element type, the peak of live activation memory over the
//! execution order, and each node's memory access (bytes read + bytes written) with its
//! arithmetic intensity (FLOPs per byte).
//!
//! **Liveness.** A tensor is allocated when its producer runs and freed after its last consumer
//! has run; graph inputs are live from the start until their last consumer; graph outputs stay
//! live to the end; stored tensors (initializers, Constant outputs) are weights, never
//! activations. While node *i* runs, its inputs and its outputs are live together (no in-place
//! reuse). A tensor read by a subgraph (a Loop body naming an outer tensor) lives until the node
//! owning the subgraph runs. The live bytes at each step are summed with a difference array; the
//! peak is the largest step. With unbound symbols the step is chosen by comparing the live sizes
//! with every symbol set to 1, and the peak is reported as the exact expression at that step.
//!
//! **Memory access.** Bytes read are the distinct tensors a node reads — activations and weights
//! alike, each once even when it fills two slots, plus the outer tensors its subgraphs read —
//! and bytes written are its outputs. Constant nodes move nothing. A tensor of unknown shape
//! counts 0 bytes (the number of such tensors is reported). Views such as Reshape and Flatten are
//! counted like any node: an upper bound where a runtime elides the copy.
//!
//! **Names.** In onnxscope "MACs" (`macs`) are multiply-accumulates; the memory quantity is
//! `mem_access_bytes` ("memory access" in tables).

use std::collections::BTreeMap;

use serde::Serialize;

use super::params;
use super::profile::CostTable;
use crate::error::{Error, Result};
use crate::model::graph::{Graph, TensorId, TensorKind};
use crate::model::proto::data_type as dt;
use crate::model::shapes::ShapeInfo;
use crate::model::Model;
use crate::sym::Count;

/// Bytes of `elems` elements of ONNX type `dtype` (unknown types count 4 bytes, sub-byte types
/// round the whole tensor up) — the rule of the profile's `activation_bytes`.
pub fn bytes_of(elems: &Count, dtype: i32) -> Count {
    let bits = match dt::bits(dtype) {
        0 => 32,
        b => b as i128,
    };
    if bits % 8 == 0 {
        elems * (bits / 8)
    } else {
        match elems.as_int() {
            Some(e) => Count::int((e * bits + 7) / 8),
            None => elems * 1,
        }
    }
}

/// ONNX element type of a report dtype name (`float32` → 1); 0 when unknown.
pub fn dtype_of_name(name: &str) -> i32 {
    (1..=22).find(|t| dt::name(*t) == name).unwrap_or(0)
}

/// Floating-point element types (trainable parameters, activations that change precision).
pub fn is_float(t: i32) -> bool {
    matches!(
        t,
        dt::FLOAT
            | dt::FLOAT16
            | dt::BFLOAT16
            | dt::DOUBLE
            | dt::FLOAT8E4M3FN
            | dt::FLOAT8E4M3FNUZ
            | dt::FLOAT8E5M2
            | dt::FLOAT8E5M2FNUZ
    )
}

/// A graph input as the memory report lists it.
#[derive(Clone, Debug, Serialize)]
pub struct InputMem {
    pub name: String,
    pub dtype: String,
    pub elements: Count,
    pub bytes: Count,
}

/// Memory access of the grouped convs against their dense equivalents (ShuffleNet V2's G2:
/// groups cut FLOPs by g but the activations still move, so bytes per FLOP rise).
#[derive(Clone, Debug, Default, Serialize)]
pub struct GroupedConvMem {
    pub count: u64,
    pub flops: Count,
    pub dense_flops: Count,
    pub mem_access_bytes: Count,
    pub dense_mem_access_bytes: Count,
    /// mem_access_bytes / flops (symbols at 1).
    pub bytes_per_flop: Option<f64>,
    /// dense_mem_access_bytes / dense_flops.
    pub dense_bytes_per_flop: Option<f64>,
}

/// The model-level memory figures (JSON `memory`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct MemoryReport {
    /// Stored parameter bytes (the tensors counted as parameters; sums to `totals.param_bytes`).
    pub weight_bytes: Count,
    pub weight_bytes_by_dtype: BTreeMap<String, Count>,
    pub params_by_dtype: BTreeMap<String, Count>,
    pub inputs: Vec<InputMem>,
    pub input_bytes: Count,
    pub output_bytes: Count,
    /// The largest live activation memory over the execution order.
    pub peak_activation_bytes: Count,
    /// The node running when the peak is reached (null for a graph without nodes).
    pub peak_node: Option<String>,
    /// Its index in `nodes`.
    pub peak_step: Option<usize>,
    /// The tensors live at the peak.
    pub peak_live_tensors: Vec<String>,
    /// weight_bytes + peak_activation_bytes: what a runtime needs without in-place reuse.
    pub inference_bytes: Count,
    /// Σ per-node memory access.
    pub mem_access_bytes: Count,
    /// mem_access_bytes / flops (symbols at 1): the inverse of the arithmetic intensity.
    pub bytes_per_flop: Option<f64>,
    pub grouped_conv: GroupedConvMem,
    /// Tensors whose shape is unknown (counted as 0 bytes).
    pub unsized_tensors: u64,
    /// Unbound symbols set to 1 to choose the peak step and compute ratios.
    pub symbols_at_one: Vec<String>,
}

/// f64 ratio of two counts with symbols at 1; None when the denominator is 0.
pub fn ratio(num: &Count, den: &Count) -> Option<f64> {
    let d = den.approx();
    if d == 0.0 {
        None
    } else {
        // `+ 0.0` turns the −0.0 of an empty sum into 0.0
        Some(num.approx() / d + 0.0)
    }
}

/// Stored parameter tensors by dtype (the parameter rule of `params`, subgraphs included).
fn weights_by_dtype(
    g: &Graph,
    bytes: &mut BTreeMap<String, Count>,
    elems: &mut BTreeMap<String, Count>,
) {
    let control = params::control_only(g);
    for (id, t) in g.tensors.iter().enumerate() {
        let Some(stored) = &t.stored else { continue };
        if !params::is_parameter(g, &control, id) {
            continue;
        }
        let n = t.stored_elements().unwrap_or(0) as i128;
        let bits = dt::bits(stored.data_type) as i128;
        let k = dt::name(stored.data_type).to_string();
        let b = bytes.entry(k.clone()).or_default();
        *b = &*b + &Count::int((n * bits + 7) / 8);
        let e = elems.entry(k).or_default();
        *e = &*e + &Count::int(params::elements(g, id));
    }
    for n in &g.nodes {
        for (_, sg) in &n.subgraphs {
            weights_by_dtype(sg, bytes, elems);
        }
    }
}

/// One node's row of the memory table.
#[derive(Clone, Debug, Default)]
pub struct NodeMemory {
    /// Bytes read (distinct inputs, weights included) + bytes written (outputs).
    pub mem_access_bytes: Count,
    /// Memory access of the dense equivalent (grouped convs, else None).
    pub dense_mem_access_bytes: Option<Count>,
    /// FLOPs per byte of memory access (symbols at 1); None when no byte moves.
    pub intensity: Option<f64>,
    /// Activation bytes live while this node runs.
    pub live_bytes: Count,
}

/// The memory pass's table: a row per node in execution order, and the model-level figures.
#[derive(Clone, Debug, Default)]
pub struct MemoryTable {
    pub nodes: Vec<NodeMemory>,
    pub report: MemoryReport,
}

/// Runs the pass over the main graph, given its cost table (`cost.nodes[k]` is `g.order[k]`):
/// each node's memory access, intensity and live bytes, and the model-level figures.
pub fn analyse(
    model: &Model,
    g: &Graph,
    info: &ShapeInfo,
    cost: &CostTable,
) -> Result<MemoryTable> {
    let mut nodes = vec![NodeMemory::default(); g.order.len()];
    let steps = g.order.len();
    let mut pos = vec![0usize; g.nodes.len()];
    for (i, n) in g.order.iter().enumerate() {
        pos[*n] = i;
    }
    let mut n_unsized = 0u64;
    let mut size: Vec<Option<Count>> = vec![None; g.tensors.len()];
    let mut size_of = |t: TensorId| -> Count {
        if let Some(c) = &size[t] {
            return c.clone();
        }
        let f = &info.facts[t];
        let c = match &f.shape {
            Some(s) => bytes_of(&Count::product(s), f.dtype),
            None => {
                n_unsized += 1;
                Count::zero()
            }
        };
        size[t] = Some(c.clone());
        c
    };
    // Liveness intervals with a difference array over the steps.
    let mut delta: Vec<Count> = vec![Count::zero(); steps + 1];
    let mut interval: Vec<Option<(usize, usize)>> = vec![None; g.tensors.len()];
    let mut last_use: Vec<Option<usize>> = vec![None; g.tensors.len()];
    // Consumers include the nodes whose subgraphs read the tensor (`implicit_inputs`).
    for (t, tensor) in g.tensors.iter().enumerate() {
        for (n, _) in &tensor.consumers {
            let p = pos[*n];
            last_use[t] = Some(last_use[t].map_or(p, |q: usize| q.max(p)));
        }
    }
    let mut input_bytes = Count::zero();
    let mut output_bytes = Count::zero();
    let mut inputs = vec![];
    for (t, tensor) in g.tensors.iter().enumerate() {
        if tensor.stored.is_some() || steps == 0 {
            continue;
        }
        let start = match (&tensor.kind, tensor.producer) {
            (TensorKind::Input, _) => 0,
            (TensorKind::Activation, Some(p)) => pos[p],
            _ => continue,
        };
        let end = if tensor.is_graph_output {
            steps - 1
        } else {
            last_use[t].unwrap_or(start).max(start)
        };
        let b = size_of(t);
        if tensor.kind == TensorKind::Input {
            input_bytes = &input_bytes + &b;
        }
        if tensor.is_graph_output {
            output_bytes = &output_bytes + &b;
        }
        delta[start] = &delta[start] + &b;
        delta[end + 1] = &delta[end + 1] - &b;
        interval[t] = Some((start, end));
    }
    for &t in &g.inputs {
        let f = &info.facts[t];
        let elements = f.shape.as_ref().map(Count::product).unwrap_or_default();
        inputs.push(InputMem {
            name: g.tensors[t].name.clone(),
            dtype: dt::name(f.dtype).to_string(),
            bytes: bytes_of(&elements, f.dtype),
            elements,
        });
        if steps == 0 {
            input_bytes = &input_bytes + &size_of(t);
        }
    }
    let mut live = Count::zero();
    let mut peak: Option<(usize, Count)> = None;
    for (i, &id) in g.order.iter().enumerate() {
        live = &live + &delta[i];
        if live.overflowed() {
            return Err(Error::Overflow {
                at: Box::new(g.location(&model.path, id)),
                what: "live activation bytes".into(),
            });
        }
        nodes[i].live_bytes = live.clone();
        if peak
            .as_ref()
            .is_none_or(|(_, p)| live.approx() > p.approx())
        {
            peak = Some((i, live.clone()));
        }
    }

    // Memory access per node.
    let mut total_access = Count::zero();
    let mut gc = GroupedConvMem::default();
    for (i, &id) in g.order.iter().enumerate() {
        let node = &g.nodes[id];
        let (access, weight) = if node.op_type == crate::ops::shape_ops::CONSTANT {
            (Count::zero(), Count::zero())
        } else {
            let mut read: Vec<TensorId> = node.inputs.iter().flatten().copied().collect();
            read.extend(node.implicit_inputs.iter().copied());
            read.sort_unstable();
            read.dedup();
            let mut a = Count::sum(&read.iter().map(|t| size_of(*t)).collect::<Vec<_>>());
            for o in node.outputs.iter().flatten() {
                a = &a + &size_of(*o);
            }
            let w = node
                .inputs
                .get(1)
                .copied()
                .flatten()
                .map(&mut size_of)
                .unwrap_or_default();
            (a, w)
        };
        if access.overflowed() {
            return Err(Error::Overflow {
                at: Box::new(g.location(&model.path, id)),
                what: "memory access bytes".into(),
            });
        }
        let c = &cost.nodes[i];
        let r = &mut nodes[i];
        r.intensity = ratio(&c.flops, &access);
        if let (Some(d), Some(gr)) = (&c.dense, c.group) {
            // The dense equivalent reads g times the weight; inputs and outputs are the same.
            let dense = &access + &(&weight * (gr.max(1) as i128 - 1));
            gc.count += 1;
            gc.flops = &gc.flops + &c.flops;
            gc.dense_flops = &gc.dense_flops + &d.flops;
            gc.mem_access_bytes = &gc.mem_access_bytes + &access;
            gc.dense_mem_access_bytes = &gc.dense_mem_access_bytes + &dense;
            r.dense_mem_access_bytes = Some(dense);
        }
        total_access = &total_access + &access;
        r.mem_access_bytes = access;
    }
    gc.bytes_per_flop = ratio(&gc.mem_access_bytes, &gc.flops);
    gc.dense_bytes_per_flop = ratio(&gc.dense_mem_access_bytes, &gc.dense_flops);

    let mut weight_bytes_by_dtype = BTreeMap::new();
    let mut params_by_dtype = BTreeMap::new();
    weights_by_dtype(g, &mut weight_bytes_by_dtype, &mut params_by_dtype);
    let weight_bytes = Count::sum(weight_bytes_by_dtype.values());
    let flops = Count::sum(cost.nodes.iter().map(|n| &n.flops));
    let (peak_step, peak_bytes) = match peak {
        Some((s, b)) => (Some(s), b),
        None => (None, input_bytes.clone()),
    };
    let peak_live_tensors = match peak_step {
        Some(s) => interval
            .iter()
            .enumerate()
            .filter(|(_, iv)| iv.is_some_and(|(a, b)| a <= s && s <= b))
            .map(|(t, _)| g.tensors[t].name.clone())
            .collect(),
        None => vec![],
    };
    let mut symbols: Vec<String> = peak_bytes
        .symbols()
        .into_iter()
        .chain(total_access.symbols())
        .chain(flops.symbols())
        .collect();
    symbols.sort();
    symbols.dedup();
    let report = MemoryReport {
        inference_bytes: &weight_bytes + &peak_bytes,
        weight_bytes,
        weight_bytes_by_dtype,
        params_by_dtype,
        inputs,
        input_bytes,
        output_bytes,
        peak_activation_bytes: peak_bytes,
        peak_node: peak_step.map(|s| g.nodes[g.order[s]].name.clone()),
        peak_step,
        peak_live_tensors,
        bytes_per_flop: ratio(&total_access, &flops),
        mem_access_bytes: total_access,
        grouped_conv: gc,
        unsized_tensors: n_unsized,
        symbols_at_one: symbols,
    };
    Ok(MemoryTable { nodes, report })
}
