//! onnxscope's own shape rules for the common ops, used where tract cannot type a node (or is
//! switched off). Each rule gives the outputs' shape, element type, and, for shape arithmetic,
//! their small values. A rule that cannot decide returns an unknown shape, never a guess.

use super::TensorFacts;
use crate::model::attr::Attrs;
use crate::model::graph::Node;
use crate::model::proto::data_type as dt;
use crate::model::values::{self, Value};
use crate::model::Shape;
use crate::sym::Count;

fn c(v: i64) -> Count {
    Count::int(v as i128)
}

/// Broadcast of several shapes (numpy rules); symbolic dims are equal only when identical.
pub fn broadcast(shapes: &[&Shape]) -> Option<Shape> {
    let rank = shapes.iter().map(|s| s.len()).max()?;
    let one = c(1);
    let mut out = vec![one.clone(); rank];
    for s in shapes {
        let off = rank - s.len();
        for (i, d) in s.iter().enumerate() {
            let cur = &out[off + i];
            if *cur == one {
                out[off + i] = d.clone();
            } else if *d == one || d == cur {
            } else if d.as_int().is_some() && cur.as_int().is_some() {
                return None;
            } else if cur.as_int().is_none() && d.as_int().is_some() {
                out[off + i] = d.clone();
            }
        }
    }
    Some(out)
}

fn axis(a: i64, rank: usize) -> Option<usize> {
    let r = rank as i64;
    let x = if a < 0 { a + r } else { a };
    (0..r).contains(&x).then_some(x as usize)
}

/// floor(x / s) for a count, when it can be done exactly.
fn floor_div(x: &Count, s: i64) -> Option<Count> {
    if s == 1 {
        return Some(x.clone());
    }
    let v = x.as_int()?;
    Some(Count::int(v.div_euclid(s as i128)))
}
fn ceil_div(x: &Count, s: i64) -> Option<Count> {
    if s == 1 {
        return Some(x.clone());
    }
    let v = x.as_int()?;
    Some(Count::int((v + s as i128 - 1).div_euclid(s as i128)))
}

/// Output spatial dims of a sliding window (Conv, pools).
pub fn window_out(
    a: &Attrs,
    spatial: &[Count],
    kernel: &[i64],
    ceil_mode: bool,
) -> crate::error::Result<Option<Vec<Count>>> {
    let r = spatial.len();
    let strides = a.positive_ints("strides")?.unwrap_or(vec![1; r]);
    let dil = a.positive_ints("dilations")?.unwrap_or(vec![1; r]);
    let pads = a
        .ints("pads")?
        .map(|p| p.to_vec())
        .unwrap_or(vec![0; 2 * r]);
    if strides.len() != r || dil.len() != r || pads.len() != 2 * r || kernel.len() != r {
        return Err(a.error(
            "kernel_shape",
            format!("attributes disagree with the input's {r} spatial dims"),
        ));
    }
    if let Some(p) = pads.iter().find(|p| **p < 0) {
        return Err(a.error("pads", format!("negative pad {p}")));
    }
    let auto = a.string("auto_pad")?.unwrap_or_default();
    let mut out = Vec::with_capacity(r);
    for i in 0..r {
        // in i128: attribute values near i64::MAX must not overflow
        let eff = Count::int(dil[i] as i128 * (kernel[i] as i128 - 1) + 1);
        let d = match auto.as_str() {
            "SAME_UPPER" | "SAME_LOWER" => ceil_div(&spatial[i], strides[i]),
            "VALID" => {
                let x = &spatial[i] - &eff;
                floor_div(&x, strides[i]).map(|v| v + 1)
            }
            "" | "NOTSET" => {
                let x = &(&spatial[i] + &Count::int(pads[i] as i128 + pads[i + r] as i128)) - &eff;
                if ceil_mode {
                    // a last window that would start in the end padding is dropped (ONNX spec)
                    ceil_div(&x, strides[i]).map(|v| v + 1).map(|o| {
                        let starts_in_pad = match (o.as_int(), spatial[i].as_int()) {
                            (Some(o), Some(n)) => {
                                (o - 1) * strides[i] as i128 >= n + pads[i] as i128
                            }
                            _ => false,
                        };
                        if starts_in_pad {
                            o - 1
                        } else {
                            o
                        }
                    })
                } else {
                    floor_div(&x, strides[i]).map(|v| v + 1)
                }
            }
            other => return Err(a.error("auto_pad", format!("unknown value '{other}'"))),
        };
        let Some(d) = d else { return Ok(None) };
        if let Some(v) = d.as_int() {
            if v <= 0 {
                return Err(a.error(
                    "kernel_shape",
                    format!(
                        "window larger than the padded input on spatial axis {i} (output dim {v})"
                    ),
                ));
            }
        }
        out.push(d);
    }
    Ok(Some(out))
}

pub const UNARY: &[&str] = &[
    "Relu",
    "LeakyRelu",
    "PRelu",
    "Sigmoid",
    "HardSigmoid",
    "Tanh",
    "Exp",
    "Log",
    "Sqrt",
    "Neg",
    "Abs",
    "Reciprocal",
    "Floor",
    "Ceil",
    "Round",
    "Sign",
    "Erf",
    "Sin",
    "Cos",
    "Tan",
    "Asin",
    "Acos",
    "Atan",
    "Sinh",
    "Cosh",
    "Asinh",
    "Acosh",
    "Atanh",
    "Elu",
    "Selu",
    "Celu",
    "Softplus",
    "Softsign",
    "HardSwish",
    "Mish",
    "Gelu",
    "ThresholdedRelu",
    "Clip",
    "Identity",
    "Dropout",
    "BatchNormalization",
    "InstanceNormalization",
    "LayerNormalization",
    "GroupNormalization",
    "LpNormalization",
    "Softmax",
    "LogSoftmax",
    "Hardmax",
    "Not",
    "IsNaN",
    "IsInf",
    "CumSum",
    "LRN",
    "MeanVarianceNormalization",
    "Shrink",
    "SkipLayerNormalization",
    "FastGelu",
    "QuickGelu",
    "BiasGelu",
    "SimplifiedLayerNormalization",
    "RMSNormalization",
    "Swish",
];

pub const BINARY: &[&str] = &[
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Pow",
    "Max",
    "Min",
    "Sum",
    "Mean",
    "Mod",
    "BitShift",
    "And",
    "Or",
    "Xor",
    "Equal",
    "Less",
    "Greater",
    "LessOrEqual",
    "GreaterOrEqual",
    "Where",
    "BitwiseAnd",
    "BitwiseOr",
    "BitwiseXor",
];

const COMPARE: &[&str] = &[
    "Equal",
    "Less",
    "Greater",
    "LessOrEqual",
    "GreaterOrEqual",
    "And",
    "Or",
    "Xor",
    "Not",
    "IsNaN",
    "IsInf",
];

fn int_binop(op: &str, a: &Count, b: &Count) -> Option<Count> {
    let truth = |t: bool| Count::int(t as i128);
    Some(match op {
        "Add" => a + b,
        "Sub" => a - b,
        "Mul" => a * b,
        // comparisons (shape arithmetic such as `expand(n, -1)`'s Equal/Where): decided only
        // between concrete values, or when both sides are the same expression
        "Equal" if a == b => truth(true),
        "Equal" => truth(a.as_int()? == b.as_int()?),
        "Less" => truth(a.as_int()? < b.as_int()?),
        "Greater" => truth(a.as_int()? > b.as_int()?),
        "LessOrEqual" => truth(a.as_int()? <= b.as_int()?),
        "GreaterOrEqual" => truth(a.as_int()? >= b.as_int()?),
        // integer Mod with fmod = 0 (the caller checks): the result takes the divisor's sign
        "Mod" => {
            let (x, d) = (a.as_int()?, b.as_int()?);
            if d == 0 {
                return None;
            }
            let r = x % d;
            Count::int(if r != 0 && (r < 0) != (d < 0) {
                r + d
            } else {
                r
            })
        }
        "Div" => {
            let d = b.as_int()?;
            if let Some(x) = a.as_int() {
                if d == 0 {
                    return None;
                }
                Count::int(x / d)
            } else {
                a.div_exact(d)?
            }
        }
        _ => return None,
    })
}

/// Shape, type and value of each output of `node`.
pub fn infer_node(
    node: &Node,
    ins: &[Option<&TensorFacts>],
    _opset: i64,
) -> Option<Vec<TensorFacts>> {
    let a = Attrs::new(&node.attributes, Default::default());
    let input = |i: usize| ins.get(i).copied().flatten();
    let shape = |i: usize| input(i).and_then(|f| f.shape.clone());
    let dtype = |i: usize| input(i).map(|f| f.dtype).unwrap_or(0);
    let val = |i: usize| input(i).and_then(|f| f.value.clone());
    let one = |shape: Option<Shape>, dtype: i32, value: Option<Value>| {
        Some(vec![TensorFacts {
            shape,
            dtype,
            value,
        }])
    };
    let op = node.op_type.as_str();
    if !node.domain.is_empty() && node.domain != "ai.onnx" && node.domain != "com.microsoft" {
        return None;
    }
    if UNARY.contains(&op) {
        let dtype = if COMPARE.contains(&op) {
            dt::BOOL
        } else {
            dtype(0)
        };
        let mut outs = vec![TensorFacts {
            shape: shape(0),
            dtype,
            value: None,
        }];
        if op == "Identity" {
            outs[0].value = val(0);
        }
        return Some(outs);
    }
    if BINARY.contains(&op) {
        let shapes: Vec<Shape> = (0..ins.len()).filter_map(shape).collect();
        if shapes.len() != ins.iter().flatten().count() {
            return None;
        }
        let refs: Vec<&Shape> = shapes.iter().collect();
        let out = broadcast(&refs);
        let dtype = if COMPARE.contains(&op) {
            dt::BOOL
        } else if op == "Where" {
            dtype(1)
        } else {
            dtype(0)
        };
        let value = match (
            val(0).and_then(|v| v.ints().map(<[_]>::to_vec)),
            val(1).and_then(|v| v.ints().map(<[_]>::to_vec)),
        ) {
            (Some(x), Some(y))
                if ins.len() == 2
                    && (x.len() == y.len() || x.len() == 1 || y.len() == 1)
                    && (op != "Mod" || a.int_or("fmod", 0).ok() == Some(0)) =>
            {
                let n = x.len().max(y.len());
                (0..n)
                    .map(|i| int_binop(op, &x[i.min(x.len() - 1)], &y[i.min(y.len() - 1)]))
                    .collect::<Option<Vec<_>>>()
                    .map(Value::Ints)
            }
            _ if op == "Where" => {
                // select between small integer vectors with a known condition
                let ints = |i: usize| val(i).and_then(|v| v.ints().map(<[_]>::to_vec));
                match (val(0).and_then(|v| v.concrete()), ints(1), ints(2)) {
                    (Some(cond), Some(x), Some(y))
                        if !cond.is_empty() && !x.is_empty() && !y.is_empty() =>
                    {
                        let n = cond.len().max(x.len()).max(y.len());
                        let fits = |l: usize| l == n || l == 1;
                        (fits(cond.len()) && fits(x.len()) && fits(y.len())).then(|| {
                            Value::Ints(
                                (0..n)
                                    .map(|i| {
                                        if cond[i.min(cond.len() - 1)] != 0 {
                                            x[i.min(x.len() - 1)].clone()
                                        } else {
                                            y[i.min(y.len() - 1)].clone()
                                        }
                                    })
                                    .collect(),
                            )
                        })
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        return one(out, dtype, value);
    }
    match op {
        "Conv" | "ConvInteger" | "QLinearConv" => {
            let (xi, wi) = if op == "QLinearConv" { (0, 3) } else { (0, 1) };
            let x = shape(xi)?;
            let w = shape(wi)?;
            if x.len() < 3 || w.len() != x.len() {
                return None;
            }
            let kernel: Vec<i64> = match a.ints("kernel_shape").ok()? {
                Some(k) => k.to_vec(),
                None => w[2..]
                    .iter()
                    .map(|d| d.as_int().map(|v| v as i64))
                    .collect::<Option<_>>()?,
            };
            let sp = window_out(&a, &x[2..], &kernel, false).ok()??;
            let mut s = vec![x[0].clone(), w[0].clone()];
            s.extend(sp);
            let out_dt = match op {
                "ConvInteger" => dt::INT32,
                "QLinearConv" => dtype(7),
                _ => dtype(0),
            };
            one(Some(s), out_dt, None)
        }
        "ConvTranspose" => {
            let x = shape(0)?;
            let w = shape(1)?;
            let r = x.len().checked_sub(2)?;
            if w.len() != x.len() {
                return None;
            }
            let g = a.int_or("group", 1).ok()?;
            let kernel: Vec<i64> = match a.ints("kernel_shape").ok()? {
                Some(k) => k.to_vec(),
                None => w[2..]
                    .iter()
                    .map(|d| d.as_int().map(|v| v as i64))
                    .collect::<Option<_>>()?,
            };
            let mut s = vec![x[0].clone(), &w[1] * (g as i128)];
            if let Some(os) = a.ints("output_shape").ok()? {
                s.extend(os.iter().map(|d| c(*d)));
            } else {
                let st = a
                    .ints("strides")
                    .ok()?
                    .map(|v| v.to_vec())
                    .unwrap_or(vec![1; r]);
                let dil = a
                    .ints("dilations")
                    .ok()?
                    .map(|v| v.to_vec())
                    .unwrap_or(vec![1; r]);
                let pads = a
                    .ints("pads")
                    .ok()?
                    .map(|v| v.to_vec())
                    .unwrap_or(vec![0; 2 * r]);
                let op_ = a
                    .ints("output_padding")
                    .ok()?
                    .map(|v| v.to_vec())
                    .unwrap_or(vec![0; r]);
                let auto = a.string("auto_pad").ok()?.unwrap_or_default();
                if [st.len(), dil.len(), op_.len(), kernel.len(), pads.len() / 2] != [r; 5] {
                    return None;
                }
                for i in 0..r {
                    let d = if auto.starts_with("SAME") {
                        &x[2 + i] * (st[i] as i128)
                    } else {
                        &(&(&x[2 + i] - &c(1)) * (st[i] as i128))
                            + &Count::int(
                                op_[i] as i128 + (kernel[i] as i128 - 1) * dil[i] as i128 + 1
                                    - pads[i] as i128
                                    - pads[i + r] as i128,
                            )
                    };
                    s.push(d);
                }
            }
            one(Some(s), dtype(0), None)
        }
        "MaxPool" | "AveragePool" | "LpPool" => {
            let x = shape(0)?;
            if x.len() < 3 {
                return None;
            }
            let k = a.positive_ints("kernel_shape").ok()??;
            let ceil = a.int_or("ceil_mode", 0).ok()? != 0;
            let sp = window_out(&a, &x[2..], &k, ceil).ok()??;
            let mut s = x[..2].to_vec();
            s.extend(sp);
            let mut outs = vec![TensorFacts {
                shape: Some(s.clone()),
                dtype: dtype(0),
                value: None,
            }];
            if node.outputs.len() > 1 {
                outs.push(TensorFacts {
                    shape: Some(s),
                    dtype: dt::INT64,
                    value: None,
                });
            }
            Some(outs)
        }
        "GlobalAveragePool" | "GlobalMaxPool" | "GlobalLpPool" => {
            let x = shape(0)?;
            if x.len() < 2 {
                return None;
            }
            let mut s = x[..2].to_vec();
            s.extend(std::iter::repeat_n(c(1), x.len() - 2));
            one(Some(s), dtype(0), None)
        }
        // com.microsoft: NCHW, or NHWC with channels_last = 1
        "QLinearGlobalAveragePool" => {
            let x = shape(0)?;
            if x.len() < 2 {
                return None;
            }
            let s = if a.int_or("channels_last", 0).ok()? != 0 {
                let mut s = vec![x[0].clone()];
                s.extend(std::iter::repeat_n(c(1), x.len() - 2));
                s.push(x[x.len() - 1].clone());
                s
            } else {
                let mut s = x[..2].to_vec();
                s.extend(std::iter::repeat_n(c(1), x.len() - 2));
                s
            };
            one(Some(s), dtype(0), None)
        }
        "Gemm" | "QGemm" => {
            // com.microsoft QGemm: A, B at inputs 0, 3; quantized output when y_scale is given
            let bi = if op == "QGemm" { 3 } else { 1 };
            let sa = shape(0)?;
            let sb = shape(bi)?;
            if sa.len() != 2 || sb.len() != 2 {
                return None;
            }
            let ta = a.int_or("transA", 0).ok()? != 0;
            let tb = a.int_or("transB", 0).ok()? != 0;
            let m = if ta { sa[1].clone() } else { sa[0].clone() };
            let n = if tb { sb[0].clone() } else { sb[1].clone() };
            let out_dt = match op {
                "QGemm" if input(7).is_some() => match dtype(8) {
                    0 => dt::UINT8,
                    d => d,
                },
                "QGemm" => dt::FLOAT,
                _ => dtype(0),
            };
            one(Some(vec![m, n]), out_dt, None)
        }
        "MatMul" | "MatMulInteger" | "QLinearMatMul" => {
            let (ai, bi) = if op == "QLinearMatMul" {
                (0, 3)
            } else {
                (0, 1)
            };
            let mut sa = shape(ai)?;
            let mut sb = shape(bi)?;
            let (pa, pb) = (sa.len() == 1, sb.len() == 1);
            if pa {
                sa.insert(0, c(1));
            }
            if pb {
                sb.push(c(1));
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
                "QLinearMatMul" => dtype(7),
                _ => dtype(0),
            };
            one(Some(s), out_dt, None)
        }
        "Flatten" => {
            let x = shape(0)?;
            let ax = a.int_or("axis", 1).ok()?;
            let ax = if ax < 0 { ax + x.len() as i64 } else { ax } as usize;
            if ax > x.len() {
                return None;
            }
            one(
                Some(vec![Count::product(&x[..ax]), Count::product(&x[ax..])]),
                dtype(0),
                None,
            )
        }
        "Reshape" => {
            let x = shape(0)?;
            let target = val(1)?.ints()?.to_vec();
            let allowzero = a.int_or("allowzero", 0).ok()? != 0;
            let mut out: Vec<Option<Count>> = Vec::with_capacity(target.len());
            for (i, t) in target.iter().enumerate() {
                match t.as_int() {
                    Some(0) if !allowzero => out.push(Some(x.get(i)?.clone())),
                    Some(-1) => out.push(None),
                    Some(v) if v < 0 => return None,
                    _ => out.push(Some(t.clone())),
                }
            }
            if out.iter().filter(|d| d.is_none()).count() > 1 {
                return None;
            }
            if let Some(pos) = out.iter().position(|d| d.is_none()) {
                let known = Count::product(out.iter().flatten());
                let total = Count::product(&x);
                let k = known.as_int()?;
                out[pos] = Some(total.div_exact(k)?);
            }
            one(Some(out.into_iter().flatten().collect()), dtype(0), val(0))
        }
        "Transpose" => {
            let x = shape(0)?;
            let perm: Vec<usize> = match a.ints("perm").ok()? {
                Some(p) => p.iter().map(|v| axis(*v, x.len())).collect::<Option<_>>()?,
                None => (0..x.len()).rev().collect(),
            };
            one(
                Some(perm.iter().map(|i| x[*i].clone()).collect()),
                dtype(0),
                None,
            )
        }
        "Squeeze" | "Unsqueeze" => {
            let x = shape(0)?;
            let axes: Option<Vec<i64>> = match a.ints("axes").ok()? {
                Some(v) => Some(v.to_vec()),
                None => val(1).and_then(|v| v.concrete()),
            };
            let s = if op == "Squeeze" {
                match axes {
                    Some(ax) => {
                        let ax: Vec<usize> = ax
                            .iter()
                            .map(|v| axis(*v, x.len()))
                            .collect::<Option<_>>()?;
                        x.iter()
                            .enumerate()
                            .filter(|(i, _)| !ax.contains(i))
                            .map(|(_, d)| d.clone())
                            .collect()
                    }
                    None => x
                        .iter()
                        .filter(|d| d.as_int() != Some(1))
                        .cloned()
                        .collect(),
                }
            } else {
                let ax = axes?;
                let r = x.len() + ax.len();
                let ax: Vec<usize> = ax.iter().map(|v| axis(*v, r)).collect::<Option<_>>()?;
                let mut it = x.iter();
                (0..r)
                    .map(|i| {
                        if ax.contains(&i) {
                            Some(c(1))
                        } else {
                            it.next().cloned()
                        }
                    })
                    .collect::<Option<_>>()?
            };
            one(Some(s), dtype(0), val(0))
        }
        "Concat" => {
            let shapes: Vec<Shape> = (0..ins.len()).filter_map(shape).collect();
            let first = shapes.first()?.clone();
            let ax = axis(a.int_or("axis", 0).ok()?, first.len())?;
            let mut s = first;
            s[ax] = Count::sum(shapes.iter().map(|x| &x[ax]));
            let vals: Option<Vec<Count>> = (0..ins.len())
                .map(|i| val(i).and_then(|v| v.ints().map(<[_]>::to_vec)))
                .collect::<Option<Vec<_>>>()
                .map(|v| v.concat());
            one(Some(s), dtype(0), vals.map(Value::Ints))
        }
        "Shape" => {
            let x = shape(0)?;
            let r = x.len() as i64;
            let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
            let start = clamp(a.int_or("start", 0).ok()?);
            let end = clamp(a.int_or("end", r).ok()?);
            let v: Vec<Count> = x[start..end.max(start)].to_vec();
            one(
                Some(vec![c(v.len() as i64)]),
                dt::INT64,
                Some(Value::Ints(v)),
            )
        }
        "Size" => {
            let x = shape(0)?;
            one(
                Some(vec![]),
                dt::INT64,
                Some(Value::Ints(vec![Count::product(&x)])),
            )
        }
        "Gather" => {
            let x = shape(0)?;
            let idx = shape(1)?;
            let ax = axis(a.int_or("axis", 0).ok()?, x.len())?;
            let mut s = x[..ax].to_vec();
            s.extend(idx.iter().cloned());
            s.extend(x[ax + 1..].iter().cloned());
            let value = match (val(0), val(1).and_then(|v| v.concrete())) {
                (Some(Value::Ints(data)), Some(ix)) if x.len() == 1 => ix
                    .iter()
                    .map(|i| {
                        data.get(if *i < 0 {
                            (*i + data.len() as i64) as usize
                        } else {
                            *i as usize
                        })
                        .cloned()
                    })
                    .collect::<Option<Vec<_>>>()
                    .map(Value::Ints),
                _ => None,
            };
            one(Some(s), dtype(0), value)
        }
        "Cast" => {
            let to = a.int("to").ok()??;
            let value = val(0).filter(|_| values_int(to));
            one(shape(0), to as i32, value)
        }
        "CastLike" => one(shape(0), dtype(1), None),
        "Constant" => {
            let t = a.tensor("value").ok()??;
            one(
                Some(t.dims.iter().map(|d| c(*d)).collect()),
                t.data_type,
                values::decode(t),
            )
        }
        "ConstantOfShape" => {
            let dims = val(0)?.ints()?.to_vec();
            let fill = a.tensor("value").ok()?;
            let dtype = fill.map(|t| t.data_type).unwrap_or(dt::FLOAT);
            // a small integer fill is shape arithmetic (the ones of `expand(n, -1)`)
            let value = match (
                fill.and_then(values::decode),
                Count::product(&dims).as_int(),
            ) {
                (Some(Value::Ints(v)), Some(n))
                    if v.len() == 1 && (0..=values::MAX_ELEMENTS as i128).contains(&n) =>
                {
                    Some(Value::Ints(vec![v[0].clone(); n as usize]))
                }
                _ => None,
            };
            one(Some(dims), dtype, value)
        }
        "Expand" => {
            let x = shape(0)?;
            let target = val(1)?.ints()?.to_vec();
            one(broadcast(&[&x, &target]), dtype(0), None)
        }
        "Tile" => {
            let x = shape(0)?;
            let reps = val(1)?.ints()?.to_vec();
            if reps.len() != x.len() {
                return None;
            }
            one(
                Some(x.iter().zip(&reps).map(|(d, r)| d * r).collect()),
                dtype(0),
                None,
            )
        }
        "Slice" => {
            let x = shape(0)?;
            let starts = val(1)?.concrete()?;
            let ends = val(2)?.concrete()?;
            let axes = match val(3) {
                Some(v) => v.concrete()?,
                None => (0..starts.len() as i64).collect(),
            };
            let steps = match val(4) {
                Some(v) => v.concrete()?,
                None => vec![1; starts.len()],
            };
            if [ends.len(), axes.len(), steps.len()] != [starts.len(); 3] {
                return None;
            }
            let mut s = x.clone();
            let mut value = val(0).and_then(|v| v.ints().map(<[_]>::to_vec));
            for k in 0..starts.len() {
                let ax = axis(axes[k], x.len())?;
                // in i128: starts, ends and steps may be ±i64::MAX
                let dim = x[ax].as_int()?;
                let step = steps[k] as i128;
                if step == 0 {
                    return None;
                }
                let norm = |v: i64, lo: i128, hi: i128| {
                    let v = v as i128;
                    (if v < 0 { v + dim } else { v }).clamp(lo, hi)
                };
                let (b, e) = if step > 0 {
                    (norm(starts[k], 0, dim), norm(ends[k], 0, dim))
                } else {
                    (norm(starts[k], -1, dim - 1), norm(ends[k], -1, dim - 1))
                };
                let len = if step > 0 {
                    ((e - b).max(0) + step - 1) / step
                } else {
                    ((b - e).max(0) + (-step) - 1) / (-step)
                };
                s[ax] = Count::int(len);
                if let Some(v) = value.as_mut() {
                    if x.len() == 1 {
                        *v = (0..len)
                            .map(|i| {
                                usize::try_from(b + i * step)
                                    .ok()
                                    .and_then(|j| v.get(j).cloned())
                            })
                            .collect::<Option<_>>()?;
                    }
                }
            }
            one(Some(s), dtype(0), value.map(Value::Ints))
        }
        "Split" => {
            let x = shape(0)?;
            let ax = axis(a.int_or("axis", 0).ok()?, x.len())?;
            let n = node.outputs.len() as i64;
            let parts: Vec<Count> = match a.ints("split").ok()? {
                Some(v) => v.iter().map(|d| c(*d)).collect(),
                None => match val(1) {
                    Some(v) => v.ints()?.to_vec(),
                    None => {
                        let d = x[ax].as_int()?;
                        let n = n as i128;
                        if n == 0 {
                            return None;
                        }
                        let each = (d + n - 1) / n;
                        (0..n)
                            .map(|i| Count::int(each.min(d - i * each).max(0)))
                            .collect()
                    }
                },
            };
            Some(
                parts
                    .into_iter()
                    .map(|p| {
                        let mut s = x.clone();
                        s[ax] = p;
                        TensorFacts {
                            shape: Some(s),
                            dtype: dtype(0),
                            value: None,
                        }
                    })
                    .collect(),
            )
        }
        "Pad" => {
            let x = shape(0)?;
            let pads: Vec<i64> = match a.ints("pads").ok()? {
                Some(p) => p.to_vec(),
                None => val(1)?.concrete()?,
            };
            let axes: Vec<usize> = match val(3).and_then(|v| v.concrete()) {
                Some(ax) => ax
                    .iter()
                    .map(|v| axis(*v, x.len()))
                    .collect::<Option<_>>()?,
                None => (0..x.len()).collect(),
            };
            if pads.len() != 2 * axes.len() {
                return None;
            }
            let mut s = x.clone();
            let r = axes.len();
            for (k, ax) in axes.iter().enumerate() {
                s[*ax] = &s[*ax] + &Count::int(pads[k] as i128 + pads[k + r] as i128);
            }
            one(Some(s), dtype(0), None)
        }
        "Resize" | "Upsample" => {
            let x = shape(0)?;
            let (scales_i, sizes_i) = if op == "Upsample" { (1, 99) } else { (2, 3) };
            if let Some(sz) = val(sizes_i).and_then(|v| v.ints().map(<[_]>::to_vec)) {
                if sz.len() == x.len() {
                    return one(Some(sz), dtype(0), None);
                }
            }
            let scales = val(scales_i).and_then(|v| v.floats()).or_else(|| {
                a.get("scales")
                    .map(|s| s.floats.iter().map(|f| *f as f64).collect())
            })?;
            if scales.len() != x.len() {
                return None;
            }
            let s = x
                .iter()
                .zip(&scales)
                .map(|(d, f)| {
                    if *f == 1.0 {
                        Some(d.clone())
                    } else {
                        d.as_int().map(|v| c((v as f64 * f).floor() as i64))
                    }
                })
                .collect::<Option<Vec<_>>>()?;
            one(Some(s), dtype(0), None)
        }
        "ReduceSum" | "ReduceMean" | "ReduceMax" | "ReduceMin" | "ReduceProd" | "ReduceL1"
        | "ReduceL2" | "ReduceLogSum" | "ReduceLogSumExp" | "ReduceSumSquare" | "ArgMax"
        | "ArgMin" => {
            let x = shape(0)?;
            let keep = a.int_or("keepdims", 1).ok()? != 0;
            let axes: Vec<i64> = if op.starts_with("Arg") {
                vec![a.int_or("axis", 0).ok()?]
            } else {
                match a.ints("axes").ok()? {
                    Some(v) => v.to_vec(),
                    None => match val(1) {
                        Some(v) => v.concrete()?,
                        None => {
                            if a.int_or("noop_with_empty_axes", 0).ok()? != 0 {
                                return one(Some(x), dtype(0), None);
                            }
                            (0..x.len() as i64).collect()
                        }
                    },
                }
            };
            let ax: Vec<usize> = axes
                .iter()
                .map(|v| axis(*v, x.len()))
                .collect::<Option<_>>()?;
            let s: Shape = x
                .iter()
                .enumerate()
                .filter_map(|(i, d)| {
                    if ax.contains(&i) {
                        keep.then(|| c(1))
                    } else {
                        Some(d.clone())
                    }
                })
                .collect();
            let dtype = if op.starts_with("Arg") {
                dt::INT64
            } else {
                dtype(0)
            };
            one(Some(s), dtype, None)
        }
        "QuantizeLinear" => {
            let d = input(2)
                .map(|f| f.dtype)
                .filter(|d| *d != 0)
                .unwrap_or(dt::UINT8);
            one(shape(0), d, None)
        }
        "DequantizeLinear" => one(shape(0), dt::FLOAT, None),
        "DynamicQuantizeLinear" => Some(vec![
            TensorFacts {
                shape: shape(0),
                dtype: dt::UINT8,
                value: None,
            },
            TensorFacts {
                shape: Some(vec![]),
                dtype: dt::FLOAT,
                value: None,
            },
            TensorFacts {
                shape: Some(vec![]),
                dtype: dt::UINT8,
                value: None,
            },
        ]),
        "Einsum" => {
            let eq = a.string("equation").ok()??;
            let shapes: Vec<Shape> = (0..ins.len()).map(shape).collect::<Option<_>>()?;
            let (letters, out) = crate::ops::matmul::einsum_letters(&eq, &shapes)?;
            one(
                Some(out.iter().map(|l| letters[l].clone()).collect()),
                dtype(0),
                None,
            )
        }
        "Range" => {
            let (s, l, d) = (
                val(0)?.concrete()?,
                val(1)?.concrete()?,
                val(2)?.concrete()?,
            );
            let (s, l, d) = (*s.first()?, *l.first()?, *d.first()?);
            if d == 0 {
                return None;
            }
            // ⌈(limit − start) / delta⌉ in i128 (the difference may exceed i64)
            let (diff, d) = (l as i128 - s as i128, d as i128);
            let (q, rem) = (diff / d, diff % d);
            let n = if rem != 0 && (rem > 0) == (d > 0) {
                q + 1
            } else {
                q
            };
            one(Some(vec![Count::int(n.max(0))]), dtype(0), None)
        }
        "TopK" => {
            let x = shape(0)?;
            let k = val(1)?.ints()?.first()?.clone();
            let ax = axis(a.int_or("axis", -1).ok()?, x.len())?;
            let mut s = x.clone();
            s[ax] = k;
            Some(vec![
                TensorFacts {
                    shape: Some(s.clone()),
                    dtype: dtype(0),
                    value: None,
                },
                TensorFacts {
                    shape: Some(s),
                    dtype: dt::INT64,
                    value: None,
                },
            ])
        }
        _ => None,
    }
}

fn values_int(to: i64) -> bool {
    dt::is_integer(to as i32)
}
