//! `.npy` input and output for the post-processing commands: read an array of any numeric
//! dtype once, then convert it to what the caller needs (float32 values, integer labels) with
//! errors that name the file and the expected dtype; write result arrays.

use std::path::Path;

use ndarray::ArrayD;
use ndarray_npy::{ReadNpyError, ReadNpyExt, WriteNpyExt};

use super::PostError;

/// An array read from a `.npy` file, in the dtype the file stores.
#[derive(Clone, Debug)]
pub enum NpyArray {
    F32(ArrayD<f32>),
    F64(ArrayD<f64>),
    I8(ArrayD<i8>),
    I16(ArrayD<i16>),
    I32(ArrayD<i32>),
    I64(ArrayD<i64>),
    U8(ArrayD<u8>),
    U16(ArrayD<u16>),
    U32(ArrayD<u32>),
    U64(ArrayD<u64>),
    Bool(ArrayD<bool>),
}

macro_rules! each_numeric {
    ($self:expr, $a:ident => $body:expr, $bool:ident => $bbody:expr) => {
        match $self {
            NpyArray::F32($a) => $body,
            NpyArray::F64($a) => $body,
            NpyArray::I8($a) => $body,
            NpyArray::I16($a) => $body,
            NpyArray::I32($a) => $body,
            NpyArray::I64($a) => $body,
            NpyArray::U8($a) => $body,
            NpyArray::U16($a) => $body,
            NpyArray::U32($a) => $body,
            NpyArray::U64($a) => $body,
            NpyArray::Bool($bool) => $bbody,
        }
    };
}

impl NpyArray {
    /// The numpy name of the dtype.
    pub fn dtype(&self) -> &'static str {
        match self {
            NpyArray::F32(_) => "float32",
            NpyArray::F64(_) => "float64",
            NpyArray::I8(_) => "int8",
            NpyArray::I16(_) => "int16",
            NpyArray::I32(_) => "int32",
            NpyArray::I64(_) => "int64",
            NpyArray::U8(_) => "uint8",
            NpyArray::U16(_) => "uint16",
            NpyArray::U32(_) => "uint32",
            NpyArray::U64(_) => "uint64",
            NpyArray::Bool(_) => "bool",
        }
    }

    pub fn shape(&self) -> &[usize] {
        each_numeric!(self, a => a.shape(), b => b.shape())
    }

    fn is_float(&self) -> bool {
        matches!(self, NpyArray::F32(_) | NpyArray::F64(_))
    }

    /// Floating-point values as float32 (float64 is rounded to nearest).
    pub fn into_f32(self, what: &str) -> Result<ArrayD<f32>, PostError> {
        match self {
            NpyArray::F32(a) => Ok(a),
            NpyArray::F64(a) => Ok(a.mapv(|v| v as f32)),
            other => Err(PostError::Dtype {
                what: what.to_string(),
                expected: "a float32 or float64 array".into(),
                got: other.dtype().into(),
            }),
        }
    }

    /// Any numeric dtype (and bool) as float32 values: for targets that may be masks or label maps.
    #[allow(clippy::unnecessary_cast)] // the macro casts every variant, float32 included
    pub fn into_f32_lossy(self) -> ArrayD<f32> {
        match self {
            NpyArray::F32(a) => a,
            other => {
                each_numeric!(other, a => a.mapv(|v| v as f32), b => b.mapv(|v| f32::from(u8::from(v))))
            }
        }
    }

    /// Integer labels (class ids): any integer dtype, or floats that hold whole numbers.
    #[allow(clippy::unnecessary_cast)] // the macro casts every variant, float64 included
    pub fn into_labels(self, what: &str) -> Result<ArrayD<i64>, PostError> {
        let float = self.is_float();
        let dtype = self.dtype();
        let as_f64 = match self {
            NpyArray::I64(a) => return Ok(a),
            NpyArray::Bool(_) => {
                return Err(PostError::Dtype {
                    what: what.to_string(),
                    expected: "an integer array of class ids".into(),
                    got: "bool".into(),
                })
            }
            NpyArray::U64(a) => {
                return a
                    .mapv(i64::try_from)
                    .into_iter()
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| PostError::Value {
                        what: what.to_string(),
                        message: "class id does not fit in int64".into(),
                    })
                    .map(|v| ArrayD::from_shape_vec(a.raw_dim(), v).expect("same length"))
            }
            other => {
                each_numeric!(other, a => a.mapv(|v| v as f64), b => b.mapv(|v| f64::from(u8::from(v))))
            }
        };
        if float {
            if let Some(bad) = as_f64.iter().find(|v| v.fract() != 0.0 || !v.is_finite()) {
                return Err(PostError::Value {
                    what: what.to_string(),
                    message: format!(
                        "expected whole-number class ids in this {dtype} array, found {bad}"
                    ),
                });
            }
        }
        Ok(as_f64.mapv(|v| v as i64))
    }
}

fn parse_npy(bytes: &[u8]) -> Result<NpyArray, ReadNpyError> {
    macro_rules! attempt {
        ($t:ty, $variant:ident) => {
            match ArrayD::<$t>::read_npy(bytes) {
                Ok(a) => return Ok(NpyArray::$variant(a)),
                Err(ReadNpyError::WrongDescriptor(_)) => {}
                Err(e) => return Err(e),
            }
        };
    }
    attempt!(f32, F32);
    attempt!(f64, F64);
    attempt!(i64, I64);
    attempt!(i32, I32);
    attempt!(u8, U8);
    attempt!(bool, Bool);
    attempt!(i8, I8);
    attempt!(i16, I16);
    attempt!(u16, U16);
    attempt!(u32, U32);
    // Last: its error (an unsupported descriptor) is the one reported.
    ArrayD::<u64>::read_npy(bytes).map(NpyArray::U64)
}

/// Reads a whole `.npy` file.
pub fn read(path: &Path) -> Result<NpyArray, PostError> {
    let bytes = std::fs::read(path).map_err(|source| PostError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_bytes(path, &bytes)
}

/// Parses the bytes of a `.npy` file held in memory; `path` names it in messages.
pub fn read_bytes(path: &Path, bytes: &[u8]) -> Result<NpyArray, PostError> {
    parse_npy(bytes).map_err(|e| PostError::Npy {
        path: path.to_path_buf(),
        message: match e {
            ReadNpyError::WrongDescriptor(d) => {
                format!("unsupported dtype {d} (expected a numeric or bool array)")
            }
            other => other.to_string(),
        },
    })
}

/// Writes `array` to `path` as `.npy`.
pub fn write<A: WriteNpyExt>(path: &Path, array: &A) -> Result<(), PostError> {
    let file = std::fs::File::create(path).map_err(|source| PostError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    array
        .write_npy(std::io::BufWriter::new(file))
        .map_err(|e| PostError::Npy {
            path: path.to_path_buf(),
            message: format!("could not write: {e}"),
        })
}

/// A label naming an input file in messages, e.g. `boxes file "a.npy"`.
pub(crate) fn file_label(role: &str, path: &Path) -> String {
    format!("{role} file {}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn reads_any_dtype_and_converts() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        write(&p, &array![[1i32, 2], [3, 4]]).unwrap();
        let a = read(&p).unwrap();
        assert_eq!(a.dtype(), "int32");
        assert_eq!(a.shape(), &[2, 2]);
        assert_eq!(a.clone().into_labels("x").unwrap()[[1, 0]], 3);
        assert!(a.clone().into_f32("x").is_err());
        assert_eq!(a.into_f32_lossy()[[1, 1]], 4.0);

        write(&p, &array![0.0f64, 2.0]).unwrap();
        assert_eq!(read(&p).unwrap().into_labels("x").unwrap()[1], 2);
        write(&p, &array![0.5f64]).unwrap();
        let err = read(&p)
            .unwrap()
            .into_labels("classes file c.npy")
            .unwrap_err();
        assert!(err.to_string().contains("classes file c.npy"), "{err}");
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = read(Path::new("/nonexistent/boxes.npy")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/boxes.npy"), "{err}");
    }

    #[test]
    fn garbage_is_reported_as_not_npy() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("junk.npy");
        std::fs::write(&p, b"hello").unwrap();
        let err = read(&p).unwrap_err();
        assert!(matches!(err, PostError::Npy { .. }), "{err}");
        assert!(err.to_string().contains("junk.npy"));
    }
}
