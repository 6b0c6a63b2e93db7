//! The petgraph IR: one node per ONNX op, an edge per tensor from producer to consumer (the edge
//! weight is the tensor), graph inputs and stored tensors (initializers, Constant outputs) told
//! apart. Built once, never mutated by the analysis passes, which keep side tables by `NodeId`.
//! Validation happens here: dangling tensor names, duplicate outputs, cycles, negative dims.

use std::collections::HashSet;
use std::path::Path;

use petgraph::graph::{DiGraph, NodeIndex};

use super::proto::{self, AttributeProto, GraphProto, TensorProto, ValueInfoProto};
use super::Shape;
use crate::error::{Error, Location, Result};
use crate::sym::Count;
use crate::util::hash::FxHashMap;

pub type NodeId = usize;
pub type TensorId = usize;

#[derive(Clone, Debug, PartialEq)]
pub enum TensorKind {
    /// A graph input fed at run time.
    Input,
    /// An initializer (stored weight or constant).
    Initializer,
    /// The output of a node (a Constant node's output is also `stored`).
    Activation,
    /// A name a subgraph takes from an enclosing graph.
    OuterScope,
}

#[derive(Clone, Debug)]
pub struct Tensor {
    pub name: String,
    pub kind: TensorKind,
    /// ONNX element type (`proto::data_type`), 0 when unknown.
    pub dtype: i32,
    /// Shape declared by the file (initializer dims, input/output/value_info types).
    pub declared: Option<Shape>,
    /// The stored value, for initializers and Constant node outputs (boxed: most tensors have
    /// none, and a `TensorProto` is large).
    pub stored: Option<Box<TensorProto>>,
    pub producer: Option<NodeId>,
    /// (node, input slot) pairs.
    pub consumers: Vec<(NodeId, usize)>,
    pub is_graph_output: bool,
}

impl Tensor {
    /// A name a subgraph reads from an enclosing graph (no producer inside it).
    fn outer_scope(name: String) -> Self {
        Tensor {
            name,
            kind: TensorKind::OuterScope,
            dtype: 0,
            declared: None,
            stored: None,
            producer: None,
            consumers: vec![],
            is_graph_output: false,
        }
    }

    /// Elements held by a stored tensor, from its dims.
    pub fn stored_elements(&self) -> Option<u64> {
        self.stored
            .as_ref()
            .map(|t| t.dims.iter().map(|d| (*d).max(0) as u64).product())
    }
}

#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub op_type: String,
    pub domain: String,
    /// Input tensors by slot; `None` for an omitted optional input ("").
    pub inputs: Vec<Option<TensorId>>,
    pub outputs: Vec<Option<TensorId>>,
    pub attributes: Vec<AttributeProto>,
    /// Subgraphs held in attributes (If branches, Loop/Scan bodies), by attribute name.
    pub subgraphs: Vec<(String, Graph)>,
    /// Tensors of this graph that the subgraphs read from the enclosing scope.
    pub implicit_inputs: Vec<TensorId>,
}

/// The consumer slot recorded for a tensor a subgraph reads from the enclosing scope.
pub const IMPLICIT_SLOT: usize = usize::MAX;

/// Outer-scope names read by `g` or its nested subgraphs (that `g` does not define itself).
fn outer_names(g: &Graph, out: &mut Vec<String>) {
    for t in &g.tensors {
        if t.kind == TensorKind::OuterScope {
            out.push(t.name.clone());
        }
    }
    for n in &g.nodes {
        for (_, sg) in &n.subgraphs {
            let mut inner = vec![];
            outer_names(sg, &mut inner);
            out.extend(
                inner
                    .into_iter()
                    .filter(|name| !g.by_name.contains_key(name)),
            );
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub name: String,
    pub nodes: Vec<Node>,
    pub tensors: Vec<Tensor>,
    /// Tensors by name (FxHash: hashed once per node input and output while building).
    pub by_name: FxHashMap<String, TensorId>,
    pub inputs: Vec<TensorId>,
    pub outputs: Vec<TensorId>,
    /// Producer → consumer edges weighted by the tensor that flows.
    pub dag: DiGraph<NodeId, TensorId>,
    /// Nodes in a topological order (file order where the file is already sorted).
    pub order: Vec<NodeId>,
}

impl Graph {
    pub fn tensor(&self, name: &str) -> Option<&Tensor> {
        self.by_name.get(name).map(|i| &self.tensors[*i])
    }
    /// The node's display name: its own, else its first output's, else `op_type#index`.
    pub fn location(&self, file: &Path, id: NodeId) -> Location {
        let n = &self.nodes[id];
        Location {
            file: file.to_path_buf(),
            node: Some(n.name.clone()),
            op_type: Some(n.op_type.clone()),
            attribute: None,
        }
    }
}

fn dims_of(vi: &ValueInfoProto, file: &Path, what: &str) -> Result<(i32, Option<Shape>)> {
    use proto::tensor_shape_proto::dimension::Value as DV;
    use proto::type_proto::Value as TV;
    let Some(TV::TensorType(t)) = vi.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Ok((0, None));
    };
    let Some(shape) = &t.shape else {
        return Ok((t.elem_type, None));
    };
    let mut out = Vec::with_capacity(shape.dim.len());
    for (axis, d) in shape.dim.iter().enumerate() {
        let c = match &d.value {
            // Paddle exports declare a dynamic dim as -1: an anonymous symbol named after the
            // tensor and axis, like an unnamed dim (the loader warns about it).
            Some(DV::DimValue(-1)) => Count::sym(&anonymous_dim(&vi.name, axis)),
            // 0 is legal (an empty tensor): its counts are 0
            Some(DV::DimValue(v)) if *v < 0 => {
                return Err(Error::invalid(
                    Location {
                        file: file.to_path_buf(),
                        ..Default::default()
                    },
                    format!(
                        "{what} '{}' has dim {v} on axis {axis}: dims must be 0 or more (-1: dynamic)",
                        vi.name
                    ),
                ));
            }
            Some(DV::DimValue(v)) => Count::int(*v as i128),
            Some(DV::DimParam(p)) if !p.is_empty() => Count::sym(&sanitize_symbol(p)),
            _ => Count::sym(&anonymous_dim(&vi.name, axis)),
        };
        out.push(c);
    }
    Ok((t.elem_type, Some(out)))
}

/// The symbol of a dim a declaration leaves unnamed (no value, an empty name, or `-1`):
/// `<tensor>_d<axis>`, so every occurrence of the same position is the same symbol.
pub fn anonymous_dim(tensor: &str, axis: usize) -> String {
    format!("{}_d{axis}", sanitize_symbol(tensor))
}

/// A stored tensor's element count must fit 64 bits (every later product over its dims relies on
/// it): dims claiming more are rejected instead of overflowing.
fn check_elements(dims: &[i64], name: &str, at: Location) -> Result<()> {
    let fits = dims
        .iter()
        .try_fold(1i64, |acc, d| acc.checked_mul((*d).max(0)))
        .is_some();
    if fits {
        Ok(())
    } else {
        Err(Error::invalid(
            at,
            format!(
                "stored tensor '{name}' has dims {dims:?}: its element count overflows 64 bits"
            ),
        ))
    }
}

/// Symbols are printed inside expressions: keep them to identifier characters.
pub fn sanitize_symbol(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.chars().next().is_none_or(|c| c.is_ascii_digit()) {
        out.insert(0, 's');
    }
    out
}

/// Display name of a node without one: `op_type_index` (stable across runs).
fn node_name(n: &proto::NodeProto, index: usize) -> String {
    if !n.name.is_empty() {
        n.name.clone()
    } else {
        format!("{}_{index}", n.op_type)
    }
}

impl Graph {
    /// Builds and validates the IR of `g`. `outer` holds names visible from enclosing graphs.
    pub fn build(g: &GraphProto, file: &Path, outer: &HashSet<String>) -> Result<Graph> {
        let mut graph = Graph {
            name: g.name.clone(),
            ..Default::default()
        };
        let outputs: usize = g.node.iter().map(|n| n.output.len()).sum();
        let tensors = g.initializer.len() + g.sparse_initializer.len() + g.input.len() + outputs;
        graph.tensors.reserve_exact(tensors);
        graph.by_name.reserve(tensors);
        graph.nodes.reserve_exact(g.node.len());
        let loc = || Location {
            file: file.to_path_buf(),
            ..Default::default()
        };
        let add = |graph: &mut Graph, t: Tensor| -> TensorId {
            let id = graph.tensors.len();
            graph.by_name.insert(t.name.clone(), id);
            graph.tensors.push(t);
            id
        };
        for init in &g.initializer {
            if let Some(d) = init.dims.iter().find(|d| **d < 0) {
                return Err(Error::invalid(
                    loc(),
                    format!("initializer '{}' has negative dim {d}", init.name),
                ));
            }
            check_elements(&init.dims, &init.name, loc())?;
            if graph.by_name.contains_key(&init.name) {
                return Err(Error::invalid(
                    loc(),
                    format!("initializer '{}' is defined twice", init.name),
                ));
            }
            let shape = init.dims.iter().map(|d| Count::int(*d as i128)).collect();
            add(
                &mut graph,
                Tensor {
                    name: init.name.clone(),
                    kind: TensorKind::Initializer,
                    dtype: init.data_type,
                    declared: Some(shape),
                    stored: Some(Box::new(init.clone())),
                    producer: None,
                    consumers: vec![],
                    is_graph_output: false,
                },
            );
        }
        for sp in &g.sparse_initializer {
            if let Some(v) = &sp.values {
                check_elements(&sp.dims, &v.name, loc())?;
                let mut t = v.clone();
                t.dims = sp.dims.clone();
                let shape = sp.dims.iter().map(|d| Count::int(*d as i128)).collect();
                add(
                    &mut graph,
                    Tensor {
                        name: v.name.clone(),
                        kind: TensorKind::Initializer,
                        dtype: v.data_type,
                        declared: Some(shape),
                        stored: Some(Box::new(t)),
                        producer: None,
                        consumers: vec![],
                        is_graph_output: false,
                    },
                );
            }
        }
        for vi in &g.input {
            if let Some(id) = graph.by_name.get(&vi.name) {
                // Old IR versions list initializers among the inputs too.
                if graph.tensors[*id].kind == TensorKind::Initializer {
                    continue;
                }
            }
            let (dtype, declared) = dims_of(vi, file, "graph input")?;
            let id = add(
                &mut graph,
                Tensor {
                    name: vi.name.clone(),
                    kind: TensorKind::Input,
                    dtype,
                    declared,
                    stored: None,
                    producer: None,
                    consumers: vec![],
                    is_graph_output: false,
                },
            );
            graph.inputs.push(id);
        }
        // Node outputs first (files are not always topologically sorted).
        for (index, n) in g.node.iter().enumerate() {
            let name = node_name(n, index);
            let mut outs = Vec::with_capacity(n.output.len());
            for o in &n.output {
                if o.is_empty() {
                    outs.push(None);
                    continue;
                }
                if graph.by_name.contains_key(o) {
                    return Err(Error::invalid(
                        Location {
                            file: file.to_path_buf(),
                            node: Some(name.clone()),
                            op_type: Some(n.op_type.clone()),
                            attribute: None,
                        },
                        format!("output '{o}' is already produced elsewhere (ONNX graphs are single-assignment)"),
                    ));
                }
                let stored = if n.op_type == crate::ops::shape_ops::CONSTANT && n.domain.is_empty()
                {
                    n.attribute
                        .iter()
                        .find(|a| a.name == "value")
                        .and_then(|a| a.t.clone())
                        .map(Box::new)
                } else {
                    None
                };
                if let Some(t) = &stored {
                    check_elements(
                        &t.dims,
                        o,
                        Location {
                            file: file.to_path_buf(),
                            node: Some(name.clone()),
                            op_type: Some(n.op_type.clone()),
                            attribute: Some("value".into()),
                        },
                    )?;
                }
                let id = add(
                    &mut graph,
                    Tensor {
                        name: o.clone(),
                        kind: TensorKind::Activation,
                        dtype: stored.as_ref().map(|t| t.data_type).unwrap_or(0),
                        declared: stored
                            .as_ref()
                            .map(|t| t.dims.iter().map(|d| Count::int(*d as i128)).collect()),
                        stored,
                        producer: Some(index),
                        consumers: vec![],
                        is_graph_output: false,
                    },
                );
                outs.push(Some(id));
            }
            graph.nodes.push(Node {
                name,
                op_type: n.op_type.clone(),
                domain: n.domain.clone(),
                inputs: vec![],
                outputs: outs,
                attributes: n.attribute.clone(),
                subgraphs: vec![],
                implicit_inputs: vec![],
            });
        }
        // Inputs, subgraphs, edges.
        for (index, n) in g.node.iter().enumerate() {
            let mut ins = Vec::with_capacity(n.input.len());
            for (slot, i) in n.input.iter().enumerate() {
                if i.is_empty() {
                    ins.push(None);
                    continue;
                }
                let id = match graph.by_name.get(i) {
                    Some(id) => *id,
                    None if outer.contains(i) => add(
                        &mut graph,
                        Tensor::outer_scope(i.clone()),
                    ),
                    None => {
                        return Err(Error::invalid(
                            graph.location(file, index),
                            format!("input {slot} names tensor '{i}', which is not a graph input, an initializer or the output of any node"),
                        ))
                    }
                };
                graph.tensors[id].consumers.push((index, slot));
                ins.push(Some(id));
            }
            graph.nodes[index].inputs = ins;
            // Subgraphs see every name of this scope.
            let mut subs = Vec::new();
            for a in &n.attribute {
                let gs: Vec<&GraphProto> = a.g.iter().chain(a.graphs.iter()).collect();
                if gs.is_empty() {
                    continue;
                }
                let mut scope: HashSet<String> = outer.clone();
                scope.extend(graph.by_name.keys().cloned());
                for sg in gs {
                    let built = Graph::build(sg, file, &scope).map_err(|e| match e {
                        Error::Invalid { at: inner, message } => Error::invalid(
                            *inner,
                            format!(
                                "{message} (in subgraph '{}' of node '{}')",
                                a.name, graph.nodes[index].name
                            ),
                        ),
                        other => other,
                    })?;
                    subs.push((a.name.clone(), built));
                }
            }
            // Names a subgraph takes from this scope are implicit inputs of the owning node.
            let mut implicit: Vec<String> = vec![];
            for (_, sg) in &subs {
                outer_names(sg, &mut implicit);
            }
            implicit.sort();
            implicit.dedup();
            for name in implicit {
                // A name from further out that only a nested subgraph reads passes through
                // this scope as an outer-scope tensor too, so each level sees its facts.
                let t = match graph.by_name.get(&name) {
                    Some(&t) => t,
                    None if outer.contains(&name) => {
                        add(&mut graph, Tensor::outer_scope(name.clone()))
                    }
                    None => continue,
                };
                graph.tensors[t].consumers.push((index, IMPLICIT_SLOT));
                graph.nodes[index].implicit_inputs.push(t);
            }
            graph.nodes[index].subgraphs = subs;
        }
        for vi in &g.output {
            let Some(&id) = graph.by_name.get(&vi.name) else {
                return Err(Error::invalid(
                    loc(),
                    format!(
                        "graph output '{}' is produced by no node, input or initializer",
                        vi.name
                    ),
                ));
            };
            graph.tensors[id].is_graph_output = true;
            let (dtype, declared) = dims_of(vi, file, "graph output")?;
            let t = &mut graph.tensors[id];
            if t.dtype == 0 {
                t.dtype = dtype;
            }
            if t.declared.is_none() {
                t.declared = declared;
            }
            graph.outputs.push(id);
        }
        for vi in &g.value_info {
            if let Some(&id) = graph.by_name.get(&vi.name) {
                let (dtype, declared) = dims_of(vi, file, "value_info")?;
                let t = &mut graph.tensors[id];
                if t.dtype == 0 {
                    t.dtype = dtype;
                }
                if t.declared.is_none() {
                    t.declared = declared;
                }
            }
        }
        // The DAG and a topological order.
        let edges: usize = graph
            .nodes
            .iter()
            .map(|n| n.inputs.len() + n.implicit_inputs.len())
            .sum();
        graph.dag = DiGraph::with_capacity(graph.nodes.len(), edges);
        let idx: Vec<NodeIndex> = (0..graph.nodes.len())
            .map(|i| graph.dag.add_node(i))
            .collect();
        for (ci, node) in graph.nodes.iter().enumerate() {
            for t in node.inputs.iter().flatten().chain(&node.implicit_inputs) {
                if let Some(p) = graph.tensors[*t].producer {
                    graph.dag.add_edge(idx[p], idx[ci], *t);
                }
            }
        }
        graph.order = match petgraph::algo::toposort(&graph.dag, None) {
            Ok(order) => {
                // Prefer file order when it is already topological (stable, deterministic output).
                let sorted_in_file = graph.nodes.iter().enumerate().all(|(ci, node)| {
                    node.inputs
                        .iter()
                        .flatten()
                        .chain(&node.implicit_inputs)
                        .all(|t| graph.tensors[*t].producer.is_none_or(|p| p < ci))
                });
                if sorted_in_file {
                    (0..graph.nodes.len()).collect()
                } else {
                    order.into_iter().map(|i| graph.dag[i]).collect()
                }
            }
            Err(cycle) => {
                let id = graph.dag[cycle.node_id()];
                return Err(Error::invalid(
                    graph.location(file, id),
                    "is part of a cycle: the graph is not acyclic",
                ));
            }
        };
        Ok(graph)
    }
}
