//! What tract must never see: nodes whose attributes or inputs fall outside what tract-onnx's
//! parsers and inference rules index without checking. Found by reading tract-onnx/tract-hir
//! 0.23.9 and running hand-made hostile models: a Transpose `perm` with a repeated axis exhausts
//! memory (the process is killed); missing required inputs, short `kernel_shape`/`pads`/
//! `strides`/`dilations`/`output_padding`/`output_shape`, out-of-range `axis`/`axes`/`perm`,
//! zero strides, steps or block sizes, a Split without outputs, a Scan with more scan inputs
//! than inputs, rank-0 MatMul operands, a Range delta of 0, a Trilu below rank 2, GatherND
//! indices that do not fit, and negative padded, expanded, tiled, resized or constant-of-shape
//! sizes panic inside its analysis or evaluation (some only in debug builds: in a release build
//! the same arithmetic wraps, and a wrapped size asks for an allocation that aborts the
//! process). A node caught here keeps tract away from the model (`profile` uses its own shape
//! rules and says why; `run` refuses in one line). Only what is known is checked: an unknown
//! rank or value passes.

use crate::model::attr::Attrs;
use crate::model::graph::Node;
use crate::model::shapes::TensorFacts;

/// More elements than any tensor tract is asked to build may hold.
const MAX_ELEMENTS: i64 = 1 << 48;

/// Why tract must not see `node`, from its attributes and what is known of its inputs.
pub fn malformed(node: &Node, inputs: &[Option<&TensorFacts>]) -> Option<String> {
    if !(node.domain.is_empty() || node.domain == "ai.onnx") {
        return None;
    }
    let attrs = Attrs::new(&node.attributes, Default::default());
    let int = |name: &str| attrs.int(name).ok().flatten();
    let ints = |name: &str| attrs.ints(name).ok().flatten();
    let fact = |k: usize| inputs.get(k).copied().flatten();
    let rank_of = |k: usize| {
        fact(k)
            .and_then(|f| f.shape.as_ref())
            .map(|s| s.len() as i64)
    };
    let values = |k: usize| {
        fact(k)
            .and_then(|f| f.value.as_ref())
            .and_then(|v| v.concrete())
    };
    let rank = rank_of(0);
    let op = node.op_type.as_str();
    // tract's parsers take their required inputs by index
    let need = least_inputs(op);
    if node.inputs.len() < need {
        return Some(format!(
            "{} inputs; {op} takes at least {need}",
            node.inputs.len()
        ));
    }
    if let Some(k) = node.inputs[..need].iter().position(Option::is_none) {
        return Some(format!("required input {k} is missing"));
    }
    // an axis must lie in [-r, r) (`extra` widens it: Flatten r + 1, OneHot and Unsqueeze more)
    let axis_ok = |a: i64, r: i64, extra: i64| (-(r + extra)..r + extra).contains(&a);
    let bad_axis = |what: &str, a: i64, r: i64| {
        Some(format!(
            "{what} {a} is out of range for an input of rank {r}"
        ))
    };

    // the axis an op takes when its attribute is absent (a scalar input has none)
    let default_axis = match op {
        "Gather" | "GatherElements" | "Split" | "ArgMax" | "ArgMin" | "ScatterElements" => Some(0),
        super::norm::SOFTMAX
        | "LogSoftmax"
        | "Hardmax"
        | super::reduce::TOPK
        | super::norm::LAYER_NORMALIZATION => Some(-1),
        "Flatten" => Some(1),
        _ => None,
    };
    let axis = int("axis").or(default_axis);
    match op {
        "Gather"
        | "GatherElements"
        | "Concat"
        | "Split"
        | super::norm::SOFTMAX
        | "LogSoftmax"
        | "Hardmax"
        | "ArgMax"
        | "ArgMin"
        | super::reduce::TOPK
        | "ScatterElements"
        | "Compress"
        | super::norm::LAYER_NORMALIZATION
        | "QuantizeLinear"
        | "DequantizeLinear" => {
            if let (Some(a), Some(r)) = (axis, rank) {
                if !(axis_ok(a, r, 0) || (op == "Compress" && r == 0)) {
                    return bad_axis("axis", a, r);
                }
            }
        }
        "Flatten" => {
            if let (Some(a), Some(r)) = (axis, rank) {
                if !(-r..=r).contains(&a) {
                    return bad_axis("axis", a, r);
                }
            }
        }
        "OneHot" => {
            if let (Some(a), Some(r)) = (int("axis"), rank) {
                if !axis_ok(a, r, 1) {
                    return bad_axis("axis", a, r);
                }
            }
        }
        _ => {}
    }
    if op == "Concat" {
        let ranks: Vec<i64> = (0..inputs.len()).filter_map(rank_of).collect();
        if inputs.is_empty() {
            return Some("Concat has no inputs".into());
        }
        if ranks.windows(2).any(|w| w[0] != w[1]) {
            return Some(format!("Concat inputs differ in rank ({ranks:?})"));
        }
    }
    if op.starts_with("Reduce") || op == "Squeeze" || op == "Unsqueeze" {
        let axes = ints("axes").map(<[i64]>::to_vec).or_else(|| values(1));
        if let (Some(axes), Some(r)) = (axes, rank) {
            let r = if op == "Unsqueeze" {
                r + axes.len() as i64
            } else {
                r
            };
            if let Some(a) = axes.iter().find(|a| !axis_ok(**a, r, 0)) {
                return bad_axis("axes value", *a, r);
            }
            let mut norm: Vec<i64> = axes
                .iter()
                .map(|a| if *a < 0 { a + r } else { *a })
                .collect();
            norm.sort_unstable();
            if norm.windows(2).any(|w| w[0] == w[1]) {
                return Some(format!("axes {axes:?} repeat an axis"));
            }
        }
    }
    match op {
        "Transpose" => {
            if let Some(perm) = ints("perm") {
                let mut seen = perm.to_vec();
                seen.sort_unstable();
                let n = rank.unwrap_or(perm.len() as i64);
                if perm.len() as i64 != n || seen.iter().enumerate().any(|(i, p)| *p != i as i64) {
                    return Some(format!(
                        "perm {perm:?} is not a permutation of the {n} axes of its input"
                    ));
                }
            }
        }
        "Conv"
        | "ConvInteger"
        | super::conv::QLINEAR_CONV
        | super::conv::CONV_TRANSPOSE
        | "MaxPool"
        | "AveragePool"
        | "LpPool" => {
            let r = rank?;
            let spatial = (r - 2).max(0) as usize;
            let pool = op.ends_with("Pool");
            if pool && ints("kernel_shape").is_none() {
                return Some(format!("{op} has no kernel_shape"));
            }
            for (name, len) in [
                ("kernel_shape", spatial),
                ("strides", spatial),
                ("dilations", spatial),
                ("output_padding", spatial),
                ("pads", 2 * spatial),
                ("output_shape", spatial),
            ] {
                if let Some(v) = ints(name) {
                    if v.len() != len {
                        return Some(format!(
                            "{name} has {} values; an input of rank {r} needs {len}",
                            v.len()
                        ));
                    }
                    let positive = matches!(name, "kernel_shape" | "strides" | "dilations");
                    if positive && v.iter().any(|x| *x <= 0) {
                        return Some(format!("{name} {v:?} must be positive"));
                    }
                }
            }
            if int("group").is_some_and(|g| g <= 0) {
                return Some("group must be positive".into());
            }
            // QLinearConv's weight is input 3
            let w = if op == super::conv::QLINEAR_CONV {
                3
            } else {
                1
            };
            if !pool {
                if let Some(wr) = rank_of(w) {
                    if wr != r {
                        return Some(format!("the weight has rank {wr}, the input rank {r}"));
                    }
                }
            }
        }
        "DepthToSpace" | "SpaceToDepth" => {
            if int("blocksize").is_none_or(|b| b <= 0) {
                return Some("blocksize must be positive".into());
            }
            if let Some(r) = rank.filter(|r| *r != 4) {
                return Some(format!("input has rank {r}; {op} is defined for rank 4"));
            }
        }
        "Slice" => {
            if let (Some(axes), Some(r)) = (values(3), rank) {
                if let Some(a) = axes.iter().find(|a| !axis_ok(**a, r, 0)) {
                    return bad_axis("axes value", *a, r);
                }
            }
            if values(4).is_some_and(|s| s.contains(&0)) {
                return Some("a step of 0".into());
            }
            let lens: Vec<usize> = (1..inputs.len().min(5))
                .filter_map(|k| values(k).map(|v| v.len()))
                .collect();
            if lens.windows(2).any(|w| w[0] != w[1]) {
                return Some("starts, ends, axes and steps differ in length".into());
            }
        }
        "Split" if node.outputs.is_empty() => return Some("Split has no outputs".into()),
        "Scan" => {
            let n = int("num_scan_inputs").unwrap_or(0);
            if n < 0 || n as usize > node.inputs.len() {
                return Some(format!(
                    "num_scan_inputs {n} with {} inputs",
                    node.inputs.len()
                ));
            }
        }
        "LRN" => {
            if let Some(r) = rank.filter(|r| *r < 2) {
                return Some(format!("input has rank {r}; LRN is defined from rank 2 on"));
            }
        }
        "MatMul" | "MatMulInteger" | "QLinearMatMul" => {
            let b = if op == "QLinearMatMul" { 3 } else { 1 };
            if rank == Some(0) || rank_of(b) == Some(0) {
                return Some("a rank-0 operand".into());
            }
        }
        "Pad" => {
            let pads = ints("pads").map(<[i64]>::to_vec).or_else(|| values(1));
            let shape = fact(0).and_then(|f| f.shape.as_ref());
            if let (Some(pads), Some(shape)) = (pads, shape) {
                if node.inputs.get(3).copied().flatten().is_none() {
                    if pads.len() != 2 * shape.len() {
                        return Some(format!(
                            "pads has {} values; an input of rank {} needs {}",
                            pads.len(),
                            shape.len(),
                            2 * shape.len()
                        ));
                    }
                    let r = shape.len();
                    for (k, d) in shape.iter().enumerate() {
                        if let Some(d) = d.as_int() {
                            if d + (pads[k] as i128) + (pads[k + r] as i128) < 0 {
                                return Some(format!("pads {pads:?} leave axis {k} negative"));
                            }
                        }
                    }
                }
            }
        }
        "Range" => {
            let delta = fact(2)
                .and_then(|f| f.value.as_ref())
                .and_then(|v| v.floats());
            if delta.is_some_and(|d| d.contains(&0.0)) {
                return Some("a delta of 0".into());
            }
        }
        "Trilu" => {
            if let Some(r) = rank.filter(|r| *r < 2) {
                return Some(format!(
                    "input has rank {r}; Trilu is defined from rank 2 on"
                ));
            }
        }
        super::shape_ops::GATHER_ND => {
            if let Some(ri) = rank_of(1) {
                let b = int("batch_dims").unwrap_or(0);
                if ri < 1 || b < 0 || b >= ri || rank.is_some_and(|r| b >= r) {
                    return Some(format!(
                        "indices of rank {ri} with batch_dims {b} do not fit the data"
                    ));
                }
            }
        }
        "DFT" => {
            if let (Some(a), Some(r)) = (int("axis"), rank) {
                if !axis_ok(a, r, 0) {
                    return bad_axis("axis", a, r);
                }
            }
        }
        "Expand" | "Tile" | super::pool::RESIZE | "Upsample" => {
            // a target shape, repeats or sizes below 0 (Resize sizes are input 3)
            let k = if op == super::pool::RESIZE { 3 } else { 1 };
            if op != "Upsample" && values(k).is_some_and(|v| v.iter().any(|d| *d < 0)) {
                return Some("a negative size".into());
            }
        }
        "ConstantOfShape" => {
            if let Some(v) = values(0) {
                if v.iter().any(|d| *d < 0) {
                    return Some("a negative size".into());
                }
                // tract's shape arithmetic is 64-bit: a product near the top wraps
                let elements = v.iter().try_fold(1i64, |acc, d| acc.checked_mul(*d));
                if elements.is_none_or(|n| n > MAX_ELEMENTS) {
                    return Some(format!("shape {v:?} holds more than 2^48 elements"));
                }
            }
        }
        _ => {}
    }
    None
}

/// The inputs an op of the ONNX domain cannot do without (the ones tract's parsers index);
/// ops whose inputs depend on the opset (Pad, Slice, Unsqueeze, …) ask for one.
fn least_inputs(op: &str) -> usize {
    match op {
        "Constant" | "RandomNormal" | "RandomUniform" | "SequenceEmpty" | "Optional" | "Loop" => 0,
        "Add"
        | "Sub"
        | "Mul"
        | "Div"
        | "Pow"
        | "Mod"
        | "Equal"
        | "Less"
        | "Greater"
        | "LessOrEqual"
        | "GreaterOrEqual"
        | "And"
        | "Or"
        | "Xor"
        | "BitShift"
        | "MatMul"
        | "MatMulInteger"
        | "Gemm"
        | "Conv"
        | super::conv::CONV_TRANSPOSE
        | "ConvInteger"
        | "Reshape"
        | "Gather"
        | "GatherElements"
        | super::shape_ops::GATHER_ND
        | "Expand"
        | "Tile"
        | "PRelu"
        | super::reduce::TOPK
        | "Compress"
        | super::norm::LAYER_NORMALIZATION
        | "QuantizeLinear"
        | "DequantizeLinear"
        | "CumSum"
        | "NonMaxSuppression" => 2,
        super::elementwise::WHERE
        | super::norm::INSTANCE_NORMALIZATION
        | super::rnn::LSTM
        | "GRU"
        | "RNN"
        | "ScatterElements"
        | "ScatterND"
        | "Scatter"
        | "Range"
        | "OneHot"
        | "RoiAlign" => 3,
        "BatchNormalization" => 5,
        super::conv::QLINEAR_CONV | "QLinearMatMul" => 8,
        _ => 1,
    }
}
