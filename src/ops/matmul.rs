//! Matrix products.
//! - Gemm, Y = α·op(A)·op(B) + β·C with op(A) [M,K] and op(B) [K,N] (transA/transB): MACs = M·K·N;
//!   FLOPs = (2K − 1)·M·N — the seed's fully-connected rule (2I − 1)·O per sample with M the
//!   batch — plus M·N when C is given (the bias; broadcast C adds the same), plus M·N when α ≠ 1,
//!   plus M·N when C is given and β ≠ 1. Params: B (+C) when stored.
//! - QGemm (com.microsoft; A, B, C at inputs 0, 3, 6): as Gemm (no β), plus 3·M·N for
//!   requantization when y_scale is given (else the output is float), as QLinearMatMul.
//! - MatMul (batched, broadcast): FLOPs = (2K − 1)·M·Ncols·batch, MACs = K·M·Ncols·batch, batch
//!   the product of the broadcast leading dims. MatMulInteger / QLinearMatMul: the same structure
//!   in integer ops (QLinearMatMul adds 3 per output for requantization).
//! - Einsum with n operands: let P = product of all index sizes, O = product of output index
//!   sizes; FLOPs = (n − 1)·P multiplications + (P − O) additions; MACs = P for two operands.

use std::collections::BTreeMap;

use super::{CostCtx, Missing, OpCost, Rule, RuleResult};
use crate::model::shapes::rules::broadcast;
use crate::model::Shape;
use crate::sym::Count;

fn gemm(c: &CostCtx) -> RuleResult {
    let ta = c.attrs.int_or("transA", 0)? != 0;
    let tb = c.attrs.int_or("transB", 0)? != 0;
    let alpha = c.attrs.float_or("alpha", 1.0)?;
    // com.microsoft QGemm(A, a_scale, a_zp, B, b_scale, b_zp, C?, y_scale?, y_zp?): no beta
    let q = c.node.op_type == "QGemm";
    let beta = if q {
        1.0
    } else {
        c.attrs.float_or("beta", 1.0)?
    };
    let (ai, bi, ci) = if q { (0, 3, 6) } else { (0, 1, 2) };
    Ok((|| -> Result<OpCost, Missing> {
        let a = c.in_shape(ai)?;
        let b = c.in_shape(bi)?;
        if a.len() != 2 || b.len() != 2 {
            return Err("Gemm inputs must be 2-D".into());
        }
        let (m, k) = if ta { (&a[1], &a[0]) } else { (&a[0], &a[1]) };
        let n = if tb { &b[0] } else { &b[1] };
        let mn = m * n;
        let macs = &mn * k;
        let mut flops = &(&(k * 2) - &Count::int(1)) * &mn;
        let has_c = c.has_input(ci);
        if has_c {
            flops = &flops + &mn;
        }
        if alpha != 1.0 {
            flops = &flops + &mn;
        }
        if has_c && beta != 1.0 {
            flops = &flops + &mn;
        }
        if q && c.has_input(7) {
            flops = &flops + &(&mn * 3); // requantization to y_scale / y_zero_point
        }
        Ok(OpCost {
            flops,
            macs,
            ..Default::default()
        })
    })())
}

/// (batch, M, K, N) of a numpy-style matmul.
pub fn matmul_dims(a: &Shape, b: &Shape) -> Result<(Count, Count, Count, Count), Missing> {
    if a.is_empty() || b.is_empty() {
        return Err("MatMul of a scalar".into());
    }
    let (m, k) = if a.len() == 1 {
        (Count::int(1), a[0].clone())
    } else {
        (a[a.len() - 2].clone(), a[a.len() - 1].clone())
    };
    let n = if b.len() == 1 {
        Count::int(1)
    } else {
        b[b.len() - 1].clone()
    };
    let ba: Shape = if a.len() > 2 {
        a[..a.len() - 2].to_vec()
    } else {
        vec![]
    };
    let bb: Shape = if b.len() > 2 {
        b[..b.len() - 2].to_vec()
    } else {
        vec![]
    };
    let batch = if ba.is_empty() && bb.is_empty() {
        Count::int(1)
    } else {
        Count::product(&broadcast(&[&ba, &bb]).ok_or("batch dims do not broadcast")?)
    };
    Ok((batch, m, k, n))
}

fn matmul(c: &CostCtx) -> RuleResult {
    let (ai, bi) = if c.node.op_type == "QLinearMatMul" {
        (0, 3)
    } else {
        (0, 1)
    };
    Ok((|| -> Result<OpCost, Missing> {
        let (batch, m, k, n) = matmul_dims(c.in_shape(ai)?, c.in_shape(bi)?)?;
        let outputs = &(&batch * &m) * &n;
        let macs = &outputs * &k;
        let mut flops = &(&(&k * 2) - &Count::int(1)) * &outputs;
        if c.node.op_type == "QLinearMatMul" {
            flops = &flops + &(&outputs * 3);
        }
        Ok(OpCost {
            flops,
            macs,
            ..Default::default()
        })
    })())
}

/// Index sizes by letter and the output letters of an einsum equation (ellipsis unsupported).
pub fn einsum_letters(eq: &str, shapes: &[Shape]) -> Option<(BTreeMap<char, Count>, Vec<char>)> {
    let eq: String = eq.chars().filter(|c| !c.is_whitespace()).collect();
    if eq.contains("...") {
        return None;
    }
    let (lhs, rhs) = match eq.split_once("->") {
        Some((l, r)) => (l.to_string(), Some(r.to_string())),
        None => (eq.clone(), None),
    };
    let terms: Vec<&str> = lhs.split(',').collect();
    if terms.len() != shapes.len() {
        return None;
    }
    let mut sizes = BTreeMap::new();
    let mut seen: BTreeMap<char, usize> = BTreeMap::new();
    for (t, s) in terms.iter().zip(shapes) {
        if t.chars().count() != s.len() {
            return None;
        }
        for (ch, d) in t.chars().zip(s) {
            *seen.entry(ch).or_default() += 1;
            let e = sizes.entry(ch).or_insert_with(|| d.clone());
            if e.as_int() == Some(1) {
                *e = d.clone();
            }
        }
    }
    let out: Vec<char> = match rhs {
        Some(r) => r.chars().collect(),
        None => seen
            .iter()
            .filter(|(_, n)| **n == 1)
            .map(|(c, _)| *c)
            .collect(),
    };
    if out.iter().any(|c| !sizes.contains_key(c)) {
        return None;
    }
    Some((sizes, out))
}

fn einsum(c: &CostCtx) -> RuleResult {
    let eq = c
        .attrs
        .string("equation")?
        .ok_or_else(|| c.attrs.error("equation", "required attribute is missing"))?;
    Ok((|| -> Result<OpCost, Missing> {
        let shapes: Vec<Shape> = (0..c.inputs.len())
            .map(|i| c.in_shape(i).cloned())
            .collect::<Result<_, _>>()?;
        let (sizes, out) = einsum_letters(&eq, &shapes)
            .ok_or("einsum equation not understood (ellipsis or mismatch)")?;
        let all = Count::product(sizes.values());
        let o = Count::product(out.iter().map(|l| &sizes[l]));
        let n = shapes.len() as i128;
        let flops = &(&all * (n - 1).max(0)) + &(&all - &o);
        let macs = if n == 2 { all } else { Count::zero() };
        Ok(OpCost {
            flops,
            macs,
            ..Default::default()
        })
    })())
}

pub fn rule(op: &str) -> Option<Rule> {
    Some(match op {
        "Gemm" | "QGemm" => gemm,
        "MatMul" | "MatMulInteger" | "QLinearMatMul" => matmul,
        "Einsum" => einsum,
        _ => return None,
    })
}
