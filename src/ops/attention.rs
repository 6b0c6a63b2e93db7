//! Attention.
//! - Attention (com.microsoft, input [B,S,hidden], weights [hidden, 3·hidden]): QKV projection
//!   (2·hidden − 1)·3·hidden·B·S + 3·hidden·B·S bias; per head (dh = hidden / heads):
//!   QKᵀ (2dh − 1)·S², scale S², softmax (5S − 2)·S, PV (2S − 1)·dh·S. MACs: projection
//!   hidden·3·hidden·B·S + 2·dh·S²·heads·B. Past/present key caches are not counted.
//! - Attention (ONNX, opset 23, Q [B,Sq,·] K/V [B,Sk,·] or 4-D): QKᵀ (2dh − 1)·Sq·Sk, scale
//!   Sq·Sk, softmax (5Sk − 2)·Sq, PV (2Sk − 1)·dv·Sq, per head and batch item.
//!
//! Shapes: from tract or the declarations (no own rule). Control inputs: none.

use super::{CostCtx, Missing, OpCost, OpDef, Registry, RuleResult};
use crate::sym::Count;

pub fn register(r: &mut Registry) {
    r.onnx("Attention", OpDef::cost(onnx_attention));
    r.microsoft("Attention", OpDef::cost(ms_attention));
}

fn attention_core(
    b: &Count,
    heads: &Count,
    sq: &Count,
    sk: &Count,
    dh: &Count,
    dv: &Count,
) -> (Count, Count) {
    let one = Count::int(1);
    let per_head = Count::sum(&[
        &(&(&(dh * 2) - &one) * sq) * sk,
        sq * sk,
        &(&(sk * 5) - &Count::int(2)) * sq,
        &(&(&(sk * 2) - &one) * dv) * sq,
    ]);
    let n = b * heads;
    let flops = &per_head * &n;
    let macs = &(&(sq * sk) * &(dh + dv)) * &n;
    (flops, macs)
}

fn ms_attention(c: &CostCtx) -> RuleResult {
    let heads = c
        .attrs
        .int("num_heads")?
        .ok_or_else(|| c.attrs.error("num_heads", "required attribute is missing"))?;
    Ok((|| -> Result<OpCost, Missing> {
        let x = c.in_shape(0)?;
        let w = c.in_shape(1)?;
        if x.len() != 3 || w.len() != 2 {
            return Err("input must be [B,S,hidden] and weights 2-D".into());
        }
        let (b, s, hidden) = (&x[0], &x[1], &x[2]);
        let qkv = &w[1];
        let tokens = b * s;
        let mut flops = &(&(&(hidden * 2) - &Count::int(1)) * qkv) * &tokens;
        if c.has_input(2) {
            flops = &flops + &(qkv * &tokens);
        }
        let mut macs = &(hidden * qkv) * &tokens;
        let dh = qkv
            .div_exact(3 * heads as i128)
            .ok_or("head size not integral")?;
        let (f, m) = attention_core(b, &Count::int(heads as i128), s, s, &dh, &dh);
        flops = &flops + &f;
        macs = &macs + &m;
        Ok(OpCost {
            flops,
            macs,
            note: Some("QKV projection and attention core; past/present caches not counted".into()),
            ..Default::default()
        })
    })())
}

fn onnx_attention(c: &CostCtx) -> RuleResult {
    let q_heads = c.attrs.int("q_num_heads")?;
    Ok((|| -> Result<OpCost, Missing> {
        let q = c.in_shape(0)?;
        let k = c.in_shape(1)?;
        let v = c.in_shape(2)?;
        let (b, heads, sq, sk, dh, dv) = match (q.len(), q_heads) {
            (4, _) => (
                q[0].clone(),
                q[1].clone(),
                q[2].clone(),
                k[2].clone(),
                q[3].clone(),
                v[3].clone(),
            ),
            (3, Some(h)) => {
                let hh = h as i128;
                (
                    q[0].clone(),
                    Count::int(hh),
                    q[1].clone(),
                    k[1].clone(),
                    q[2].div_exact(hh).ok_or("head size not integral")?,
                    v[2].div_exact(hh).ok_or("head size not integral")?,
                )
            }
            _ => return Err("3-D inputs need q_num_heads".into()),
        };
        let (flops, macs) = attention_core(&b, &heads, &sq, &sk, &dh, &dv);
        Ok(OpCost {
            flops,
            macs,
            ..Default::default()
        })
    })())
}

#[cfg(test)]
mod tests {
    use crate::ops::testutil::*;
    use crate::ops::{MICROSOFT, ONNX};

    #[test]
    fn onnx_attention_4d() {
        // Q [B=1, H=2, Sq=3, d=4], K/V [1, 2, Sk=5, 4]; per head:
        // QKᵀ (2·4 − 1)·3·5 = 105, scale 15, softmax (5·5 − 2)·3 = 69, PV (2·5 − 1)·4·3 = 108
        let e = eval(
            ONNX,
            "Attention",
            vec![],
            &[f(&[1, 2, 3, 4]), f(&[1, 2, 5, 4]), f(&[1, 2, 5, 4])],
            Some(vec![]),
            1,
        );
        assert_eq!(e.flops(), 2 * (105 + 15 + 69 + 108));
        assert_eq!(e.macs(), 2 * (3 * 5 * (4 + 4)));
    }

    #[test]
    fn ms_attention_includes_the_projection() {
        // X [1, S=3, 8], W [8, 24], bias [24], 2 heads of dh = 24 / (3·2) = 4
        let e = eval(
            MICROSOFT,
            "Attention",
            vec![ai("num_heads", 2)],
            &[f(&[1, 3, 8]), f(&[8, 24]), f(&[24])],
            Some(vec![]),
            1,
        );
        let proj = (2 * 8 - 1) * 24 * 3 + 24 * 3; // 1,152
        let per_head = (2 * 4 - 1) * 9 + 9 + (5 * 3 - 2) * 3 + (2 * 3 - 1) * 4 * 3; // 63+9+39+60
        assert_eq!(e.flops(), proj + 2 * per_head);
        let e = eval(MICROSOFT, "Attention", vec![], &[f(&[1, 3, 8]), f(&[8, 24])], Some(vec![]), 1);
        assert!(e.error().contains("num_heads"));
    }
}
