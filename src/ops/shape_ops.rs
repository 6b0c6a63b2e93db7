//! Ops that move, select or re-type data without arithmetic: 0 FLOPs, listed in the report.
//!
//! Shapes (with small integer values carried through, so shape arithmetic such as
//! Shape → Gather → Concat → Reshape resolves): Reshape (0 copies, −1 infers, `allowzero`),
//! Flatten, Transpose, Squeeze/Unsqueeze (attribute or input axes), Concat, Shape
//! (start/end), Size, Gather, Cast/CastLike, Constant, ConstantOfShape, Expand, Tile, Slice
//! (clamped starts/ends, negative steps), Split (attribute, input or equal parts), Pad, Range
//! (⌈(limit − start) / delta⌉), Identity, Dropout, TensorScatter (opset 24: the KV-cache
//! update keeps the cache's shape).
//! Control inputs: shapes, axes, indices, repeats, pads and the like — slot 1 on for Reshape,
//! Expand, Tile, Gather*, (Un)Squeeze, OneHot, Split, Compress, Trilu, Slice, Pad; slot 1 of the
//! Scatter ops; every input of ConstantOfShape, Range, EyeLike, Shape and Size.

/// The op type, named once (the tract screen matches on it too).
pub const GATHER_ND: &str = "GatherND";

use super::common::{axis, broadcast, c as cnt, same_shape};
use super::{one, Control, CostCtx, OpCost, OpDef, Registry, RuleResult, ShapeCtx, ShapeResult};
use crate::model::proto::data_type as dt;
use crate::model::shapes::TensorFacts;
use crate::model::values::{self, Value};
use crate::model::Shape;
use crate::sym::Count;

/// The Constant op (its output is a stored tensor, not an activation).
pub const CONSTANT: &str = "Constant";

pub fn register(r: &mut Registry) {
    let from1 = Control::From(1);
    r.onnx(CONSTANT, OpDef::new(constant_shape, zero));
    r.onnx("Identity", OpDef::new(identity_shape, zero));
    r.onnx("Dropout", OpDef::new(same_shape, zero));
    r.onnx("Reshape", OpDef::new(reshape_shape, zero).control(from1));
    r.onnx("Flatten", OpDef::new(flatten_shape, zero));
    r.onnx("Transpose", OpDef::new(transpose_shape, zero));
    r.onnx("Squeeze", OpDef::new(squeeze_shape, zero).control(from1));
    r.onnx("Unsqueeze", OpDef::new(squeeze_shape, zero).control(from1));
    r.onnx("Concat", OpDef::new(concat_shape, zero));
    r.onnx("Split", OpDef::new(split_shape, zero).control(from1));
    r.onnx("Slice", OpDef::new(slice_shape, zero).control(from1));
    r.onnx("Pad", OpDef::new(pad_shape, zero).control(from1));
    r.onnx("Gather", OpDef::new(gather_shape, zero).control(from1));
    r.onnx("GatherElements", OpDef::cost(zero).control(from1));
    r.onnx(GATHER_ND, OpDef::cost(zero).control(from1));
    r.onnx("Scatter", OpDef::cost(zero).control(Control::Slots(&[1])));
    r.onnx("ScatterElements", OpDef::cost(zero).control(Control::Slots(&[1])));
    r.onnx("ScatterND", OpDef::cost(zero).control(Control::Slots(&[1])));
    r.onnx("Shape", OpDef::new(shape_shape, zero).control(Control::All));
    r.onnx("Size", OpDef::new(size_shape, zero).control(Control::All));
    r.onnx("Cast", OpDef::new(cast_shape, zero));
    r.onnx("CastLike", OpDef::new(cast_like_shape, zero));
    r.onnx(
        "ConstantOfShape",
        OpDef::new(constant_of_shape_shape, zero).control(Control::All),
    );
    r.onnx("Expand", OpDef::new(expand_shape, zero).control(from1));
    r.onnx("Tile", OpDef::new(tile_shape, zero).control(from1));
    r.onnx("Range", OpDef::new(range_shape, zero).control(Control::All));
    r.onnx("EyeLike", OpDef::cost(zero).control(Control::All));
    r.onnx("OneHot", OpDef::cost(zero).control(from1));
    r.onnx("Compress", OpDef::cost(zero).control(from1));
    r.onnx("Trilu", OpDef::cost(zero).control(from1));
    r.onnx("DepthToSpace", OpDef::cost(zero));
    r.onnx("SpaceToDepth", OpDef::cost(zero));
    r.onnx("NonZero", OpDef::cost(zero));
    r.onnx("Unique", OpDef::cost(zero));
    r.onnx("ReverseSequence", OpDef::cost(zero));
    r.onnx("CenterCropPad", OpDef::cost(zero));
    r.onnx("Col2Im", OpDef::cost(zero));
    r.onnx("Optional", OpDef::cost(zero));
    r.onnx("OptionalGetElement", OpDef::cost(zero));
    r.onnx("OptionalHasElement", OpDef::cost(zero));
    r.onnx("SequenceAt", OpDef::cost(zero));
    r.onnx("SequenceConstruct", OpDef::cost(zero));
    r.onnx("SequenceEmpty", OpDef::cost(zero));
    r.onnx("SequenceInsert", OpDef::cost(zero));
    r.onnx("SequenceLength", OpDef::cost(zero));
    r.onnx("SplitToSequence", OpDef::cost(zero));
    r.onnx("ConcatFromSequence", OpDef::cost(zero));
    r.onnx("RandomNormal", OpDef::cost(zero));
    r.onnx("RandomUniform", OpDef::cost(zero));
    r.onnx("RandomNormalLike", OpDef::cost(zero));
    r.onnx("RandomUniformLike", OpDef::cost(zero));
    r.onnx("Multinomial", OpDef::cost(zero));
    r.onnx("Bernoulli", OpDef::cost(zero));
    r.onnx(
        "TensorScatter",
        OpDef::new(same_shape, zero).control(Control::Slots(&[2])),
    );
}

/// No arithmetic.
pub fn zero(_: &CostCtx) -> RuleResult {
    Ok(Ok(OpCost::zero()))
}

fn identity_shape(c: &ShapeCtx) -> ShapeResult {
    one(c.shape(0), c.dtype(0), c.val(0))
}

fn flatten_shape(c: &ShapeCtx) -> ShapeResult {
    let x = c.shape(0)?;
    let ax = c.attrs.int_or("axis", 1).ok()?;
    let ax = if ax < 0 { ax + x.len() as i64 } else { ax } as usize;
    if ax > x.len() {
        return None;
    }
    one(
        Some(vec![Count::product(&x[..ax]), Count::product(&x[ax..])]),
        c.dtype(0),
        None,
    )
}

fn reshape_shape(c: &ShapeCtx) -> ShapeResult {
    let x = c.shape(0)?;
    let target = c.ints(1)?;
    let allowzero = c.attrs.int_or("allowzero", 0).ok()? != 0;
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
    one(Some(out.into_iter().flatten().collect()), c.dtype(0), c.val(0))
}

fn transpose_shape(c: &ShapeCtx) -> ShapeResult {
    let x = c.shape(0)?;
    let perm: Vec<usize> = match c.attrs.ints("perm").ok()? {
        Some(p) => p.iter().map(|v| axis(*v, x.len())).collect::<Option<_>>()?,
        None => (0..x.len()).rev().collect(),
    };
    one(
        Some(perm.iter().map(|i| x[*i].clone()).collect()),
        c.dtype(0),
        None,
    )
}

fn squeeze_shape(c: &ShapeCtx) -> ShapeResult {
    let x = c.shape(0)?;
    let axes: Option<Vec<i64>> = match c.attrs.ints("axes").ok()? {
        Some(v) => Some(v.to_vec()),
        None => c.val(1).and_then(|v| v.concrete()),
    };
    let s: Shape = if c.node.op_type == "Squeeze" {
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
                    Some(cnt(1))
                } else {
                    it.next().cloned()
                }
            })
            .collect::<Option<_>>()?
    };
    one(Some(s), c.dtype(0), c.val(0))
}

fn concat_shape(c: &ShapeCtx) -> ShapeResult {
    let shapes: Vec<Shape> = (0..c.inputs.len()).filter_map(|i| c.shape(i)).collect();
    let first = shapes.first()?.clone();
    // inputs of different ranks do not concatenate: no shape (the node is not costed)
    if shapes.iter().any(|x| x.len() != first.len()) {
        return None;
    }
    let ax = axis(c.attrs.int_or("axis", 0).ok()?, first.len())?;
    let mut s = first;
    s[ax] = Count::sum(shapes.iter().map(|x| &x[ax]));
    let vals: Option<Vec<Count>> = (0..c.inputs.len())
        .map(|i| c.ints(i))
        .collect::<Option<Vec<_>>>()
        .map(|v| v.concat());
    one(Some(s), c.dtype(0), vals.map(Value::Ints))
}

fn shape_shape(c: &ShapeCtx) -> ShapeResult {
    let x = c.shape(0)?;
    let r = x.len() as i64;
    let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let start = clamp(c.attrs.int_or("start", 0).ok()?);
    let end = clamp(c.attrs.int_or("end", r).ok()?);
    let v: Vec<Count> = x[start..end.max(start)].to_vec();
    one(
        Some(vec![cnt(v.len() as i64)]),
        dt::INT64,
        Some(Value::Ints(v)),
    )
}

fn size_shape(c: &ShapeCtx) -> ShapeResult {
    let x = c.shape(0)?;
    one(
        Some(vec![]),
        dt::INT64,
        Some(Value::Ints(vec![Count::product(&x)])),
    )
}

fn gather_shape(c: &ShapeCtx) -> ShapeResult {
    let x = c.shape(0)?;
    let idx = c.shape(1)?;
    let ax = axis(c.attrs.int_or("axis", 0).ok()?, x.len())?;
    let mut s = x[..ax].to_vec();
    s.extend(idx.iter().cloned());
    s.extend(x[ax + 1..].iter().cloned());
    let value = match (c.val(0), c.val(1).and_then(|v| v.concrete())) {
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
    one(Some(s), c.dtype(0), value)
}

fn cast_shape(c: &ShapeCtx) -> ShapeResult {
    let to = c.attrs.int("to").ok()??;
    let value = c.val(0).filter(|_| dt::is_integer(to as i32));
    one(c.shape(0), to as i32, value)
}

fn cast_like_shape(c: &ShapeCtx) -> ShapeResult {
    one(c.shape(0), c.dtype(1), None)
}

fn constant_shape(c: &ShapeCtx) -> ShapeResult {
    let t = c.attrs.tensor("value").ok()??;
    one(
        Some(t.dims.iter().map(|d| cnt(*d)).collect()),
        t.data_type,
        values::decode(t),
    )
}

fn constant_of_shape_shape(c: &ShapeCtx) -> ShapeResult {
    let dims = c.ints(0)?;
    let fill = c.attrs.tensor("value").ok()?;
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

fn expand_shape(c: &ShapeCtx) -> ShapeResult {
    let x = c.shape(0)?;
    let target = c.ints(1)?;
    one(broadcast(&[&x, &target]), c.dtype(0), None)
}

fn tile_shape(c: &ShapeCtx) -> ShapeResult {
    let x = c.shape(0)?;
    let reps = c.ints(1)?;
    if reps.len() != x.len() {
        return None;
    }
    one(
        Some(x.iter().zip(&reps).map(|(d, r)| d * r).collect()),
        c.dtype(0),
        None,
    )
}

fn slice_shape(c: &ShapeCtx) -> ShapeResult {
    let x = c.shape(0)?;
    let starts = c.val(1)?.concrete()?;
    let ends = c.val(2)?.concrete()?;
    let axes = match c.val(3) {
        Some(v) => v.concrete()?,
        None => (0..starts.len() as i64).collect(),
    };
    let steps = match c.val(4) {
        Some(v) => v.concrete()?,
        None => vec![1; starts.len()],
    };
    if [ends.len(), axes.len(), steps.len()] != [starts.len(); 3] {
        return None;
    }
    let mut s = x.clone();
    let mut value = c.ints(0);
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
    one(Some(s), c.dtype(0), value.map(Value::Ints))
}

fn split_shape(c: &ShapeCtx) -> ShapeResult {
    let x = c.shape(0)?;
    let ax = axis(c.attrs.int_or("axis", 0).ok()?, x.len())?;
    let n = c.node.outputs.len() as i64;
    let parts: Vec<Count> = match c.attrs.ints("split").ok()? {
        Some(v) => v.iter().map(|d| cnt(*d)).collect(),
        None => match c.val(1) {
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
                    dtype: c.dtype(0),
                    value: None,
                }
            })
            .collect(),
    )
}

fn pad_shape(c: &ShapeCtx) -> ShapeResult {
    let x = c.shape(0)?;
    let pads: Vec<i64> = match c.attrs.ints("pads").ok()? {
        Some(p) => p.to_vec(),
        None => c.val(1)?.concrete()?,
    };
    let axes: Vec<usize> = match c.val(3).and_then(|v| v.concrete()) {
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
    one(Some(s), c.dtype(0), None)
}

fn range_shape(c: &ShapeCtx) -> ShapeResult {
    let (s, l, d) = (
        c.val(0)?.concrete()?,
        c.val(1)?.concrete()?,
        c.val(2)?.concrete()?,
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
    one(Some(vec![Count::int(n.max(0))]), c.dtype(0), None)
}

#[cfg(test)]
mod tests {
    use crate::model::proto::data_type as dt;
    use crate::model::values::Value;
    use crate::ops::testutil::*;
    use crate::ops::{is_control_input, ONNX};
    use crate::sym::Count;

    fn value(e: &Eval) -> Option<Vec<i128>> {
        match &e.outs.as_ref()?[0].value {
            Some(Value::Ints(v)) => v.iter().map(|c| c.as_int()).collect(),
            _ => None,
        }
    }

    #[test]
    fn reshape_table() {
        // [2,3,4] → [0, −1]: 0 copies 2, −1 = 24 / 2 = 12
        let x = f(&[2, 3, 4]);
        let e = onnx("Reshape", vec![], &[x.clone(), ints(&[0, -1])]);
        assert_eq!(e.shape(), [2, 12]);
        assert_eq!(e.flops(), 0);
        // two −1: no guess; an empty tensor: −1 = 0 / 4 = 0
        assert!(onnx("Reshape", vec![], &[x, ints(&[-1, -1])]).outs.is_none());
        let e = onnx("Reshape", vec![], &[f(&[0, 4]), ints(&[-1, 2])]);
        assert_eq!(e.shape(), [0, 2]);
    }

    #[test]
    fn shape_arithmetic_table() {
        // Shape([2,3,4]) = [2,3,4]; start −2 → [3,4]
        let x = f(&[2, 3, 4]);
        let e = onnx("Shape", vec![], std::slice::from_ref(&x));
        assert_eq!((e.shape(), value(&e)), (vec![3], Some(vec![2, 3, 4])));
        let e = onnx("Shape", vec![ai("start", -2)], std::slice::from_ref(&x));
        assert_eq!(value(&e), Some(vec![3, 4]));
        // Gather(Shape, 1) = 3 (a scalar index gives a scalar)
        let e = onnx(
            "Gather",
            vec![],
            &[ints(&[2, 3, 4]), Some(crate::model::shapes::TensorFacts {
                shape: Some(vec![]),
                dtype: dt::INT64,
                value: Some(Value::Ints(vec![Count::int(1)])),
            })],
        );
        assert_eq!((e.shape(), value(&e)), (vec![], Some(vec![3])));
        // Concat([2], [−1]) = [2, −1]
        let e = onnx("Concat", vec![ai("axis", 0)], &[ints(&[2]), ints(&[-1])]);
        assert_eq!(value(&e), Some(vec![2, -1]));
        // Slice([10,20,30,40], 1, −1) = [20, 30]; step −2 from the end: [40, 20]
        let v = ints(&[10, 20, 30, 40]);
        let e = onnx("Slice", vec![], &[v.clone(), ints(&[1]), ints(&[-1])]);
        assert_eq!(value(&e), Some(vec![20, 30]));
        let e = onnx(
            "Slice",
            vec![],
            &[v, ints(&[-1]), ints(&[i64::MIN]), ints(&[0]), ints(&[-2])],
        );
        assert_eq!(value(&e), Some(vec![40, 20]));
        // Range(0, 10, 3) has ⌈10/3⌉ = 4 elements
        let e = onnx("Range", vec![], &[ints(&[0]), ints(&[10]), ints(&[3])]);
        assert_eq!(e.shape(), [4]);
    }

    #[test]
    fn layout_table() {
        let x = f(&[2, 3, 4]);
        assert_eq!(onnx("Transpose", vec![], std::slice::from_ref(&x)).shape(), [4, 3, 2]);
        let e = onnx("Transpose", vec![ais("perm", &[0, 2, 1])], std::slice::from_ref(&x));
        assert_eq!(e.shape(), [2, 4, 3]);
        assert_eq!(onnx("Flatten", vec![], std::slice::from_ref(&x)).shape(), [2, 12]);
        let e = onnx("Unsqueeze", vec![], &[x.clone(), ints(&[0, -1])]);
        assert_eq!(e.shape(), [1, 2, 3, 4, 1]);
        let e = onnx("Squeeze", vec![], &[f(&[1, 3, 1])]);
        assert_eq!(e.shape(), [3]);
        let e = onnx("Pad", vec![], &[x.clone(), ints(&[0, 1, 1, 0, 1, 1])]);
        assert_eq!(e.shape(), [2, 5, 6]);
        let e = onnx("Expand", vec![], &[f(&[3, 1]), ints(&[2, 1, 4])]);
        assert_eq!(e.shape(), [2, 3, 4]);
        let e = onnx("Tile", vec![], &[x.clone(), ints(&[1, 2, 3])]);
        assert_eq!(e.shape(), [2, 6, 12]);
        // Split into 3 equal outputs along axis 2 of [2,3,6]
        let e = eval(ONNX, "Split", vec![ai("axis", 2)], &[f(&[2, 3, 6])], None, 3);
        assert_eq!((e.shape_of(0), e.shape_of(2)), (vec![2, 3, 2], vec![2, 3, 2]));
        // TensorScatter: the KV cache [1,2,8,16] takes a [1,2,1,16] update in place
        let e = onnx("TensorScatter", vec![], &[f(&[1, 2, 8, 16]), f(&[1, 2, 1, 16])]);
        assert_eq!((e.shape(), e.flops()), (vec![1, 2, 8, 16], 0));
        let e = onnx("Cast", vec![ai("to", dt::FLOAT16 as i64)], &[x]);
        assert_eq!(e.dtype(), dt::FLOAT16);
    }

    #[test]
    fn control_inputs_table() {
        // (op, slot, control?)
        let cases = [
            ("Reshape", 0, false),
            ("Reshape", 1, true),
            ("Slice", 3, true),
            ("ScatterND", 1, true),
            ("ScatterND", 2, false),
            ("Shape", 0, true),
            ("ConstantOfShape", 0, true),
            ("Concat", 1, false),
        ];
        for (op, slot, want) in cases {
            assert_eq!(is_control_input(ONNX, op, slot), want, "{op} slot {slot}");
        }
    }
}
