//! Reductions and selections.
//! - Reduce over n elements per output: Sum/Max/Min/Prod n − 1; Mean n; SumSquare 2n − 1;
//!   L1 2n − 1; L2 2n; LogSum n; LogSumExp 2n + 1 (exp each, sum, log). ArgMax/ArgMin n − 1.
//!   With n = inputs / outputs, the total is a·inputs + b·outputs for a per-output a·n + b.
//! - TopK and NonMaxSuppression are data-dependent: 1 per input element, a floor.
//! - CumSum: shape only (no cost rule: it goes to `unknown`).
//!
//! Shapes: reductions drop (or keep as 1, `keepdims`) the reduced axes — from the `axes`
//! attribute, else input 1 (opset 18), else all axes unless `noop_with_empty_axes`; ArgMax /
//! ArgMin reduce `axis` and give int64. TopK: values and int64 indices with `axis` sized K.
//! Control inputs: the axes of Reduce* and CumSum, TopK's K, NonMaxSuppression's limits and
//! thresholds (slots 2 on).

/// The op type, named once (the tract screen matches on it too).
pub const TOPK: &str = "TopK";

use super::common::{axis, c as cnt, same_shape};
use super::{one, Control, CostCtx, Missing, OpCost, OpDef, Registry, RuleResult, ShapeCtx};
use super::ShapeResult;
use crate::model::proto::data_type as dt;
use crate::model::shapes::TensorFacts;
use crate::model::Shape;

pub fn register(r: &mut Registry) {
    let axes_in = Control::From(1);
    r.onnx("ReduceSum", OpDef::new(reduce_shape, reduce::<1, -1>).control(axes_in));
    r.onnx("ReduceMax", OpDef::new(reduce_shape, reduce::<1, -1>).control(axes_in));
    r.onnx("ReduceMin", OpDef::new(reduce_shape, reduce::<1, -1>).control(axes_in));
    r.onnx("ReduceProd", OpDef::new(reduce_shape, reduce::<1, -1>).control(axes_in));
    r.onnx("ReduceMean", OpDef::new(reduce_shape, reduce::<1, 0>).control(axes_in));
    r.onnx("ReduceLogSum", OpDef::new(reduce_shape, reduce::<1, 0>).control(axes_in));
    r.onnx("ReduceSumSquare", OpDef::new(reduce_shape, reduce::<2, -1>).control(axes_in));
    r.onnx("ReduceL1", OpDef::new(reduce_shape, reduce::<2, -1>).control(axes_in));
    r.onnx("ReduceL2", OpDef::new(reduce_shape, reduce::<2, 0>).control(axes_in));
    r.onnx("ReduceLogSumExp", OpDef::new(reduce_shape, reduce::<2, 1>).control(axes_in));
    r.onnx("ArgMax", OpDef::new(arg_shape, reduce::<1, -1>));
    r.onnx("ArgMin", OpDef::new(arg_shape, reduce::<1, -1>));
    r.onnx(TOPK, OpDef::new(topk_shape, per_input_element).control(axes_in));
    r.onnx(
        "NonMaxSuppression",
        OpDef::cost(per_input_element).control(Control::From(2)),
    );
    r.onnx("CumSum", OpDef::shape(same_shape).control(axes_in));
}

/// a·n + b per output over n = inputs / outputs elements: a·inputs + b·outputs in all.
fn reduce<const A: i128, const B: i128>(c: &CostCtx) -> RuleResult {
    Ok((|| -> Result<OpCost, Missing> {
        let inn = c.in_elems(0)?;
        let out = c.out_elems(0)?;
        Ok(OpCost::flops(&(&inn * A) + &(&out * B)))
    })())
}

/// TopK and NonMaxSuppression: one comparison per input element, a floor.
fn per_input_element(c: &CostCtx) -> RuleResult {
    Ok(c.in_elems(0).map(OpCost::flops))
}

/// The input's shape without (or with 1 at, `keepdims`) the given axes.
fn reduced(x: &Shape, axes: &[i64], keep: bool) -> Option<Shape> {
    let ax: Vec<usize> = axes
        .iter()
        .map(|v| axis(*v, x.len()))
        .collect::<Option<_>>()?;
    Some(
        x.iter()
            .enumerate()
            .filter_map(|(i, d)| {
                if ax.contains(&i) {
                    keep.then(|| cnt(1))
                } else {
                    Some(d.clone())
                }
            })
            .collect(),
    )
}

fn reduce_shape(c: &ShapeCtx) -> ShapeResult {
    let x = c.shape(0)?;
    let keep = c.attrs.int_or("keepdims", 1).ok()? != 0;
    let axes: Vec<i64> = match c.attrs.ints("axes").ok()? {
        Some(v) => v.to_vec(),
        None => match c.val(1) {
            Some(v) => v.concrete()?,
            None => {
                if c.attrs.int_or("noop_with_empty_axes", 0).ok()? != 0 {
                    return one(Some(x), c.dtype(0), None);
                }
                (0..x.len() as i64).collect()
            }
        },
    };
    one(Some(reduced(&x, &axes, keep)?), c.dtype(0), None)
}

fn arg_shape(c: &ShapeCtx) -> ShapeResult {
    let x = c.shape(0)?;
    let keep = c.attrs.int_or("keepdims", 1).ok()? != 0;
    let axes = [c.attrs.int_or("axis", 0).ok()?];
    one(Some(reduced(&x, &axes, keep)?), dt::INT64, None)
}

fn topk_shape(c: &ShapeCtx) -> ShapeResult {
    let x = c.shape(0)?;
    let k = c.ints(1)?.first()?.clone();
    let ax = axis(c.attrs.int_or("axis", -1).ok()?, x.len())?;
    let mut s = x.clone();
    s[ax] = k;
    Some(vec![
        TensorFacts {
            shape: Some(s.clone()),
            dtype: c.dtype(0),
            value: None,
        },
        TensorFacts {
            shape: Some(s),
            dtype: dt::INT64,
            value: None,
        },
    ])
}

#[cfg(test)]
mod tests {
    use crate::model::proto::data_type as dt;
    use crate::ops::testutil::*;
    use crate::ops::ONNX;

    #[test]
    fn reduce_table() {
        // X [2,3,4] over axis 2: 6 outputs of n = 4 (24 inputs)
        let x = f(&[2, 3, 4]);
        let cases: &[(&str, i128)] = &[
            ("ReduceSum", 6 * (4 - 1)),
            ("ReduceMax", 6 * (4 - 1)),
            ("ReduceMean", 6 * 4),
            ("ReduceSumSquare", 6 * (2 * 4 - 1)),
            ("ReduceL2", 6 * (2 * 4)),
            ("ReduceLogSumExp", 6 * (2 * 4 + 1)),
        ];
        for (op, want) in cases {
            let e = onnx(op, vec![ais("axes", &[2])], std::slice::from_ref(&x));
            assert_eq!(e.shape(), [2, 3, 1], "{op}");
            assert_eq!(e.flops(), *want, "{op}");
        }
        // opset 18: axes as input 1, keepdims 0
        let e = onnx("ReduceMean", vec![ai("keepdims", 0)], &[x.clone(), ints(&[-1])]);
        assert_eq!(e.shape(), [2, 3]);
        // no axes: all of them → one output of 24: 23 additions
        let e = onnx("ReduceSum", vec![ai("keepdims", 0)], std::slice::from_ref(&x));
        assert_eq!(e.shape(), Vec::<i128>::new());
        assert_eq!(e.flops(), 24 - 1);
        // ArgMax over axis 1 → int64 [2,1,4], 8 outputs of n = 3
        let e = onnx("ArgMax", vec![ai("axis", 1)], std::slice::from_ref(&x));
        assert_eq!((e.shape(), e.dtype()), (vec![2, 1, 4], dt::INT64));
        assert_eq!(e.flops(), 8 * (3 - 1));
        // an axis out of range: no shape, no panic
        assert!(onnx("ReduceSum", vec![ais("axes", &[3])], &[x]).outs.is_none());
    }

    #[test]
    fn topk_table() {
        // X [3,10], K = 4 on the last axis: values [3,4] and int64 indices; 30 input elements
        let e = eval(ONNX, "TopK", vec![], &[f(&[3, 10]), ints(&[4])], None, 2);
        assert_eq!(e.shape(), [3, 4]);
        assert_eq!(e.shape_of(1), [3, 4]);
        assert_eq!(e.flops(), 30);
    }
}
