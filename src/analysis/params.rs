//! The parameter pass. Rule: every stored tensor — initializer or Constant node output, in the
//! main graph or a subgraph — is counted once, even when several nodes share it, and attributed
//! to its first consumer in execution order. Tensors used only as control data — shapes, axes,
//! indices, sizes, pads, Resize scales/roi, Clip bounds (the slots each op declares in the op
//! registry, `ops::is_control_input`), directly or through shape arithmetic (`control_only`) —
//! are not parameters, whatever their type; neither are BatchNormalization's running mean and
//! variance (buffers, as torchvision counts them); quantized weights, scales and zero points
//! are. Subgraph tensors are attributed to the node that owns the subgraph.

use crate::model::graph::{Graph, Node, NodeId};
use crate::model::proto::data_type as dt;
use crate::sym::Count;

/// Whether input `slot` of `node` takes a shape, axes, indices, sizes or similar control data
/// (as its op declares in the registry). A tensor read by a subgraph is judged there.
pub fn index_slot(node: &Node, slot: usize) -> bool {
    slot != crate::model::graph::IMPLICIT_SLOT
        && crate::ops::is_control_input(&node.domain, &node.op_type, slot)
}

#[derive(Clone, Debug, Default)]
pub struct ParamInfo {
    pub params: Count,
    pub bytes: Count,
}

/// For each tensor of `g`: whether it feeds nothing but control data — directly (a control
/// slot, `index_slot`) or through shape arithmetic (a node all of whose outputs are themselves
/// control-only, e.g. a constant concatenated into a Reshape target). Graph outputs, and tensors
/// read by subgraphs or by If/Loop/Scan, are not control-only.
pub fn control_only(g: &Graph) -> Vec<bool> {
    let mut control = vec![false; g.tensors.len()];
    let mut decided = vec![false; g.tensors.len()];
    let visit = |t: usize, control: &mut Vec<bool>| {
        let tensor = &g.tensors[t];
        control[t] = !tensor.consumers.is_empty()
            && !tensor.is_graph_output
            && tensor.consumers.iter().all(|(n, slot)| {
                let node = &g.nodes[*n];
                index_slot(node, *slot)
                    || (*slot != crate::model::graph::IMPLICIT_SLOT
                        && node.subgraphs.is_empty()
                        && node.outputs.iter().flatten().next().is_some()
                        && node.outputs.iter().flatten().all(|o| control[*o]))
            });
    };
    // Consumers come after producers: decide node outputs in reverse execution order.
    for &n in g.order.iter().rev() {
        for o in g.nodes[n].outputs.iter().flatten() {
            visit(*o, &mut control);
            decided[*o] = true;
        }
    }
    for (t, done) in decided.iter().enumerate() {
        if !done {
            visit(t, &mut control);
        }
    }
    control
}

/// Whether stored tensor `t` counts as a parameter (the module's rule).
pub fn is_parameter(g: &Graph, control: &[bool], t: usize) -> bool {
    g.tensors[t].stored.is_some() && !g.tensors[t].consumers.is_empty() && !control[t]
}

/// The parameter elements of stored tensor `t`: what the op of its first consumer that declares
/// them counts (a packed int4 weight stands for K·N elements, its scales for none), else the
/// stored element count.
pub fn elements(g: &Graph, t: usize) -> i128 {
    let tensor = &g.tensors[t];
    let Some(stored) = &tensor.stored else {
        return 0;
    };
    tensor
        .consumers
        .iter()
        .filter(|(_, slot)| *slot != crate::model::graph::IMPLICIT_SLOT)
        .find_map(|(n, slot)| crate::ops::logical_elements(&g.nodes[*n], *slot, stored))
        .unwrap_or_else(|| tensor.stored_elements().unwrap_or(0) as i128)
}

/// Parameters attributed to each node of `g` (stored tensors of subgraphs to their owner).
pub fn attribute(g: &Graph) -> Vec<ParamInfo> {
    let mut out = vec![ParamInfo::default(); g.nodes.len()];
    let mut pos = vec![0usize; g.nodes.len()];
    for (i, n) in g.order.iter().enumerate() {
        pos[*n] = i;
    }
    let control = control_only(g);
    for (id, t) in g.tensors.iter().enumerate() {
        let Some(stored) = &t.stored else { continue };
        if !is_parameter(g, &control, id) {
            continue;
        }
        let first: NodeId = t
            .consumers
            .iter()
            .map(|(n, _)| *n)
            .min_by_key(|n| pos[*n])
            .expect("non-empty");
        let elems = t.stored_elements().unwrap_or(0) as i128;
        let logical = elements(g, id);
        let bits = dt::bits(stored.data_type) as i128;
        let o = &mut out[first];
        o.params = &o.params + &Count::int(logical);
        o.bytes = &o.bytes + &Count::int((elems * bits + 7) / 8);
    }
    for (id, n) in g.nodes.iter().enumerate() {
        for (_, sg) in &n.subgraphs {
            let inner = attribute(sg);
            for p in inner {
                out[id].params = &out[id].params + &p.params;
                out[id].bytes = &out[id].bytes + &p.bytes;
            }
        }
    }
    out
}
