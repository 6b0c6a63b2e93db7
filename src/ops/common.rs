//! Helpers shared by the op families: numpy broadcasting, axis normalisation, exact floor and
//! ceiling division of counts, the output size of a sliding window (Conv, pools), and the
//! shape rule of ops whose output has the shape and type of their first input.
//!
//! Window output size per spatial axis (ONNX): with input n, pads b + e, kernel k, dilation d
//! and stride s, the effective kernel is d·(k − 1) + 1 and the output is
//! ⌊(n + b + e − eff) / s⌋ + 1 (⌈·⌉ with ceil_mode, dropping a last window that would start in
//! the end padding); SAME_UPPER / SAME_LOWER give ⌈n / s⌉, VALID ⌊(n − eff) / s⌋ + 1.

use super::{ShapeCtx, ShapeResult};
use crate::model::attr::Attrs;
use crate::model::shapes::TensorFacts;
use crate::model::Shape;
use crate::sym::Count;

/// A concrete count.
pub fn c(v: i64) -> Count {
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

/// A possibly negative axis as an index into `rank` dims.
pub fn axis(a: i64, rank: usize) -> Option<usize> {
    let r = rank as i64;
    let x = if a < 0 { a + r } else { a };
    (0..r).contains(&x).then_some(x as usize)
}

/// floor(x / s) for a count, when it can be done exactly.
pub fn floor_div(x: &Count, s: i64) -> Option<Count> {
    if s == 1 {
        return Some(x.clone());
    }
    let v = x.as_int()?;
    Some(Count::int(v.div_euclid(s as i128)))
}

/// ceil(x / s) for a count, when it can be done exactly.
pub fn ceil_div(x: &Count, s: i64) -> Option<Count> {
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

/// Shape rule: one output with the shape and element type of input 0.
pub fn same_shape(c: &ShapeCtx) -> ShapeResult {
    Some(vec![TensorFacts {
        shape: c.shape(0),
        dtype: c.dtype(0),
        value: None,
    }])
}

/// Shape rule: one boolean output with the shape of input 0 (Not, IsNaN, IsInf).
pub fn same_shape_bool(c: &ShapeCtx) -> ShapeResult {
    Some(vec![TensorFacts {
        shape: c.shape(0),
        dtype: crate::model::proto::data_type::BOOL,
        value: None,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[i64]) -> Shape {
        v.iter().map(|d| c(*d)).collect()
    }

    #[test]
    fn broadcast_table() {
        // (a, b, expected): numpy rules, right-aligned
        type Case<'a> = (&'a [i64], &'a [i64], Option<&'a [i64]>);
        let cases: &[Case] = &[
            (&[2, 3], &[3], Some(&[2, 3])),
            (&[2, 1, 4], &[3, 1], Some(&[2, 3, 4])),
            (&[1], &[5, 0], Some(&[5, 0])),
            (&[2, 3], &[4], None),
            (&[0], &[1], Some(&[0])),
        ];
        for (a, b, want) in cases {
            assert_eq!(
                broadcast(&[&s(a), &s(b)]),
                want.map(s),
                "broadcast {a:?} {b:?}"
            );
        }
        // a symbol meets 1 → the symbol; a symbol meets a number → the number
        let n = Count::sym("N");
        assert_eq!(
            broadcast(&[&vec![n.clone(), c(1)], &s(&[1, 4])]),
            Some(vec![n.clone(), c(4)])
        );
        assert_eq!(broadcast(&[&vec![n], &s(&[7])]), Some(s(&[7])));
    }

    #[test]
    fn axis_and_division_table() {
        assert_eq!(axis(-1, 4), Some(3));
        assert_eq!(axis(4, 4), None);
        assert_eq!(axis(-5, 4), None);
        assert_eq!(axis(0, 0), None);
        // ⌊7/2⌋ = 3, ⌈7/2⌉ = 4, ⌊−1/2⌋ = −1, ⌈0/3⌉ = 0
        assert_eq!(floor_div(&c(7), 2), Some(c(3)));
        assert_eq!(ceil_div(&c(7), 2), Some(c(4)));
        assert_eq!(floor_div(&c(-1), 2), Some(c(-1)));
        assert_eq!(ceil_div(&c(0), 3), Some(c(0)));
        assert_eq!(floor_div(&Count::sym("H"), 2), None);
        assert_eq!(floor_div(&Count::sym("H"), 1), Some(Count::sym("H")));
    }

    #[test]
    fn window_output_table() {
        use crate::model::proto::{attribute_type as at, AttributeProto};
        let ints = |n: &str, v: &[i64]| AttributeProto {
            name: n.into(),
            r#type: at::INTS,
            ints: v.to_vec(),
            ..Default::default()
        };
        let string = |n: &str, v: &str| AttributeProto {
            name: n.into(),
            r#type: at::STRING,
            s: v.as_bytes().to_vec(),
            ..Default::default()
        };
        // 224 input, 7×7 kernel, stride 2, pads 3+3: ⌊(224 + 6 − 7)/2⌋ + 1 = 111 + 1 = 112
        let attrs = [ints("strides", &[2]), ints("pads", &[3, 3])];
        let a = Attrs::new(&attrs, Default::default());
        assert_eq!(
            window_out(&a, &s(&[224]), &[7], false).unwrap(),
            Some(s(&[112]))
        );
        // 112, 3×3, stride 2, pads 1+1, ceil: ⌈(112 + 2 − 3)/2⌉ + 1 = 56 + 1 = 57; the last
        // window starts at 56·2 = 112 ≥ 112 + 1? no → 57 stays
        let attrs = [ints("strides", &[2]), ints("pads", &[1, 1])];
        let a = Attrs::new(&attrs, Default::default());
        assert_eq!(
            window_out(&a, &s(&[112]), &[3], true).unwrap(),
            Some(s(&[57]))
        );
        // SAME_UPPER: ⌈15/4⌉ = 4; VALID: ⌊(15 − 3)/4⌋ + 1 = 4
        let attrs = [ints("strides", &[4]), string("auto_pad", "SAME_UPPER")];
        let a = Attrs::new(&attrs, Default::default());
        assert_eq!(
            window_out(&a, &s(&[15]), &[3], false).unwrap(),
            Some(s(&[4]))
        );
        let attrs = [ints("strides", &[4]), string("auto_pad", "VALID")];
        let a = Attrs::new(&attrs, Default::default());
        assert_eq!(
            window_out(&a, &s(&[15]), &[3], false).unwrap(),
            Some(s(&[4]))
        );
        // a window larger than the input is an error naming the attribute, not a panic
        let a = Attrs::new(&[], Default::default());
        assert!(window_out(&a, &s(&[2]), &[5], false).is_err());
    }
}
