//! Ops that move, select or re-type data without arithmetic: 0 FLOPs, listed in the report.
//! Also the quantization casts: QuantizeLinear = 3 per element (divide, round-and-add zero
//! point, saturate), DequantizeLinear = 2 per element (subtract zero point, multiply),
//! DynamicQuantizeLinear = 5 per element (min, max, divide, round-and-add, saturate).
//! TopK and NonMaxSuppression are data-dependent: 1 per input element, a floor.

use super::{CostCtx, OpCost, Rule, RuleResult};

pub const ZERO_COST: &[&str] = &[
    "Reshape",
    "Flatten",
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Concat",
    "Split",
    "Slice",
    "Gather",
    "GatherElements",
    "GatherND",
    "Scatter",
    "ScatterElements",
    "ScatterND",
    "Shape",
    "Size",
    "Cast",
    "CastLike",
    "Identity",
    "Dropout",
    "Constant",
    "ConstantOfShape",
    "Expand",
    "Tile",
    "Pad",
    "DepthToSpace",
    "SpaceToDepth",
    "Range",
    "NonZero",
    "OneHot",
    "EyeLike",
    "Optional",
    "OptionalGetElement",
    "OptionalHasElement",
    "SequenceAt",
    "SequenceConstruct",
    "SequenceEmpty",
    "SequenceInsert",
    "SequenceLength",
    "SplitToSequence",
    "ConcatFromSequence",
    "ReverseSequence",
    "Compress",
    "Trilu",
    "RandomNormal",
    "RandomUniform",
    "RandomNormalLike",
    "RandomUniformLike",
    "Multinomial",
    "Bernoulli",
    "CenterCropPad",
    "Col2Im",
    "Unique",
];

fn zero(_: &CostCtx) -> RuleResult {
    Ok(Ok(OpCost::zero()))
}

fn per_out(k: i128) -> impl Fn(&CostCtx) -> RuleResult {
    move |c: &CostCtx| Ok(c.out_elems(0).map(|e| OpCost::flops(&e * k)))
}

fn quantize(c: &CostCtx) -> RuleResult {
    per_out(3)(c)
}
fn dequantize(c: &CostCtx) -> RuleResult {
    per_out(2)(c)
}
fn dyn_quantize(c: &CostCtx) -> RuleResult {
    per_out(5)(c)
}
fn nonzero_elements(c: &CostCtx) -> RuleResult {
    // TopK and NonMaxSuppression are data-dependent: one comparison per input element, a floor.
    Ok(c.in_elems(0).map(|e| OpCost::flops(&e * 1)))
}

pub fn rule(op: &str) -> Option<Rule> {
    if ZERO_COST.contains(&op) {
        return Some(zero);
    }
    Some(match op {
        "QuantizeLinear" => quantize,
        "DequantizeLinear" => dequantize,
        "DynamicQuantizeLinear" => dyn_quantize,
        "TopK" | "NonMaxSuppression" => nonzero_elements,
        _ => return None,
    })
}
