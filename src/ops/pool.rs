//! Pools, reductions and resampling.
//! - MaxPool: ΠK − 1 comparisons per output; AveragePool: ΠK (ΠK − 1 additions and a divide);
//!   LpPool: 2·ΠK per output (power and add per element, one root).
//! - GlobalAveragePool: Πspatial per output (additions and a divide); GlobalMaxPool: Πspatial − 1;
//!   GlobalLpPool: 2·Πspatial. com.microsoft QLinearGlobalAveragePool: Πspatial + 3 per output
//!   (the average, then requantization as QLinearConv's).
//! - Reduce over n elements per output: Sum/Max/Min/Prod n − 1; Mean n; SumSquare 2n − 1;
//!   L1 2n − 1; L2 2n; LogSum n; LogSumExp 2n + 1 (exp each, sum, log). ArgMax/ArgMin n − 1.
//! - Resize/Upsample per output element: nearest 0; linear 2^d − 1 blends of 3 operations
//!   (lerp = sub, mul, add) → 3·(2^d − 1); cubic 4^d taps → 2·4^d − 1; d = number of resized axes.

use super::{CostCtx, Missing, OpCost, Rule, RuleResult};
use crate::sym::Count;

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

fn reduce(c: &CostCtx) -> RuleResult {
    Ok((|| -> Result<OpCost, Missing> {
        let inn = c.in_elems(0)?;
        let out = c.out_elems(0)?;
        // n per output = inn / out; total = out · f(n), f linear in n: a·n + b.
        let (a, b): (i128, i128) = match c.node.op_type.as_str() {
            "ReduceSum" | "ReduceMax" | "ReduceMin" | "ReduceProd" | "ArgMax" | "ArgMin" => (1, -1),
            "ReduceMean" | "ReduceLogSum" => (1, 0),
            "ReduceSumSquare" | "ReduceL1" => (2, -1),
            "ReduceL2" => (2, 0),
            "ReduceLogSumExp" => (2, 1),
            _ => (1, -1),
        };
        Ok(OpCost::flops(&(&inn * a) + &(&out * b)))
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

pub fn rule(op: &str) -> Option<Rule> {
    Some(match op {
        "MaxPool" | "AveragePool" | "LpPool" => pool,
        "GlobalAveragePool" | "GlobalMaxPool" | "GlobalLpPool" => global_pool,
        "ReduceSum" | "ReduceMean" | "ReduceMax" | "ReduceMin" | "ReduceProd" | "ReduceL1"
        | "ReduceL2" | "ReduceLogSum" | "ReduceLogSumExp" | "ReduceSumSquare" | "ArgMax"
        | "ArgMin" => reduce,
        "Resize" | "Upsample" => resize,
        _ => return None,
    })
}

pub fn ms_rule(op: &str) -> Option<Rule> {
    (op == "QLinearGlobalAveragePool").then_some(global_pool as Rule)
}
