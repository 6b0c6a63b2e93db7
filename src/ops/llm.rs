//! Block-quantized weights of LLM exports (onnxruntime contrib ops, as the onnxruntime-genai
//! model builder and the `MatMulNBitsQuantizer` write them).
//!
//! - MatMulNBits (com.microsoft; attributes K, N, bits, block_size): Y = A · dequant(B) (+ bias)
//!   for A [..., K] and the logical weight [K, N], stored packed: B uint8 [N, ⌈K/bs⌉, bs·bits/8],
//!   scales [N, ⌈K/bs⌉], optional zero points (packed uint8 or one per block), g_idx, bias [N].
//!   With M = Π A's leading dims, FLOPs by the seed's FC rule on the logical product:
//!   (2K − 1)·M·N, with bias 2K·M·N; MACs M·K·N. Dequantization is fused into the product and not
//!   counted.
//!   Parameters: the logical K·N (+ N for the bias), as the float weight it replaces; scales,
//!   zero points and g_idx are not parameters. Their bytes are: `param_bytes` holds the packed
//!   data, the scales and the zero points as stored, so bits per parameter =
//!   8·param_bytes / params (int4, block 32, float32 scales: 4 + 32/32 = 5).
//! - GatherBlockQuantized (com.microsoft; bits, block_size, gather_axis, quantize_axis):
//!   output = dequant(data)[indices along gather_axis]. 2 FLOPs per output element (subtract the
//!   zero point, multiply by the scale: DequantizeLinear's rule). Parameters: the logical table
//!   elements (uint8 data with bits < 8 packs 8/bits values per byte along its last axis);
//!   scales and zero points are not parameters (their bytes count, as above).
//!
//! Shapes: MatMulNBits [..., N] (A's type); GatherBlockQuantized data's logical shape with the
//! gather axis replaced by the indices' shape (the scales' type). Invalid attributes (K, N or
//! block_size not positive, bits outside 2..=8) are errors naming the attribute; a packed B whose
//! size does not match K, N, bits and block_size leaves the node uncosted with the reason.

use super::common::axis;
use super::elementwise::per_element;
use super::{
    one, CostCtx, Missing, OpCost, OpDef, ParamCtx, Registry, RuleResult, ShapeCtx, ShapeResult,
};
use crate::error::Result;
use crate::model::attr::Attrs;
use crate::model::proto::data_type as dt;
use crate::model::Shape;
use crate::sym::Count;

pub fn register(r: &mut Registry) {
    r.microsoft(
        "MatMulNBits",
        OpDef::new(nbits_shape, matmul_nbits).params(nbits_params),
    );
    r.microsoft(
        "GatherBlockQuantized",
        OpDef::new(gather_bq_shape, per_element::<2>).params(gather_bq_params),
    );
}

/// MatMulNBits' attributes, validated.
struct NBits {
    k: i64,
    n: i64,
    bits: i64,
    block_size: i64,
}

impl NBits {
    fn read(a: &Attrs) -> Result<NBits> {
        let positive = |name: &str| -> Result<i64> {
            let v = a
                .int(name)?
                .ok_or_else(|| a.error(name, "required attribute is missing"))?;
            if v <= 0 {
                return Err(a.error(name, format!("must be positive, found {v}")));
            }
            Ok(v)
        };
        let (k, n, block_size) = (positive("K")?, positive("N")?, positive("block_size")?);
        let bits = a.int_or("bits", 4)?;
        if !(2..=8).contains(&bits) {
            return Err(a.error("bits", format!("must be 2 to 8, found {bits}")));
        }
        Ok(NBits {
            k,
            n,
            bits,
            block_size,
        })
    }

    /// Blocks along K and bytes per block.
    fn blocks(&self) -> (i128, i128) {
        let (k, bs) = (self.k as i128, self.block_size as i128);
        ((k + bs - 1) / bs, (bs * self.bits as i128 + 7) / 8)
    }

    /// Whether a packed B of these dims holds this weight: [N, blocks, blob], or the same
    /// elements in fewer dims with N first (older exports).
    fn packed_ok(&self, dims: &[Count]) -> Option<bool> {
        let d: Vec<i128> = dims.iter().map(|c| c.as_int()).collect::<Option<_>>()?;
        let (blocks, blob) = self.blocks();
        let total: i128 = d.iter().product();
        Some(
            total == self.n as i128 * blocks * blob
                && (d.len() < 2 || d[0] == self.n as i128)
                && (d.len() != 3 || (d[1] == blocks && d[2] == blob)),
        )
    }
}

fn nbits_shape(c: &ShapeCtx) -> ShapeResult {
    let w = NBits::read(&c.attrs).ok()?;
    let mut s = c.shape(0)?;
    let last = s.last_mut()?;
    *last = Count::int(w.n as i128);
    one(Some(s), c.dtype(0), None)
}

fn matmul_nbits(c: &CostCtx) -> RuleResult {
    let w = NBits::read(&c.attrs)?;
    Ok((|| -> std::result::Result<OpCost, Missing> {
        let a = c.in_shape(0)?;
        let k_in = a.last().ok_or("input A is a scalar")?;
        if k_in.as_int().is_some_and(|k| k != w.k as i128) {
            return Err(format!("input A has {k_in} features, attribute K is {}", w.k));
        }
        if let Ok(b) = c.in_shape(1) {
            if w.packed_ok(b) == Some(false) {
                let (blocks, blob) = w.blocks();
                return Err(format!(
                    "packed B {b:?} does not hold K = {}, N = {} at bits = {}, block_size = {} \
                     (expected [{}, {blocks}, {blob}])",
                    w.k, w.n, w.bits, w.block_size, w.n
                ));
            }
        }
        let m = Count::product(&a[..a.len() - 1]);
        let (k, n) = (w.k as i128, w.n as i128);
        let mn = &m * n;
        let per = if c.has_input(5) { 2 * k } else { 2 * k - 1 };
        Ok(OpCost {
            flops: &mn * per,
            macs: &mn * k,
            ..Default::default()
        })
    })())
}

/// Packed B stands for K·N parameters; scales, zero points and g_idx for none.
fn nbits_params(p: &ParamCtx) -> Option<i128> {
    match p.slot {
        1 => {
            let w = NBits::read(&p.attrs).ok()?;
            let dims: Vec<Count> = p.stored.dims.iter().map(|d| Count::int(*d as i128)).collect();
            w.packed_ok(&dims)?
                .then_some(w.k as i128 * w.n as i128)
        }
        2..=4 => Some(0),
        _ => None,
    }
}

/// Values per stored element of GatherBlockQuantized's data (uint8 packs 8/bits of them).
fn per_byte(data_type: i32, bits: i64) -> Option<i128> {
    match data_type {
        dt::UINT8 if (2..8).contains(&bits) && 8 % bits == 0 => Some(8 / bits as i128),
        dt::UINT8 if bits == 8 => Some(1),
        dt::UINT8 => None,
        _ => Some(1),
    }
}

/// The logical shape of GatherBlockQuantized's data (packed values unpacked on the last axis).
fn logical_data(data: &Shape, data_type: i32, bits: i64) -> Option<Shape> {
    let k = per_byte(data_type, bits)?;
    let mut s = data.clone();
    let last = s.last_mut()?;
    *last = &*last * k;
    Some(s)
}

fn gather_bq_shape(c: &ShapeCtx) -> ShapeResult {
    let bits = c.attrs.int_or("bits", 4).ok()?;
    let data = logical_data(&c.shape(0)?, c.dtype(0), bits)?;
    let idx = c.shape(1)?;
    let ax = axis(c.attrs.int_or("gather_axis", 0).ok()?, data.len())?;
    let mut s = data[..ax].to_vec();
    s.extend(idx);
    s.extend(data[ax + 1..].iter().cloned());
    one(Some(s), c.dtype(2), None)
}

/// The table stands for its logical elements; scales and zero points for none.
fn gather_bq_params(p: &ParamCtx) -> Option<i128> {
    match p.slot {
        0 => {
            let bits = p.attrs.int_or("bits", 4).ok()?;
            let k = per_byte(p.stored.data_type, bits)?;
            let n: i128 = p.stored.dims.iter().map(|d| (*d).max(0) as i128).product();
            Some(n * k)
        }
        2 | 3 => Some(0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::model::proto::data_type as dt;
    use crate::ops::testutil::*;
    use crate::ops::MICROSOFT;

    fn nbits(k: i64, n: i64, bs: i64) -> Vec<crate::model::proto::AttributeProto> {
        vec![ai("K", k), ai("N", n), ai("bits", 4), ai("block_size", bs)]
    }

    #[test]
    fn matmul_nbits_table() {
        // A [1,5,64] × logical [64,128], int4, block 32: B uint8 [128, 2, 16], scales [128, 2]
        let u8 = |s: &[i64]| t(s, dt::UINT8);
        let ins = [f(&[1, 5, 64]), u8(&[128, 2, 16]), f(&[128, 2])];
        let e = eval(MICROSOFT, "MatMulNBits", nbits(64, 128, 32), &ins, None, 1);
        assert_eq!(e.shape(), [1, 5, 128]);
        // M = 5: (2·64 − 1)·5·128 = 127·640 = 81,280; MACs 5·64·128 = 40,960
        assert_eq!(e.flops(), (2 * 64 - 1) * 5 * 128);
        assert_eq!(e.macs(), 5 * 64 * 128);
        // with bias (input 5): 2K·M·N
        let ins = [
            f(&[1, 5, 64]),
            u8(&[128, 2, 16]),
            f(&[128, 2]),
            None,
            None,
            f(&[128]),
        ];
        let e = eval(MICROSOFT, "MatMulNBits", nbits(64, 128, 32), &ins, None, 1);
        assert_eq!(e.flops(), 2 * 64 * 5 * 128);
        // past 0 / empty prompt: M = 0 costs 0
        let ins = [f(&[1, 0, 64]), u8(&[128, 2, 16]), f(&[128, 2])];
        let e = eval(MICROSOFT, "MatMulNBits", nbits(64, 128, 32), &ins, None, 1);
        assert_eq!((e.shape(), e.flops()), (vec![1, 0, 128], 0));
    }

    #[test]
    fn matmul_nbits_bad_input() {
        let u8 = |s: &[i64]| t(s, dt::UINT8);
        let ins = [f(&[1, 5, 64]), u8(&[128, 2, 16]), f(&[128, 2])];
        // K = 0, block_size 0, bits 9: errors naming the attribute
        for (attrs, name) in [
            (nbits(0, 128, 32), "K"),
            (nbits(64, 128, 0), "block_size"),
            (
                vec![ai("K", 64), ai("N", 128), ai("bits", 9), ai("block_size", 32)],
                "bits",
            ),
            (vec![ai("N", 128), ai("block_size", 32)], "K"),
        ] {
            let e = eval(MICROSOFT, "MatMulNBits", attrs, &ins, None, 1);
            assert!(e.error().contains(name), "{name}: {}", e.error());
            assert!(e.outs.is_none());
        }
        // a packed B of the wrong size: uncosted with the reason
        let ins = [f(&[1, 5, 64]), u8(&[128, 2, 8]), f(&[128, 2])];
        let e = eval(MICROSOFT, "MatMulNBits", nbits(64, 128, 32), &ins, None, 1);
        assert!(e.missing().contains("packed B"), "{}", e.missing());
        // A's features disagree with K
        let ins = [f(&[1, 5, 32]), u8(&[128, 2, 16]), f(&[128, 2])];
        let e = eval(MICROSOFT, "MatMulNBits", nbits(64, 128, 32), &ins, None, 1);
        assert!(e.missing().contains("K is 64"), "{}", e.missing());
    }

    #[test]
    fn gather_block_quantized_table() {
        // tied embedding: data uint8 [256, 32] (64 int4 values per row), input_ids [1, 5]
        let ins = [t(&[256, 32], dt::UINT8), t(&[1, 5], dt::INT64), f(&[256, 2])];
        let attrs = vec![
            ai("bits", 4),
            ai("block_size", 32),
            ai("gather_axis", 0),
            ai("quantize_axis", 1),
        ];
        let e = eval(MICROSOFT, "GatherBlockQuantized", attrs, &ins, None, 1);
        assert_eq!((e.shape(), e.dtype()), (vec![1, 5, 64], dt::FLOAT));
        assert_eq!(e.flops(), 2 * 5 * 64); // dequantize each output element
        // int4 data is not packed in the type: [256, 64] stays [256, 64]
        let ins = [t(&[256, 64], dt::INT4), t(&[1, 1], dt::INT64), f(&[256, 2])];
        let e = eval(MICROSOFT, "GatherBlockQuantized", vec![], &ins, None, 1);
        assert_eq!(e.shape(), [1, 1, 64]);
    }
}
