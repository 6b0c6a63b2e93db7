//! Recurrent cells and attention. H hidden size, I input size, per time step, batch item and
//! direction (then × seq_length × batch × num_directions):
//! - LSTM: MACs 4H·(I + H); FLOPs 4H·(2I − 1) + 4H·(2H − 1) + 4H (sum of the two products),
//!   8H more with B, 12H (3 sigmoids × 4), 2H (2 tanh), 4H (cell and hidden updates), and 6H
//!   more with peepholes.
//! - GRU: MACs 3H·(I + H); FLOPs 3H·(2I − 1) + 3H·(2H − 1) + 3H + 6H with B + 8H (2 sigmoids)
//!   + H (tanh) + H (reset gate product) + 4H (blend).
//! - RNN: MACs H·(I + H); FLOPs H·(2I − 1) + H·(2H − 1) + H + 2H with B + H (tanh).
//! - Attention (com.microsoft, input [B,S,hidden], weights [hidden, 3·hidden]): QKV projection
//!   (2·hidden − 1)·3·hidden·B·S + 3·hidden·B·S bias; per head (dh = hidden / heads):
//!   QKᵀ (2dh − 1)·S², scale S², softmax (5S − 2)·S, PV (2S − 1)·dh·S. MACs: projection
//!   hidden·3·hidden·B·S + 2·dh·S²·heads·B. Past/present key caches are not counted.
//! - Attention (ONNX, opset 23, Q [B,Sq,·] K/V [B,Sk,·] or 4-D): QKᵀ (2dh − 1)·Sq·Sk, scale
//!   Sq·Sk, softmax (5Sk − 2)·Sq, PV (2Sk − 1)·dv·Sq, per head and batch item.

use super::{CostCtx, Missing, OpCost, Rule, RuleResult};
use crate::sym::Count;

fn recurrent(c: &CostCtx) -> RuleResult {
    let layout = c.attrs.int_or("layout", 0)?;
    let h_attr = c.attrs.int("hidden_size")?;
    let op = c.node.op_type.clone();
    Ok((|| -> Result<OpCost, Missing> {
        let x = c.in_shape(0)?;
        let w = c.in_shape(1)?; // [D, gates·H, I]
        if x.len() != 3 || w.len() != 3 {
            return Err("X and W must be 3-D".into());
        }
        let (s, b) = if layout == 0 {
            (&x[0], &x[1])
        } else {
            (&x[1], &x[0])
        };
        let i = &x[2];
        let d = &w[0];
        let gates: i128 = match op.as_str() {
            "LSTM" => 4,
            "GRU" => 3,
            _ => 1,
        };
        let h = match h_attr {
            Some(h) => Count::int(h as i128),
            None => w[1].div_exact(gates).ok_or("hidden size unknown")?,
        };
        let has_b = c.has_input(3);
        let one = Count::int(1);
        let mm = &(&(&(&(i * 2) - &one) * &h) + &(&(&(&h * 2) - &one) * &h)) * gates;
        let mut per = &mm + &(&h * gates); // the sum of the two products
        if has_b {
            per = &per + &(&h * (2 * gates));
        }
        let tail: i128 = match op.as_str() {
            "LSTM" => 12 + 2 + 4 + if c.has_input(7) { 6 } else { 0 },
            "GRU" => 8 + 1 + 1 + 4,
            _ => 1,
        };
        per = &per + &(&h * tail);
        let steps = &(s * b) * d;
        let macs = &(&(&(i + &h) * &h) * gates) * &steps;
        Ok(OpCost {
            flops: &per * &steps,
            macs,
            ..Default::default()
        })
    })())
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

pub fn rule(op: &str) -> Option<Rule> {
    Some(match op {
        "LSTM" | "GRU" | "RNN" => recurrent,
        "Attention" => onnx_attention,
        _ => return None,
    })
}

pub fn ms_rule(op: &str) -> Option<Rule> {
    Some(match op {
        "Attention" => ms_attention,
        _ => return None,
    })
}
