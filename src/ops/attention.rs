//! Attention and rotary embeddings.
//!
//! **The core.** B batch items, H query heads, S queries each attending T keys (T = past + new
//! keys; bounded by a local window), head size dk for Q and K, dv for V:
//! - QKᵀ = B·H·S·T·(2·dk − 1) (a dot product of length dk per score);
//! - scale = B·H·S·T (one multiply per score);
//! - softmax = B·H·S·(5T − 2) (norm.rs's Softmax rule per row of T scores);
//! - AV = B·H·S·dv·(2T − 1) (a dot product of length T per output element);
//! - softcap (when the attribute is > 0) = 3·B·H·S·T (divide, tanh, multiply);
//! - MACs = B·H·S·T·(dk + dv).
//!
//! The causal mask is not subtracted: the dense S×T block is counted, as runtimes compute it. A
//! row of 0 keys costs 0. Grouped-query attention (H query heads sharing Hkv key/value heads)
//! costs the same core: each query head still scores T keys.
//!
//! **Rotary** (RotaryEmbedding, GroupQueryAttention with do_rotary): each rotated element
//! becomes x·cos ∓ y·sin: 3 per rotated element, over the rotary dims (rotary_embedding_dim, or
//! 2 × the cos cache's width, else the whole head).
//!
//! **The ops.**
//! - GroupQueryAttention (com.microsoft; num_heads H, kv_num_heads Hkv): query [B,S,H·d] with
//!   key/value [B,Skv,Hkv·d], or packed QKV [B,S,(H + 2·Hkv)·d] (no key input); past_key/value
//!   [B,Hkv,P,d]. T = the total_sequence_length input when its value is known, else P + Skv
//!   (a past already as long as T is a shared max-length buffer: present keeps its length);
//!   with local_window_size W ≥ 0, T = min(T, W + 1) (the query itself and W keys before it,
//!   as onnxruntime's kernel). Core + rotary on the new Q and K (B·S·(H + Hkv)·rd elements).
//!   Outputs [B,S,H·d], present_key/value [B,Hkv,P + Skv,d].
//! - MultiHeadAttention (com.microsoft; num_heads H): query [B,S,H·dk] (or packed QKV
//!   [B,S,H,3,dk]), key [B,Skv,H·dk] (or packed KV [B,Skv,H,2,dk], or keys already split
//!   [B,H,Skv,dk]), value [B,Skv,H·dv]; past_key/value [B,H,P,dk] add P keys. The projection
//!   bias input adds 1 per Q, K and V element it applies to. Core over T = P + Skv.
//! - Attention (com.microsoft; num_heads H): input [B,S,hidden], weights [hidden, q + k + v]
//!   (qkv_hidden_sizes, else three equal parts): the QKV projection by the FC rule,
//!   (2·hidden − 1)·(q + k + v)·B·S, + (q + k + v)·B·S with the bias; past [2,B,H,P,dk] adds P
//!   keys. Core with dk = q/H, dv = v/H, T = P + S.
//! - Attention (ONNX, opset 23; q_num_heads, kv_num_heads for 3-D inputs): Q [B,H,S,dk] or
//!   [B,S,H·dk], K [B,Hkv,Skv,dk] or [B,Skv,Hkv·dk], V likewise with dv; past_key/value
//!   [B,Hkv,P,·]. Core over T = P + Skv.
//! - RotaryEmbedding (com.microsoft: input, position_ids, cos_cache, sin_cache; ONNX opset 23:
//!   X, cos_cache, sin_cache, position_ids): 3 per rotated element.
//!
//! Shapes: outputs, present key/value (and the QK output) as above. Invalid head counts (not
//! positive, H not a multiple of Hkv) are errors naming the attribute; widths that do not
//! divide into heads leave the node uncosted with the reason.
//! Control inputs: sequence lengths, masks and the rotary cos/sin tables (buffers, not
//! parameters).

use super::common::c as cnt;
use super::norm::{SOFTMAX_PER_ELEMENT, SOFTMAX_PER_ROW};
use super::{
    Control, CostCtx, Missing, OpCost, OpDef, Registry, RuleResult, ShapeCtx, ShapeResult,
};
use crate::error::Result;
use crate::model::attr::Attrs;
use crate::model::shapes::TensorFacts;
use crate::model::values::Value;
use crate::model::Shape;
use crate::sym::Count;

pub fn register(r: &mut Registry) {
    r.onnx(
        "Attention",
        OpDef::new(onnx_attention_shape, onnx_attention).control(Control::Slots(&[3, 6])),
    );
    r.microsoft(
        "Attention",
        OpDef::new(ms_attention_shape, ms_attention).control(Control::Slots(&[3, 6])),
    );
    r.microsoft(
        "MultiHeadAttention",
        OpDef::new(mha_shape, mha).control(Control::Slots(&[4, 8, 9])),
    );
    r.microsoft(
        "GroupQueryAttention",
        OpDef::new(gqa_shape, gqa).control(Control::Slots(&[5, 6, 7, 8])),
    );
    r.microsoft(
        "RotaryEmbedding",
        OpDef::new(super::common::same_shape, ms_rotary).control(Control::Slots(&[2, 3])),
    );
    r.onnx(
        "RotaryEmbedding",
        OpDef::new(super::common::same_shape, onnx_rotary).control(Control::Slots(&[1, 2])),
    );
}

// ---------------------------------------------------------------------------------------------
// the core
// ---------------------------------------------------------------------------------------------

/// B batch items × H query heads, S queries each attending T keys; head sizes dk (Q, K), dv (V).
pub struct Core {
    pub b: Count,
    pub h: Count,
    pub s: Count,
    pub t: Count,
    pub dk: Count,
    pub dv: Count,
}

/// 2n − 1: a dot product (or a sum) of n terms; 0 for n = 0.
fn dot(n: &Count) -> Count {
    if n.as_int() == Some(0) {
        Count::zero()
    } else {
        &(n * 2) - &Count::int(1)
    }
}

impl Core {
    /// (FLOPs, MACs) by the module's formulas.
    pub fn cost(&self, softcap: bool) -> (Count, Count) {
        let rows = &(&self.b * &self.h) * &self.s; // B·H·S
        let scores = &rows * &self.t; // B·H·S·T
        let qk = &scores * &dot(&self.dk);
        let softmax = if self.t.as_int() == Some(0) {
            Count::zero()
        } else {
            &rows * &(&(&self.t * SOFTMAX_PER_ELEMENT) + &Count::int(SOFTMAX_PER_ROW))
        };
        let av = &(&rows * &self.dv) * &dot(&self.t);
        let cap = if softcap { &scores * 3 } else { Count::zero() };
        let flops = Count::sum(&[qk, scores.clone(), softmax, av, cap]);
        let macs = &scores * &(&self.dk + &self.dv);
        (flops, macs)
    }
}

/// A positive head count, or an error naming the attribute.
fn heads(a: &Attrs, name: &str) -> Result<Option<i64>> {
    match a.int(name)? {
        Some(h) if h <= 0 => Err(a.error(name, format!("must be positive, found {h}"))),
        h => Ok(h),
    }
}

fn required_heads(a: &Attrs, name: &str) -> Result<i64> {
    heads(a, name)?.ok_or_else(|| a.error(name, "required attribute is missing"))
}

/// `x / k` when exact.
fn split(x: &Count, k: i128, what: &str) -> std::result::Result<Count, Missing> {
    x.div_exact(k)
        .ok_or_else(|| format!("{what} {x} does not divide into {k} heads"))
}

/// The value of a scalar (or one-element) integer input, when known.
fn scalar(v: Option<&Value>) -> Option<Count> {
    match v? {
        Value::Ints(x) if x.len() == 1 => Some(x[0].clone()),
        _ => None,
    }
}

/// What the cost and shape rules see of a node's inputs.
trait Inputs {
    fn shape(&self, i: usize) -> Option<Shape>;
    fn present(&self, i: usize) -> bool;
    fn value(&self, i: usize) -> Option<Value>;
}

impl Inputs for CostCtx<'_> {
    fn shape(&self, i: usize) -> Option<Shape> {
        self.in_shape(i).ok().cloned()
    }
    fn present(&self, i: usize) -> bool {
        self.has_input(i)
    }
    fn value(&self, i: usize) -> Option<Value> {
        self.inputs.get(i).copied().flatten()?.value.clone()
    }
}

impl Inputs for ShapeCtx<'_> {
    fn shape(&self, i: usize) -> Option<Shape> {
        ShapeCtx::shape(self, i)
    }
    fn present(&self, i: usize) -> bool {
        self.input(i).is_some()
    }
    fn value(&self, i: usize) -> Option<Value> {
        self.val(i)
    }
}

fn need(x: &dyn Inputs, i: usize) -> std::result::Result<Shape, Missing> {
    x.shape(i).ok_or_else(|| format!("shape of input {i} unknown"))
}

fn rank(s: &Shape, r: usize, what: &str) -> std::result::Result<(), Missing> {
    if s.len() == r {
        Ok(())
    } else {
        Err(format!("{what} must be {r}-D, found rank {}", s.len()))
    }
}

fn facts(shape: Shape, dtype: i32) -> TensorFacts {
    TensorFacts {
        shape: Some(shape),
        dtype,
        value: None,
    }
}

// ---------------------------------------------------------------------------------------------
// GroupQueryAttention
// ---------------------------------------------------------------------------------------------

struct Gqa {
    core: Core,
    kv_heads: i64,
    /// Keys held by present_key/value: past + new.
    present: Count,
    /// Rotated dims per head when do_rotary.
    rotary: Option<Count>,
    note: Option<String>,
}

fn gqa_read(a: &Attrs, x: &dyn Inputs) -> Result<std::result::Result<Gqa, Missing>> {
    let h = required_heads(a, "num_heads")?;
    let kvh = required_heads(a, "kv_num_heads")?;
    if h % kvh != 0 {
        return Err(a.error(
            "kv_num_heads",
            format!("{kvh} does not divide num_heads {h}"),
        ));
    }
    let window = a.int_or("local_window_size", -1)?;
    let do_rotary = a.int_or("do_rotary", 0)? != 0;
    Ok((|| -> std::result::Result<Gqa, Missing> {
        let q = need(x, 0)?;
        rank(&q, 3, "query")?;
        let (b, s, width) = (q[0].clone(), q[1].clone(), &q[2]);
        let (d, skv) = if x.present(1) {
            let k = need(x, 1)?;
            rank(&k, 3, "key")?;
            (split(width, h as i128, "query width")?, k[1].clone())
        } else {
            let packed = split(width, (h + 2 * kvh) as i128, "packed QKV width")?;
            (packed, s.clone())
        };
        let past = match x.shape(3) {
            Some(p) => {
                rank(&p, 4, "past_key")?;
                p[2].clone()
            }
            None => Count::zero(),
        };
        let total = scalar(x.value(6).as_ref());
        // past and present sharing one max-length buffer: past already holds ≥ T positions
        let shared = matches!(
            (past.as_int(), total.as_ref().and_then(|t| t.as_int()), skv.as_int()),
            (Some(p), Some(t), Some(s)) if s > 0 && p >= t
        );
        let present = if shared {
            past.clone()
        } else {
            &past + &skv
        };
        let mut t = total.unwrap_or_else(|| &past + &skv);
        let mut note = None;
        if window >= 0 {
            let w = window as i128 + 1;
            match t.as_int() {
                Some(v) if v > w => t = Count::int(w),
                Some(_) => {}
                None => {
                    note = Some(format!(
                        "local window {window}: keys attended counted as {t}, at most {w} once bound"
                    ))
                }
            }
        }
        let rotary = do_rotary.then(|| match x.shape(7) {
            Some(cos) if cos.len() == 2 => &cos[1] * 2,
            _ => d.clone(),
        });
        Ok(Gqa {
            core: Core {
                b,
                h: cnt(h),
                s,
                t,
                dk: d.clone(),
                dv: d,
            },
            kv_heads: kvh,
            present,
            rotary,
            note,
        })
    })())
}

fn gqa(c: &CostCtx) -> RuleResult {
    let softcap = c.attrs.float_or("softcap", 0.0)? > 0.0;
    let g = match gqa_read(&c.attrs, c)? {
        Ok(g) => g,
        Err(why) => return Ok(Err(why)),
    };
    let (mut flops, macs) = g.core.cost(softcap);
    if let Some(rd) = &g.rotary {
        let heads = &g.core.h + &cnt(g.kv_heads);
        let rotated = &(&(&g.core.b * &g.core.s) * &heads) * rd;
        flops = &flops + &(&rotated * 3);
    }
    Ok(Ok(OpCost {
        flops,
        macs,
        note: g.note,
        ..Default::default()
    }))
}

fn gqa_shape(c: &ShapeCtx) -> ShapeResult {
    let g = gqa_read(&c.attrs, c).ok()?.ok()?;
    let k = &g.core;
    let cache_type = match c.dtype(3) {
        0 => c.dtype(0),
        t => t,
    };
    let kv = vec![k.b.clone(), cnt(g.kv_heads), g.present.clone(), k.dk.clone()];
    Some(vec![
        facts(vec![k.b.clone(), k.s.clone(), &k.h * &k.dv], c.dtype(0)),
        facts(kv.clone(), cache_type),
        facts(kv, cache_type),
        facts(
            vec![k.b.clone(), k.h.clone(), k.s.clone(), k.t.clone()],
            c.dtype(0),
        ),
    ])
}

// ---------------------------------------------------------------------------------------------
// MultiHeadAttention (com.microsoft)
// ---------------------------------------------------------------------------------------------

struct Mha {
    core: Core,
    /// Elements the projection bias is added to.
    biased: Count,
}

fn mha_read(a: &Attrs, x: &dyn Inputs) -> Result<std::result::Result<Mha, Missing>> {
    let h = required_heads(a, "num_heads")?;
    let hh = h as i128;
    Ok((|| -> std::result::Result<Mha, Missing> {
        let q = need(x, 0)?;
        let mut biased = Count::product(&q);
        let (b, s, dk, kv) = match q.len() {
            3 => (q[0].clone(), q[1].clone(), split(&q[2], hh, "query width")?, None),
            // packed QKV [B, S, H, 3, dk]: keys and values come with the queries
            5 => (q[0].clone(), q[1].clone(), q[4].clone(), Some((q[1].clone(), q[4].clone()))),
            r => return Err(format!("query must be 3-D or 5-D, found rank {r}")),
        };
        let (skv, dv, split_keys) = match kv {
            Some((skv, d)) => (skv, d, false),
            None => {
                let k = need(x, 1)?;
                match k.len() {
                    3 => {
                        biased = &biased + &Count::product(&k);
                        let v = need(x, 2)?;
                        rank(&v, 3, "value")?;
                        biased = &biased + &Count::product(&v);
                        (k[1].clone(), split(&v[2], hh, "value width")?, false)
                    }
                    // packed KV [B, Skv, H, 2, dk]
                    5 => {
                        biased = &biased + &Count::product(&k);
                        (k[1].clone(), k[4].clone(), false)
                    }
                    // keys already split into heads [B, H, Skv, dk] (no bias, no past)
                    4 => {
                        let v = need(x, 2)?;
                        rank(&v, 4, "value")?;
                        (k[2].clone(), v[3].clone(), true)
                    }
                    r => return Err(format!("key must be 3-D, 4-D or 5-D, found rank {r}")),
                }
            }
        };
        let past = match x.shape(6) {
            Some(p) if !split_keys => {
                rank(&p, 4, "past_key")?;
                p[2].clone()
            }
            _ => Count::zero(),
        };
        if !x.present(3) {
            biased = Count::zero();
        }
        Ok(Mha {
            core: Core {
                b,
                h: cnt(h),
                s,
                t: &past + &skv,
                dk,
                dv,
            },
            biased,
        })
    })())
}

fn mha(c: &CostCtx) -> RuleResult {
    let m = match mha_read(&c.attrs, c)? {
        Ok(m) => m,
        Err(why) => return Ok(Err(why)),
    };
    let (flops, macs) = m.core.cost(false);
    Ok(Ok(OpCost {
        flops: &flops + &m.biased,
        macs,
        ..Default::default()
    }))
}

fn mha_shape(c: &ShapeCtx) -> ShapeResult {
    let m = mha_read(&c.attrs, c).ok()?.ok()?;
    let k = &m.core;
    Some(vec![
        facts(vec![k.b.clone(), k.s.clone(), &k.h * &k.dv], c.dtype(0)),
        facts(
            vec![k.b.clone(), k.h.clone(), k.t.clone(), k.dk.clone()],
            c.dtype(0),
        ),
        facts(
            vec![k.b.clone(), k.h.clone(), k.t.clone(), k.dv.clone()],
            c.dtype(0),
        ),
        facts(
            vec![k.b.clone(), k.h.clone(), k.s.clone(), k.t.clone()],
            c.dtype(0),
        ),
    ])
}

// ---------------------------------------------------------------------------------------------
// Attention (com.microsoft): QKV projection + core
// ---------------------------------------------------------------------------------------------

struct MsAttention {
    core: Core,
    hidden: Count,
    /// q + k + v widths of the projection.
    qkv: Count,
    v_width: Count,
}

fn ms_attention_read(a: &Attrs, x: &dyn Inputs) -> Result<std::result::Result<MsAttention, Missing>> {
    let h = required_heads(a, "num_heads")?;
    let sizes = a.ints("qkv_hidden_sizes")?.map(|v| v.to_vec());
    if let Some(s) = &sizes {
        if s.len() != 3 || s.iter().any(|v| *v <= 0) {
            return Err(a.error(
                "qkv_hidden_sizes",
                format!("must be three positive sizes, found {s:?}"),
            ));
        }
    }
    let hh = h as i128;
    Ok((|| -> std::result::Result<MsAttention, Missing> {
        let x0 = need(x, 0)?;
        let w = need(x, 1)?;
        if x0.len() != 3 || w.len() != 2 {
            return Err("input must be [B,S,hidden] and weights 2-D".into());
        }
        let (b, s, hidden) = (x0[0].clone(), x0[1].clone(), x0[2].clone());
        let qkv = w[1].clone();
        let (qw, vw) = match &sizes {
            Some(v) => (cnt(v[0]), cnt(v[2])),
            None => {
                let third = split(&qkv, 3, "weights width")?;
                (third.clone(), third)
            }
        };
        let past = match x.shape(4) {
            Some(p) => {
                rank(&p, 5, "past")?;
                p[3].clone()
            }
            None => Count::zero(),
        };
        Ok(MsAttention {
            core: Core {
                b,
                h: cnt(h),
                s: s.clone(),
                t: &past + &s,
                dk: split(&qw, hh, "q width")?,
                dv: split(&vw, hh, "v width")?,
            },
            hidden,
            qkv,
            v_width: vw,
        })
    })())
}

fn ms_attention(c: &CostCtx) -> RuleResult {
    let m = match ms_attention_read(&c.attrs, c)? {
        Ok(m) => m,
        Err(why) => return Ok(Err(why)),
    };
    let tokens = &m.core.b * &m.core.s;
    let mut flops = &(&dot(&m.hidden) * &m.qkv) * &tokens;
    if c.has_input(2) {
        flops = &flops + &(&m.qkv * &tokens);
    }
    let mut macs = &(&m.hidden * &m.qkv) * &tokens;
    let (f, mm) = m.core.cost(false);
    flops = &flops + &f;
    macs = &macs + &mm;
    Ok(Ok(OpCost {
        flops,
        macs,
        ..Default::default()
    }))
}

fn ms_attention_shape(c: &ShapeCtx) -> ShapeResult {
    let m = ms_attention_read(&c.attrs, c).ok()?.ok()?;
    let k = &m.core;
    let present = vec![
        cnt(2),
        k.b.clone(),
        k.h.clone(),
        k.t.clone(),
        k.dk.clone(),
    ];
    Some(vec![
        facts(vec![k.b.clone(), k.s.clone(), m.v_width.clone()], c.dtype(0)),
        facts(present, c.dtype(0)),
    ])
}

// ---------------------------------------------------------------------------------------------
// Attention (ONNX, opset 23)
// ---------------------------------------------------------------------------------------------

struct OnnxAttention {
    core: Core,
    kv_heads: Count,
    four_d: bool,
}

fn onnx_attention_read(
    a: &Attrs,
    x: &dyn Inputs,
) -> Result<std::result::Result<OnnxAttention, Missing>> {
    let qh = heads(a, "q_num_heads")?;
    let kvh = heads(a, "kv_num_heads")?.or(qh);
    Ok((|| -> std::result::Result<OnnxAttention, Missing> {
        let (q, k, v) = (need(x, 0)?, need(x, 1)?, need(x, 2)?);
        let (b, h, s, skv, dk, dv, kv_heads, four_d) = match (q.len(), qh, kvh) {
            (4, _, _) => {
                rank(&k, 4, "K")?;
                rank(&v, 4, "V")?;
                (
                    q[0].clone(),
                    q[1].clone(),
                    q[2].clone(),
                    k[2].clone(),
                    q[3].clone(),
                    v[3].clone(),
                    k[1].clone(),
                    true,
                )
            }
            (3, Some(qh), Some(kvh)) => {
                rank(&k, 3, "K")?;
                rank(&v, 3, "V")?;
                (
                    q[0].clone(),
                    cnt(qh),
                    q[1].clone(),
                    k[1].clone(),
                    split(&q[2], qh as i128, "Q width")?,
                    split(&v[2], kvh as i128, "V width")?,
                    cnt(kvh),
                    false,
                )
            }
            (3, _, _) => return Err("3-D inputs need q_num_heads".into()),
            (r, _, _) => return Err(format!("Q must be 3-D or 4-D, found rank {r}")),
        };
        let past = match x.shape(4) {
            Some(p) => {
                rank(&p, 4, "past_key")?;
                p[2].clone()
            }
            None => Count::zero(),
        };
        Ok(OnnxAttention {
            core: Core {
                b,
                h,
                s,
                t: &past + &skv,
                dk,
                dv,
            },
            kv_heads,
            four_d,
        })
    })())
}

fn onnx_attention(c: &CostCtx) -> RuleResult {
    let softcap = c.attrs.float_or("softcap", 0.0)? > 0.0;
    let m = match onnx_attention_read(&c.attrs, c)? {
        Ok(m) => m,
        Err(why) => return Ok(Err(why)),
    };
    let (flops, macs) = m.core.cost(softcap);
    Ok(Ok(OpCost {
        flops,
        macs,
        ..Default::default()
    }))
}

fn onnx_attention_shape(c: &ShapeCtx) -> ShapeResult {
    let m = onnx_attention_read(&c.attrs, c).ok()?.ok()?;
    let k = &m.core;
    let y = if m.four_d {
        vec![k.b.clone(), k.h.clone(), k.s.clone(), k.dv.clone()]
    } else {
        vec![k.b.clone(), k.s.clone(), &k.h * &k.dv]
    };
    let cache = |d: &Count| vec![k.b.clone(), m.kv_heads.clone(), k.t.clone(), d.clone()];
    Some(vec![
        facts(y, c.dtype(0)),
        facts(cache(&k.dk), c.dtype(0)),
        facts(cache(&k.dv), c.dtype(0)),
        facts(
            vec![k.b.clone(), k.h.clone(), k.s.clone(), k.t.clone()],
            c.dtype(0),
        ),
    ])
}

// ---------------------------------------------------------------------------------------------
// RotaryEmbedding
// ---------------------------------------------------------------------------------------------

/// 3 per rotated element: elements / head size × rotary dims.
fn rotary(c: &CostCtx, cos_slot: usize) -> RuleResult {
    let num_heads = c.attrs.int_or("num_heads", 0)?;
    let rd_attr = c.attrs.int_or("rotary_embedding_dim", 0)?;
    if num_heads < 0 {
        return Err(c
            .attrs
            .error("num_heads", format!("must not be negative, found {num_heads}")));
    }
    if rd_attr < 0 {
        return Err(c.attrs.error(
            "rotary_embedding_dim",
            format!("must not be negative, found {rd_attr}"),
        ));
    }
    Ok((|| -> std::result::Result<OpCost, Missing> {
        let x = c.in_shape(0)?;
        let head = match (x.len(), num_heads) {
            (4, _) => x[3].clone(),
            (3, h) if h > 0 => split(&x[2], h as i128, "hidden width")?,
            // no head count: the cos table covers half of a (fully rotated) head
            (3, _) => &c.in_dim(cos_slot, 1)? * 2,
            (r, _) => return Err(format!("input must be 3-D or 4-D, found rank {r}")),
        };
        let rd = if rd_attr > 0 {
            cnt(rd_attr)
        } else {
            head.clone()
        };
        let total = Count::product(x);
        let rotated = match head.as_int() {
            Some(0) => Count::zero(),
            Some(hd) => (&total * &rd)
                .div_exact(hd)
                .ok_or("elements do not divide into heads")?,
            None => &(&total * &rd) * 1,
        };
        Ok(OpCost::flops(&rotated * 3))
    })())
}

fn ms_rotary(c: &CostCtx) -> RuleResult {
    rotary(c, 2)
}

fn onnx_rotary(c: &CostCtx) -> RuleResult {
    rotary(c, 1)
}

#[cfg(test)]
mod tests {
    use crate::model::proto::data_type as dt;
    use crate::model::shapes::TensorFacts;
    use crate::model::values::Value;
    use crate::ops::testutil::*;
    use crate::ops::{MICROSOFT, ONNX};
    use crate::sym::Count;

    fn gqa_attrs(h: i64, kvh: i64, window: i64, rotary: i64) -> Vec<crate::model::proto::AttributeProto> {
        vec![
            ai("num_heads", h),
            ai("kv_num_heads", kvh),
            ai("local_window_size", window),
            ai("do_rotary", rotary),
        ]
    }

    fn scalar_i32(v: i64) -> Option<TensorFacts> {
        Some(TensorFacts {
            shape: Some(vec![]),
            dtype: dt::INT32,
            value: Some(Value::Ints(vec![Count::int(v as i128)])),
        })
    }

    /// GQA inputs: packed QKV [B,S,(H + 2Hkv)·d], past [B,Hkv,P,d], cos/sin [128, d/2].
    fn gqa_inputs(b: i64, s: i64, width: i64, kvh: i64, p: i64, d: i64) -> Vec<Option<TensorFacts>> {
        vec![
            f(&[b, s, width]),
            None,
            None,
            f(&[b, kvh, p, d]),
            f(&[b, kvh, p, d]),
            t(&[b], dt::INT32),
            t(&[], dt::INT32),
            f(&[128, d / 2]),
            f(&[128, d / 2]),
        ]
    }

    #[test]
    fn gqa_prefill_packed_qkv() {
        // B = 1, H = 4, Hkv = 2, d = 16, S = 5, past 0 → T = 5; packed width (4 + 2·2)·16 = 128
        let e = eval(
            MICROSOFT,
            "GroupQueryAttention",
            gqa_attrs(4, 2, -1, 0),
            &gqa_inputs(1, 5, 128, 2, 0, 16),
            None,
            3,
        );
        assert_eq!(e.shape(), [1, 5, 64]);
        assert_eq!(e.shape_of(1), [1, 2, 5, 16]);
        assert_eq!(e.shape_of(2), [1, 2, 5, 16]);
        let qk = 4 * 5 * 5 * (2 * 16 - 1); // B·H·S·T·(2d − 1) = 3,100
        let scale = 4 * 5 * 5; // 100
        let softmax = 4 * 5 * (5 * 5 - 2); // B·H·S·(5T − 2) = 460
        let av = 4 * 5 * 16 * (2 * 5 - 1); // B·H·S·d·(2T − 1) = 2,880
        assert_eq!(e.flops(), qk + scale + softmax + av); // 6,540
        assert_eq!(e.macs(), 4 * 5 * 5 * (16 + 16));
    }

    #[test]
    fn gqa_decode_with_rotary_and_window() {
        // decode: S = 1 after a past of 5 → T = 6; rotary on Q and K: 3·B·S·(H + Hkv)·d
        let e = eval(
            MICROSOFT,
            "GroupQueryAttention",
            gqa_attrs(4, 2, -1, 1),
            &gqa_inputs(1, 1, 128, 2, 5, 16),
            None,
            3,
        );
        assert_eq!(e.shape_of(1), [1, 2, 6, 16]);
        let core = 4 * 6 * 31 + 4 * 6 + 4 * (5 * 6 - 2) + 4 * 16 * (2 * 6 - 1); // 744+24+112+704
        let rotary = 3 * (4 + 2) * 16; // 288
        assert_eq!(e.flops(), core + rotary);
        // local window 2: each query attends at most 2 + 1 = 3 keys
        let e = eval(
            MICROSOFT,
            "GroupQueryAttention",
            gqa_attrs(4, 2, 2, 0),
            &gqa_inputs(1, 1, 128, 2, 5, 16),
            None,
            3,
        );
        assert_eq!(e.flops(), 4 * 3 * 31 + 4 * 3 + 4 * (5 * 3 - 2) + 4 * 16 * (2 * 3 - 1));
        assert_eq!(e.shape_of(1), [1, 2, 6, 16]); // the cache still grows
        // total_sequence_length known: it is the number of keys attended
        let mut ins = gqa_inputs(1, 1, 128, 2, 5, 16);
        ins[6] = scalar_i32(6);
        let e = eval(MICROSOFT, "GroupQueryAttention", gqa_attrs(4, 2, -1, 0), &ins, None, 3);
        assert_eq!(e.flops(), 4 * 6 * 31 + 4 * 6 + 4 * (5 * 6 - 2) + 4 * 16 * (2 * 6 - 1));
        // a shared buffer: past [1,2,128,16] with total 6 → T = 6, present stays 128 long
        let mut ins = gqa_inputs(1, 1, 128, 2, 128, 16);
        ins[6] = scalar_i32(6);
        let e = eval(MICROSOFT, "GroupQueryAttention", gqa_attrs(4, 2, -1, 0), &ins, None, 3);
        assert_eq!(e.flops(), 4 * 6 * 31 + 4 * 6 + 4 * (5 * 6 - 2) + 4 * 16 * (2 * 6 - 1));
        assert_eq!(e.shape_of(1), [1, 2, 128, 16]);
    }

    #[test]
    fn gqa_separate_qkv_and_empty_prompt() {
        // query [1,5,64], key/value [1,5,32] (Hkv·d = 2·16): same counts as packed
        let mut ins = gqa_inputs(1, 5, 64, 2, 0, 16);
        ins[1] = f(&[1, 5, 32]);
        ins[2] = f(&[1, 5, 32]);
        let e = eval(MICROSOFT, "GroupQueryAttention", gqa_attrs(4, 2, -1, 0), &ins, None, 3);
        assert_eq!(e.flops(), 3_100 + 100 + 460 + 2_880);
        // S = 0 and past 0: nothing to compute, no negative counts
        let e = eval(
            MICROSOFT,
            "GroupQueryAttention",
            gqa_attrs(4, 2, -1, 1),
            &gqa_inputs(1, 0, 128, 2, 0, 16),
            None,
            3,
        );
        assert_eq!((e.shape(), e.flops()), (vec![1, 0, 64], 0));
        assert_eq!(e.shape_of(1), [1, 2, 0, 16]);
    }

    #[test]
    fn gqa_bad_input() {
        let ins = gqa_inputs(1, 5, 128, 2, 0, 16);
        for (attrs, name) in [
            (gqa_attrs(0, 2, -1, 0), "num_heads"),
            (gqa_attrs(4, 0, -1, 0), "kv_num_heads"),
            (gqa_attrs(4, 3, -1, 0), "kv_num_heads"),
            (vec![ai("num_heads", 4)], "kv_num_heads"),
        ] {
            let e = eval(MICROSOFT, "GroupQueryAttention", attrs, &ins, None, 3);
            assert!(e.error().contains(name), "{name}: {}", e.error());
        }
        // a packed width that does not split into (H + 2·Hkv) heads: uncosted with the reason
        let e = eval(
            MICROSOFT,
            "GroupQueryAttention",
            gqa_attrs(4, 2, -1, 0),
            &gqa_inputs(1, 5, 100, 2, 0, 16),
            None,
            3,
        );
        assert!(e.missing().contains("packed QKV"), "{}", e.missing());
    }

    #[test]
    fn mha_with_past_and_bias() {
        // query [1,2,32], key/value [1,2,32], H = 4 (dk = dv = 8), past [1,4,3,8] → T = 5;
        // bias on q, k, v: 3·64 = 192 additions
        let ins = [
            f(&[1, 2, 32]),
            f(&[1, 2, 32]),
            f(&[1, 2, 32]),
            f(&[96]),
            None,
            None,
            f(&[1, 4, 3, 8]),
            f(&[1, 4, 3, 8]),
        ];
        let e = eval(MICROSOFT, "MultiHeadAttention", vec![ai("num_heads", 4)], &ins, None, 3);
        assert_eq!(e.shape(), [1, 2, 32]);
        assert_eq!(e.shape_of(1), [1, 4, 5, 8]);
        let core = 4 * 2 * 5 * 15 + 4 * 2 * 5 + 4 * 2 * 23 + 4 * 2 * 8 * 9; // 600+40+184+576
        assert_eq!(e.flops(), core + 192);
    }

    #[test]
    fn onnx_attention_gqa_3d_with_past() {
        // Q [1,3,64] (4 heads, dk 16), K/V [1,3,32] (2 kv heads), past [1,2,2,16] → T = 5
        let ins = [
            f(&[1, 3, 64]),
            f(&[1, 3, 32]),
            f(&[1, 3, 32]),
            None,
            f(&[1, 2, 2, 16]),
            f(&[1, 2, 2, 16]),
        ];
        let attrs = vec![ai("q_num_heads", 4), ai("kv_num_heads", 2)];
        let e = eval(ONNX, "Attention", attrs, &ins, None, 3);
        assert_eq!(e.shape(), [1, 3, 64]);
        assert_eq!(e.shape_of(1), [1, 2, 5, 16]);
        let core = 4 * 3 * 5 * 31 + 4 * 3 * 5 + 4 * 3 * 23 + 4 * 3 * 16 * 9; // 1860+60+276+1728
        assert_eq!(e.flops(), core);
        // softcap adds divide, tanh, multiply per score
        let attrs = vec![ai("q_num_heads", 4), ai("kv_num_heads", 2), af("softcap", 30.0)];
        let e = eval(ONNX, "Attention", attrs, &ins, None, 3);
        assert_eq!(e.flops(), core + 3 * 4 * 3 * 5);
    }

    #[test]
    fn onnx_attention_4d() {
        // Q [B=1, H=2, Sq=3, d=4], K/V [1, 2, Sk=5, 4]; per head:
        // QKᵀ (2·4 − 1)·3·5 = 105, scale 15, softmax (5·5 − 2)·3 = 69, PV (2·5 − 1)·4·3 = 108
        let e = eval(
            ONNX,
            "Attention",
            vec![],
            &[f(&[1, 2, 3, 4]), f(&[1, 2, 5, 4]), f(&[1, 2, 5, 4])],
            None,
            1,
        );
        assert_eq!(e.shape(), [1, 2, 3, 4]);
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
            None,
            1,
        );
        assert_eq!(e.shape(), [1, 3, 8]);
        let proj = (2 * 8 - 1) * 24 * 3 + 24 * 3; // 1,152
        let per_head = (2 * 4 - 1) * 9 + 9 + (5 * 3 - 2) * 3 + (2 * 3 - 1) * 4 * 3; // 63+9+39+60
        assert_eq!(e.flops(), proj + 2 * per_head);
        // with past [2, 1, 2, 4, 4]: T = 4 + 3 = 7
        let e = eval(
            MICROSOFT,
            "Attention",
            vec![ai("num_heads", 2)],
            &[f(&[1, 3, 8]), f(&[8, 24]), f(&[24]), None, f(&[2, 1, 2, 4, 4])],
            None,
            2,
        );
        assert_eq!(e.shape_of(1), [2, 1, 2, 7, 4]);
        let per_head = 7 * 3 * 7 + 21 + (5 * 7 - 2) * 3 + 13 * 4 * 3; // 147+21+99+156
        assert_eq!(e.flops(), proj + 2 * per_head);
        let e = eval(MICROSOFT, "Attention", vec![], &[f(&[1, 3, 8]), f(&[8, 24])], None, 1);
        assert!(e.error().contains("num_heads"));
    }

    #[test]
    fn rotary_table() {
        // com.microsoft, [B=1, S=5, 64] with 4 heads of 16, cos [128, 8]: all rotated
        let ins = [f(&[1, 5, 64]), t(&[1, 5], dt::INT64), f(&[128, 8]), f(&[128, 8])];
        let e = eval(MICROSOFT, "RotaryEmbedding", vec![ai("num_heads", 4)], &ins, None, 1);
        assert_eq!(e.shape(), [1, 5, 64]);
        assert_eq!(e.flops(), 3 * 5 * 64);
        // partial rotation: 8 of 16 dims per head
        let attrs = vec![ai("num_heads", 4), ai("rotary_embedding_dim", 8)];
        let e = eval(MICROSOFT, "RotaryEmbedding", attrs, &ins, None, 1);
        assert_eq!(e.flops(), 3 * 5 * 4 * 8);
        // no num_heads: head = 2 × the cos width (16), whole head rotated
        let e = eval(MICROSOFT, "RotaryEmbedding", vec![], &ins, None, 1);
        assert_eq!(e.flops(), 3 * 5 * 64);
        // ONNX opset 23 (X, cos, sin, position_ids), 4-D [1, 4, 5, 16]
        let ins = [f(&[1, 4, 5, 16]), f(&[128, 8]), f(&[128, 8]), t(&[1, 5], dt::INT64)];
        let e = eval(ONNX, "RotaryEmbedding", vec![], &ins, None, 1);
        assert_eq!(e.flops(), 3 * 4 * 5 * 16);
    }
}
