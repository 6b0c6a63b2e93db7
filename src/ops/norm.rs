//! Normalizations and softmax. n is the length of one normalized row.
//! - BatchNormalization (inference): 2 per element — runtimes fold mean, variance, γ and β into
//!   one scale and one shift per channel, leaving a multiply and an add.
//! - LayerNormalization per row: mean n, centre n, square n, variance n, (+ε, √, 1/x) 3,
//!   normalize n, scale n → 6n + 3, plus n with a bias. InstanceNormalization: 7n + 3 per
//!   (N, C) row over the spatial dims; GroupNormalization: 7n + 3 per (N, group) row.
//! - RMS norms (SimplifiedLayerNormalization — onnxruntime registers it in both the ONNX and
//!   the com.microsoft domain — and RMSNormalization, opset 23) per row: square n, mean n,
//!   (+ε, √, 1/x) 3, normalize n, scale n → 4n + 3.
//! - com.microsoft SkipLayerNormalization(input, skip, gamma, beta?, bias?): the skip add n, then
//!   LayerNormalization 6n + 3 (+n with beta), + n with the extra bias → 7n + 3 (+n, +n).
//!   SkipSimplifiedLayerNormalization(input, skip, gamma, bias?): n + 4n + 3 = 5n + 3 (+n with
//!   bias). Their optional outputs (mean, inv_std_var: one per row; input_skip_bias_sum: the
//!   sum) cost nothing more.
//! - com.microsoft EmbedLayerNormalization(input_ids, segment_ids?, word, position, segment?,
//!   gamma, beta, …): per token of hidden size n, adding the k looked-up embeddings (k = 2, or 3
//!   with segments) (k − 1)·n, then LayerNormalization with beta 7n + 3.
//! - LpNormalization (p = 2) per row: 3n (square, sum, divide; the root counted in the sum).
//! - MeanVarianceNormalization per row: 5n + 3.
//! - LRN per element: 2·size + 3 (squares and sum over the window, scale, bias, power, divide).
//! - Softmax per row: max n − 1, subtract n, exp n, sum n − 1, divide n → 5n − 2;
//!   LogSoftmax → 5n − 1; Hardmax → n − 1. Before opset 13 a row is every dim from `axis`
//!   (default 1) on, as those opsets coerce the input to 2-D.
//!
//! - com.microsoft BiasSoftmax(data, bias; axis): 1 per element (the bias add), then Softmax
//!   over rows spanning the dims from `axis` (default 1) on: 5n − 2 per row.
//!
//! A row of 0 elements costs 0.
//!
//! Shapes: every output 0 has its input's shape and type; the skip norms' statistics are
//! [rows…, 1] float and their input_skip_bias_sum the input's shape; EmbedLayerNormalization
//! gives [B, S, hidden], mask_index [B] int32 and embedding_sum [B, S, hidden].
//! Control inputs: BatchNormalization's running mean and variance (slots 3, 4) are statistics
//! (buffers), not learnable parameters; EmbedLayerNormalization's ids and mask.

/// The op type, named once (the tract screen matches on it too).
pub const INSTANCE_NORMALIZATION: &str = "InstanceNormalization";

/// The op type, named once (the tract screen matches on it too).
pub const SOFTMAX: &str = "Softmax";

/// The op type, named once (the tract screen matches on it too).
pub const LAYER_NORMALIZATION: &str = "LayerNormalization";

use super::common::{c as cnt, same_shape};
use super::{Control, CostCtx, Missing, OpCost, OpDef, Registry, RuleResult, ShapeCtx, ShapeResult};
use crate::model::proto::data_type as dt;
use crate::model::shapes::TensorFacts;
use crate::sym::Count;

/// Softmax per row of n: 5n − 2 (max n − 1, subtract n, exp n, sum n − 1, divide n).
pub const SOFTMAX_PER_ELEMENT: i128 = 5;
/// Softmax per row of n: the constant term of 5n − 2.
pub const SOFTMAX_PER_ROW: i128 = -2;

pub fn register(r: &mut Registry) {
    r.onnx(
        "BatchNormalization",
        OpDef::new(same_shape, batchnorm)
            .control(Control::Slots(&[3, 4]))
            .min_rank(2),
    );
    r.onnx(LAYER_NORMALIZATION, OpDef::new(same_shape, layernorm));
    r.onnx("RMSNormalization", OpDef::new(same_shape, layernorm));
    r.onnx(
        "InstanceNormalization",
        OpDef::new(same_shape, instancenorm).min_rank(3),
    );
    r.onnx("GroupNormalization", OpDef::new(same_shape, instancenorm));
    r.onnx(SOFTMAX, OpDef::new(same_shape, softmax));
    r.onnx("LogSoftmax", OpDef::new(same_shape, softmax));
    r.onnx("Hardmax", OpDef::new(same_shape, softmax));
    r.onnx("LpNormalization", OpDef::new(same_shape, lp_norm));
    r.onnx("MeanVarianceNormalization", OpDef::new(same_shape, mvn));
    r.onnx("LRN", OpDef::new(same_shape, lrn));
    r.onnx("SimplifiedLayerNormalization", OpDef::new(same_shape, layernorm));
    r.microsoft("SimplifiedLayerNormalization", OpDef::new(same_shape, layernorm));
    r.microsoft("SkipLayerNormalization", OpDef::new(skip_norm_shape, layernorm));
    r.microsoft(
        "SkipSimplifiedLayerNormalization",
        OpDef::new(skip_norm_shape, layernorm),
    );
    r.microsoft("BiasSoftmax", OpDef::new(same_shape, bias_softmax));
    r.microsoft(
        "EmbedLayerNormalization",
        OpDef::new(embed_norm_shape, embed_norm).control(Control::Slots(&[0, 1, 7, 8])),
    );
}

/// Skip norms: output, mean and inv_std_var ([rows…, 1], float), input_skip_bias_sum.
fn skip_norm_shape(c: &ShapeCtx) -> ShapeResult {
    let x = c.shape(0);
    let stat = x.as_ref().and_then(|x| {
        let mut s = x.clone();
        *s.last_mut()? = cnt(1);
        Some(s)
    });
    let f = |shape: Option<crate::model::Shape>, dtype| TensorFacts {
        shape,
        dtype,
        value: None,
    };
    Some(vec![
        f(x.clone(), c.dtype(0)),
        f(stat.clone(), dt::FLOAT),
        f(stat, dt::FLOAT),
        f(x, c.dtype(0)),
    ])
}

fn embed_norm_shape(c: &ShapeCtx) -> ShapeResult {
    let ids = c.shape(0)?;
    let word = c.shape(2)?;
    if ids.len() != 2 || word.len() != 2 {
        return None;
    }
    let out = vec![ids[0].clone(), ids[1].clone(), word[1].clone()];
    let f = |shape, dtype| TensorFacts {
        shape: Some(shape),
        dtype,
        value: None,
    };
    Some(vec![
        f(out.clone(), c.dtype(2)),
        f(vec![ids[0].clone()], dt::INT32),
        f(out, c.dtype(2)),
    ])
}

fn embed_norm(c: &CostCtx) -> RuleResult {
    Ok((|| -> Result<OpCost, Missing> {
        let ids = c.in_shape(0)?;
        let n = c.in_dim(2, 1)?;
        let tokens = Count::product(ids);
        let k = if c.has_input(4) { 3 } else { 2 };
        // (k − 1)·n additions, then LayerNormalization with beta: 7n + 3
        Ok(OpCost::flops(per_row(&tokens, &n, (k - 1) + 7, 3)))
    })())
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

/// a·n + b per row of n elements (0 for an empty row).
fn per_row(rows: &Count, n: &Count, a: i128, b: i128) -> Count {
    if n.as_int() == Some(0) {
        return Count::zero();
    }
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
            "SkipSimplifiedLayerNormalization" => {
                // (input, skip, gamma, bias?): skip add n + RMS 4n + 3 (+ n bias)
                per_row(&rows, &n, 5 + c.has_input(3) as i128, 3)
            }
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
        if total.as_int() == Some(0) {
            return Ok(OpCost::zero()); // no rows, or rows of 0 elements
        }
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

fn bias_softmax(c: &CostCtx) -> RuleResult {
    let axis = c.attrs.int_or("axis", 1)?;
    Ok((|| -> Result<OpCost, Missing> {
        let (rows, n) = rows_from_axis(c, axis)?;
        let softmax = per_row(&rows, &n, SOFTMAX_PER_ELEMENT, SOFTMAX_PER_ROW);
        Ok(OpCost::flops(&softmax + &(&rows * &n)))
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
    use crate::model::proto::data_type as dt;
    use crate::ops::testutil::*;
    use crate::ops::{MICROSOFT, ONNX};

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
    fn llm_norm_table() {
        // X [1,5,64]: 5 rows of n = 64
        let x = f(&[1, 5, 64]);
        let g = f(&[64]);
        // SimplifiedLayerNormalization in the ONNX domain (as the onnxruntime-genai builder
        // writes it): 4n + 3 per row
        let e = onnx("SimplifiedLayerNormalization", vec![], &[x.clone(), g.clone()]);
        assert_eq!(e.flops(), 5 * (4 * 64 + 3));
        // SkipSimplifiedLayerNormalization: skip add n + 4n + 3; + n with a bias
        let ins = [x.clone(), x.clone(), g.clone()];
        let e = eval(MICROSOFT, "SkipSimplifiedLayerNormalization", vec![], &ins, None, 4);
        assert_eq!(e.flops(), 5 * (5 * 64 + 3));
        assert_eq!(e.shape_of(3), [1, 5, 64]); // input_skip_bias_sum
        assert_eq!(e.shape_of(1), [1, 5, 1]); // mean
        let ins = [x.clone(), x.clone(), g.clone(), g.clone()];
        let e = eval(MICROSOFT, "SkipSimplifiedLayerNormalization", vec![], &ins, None, 4);
        assert_eq!(e.flops(), 5 * (6 * 64 + 3));
        // SkipLayerNormalization with beta and bias: n + 6n + 3 + n + n = 9n + 3
        let ins = [x.clone(), x.clone(), g.clone(), g.clone(), g.clone()];
        let e = eval(MICROSOFT, "SkipLayerNormalization", vec![], &ins, None, 1);
        assert_eq!(e.flops(), 5 * (9 * 64 + 3));
        // an empty prompt costs nothing
        let e = onnx("SimplifiedLayerNormalization", vec![], &[f(&[1, 0, 64]), g]);
        assert_eq!(e.flops(), 0);
    }

    #[test]
    fn bias_softmax_table() {
        // scores [2, 4, 3, 3] + bias, axis 3: 24 rows of 3 → 72 adds + 24·(5·3 − 2)
        let ins = [f(&[2, 4, 3, 3]), f(&[2, 1, 3, 3])];
        let e = eval(MICROSOFT, "BiasSoftmax", vec![ai("axis", 3)], &ins, None, 1);
        assert_eq!(e.flops(), 72 + 24 * 13);
    }

    #[test]
    fn embed_layer_norm_table() {
        // input_ids [2, 3] (6 tokens), word [100, 8], position [16, 8], segment [2, 8]:
        // 3 embeddings → 2n additions, then 7n + 3 → 6·(9·8 + 3) = 450
        let ids = t(&[2, 3], dt::INT32);
        let ins = [
            ids.clone(),
            ids.clone(),
            f(&[100, 8]),
            f(&[16, 8]),
            f(&[2, 8]),
            f(&[8]),
            f(&[8]),
        ];
        let e = eval(MICROSOFT, "EmbedLayerNormalization", vec![], &ins, None, 3);
        assert_eq!(e.shape(), [2, 3, 8]);
        assert_eq!(e.shape_of(1), [2]);
        assert_eq!(e.flops(), 6 * (9 * 8 + 3));
        // without segments: n additions → 6·(8·8 + 3)
        let ins = [ids, None, f(&[100, 8]), f(&[16, 8]), None, f(&[8]), f(&[8])];
        let e = eval(MICROSOFT, "EmbedLayerNormalization", vec![], &ins, None, 1);
        assert_eq!(e.flops(), 6 * (8 * 8 + 3));
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
        // rows of 0 elements: no negative count
        let e = onnx("Softmax", vec![], &[f(&[3, 0])]);
        assert_eq!(e.flops(), 0);
    }
}
