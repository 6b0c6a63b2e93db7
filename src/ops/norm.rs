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

use super::{CostCtx, Missing, OpCost, Rule, RuleResult};
use crate::sym::Count;

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
                "Softmax" => (5, -2),
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
            "Softmax" => rows_times(5, -2)?,
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

pub fn rule(op: &str) -> Option<Rule> {
    Some(match op {
        "BatchNormalization" => batchnorm,
        "LayerNormalization" | "RMSNormalization" => layernorm,
        "InstanceNormalization" | "GroupNormalization" => instancenorm,
        "Softmax" | "LogSoftmax" | "Hardmax" => softmax,
        "LpNormalization" => lp_norm,
        "MeanVarianceNormalization" => mvn,
        "LRN" => lrn,
        _ => return None,
    })
}

pub fn ms_rule(op: &str) -> Option<Rule> {
    Some(match op {
        "SkipLayerNormalization"
        | "SimplifiedLayerNormalization"
        | "SkipSimplifiedLayerNormalization" => layernorm,
        _ => return None,
    })
}
