//! The outputs of `run`: tract tensors as arrays of their dtype, summaries (min, max, mean),
//! file names made from output names, and the atomic write of a whole set of `.npy` files.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::ArrayD;
use ndarray_npy::WriteNpyExt;
use serde::Serialize;
use tract_onnx::prelude::*;

use crate::error::{Error, Result};
use crate::post::npyio::NpyArray;

/// The model's declared output names, in order, checked against the `count` tensors tract
/// returned for it.
pub fn names(path: &Path, model: &crate::model::Model, count: usize) -> Result<Vec<String>> {
    let names: Vec<String> = model
        .graph
        .outputs
        .iter()
        .map(|t| model.graph.tensors[*t].name.clone())
        .collect();
    if names.len() != count {
        return Err(Error::Run {
            path: path.display().to_string(),
            reason: format!(
                "tract returned {count} outputs, the model declares {}",
                names.len()
            ),
        });
    }
    Ok(names)
}

/// An output tensor as an array (float16 widened to float32, tract's symbolic dims to int64).
pub fn to_array(name: &str, t: &Tensor) -> Result<(NpyArray, Option<String>)> {
    let bad = |e: anyhow::Error| Error::Run {
        path: name.to_string(),
        reason: format!("output '{name}': {e:#}"),
    };
    macro_rules! plain {
        ($t:ty, $v:ident) => {
            NpyArray::$v(t.to_plain_array_view::<$t>().map_err(bad)?.to_owned())
        };
    }
    Ok(match t.datum_type() {
        DatumType::F32 => (plain!(f32, F32), None),
        DatumType::F64 => (plain!(f64, F64), None),
        DatumType::I8 => (plain!(i8, I8), None),
        DatumType::I16 => (plain!(i16, I16), None),
        DatumType::I32 => (plain!(i32, I32), None),
        DatumType::I64 => (plain!(i64, I64), None),
        DatumType::U8 => (plain!(u8, U8), None),
        DatumType::U16 => (plain!(u16, U16), None),
        DatumType::U32 => (plain!(u32, U32), None),
        DatumType::U64 => (plain!(u64, U64), None),
        DatumType::Bool => (plain!(bool, Bool), None),
        DatumType::F16 => {
            let w = t.cast_to::<f32>().map_err(bad)?;
            let a: ArrayD<f32> = w.to_plain_array_view::<f32>().map_err(bad)?.to_owned();
            (NpyArray::F32(a), Some("float16 widened to float32".into()))
        }
        DatumType::TDim => {
            let w = t.cast_to::<i64>().map_err(bad)?;
            let a: ArrayD<i64> = w.to_plain_array_view::<i64>().map_err(bad)?.to_owned();
            (NpyArray::I64(a), None)
        }
        other => {
            return Err(Error::Run {
                path: name.to_string(),
                reason: format!("output '{name}' has dtype {other:?}, which .npy cannot hold"),
            })
        }
    })
}

/// Summary of an output.
#[derive(Clone, Debug, Serialize)]
pub struct Stats {
    /// Smallest and largest value, NaN left out; null when there is none.
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Mean of the non-NaN values; null when there is none.
    pub mean: Option<f64>,
    /// How many values are NaN.
    pub nan: usize,
}

#[allow(clippy::unnecessary_cast)] // the macro casts every variant, float64 included
pub fn stats(a: &NpyArray) -> Stats {
    let mut acc = (f64::INFINITY, f64::NEG_INFINITY, 0f64, 0usize, 0usize);
    let mut add = |v: f64| {
        if v.is_nan() {
            acc.4 += 1;
        } else {
            acc.0 = acc.0.min(v);
            acc.1 = acc.1.max(v);
            acc.2 += v;
            acc.3 += 1;
        }
    };
    match a {
        NpyArray::F32(x) => x.iter().for_each(|v| add(*v as f64)),
        NpyArray::F64(x) => x.iter().for_each(|v| add(*v)),
        NpyArray::I8(x) => x.iter().for_each(|v| add(*v as f64)),
        NpyArray::I16(x) => x.iter().for_each(|v| add(*v as f64)),
        NpyArray::I32(x) => x.iter().for_each(|v| add(*v as f64)),
        NpyArray::I64(x) => x.iter().for_each(|v| add(*v as f64)),
        NpyArray::U8(x) => x.iter().for_each(|v| add(*v as f64)),
        NpyArray::U16(x) => x.iter().for_each(|v| add(*v as f64)),
        NpyArray::U32(x) => x.iter().for_each(|v| add(*v as f64)),
        NpyArray::U64(x) => x.iter().for_each(|v| add(*v as f64)),
        NpyArray::Bool(x) => x.iter().for_each(|v| add(u8::from(*v) as f64)),
    }
    let (min, max, sum, n, nan) = acc;
    Stats {
        min: (n > 0).then_some(min),
        max: (n > 0).then_some(max),
        mean: (n > 0).then(|| sum / n as f64),
        nan,
    }
}

/// A file name for an output: characters other than ASCII letters, digits, `.`, `-` and `_`
/// become `_`, a leading `.` too (no hidden files); empty names become `output_<i>`; a name
/// already taken (compared case-insensitively) gets `_2`, `_3`, …; then `.npy`.
pub fn file_names(names: &[String]) -> Vec<String> {
    let mut taken: HashSet<String> = HashSet::new();
    names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mut s: String = n
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            if s.starts_with('.') {
                s.replace_range(0..1, "_");
            }
            if n.is_empty() {
                s = format!("output_{i}");
            }
            let mut candidate = s.clone();
            let mut k = 2;
            while !taken.insert(candidate.to_ascii_lowercase()) {
                candidate = format!("{s}_{k}");
                k += 1;
            }
            candidate + ".npy"
        })
        .collect()
}

fn write_one(file: &mut std::fs::File, a: &NpyArray) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(file);
    let r = match a {
        NpyArray::F32(x) => x.write_npy(&mut w),
        NpyArray::F64(x) => x.write_npy(&mut w),
        NpyArray::I8(x) => x.write_npy(&mut w),
        NpyArray::I16(x) => x.write_npy(&mut w),
        NpyArray::I32(x) => x.write_npy(&mut w),
        NpyArray::I64(x) => x.write_npy(&mut w),
        NpyArray::U8(x) => x.write_npy(&mut w),
        NpyArray::U16(x) => x.write_npy(&mut w),
        NpyArray::U32(x) => x.write_npy(&mut w),
        NpyArray::U64(x) => x.write_npy(&mut w),
        NpyArray::Bool(x) => x.write_npy(&mut w),
    };
    r.map_err(std::io::Error::other)?;
    w.flush()?;
    w.get_ref().sync_all()
}

/// Writes every `(file name, array)` into `dir` (created if needed): each goes to a temporary
/// file in `dir` first, and only when all are written are they renamed into place. On an error
/// the temporary files are removed and no output file is touched.
pub fn write_all(dir: &Path, files: &[(String, &NpyArray)]) -> Result<Vec<PathBuf>> {
    let io = |path: &Path, source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    crate::util::fs::write_all_atomic(
        files
            .iter()
            .map(|(name, a)| (dir.join(name), move |f: &mut std::fs::File| write_one(f, a))),
    )
    .map_err(|(path, e)| io(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_and_distinct() {
        let n = |v: &[&str]| file_names(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(n(&["output0"]), ["output0.npy"]);
        assert_eq!(n(&["/head/Sigmoid:0"]), ["_head_Sigmoid_0.npy"]);
        assert_eq!(n(&["../x"]), ["_._x.npy"]);
        assert_eq!(n(&[".hidden"]), ["_hidden.npy"]);
        assert_eq!(
            n(&["", "a b", "a_b", "A_B"]),
            ["output_0.npy", "a_b.npy", "a_b_2.npy", "A_B_3.npy"]
        );
        assert_eq!(n(&["é"]), ["_.npy"]);
    }

    #[test]
    fn stats_skip_nan() {
        let a = NpyArray::F32(ndarray::arr1(&[1.0f32, f32::NAN, 3.0]).into_dyn());
        let s = stats(&a);
        assert_eq!(
            (s.min, s.max, s.mean, s.nan),
            (Some(1.0), Some(3.0), Some(2.0), 1)
        );
        let e = stats(&NpyArray::I64(ArrayD::zeros(vec![0])));
        assert_eq!((e.min, e.mean), (None, None));
    }

    #[test]
    fn write_all_is_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let a = NpyArray::F32(ndarray::arr1(&[1.0f32]).into_dyn());
        let out = write_all(dir.path(), &[("a.npy".into(), &a), ("b.npy".into(), &a)]).unwrap();
        assert_eq!(out.len(), 2);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        // a name that cannot be created (no such subfolder) fails without leftovers
        let bad = write_all(
            dir.path(),
            &[("d.npy".into(), &a), ("sub/c.npy".into(), &a)],
        );
        assert!(bad.is_err());
        assert!(!dir.path().join("d.npy").exists());
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
