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
//! - com.microsoft MatMulIntegerToFloat(A, B, a_scale, b_scale, a_zp?, b_zp?, bias?): the
//!   integer product (2K − 1)·M·Ncols·batch, + M·Ncols·batch to scale to float (one multiply by
//!   a_scale·b_scale), + M·Ncols·batch with the bias. DynamicQuantizeMatMul(A, B, b_scale,
//!   b_zp?, bias?): the same, + 5 per element of A for quantizing it on the fly
//!   (DynamicQuantizeLinear's rule). MACs K·M·Ncols·batch.
//! - com.microsoft FusedMatMul (alpha, transA, transB on the last two dims): as MatMul on the
//!   transposed operands, + M·Ncols·batch when alpha ≠ 1. GemmFastGelu(X, W, bias?): MatMul,
//!   plus M·N with the bias, plus 9 per output (FastGelu). FusedGemm: Gemm plus the
//!   activation's per-element constant (elementwise.rs) per output.
//! - Einsum with n operands: let P = product of all index sizes, O = product of output index
//!   sizes; FLOPs = (n − 1)·P multiplications + (P − O) additions; MACs = P for two operands.
//!
//! Shapes: Gemm [M, N]; MatMul numpy-style (1-D operands promoted and the added dim dropped,
//! batch dims broadcast); Einsum the output letters' sizes. MatMulInteger gives int32, QGemm
//! float without y_scale (else y_zero_point's type, uint8 by default), QLinearMatMul
//! y_zero_point's type; MatMulIntegerToFloat the scales' type, DynamicQuantizeMatMul A's.
//! Control inputs: none.

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
    r.microsoft("FusedMatMul", OpDef::new(fused_matmul_shape, fused_matmul));
    r.microsoft("GemmFastGelu", OpDef::new(matmul_shape, gemm_fast_gelu));
    r.microsoft("FusedGemm", OpDef::new(gemm_shape, fused_gemm));
    r.microsoft(
        "MatMulIntegerToFloat",
        OpDef::new(matmul_shape, matmul_to_float),
    );
    r.microsoft(
        "DynamicQuantizeMatMul",
        OpDef::new(matmul_shape, matmul_to_float),
    );
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

/// MatMulIntegerToFloat / DynamicQuantizeMatMul: integer product, rescale, bias, and for the
/// dynamic one the quantization of A.
fn matmul_to_float(c: &CostCtx) -> RuleResult {
    let dynamic = c.node.op_type == "DynamicQuantizeMatMul";
    let bias = if dynamic { 4 } else { 6 };
    Ok((|| -> Result<OpCost, Missing> {
        let (batch, m, k, n) = matmul_dims(c.in_shape(0)?, c.in_shape(1)?)?;
        let outputs = &(&batch * &m) * &n;
        let macs = &outputs * &k;
        let mut flops = &(&(&k * 2) - &Count::int(1)) * &outputs;
        if k.as_int() == Some(0) {
            flops = Count::zero();
        }
        flops = &flops + &outputs; // to float: one multiply by a_scale·b_scale
        if c.has_input(bias) {
            flops = &flops + &outputs;
        }
        if dynamic {
            flops = &flops + &(&c.in_elems(0)? * 5);
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
    let s = matmul_out(c.shape(ai)?, c.shape(bi)?)?;
    let out_dt = match op {
        "MatMulInteger" => dt::INT32,
        "QLinearMatMul" => c.dtype(7),
        "MatMulIntegerToFloat" => c.dtype(2),
        _ => c.dtype(0),
    };
    one(Some(s), out_dt, None)
}

/// The numpy matmul output shape (1-D operands promoted, the added dim dropped).
fn matmul_out(mut sa: Shape, mut sb: Shape) -> Option<Shape> {
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
    Some(s)
}

/// FusedMatMul's operands with transA / transB applied (transBatch* not handled).
fn fused_operands(
    attrs: &crate::model::attr::Attrs,
    a: &Shape,
    b: &Shape,
) -> crate::error::Result<Result<(Shape, Shape), Missing>> {
    let ta = attrs.int_or("transA", 0)? != 0;
    let tb = attrs.int_or("transB", 0)? != 0;
    if attrs.int_or("transBatchA", 0)? != 0 || attrs.int_or("transBatchB", 0)? != 0 {
        return Ok(Err("FusedMatMul with transBatchA/transBatchB is not costed".into()));
    }
    let t = |s: &Shape, yes: bool| {
        let mut s = s.clone();
        if yes && s.len() >= 2 {
            let r = s.len();
            s.swap(r - 1, r - 2);
        }
        s
    };
    Ok(Ok((t(a, ta), t(b, tb))))
}

fn fused_matmul_shape(c: &ShapeCtx) -> ShapeResult {
    let (a, b) = fused_operands(&c.attrs, &c.shape(0)?, &c.shape(1)?)
        .ok()?
        .ok()?;
    one(Some(matmul_out(a, b)?), c.dtype(0), None)
}

fn fused_matmul(c: &CostCtx) -> RuleResult {
    let alpha = c.attrs.float_or("alpha", 1.0)?;
    let (a, b) = match (c.in_shape(0), c.in_shape(1)) {
        (Ok(a), Ok(b)) => match fused_operands(&c.attrs, a, b)? {
            Ok(ab) => ab,
            Err(why) => return Ok(Err(why)),
        },
        (Err(why), _) | (_, Err(why)) => return Ok(Err(why)),
    };
    Ok((|| -> Result<OpCost, Missing> {
        let (batch, m, k, n) = matmul_dims(&a, &b)?;
        let outputs = &(&batch * &m) * &n;
        let mut flops = &(&(&k * 2) - &Count::int(1)) * &outputs;
        if alpha != 1.0 {
            flops = &flops + &outputs;
        }
        Ok(OpCost {
            flops,
            macs: &outputs * &k,
            ..Default::default()
        })
    })())
}

/// GemmFastGelu(X, W, bias?): the product, the bias, FastGelu's 9 per output.
fn gemm_fast_gelu(c: &CostCtx) -> RuleResult {
    let base = matmul(c)?;
    Ok(base.and_then(|mut cost| {
        let outputs = c.out_elems(0)?;
        let per = if c.has_input(2) { 10 } else { 9 };
        cost.flops = &cost.flops + &(&outputs * per);
        Ok(cost)
    }))
}

/// FusedGemm: Gemm, then its activation per output element.
fn fused_gemm(c: &CostCtx) -> RuleResult {
    let act = c.attrs.string("activation")?.unwrap_or_default();
    let Some(per) = super::elementwise::activation_per_element(&act) else {
        return Ok(Err(format!("FusedGemm activation '{act}' has no cost rule")));
    };
    let base = gemm(c)?;
    Ok(base.and_then(|mut cost| {
        let outputs = c.out_elems(0)?;
        cost.flops = &cost.flops + &(&outputs * per);
        Ok(cost)
    }))
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
    fn integer_matmuls_to_float() {
        // A [2,3] int8 × B [3,4] int8: 8 outputs, K = 3
        let i8 = |s: &[i64]| t(s, dt::INT8);
        let ins = [i8(&[2, 3]), i8(&[3, 4]), f(&[]), f(&[])];
        let e = eval(MICROSOFT, "MatMulIntegerToFloat", vec![], &ins, None, 1);
        assert_eq!((e.shape(), e.dtype()), (vec![2, 4], dt::FLOAT));
        assert_eq!(e.flops(), (2 * 3 - 1) * 8 + 8); // product + rescale
        assert_eq!(e.macs(), 3 * 8);
        let ins = [i8(&[2, 3]), i8(&[3, 4]), f(&[]), f(&[]), None, None, f(&[4])];
        let e = eval(MICROSOFT, "MatMulIntegerToFloat", vec![], &ins, None, 1);
        assert_eq!(e.flops(), (2 * 3 - 1) * 8 + 8 + 8); // + bias
        // DynamicQuantizeMatMul(A float [2,3], B int8 [3,4], b_scale): + 5 per element of A
        let ins = [f(&[2, 3]), i8(&[3, 4]), f(&[])];
        let e = eval(MICROSOFT, "DynamicQuantizeMatMul", vec![], &ins, None, 1);
        assert_eq!((e.shape(), e.dtype()), (vec![2, 4], dt::FLOAT));
        assert_eq!(e.flops(), (2 * 3 - 1) * 8 + 8 + 5 * 6);
    }

    #[test]
    fn fused_matmuls_table() {
        // FusedMatMul transB: A [2,3,4] × Bᵀ of [5,4] → [2,3,5]; alpha 0.5 adds one per output
        let attrs = vec![ai("transB", 1), af("alpha", 0.5)];
        let e = eval(MICROSOFT, "FusedMatMul", attrs, &[f(&[2, 3, 4]), f(&[5, 4])], None, 1);
        assert_eq!(e.shape(), [2, 3, 5]);
        assert_eq!(e.flops(), (2 * 4 - 1) * 30 + 30);
        // GemmFastGelu X [3,4] × W [4,5] + bias: product + bias + FastGelu 9
        let ins = [f(&[3, 4]), f(&[4, 5]), f(&[5])];
        let e = eval(MICROSOFT, "GemmFastGelu", vec![], &ins, None, 1);
        assert_eq!(e.flops(), (2 * 4 - 1) * 15 + 15 + 9 * 15);
        // FusedGemm with Relu: Gemm + 1 per output
        let attrs = vec![astr("activation", crate::ops::elementwise::RELU)];
        let ins = [f(&[3, 4]), f(&[4, 5]), f(&[5])];
        let e = eval(MICROSOFT, "FusedGemm", attrs, &ins, None, 1);
        assert_eq!(e.shape(), [3, 5]);
        assert_eq!(e.flops(), (2 * 4 - 1) * 15 + 15 + 15);
        let attrs = vec![astr("activation", "Spline")];
        let e = eval(MICROSOFT, "FusedGemm", attrs, &ins, None, 1);
        assert!(e.missing().contains("activation"));
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
