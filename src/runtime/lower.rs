//! Lowering rewrites applied to the ONNX graph before tract sees it: forms that exporters emit
//! and tract's ONNX front end does not take, rewritten into equivalent forms it does. The model
//! file is never changed; the rewrites act on tract's in-memory protobuf. Each rewrite says
//! what it did (`Lowered::notes`) so `run` can report it.
//!
//! Rewrites:
//! - **Stale `value_info` of constants.** The onnxruntime-genai builder declares the output of
//!   `Constant` nodes with a shape that disagrees with the constant (a rank-0 `value_info` for a
//!   `[1]` tensor); tract unifies both and fails. The constant's own tensor is authoritative, so
//!   such `value_info` entries are dropped.
//! - **Packed QKV in `GroupQueryAttention`.** With `key` and `value` absent, `query` holds
//!   `[B, S, (H + 2·H_kv)·d]`; tract's op takes them separate. A `Split` on the last axis into
//!   `H·d`, `H_kv·d`, `H_kv·d` is inserted before the node. The head size `d` comes from the
//!   node's `cos_cache` (`[max_seq, d/2]`, when rotary covers the whole head), or from the width
//!   of the projection feeding `query` (a `MatMulNBits` `N`, or a `MatMul`/`Add` initializer).
//! - **Exact int4 (`Int4::Exact`).** tract runs a 4-bit `MatMulNBits` with `block_size` 32 on its
//!   Q4_0 kernel, which stores each block's scale as f16: the logits drift from onnxruntime's
//!   (which keeps the scales in f32) by ~5e-3 on the bundled int4 Llama. Any other block size is
//!   dequantized to an f32 weight, exactly. The rewrite states each 32-block as two 16-blocks
//!   (same packed bytes, shape `[N, K/16, 8]`; each scale, and each zero point, repeated), which
//!   dequantizes to the very same weights at f32 precision, at the price of f32 weights in memory
//!   (8× the packed bytes). `Int4::Auto` does so while those f32 weights total at most 1 GiB.

use std::collections::{HashMap, HashSet};

use tract_onnx::pb;

/// How 4-bit `MatMulNBits` weights with 32-blocks run in tract (see the module header).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Int4 {
    /// Exact while the dequantized f32 weights total at most [`AUTO_EXACT_LIMIT`] bytes.
    #[default]
    Auto,
    /// f32 scales, f32 weights in memory: the same numbers as onnxruntime.
    Exact,
    /// tract's Q4_0 kernel: int4 in memory, f16-rounded scales.
    Fast,
}

crate::choices!(Int4 {
    "auto" => Int4::Auto; "exact while the f32 weights fit in 1 GiB",
    "exact" => Int4::Exact; "dequantize at f32: onnxruntime's numbers",
    "fast" => Int4::Fast; "tract's int4 kernels (f16-rounded scales)",
});

/// `Int4::Auto` runs exact up to this many bytes of dequantized f32 weights.
pub const AUTO_EXACT_LIMIT: u64 = 1 << 30;

/// What the lowering did.
#[derive(Debug, Default)]
pub struct Lowered {
    pub notes: Vec<String>,
    /// The graph holds ops that tract types only at concrete dims (GroupQueryAttention tells a
    /// prompt from a decode step by its sizes): inputs must be fixed to their actual sizes, and
    /// the model's symbolic `value_info` is then ignored rather than contradicted.
    pub concrete_dims: bool,
}

/// Why a graph cannot be lowered for tract: names the node and what it lacks.
#[derive(Debug, thiserror::Error)]
#[error("node '{node}' ({op}): {reason}")]
pub struct LowerError {
    pub node: String,
    pub op: String,
    pub reason: String,
}

/// Reads `path` with tract's ONNX front end, lowered: what `model_for_path` does, with the
/// rewrites above applied to the protobuf first (external data is read beside `path`).
///
/// `concrete` forces what `Lowered::concrete_dims` says (inputs fixed to numbers, the stored
/// `value_info` ignored) for any graph: the retry when stored shapes contradict the inputs.
pub fn tract_model_for_path(
    path: &std::path::Path,
    int4: Int4,
    concrete: bool,
) -> tract_onnx::prelude::TractResult<(tract_onnx::prelude::InferenceModel, Lowered)> {
    use tract_onnx::prelude::*;
    let mut onnx = tract_onnx::onnx();
    let mut proto = onnx.proto_model_for_path(path)?;
    let mut lowered = lower(&mut proto, int4).map_err(|e| anyhow::anyhow!("{e}"))?;
    lowered.concrete_dims |= concrete;
    if lowered.concrete_dims {
        onnx = onnx.with_ignore_value_info(true);
    }
    let dir = path.parent().and_then(|d| d.to_str());
    let parsed = onnx.parse(&proto, dir)?;
    if !parsed.unresolved_inputs.is_empty() {
        anyhow::bail!(
            "Could not resolve inputs at top-level: {:?}",
            parsed.unresolved_inputs
        )
    }
    Ok((parsed.model, lowered))
}

/// Applies every rewrite to the main graph.
pub fn lower(model: &mut pb::ModelProto, int4: Int4) -> Result<Lowered, LowerError> {
    let mut out = Lowered::default();
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .unwrap_or(1);
    let Some(graph) = model.graph.as_mut() else {
        return Ok(out);
    };
    out.concrete_dims = graph
        .node
        .iter()
        .any(|n| n.op_type == "GroupQueryAttention" && n.domain == "com.microsoft");
    drop_constant_value_info(graph, &mut out);
    crate::model::shapes::drop_trailing_empty_inputs(
        graph.node.iter_mut().map(|n| (&n.op_type, &mut n.input)),
    );
    split_packed_qkv(graph, opset, &mut out)?;
    exact_int4(graph, int4, &mut out);
    Ok(out)
}

fn drop_constant_value_info(graph: &mut pb::GraphProto, out: &mut Lowered) {
    let constants: HashSet<&str> = graph
        .node
        .iter()
        .filter(|n| n.op_type == "Constant" && n.domain.is_empty())
        .flat_map(|n| n.output.iter().map(String::as_str))
        .collect();
    let before = graph.value_info.len();
    let kept: Vec<pb::ValueInfoProto> = graph
        .value_info
        .iter()
        .filter(|v| !constants.contains(v.name.as_str()))
        .cloned()
        .collect();
    let dropped = before - kept.len();
    graph.value_info = kept;
    if dropped > 0 {
        out.notes.push(format!(
            "dropped {dropped} value_info entries of Constant outputs (the constants' own shapes hold)"
        ));
    }
}

fn attr_int(node: &pb::NodeProto, name: &str) -> Option<i64> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

/// The head size of a packed-QKV GroupQueryAttention node, from what the graph states.
fn head_size(
    graph: &pb::GraphProto,
    node: &pb::NodeProto,
    heads: i64,
    kv_heads: i64,
) -> Option<i64> {
    let inits: HashMap<&str, &pb::TensorProto> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let width_to_d = |w: i64| {
        let packed = heads + 2 * kv_heads;
        (w > 0 && w % packed == 0).then_some(w / packed)
    };
    // The projection that produces `query` (through an optional bias Add).
    let mut name = node.input.first()?.as_str();
    for _ in 0..4 {
        let Some(p) = graph
            .node
            .iter()
            .find(|n| n.output.iter().any(|o| o == name))
        else {
            break;
        };
        match p.op_type.as_str() {
            "MatMulNBits" => return attr_int(p, "N").and_then(width_to_d),
            "MatMul" => {
                let w = p.input.get(1).and_then(|w| inits.get(w.as_str()))?;
                return w.dims.last().copied().and_then(width_to_d);
            }
            "Add" => {
                if let Some(b) = p.input.iter().find_map(|i| inits.get(i.as_str())) {
                    if b.dims.len() == 1 {
                        return width_to_d(b.dims[0]);
                    }
                }
                name = p.input.first()?.as_str();
            }
            _ => break,
        }
    }
    // cos_cache is [max_seq, rotary_dim / 2]; tract rejects a partial rotary, so a rotary that
    // covers the whole head is the only form that runs.
    let cos = node.input.get(7).filter(|s| !s.is_empty())?;
    let t = inits.get(cos.as_str())?;
    t.dims.last().map(|half| half * 2)
}

fn split_packed_qkv(
    graph: &mut pb::GraphProto,
    opset: i64,
    out: &mut Lowered,
) -> Result<(), LowerError> {
    let mut inserted: Vec<(usize, pb::NodeProto)> = vec![];
    let mut new_inits = vec![];
    for ix in 0..graph.node.len() {
        let node = &graph.node[ix];
        if node.op_type != "GroupQueryAttention" || node.domain != "com.microsoft" {
            continue;
        }
        let absent = |i: usize| node.input.get(i).is_none_or(|s| s.is_empty());
        if !(absent(1) && absent(2)) {
            continue;
        }
        let err = |reason: &str| LowerError {
            node: node.name.clone(),
            op: node.op_type.clone(),
            reason: reason.to_string(),
        };
        let heads = attr_int(node, "num_heads")
            .filter(|h| *h > 0)
            .ok_or_else(|| err("packed QKV needs a positive num_heads attribute"))?;
        let kv = attr_int(node, "kv_num_heads")
            .filter(|h| *h > 0)
            .ok_or_else(|| err("packed QKV needs a positive kv_num_heads attribute"))?;
        let d = head_size(graph, node, heads, kv).ok_or_else(|| {
            err("packed QKV: the head size cannot be told from the graph (no projection width or cos_cache)")
        })?;
        let base = if node.name.is_empty() {
            format!("gqa{ix}")
        } else {
            node.name.clone()
        };
        let sizes_name = format!("{base}/lowered/qkv_split_sizes");
        let outs: Vec<String> = ["q", "k", "v"]
            .iter()
            .map(|p| format!("{base}/lowered/{p}"))
            .collect();
        let sizes = [heads * d, kv * d, kv * d];
        let mut split = pb::NodeProto {
            name: format!("{base}/lowered/SplitQKV"),
            op_type: "Split".into(),
            input: vec![node.input[0].clone()],
            output: outs.clone(),
            attribute: vec![pb::AttributeProto {
                name: "axis".into(),
                r#type: pb::attribute_proto::AttributeType::Int as i32,
                i: -1,
                ..Default::default()
            }],
            ..Default::default()
        };
        if opset >= 13 {
            split.input.push(sizes_name.clone());
            new_inits.push(pb::TensorProto {
                name: sizes_name,
                dims: vec![3],
                data_type: pb::tensor_proto::DataType::Int64 as i32,
                int64_data: sizes.to_vec(),
                ..Default::default()
            });
        } else {
            split.attribute.push(pb::AttributeProto {
                name: "split".into(),
                r#type: pb::attribute_proto::AttributeType::Ints as i32,
                ints: sizes.to_vec(),
                ..Default::default()
            });
        }
        let node = &mut graph.node[ix];
        while node.input.len() < 3 {
            node.input.push(String::new());
        }
        node.input[..3].clone_from_slice(&outs);
        out.notes.push(format!(
            "{}: packed QKV split into {heads}·{d}, {kv}·{d}, {kv}·{d} for tract",
            node.name
        ));
        inserted.push((ix, split));
    }
    // Each Split goes right before its attention node (topological order preserved).
    for (ix, split) in inserted.into_iter().rev() {
        graph.node.insert(ix, split);
    }
    graph.initializer.extend(new_inits);
    Ok(())
}

/// Bytes of one element of a tensor's type, for the types a scale or zero point takes.
fn elem_bytes(data_type: i32) -> Option<usize> {
    use pb::tensor_proto::DataType as T;
    match T::try_from(data_type).ok()? {
        T::Uint8 | T::Int8 => Some(1),
        T::Float16 | T::Bfloat16 => Some(2),
        T::Float => Some(4),
        _ => None,
    }
}

/// The raw bytes of an inline tensor (raw_data, or float_data for f32).
fn inline_bytes(t: &pb::TensorProto) -> Option<Vec<u8>> {
    if !t.external_data.is_empty() {
        return None;
    }
    if !t.raw_data.is_empty() {
        return Some(t.raw_data.to_vec());
    }
    if t.data_type == pb::tensor_proto::DataType::Float as i32 && !t.float_data.is_empty() {
        return Some(t.float_data.iter().flat_map(|f| f.to_le_bytes()).collect());
    }
    if t.data_type == pb::tensor_proto::DataType::Uint8 as i32 && !t.int32_data.is_empty() {
        return Some(t.int32_data.iter().map(|v| *v as u8).collect());
    }
    None
}

/// Each element of `bytes` (of `size` bytes) twice in a row.
fn repeat_each(bytes: &[u8], size: usize) -> Vec<u8> {
    bytes
        .chunks_exact(size)
        .flat_map(|e| e.iter().chain(e.iter()).copied())
        .collect()
}

/// A 4-bit, 32-block node to restate: its index, its rows (N, or the table's rows) and
/// 32-blocks per row, and whether its weight initializer (MatMulNBits' B) is restated too.
struct Int4Node {
    ix: usize,
    rows: i64,
    blocks: i64,
    weight: bool,
}

fn int4_targets(graph: &pb::GraphProto) -> Vec<Int4Node> {
    let inits: HashMap<&str, &pb::TensorProto> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let mut v = vec![];
    for (ix, n) in graph.node.iter().enumerate() {
        if n.domain != "com.microsoft"
            || attr_int(n, "bits").unwrap_or(4) != 4
            || attr_int(n, "block_size") != Some(32)
        {
            continue;
        }
        match n.op_type.as_str() {
            "MatMulNBits" => {
                let (Some(k), Some(rows)) = (attr_int(n, "K"), attr_int(n, "N")) else {
                    continue;
                };
                // g_idx or bias: left as they are.
                let extra = n.input.iter().skip(4).any(|s| !s.is_empty());
                if k > 0 && rows > 0 && k % 32 == 0 && !extra {
                    v.push(Int4Node {
                        ix,
                        rows,
                        blocks: k / 32,
                        weight: true,
                    });
                }
            }
            "GatherBlockQuantized" => {
                // Scales [rows, blocks], quantized along the last axis.
                let scales = n.input.get(2).and_then(|s| inits.get(s.as_str()));
                if let Some(t) = scales.filter(|t| t.dims.len() == 2) {
                    if attr_int(n, "quantize_axis").is_none_or(|a| a == 1 || a == -1) {
                        v.push(Int4Node {
                            ix,
                            rows: t.dims[0],
                            blocks: t.dims[1],
                            weight: false,
                        });
                    }
                }
            }
            _ => {}
        }
    }
    v
}

fn exact_int4(graph: &mut pb::GraphProto, mode: Int4, out: &mut Lowered) {
    if mode == Int4::Fast {
        return;
    }
    let targets = int4_targets(graph);
    if targets.is_empty() {
        return;
    }
    // MatMulNBits widen to f32 weights; a gathered table stays 4-bit either way.
    let f32_bytes: u64 = targets
        .iter()
        .filter(|t| t.weight)
        .map(|t| (t.rows * t.blocks * 32 * 4) as u64)
        .sum();
    if mode == Int4::Auto && f32_bytes > AUTO_EXACT_LIMIT {
        out.notes.push(format!(
            "int4: {} nodes run on tract's Q4_0 kernels (f16-rounded scales; outputs may drift \
             ~1e-3 from onnxruntime): exact f32 weights would take {f32_bytes} bytes; \
             --int4 exact forces them",
            targets.len()
        ));
        return;
    }
    let mut done = 0;
    for t in &targets {
        if restate_16(graph, t) {
            done += 1;
        }
    }
    if done > 0 {
        out.notes.push(format!(
            "int4: {done} nodes with 32-blocks restated as 16-blocks so that tract dequantizes \
             them at f32 precision ({f32_bytes} bytes of f32 weights)"
        ));
    }
}

/// Restates one node's 32-blocks as 16-blocks; false (and nothing changed) when its tensors
/// are not inline initializers of the expected sizes.
fn restate_16(graph: &mut pb::GraphProto, t: &Int4Node) -> bool {
    let node = &graph.node[t.ix];
    let name_of = |i: usize| node.input.get(i).filter(|s| !s.is_empty()).cloned();
    let find = |name: &str| graph.initializer.iter().position(|i| i.name == name);
    let Some(si) = name_of(2).and_then(|n| find(&n)) else {
        return false;
    };
    let wi = if t.weight {
        match name_of(1).and_then(|n| find(&n)) {
            Some(wi) if graph.initializer[wi].dims == [t.rows, t.blocks, 16] => Some(wi),
            _ => return false,
        }
    } else {
        None
    };
    let (rows, blocks) = (t.rows as usize, t.blocks as usize);
    let st = &graph.initializer[si];
    let (Some(s_size), Some(s_bytes)) = (elem_bytes(st.data_type), inline_bytes(st)) else {
        return false;
    };
    if s_bytes.len() != rows * blocks * s_size {
        return false;
    }
    // Zero points: packed uint8 [rows, ceil(blocks/2)] (two 4-bit values a byte, low nibble
    // first), or one element per block in the scales' type.
    let zp = match name_of(3) {
        None => None,
        Some(z) => {
            let Some(zi) = find(&z) else { return false };
            let zt = &graph.initializer[zi];
            let Some(zb) = inline_bytes(zt) else {
                return false;
            };
            if zt.data_type == pb::tensor_proto::DataType::Uint8 as i32 {
                let per_row = blocks.div_ceil(2);
                if zb.len() != rows * per_row {
                    return false;
                }
                // Old block j becomes new blocks 2j and 2j+1: one byte z | z << 4.
                let mut v = Vec::with_capacity(rows * blocks);
                for row in zb.chunks_exact(per_row) {
                    for j in 0..blocks {
                        let z = (row[j / 2] >> (4 * (j % 2))) & 0x0f;
                        v.push(z | (z << 4));
                    }
                }
                Some((zi, v))
            } else {
                let Some(z_size) = elem_bytes(zt.data_type) else {
                    return false;
                };
                if zb.len() != rows * blocks * z_size {
                    return false;
                }
                Some((zi, repeat_each(&zb, z_size)))
            }
        }
    };
    // The restated tensors get names of their own: another node may read the originals (a
    // tied embedding's GatherBlockQuantized reads the LM head's weight and scales).
    let (r, b2) = (t.rows, 2 * t.blocks);
    let mut restated = |ix: usize, dims: Vec<i64>, bytes: Option<Vec<u8>>| {
        let mut c = graph.initializer[ix].clone();
        c.name = format!("{}/exact_int4", c.name);
        c.dims = dims;
        if let Some(b) = bytes {
            c.raw_data = b;
            c.float_data.clear();
            c.int32_data.clear();
        }
        let name = c.name.clone();
        graph.initializer.push(c);
        name
    };
    let w_name = wi.map(|wi| restated(wi, vec![r, b2, 8], None));
    let s_name = restated(si, vec![r, b2], Some(repeat_each(&s_bytes, s_size)));
    let z_name = zp.map(|(zi, bytes)| restated(zi, vec![r, b2], Some(bytes)));
    let node = &mut graph.node[t.ix];
    if let Some(w) = w_name {
        node.input[1] = w;
    }
    node.input[2] = s_name;
    if let Some(z) = z_name {
        node.input[3] = z;
    }
    for a in node.attribute.iter_mut() {
        if a.name == "block_size" {
            a.i = 16;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gqa(inputs: &[&str]) -> pb::NodeProto {
        pb::NodeProto {
            name: "attn".into(),
            op_type: "GroupQueryAttention".into(),
            domain: "com.microsoft".into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec!["o".into(), "pk".into(), "pv".into()],
            attribute: vec![
                pb::AttributeProto {
                    name: "num_heads".into(),
                    i: 4,
                    ..Default::default()
                },
                pb::AttributeProto {
                    name: "kv_num_heads".into(),
                    i: 2,
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    fn model(nodes: Vec<pb::NodeProto>, inits: Vec<pb::TensorProto>) -> pb::ModelProto {
        pb::ModelProto {
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: 21,
            }],
            graph: Some(pb::GraphProto {
                node: nodes,
                initializer: inits,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn packed_qkv_is_split_by_projection_width() {
        // MatMulNBits N = (4 + 2·2)·16 = 128 → d = 16; sizes 64, 32, 32.
        let proj = pb::NodeProto {
            op_type: "MatMulNBits".into(),
            domain: "com.microsoft".into(),
            input: vec!["x".into(), "w".into(), "s".into()],
            output: vec!["qkv".into()],
            attribute: vec![pb::AttributeProto {
                name: "N".into(),
                i: 128,
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut m = model(vec![proj, gqa(&["qkv", "", "", "pk_in", "pv_in"])], vec![]);
        let l = lower(&mut m, Int4::Auto).unwrap();
        let g = m.graph.unwrap();
        assert_eq!(l.notes.len(), 1);
        let split = &g.node[1];
        assert_eq!(split.op_type, "Split");
        assert_eq!(split.input[0], "qkv");
        let sizes = g
            .initializer
            .iter()
            .find(|t| t.name == split.input[1])
            .unwrap();
        assert_eq!(sizes.int64_data, vec![4 * 16, 2 * 16, 2 * 16]);
        assert_eq!(g.node[2].input[..3], split.output[..]);
        assert_eq!(g.node[2].input[3], "pk_in");
    }

    #[test]
    fn packed_qkv_without_width_is_an_error_naming_the_node() {
        let mut m = model(vec![gqa(&["qkv_from_input"])], vec![]);
        let e = lower(&mut m, Int4::Auto).unwrap_err();
        assert_eq!(e.node, "attn");
        assert!(e.reason.contains("head size"), "{e}");
    }

    #[test]
    fn separate_qkv_is_left_alone() {
        let mut m = model(vec![gqa(&["q", "k", "v"])], vec![]);
        let l = lower(&mut m, Int4::Auto).unwrap();
        assert!(l.notes.is_empty());
        assert_eq!(m.graph.unwrap().node.len(), 1);
    }

    #[test]
    fn constant_value_info_is_dropped() {
        let c = pb::NodeProto {
            op_type: "Constant".into(),
            output: vec!["c".into()],
            ..Default::default()
        };
        let mut m = model(vec![c], vec![]);
        let g = m.graph.as_mut().unwrap();
        for n in ["c", "other"] {
            g.value_info.push(pb::ValueInfoProto {
                name: n.into(),
                ..Default::default()
            });
        }
        lower(&mut m, Int4::Auto).unwrap();
        let names: Vec<_> = m
            .graph
            .unwrap()
            .value_info
            .into_iter()
            .map(|v| v.name)
            .collect();
        assert_eq!(names, vec!["other".to_string()]);
    }
}
