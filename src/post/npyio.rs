//! `.npy` input and output for the post-processing commands: read an array of any numeric
//! dtype once, then convert it to what the caller needs (float32 values, integer labels) with
//! errors that name the file and the expected dtype; write result arrays. Float16 arrays
//! (`<f2`, `>f2`), which ndarray-npy does not read, are parsed here for `run`'s inputs
//! ([`read_input`]).

use std::path::Path;

use half::f16;
use ndarray::{ArrayD, ShapeBuilder};
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

/// The header of a `.npy` file: dtype descriptor, Fortran order, shape; and where the data
/// starts.
#[derive(Debug, PartialEq, Eq)]
struct Header {
    descr: String,
    fortran: bool,
    shape: Vec<usize>,
    data_start: usize,
}

/// Parses the header (format versions 1–3); `None` when `bytes` is not `.npy`.
fn header(bytes: &[u8]) -> Option<Header> {
    let rest = bytes.strip_prefix(b"\x93NUMPY")?;
    let (major, rest) = (*rest.first()?, rest.get(2..)?);
    let (len, start): (usize, usize) = match major {
        1 => (
            u16::from_le_bytes([*rest.first()?, *rest.get(1)?]) as usize,
            10,
        ),
        2 | 3 => (
            u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize,
            12,
        ),
        _ => return None,
    };
    let text = std::str::from_utf8(bytes.get(start..start.checked_add(len)?)?).ok()?;
    // the value after `'key':` in the header's dict literal
    let value = |key: &str| -> Option<&str> {
        let at = text.find(&format!("'{key}'"))? + key.len() + 2;
        Some(text[at..].trim_start().strip_prefix(':')?.trim_start())
    };
    let descr = value("descr")?;
    let descr = descr.strip_prefix('\'')?;
    let descr = &descr[..descr.find('\'')?];
    let fortran = value("fortran_order")?.starts_with("True");
    let shape = value("shape")?.strip_prefix('(')?;
    let shape = &shape[..shape.find(')')?];
    let shape = shape
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.trim_end_matches('L').parse::<usize>().ok())
        .collect::<Option<Vec<_>>>()?;
    Some(Header {
        descr: descr.to_string(),
        fortran,
        shape,
        data_start: start + len,
    })
}

/// A float16 array (`<f2`, `>f2`), or `None` when the file holds another dtype.
fn parse_f16(bytes: &[u8]) -> Option<Result<ArrayD<f16>, String>> {
    let h = header(bytes)?;
    let big = match h.descr.as_str() {
        "<f2" | "|f2" | "=f2" => false,
        ">f2" => true,
        _ => return None,
    };
    let n = h
        .shape
        .iter()
        .try_fold(1usize, |n, d| n.checked_mul(*d))
        .and_then(|n| n.checked_mul(2));
    let data = &bytes[h.data_start.min(bytes.len())..];
    let Some(n) = n.filter(|n| *n == data.len()) else {
        return Some(Err(format!(
            "float16 array of shape {:?} needs {} bytes of data, the file holds {}",
            h.shape,
            n.map_or("too many".to_string(), |n| n.to_string()),
            data.len()
        )));
    };
    let values: Vec<f16> = data[..n]
        .chunks_exact(2)
        .map(|b| {
            let b = [b[0], b[1]];
            f16::from_bits(if big {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            })
        })
        .collect();
    let shape = ndarray::IxDyn(&h.shape).set_f(h.fortran);
    Some(Ok(
        ArrayD::from_shape_vec(shape, values).expect("length checked")
    ))
}

fn npy_error(path: &Path, e: ReadNpyError) -> PostError {
    PostError::Npy {
        path: path.to_path_buf(),
        message: match e {
            ReadNpyError::WrongDescriptor(d) => {
                format!("unsupported dtype {d} (expected a numeric or bool array)")
            }
            other => other.to_string(),
        },
    }
}

fn file_bytes(path: &Path) -> Result<Vec<u8>, PostError> {
    std::fs::read(path).map_err(|source| PostError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a whole `.npy` file.
pub fn read(path: &Path) -> Result<NpyArray, PostError> {
    read_bytes(path, &file_bytes(path)?)
}

/// Parses the bytes of a `.npy` file held in memory; `path` names it in messages.
pub fn read_bytes(path: &Path, bytes: &[u8]) -> Result<NpyArray, PostError> {
    if parse_f16(bytes).is_some() {
        return Err(PostError::Npy {
            path: path.to_path_buf(),
            message: "float16 arrays are read as model inputs (`run`) only; save it as float32"
                .into(),
        });
    }
    parse_npy(bytes).map_err(|e| npy_error(path, e))
}

/// A `.npy` input of `run`: any dtype [`read`] takes, or float16.
#[derive(Clone, Debug)]
pub enum Loaded {
    Array(NpyArray),
    F16(ArrayD<f16>),
}

/// Reads a whole `.npy` file of any numeric dtype, float16 included.
pub fn read_input(path: &Path) -> Result<Loaded, PostError> {
    read_input_bytes(path, &file_bytes(path)?)
}

/// [`read_input`] on bytes held in memory; `path` names them in messages.
pub fn read_input_bytes(path: &Path, bytes: &[u8]) -> Result<Loaded, PostError> {
    match parse_f16(bytes) {
        Some(Ok(a)) => Ok(Loaded::F16(a)),
        Some(Err(message)) => Err(PostError::Npy {
            path: path.to_path_buf(),
            message,
        }),
        None => parse_npy(bytes)
            .map(Loaded::Array)
            .map_err(|e| npy_error(path, e)),
    }
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

    /// `.npy` bytes: the version-`major` header around `dict`, then `data`.
    fn npy(major: u8, dict: &str, data: &[u8]) -> Vec<u8> {
        let mut b = b"\x93NUMPY".to_vec();
        b.extend([major, 0]);
        if major == 1 {
            b.extend((dict.len() as u16).to_le_bytes());
        } else {
            b.extend((dict.len() as u32).to_le_bytes());
        }
        b.extend(dict.as_bytes());
        b.extend(data);
        b
    }

    #[test]
    fn float16_headers_and_data() {
        // 1-D (3,) in a version-2 header: 1.0 = 0x3C00, −0.5 = 0xB800, 65504 = 0x7BFF (the
        // largest float16)
        let b = npy(
            2,
            "{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }\n",
            &[0x00, 0x3C, 0x00, 0xB8, 0xFF, 0x7B],
        );
        let a = parse_f16(&b).unwrap().unwrap();
        assert_eq!(a.shape(), &[3]);
        let v: Vec<f32> = a.iter().map(|x| x.to_f32()).collect();
        assert_eq!(v, [1.0, -0.5, 65504.0]);
        // a scalar: shape ()
        let b = npy(
            1,
            "{'descr': '<f2', 'fortran_order': False, 'shape': (), }\n",
            &[0x00, 0x40],
        );
        let a = parse_f16(&b).unwrap().unwrap();
        assert_eq!((a.ndim(), a.iter().next().unwrap().to_f32()), (0, 2.0));
        // other dtypes are not float16
        let b = npy(
            1,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n",
            &[0, 0, 0x80, 0x3F],
        );
        assert!(parse_f16(&b).is_none());
        // the post-processing readers refuse float16, naming the file
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("h.npy");
        std::fs::write(
            &p,
            npy(
                1,
                "{'descr': '<f2', 'fortran_order': False, 'shape': (1,), }\n",
                &[0x00, 0x3C],
            ),
        )
        .unwrap();
        let err = read(&p).unwrap_err().to_string();
        assert!(err.contains("h.npy") && err.contains("float16"), "{err}");
        assert!(matches!(read_input(&p).unwrap(), Loaded::F16(_)));
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
