//! Executing with tract: ONNX → typed → optimized → runnable plan; one run for the outputs;
//! timed runs for `--profile`, each node of the optimized plan timed through
//! `SimpleState::run_plan_with_eval` (the hook tract's own profiler uses); and the mapping of
//! optimized nodes back to ONNX nodes.
//!
//! # Mapping optimized nodes to ONNX nodes
//!
//! tract-onnx names each node after its ONNX node (after its first output when the ONNX node is
//! unnamed), and every node it derives while decluttering and optimizing takes the name of the
//! node it came from plus a suffix: `/conv1/Conv` becomes `/conv1/Conv.pad`,
//! `/conv1/Conv.lazyIm2col`, `/conv1/Conv.matmatmul`. An optimized node is attributed to the ONNX
//! node whose tract name is the longest prefix of its name. Nodes that match none (the model's
//! sources, nodes tract synthesises from scratch) are reported as unmatched.
//!
//! When tract fuses several ONNX nodes into one kernel, the fused node keeps the name of one of
//! them, usually the last: a Conv + BatchNormalization + Add + Relu chain runs as one
//! `OptMatMul` named `…/Relu.low.prefused`, so its time lands on the Relu while the FLOPs sit on
//! the Conv. The per-node report lists each ONNX node's tract ops so that this shows.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::{SimplePlan, SimpleState};

use super::inputs::Prepared;
use crate::error::{Error, Result};
use crate::model::shapes::guard;
use crate::model::Model;

pub type Plan = Arc<TypedSimplePlan>;

fn run_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::Run {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// Runs `f` with panics turned into errors naming `path`.
fn guarded<T>(path: &Path, f: impl FnOnce() -> TractResult<T>) -> Result<T> {
    match guard(f) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(run_err(path, format!("{e:#}"))),
        Err(panic) => Err(run_err(path, panic)),
    }
}

/// The symbol names (`dim_param`) of each axis of an input as declared, when plain identifiers.
fn declared_symbols(model: &Model, input: &str) -> Vec<Option<String>> {
    use crate::model::proto::tensor_shape_proto::dimension::Value as DV;
    use crate::model::proto::type_proto::Value as TV;
    let Some(vi) = model
        .header
        .graph
        .as_ref()
        .and_then(|g| g.input.iter().find(|i| i.name == input))
    else {
        return vec![];
    };
    let Some(TV::TensorType(t)) = vi.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return vec![];
    };
    let Some(shape) = &t.shape else {
        return vec![];
    };
    shape
        .dim
        .iter()
        .map(|d| match &d.value {
            Some(DV::DimParam(p))
                if !p.is_empty()
                    && !p.starts_with(|c: char| c.is_ascii_digit())
                    && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                Some(p.clone())
            }
            _ => None,
        })
        .collect()
}

/// Loads `path` with tract (external data beside it), fixes the input facts to the prepared
/// tensors, and optimizes it into a runnable plan.
///
/// An axis the model declares with a symbol (`N`) stays symbolic in the input fact, and the
/// symbol is then bound to the tensor's size across the typed model: fixing the input to a
/// number directly would contradict the symbolic shapes that `value_info` may declare for
/// intermediate tensors.
pub fn build(
    path: &Path,
    model: &Model,
    inputs: &[Prepared],
    int4: crate::runtime::lower::Int4,
) -> Result<Plan> {
    // A node outside what its op is defined for can abort the process inside tract (no
    // unwinding to catch): screened on the own rules' shapes at the inputs' actual sizes.
    let shapes = crate::model::shapes::ShapeOptions {
        inputs: inputs
            .iter()
            .map(|p| {
                (
                    p.name.clone(),
                    p.tensor.shape().iter().map(|&d| d as i64).collect(),
                )
            })
            .collect(),
        ..Default::default()
    };
    let own = crate::model::shapes::infer(model, &shapes);
    if let Some(why) = crate::model::shapes::tract_screen(&model.graph, &own.facts, model.opset()) {
        return Err(run_err(path, why));
    }
    // Stored `value_info` that contradicts the inputs' sizes (stale symbolic dims of an export)
    // must not decide: on failure the graph is read again with the inputs fixed to numbers and
    // `value_info` ignored; if that fails too, the first error is the one reported.
    plan(path, model, inputs, int4, false)
        .or_else(|first| plan(path, model, inputs, int4, true).map_err(|_| first))
}

fn plan(
    path: &Path,
    model: &Model,
    inputs: &[Prepared],
    int4: crate::runtime::lower::Int4,
    concrete: bool,
) -> Result<Plan> {
    guarded(path, || {
        let (mut m, lowered) = crate::runtime::lower::tract_model_for_path(path, int4, concrete)?;
        let sources: Vec<String> = m
            .input_outlets()?
            .iter()
            .map(|o| m.node(o.node).name.clone())
            .collect();
        if sources.len() != inputs.len() {
            anyhow::bail!(
                "tract sees {} inputs ({}), onnxscope {}",
                sources.len(),
                sources.join(", "),
                inputs.len()
            );
        }
        let mut subs: HashMap<Symbol, TDim> = HashMap::new();
        for (ix, name) in sources.iter().enumerate() {
            let p = inputs
                .iter()
                .find(|p| p.name == *name)
                .ok_or_else(|| anyhow::anyhow!("no data for tract's input '{name}'"))?;
            let actual = p.tensor.shape();
            let mut syms = declared_symbols(model, name);
            if syms.len() != actual.len() || lowered.concrete_dims {
                syms = vec![None; actual.len()];
            }
            let dims: TVec<TDim> = actual
                .iter()
                .zip(syms)
                .map(|(&a, sym)| match sym {
                    Some(s) => {
                        let s = m.sym(&s);
                        subs.insert(s.clone(), TDim::Val(a as i64));
                        TDim::Sym(s)
                    }
                    None => TDim::Val(a as i64),
                })
                .collect();
            m.set_input_fact(ix, InferenceFact::dt_shape(p.tensor.datum_type(), dims))?;
        }
        let mut typed = m.into_typed()?;
        if !subs.is_empty() {
            typed = typed.set_symbols(&subs)?;
        }
        let optimized = typed.into_optimized()?;
        SimplePlan::new(optimized)
    })
}

/// The inputs in the plan's order.
fn ordered(plan: &Plan, inputs: &[Prepared]) -> TractResult<TVec<TValue>> {
    let m = plan.model();
    m.input_outlets()?
        .iter()
        .map(|o| {
            let name = &m.node(o.node).name;
            inputs
                .iter()
                .find(|p| p.name == *name)
                .map(|p| p.tensor.clone().into_tvalue())
                .ok_or_else(|| anyhow::anyhow!("no data for input '{name}'"))
        })
        .collect()
}

/// One run: the outputs, in the model's output order, and the wall time in ms.
pub fn run(path: &Path, plan: &Plan, inputs: &[Prepared]) -> Result<(Vec<Tensor>, f64)> {
    guarded(path, || {
        let values = ordered(plan, inputs)?;
        let t = Instant::now();
        let out = plan.run(values)?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        Ok((out.into_iter().map(|v| v.into_tensor()).collect(), ms))
    })
}

/// Wall times (ms) of `repeat` further runs.
pub fn wall_times(
    path: &Path,
    plan: &Plan,
    inputs: &[Prepared],
    repeat: usize,
) -> Result<Vec<f64>> {
    guarded(path, || {
        let values = ordered(plan, inputs)?;
        let mut state = SimpleState::new(plan)?;
        let mut times = Vec::with_capacity(repeat);
        for _ in 0..repeat {
            let t = Instant::now();
            state.run(values.clone())?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        Ok(times)
    })
}

/// A node of the optimized plan and its time in each profiled run.
#[derive(Clone, Debug)]
pub struct NodeTimes {
    pub name: String,
    /// tract's op name (`OptMatMul`, `Pad`, …).
    pub op: String,
    pub ms: Vec<f64>,
}

/// What the profiled runs measured.
#[derive(Clone, Debug)]
pub struct PlanTimes {
    /// Wall time of each run, ms.
    pub total: Vec<f64>,
    /// Every evaluated node of the plan, in execution order.
    pub nodes: Vec<NodeTimes>,
}

/// `repeat` runs (after one warm-up) with every node of the plan timed.
pub fn profile(path: &Path, plan: &Plan, inputs: &[Prepared], repeat: usize) -> Result<PlanTimes> {
    guarded(path, || {
        let values = ordered(plan, inputs)?;
        let model = plan.model();
        let order = plan.order_without_consts().to_vec();
        let mut per_run: Vec<Vec<f64>> = Vec::with_capacity(repeat);
        let mut total = Vec::with_capacity(repeat);
        let mut state = SimpleState::new(plan)?;
        state.run(values.clone())?;
        for _ in 0..repeat {
            let mut times = vec![0f64; model.nodes().len()];
            let t = Instant::now();
            state.run_plan_with_eval(values.clone(), |ctx, op_state, node, input| {
                let start = Instant::now();
                let r = tract_onnx::tract_core::plan::eval(ctx, op_state, node, input);
                times[node.id] += start.elapsed().as_secs_f64() * 1e3;
                r
            })?;
            total.push(t.elapsed().as_secs_f64() * 1e3);
            per_run.push(times);
        }
        let nodes = order
            .iter()
            .map(|&id| {
                let n = model.node(id);
                NodeTimes {
                    name: n.name.clone(),
                    op: n.op().name().to_string(),
                    ms: per_run.iter().map(|r| r[id]).collect(),
                }
            })
            .collect();
        Ok(PlanTimes { total, nodes })
    })
}

/// ONNX node names as tract-onnx spells them, for the longest-prefix attribution.
pub struct OnnxNames {
    /// tract's name of an ONNX node → the node's index in the graph.
    by_tract_name: HashMap<String, usize>,
}

impl OnnxNames {
    pub fn new(model: &Model) -> Self {
        let mut by_tract_name = HashMap::new();
        let Some(g) = model.decode_proto().ok().and_then(|p| p.graph) else {
            return OnnxNames { by_tract_name };
        };
        for (i, n) in g.node.iter().enumerate() {
            // tract-onnx: the node's name, else its first output's (else a counter-based name
            // that cannot be predicted here: such nodes stay unmatched)
            let tract_name = if !n.name.is_empty() {
                n.name.clone()
            } else if n.output.first().is_some_and(|o| !o.is_empty()) {
                n.output[0].clone()
            } else {
                continue;
            };
            by_tract_name.entry(tract_name).or_insert(i);
        }
        OnnxNames { by_tract_name }
    }

    /// The ONNX node (graph index) whose tract name is the longest prefix of `name`.
    pub fn attribute(&self, name: &str) -> Option<usize> {
        let ends = name
            .char_indices()
            .map(|(i, _)| i)
            .skip(1)
            .chain(std::iter::once(name.len()));
        let ends: Vec<usize> = ends.collect();
        ends.iter()
            .rev()
            .find_map(|&e| self.by_tract_name.get(&name[..e]).copied())
    }
}

/// The median of `v` (the mean of the middle two for an even count); 0 for none.
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn longest_prefix_wins() {
        let names = OnnxNames {
            by_tract_name: [
                ("conv1", 0),
                ("conv10", 1),
                ("/a/Conv", 2),
                ("/a/Conv_1", 3),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        };
        assert_eq!(names.attribute("conv1.pad"), Some(0));
        assert_eq!(names.attribute("conv10.matmatmul"), Some(1));
        assert_eq!(names.attribute("conv1"), Some(0));
        assert_eq!(names.attribute("/a/Conv_1.low"), Some(3));
        assert_eq!(names.attribute("/a/Conv.matmatmul"), Some(2));
        assert_eq!(names.attribute("input"), None);
        assert_eq!(names.attribute(""), None);
    }
}
