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
//!
//! Shapes: Gemm [M, N]; MatMul numpy-style (1-D operands promoted and the added dim dropped,
//! batch dims broadcast); Einsum the output letters' sizes. MatMulInteger gives int32, QGemm
//! float without y_scale (else y_zero_point's type, uint8 by default), QLinearMatMul
//! y_zero_point's type. Control inputs: none.

use std::collections::BTreeMap;

use super::common::{broadcast, c as cnt};
use super::{one, CostCtx, Missing, OpCost, OpDef, Registry, RuleResult, ShapeCtx, ShapeResult};
use crate::model::proto::data_type as dt;
use crate::model::Shape;
use crate::sym::Count;

pub fn register(r: &mut Registry) {
    r.onnx("Gemm", OpDef::new(gemm_shape, gemm));
    r.microsoft("QGemm", OpDef::new(gemm_shape, gemm));
    r.onnx("MatMul", OpDef::new(matmul_shape, matmul));
    r.onnx("MatMulInteger", OpDef::new(matmul_shape, matmul));
    r.onnx("QLinearMatMul", OpDef::new(matmul_shape, matmul));
    r.onnx("Einsum", OpDef::new(einsum_shape, einsum));
}

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

fn gemm_shape(c: &ShapeCtx) -> ShapeResult {
    // com.microsoft QGemm: A, B at inputs 0, 3; quantized output when y_scale is given
    let op = c.node.op_type.as_str();
    let bi = if op == "QGemm" { 3 } else { 1 };
    let sa = c.shape(0)?;
    let sb = c.shape(bi)?;
    if sa.len() != 2 || sb.len() != 2 {
        return None;
    }
    let ta = c.attrs.int_or("transA", 0).ok()? != 0;
    let tb = c.attrs.int_or("transB", 0).ok()? != 0;
    let m = if ta { sa[1].clone() } else { sa[0].clone() };
    let n = if tb { sb[0].clone() } else { sb[1].clone() };
    let out_dt = match op {
        "QGemm" if c.input(7).is_some() => match c.dtype(8) {
            0 => dt::UINT8,
            d => d,
        },
        "QGemm" => dt::FLOAT,
        _ => c.dtype(0),
    };
    one(Some(vec![m, n]), out_dt, None)
}

fn matmul_shape(c: &ShapeCtx) -> ShapeResult {
    let op = c.node.op_type.as_str();
    let (ai, bi) = if op == "QLinearMatMul" {
        (0, 3)
    } else {
        (0, 1)
    };
    let mut sa = c.shape(ai)?;
    let mut sb = c.shape(bi)?;
    let (pa, pb) = (sa.len() == 1, sb.len() == 1);
    if pa {
        sa.insert(0, cnt(1));
    }
    if pb {
        sb.push(cnt(1));
    }
    if sa.len() < 2 || sb.len() < 2 {
        return None;
    }
    let ba = sa[..sa.len() - 2].to_vec();
    let bb = sb[..sb.len() - 2].to_vec();
    let mut s = broadcast(&[&ba, &bb])?;
    if !pa {
        s.push(sa[sa.len() - 2].clone());
    }
    if !pb {
        s.push(sb[sb.len() - 1].clone());
    }
    let out_dt = match op {
        "MatMulInteger" => dt::INT32,
        "QLinearMatMul" => c.dtype(7),
        _ => c.dtype(0),
    };
    one(Some(s), out_dt, None)
}

fn einsum_shape(c: &ShapeCtx) -> ShapeResult {
    let eq = c.attrs.string("equation").ok()??;
    let shapes: Vec<Shape> = (0..c.inputs.len())
        .map(|i| c.shape(i))
        .collect::<Option<_>>()?;
    let (letters, out) = einsum_letters(&eq, &shapes)?;
    one(
        Some(out.iter().map(|l| letters[l].clone()).collect()),
        c.dtype(0),
        None,
    )
}

#[cfg(test)]
mod tests {
    use crate::model::proto::data_type as dt;
    use crate::ops::testutil::*;
    use crate::ops::MICROSOFT;

    #[test]
    fn gemm_table() {
        // A [4,8], B [8,3]: M = 4, K = 8, N = 3, M·N = 12
        let e = onnx("Gemm", vec![], &[f(&[4, 8]), f(&[8, 3])]);
        assert_eq!(e.shape(), [4, 3]);
        assert_eq!(e.flops(), (2 * 8 - 1) * 12); // 180
        assert_eq!(e.macs(), 4 * 8 * 3);
        // transB with C: + M·N
        let e = onnx(
            "Gemm",
            vec![ai("transB", 1)],
            &[f(&[4, 8]), f(&[3, 8]), f(&[3])],
        );
        assert_eq!(e.shape(), [4, 3]);
        assert_eq!(e.flops(), (2 * 8 - 1) * 12 + 12);
        // α ≠ 1 and β ≠ 1 with C: two more M·N
        let e = onnx(
            "Gemm",
            vec![af("alpha", 0.5), af("beta", 2.0)],
            &[f(&[4, 8]), f(&[8, 3]), f(&[3])],
        );
        assert_eq!(e.flops(), (2 * 8 - 1) * 12 + 3 * 12);
    }

    #[test]
    fn qgemm_requantizes_with_y_scale() {
        // com.microsoft QGemm(A, a_scale, a_zp, B, b_scale, b_zp, C, y_scale, y_zp)
        let u8 = |s: &[i64]| t(s, dt::UINT8);
        let inputs = [
            u8(&[4, 8]),
            f(&[]),
            u8(&[]),
            u8(&[8, 3]),
            f(&[]),
            u8(&[]),
            t(&[3], dt::INT32),
            f(&[]),
            u8(&[]),
        ];
        let e = eval(MICROSOFT, "QGemm", vec![], &inputs, None, 1);
        assert_eq!(e.shape(), [4, 3]);
        assert_eq!(e.dtype(), dt::UINT8);
        assert_eq!(e.flops(), (2 * 8 - 1) * 12 + 12 + 3 * 12); // product, C, requantization
        // without y_scale the output is float and not requantized
        let e = eval(MICROSOFT, "QGemm", vec![], &inputs[..7], None, 1);
        assert_eq!(e.dtype(), dt::FLOAT);
        assert_eq!(e.flops(), (2 * 8 - 1) * 12 + 12);
    }

    #[test]
    fn matmul_table() {
        // [2,1,4,5] × [3,5,6]: batch [2,3] (6), M = 4, K = 5, N = 6
        let e = onnx("MatMul", vec![], &[f(&[2, 1, 4, 5]), f(&[3, 5, 6])]);
        assert_eq!(e.shape(), [2, 3, 4, 6]);
        assert_eq!(e.flops(), (2 * 5 - 1) * 4 * 6 * 6); // 1,296
        assert_eq!(e.macs(), 5 * 4 * 6 * 6);
        // a 1-D left operand: [5] × [5,6] → [6]
        let e = onnx("MatMul", vec![], &[f(&[5]), f(&[5, 6])]);
        assert_eq!(e.shape(), [6]);
        assert_eq!(e.flops(), (2 * 5 - 1) * 6);
        // an empty batch: [0,4,5] × [5,6] → [0,4,6], nothing to compute
        let e = onnx("MatMul", vec![], &[f(&[0, 4, 5]), f(&[5, 6])]);
        assert_eq!(e.shape(), [0, 4, 6]);
        assert_eq!(e.flops(), 0);
        // MatMulInteger is int32; a scalar operand is not a matmul (no panic)
        let e = onnx(
            "MatMulInteger",
            vec![],
            &[t(&[2, 3], dt::UINT8), t(&[3, 4], dt::INT8)],
        );
        assert_eq!(e.dtype(), dt::INT32);
        let e = onnx("MatMul", vec![], &[f(&[]), f(&[5, 6])]);
        assert!(e.outs.is_none());
        assert!(e.missing().contains("scalar"));
    }

    #[test]
    fn einsum_table() {
        // bij,bjk->bik with b = 2, i = 3, j = 4, k = 5: P = 120, O = 30
        let e = onnx(
            "Einsum",
            vec![astr("equation", "bij,bjk->bik")],
            &[f(&[2, 3, 4]), f(&[2, 4, 5])],
        );
        assert_eq!(e.shape(), [2, 3, 5]);
        assert_eq!(e.flops(), 120 + (120 - 30)); // (n − 1)·P + (P − O) = 210
        assert_eq!(e.macs(), 120);
        // implicit output (letters seen once, sorted): ij,jk → ik
        let e = onnx(
            "Einsum",
            vec![astr("equation", "ij,jk")],
            &[f(&[3, 4]), f(&[4, 5])],
        );
        assert_eq!(e.shape(), [3, 5]);
        // a missing equation is an error naming the attribute
        let e = onnx("Einsum", vec![], &[f(&[3, 4]), f(&[4, 5])]);
        assert!(e.error().contains("equation"));
    }
}
