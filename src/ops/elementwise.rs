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
//! | com.microsoft FastGelu with its bias input | 10 | the bias add, then 9 |
//! | com.microsoft BiasGelu | 6 | the bias add, then Gelu (erf) |
//! | com.microsoft BiasAdd | 2 | add bias, add skip |
//! | com.microsoft BiasSplitGelu, per output element (D/2 of D) | 8 | 2 bias adds (both halves), Gelu (erf) 5, multiply |
//! | Swish / SiLU (com.microsoft QuickGelu) | 5 | Sigmoid + multiply |
//! | SwiGLU (A, B) | 6 | Swish of the gate A (5), multiply by B |
//! | Where | 1 | select |
//!
//! Shapes: unary ops keep their input's shape and type (Not, IsNaN, IsInf give bool); binary
//! and variadic ops broadcast their inputs (numpy rules), comparisons and logic give bool,
//! Where takes its type from X; BiasSplitGelu halves the last dim. Small integer values are computed through Add, Sub, Mul, Div,
//! Mod (fmod = 0), the comparisons and Where, so shape arithmetic reaches Reshape targets.
//! Fused ops name their activation by op type: `activation_per_element` gives its constant
//! from this table. Control inputs: Clip's min and max (bounds, not parameters).

/// The op type, named once (the tract screen matches on it too).
pub const WHERE: &str = "Where";

use super::common::{broadcast, same_shape, same_shape_bool};
use super::{one, Control, CostCtx, OpCost, OpDef, Registry, RuleResult, ShapeCtx, ShapeResult};
use crate::model::proto::data_type as dt;
use crate::model::values::Value;
use crate::sym::Count;

pub fn register(r: &mut Registry) {
    // binary, broadcasting
    r.onnx("Add", OpDef::new(arith_shape, per_element::<1>));
    r.onnx("Sub", OpDef::new(arith_shape, per_element::<1>));
    r.onnx("Mul", OpDef::new(arith_shape, per_element::<1>));
    r.onnx("Div", OpDef::new(arith_shape, per_element::<1>));
    r.onnx("Pow", OpDef::new(arith_shape, per_element::<1>));
    r.onnx("Mod", OpDef::new(arith_shape, per_element::<1>));
    r.onnx("BitShift", OpDef::new(arith_shape, per_element::<1>));
    r.onnx("BitwiseAnd", OpDef::new(arith_shape, per_element::<1>));
    r.onnx("BitwiseOr", OpDef::new(arith_shape, per_element::<1>));
    r.onnx("BitwiseXor", OpDef::new(arith_shape, per_element::<1>));
    r.onnx("And", OpDef::new(compare_shape, per_element::<1>));
    r.onnx("Or", OpDef::new(compare_shape, per_element::<1>));
    r.onnx("Xor", OpDef::new(compare_shape, per_element::<1>));
    r.onnx("Equal", OpDef::new(compare_shape, per_element::<1>));
    r.onnx("Less", OpDef::new(compare_shape, per_element::<1>));
    r.onnx("Greater", OpDef::new(compare_shape, per_element::<1>));
    r.onnx("LessOrEqual", OpDef::new(compare_shape, per_element::<1>));
    r.onnx("GreaterOrEqual", OpDef::new(compare_shape, per_element::<1>));
    r.onnx(WHERE, OpDef::new(where_shape, per_element::<1>));
    // variadic
    r.onnx("Max", OpDef::new(arith_shape, variadic));
    r.onnx("Min", OpDef::new(arith_shape, variadic));
    r.onnx("Sum", OpDef::new(arith_shape, variadic));
    r.onnx("Mean", OpDef::new(arith_shape, variadic));
    // unary, 1 per element
    r.onnx("BitwiseNot", OpDef::new(same_shape, per_element::<1>));
    r.onnx("Not", OpDef::new(same_shape_bool, per_element::<1>));
    r.onnx("IsNaN", OpDef::new(same_shape_bool, per_element::<1>));
    r.onnx("IsInf", OpDef::new(same_shape_bool, per_element::<1>));
    r.onnx(RELU, OpDef::new(same_shape, per_element::<1>));
    r.onnx("Abs", OpDef::new(same_shape, per_element::<1>));
    r.onnx("Neg", OpDef::new(same_shape, per_element::<1>));
    r.onnx("Sign", OpDef::new(same_shape, per_element::<1>));
    r.onnx("Floor", OpDef::new(same_shape, per_element::<1>));
    r.onnx("Ceil", OpDef::new(same_shape, per_element::<1>));
    r.onnx("Round", OpDef::new(same_shape, per_element::<1>));
    r.onnx("Exp", OpDef::new(same_shape, per_element::<1>));
    r.onnx("Log", OpDef::new(same_shape, per_element::<1>));
    r.onnx("Sqrt", OpDef::new(same_shape, per_element::<1>));
    r.onnx("Reciprocal", OpDef::new(same_shape, per_element::<1>));
    r.onnx("Erf", OpDef::new(same_shape, per_element::<1>));
    r.onnx("Tanh", OpDef::new(same_shape, per_element::<1>));
    r.onnx("Sin", OpDef::new(same_shape, per_element::<1>));
    r.onnx("Cos", OpDef::new(same_shape, per_element::<1>));
    r.onnx("Tan", OpDef::new(same_shape, per_element::<1>));
    r.onnx("Asin", OpDef::new(same_shape, per_element::<1>));
    r.onnx("Acos", OpDef::new(same_shape, per_element::<1>));
    r.onnx("Atan", OpDef::new(same_shape, per_element::<1>));
    r.onnx("Sinh", OpDef::new(same_shape, per_element::<1>));
    r.onnx("Cosh", OpDef::new(same_shape, per_element::<1>));
    r.onnx("Asinh", OpDef::new(same_shape, per_element::<1>));
    r.onnx("Acosh", OpDef::new(same_shape, per_element::<1>));
    r.onnx("Atanh", OpDef::new(same_shape, per_element::<1>));
    // composite activations
    r.onnx(
        "Clip",
        OpDef::new(same_shape, per_element::<2>).control(Control::From(1)),
    );
    r.onnx("LeakyRelu", OpDef::new(same_shape, per_element::<2>));
    r.onnx("PRelu", OpDef::new(same_shape, per_element::<2>));
    r.onnx("ThresholdedRelu", OpDef::new(same_shape, per_element::<2>));
    r.onnx("Shrink", OpDef::new(same_shape, per_element::<2>));
    r.onnx("Softplus", OpDef::new(same_shape, per_element::<3>));
    r.onnx("Softsign", OpDef::new(same_shape, per_element::<3>));
    r.onnx("Elu", OpDef::new(same_shape, per_element::<4>));
    r.onnx("Celu", OpDef::new(same_shape, per_element::<4>));
    r.onnx("Sigmoid", OpDef::new(same_shape, per_element::<4>));
    r.onnx("HardSigmoid", OpDef::new(same_shape, per_element::<4>));
    r.onnx("Selu", OpDef::new(same_shape, per_element::<5>));
    r.onnx("HardSwish", OpDef::new(same_shape, per_element::<5>));
    r.onnx("Mish", OpDef::new(same_shape, per_element::<5>));
    r.onnx("Swish", OpDef::new(same_shape, per_element::<5>));
    r.onnx("SwiGLU", OpDef::new(same_shape, per_element::<6>));
    r.onnx("Gelu", OpDef::new(same_shape, gelu));
    r.microsoft("Gelu", OpDef::new(same_shape, per_element::<5>));
    r.microsoft("BiasGelu", OpDef::new(same_shape, per_element::<6>));
    r.microsoft("FastGelu", OpDef::new(same_shape, fast_gelu));
    r.microsoft("BiasSplitGelu", OpDef::new(half_last_dim, per_element::<8>));
    r.microsoft("QuickGelu", OpDef::new(same_shape, per_element::<5>));
    r.microsoft("BiasAdd", OpDef::new(same_shape, per_element::<2>));
}

/// The Relu op (fused ops name it as their activation).
pub const RELU: &str = "Relu";

/// Per-element FLOPs of the activation a fused op names (FusedConv, FusedGemm, com.microsoft);
/// `None` for an activation this table does not know.
pub fn activation_per_element(name: &str) -> Option<i128> {
    Some(match name {
        "" => 0,
        RELU | "Tanh" => 1,
        "LeakyRelu" | "Clip" => 2,
        "Sigmoid" | "HardSigmoid" | "Elu" => 4,
        "HardSwish" | "Swish" | "SiLU" => 5,
        _ => return None,
    })
}

/// K operations per output element.
pub fn per_element<const K: i128>(c: &CostCtx) -> RuleResult {
    Ok(c.out_elems(0).map(|e| OpCost::flops(&e * K)))
}

/// ONNX Gelu (opset 20): 5 per element with erf, 9 with `approximate = "tanh"`.
fn gelu(c: &CostCtx) -> RuleResult {
    if c.attrs.string("approximate")?.as_deref() == Some("tanh") {
        per_element::<9>(c)
    } else {
        per_element::<5>(c)
    }
}

/// com.microsoft FastGelu: 9 per element, 10 with the bias input.
fn fast_gelu(c: &CostCtx) -> RuleResult {
    if c.has_input(1) {
        per_element::<10>(c)
    } else {
        per_element::<9>(c)
    }
}

/// BiasSplitGelu: [N, S, D] → [N, S, D/2].
fn half_last_dim(c: &ShapeCtx) -> ShapeResult {
    let mut s = c.shape(0)?;
    let last = s.last_mut()?;
    *last = last.div_exact(2)?;
    one(Some(s), c.dtype(0), None)
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

/// The broadcast shape of all inputs; `None` when one of them is unknown.
fn broadcast_inputs(c: &ShapeCtx) -> Option<Option<crate::model::Shape>> {
    let shapes: Vec<_> = (0..c.inputs.len()).filter_map(|i| c.shape(i)).collect();
    if shapes.len() != c.inputs.iter().flatten().count() {
        return None;
    }
    let refs: Vec<_> = shapes.iter().collect();
    Some(broadcast(&refs))
}

/// The values of a two-input op on small integer vectors (shape arithmetic).
fn binary_value(c: &ShapeCtx) -> Option<Value> {
    let op = c.node.op_type.as_str();
    let (x, y) = (c.ints(0)?, c.ints(1)?);
    if c.inputs.len() != 2
        || !(x.len() == y.len() || x.len() == 1 || y.len() == 1)
        || (op == "Mod" && c.attrs.int_or("fmod", 0).ok() != Some(0))
    {
        return None;
    }
    let n = x.len().max(y.len());
    (0..n)
        .map(|i| int_binop(op, &x[i.min(x.len() - 1)], &y[i.min(y.len() - 1)]))
        .collect::<Option<Vec<_>>>()
        .map(Value::Ints)
}

fn arith_shape(c: &ShapeCtx) -> ShapeResult {
    one(broadcast_inputs(c)?, c.dtype(0), binary_value(c))
}

fn compare_shape(c: &ShapeCtx) -> ShapeResult {
    one(broadcast_inputs(c)?, dt::BOOL, binary_value(c))
}

fn where_shape(c: &ShapeCtx) -> ShapeResult {
    let out = broadcast_inputs(c)?;
    // select between small integer vectors with a known condition
    let value = match (c.val(0).and_then(|v| v.concrete()), c.ints(1), c.ints(2)) {
        (Some(cond), Some(x), Some(y)) if !cond.is_empty() && !x.is_empty() && !y.is_empty() => {
            let n = cond.len().max(x.len()).max(y.len());
            let fits = |l: usize| l == n || l == 1;
            (fits(cond.len()) && fits(x.len()) && fits(y.len())).then(|| {
                Value::Ints(
                    (0..n)
                        .map(|i| {
                            if cond[i.min(cond.len() - 1)] != 0 {
                                x[i.min(x.len() - 1)].clone()
                            } else {
                                y[i.min(y.len() - 1)].clone()
                            }
                        })
                        .collect(),
                )
            })
        }
        _ => None,
    };
    one(out, c.dtype(1), value)
}

fn int_binop(op: &str, a: &Count, b: &Count) -> Option<Count> {
    let truth = |t: bool| Count::int(t as i128);
    Some(match op {
        "Add" => a + b,
        "Sub" => a - b,
        "Mul" => a * b,
        // comparisons (shape arithmetic such as `expand(n, -1)`'s Equal/Where): decided only
        // between concrete values, or when both sides are the same expression
        "Equal" if a == b => truth(true),
        "Equal" => truth(a.as_int()? == b.as_int()?),
        "Less" => truth(a.as_int()? < b.as_int()?),
        "Greater" => truth(a.as_int()? > b.as_int()?),
        "LessOrEqual" => truth(a.as_int()? <= b.as_int()?),
        "GreaterOrEqual" => truth(a.as_int()? >= b.as_int()?),
        // integer Mod with fmod = 0 (the caller checks): the result takes the divisor's sign
        "Mod" => {
            let (x, d) = (a.as_int()?, b.as_int()?);
            if d == 0 {
                return None;
            }
            let r = x % d;
            Count::int(if r != 0 && (r < 0) != (d < 0) {
                r + d
            } else {
                r
            })
        }
        "Div" => {
            let d = b.as_int()?;
            if let Some(x) = a.as_int() {
                if d == 0 {
                    return None;
                }
                Count::int(x / d)
            } else {
                a.div_exact(d)?
            }
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use crate::model::proto::data_type as dt;
    use crate::ops::testutil::*;
    use crate::model::values::Value;
    use crate::ops::MICROSOFT;
    use crate::sym::Count;

    #[test]
    fn per_element_table() {
        // (op, FLOPs per element by the header's table); X [2,3,4] → 24 elements
        let cases: &[(&str, i128)] = &[
            ("Relu", 1),
            ("Exp", 1),
            ("Clip", 2),
            ("LeakyRelu", 2),
            ("Softplus", 3),
            ("Sigmoid", 4),
            ("Elu", 4),
            ("HardSwish", 5),
            ("Mish", 5),
            ("Gelu", 5),
        ];
        for (op, k) in cases {
            let e = onnx(op, vec![], &[f(&[2, 3, 4])]);
            assert_eq!(e.shape(), [2, 3, 4], "{op}");
            assert_eq!(e.flops(), 24 * k, "{op}");
            assert_eq!(e.macs(), 0, "{op}");
        }
        let e = onnx("Gelu", vec![astr("approximate", "tanh")], &[f(&[2, 3, 4])]);
        assert_eq!(e.flops(), 24 * 9);
        // com.microsoft activations: BiasGelu = bias add + Gelu (1 + 5), FastGelu 9, QuickGelu 5
        for (op, k) in [("BiasGelu", 6), ("FastGelu", 10), ("QuickGelu", 5), ("Gelu", 5)] {
            let e = eval(MICROSOFT, op, vec![], &[f(&[2, 3, 4]), f(&[4])], None, 1);
            assert_eq!(e.flops(), 24 * k, "com.microsoft {op}");
        }
        // FastGelu without its bias: 9
        let e = eval(MICROSOFT, "FastGelu", vec![], &[f(&[2, 3, 4])], None, 1);
        assert_eq!(e.flops(), 24 * 9);
        // BiasSplitGelu [2,3,8] → [2,3,4]: 24 outputs × (2 + 5 + 1)
        let e = eval(MICROSOFT, "BiasSplitGelu", vec![], &[f(&[2, 3, 8]), f(&[8])], None, 1);
        assert_eq!(e.shape(), [2, 3, 4]);
        assert_eq!(e.flops(), 24 * 8);
        // SwiGLU(A, B) = Swish(A)·B: 5 + 1
        let e = onnx("SwiGLU", vec![], &[f(&[2, 3, 4]), f(&[2, 3, 4])]);
        assert_eq!(e.flops(), 24 * 6);
        // BiasAdd(X, bias, skip): two additions per element
        let e = eval(MICROSOFT, "BiasAdd", vec![], &[f(&[2, 3, 4]), f(&[4]), f(&[2, 3, 4])], None, 1);
        assert_eq!(e.shape(), [2, 3, 4]);
        assert_eq!(e.flops(), 24 * 2);
    }

    #[test]
    fn binary_broadcasts_and_compares_to_bool() {
        // [2,1,4] + [3,1] → [2,3,4]: 24 adds
        let e = onnx("Add", vec![], &[f(&[2, 1, 4]), f(&[3, 1])]);
        assert_eq!(e.shape(), [2, 3, 4]);
        assert_eq!(e.flops(), 24);
        let e = onnx("Less", vec![], &[f(&[5]), f(&[1])]);
        assert_eq!(e.dtype(), dt::BOOL);
        // Where(cond, X: int64, Y) takes X's type
        let e = onnx(
            "Where",
            vec![],
            &[t(&[3], dt::BOOL), t(&[3], dt::INT64), t(&[1], dt::INT64)],
        );
        assert_eq!((e.shape(), e.dtype()), (vec![3], dt::INT64));
        // Sum of 3 inputs: 2 per element; Mean of 3: 3 per element
        let ins = [f(&[4]), f(&[4]), f(&[4])];
        assert_eq!(onnx("Sum", vec![], &ins).flops(), 2 * 4);
        assert_eq!(onnx("Mean", vec![], &ins).flops(), 3 * 4);
        // incompatible shapes: no guess
        assert!(onnx("Mul", vec![], &[f(&[2, 3]), f(&[4])]).outs.unwrap()[0]
            .shape
            .is_none());
    }

    #[test]
    fn shape_arithmetic_values() {
        let value = |e: &Eval| e.outs.as_ref().unwrap()[0].value.clone();
        let want = |v: &[i128]| Some(Value::Ints(v.iter().map(|x| Count::int(*x)).collect()));
        // [6, 8] / [2] = [3, 4]; Mod(−7, 3) = 2 (the divisor's sign); Equal([2, −1], −1) = [0, 1]
        let e = onnx("Div", vec![], &[ints(&[6, 8]), ints(&[2])]);
        assert_eq!(value(&e), want(&[3, 4]));
        let e = onnx("Mod", vec![], &[ints(&[-7]), ints(&[3])]);
        assert_eq!(value(&e), want(&[2]));
        let e = onnx("Equal", vec![], &[ints(&[2, -1]), ints(&[-1])]);
        assert_eq!(value(&e), want(&[0, 1]));
        // Where([1, 0], [5, 5], [7, 7]) = [5, 7]
        let e = onnx("Where", vec![], &[ints(&[1, 0]), ints(&[5, 5]), ints(&[7, 7])]);
        assert_eq!(value(&e), want(&[5, 7]));
        // division by zero: no value, no panic
        let e = onnx("Div", vec![], &[ints(&[6]), ints(&[0])]);
        assert_eq!(value(&e), None);
    }
}
