//! Pools and resampling.
//! - MaxPool: ΠK − 1 comparisons per output; AveragePool: ΠK (ΠK − 1 additions and a divide);
//!   LpPool: 2·ΠK per output (power and add per element, one root).
//! - GlobalAveragePool: Πspatial per output (additions and a divide); GlobalMaxPool: Πspatial − 1;
//!   GlobalLpPool: 2·Πspatial. com.microsoft QLinearGlobalAveragePool: Πspatial + 3 per output
//!   (the average, then requantization as QLinearConv's).
//! - Resize/Upsample per output element: nearest 0; linear 2^d − 1 blends of 3 operations
//!   (lerp = sub, mul, add) → 3·(2^d − 1); cubic 4^d taps → 2·4^d − 1; d = number of resized axes.
//!
//! Shapes: pools [N, C, out…] by the window rule (`common::window_out`, ceil_mode), MaxPool's
//! optional indices int64; global pools [N, C, 1…] (NHWC [N, 1…, C] for
//! QLinearGlobalAveragePool with channels_last); Resize/Upsample from `sizes`, else
//! ⌊dim·scale⌋. Control inputs: Resize's roi, scales and sizes; Upsample's scales.

/// The op type, named once (the tract screen matches on it too).
pub const RESIZE: &str = "Resize";

use super::common::{c as cnt, window_out};
use super::{one, Control, CostCtx, Missing, OpCost, OpDef, Registry, RuleResult, ShapeCtx};
use super::ShapeResult;
use crate::model::proto::data_type as dt;
use crate::model::shapes::TensorFacts;
use crate::sym::Count;

pub fn register(r: &mut Registry) {
    r.onnx("MaxPool", OpDef::new(pool_shape, pool).min_rank(3));
    r.onnx("AveragePool", OpDef::new(pool_shape, pool).min_rank(3));
    r.onnx("LpPool", OpDef::new(pool_shape, pool).min_rank(3));
    let global = OpDef::new(global_pool_shape, global_pool).min_rank(3);
    r.onnx("GlobalAveragePool", global);
    r.onnx("GlobalMaxPool", global);
    r.onnx("GlobalLpPool", global);
    r.microsoft(
        "QLinearGlobalAveragePool",
        OpDef::new(global_pool_shape, global_pool),
    );
    r.onnx(
        "Resize",
        OpDef::new(resize_shape, resize).control(Control::From(1)),
    );
    r.onnx(
        "Upsample",
        OpDef::new(resize_shape, resize).control(Control::From(1)),
    );
}

fn pool(c: &CostCtx) -> RuleResult {
    let op = c.node.op_type.as_str();
    let k = c.attrs.positive_ints("kernel_shape")?.ok_or_else(|| {
        c.attrs
            .error("kernel_shape", "required attribute is missing")
    })?;
    // checked: an absurd kernel_shape poisons the count (an overflow error), never panics
    let kk = Count::product(&k.iter().map(|x| Count::int(*x as i128)).collect::<Vec<_>>());
    let per = match op {
        "MaxPool" => &kk - &Count::int(1),
        "AveragePool" => kk,
        _ => &kk * 2,
    };
    Ok(c.out_elems(0).map(|e| OpCost::flops(&e * &per)))
}

fn global_pool(c: &CostCtx) -> RuleResult {
    let op = c.node.op_type.as_str();
    // com.microsoft QLinearGlobalAveragePool may hold its channels last (NHWC)
    let channels_last =
        op == "QLinearGlobalAveragePool" && c.attrs.int_or("channels_last", 0)? != 0;
    Ok((|| -> Result<OpCost, Missing> {
        let x = c.in_shape(0)?;
        let spatial = if channels_last {
            x.get(1..x.len().saturating_sub(1)).unwrap_or(&[])
        } else {
            x.get(2..).unwrap_or(&[])
        };
        let sp = Count::product(spatial);
        let per = match op {
            "GlobalMaxPool" => &sp - &Count::int(1),
            "GlobalAveragePool" => sp,
            "QLinearGlobalAveragePool" => &sp + &Count::int(3), // + requantization
            _ => &sp * 2,
        };
        Ok(OpCost::flops(&c.out_elems(0)? * &per))
    })())
}

fn resize(c: &CostCtx) -> RuleResult {
    let mode = c.attrs.string("mode")?.unwrap_or_else(|| "nearest".into());
    Ok((|| -> Result<OpCost, Missing> {
        let x = c.in_shape(0)?;
        let y = c.out_shape(0)?;
        let d = x.iter().zip(y).filter(|(a, b)| a != b).count() as u32;
        let per: i128 = match mode.as_str() {
            "nearest" => 0,
            "linear" | "bilinear" | "trilinear" => 3 * (2i128.pow(d) - 1),
            "cubic" | "bicubic" => 2 * 4i128.pow(d) - 1,
            other => return Err(format!("unknown resize mode '{other}'")),
        };
        Ok(OpCost::flops(&c.out_elems(0)? * per))
    })())
}

fn pool_shape(c: &ShapeCtx) -> ShapeResult {
    let x = c.shape(0)?;
    if x.len() < 3 {
        return None;
    }
    let k = c.attrs.positive_ints("kernel_shape").ok()??;
    let ceil = c.attrs.int_or("ceil_mode", 0).ok()? != 0;
    let sp = window_out(&c.attrs, &x[2..], &k, ceil).ok()??;
    let mut s = x[..2].to_vec();
    s.extend(sp);
    let mut outs = vec![TensorFacts {
        shape: Some(s.clone()),
        dtype: c.dtype(0),
        value: None,
    }];
    if c.node.outputs.len() > 1 {
        outs.push(TensorFacts {
            shape: Some(s),
            dtype: dt::INT64,
            value: None,
        });
    }
    Some(outs)
}

fn global_pool_shape(c: &ShapeCtx) -> ShapeResult {
    let x = c.shape(0)?;
    if x.len() < 2 {
        return None;
    }
    // com.microsoft QLinearGlobalAveragePool: NCHW, or NHWC with channels_last = 1
    let channels_last = c.node.op_type == "QLinearGlobalAveragePool"
        && c.attrs.int_or("channels_last", 0).ok()? != 0;
    let s = if channels_last {
        let mut s = vec![x[0].clone()];
        s.extend(std::iter::repeat_n(cnt(1), x.len() - 2));
        s.push(x[x.len() - 1].clone());
        s
    } else {
        let mut s = x[..2].to_vec();
        s.extend(std::iter::repeat_n(cnt(1), x.len() - 2));
        s
    };
    one(Some(s), c.dtype(0), None)
}

fn resize_shape(c: &ShapeCtx) -> ShapeResult {
    let x = c.shape(0)?;
    let (scales_i, sizes_i) = if c.node.op_type == "Upsample" {
        (1, 99)
    } else {
        (2, 3)
    };
    if let Some(sz) = c.ints(sizes_i) {
        if sz.len() == x.len() {
            return one(Some(sz), c.dtype(0), None);
        }
    }
    let scales = c.val(scales_i).and_then(|v| v.floats()).or_else(|| {
        c.attrs
            .get("scales")
            .map(|s| s.floats.iter().map(|f| *f as f64).collect())
    })?;
    if scales.len() != x.len() {
        return None;
    }
    let s = x
        .iter()
        .zip(&scales)
        .map(|(d, f)| {
            if *f == 1.0 {
                Some(d.clone())
            } else {
                d.as_int().map(|v| cnt((v as f64 * f).floor() as i64))
            }
        })
        .collect::<Option<Vec<_>>>()?;
    one(Some(s), c.dtype(0), None)
}

#[cfg(test)]
mod tests {
    use crate::model::proto::data_type as dt;
    use crate::ops::testutil::*;
    use crate::ops::MICROSOFT;

    #[test]
    fn pool_table() {
        // X [1,2,8,8], 2×2 windows, stride 2 → [1,2,4,4]: 32 outputs
        let k = || vec![ais("kernel_shape", &[2, 2]), ais("strides", &[2, 2])];
        let x = f(&[1, 2, 8, 8]);
        let e = onnx("MaxPool", k(), std::slice::from_ref(&x));
        assert_eq!(e.shape(), [1, 2, 4, 4]);
        assert_eq!(e.flops(), 32 * (4 - 1));
        assert_eq!(onnx("AveragePool", k(), std::slice::from_ref(&x)).flops(), 32 * 4);
        assert_eq!(onnx("LpPool", k(), std::slice::from_ref(&x)).flops(), 32 * 2 * 4);
        // MaxPool with indices: a second, int64 output of the same shape
        let e = eval(crate::ops::ONNX, "MaxPool", k(), std::slice::from_ref(&x), None, 2);
        assert_eq!((e.shape_of(1), e.outs.as_ref().unwrap()[1].dtype), (vec![1, 2, 4, 4], dt::INT64));
        // no kernel_shape: an error naming it
        assert!(onnx("MaxPool", vec![], &[x]).error().contains("kernel_shape"));
    }

    #[test]
    fn global_pool_table() {
        // [1,3,4,4] → [1,3,1,1]: 3 outputs of 16 positions
        let e = onnx("GlobalAveragePool", vec![], &[f(&[1, 3, 4, 4])]);
        assert_eq!(e.shape(), [1, 3, 1, 1]);
        assert_eq!(e.flops(), 3 * 16);
        assert_eq!(onnx("GlobalMaxPool", vec![], &[f(&[1, 3, 4, 4])]).flops(), 3 * 15);
        // com.microsoft QLinearGlobalAveragePool, NHWC [1,4,4,3] → [1,1,1,3]: 16 + 3 per output
        let u8 = |s: &[i64]| t(s, dt::UINT8);
        let e = eval(
            MICROSOFT,
            "QLinearGlobalAveragePool",
            vec![ai("channels_last", 1)],
            &[u8(&[1, 4, 4, 3]), f(&[]), u8(&[]), f(&[]), u8(&[])],
            None,
            1,
        );
        assert_eq!(e.shape(), [1, 1, 1, 3]);
        assert_eq!(e.flops(), 3 * (16 + 3));
    }

    #[test]
    fn resize_table() {
        // linear ×2 on H and W of [1,3,4,4] → [1,3,8,8]; d = 2 resized axes: 3·(2² − 1) = 9
        let x = f(&[1, 3, 4, 4]);
        let e = onnx(
            "Resize",
            vec![astr("mode", "linear")],
            &[x.clone(), None, floats(&[1.0, 1.0, 2.0, 2.0])],
        );
        assert_eq!(e.shape(), [1, 3, 8, 8]);
        assert_eq!(e.flops(), 192 * 9);
        // cubic: 2·4² − 1 = 31 per output; nearest with sizes: 0
        let e = onnx(
            "Resize",
            vec![astr("mode", "cubic")],
            &[x.clone(), None, floats(&[1.0, 1.0, 2.0, 2.0])],
        );
        assert_eq!(e.flops(), 192 * 31);
        let e = onnx("Resize", vec![], &[x.clone(), None, None, ints(&[1, 3, 2, 2])]);
        assert_eq!(e.shape(), [1, 3, 2, 2]);
        assert_eq!(e.flops(), 0);
        // an unknown mode: uncosted with the reason
        let e = onnx(
            "Resize",
            vec![astr("mode", "spline")],
            &[x, None, floats(&[1.0, 1.0, 2.0, 2.0])],
        );
        assert!(e.missing().contains("spline"));
    }
}
