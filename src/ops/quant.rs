//! Quantization casts, per element: QuantizeLinear 3 (divide, round-and-add zero point,
//! saturate), DequantizeLinear 2 (subtract zero point, multiply), DynamicQuantizeLinear 5 (min,
//! max, divide, round-and-add, saturate). The quantized compute ops live with their float
//! twins: QLinearConv / ConvInteger in `conv`, QLinearMatMul / MatMulInteger / QGemm in
//! `matmul`, QLinearGlobalAveragePool in `pool`.
//!
//! Shapes: the input's; QuantizeLinear gives the zero point's type (uint8 without one),
//! DequantizeLinear float, DynamicQuantizeLinear uint8 plus a float scale and a uint8 zero
//! point (scalars). Control inputs: none (scales and zero points are parameters).

use super::elementwise::per_element;
use super::{one, OpDef, Registry, ShapeCtx, ShapeResult};
use crate::model::proto::data_type as dt;
use crate::model::shapes::TensorFacts;

pub fn register(r: &mut Registry) {
    r.onnx("QuantizeLinear", OpDef::new(quantize_shape, per_element::<3>));
    r.onnx("DequantizeLinear", OpDef::new(dequantize_shape, per_element::<2>));
    r.onnx(
        "DynamicQuantizeLinear",
        OpDef::new(dyn_quantize_shape, per_element::<5>),
    );
}

fn quantize_shape(c: &ShapeCtx) -> ShapeResult {
    let d = c
        .input(2)
        .map(|f| f.dtype)
        .filter(|d| *d != 0)
        .unwrap_or(dt::UINT8);
    one(c.shape(0), d, None)
}

fn dequantize_shape(c: &ShapeCtx) -> ShapeResult {
    one(c.shape(0), dt::FLOAT, None)
}

fn dyn_quantize_shape(c: &ShapeCtx) -> ShapeResult {
    let scalar = |dtype| TensorFacts {
        shape: Some(vec![]),
        dtype,
        value: None,
    };
    Some(vec![
        TensorFacts {
            shape: c.shape(0),
            dtype: dt::UINT8,
            value: None,
        },
        scalar(dt::FLOAT),
        scalar(dt::UINT8),
    ])
}

#[cfg(test)]
mod tests {
    use crate::model::proto::data_type as dt;
    use crate::ops::testutil::*;
    use crate::ops::ONNX;

    #[test]
    fn quantize_casts_table() {
        // X [2,5]: 10 elements
        let x = f(&[2, 5]);
        let e = onnx("QuantizeLinear", vec![], &[x.clone(), f(&[]), t(&[], dt::INT8)]);
        assert_eq!((e.shape(), e.dtype()), (vec![2, 5], dt::INT8));
        assert_eq!(e.flops(), 3 * 10);
        let e = onnx("QuantizeLinear", vec![], &[x.clone(), f(&[])]);
        assert_eq!(e.dtype(), dt::UINT8);
        let e = onnx("DequantizeLinear", vec![], &[t(&[2, 5], dt::INT8), f(&[])]);
        assert_eq!((e.dtype(), e.flops()), (dt::FLOAT, 2 * 10));
        let e = eval(ONNX, "DynamicQuantizeLinear", vec![], &[x], None, 3);
        assert_eq!(e.shape_of(1), Vec::<i128>::new());
        assert_eq!(e.flops(), 5 * 10);
    }
}
