//! The profile pass: shapes → per-node FLOPs, MACs, params, activation bytes and grouped-conv
//! savings; subgraphs costed (Loop/Scan bodies × iteration count, If: the larger branch);
//! rollups by op type and stage; totals. Every count is exact (checked) or symbolic.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Serialize;

use super::params;
use crate::error::{Error, Result};
use crate::model::attr::Attrs;
use crate::model::graph::{sanitize_symbol, Graph, TensorKind};
use crate::model::proto::data_type as dt;
use crate::model::shapes::{self, ShapeInfo, ShapeOptions, TensorFacts};
use crate::model::{Model, Shape};
use crate::ops::{self, CostCtx, OpCost};
use crate::sym::Count;

#[derive(Clone, Debug, Default)]
pub struct ProfileOptions {
    pub shapes: ShapeOptions,
    /// Unknown ops and uncostable nodes become errors.
    pub strict: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct TensorRef {
    pub name: String,
    #[serde(serialize_with = "ser_shape")]
    pub shape: Option<Shape>,
    pub dtype: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct NodeReport {
    pub name: String,
    pub op_type: String,
    pub domain: String,
    pub inputs: Vec<TensorRef>,
    pub outputs: Vec<TensorRef>,
    #[serde(serialize_with = "ser_count")]
    pub flops: Count,
    #[serde(serialize_with = "ser_count")]
    pub macs: Count,
    #[serde(serialize_with = "ser_count")]
    pub params: Count,
    #[serde(serialize_with = "ser_count")]
    pub param_bytes: Count,
    #[serde(serialize_with = "ser_count")]
    pub activation_bytes: Count,
    pub group: Option<i64>,
    #[serde(serialize_with = "ser_opt_count")]
    pub dense_flops: Option<Count>,
    #[serde(serialize_with = "ser_opt_count")]
    pub dense_params: Option<Count>,
    /// A grouped conv's own weight and bias elements (not its scales or zero points).
    #[serde(skip)]
    pub conv_params: Option<Count>,
    pub stage: String,
    /// False when the node could not be costed (it is listed in `unknown`).
    pub costed: bool,
    pub note: Option<String>,
    /// Bytes read (distinct inputs, weights included) + bytes written (outputs); see `memory`.
    #[serde(serialize_with = "ser_count")]
    pub mem_access_bytes: Count,
    /// Memory access of the dense equivalent (grouped convs, else null).
    #[serde(serialize_with = "ser_opt_count")]
    pub dense_mem_access_bytes: Option<Count>,
    /// FLOPs per byte of memory access (symbols at 1); null when no byte moves.
    pub intensity: Option<f64>,
    /// Activation bytes live while this node runs.
    #[serde(serialize_with = "ser_count")]
    pub live_bytes: Count,
    /// Roofline estimate, with `--device` or `--peak-gflops`/`--bandwidth-gbs` (else null).
    pub roofline: Option<super::roofline::NodeRoofline>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct GroupedConv {
    pub count: u64,
    #[serde(serialize_with = "ser_count")]
    pub flops: Count,
    #[serde(serialize_with = "ser_count")]
    pub dense_flops: Count,
    #[serde(serialize_with = "ser_count")]
    pub saved_flops: Count,
    #[serde(serialize_with = "ser_count")]
    pub params: Count,
    #[serde(serialize_with = "ser_count")]
    pub dense_params: Count,
    #[serde(serialize_with = "ser_count")]
    pub saved_params: Count,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Totals {
    #[serde(serialize_with = "ser_count")]
    pub flops: Count,
    #[serde(serialize_with = "ser_count")]
    pub macs: Count,
    #[serde(serialize_with = "ser_count")]
    pub params: Count,
    #[serde(serialize_with = "ser_count")]
    pub param_bytes: Count,
    #[serde(serialize_with = "ser_count")]
    pub activation_bytes: Count,
    pub nodes: u64,
    pub grouped_conv: GroupedConv,
    /// Σ per-node memory access (bytes read + written).
    #[serde(serialize_with = "ser_count")]
    pub mem_access_bytes: Count,
    /// flops / mem_access_bytes (symbols at 1).
    pub intensity: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Rollup {
    pub key: String,
    pub count: u64,
    #[serde(serialize_with = "ser_count")]
    pub flops: Count,
    #[serde(serialize_with = "ser_count")]
    pub macs: Count,
    #[serde(serialize_with = "ser_count")]
    pub params: Count,
}

#[derive(Clone, Debug, Serialize)]
pub struct Unknown {
    pub name: String,
    pub op_type: String,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct ModelInfo {
    pub path: String,
    pub producer: String,
    pub producer_version: String,
    pub ir_version: i64,
    pub opsets: BTreeMap<String, i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Profile {
    pub model: ModelInfo,
    /// Symbols of the model: their bound value, or null when unbound.
    pub dims: BTreeMap<String, Option<i64>>,
    pub totals: Totals,
    pub by_op_type: Vec<Rollup>,
    pub by_stage: Vec<Rollup>,
    pub nodes: Vec<NodeReport>,
    pub unknown: Vec<Unknown>,
    pub warnings: Vec<String>,
    /// Weights, peak live activations, memory access (see `analysis::memory`).
    pub memory: Option<super::memory::MemoryReport>,
    /// Set by `analysis::roofline::apply` (`--device`, `--peak-gflops`).
    pub roofline: Option<super::roofline::RooflineReport>,
    /// Set by `analysis::training::apply` (`--train`).
    pub training: Option<super::training::TrainingReport>,
}

fn ser_count<S: serde::Serializer>(c: &Count, s: S) -> std::result::Result<S::Ok, S::Error> {
    c.to_json().serialize(s)
}
fn ser_opt_count<S: serde::Serializer>(
    c: &Option<Count>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    c.as_ref().map(Count::to_json).serialize(s)
}
fn ser_shape<S: serde::Serializer>(
    c: &Option<Shape>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    c.as_ref()
        .map(|v| v.iter().map(Count::to_json).collect::<Vec<_>>())
        .serialize(s)
}

/// Loads and profiles a file.
pub fn profile(path: &Path, opts: &ProfileOptions) -> Result<Profile> {
    let model = crate::model::load(path)?;
    profile_model(&model, opts)
}

struct GraphCost {
    flops: Count,
    macs: Count,
    unknown: Vec<Unknown>,
    nodes: Vec<NodeReport>,
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
    let at = g.location(&model.path, id);
    let attrs = Attrs::new(&node.attributes, at.clone());
    let facts = |t: &Option<usize>| t.map(|t| &info.facts[t]);
    let ctx = CostCtx {
        node,
        attrs: attrs.clone(),
        inputs: node.inputs.iter().map(facts).collect(),
        outputs: node.outputs.iter().map(facts).collect(),
        opset: model.opset(),
    };
    let domain_ok = node.domain.is_empty() || node.domain == "ai.onnx";
    if domain_ok && ops::CONTROL_FLOW.contains(&node.op_type.as_str()) {
        return control_flow(model, g, id, info, opts, path_prefix, &ctx);
    }
    match ops::lookup(&node.domain, &node.op_type) {
        Some(rule) => Ok((rule(&ctx)?, vec![])),
        None => {
            if opts.strict {
                return Err(Error::UnknownOp {
                    at: Box::new(at),
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

/// Seeds a subgraph's facts: its declared inputs (overridden by `inputs`), outer-scope names.
fn sub_facts(
    sg: &Graph,
    outer: &Graph,
    outer_info: &ShapeInfo,
    inputs: &[TensorFacts],
) -> Vec<TensorFacts> {
    let mut f = vec![TensorFacts::default(); sg.tensors.len()];
    for (k, id) in sg.inputs.iter().enumerate() {
        let t = &sg.tensors[*id];
        f[*id] = TensorFacts {
            shape: t.declared.clone(),
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
                f[id] = outer_info.facts[*o].clone();
            }
        }
    }
    f
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
    let run = |sg: &Graph, seeds: &[TensorFacts], sub: &str| -> Result<GraphCost> {
        let facts = sub_facts(sg, g, info, seeds);
        let sinfo =
            shapes::infer_graph(sg, facts, &HashMap::new(), model.opset(), &opts.shapes.dims);
        analyse_graph(model, sg, &sinfo, opts, &format!("{here}{sub}/"))
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
            let branch = |(name, c): &(String, GraphCost)| match c.unknown.len() {
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
            let mut seeds = vec![
                TensorFacts {
                    shape: Some(vec![]),
                    dtype: dt::INT64,
                    value: None,
                },
                TensorFacts {
                    shape: Some(vec![]),
                    dtype: dt::BOOL,
                    value: None,
                },
            ];
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
    body: GraphCost,
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

fn tensor_ref(g: &Graph, info: &ShapeInfo, t: Option<usize>) -> TensorRef {
    match t {
        None => TensorRef {
            name: String::new(),
            shape: None,
            dtype: String::new(),
        },
        Some(t) => TensorRef {
            name: g.tensors[t].name.clone(),
            shape: info.facts[t].shape.clone(),
            dtype: dt::name(info.facts[t].dtype).to_string(),
        },
    }
}

fn analyse_graph(
    model: &Model,
    g: &Graph,
    info: &ShapeInfo,
    opts: &ProfileOptions,
    prefix: &str,
) -> Result<GraphCost> {
    let params = params::attribute(g);
    let mut out = GraphCost {
        flops: Count::zero(),
        macs: Count::zero(),
        unknown: vec![],
        nodes: Vec::with_capacity(g.nodes.len()),
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
        let activation_bytes = if node.op_type == ops::shape_ops::CONSTANT {
            Count::zero()
        } else {
            Count::sum(
                &node
                    .outputs
                    .iter()
                    .flatten()
                    .map(|t| {
                        let f = &info.facts[*t];
                        f.shape
                            .as_ref()
                            .map(|s| super::memory::bytes_of(&Count::product(s), f.dtype))
                            .unwrap_or_default()
                    })
                    .collect::<Vec<_>>(),
            )
        };
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
            .and_then(|t| info.facts[t].shape.clone());
        let stage = stage_of(&node.name, out_shape.as_ref(), structured);
        out.nodes.push(NodeReport {
            name: node.name.clone(),
            op_type: node.op_type.clone(),
            domain: node.domain.clone(),
            inputs: node
                .inputs
                .iter()
                .map(|t| tensor_ref(g, info, *t))
                .collect(),
            outputs: node
                .outputs
                .iter()
                .map(|t| tensor_ref(g, info, *t))
                .collect(),
            flops: cost.flops,
            macs: cost.macs,
            params: params[id].params.clone(),
            param_bytes: params[id].bytes.clone(),
            activation_bytes,
            group: cost.group,
            dense_flops: cost.dense.as_ref().map(|d| d.flops.clone()),
            dense_params: cost.dense.as_ref().map(|d| d.params.clone()),
            conv_params: cost.dense.as_ref().map(|d| d.actual_params.clone()),
            stage,
            costed,
            note: cost.note,
            mem_access_bytes: Count::zero(),
            dense_mem_access_bytes: None,
            intensity: None,
            live_bytes: Count::zero(),
            roofline: None,
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

fn rollup(nodes: &[NodeReport], key: impl Fn(&NodeReport) -> String) -> Vec<Rollup> {
    let mut order: Vec<String> = vec![];
    let mut map: HashMap<String, Rollup> = HashMap::new();
    for n in nodes {
        let k = key(n);
        let r = map.entry(k.clone()).or_insert_with(|| {
            order.push(k.clone());
            Rollup {
                key: k,
                count: 0,
                flops: Count::zero(),
                macs: Count::zero(),
                params: Count::zero(),
            }
        });
        r.count += 1;
        r.flops = &r.flops + &n.flops;
        r.macs = &r.macs + &n.macs;
        r.params = &r.params + &n.params;
    }
    order
        .into_iter()
        .map(|k| map.remove(&k).expect("key"))
        .collect()
}

/// Profiles a loaded model.
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
    let info = shapes::infer(model, &opts.shapes);
    let g = &model.graph;
    let mut cost = analyse_graph(model, g, &info, opts, "")?;
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
    let memory = super::memory::analyse(model, g, &info, &mut cost.nodes)?;
    let mut totals = Totals {
        nodes: cost.nodes.len() as u64,
        ..Default::default()
    };
    let mut gc = GroupedConv::default();
    for n in &cost.nodes {
        totals.flops = &totals.flops + &n.flops;
        totals.macs = &totals.macs + &n.macs;
        totals.params = &totals.params + &n.params;
        totals.param_bytes = &totals.param_bytes + &n.param_bytes;
        totals.activation_bytes = &totals.activation_bytes + &n.activation_bytes;
        if let (Some(df), Some(dp)) = (&n.dense_flops, &n.dense_params) {
            gc.count += 1;
            gc.flops = &gc.flops + &n.flops;
            gc.dense_flops = &gc.dense_flops + df;
            gc.params = &gc.params + n.conv_params.as_ref().unwrap_or(&n.params);
            gc.dense_params = &gc.dense_params + dp;
        }
    }
    gc.saved_flops = &gc.dense_flops - &gc.flops;
    gc.saved_params = &gc.dense_params - &gc.params;
    totals.grouped_conv = gc;
    totals.mem_access_bytes = memory.mem_access_bytes.clone();
    totals.intensity = super::memory::ratio(&totals.flops, &totals.mem_access_bytes);
    let mut warnings = model.warnings.clone();
    warnings.extend(info.notes.iter().cloned());
    let unused: Vec<&str> = g
        .tensors
        .iter()
        .filter(|t| {
            t.stored.is_some()
                && t.consumers.is_empty()
                && t.producer.is_none()
                && !t.is_graph_output
        })
        .map(|t| t.name.as_str())
        .collect();
    if !unused.is_empty() {
        warnings.push(format!(
            "{} initializers are used by no node and are not counted as parameters (e.g. '{}')",
            unused.len(),
            unused[0]
        ));
    }
    if !cost.unknown.is_empty() {
        warnings.push(format!(
            "{} nodes could not be costed and count 0 in the totals (see `unknown`)",
            cost.unknown.len()
        ));
    }
    for n in &cost.nodes {
        if let Some(note) = &n.note {
            warnings.push(format!("{}: {note}", n.name));
        }
    }
    let mut dims: BTreeMap<String, Option<i64>> = BTreeMap::new();
    for t in &g.tensors {
        if t.kind == TensorKind::Input {
            for d in t.declared.iter().flatten() {
                for s in d.symbols() {
                    dims.entry(s.clone()).or_insert(None);
                }
            }
        }
    }
    for (k, v) in &opts.shapes.dims {
        dims.insert(sanitize_symbol(k), Some(*v));
    }
    let by_op_type = rollup(&cost.nodes, |n| n.op_type.clone());
    let by_stage = rollup(&cost.nodes, |n| n.stage.clone());
    let p = &model.proto;
    Ok(Profile {
        model: ModelInfo {
            path: model.path.display().to_string(),
            producer: p.producer_name.clone(),
            producer_version: p.producer_version.clone(),
            ir_version: p.ir_version,
            opsets: model.opsets.clone(),
        },
        dims,
        totals,
        by_op_type,
        by_stage,
        nodes: cost.nodes,
        unknown: cost.unknown,
        warnings,
        memory: Some(memory),
        roofline: None,
        training: None,
    })
}
