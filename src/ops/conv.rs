//! Convolutions. With N batch, Ci input and Co output channels, g groups, kernel ΠK and Πout
//! output positions:
//! - Conv / ConvInteger / QLinearConv: MACs = N·Πout·Co·(Ci/g)·ΠK;
//!   FLOPs = (2·(Ci/g)·ΠK − 1)·Πout·Co·N (the seed rule: Ci/g·ΠK multiplications and one fewer
//!   additions per output), plus Πout·Co·N with a bias, i.e. 2·(Ci/g)·ΠK·Πout·Co·N.
//!   Params (weights) = (Ci/g)·ΠK·Co (+Co bias). QLinearConv adds 3 per output for requantization.
//! - Grouped conv (g > 1): the dense equivalent has the same Ci, Co, K with g = 1.
//! - ConvTranspose: each input element meets (Co/g)·ΠK weights, so MACs = N·Ci·Πin·(Co/g)·ΠK
//!   (peer tools multiply by the output size instead and count about stride² too much); FLOPs =
//!   2·MACs − N·Co·Πout (each output sums its products, one fewer additions than products), plus
//!   N·Co·Πout with a bias. Exact when every output receives a product (stride ≤ kernel); when
//!   stride > kernel, only the outputs that receive a product (at most in·K per axis) subtract
//!   one, so FLOPs never fall below MACs.
//!
//! - com.microsoft FusedConv: Conv, + the activation's per-element constant (elementwise.rs)
//!   per output, + 1 per output with the sum input Z.
//!
//! Shapes: Conv [N, Co, out…] with out by the window rule (`common::window_out`);
//! ConvTranspose [N, (Co/g)·g, out…] with out = `output_shape`, or s·in (SAME), or
//! (in − 1)·s + output_padding + (K − 1)·d + 1 − pads. Control inputs: none.

use super::common::{c as cnt, window_out};
use super::{one, CostCtx, Dense, Missing, OpCost, OpDef, Registry, RuleResult};
use super::{ShapeCtx, ShapeResult};
use crate::model::proto::data_type as dt;
use crate::sym::Count;

pub fn register(r: &mut Registry) {
    r.onnx("Conv", OpDef::new(conv_shape, conv).min_rank(3));
    r.onnx("ConvInteger", OpDef::new(conv_shape, conv).min_rank(3));
    r.onnx("QLinearConv", OpDef::new(conv_shape, conv).min_rank(3));
    r.onnx(
        "ConvTranspose",
        OpDef::new(conv_transpose_shape, conv_transpose).min_rank(3),
    );
    r.microsoft("FusedConv", OpDef::new(conv_shape, fused_conv));
}

fn weight_index(op: &str) -> usize {
    if op == "QLinearConv" {
        3
    } else {
        1
    }
}

fn bias_index(op: &str) -> Option<usize> {
    match op {
        "Conv" | "ConvTranspose" | "FusedConv" => Some(2),
        "QLinearConv" => Some(8),
        _ => None,
    }
}

fn conv(c: &CostCtx) -> RuleResult {
    let op = c.node.op_type.as_str();
    let g = c.attrs.int_or("group", 1)?;
    if g <= 0 {
        return Err(c
            .attrs
            .error("group", format!("must be positive, found {g}")));
    }
    Ok((|| -> Result<OpCost, Missing> {
        let x = c.in_shape(0)?;
        let w = c.in_shape(weight_index(op))?;
        let y = c.out_shape(0)?;
        if w.len() < 3 || x.len() != w.len() || y.len() != w.len() {
            return Err("input, weight and output ranks disagree".into());
        }
        let n = &x[0];
        let co = &w[0];
        let ci_per_g = &w[1]; // the weight holds Ci/g input channels per filter
        let k = Count::product(&w[2..]);
        let out_pos = Count::product(&y[2..]);
        let outputs = &(n * &out_pos) * co; // N·Πout·Co
        let per_out = ci_per_g * &k; // (Ci/g)·ΠK
        let macs = &outputs * &per_out;
        let has_bias = bias_index(op).is_some_and(|b| c.has_input(b));
        let mut flops = &(&(&per_out * 2) - &Count::int(1)) * &outputs;
        if has_bias {
            flops = &flops + &outputs;
        }
        if op == "QLinearConv" {
            flops = &flops + &(&outputs * 3);
        }
        let params_w = &(ci_per_g * &k) * co;
        let params = if has_bias {
            &params_w + co
        } else {
            params_w.clone()
        };
        let dense = (g > 1).then(|| {
            let dense_per_out = &per_out * (g as i128);
            let mut df = &(&(&dense_per_out * 2) - &Count::int(1)) * &outputs;
            if has_bias {
                df = &df + &outputs;
            }
            if op == "QLinearConv" {
                df = &df + &(&outputs * 3);
            }
            let dw = &params_w * (g as i128);
            Dense {
                flops: df,
                params: if has_bias { &dw + co } else { dw },
                actual_params: params,
            }
        });
        Ok(OpCost {
            flops,
            macs,
            dense,
            group: Some(g),
            note: None,
        })
    })())
}

/// FusedConv(X, W, B?, Z?): Conv, its activation, the sum with Z.
fn fused_conv(c: &CostCtx) -> RuleResult {
    let act = c.attrs.string("activation")?.unwrap_or_default();
    let Some(per) = super::elementwise::activation_per_element(&act) else {
        return Ok(Err(format!("FusedConv activation '{act}' has no cost rule")));
    };
    let per = per + c.has_input(3) as i128;
    let base = conv(c)?;
    Ok(base.and_then(|mut cost| {
        let extra = &c.out_elems(0)? * per;
        cost.flops = &cost.flops + &extra;
        if let Some(d) = cost.dense.as_mut() {
            d.flops = &d.flops + &extra;
        }
        Ok(cost)
    }))
}

fn conv_transpose(c: &CostCtx) -> RuleResult {
    let g = c.attrs.int_or("group", 1)?;
    if g <= 0 {
        return Err(c
            .attrs
            .error("group", format!("must be positive, found {g}")));
    }
    let strides = c.attrs.ints("strides")?.map(|s| s.to_vec());
    Ok((|| -> Result<OpCost, Missing> {
        let x = c.in_shape(0)?;
        let w = c.in_shape(1)?; // [Ci, Co/g, K...]
        let y = c.out_shape(0)?;
        if w.len() < 3 || x.len() != w.len() || y.len() != w.len() {
            return Err("input, weight and output ranks disagree".into());
        }
        let inputs = Count::product(x); // N·Ci·Πin
        let co_per_g = &w[1];
        let k = Count::product(&w[2..]);
        let macs = &(&inputs * co_per_g) * &k;
        let outputs = &(&y[0] * &y[1]) * &Count::product(&y[2..]);
        // Outputs that receive a product: per axis at most in·K of the out positions (fewer than
        // out when stride > kernel; equal to out when stride ≤ kernel).
        let receiving_pos: Vec<Count> = y[2..]
            .iter()
            .zip(&x[2..])
            .zip(&w[2..])
            .map(|((o, i), k)| match (o.as_int(), (i * k).as_int()) {
                (Some(o), Some(ik)) if ik < o => Count::int(ik),
                _ => o.clone(),
            })
            .collect();
        let receiving = &(&y[0] * &y[1]) * &Count::product(&receiving_pos);
        let mut flops = &(&macs * 2) - &receiving;
        if c.has_input(2) {
            flops = &flops + &outputs;
        }
        let kdims: Vec<Option<i128>> = w[2..].iter().map(|d| d.as_int()).collect();
        let note = strides.and_then(|s| {
            s.iter()
                .zip(&kdims)
                .any(|(s, k)| k.is_some_and(|k| (*s as i128) > k))
                .then(|| {
                    "stride > kernel: some outputs receive no product (they add nothing)"
                        .to_string()
                })
        });
        Ok(OpCost {
            flops,
            macs,
            dense: None,
            group: Some(g),
            note,
        })
    })())
}

fn conv_shape(c: &ShapeCtx) -> ShapeResult {
    let op = c.node.op_type.as_str();
    let a = &c.attrs;
    let (xi, wi) = (0, weight_index(op));
    let x = c.shape(xi)?;
    let w = c.shape(wi)?;
    if x.len() < 3 || w.len() != x.len() {
        return None;
    }
    let kernel: Vec<i64> = match a.ints("kernel_shape").ok()? {
        Some(k) => k.to_vec(),
        None => w[2..]
            .iter()
            .map(|d| d.as_int().map(|v| v as i64))
            .collect::<Option<_>>()?,
    };
    let sp = window_out(a, &x[2..], &kernel, false).ok()??;
    let mut s = vec![x[0].clone(), w[0].clone()];
    s.extend(sp);
    let out_dt = match op {
        "ConvInteger" => dt::INT32,
        "QLinearConv" => c.dtype(7),
        _ => c.dtype(0),
    };
    one(Some(s), out_dt, None)
}

fn conv_transpose_shape(c: &ShapeCtx) -> ShapeResult {
    let a = &c.attrs;
    let x = c.shape(0)?;
    let w = c.shape(1)?;
    let r = x.len().checked_sub(2)?;
    if w.len() != x.len() {
        return None;
    }
    let g = a.int_or("group", 1).ok()?;
    let kernel: Vec<i64> = match a.ints("kernel_shape").ok()? {
        Some(k) => k.to_vec(),
        None => w[2..]
            .iter()
            .map(|d| d.as_int().map(|v| v as i64))
            .collect::<Option<_>>()?,
    };
    let mut s = vec![x[0].clone(), &w[1] * (g as i128)];
    if let Some(os) = a.ints("output_shape").ok()? {
        s.extend(os.iter().map(|d| cnt(*d)));
    } else {
        let ints = |name: &str, default: Vec<i64>| -> Option<Vec<i64>> {
            Some(a.ints(name).ok()?.map(|v| v.to_vec()).unwrap_or(default))
        };
        let st = ints("strides", vec![1; r])?;
        let dil = ints("dilations", vec![1; r])?;
        let pads = ints("pads", vec![0; 2 * r])?;
        let op_ = ints("output_padding", vec![0; r])?;
        let auto = a.string("auto_pad").ok()?.unwrap_or_default();
        if [st.len(), dil.len(), op_.len(), kernel.len(), pads.len() / 2] != [r; 5] {
            return None;
        }
        for i in 0..r {
            let d = if auto.starts_with("SAME") {
                &x[2 + i] * (st[i] as i128)
            } else {
                &(&(&x[2 + i] - &cnt(1)) * (st[i] as i128))
                    + &Count::int(
                        op_[i] as i128 + (kernel[i] as i128 - 1) * dil[i] as i128 + 1
                            - pads[i] as i128
                            - pads[i + r] as i128,
                    )
            };
            s.push(d);
        }
    }
    one(Some(s), c.dtype(0), None)
}

#[cfg(test)]
mod tests {
    use crate::ops::testutil::*;

    #[test]
    fn conv_table() {
        // (inputs, attrs, output shape, FLOPs, MACs), arithmetic by the header's formulas
        let x = f(&[1, 3, 10, 10]);
        let w = f(&[16, 3, 3, 3]);
        // no pads, stride 1: 10 − 3 + 1 = 8; per output (Ci/g)·ΠK = 3·9 = 27; outputs 16·8·8
        let e = onnx("Conv", vec![], &[x.clone(), w.clone()]);
        assert_eq!(e.shape(), [1, 16, 8, 8]);
        assert_eq!(e.flops(), (2 * 27 - 1) * 1024); // 54,272
        assert_eq!(e.macs(), 27 * 1024);
        // with bias: 2·27 per output
        let e = onnx("Conv", vec![], &[x.clone(), w, f(&[16])]);
        assert_eq!(e.flops(), 2 * 27 * 1024);
        // stride 2, pads 1: ⌊(10 + 2 − 3)/2⌋ + 1 = 5
        let w = f(&[4, 3, 3, 3]);
        let e = onnx(
            "Conv",
            vec![ais("strides", &[2, 2]), ais("pads", &[1, 1, 1, 1])],
            &[x, w],
        );
        assert_eq!(e.shape(), [1, 4, 5, 5]);
        assert_eq!(e.flops(), (2 * 27 - 1) * 4 * 25); // 5,300
    }

    #[test]
    fn grouped_conv_has_a_dense_twin() {
        // X [1,8,5,5], W [8,2,3,3], g = 4, pads 1 → Y [1,8,5,5]; per output 2·9 = 18
        let e = onnx(
            "Conv",
            vec![ai("group", 4), ais("pads", &[1, 1, 1, 1])],
            &[f(&[1, 8, 5, 5]), f(&[8, 2, 3, 3])],
        );
        assert_eq!(e.shape(), [1, 8, 5, 5]);
        assert_eq!(e.macs(), 18 * 200); // outputs 8·25 = 200
        assert_eq!(e.flops(), (2 * 18 - 1) * 200);
        let Ok(Ok(cost)) = &e.cost else { panic!() };
        let dense = cost.dense.as_ref().expect("dense twin");
        assert_eq!(dense.flops.as_int(), Some((2 * 18 * 4 - 1) * 200));
        assert_eq!(dense.params.as_int(), Some(8 * 8 * 9)); // Co·Ci·ΠK
        assert_eq!(dense.actual_params.as_int(), Some(8 * 2 * 9));
    }

    #[test]
    fn fused_conv_adds_activation_and_sum() {
        // the seed conv of conv_table with bias (2·27·1024), + Relu 1 and Z 1 per output
        let ins = [f(&[1, 3, 10, 10]), f(&[16, 3, 3, 3]), f(&[16]), f(&[1, 16, 8, 8])];
        let attrs = vec![astr("activation", crate::ops::elementwise::RELU)];
        let e = eval(crate::ops::MICROSOFT, "FusedConv", attrs, &ins, None, 1);
        assert_eq!(e.shape(), [1, 16, 8, 8]);
        assert_eq!(e.flops(), 2 * 27 * 1024 + 2 * 1024);
    }

    #[test]
    fn conv_bad_group_is_an_error() {
        let e = onnx(
            "Conv",
            vec![ai("group", 0)],
            &[f(&[1, 8, 5, 5]), f(&[8, 2, 3, 3])],
        );
        assert!(e.error().contains("group"));
    }

    #[test]
    fn conv_transpose_table() {
        // X [1,4,3,3], W [4,2,3,3] (Ci, Co/g, K), stride 2: out (3 − 1)·2 + 3 = 7
        let e = onnx(
            "ConvTranspose",
            vec![ais("strides", &[2, 2])],
            &[f(&[1, 4, 3, 3]), f(&[4, 2, 3, 3])],
        );
        assert_eq!(e.shape(), [1, 2, 7, 7]);
        let macs = 4 * 9 * 2 * 9; // N·Ci·Πin·(Co/g)·ΠK = 648
        assert_eq!(e.macs(), macs);
        assert_eq!(e.flops(), 2 * macs - 2 * 49); // every output receives a product
        // stride 4 > kernel 1: out (3 − 1)·4 + 1 = 9 per axis, but only 3 per axis receive
        let e = onnx(
            "ConvTranspose",
            vec![ais("strides", &[4, 4])],
            &[f(&[1, 4, 3, 3]), f(&[4, 2, 1, 1])],
        );
        assert_eq!(e.shape(), [1, 2, 9, 9]);
        let macs = 4 * 9 * 2; // 72
        assert_eq!(e.macs(), macs);
        assert_eq!(e.flops(), 2 * macs - 2 * 3 * 3);
    }
}
