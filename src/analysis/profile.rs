//! The cost pass: per-node FLOPs, MACs, activation bytes and grouped-conv savings, keyed by
//! position in the execution order (`CostTable::nodes[k]` is `g.order[k]`); subgraphs costed
//! (Loop/Scan bodies × iteration count, If: the larger branch). Every count is exact (checked)
//! or symbolic. `profile_model` runs the passes (shapes, costs, parameters, memory) and hands
//! their tables to `report::join`, which builds the `Profile`.

use std::collections::HashMap;
use std::path::Path;

use super::params;
use super::report::{self, Unknown};
use crate::error::{Error, Result};
use crate::model::attr::Attrs;
use crate::model::graph::{sanitize_symbol, Graph};
use crate::model::shapes::{self, ShapeInfo, ShapeOptions, TensorFacts};
use crate::model::{Model, Shape};
use crate::ops::{self, CostCtx, Dense, OpCost};
use crate::sym::Count;

pub use super::report::{GroupedConv, ModelInfo, NodeReport, Profile, Rollup, TensorRef, Totals};

#[derive(Clone, Debug, Default)]
pub struct ProfileOptions {
    pub shapes: ShapeOptions,
    /// Unknown ops and uncostable nodes become errors.
    pub strict: bool,
}

/// One node's row of the cost table.
#[derive(Clone, Debug)]
pub struct NodeCost {
    pub flops: Count,
    pub macs: Count,
    /// Bytes of the node's outputs (0 for a Constant).
    pub activation_bytes: Count,
    pub group: Option<i64>,
    /// A grouped conv's dense equivalent (FLOPs, weight params) and its own weight elements.
    pub dense: Option<Dense>,
    pub stage: String,
    /// False when the node could not be costed (it is listed in `unknown`).
    pub costed: bool,
    pub note: Option<String>,
}

/// The cost pass's table over one graph: a row per node in execution order.
#[derive(Clone, Debug, Default)]
pub struct CostTable {
    pub nodes: Vec<NodeCost>,
    /// Nodes without a cost (subgraph nodes named with their path), in execution order.
    pub unknown: Vec<Unknown>,
    pub flops: Count,
    pub macs: Count,
}

/// Loads and profiles a file.
pub fn profile(path: &Path, opts: &ProfileOptions) -> Result<Profile> {
    let model = crate::model::load(path)?;
    profile_model(&model, opts)
}

/// Costs one node with its rule, or a control-flow node through its subgraphs.
fn cost_node(
    model: &Model,
    g: &Graph,
    id: usize,
    info: &ShapeInfo,
    opts: &ProfileOptions,
    path_prefix: &str,
) -> Result<(std::result::Result<OpCost, String>, Vec<Unknown>)> {
    let node = &g.nodes[id];
    let attrs = Attrs::new(&node.attributes, g.location(&model.path, id));
    let facts = |t: &Option<usize>| t.map(|t| &info.facts[t]);
    let ctx = CostCtx {
        node,
        attrs,
        inputs: node.inputs.iter().map(facts).collect(),
        outputs: node.outputs.iter().map(facts).collect(),
        opset: model.opset(),
    };
    let domain_ok = node.domain.is_empty() || node.domain == "ai.onnx";
    if domain_ok && ops::CONTROL_FLOW.contains(&node.op_type.as_str()) {
        return control_flow(model, g, id, info, opts, path_prefix, &ctx);
    }
    match ops::cost(&ctx) {
        Some(cost) => Ok((cost?, vec![])),
        None => {
            if opts.strict {
                return Err(Error::UnknownOp {
                    at: Box::new(g.location(&model.path, id)),
                    op_type: node.op_type.clone(),
                    domain: node.domain.clone(),
                });
            }
            let d = if node.domain.is_empty() {
                "ai.onnx"
            } else {
                &node.domain
            };
            Ok((
                Err(format!("no cost rule for {} (domain {d})", node.op_type)),
                vec![],
            ))
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn control_flow(
    model: &Model,
    g: &Graph,
    id: usize,
    info: &ShapeInfo,
    opts: &ProfileOptions,
    prefix: &str,
    ctx: &CostCtx,
) -> Result<(std::result::Result<OpCost, String>, Vec<Unknown>)> {
    let node = &g.nodes[id];
    let here = format!("{prefix}{}/", node.name);
    let run = |sg: &Graph, seeds: &[TensorFacts], sub: &str| -> Result<CostTable> {
        let facts = shapes::seed_subgraph(sg, g, &info.facts, seeds, &opts.shapes.dims);
        let sinfo =
            shapes::infer_graph(sg, facts, &HashMap::new(), model.opset(), &opts.shapes.dims);
        costs(model, sg, &sinfo, opts, &format!("{here}{sub}/"))
    };
    let fact = |i: usize| {
        ctx.inputs
            .get(i)
            .copied()
            .flatten()
            .cloned()
            .unwrap_or_default()
    };
    match node.op_type.as_str() {
        ops::control_flow::IF => {
            let mut branches = vec![];
            for (name, sg) in &node.subgraphs {
                branches.push((name.clone(), run(sg, &[], name)?));
            }
            if branches.len() != 2 {
                return Ok((Err("If without two branches".into()), vec![]));
            }
            let mut unknown = vec![];
            for (_, b) in &branches {
                unknown.extend(b.unknown.iter().cloned());
            }
            let (a, b) = (&branches[0], &branches[1]);
            let pick = if a.1.flops.approx() >= b.1.flops.approx() {
                a
            } else {
                b
            };
            let branch = |(name, c): &(String, CostTable)| match c.unknown.len() {
                0 => format!("{name} {} FLOPs", c.flops),
                k => format!("{name} {} FLOPs + {k} uncostable nodes", c.flops),
            };
            let note = format!(
                "If: {}, {}; the larger ({}) is counted",
                branch(a),
                branch(b),
                pick.0
            );
            Ok((
                Ok(OpCost {
                    flops: pick.1.flops.clone(),
                    macs: pick.1.macs.clone(),
                    note: Some(note),
                    ..Default::default()
                }),
                unknown,
            ))
        }
        ops::control_flow::LOOP => {
            let Some((_, body)) = node.subgraphs.iter().find(|(n, _)| n == "body") else {
                return Ok((Err("Loop without body".into()), vec![]));
            };
            let trip = fact(0)
                .value
                .and_then(|v| v.ints().and_then(|x| x.first().cloned()))
                .filter(|c| c.as_int().is_none_or(|v| v < i64::MAX as i128))
                .unwrap_or_else(|| Count::sym(&format!("trips_{}", sanitize_symbol(&node.name))));
            let mut seeds = crate::model::shapes::TensorFacts::loop_iteration();
            for i in 2..node.inputs.len() {
                seeds.push(fact(i));
            }
            Ok(repeated(
                ops::control_flow::LOOP,
                run(body, &seeds, "body")?,
                &trip,
            ))
        }
        ops::control_flow::SCAN => {
            let Some((_, body)) = node.subgraphs.iter().find(|(n, _)| n == "body") else {
                return Ok((Err("Scan without body".into()), vec![]));
            };
            let n_scan = ctx.attrs.int("num_scan_inputs")?.unwrap_or(0).max(0) as usize;
            let n_state = node.inputs.len().saturating_sub(n_scan);
            let axes = ctx.attrs.ints("scan_input_axes")?.map(|a| a.to_vec());
            let mut seeds: Vec<TensorFacts> = (0..n_state).map(fact).collect();
            let mut length = None;
            for k in 0..n_scan {
                let mut f = fact(n_state + k);
                let ax = axes.as_ref().and_then(|a| a.get(k).copied()).unwrap_or(0);
                if let Some(s) = f.shape.as_mut() {
                    let r = s.len() as i64;
                    let a = if ax < 0 { ax + r } else { ax };
                    if (0..r).contains(&a) {
                        length.get_or_insert_with(|| s[a as usize].clone());
                        s.remove(a as usize);
                    }
                }
                seeds.push(f);
            }
            let len = length
                .unwrap_or_else(|| Count::sym(&format!("scan_{}", sanitize_symbol(&node.name))));
            Ok(repeated(
                ops::control_flow::SCAN,
                run(body, &seeds, "body")?,
                &len,
            ))
        }
        _ => unreachable!("CONTROL_FLOW lists If, Loop, Scan"),
    }
}

/// A body's cost repeated `times` times (Loop, Scan), with a note saying so.
fn repeated(
    op: &str,
    body: CostTable,
    times: &Count,
) -> (std::result::Result<OpCost, String>, Vec<Unknown>) {
    let cost = OpCost {
        flops: &body.flops * times,
        macs: &body.macs * times,
        note: Some(format!(
            "{op}: body {} FLOPs × {times} iterations",
            body.flops
        )),
        ..Default::default()
    };
    (Ok(cost), body.unknown)
}

/// Runs the cost pass over a graph whose shapes are known; `prefix` names subgraph nodes.
pub fn costs(
    model: &Model,
    g: &Graph,
    info: &ShapeInfo,
    opts: &ProfileOptions,
    prefix: &str,
) -> Result<CostTable> {
    let mut out = CostTable {
        nodes: Vec::with_capacity(g.nodes.len()),
        ..Default::default()
    };
    let structured = g.nodes.iter().filter(|n| n.name.contains('/')).count() * 2 >= g.nodes.len();
    for &id in &g.order {
        let node = &g.nodes[id];
        let (cost, inner_unknown) = cost_node(model, g, id, info, opts, prefix)?;
        out.unknown.extend(inner_unknown);
        let (cost, costed) = match cost {
            Ok(c) => (c, true),
            Err(reason) => {
                out.unknown.push(Unknown {
                    name: format!("{prefix}{}", node.name),
                    op_type: node.op_type.clone(),
                    reason,
                });
                (OpCost::zero(), false)
            }
        };
        for (what, c) in [("FLOPs", &cost.flops), ("MACs", &cost.macs)] {
            if c.overflowed() {
                return Err(Error::Overflow {
                    at: Box::new(g.location(&model.path, id)),
                    what: what.into(),
                });
            }
        }
        out.flops = &out.flops + &cost.flops;
        out.macs = &out.macs + &cost.macs;
        let mut activation_bytes = Count::zero();
        if node.op_type != ops::shape_ops::CONSTANT {
            for t in node.outputs.iter().flatten() {
                let f = &info.facts[*t];
                if let Some(s) = &f.shape {
                    let b = super::memory::bytes_of(&Count::product(s), f.dtype);
                    activation_bytes = &activation_bytes + &b;
                }
            }
        }
        if activation_bytes.overflowed() {
            return Err(Error::Overflow {
                at: Box::new(g.location(&model.path, id)),
                what: "activation bytes".into(),
            });
        }
        let out_shape = node
            .outputs
            .first()
            .copied()
            .flatten()
            .and_then(|t| info.facts[t].shape.as_ref());
        out.nodes.push(NodeCost {
            flops: cost.flops,
            macs: cost.macs,
            activation_bytes,
            group: cost.group,
            dense: cost.dense,
            stage: stage_of(&node.name, out_shape, structured),
            costed,
            note: cost.note,
        });
    }
    Ok(out)
}

/// Stage of a node: the first component of a structured name (`/layer1/layer1.0/conv1/Conv` →
/// `layer1`), else the output's spatial resolution (`56x56`), else `-`.
pub fn stage_of(name: &str, out: Option<&Shape>, structured: bool) -> String {
    if structured {
        let first = name.split('/').find(|s| !s.is_empty()).unwrap_or(name);
        let first = first.split('.').next().unwrap_or(first);
        // a bare op name at top level (`/Flatten`) is its own stage
        return first.to_string();
    }
    match out {
        Some(s) if s.len() >= 3 => s[2..]
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("x"),
        _ => "-".into(),
    }
}

/// Profiles a loaded model: shapes, then the cost, parameter and memory passes, joined.
pub fn profile_model(model: &Model, opts: &ProfileOptions) -> Result<Profile> {
    for name in opts.shapes.inputs.keys() {
        if !model
            .graph
            .inputs
            .iter()
            .any(|i| model.graph.tensors[*i].name == *name)
        {
            let names: Vec<&str> = model
                .graph
                .inputs
                .iter()
                .map(|i| model.graph.tensors[*i].name.as_str())
                .collect();
            return Err(Error::usage(
                "--input",
                format!(
                    "the model has no input '{name}' (inputs: {})",
                    names.join(", ")
                ),
            ));
        }
    }
    // `--input` pins the symbols its inputs declare: bound everywhere and reported in `dims`.
    let bound = ProfileOptions {
        shapes: opts.shapes.with_input_bindings(&model.graph),
        ..opts.clone()
    };
    let opts = &bound;
    let info = shapes::infer(model, &opts.shapes);
    let g = &model.graph;
    let cost = costs(model, g, &info, opts, "")?;
    if opts.strict {
        if let Some(u) = cost.unknown.first() {
            return Err(Error::invalid(
                crate::error::Location {
                    file: model.path.clone(),
                    node: Some(u.name.clone()),
                    op_type: Some(u.op_type.clone()),
                    attribute: None,
                },
                format!("cannot be costed: {} (--strict)", u.reason),
            ));
        }
    }
    let params = params::attribute(g);
    let memory = super::memory::analyse(model, g, &info, &cost)?;
    Ok(report::join(
        model,
        &opts.shapes,
        &info,
        report::Tables {
            cost,
            params,
            memory,
        },
    ))
}
