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

use super::{CostCtx, Dense, Missing, OpCost, Rule, RuleResult};
use crate::sym::Count;

fn weight_index(op: &str) -> usize {
    if op == "QLinearConv" {
        3
    } else {
        1
    }
}

fn bias_index(op: &str) -> Option<usize> {
    match op {
        "Conv" | "ConvTranspose" => Some(2),
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

pub fn rule(op: &str) -> Option<Rule> {
    Some(match op {
        "Conv" | "ConvInteger" | "QLinearConv" => conv,
        "ConvTranspose" => conv_transpose,
        _ => return None,
    })
}
