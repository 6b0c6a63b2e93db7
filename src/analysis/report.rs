//! The joined report: the `Profile` every output format, comparison and budget check reads.
//! The passes return their own tables (`profile::CostTable`, `params::ParamInfo` by node,
//! `memory::MemoryTable`, `roofline::RooflineTable`, `training::TrainingReport`); `join` lays
//! them side by side as one row per node (`NodeReport`) plus the model-level sections, and
//! derives the totals, rollups and warnings. The field names are the JSON keys (README schema).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Serialize;

use super::memory::{MemoryReport, MemoryTable};
use super::params::ParamInfo;
use super::profile::CostTable;
use super::roofline::{NodeRoofline, RooflineReport, RooflineTable};
use super::training::TrainingReport;
use crate::model::graph::{sanitize_symbol, Graph, TensorKind};
use crate::model::proto::data_type as dt;
use crate::model::shapes::{ShapeInfo, ShapeOptions};
use crate::model::Model;
use crate::sym::Count;

/// A node's input or output as the report lists it. The name and the shape are shared, not
/// copied: every row naming a tensor holds the same name, and equal shapes one allocation (a
/// 100k-node graph has a handful of distinct shapes).
#[derive(Clone, Debug, Serialize)]
pub struct TensorRef {
    #[serde(serialize_with = "as_str")]
    pub name: Arc<str>,
    #[serde(serialize_with = "as_dims")]
    pub shape: Option<Arc<[Count]>>,
    pub dtype: &'static str,
}

fn as_str<S: serde::Serializer>(v: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v)
}

fn as_dims<S: serde::Serializer>(v: &Option<Arc<[Count]>>, s: S) -> Result<S::Ok, S::Error> {
    v.as_deref().serialize(s)
}

/// One node's row: its identity and tensors (from the IR and the shapes), then the columns of
/// the cost, parameter, memory and roofline tables.
#[derive(Clone, Debug, Serialize)]
pub struct NodeReport {
    pub name: String,
    pub op_type: String,
    pub domain: String,
    pub inputs: Vec<TensorRef>,
    pub outputs: Vec<TensorRef>,
    pub flops: Count,
    pub macs: Count,
    pub params: Count,
    pub param_bytes: Count,
    pub activation_bytes: Count,
    pub group: Option<i64>,
    pub dense_flops: Option<Count>,
    pub dense_params: Option<Count>,
    /// A grouped conv's own weight and bias elements (not its scales or zero points).
    #[serde(skip)]
    pub conv_params: Option<Count>,
    pub stage: String,
    /// False when the node could not be costed (it is listed in `unknown`).
    pub costed: bool,
    pub note: Option<String>,
    /// Bytes read (distinct inputs, weights included) + bytes written (outputs); see `memory`.
    pub mem_access_bytes: Count,
    /// Memory access of the dense equivalent (grouped convs, else null).
    pub dense_mem_access_bytes: Option<Count>,
    /// FLOPs per byte of memory access (symbols at 1); null when no byte moves.
    pub intensity: Option<f64>,
    /// Activation bytes live while this node runs.
    pub live_bytes: Count,
    /// Roofline estimate, with `--device` or `--peak-gflops`/`--bandwidth-gbs` (else null).
    pub roofline: Option<NodeRoofline>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct GroupedConv {
    pub count: u64,
    pub flops: Count,
    pub dense_flops: Count,
    pub saved_flops: Count,
    pub params: Count,
    pub dense_params: Count,
    pub saved_params: Count,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Totals {
    pub flops: Count,
    pub macs: Count,
    pub params: Count,
    pub param_bytes: Count,
    pub activation_bytes: Count,
    pub nodes: u64,
    pub grouped_conv: GroupedConv,
    /// Σ per-node memory access (bytes read + written).
    pub mem_access_bytes: Count,
    /// flops / mem_access_bytes (symbols at 1).
    pub intensity: Option<f64>,
}

/// A rollup row; `key` is the op type or the stage (serialised under that name by the JSON
/// report).
#[derive(Clone, Debug)]
pub struct Rollup {
    pub key: String,
    pub count: u64,
    pub flops: Count,
    pub macs: Count,
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

#[derive(Clone, Debug)]
pub struct Profile {
    pub model: ModelInfo,
    /// Symbols of the model: their bound value, or null when unbound.
    pub dims: BTreeMap<String, Option<i64>>,
    pub totals: Totals,
    pub by_op_type: Vec<Rollup>,
    pub by_stage: Vec<Rollup>,
    /// One row per node of the main graph, in execution order.
    pub nodes: Vec<NodeReport>,
    pub unknown: Vec<Unknown>,
    pub warnings: Vec<String>,
    /// Weights, peak live activations, memory access (see `analysis::memory`).
    pub memory: Option<MemoryReport>,
    /// Joined by `roofline::apply` (`--device`, `--peak-gflops`).
    pub roofline: Option<RooflineReport>,
    /// Joined by `training::apply` (`--train`).
    pub training: Option<TrainingReport>,
}

/// The tables of the passes over the main graph, each indexed by position in `g.order`
/// (`params` by node id).
pub struct Tables {
    pub cost: CostTable,
    pub params: Vec<ParamInfo>,
    pub memory: MemoryTable,
}

/// Builds the rows' tensor references: each tensor's name allocated once (a row per producer and
/// consumer shares it), each distinct shape once.
struct Refs<'a> {
    g: &'a Graph,
    info: &'a ShapeInfo,
    names: Vec<Option<Arc<str>>>,
    shapes: HashMap<&'a [Count], Arc<[Count]>>,
    empty: Arc<str>,
}

impl<'a> Refs<'a> {
    fn new(g: &'a Graph, info: &'a ShapeInfo) -> Self {
        Refs {
            g,
            info,
            names: vec![None; g.tensors.len()],
            shapes: HashMap::new(),
            empty: Arc::from(""),
        }
    }

    fn get(&mut self, t: Option<usize>) -> TensorRef {
        let Some(t) = t else {
            return TensorRef {
                name: self.empty.clone(),
                shape: None,
                dtype: "",
            };
        };
        let name = self.names[t]
            .get_or_insert_with(|| Arc::from(self.g.tensors[t].name.as_str()))
            .clone();
        let fact = &self.info.facts[t];
        let shape = fact
            .shape
            .as_deref()
            .map(|s| self.shapes.entry(s).or_insert_with(|| Arc::from(s)).clone());
        TensorRef {
            name,
            shape,
            dtype: dt::name(fact.dtype),
        }
    }
}

fn rollup<'a>(nodes: &'a [NodeReport], key: impl Fn(&'a NodeReport) -> &'a str) -> Vec<Rollup> {
    let mut rows: Vec<Rollup> = vec![];
    let mut index: HashMap<&str, usize> = HashMap::new();
    for n in nodes {
        let k = key(n);
        let i = *index.entry(k).or_insert_with(|| {
            rows.push(Rollup {
                key: k.to_string(),
                count: 0,
                flops: Count::zero(),
                macs: Count::zero(),
                params: Count::zero(),
            });
            rows.len() - 1
        });
        let r = &mut rows[i];
        r.count += 1;
        r.flops = &r.flops + &n.flops;
        r.macs = &r.macs + &n.macs;
        r.params = &r.params + &n.params;
    }
    rows
}

/// Joins the tables of the main graph into the profile: a row per node, totals, rollups by op
/// type and stage, the symbols and the warnings.
pub fn join(model: &Model, shapes: &ShapeOptions, info: &ShapeInfo, t: Tables) -> Profile {
    let g = &model.graph;
    let Tables {
        cost,
        params,
        memory,
    } = t;
    let mut refs = Refs::new(g, info);
    let nodes: Vec<NodeReport> = cost
        .nodes
        .into_iter()
        .zip(memory.nodes)
        .zip(&g.order)
        .map(|((c, m), &id)| {
            let node = &g.nodes[id];
            let (dense_flops, dense_params, conv_params) = match c.dense {
                Some(d) => (Some(d.flops), Some(d.params), Some(d.actual_params)),
                None => (None, None, None),
            };
            NodeReport {
                name: node.name.clone(),
                op_type: node.op_type.clone(),
                domain: node.domain.clone(),
                inputs: node.inputs.iter().map(|t| refs.get(*t)).collect(),
                outputs: node.outputs.iter().map(|t| refs.get(*t)).collect(),
                flops: c.flops,
                macs: c.macs,
                params: params[id].params.clone(),
                param_bytes: params[id].bytes.clone(),
                activation_bytes: c.activation_bytes,
                group: c.group,
                dense_flops,
                dense_params,
                conv_params,
                stage: c.stage,
                costed: c.costed,
                note: c.note,
                mem_access_bytes: m.mem_access_bytes,
                dense_mem_access_bytes: m.dense_mem_access_bytes,
                intensity: m.intensity,
                live_bytes: m.live_bytes,
                roofline: None,
            }
        })
        .collect();
    let memory = memory.report;
    let mut totals = Totals {
        nodes: nodes.len() as u64,
        ..Default::default()
    };
    let mut gc = GroupedConv::default();
    for n in &nodes {
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
    for n in &nodes {
        if let Some(note) = &n.note {
            warnings.push(format!("{}: {note}", n.name));
        }
    }
    let mut dims: BTreeMap<String, Option<i64>> = BTreeMap::new();
    for t in &g.tensors {
        if t.kind == TensorKind::Input {
            for d in t.declared.iter().flatten() {
                for s in d.symbols() {
                    dims.entry(s).or_insert(None);
                }
            }
        }
    }
    for (k, v) in &shapes.dims {
        dims.insert(sanitize_symbol(k), Some(*v));
    }
    let by_op_type = rollup(&nodes, |n| &n.op_type);
    let by_stage = rollup(&nodes, |n| &n.stage);
    let p = &model.header;
    Profile {
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
        nodes,
        unknown: cost.unknown,
        warnings,
        memory: Some(memory),
        roofline: None,
        training: None,
    }
}

impl Profile {
    /// Joins a roofline table: its row per node and its model-level report.
    pub fn join_roofline(&mut self, t: RooflineTable) {
        for (n, r) in self.nodes.iter_mut().zip(t.nodes) {
            n.roofline = Some(r);
        }
        self.warnings.extend(t.warning);
        self.roofline = Some(t.report);
    }
    /// Joins the training estimate.
    pub fn join_training(&mut self, t: TrainingReport) {
        self.training = Some(t);
    }
}
