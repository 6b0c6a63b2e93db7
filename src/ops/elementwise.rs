//! Element-wise ops: a fixed number of operations per output element. Primitive math
//! (add, multiply, compare, exp, log, sqrt, erf, tanh, sin, …) counts 1; composite activations
//! count the primitives of their definition:
//!
//! | op | per element | definition |
//! |---|---|---|
//! | Add Sub Mul Div Pow Mod Max/Min/Sum (k inputs: k − 1) Mean (k inputs: k) | 1 | |
//! | comparisons, logic, Relu, Abs, Neg, Sign, Floor, Ceil, Round, Not | 1 | |
//! | Exp Log Sqrt Reciprocal Erf Tanh Sin Cos Tan and inverse/hyperbolic variants | 1 | |
//! | Clip | 2 | max, min |
//! | LeakyRelu, PRelu, ThresholdedRelu | 2 | compare, multiply |
//! | Elu, Celu | 4 | compare, exp, subtract, multiply |
//! | Selu | 5 | Elu + scale |
//! | Sigmoid | 4 | negate, exp, add 1, divide |
//! | HardSigmoid | 4 | multiply, add, min, max |
//! | HardSwish | 5 | HardSigmoid + multiply |
//! | Softplus | 3 | exp, add 1, log |
//! | Softsign | 3 | abs, add 1, divide |
//! | Mish | 5 | Softplus, tanh, multiply |
//! | Gelu (erf), com.microsoft Gelu | 5 | divide by √2, erf, add 1, multiply, multiply by ½ |
//! | Gelu (tanh approximation), FastGelu | 9 | x³, ·0.044715, add, ·√(2/π), tanh, add 1, two multiplies |
//! | Swish / SiLU (com.microsoft QuickGelu) | 5 | Sigmoid + multiply |
//! | Where | 1 | select |

use super::{CostCtx, OpCost, Rule, RuleResult};

/// Operations per output element of an element-wise op.
pub fn per_element(op: &str) -> Option<i128> {
    Some(match op {
        "Add" | "Sub" | "Mul" | "Div" | "Pow" | "Mod" | "BitShift" | "And" | "Or" | "Xor"
        | "Equal" | "Less" | "Greater" | "LessOrEqual" | "GreaterOrEqual" | "Where"
        | "BitwiseAnd" | "BitwiseOr" | "BitwiseXor" | "BitwiseNot" | "Relu" | "Abs" | "Neg"
        | "Sign" | "Floor" | "Ceil" | "Round" | "Not" | "IsNaN" | "IsInf" | "Exp" | "Log"
        | "Sqrt" | "Reciprocal" | "Erf" | "Tanh" | "Sin" | "Cos" | "Tan" | "Asin" | "Acos"
        | "Atan" | "Sinh" | "Cosh" | "Asinh" | "Acosh" | "Atanh" => 1,
        "Clip" | "LeakyRelu" | "PRelu" | "ThresholdedRelu" | "Shrink" => 2,
        "Elu" | "Celu" | "Sigmoid" | "HardSigmoid" => 4,
        "Selu" | "HardSwish" | "Mish" | "Swish" | "QuickGelu" => 5,
        "Softplus" | "Softsign" => 3,
        "Gelu" | "BiasGelu" => 5,
        "FastGelu" => 9,
        _ => return None,
    })
}

fn elementwise(c: &CostCtx) -> RuleResult {
    let op = c.node.op_type.as_str();
    let mut k = per_element(op).unwrap_or(1);
    if op == "Gelu" && c.attrs.string("approximate")?.as_deref() == Some("tanh") {
        k = 9;
    }
    if op == "BiasGelu" {
        k += 1;
    }
    Ok(c.out_elems(0).map(|e| OpCost::flops(&e * k)))
}

/// Variadic Max/Min/Sum: k − 1 per element; Mean: k (k − 1 adds and a divide).
fn variadic(c: &CostCtx) -> RuleResult {
    let k = c.inputs.iter().flatten().count() as i128;
    let per = if c.node.op_type == "Mean" {
        k
    } else {
        (k - 1).max(0)
    };
    Ok(c.out_elems(0).map(|e| OpCost::flops(&e * per)))
}

pub fn rule(op: &str) -> Option<Rule> {
    if matches!(op, "Max" | "Min" | "Sum" | "Mean") {
        return Some(variadic);
    }
    per_element(op).map(|_| elementwise as Rule)
}

pub fn ms_rule(op: &str) -> Option<Rule> {
    matches!(op, "Gelu" | "FastGelu" | "BiasGelu" | "QuickGelu").then_some(elementwise as Rule)
}
