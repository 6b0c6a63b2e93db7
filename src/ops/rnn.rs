//! Recurrent cells. H hidden size, I input size, per time step, batch item and
//! direction (then × seq_length × batch × num_directions):
//! - LSTM: MACs 4H·(I + H); FLOPs 4H·(2I − 1) + 4H·(2H − 1) + 4H (sum of the two products),
//!   8H more with B, 12H (3 sigmoids × 4), 2H (2 tanh), 4H (cell and hidden updates), and 6H
//!   more with peepholes.
//! - GRU: MACs 3H·(I + H); FLOPs 3H·(2I − 1) + 3H·(2H − 1) + 3H + 6H with B + 8H (2 sigmoids)
//!   + H (tanh) + H (reset gate product) + 4H (blend).
//! - RNN: MACs H·(I + H); FLOPs H·(2I − 1) + H·(2H − 1) + H + 2H with B + H (tanh).
//!
//! Shapes: X [S, B, I] and W [D, gates·H, I] give Y [S, D, B, H] and Y_h (Y_c) [D, B, H];
//! with `layout` 1, X [B, S, I], Y [B, S, D, H], Y_h [B, D, H]. Control inputs: none (the
//! optional sequence lengths are data).

/// The op type, named once (the tract screen matches on it too).
pub const LSTM: &str = "LSTM";

use super::{CostCtx, Missing, OpCost, OpDef, Registry, RuleResult, ShapeCtx, ShapeResult};
use crate::model::shapes::TensorFacts;
use crate::sym::Count;

pub fn register(r: &mut Registry) {
    r.onnx(LSTM, OpDef::new(recurrent_shape, recurrent));
    r.onnx("GRU", OpDef::new(recurrent_shape, recurrent));
    r.onnx("RNN", OpDef::new(recurrent_shape, recurrent));
}

fn recurrent_shape(c: &ShapeCtx) -> ShapeResult {
    let x = c.shape(0)?;
    let w = c.shape(1)?;
    if x.len() != 3 || w.len() != 3 {
        return None;
    }
    let gates: i128 = match c.node.op_type.as_str() {
        "LSTM" => 4,
        "GRU" => 3,
        _ => 1,
    };
    let h = match c.attrs.int("hidden_size").ok()? {
        Some(h) if h > 0 => Count::int(h as i128),
        Some(_) => return None,
        None => w[1].div_exact(gates)?,
    };
    let d = w[0].clone();
    let layout = c.attrs.int_or("layout", 0).ok()?;
    let (y, state) = if layout == 0 {
        (
            vec![x[0].clone(), d.clone(), x[1].clone(), h.clone()],
            vec![d, x[1].clone(), h],
        )
    } else {
        (
            vec![x[0].clone(), x[1].clone(), d.clone(), h.clone()],
            vec![x[0].clone(), d, h],
        )
    };
    let dtype = c.dtype(0);
    let fact = |shape| TensorFacts {
        shape: Some(shape),
        dtype,
        value: None,
    };
    Some(vec![fact(y), fact(state.clone()), fact(state)])
}

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


#[cfg(test)]
mod tests {
    use crate::ops::testutil::*;
    use crate::ops::ONNX;

    #[test]
    fn recurrent_table() {
        // X [S=2, B=1, I=3], H = 2, one direction: 2 steps
        let lstm = eval(
            ONNX,
            "LSTM",
            vec![ai("hidden_size", 2)],
            &[f(&[2, 1, 3]), f(&[1, 8, 3]), f(&[1, 8, 2])],
            Some(vec![]),
            1,
        );
        // per step: 4H·(2I − 1) + 4H·(2H − 1) = 8·5 + 8·3 = 64; + 4H sum = 8; + (12 + 2 + 4)·H = 36
        assert_eq!(lstm.flops(), 2 * (64 + 8 + 36));
        // Y [S, D, B, H] = [2, 1, 1, 2]; Y_h and Y_c [D, B, H] = [1, 1, 2]
        assert_eq!(lstm.shape_of(0), vec![2, 1, 1, 2]);
        assert_eq!(lstm.shape_of(1), vec![1, 1, 2]);
        assert_eq!(lstm.macs(), 2 * (4 * 2 * (3 + 2)));
        // GRU with B: 3H·(2I − 1) + 3H·(2H − 1) = 6·5 + 6·3 = 48; + 3H = 6; + 6H = 12; + 14H = 28
        let gru = eval(
            ONNX,
            "GRU",
            vec![ai("hidden_size", 2)],
            &[f(&[2, 1, 3]), f(&[1, 6, 3]), f(&[1, 6, 2]), f(&[1, 12])],
            Some(vec![]),
            1,
        );
        assert_eq!(gru.flops(), 2 * (48 + 6 + 12 + 28));
        // without hidden_size, H comes from W: 8 / 4 gates = 2
        let e = eval(ONNX, "LSTM", vec![], &[f(&[2, 1, 3]), f(&[1, 8, 3])], Some(vec![]), 1);
        assert_eq!(e.macs(), 2 * (4 * 2 * (3 + 2)));
        // X not 3-D: uncosted with the reason
        let e = eval(ONNX, "RNN", vec![], &[f(&[2, 3]), f(&[1, 2, 3])], Some(vec![]), 1);
        assert!(e.missing().contains("3-D"));
    }
}
