//! Normalizations and softmax. n is the length of one normalized row.
//! - BatchNormalization (inference): 2 per element — runtimes fold mean, variance, γ and β into
//!   one scale and one shift per channel, leaving a multiply and an add.
//! - LayerNormalization per row: mean n, centre n, square n, variance n, (+ε, √, 1/x) 3,
//!   normalize n, scale n → 6n + 3, plus n with a bias. InstanceNormalization: 7n + 3 per
//!   (N, C) row over the spatial dims; GroupNormalization: 7n + 3 per (N, group) row.
//! - RMS norms (SimplifiedLayerNormalization, RMSNormalization) per row: square n, mean n,
//!   (+ε, √, 1/x) 3, normalize n, scale n → 4n + 3. SkipLayerNormalization: n more (the skip
//!   add), plus n with its extra bias.
//! - LpNormalization (p = 2) per row: 3n (square, sum, divide; the root counted in the sum).
//! - MeanVarianceNormalization per row: 5n + 3.
//! - LRN per element: 2·size + 3 (squares and sum over the window, scale, bias, power, divide).
//! - Softmax per row: max n − 1, subtract n, exp n, sum n − 1, divide n → 5n − 2;
//!   LogSoftmax → 5n − 1; Hardmax → n − 1. Before opset 13 a row is every dim from `axis`
//!   (default 1) on, as those opsets coerce the input to 2-D.
//!
//! Shapes: every output 0 has its input's shape and type. Control inputs: BatchNormalization's
//! running mean and variance (slots 3, 4) are statistics (buffers), not learnable parameters.

use super::common::same_shape;
use super::{Control, CostCtx, Missing, OpCost, OpDef, Registry, RuleResult};
use crate::sym::Count;

/// Softmax per row of n: 5n − 2 (max n − 1, subtract n, exp n, sum n − 1, divide n).
pub const SOFTMAX_PER_ELEMENT: i128 = 5;
/// Softmax per row of n: the constant term of 5n − 2.
pub const SOFTMAX_PER_ROW: i128 = -2;

pub fn register(r: &mut Registry) {
    r.onnx(
        "BatchNormalization",
        OpDef::new(same_shape, batchnorm).control(Control::Slots(&[3, 4])),
    );
    r.onnx("LayerNormalization", OpDef::new(same_shape, layernorm));
    r.onnx("RMSNormalization", OpDef::new(same_shape, layernorm));
    r.onnx("InstanceNormalization", OpDef::new(same_shape, instancenorm));
    r.onnx("GroupNormalization", OpDef::new(same_shape, instancenorm));
    r.onnx("Softmax", OpDef::new(same_shape, softmax));
    r.onnx("LogSoftmax", OpDef::new(same_shape, softmax));
    r.onnx("Hardmax", OpDef::new(same_shape, softmax));
    r.onnx("LpNormalization", OpDef::new(same_shape, lp_norm));
    r.onnx("MeanVarianceNormalization", OpDef::new(same_shape, mvn));
    r.onnx("LRN", OpDef::new(same_shape, lrn));
    r.microsoft("SkipLayerNormalization", OpDef::new(same_shape, layernorm));
    r.microsoft("SimplifiedLayerNormalization", OpDef::new(same_shape, layernorm));
    r.microsoft(
        "SkipSimplifiedLayerNormalization",
        OpDef::new(same_shape, layernorm),
    );
}

/// (rows, n) for a normalization over axes [axis, rank).
fn rows_from_axis(c: &CostCtx, axis: i64) -> Result<(Count, Count), Missing> {
    let x = c.in_shape(0)?;
    let r = x.len() as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if !(0..r.max(1)).contains(&a) {
        return Err(format!("axis {axis} out of range for rank {r}"));
    }
    let a = a as usize;
    Ok((Count::product(&x[..a]), Count::product(&x[a..])))
}

fn per_row(rows: &Count, n: &Count, a: i128, b: i128) -> Count {
    rows * &(&(n * a) + &Count::int(b))
}

fn batchnorm(c: &CostCtx) -> RuleResult {
    Ok(c.out_elems(0).map(|e| OpCost::flops(&e * 2)))
}

fn layernorm(c: &CostCtx) -> RuleResult {
    let axis = c.attrs.int_or("axis", -1)?;
    let op = c.node.op_type.clone();
    Ok((|| -> Result<OpCost, Missing> {
        let (rows, n) = rows_from_axis(c, axis)?;
        let flops = match op.as_str() {
            "LayerNormalization" => {
                let bias = if c.has_input(2) { 1 } else { 0 };
                per_row(&rows, &n, 6 + bias, 3)
            }
            "SimplifiedLayerNormalization" | "RMSNormalization" => per_row(&rows, &n, 4, 3),
            _ => {
                // SkipLayerNormalization(input, skip, gamma, beta, bias)
                let extra = (c.has_input(3) as i128) + (c.has_input(4) as i128);
                per_row(&rows, &n, 7 + extra, 3)
            }
        };
        Ok(OpCost::flops(flops))
    })())
}

fn instancenorm(c: &CostCtx) -> RuleResult {
    let groups = if c.node.op_type == "GroupNormalization" {
        Some(
            c.attrs
                .int("num_groups")?
                .ok_or_else(|| c.attrs.error("num_groups", "required attribute is missing"))?,
        )
    } else {
        None
    };
    Ok((|| -> Result<OpCost, Missing> {
        let x = c.in_shape(0)?;
        if x.len() < 2 {
            return Err("input rank below 2".into());
        }
        let total = Count::product(x);
        let rows = match groups {
            Some(g) => &x[0] * (g as i128),
            None => &x[0] * &x[1],
        };
        // per row 7n + 3 with n = total / rows: 7·total + 3·rows.
        Ok(OpCost::flops(&(&total * 7) + &(&rows * 3)))
    })())
}

fn softmax(c: &CostCtx) -> RuleResult {
    let op = c.node.op_type.clone();
    // Opset ≥ 13 normalizes along one axis (default −1); older opsets coerce the input to 2-D
    // at `axis` (default 1), so a row spans every dim from `axis` on.
    let coerce = c.opset > 0 && c.opset < 13;
    let axis = c.attrs.int_or("axis", if coerce { 1 } else { -1 })?;
    Ok((|| -> Result<OpCost, Missing> {
        let x = c.in_shape(0)?;
        let r = x.len() as i64;
        let a = if axis < 0 { axis + r } else { axis };
        if !(0..r).contains(&a) {
            return Err(format!("axis {axis} out of range for rank {r}"));
        }
        let total = Count::product(x);
        if coerce {
            let rows = Count::product(&x[..a as usize]);
            let (k, b) = match op.as_str() {
                "Softmax" => (SOFTMAX_PER_ELEMENT, SOFTMAX_PER_ROW),
                "LogSoftmax" => (5, -1),
                _ => (1, -1),
            };
            return Ok(OpCost::flops(&(&total * k) + &(&rows * b)));
        }
        let n = x[a as usize].clone();
        let rows_times = |k: i128, b: i128| -> Result<Count, Missing> {
            // rows = total / n; per row k·n + b → k·total + b·rows
            let rows = match n.as_int() {
                Some(v) if v > 0 => total.div_exact(v).ok_or("rows not integral")?,
                _ => {
                    let mut s = x.clone();
                    s.remove(a as usize);
                    Count::product(&s)
                }
            };
            Ok(&(&total * k) + &(&rows * b))
        };
        let flops = match op.as_str() {
            "Softmax" => rows_times(SOFTMAX_PER_ELEMENT, SOFTMAX_PER_ROW)?,
            "LogSoftmax" => rows_times(5, -1)?,
            _ => rows_times(1, -1)?,
        };
        Ok(OpCost::flops(flops))
    })())
}

fn lp_norm(c: &CostCtx) -> RuleResult {
    Ok(c.in_elems(0).map(|e| OpCost::flops(&e * 3)))
}

fn mvn(c: &CostCtx) -> RuleResult {
    let axes = c
        .attrs
        .ints("axes")?
        .map(|a| a.to_vec())
        .unwrap_or(vec![0, 2, 3]);
    Ok((|| -> Result<OpCost, Missing> {
        let x = c.in_shape(0)?;
        let total = Count::product(x);
        let kept: Vec<Count> = x
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                !axes
                    .iter()
                    .any(|a| (*a as i128).rem_euclid(x.len() as i128) as usize == *i)
            })
            .map(|(_, d)| d.clone())
            .collect();
        let rows = Count::product(&kept);
        Ok(OpCost::flops(&(&total * 5) + &(&rows * 3)))
    })())
}

fn lrn(c: &CostCtx) -> RuleResult {
    let size = c
        .attrs
        .int("size")?
        .ok_or_else(|| c.attrs.error("size", "required attribute is missing"))?;
    Ok(c.out_elems(0)
        .map(|e| OpCost::flops(&e * (2 * size as i128 + 3))))
}


#[cfg(test)]
mod tests {
    use crate::ops::testutil::*;
    use crate::ops::{ONNX, MICROSOFT};

    #[test]
    fn norm_table() {
        // X [2,3,8], normalized over the last axis: 6 rows of n = 8
        let x = f(&[2, 3, 8]);
        let e = onnx("LayerNormalization", vec![], &[x.clone(), f(&[8])]);
        assert_eq!(e.shape(), [2, 3, 8]);
        assert_eq!(e.flops(), 6 * (6 * 8 + 3)); // 306
        let e = onnx("LayerNormalization", vec![], &[x.clone(), f(&[8]), f(&[8])]);
        assert_eq!(e.flops(), 6 * (7 * 8 + 3)); // with bias: 354
        // axis 1: 2 rows of n = 24
        let e = onnx("LayerNormalization", vec![ai("axis", 1)], &[x.clone(), f(&[3, 8])]);
        assert_eq!(e.flops(), 2 * (6 * 24 + 3));
        // RMS: 4n + 3 per row
        let e = eval(MICROSOFT, "SimplifiedLayerNormalization", vec![], &[x.clone(), f(&[8])], None, 1);
        assert_eq!(e.flops(), 6 * (4 * 8 + 3));
        let e = onnx("RMSNormalization", vec![], &[x.clone(), f(&[8])]);
        assert_eq!(e.flops(), 6 * (4 * 8 + 3));
        // BatchNormalization: 2 per element; InstanceNormalization 7n + 3 per (N, C) row
        let e = onnx("BatchNormalization", vec![], &[f(&[1, 4, 5, 5]), f(&[4]), f(&[4]), f(&[4]), f(&[4])]);
        assert_eq!(e.flops(), 2 * 100);
        let e = onnx("InstanceNormalization", vec![], &[f(&[2, 4, 5, 5]), f(&[4]), f(&[4])]);
        assert_eq!(e.flops(), 8 * (7 * 25 + 3)); // 7·200 + 3·8 = 1,424
        let e = onnx("GroupNormalization", vec![ai("num_groups", 2)], &[f(&[2, 4, 5, 5]), f(&[4]), f(&[4])]);
        assert_eq!(e.flops(), 4 * (7 * 50 + 3));
        // an axis out of range is uncosted with the reason
        let e = onnx("LayerNormalization", vec![ai("axis", 5)], &[x, f(&[8])]);
        assert!(e.missing().contains("axis"));
    }

    #[test]
    fn softmax_rows_by_opset() {
        // opset ≥ 13: rows along the last axis, 6 rows of 8: 5n − 2 per row
        let x = f(&[2, 3, 8]);
        let e = onnx("Softmax", vec![], std::slice::from_ref(&x));
        assert_eq!(e.flops(), 6 * (5 * 8 - 2)); // 228
        assert_eq!(onnx("LogSoftmax", vec![], std::slice::from_ref(&x)).flops(), 6 * (5 * 8 - 1));
        assert_eq!(onnx("Hardmax", vec![], std::slice::from_ref(&x)).flops(), 6 * (8 - 1));
        // opset 11: coerced to 2-D at axis 1, 2 rows of 24
        let e = eval_at(11, ONNX, "Softmax", vec![], &[x], None, 1);
        assert_eq!(e.flops(), 2 * (5 * 24 - 2));
        // an empty row set costs nothing and does not divide by zero
        let e = onnx("Softmax", vec![], &[f(&[0, 8])]);
        assert_eq!(e.flops(), 0);
    }
}
