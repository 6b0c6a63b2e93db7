//! The inputs of `run`: what the model declares, what the command line gives (`.npy` files of
//! any dtype, PNG/JPEG images, seeded random data), and the checks between the two. Symbolic
//! dims are bound by the first input that fixes them (or by `--dim`), and every later input
//! must agree.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tract_onnx::prelude::*;

use crate::error::{Error, Result};
use crate::model::graph::TensorKind;
use crate::model::proto::data_type as dt;
use crate::model::Model;
use crate::post::npyio::{self, NpyArray};
use crate::runtime::SplitMix64;
use crate::sym::Count;

/// An input the model declares.
#[derive(Clone, Debug)]
pub struct InputSpec {
    pub name: String,
    /// ONNX element type (0 when undeclared).
    pub dtype: i32,
    /// Declared dims (numbers or symbols); `None` when the model declares no shape.
    pub shape: Option<Vec<Count>>,
}

/// The real (not initializer) inputs of `model`, in the order tract takes them.
pub fn specs(model: &Model) -> Vec<InputSpec> {
    model
        .graph
        .inputs
        .iter()
        .map(|i| &model.graph.tensors[*i])
        .filter(|t| t.kind == TensorKind::Input)
        .map(|t| InputSpec {
            name: t.name.clone(),
            dtype: t.dtype,
            shape: t.declared.clone(),
        })
        .collect()
}

/// A declared shape as text: `[N,3,224,224]`, or `[?]` when undeclared.
pub fn shape_text(shape: &Option<Vec<Count>>) -> String {
    match shape {
        None => "[?]".into(),
        Some(s) => format!(
            "[{}]",
            s.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

/// How image files become tensors.
#[derive(Clone, Debug, Default)]
pub struct ImageOptions {
    /// Resize to (width, height) first (bilinear).
    pub resize: Option<(u32, u32)>,
    /// Per-channel mean (one value for all channels, or one per channel).
    pub mean: Vec<f32>,
    /// Per-channel standard deviation (likewise).
    pub std: Vec<f32>,
    /// Pixel values (0–255) are multiplied by this first.
    pub scale: f32,
}

/// Where an input's data came from.
#[derive(Clone, Debug)]
pub enum Source {
    Npy(PathBuf),
    Image(PathBuf),
    Random,
}

impl Source {
    pub fn label(&self) -> String {
        match self {
            Source::Npy(p) | Source::Image(p) => p.display().to_string(),
            Source::Random => "random".into(),
        }
    }
}

/// One input ready for tract.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub name: String,
    pub tensor: Tensor,
    pub source: Source,
    /// Conversions applied (float16 inputs read from float32 files), for the report.
    pub note: Option<String>,
}

/// `--input` values split into (input name, file).
pub fn parse_input_flags(flags: &[String], specs: &[InputSpec]) -> Result<Vec<(String, PathBuf)>> {
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let mut out: Vec<(String, PathBuf)> = vec![];
    for f in flags {
        // NAME=FILE; the name is the longest declared input name followed by '=' (names and
        // file names may both hold '='); a bare FILE feeds a model's only input.
        let named = names
            .iter()
            .filter(|n| f.len() > n.len() && f.starts_with(*n) && f[n.len()..].starts_with('='))
            .max_by_key(|n| n.len());
        let (name, file) = match named {
            Some(n) => (n.to_string(), f[n.len() + 1..].to_string()),
            None if !f.contains('=') && specs.len() == 1 => (specs[0].name.clone(), f.clone()),
            None => {
                let given = f.split_once('=').map_or(f.as_str(), |p| p.0);
                return Err(Error::usage(
                    "--input",
                    if f.contains('=') {
                        format!(
                            "the model has no input '{given}'; its inputs: {}",
                            list(&names)
                        )
                    } else {
                        format!(
                            "'{f}' is not NAME=FILE (the model has {} inputs: {})",
                            names.len(),
                            list(&names)
                        )
                    },
                ));
            }
        };
        if file.is_empty() {
            return Err(Error::usage(
                "--input",
                format!("{name}: no file after '='"),
            ));
        }
        if out.iter().any(|(n, _)| *n == name) {
            return Err(Error::usage("--input", format!("{name} is given twice")));
        }
        out.push((name, PathBuf::from(file)));
    }
    Ok(out)
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names
            .iter()
            .map(|n| format!("'{n}'"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Whether a path names an image (by extension).
pub fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .map(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
        .unwrap_or(false)
}

/// Symbol bindings shared by all inputs: `--dim` values, then what each input fixes.
pub struct Bindings {
    pub values: HashMap<String, i64>,
    /// Where each binding came from, for messages.
    origin: HashMap<String, String>,
}

impl Bindings {
    pub fn new(dims: &HashMap<String, i64>) -> Self {
        Bindings {
            values: dims.clone(),
            origin: dims
                .iter()
                .map(|(k, v)| (k.clone(), format!("--dim {k}={v}")))
                .collect(),
        }
    }

    /// Checks `actual` against the declared shape of `spec`, binding its symbols.
    pub fn check(&mut self, spec: &InputSpec, actual: &[usize], what: &str) -> Result<()> {
        let Some(declared) = &spec.shape else {
            return Ok(());
        };
        let mismatch = |detail: String| {
            Error::usage(
                "--input",
                format!(
                    "input '{}' takes {} {}; {what} is {}: {detail}",
                    spec.name,
                    dt::name(spec.dtype),
                    shape_text(&spec.shape),
                    dims_text(actual),
                ),
            )
        };
        if declared.len() != actual.len() {
            return Err(mismatch(format!(
                "rank {} instead of {}",
                actual.len(),
                declared.len()
            )));
        }
        let mut pending: Vec<(String, i64, String)> = vec![];
        for (axis, (d, a)) in declared.iter().zip(actual).enumerate() {
            let a = *a as i64;
            if let Some(v) = d.as_int() {
                if v as i64 != a && v > 0 {
                    return Err(mismatch(format!(
                        "axis {axis} is {a}, the model fixes it at {v}"
                    )));
                }
                continue;
            }
            let syms = d.symbols();
            if syms.len() == 1 && d.to_string() == syms[0] {
                let s = &syms[0];
                if let Some(v) = self.values.get(s) {
                    if *v != a {
                        return Err(mismatch(format!(
                            "axis {axis} ({s}) is {a}, but {} set {s} = {v}",
                            self.origin[s]
                        )));
                    }
                } else if let Some((_, v, _)) = pending.iter().find(|p| p.0 == *s) {
                    if *v != a {
                        return Err(mismatch(format!(
                            "axis {axis} ({s}) is {a}, but an earlier axis set {s} = {v}"
                        )));
                    }
                } else {
                    pending.push((s.clone(), a, format!("input '{}' ({what})", spec.name)));
                }
            } else {
                // an expression of symbols: check it once they are all bound
                let b = d.bind(&self.values);
                if let Some(v) = b.as_int() {
                    if v as i64 != a {
                        return Err(mismatch(format!("axis {axis} ({d}) is {a}, expected {v}")));
                    }
                }
            }
        }
        for (s, v, o) in pending {
            self.values.insert(s.clone(), v);
            self.origin.insert(s, o);
        }
        Ok(())
    }

    /// The concrete shape of a declared input: bound symbols (0 included: an empty tensor),
    /// others at 1; a fixed dim that is not positive (an exporter's "unknown") at 1.
    pub fn concrete(&self, spec: &InputSpec) -> Result<Vec<usize>> {
        let Some(declared) = &spec.shape else {
            return Err(Error::usage(
                "--random",
                format!(
                    "input '{}' declares no shape: give it as a file (--input {}=FILE.npy)",
                    spec.name, spec.name
                ),
            ));
        };
        let mut ones = self.values.clone();
        for d in declared {
            for s in d.symbols() {
                ones.entry(s).or_insert(1);
            }
        }
        declared
            .iter()
            .map(|d| {
                let fixed = d.as_int().is_some();
                let v = d.bind(&ones).as_int().unwrap_or(1);
                Ok(if v < 0 || (fixed && v == 0) {
                    1
                } else {
                    v as usize
                })
            })
            .collect()
    }
}

pub fn dims_text(d: &[usize]) -> String {
    format!(
        "[{}]",
        d.iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(",")
    )
}

/// tract's element type for an ONNX one.
pub fn datum_type(onnx: i32) -> Option<DatumType> {
    Some(match onnx {
        dt::FLOAT => DatumType::F32,
        dt::DOUBLE => DatumType::F64,
        dt::FLOAT16 => DatumType::F16,
        dt::INT8 => DatumType::I8,
        dt::INT16 => DatumType::I16,
        dt::INT32 => DatumType::I32,
        dt::INT64 => DatumType::I64,
        dt::UINT8 => DatumType::U8,
        dt::UINT16 => DatumType::U16,
        dt::UINT32 => DatumType::U32,
        dt::UINT64 => DatumType::U64,
        dt::BOOL => DatumType::Bool,
        dt::STRING => DatumType::String,
        _ => return None,
    })
}

/// A `.npy` array as a tract tensor of the same element type.
pub fn npy_to_tensor(a: NpyArray) -> Tensor {
    match a {
        NpyArray::F32(a) => a.into(),
        NpyArray::F64(a) => a.into(),
        NpyArray::I8(a) => a.into(),
        NpyArray::I16(a) => a.into(),
        NpyArray::I32(a) => a.into(),
        NpyArray::I64(a) => a.into(),
        NpyArray::U8(a) => a.into(),
        NpyArray::U16(a) => a.into(),
        NpyArray::U32(a) => a.into(),
        NpyArray::U64(a) => a.into(),
        NpyArray::Bool(a) => a.into(),
    }
}

/// Reads an input from `.npy` and checks its dtype and shape against the declaration.
/// A float16 file (`<f2`) feeds a float16 input as it is; a float16 input also takes float32
/// and float64 files, rounded to nearest.
pub fn from_npy(spec: &InputSpec, path: &Path, b: &mut Bindings) -> Result<Prepared> {
    let a = match npyio::read_input(path)? {
        npyio::Loaded::Array(a) => a,
        npyio::Loaded::F16(a) => {
            if spec.dtype != dt::FLOAT16 && spec.dtype != dt::UNDEFINED {
                return Err(dtype_mismatch(spec, path, "float16", a.shape()));
            }
            let tensor: Tensor = a.into();
            b.check(
                spec,
                tensor.shape(),
                &format!("{} (float16)", path.display()),
            )?;
            return Ok(Prepared {
                name: spec.name.clone(),
                tensor,
                source: Source::Npy(path.to_path_buf()),
                note: None,
            });
        }
    };
    let file_dtype = a.dtype();
    let what = format!("{} ({file_dtype})", path.display());
    let mut note = None;
    let tensor = if spec.dtype == dt::FLOAT16 && matches!(a, NpyArray::F32(_) | NpyArray::F64(_)) {
        // wider floats are accepted too, rounded to float16
        note = Some(format!("{file_dtype} rounded to float16"));
        let t = npy_to_tensor(a);
        t.cast_to_dt(DatumType::F16)
            .map_err(|e| Error::usage("--input", format!("{}: {e}", spec.name)))?
            .into_owned()
    } else {
        if spec.dtype != dt::UNDEFINED && dt::name(spec.dtype) != file_dtype {
            return Err(dtype_mismatch(spec, path, file_dtype, a.shape()));
        }
        npy_to_tensor(a)
    };
    b.check(spec, tensor.shape(), &what)?;
    Ok(Prepared {
        name: spec.name.clone(),
        tensor,
        source: Source::Npy(path.to_path_buf()),
        note,
    })
}

/// `input 'x' takes float32 [N,4]; a.npy holds float16 [2,4]`.
fn dtype_mismatch(spec: &InputSpec, path: &Path, file_dtype: &str, shape: &[usize]) -> Error {
    Error::usage(
        "--input",
        format!(
            "input '{}' takes {} {}; {} holds {file_dtype} {}",
            spec.name,
            dt::name(spec.dtype),
            shape_text(&spec.shape),
            path.display(),
            dims_text(shape),
        ),
    )
}

/// Reads an image as an NCHW float tensor `[1,C,H,W]`: C from the declaration (1 gray, 3 RGB,
/// 4 RGBA; 3 when unknown), value = (pixel · scale − mean[c]) / std[c].
pub fn from_image(
    spec: &InputSpec,
    path: &Path,
    o: &ImageOptions,
    b: &mut Bindings,
) -> Result<Prepared> {
    let dtype = match spec.dtype {
        dt::FLOAT | dt::UNDEFINED => DatumType::F32,
        dt::DOUBLE => DatumType::F64,
        dt::FLOAT16 => DatumType::F16,
        other => {
            return Err(Error::usage(
                "--input",
                format!(
                    "input '{}' takes {}: an image becomes a float tensor; give a .npy",
                    spec.name,
                    dt::name(other)
                ),
            ))
        }
    };
    let declared = spec.shape.as_ref();
    if let Some(s) = declared {
        if s.len() != 4 {
            return Err(Error::usage(
                "--input",
                format!(
                    "input '{}' is {} (rank {}): an image feeds a rank-4 NCHW input",
                    spec.name,
                    shape_text(&spec.shape),
                    s.len()
                ),
            ));
        }
    }
    let fixed = |axis: usize| {
        declared
            .and_then(|s| s[axis].as_int())
            .filter(|v| *v > 0)
            .map(|v| v as usize)
    };
    let channels = match fixed(1) {
        None => 3,
        Some(c @ (1 | 3 | 4)) => c,
        Some(c) => {
            return Err(Error::usage(
                "--input",
                format!(
                    "input '{}' is {}: {c} channels is not an image (1, 3 or 4 on axis 1, NCHW)",
                    spec.name,
                    shape_text(&spec.shape)
                ),
            ))
        }
    };
    let img = decode_image(path)?;
    let img = match o.resize {
        Some((w, h)) => img.resize_exact(w, h, image::imageops::FilterType::Triangle),
        None => img,
    };
    let (w, h) = (img.width() as usize, img.height() as usize);
    if let (Some(dh), Some(dw)) = (fixed(2), fixed(3)) {
        if (dh, dw) != (h, w) {
            return Err(Error::usage(
                "--input",
                format!(
                    "input '{}' takes {}x{} (HxW) images; {} is {h}x{w}: add --resize {dw}x{dh}",
                    spec.name,
                    dh,
                    dw,
                    path.display()
                ),
            ));
        }
    }
    let pixels: Vec<u8> = match channels {
        1 => img.to_luma8().into_raw(),
        3 => img.to_rgb8().into_raw(),
        _ => img.to_rgba8().into_raw(),
    };
    let per = |v: &[f32], default: f32, flag: &str| -> Result<Vec<f32>> {
        match v.len() {
            0 => Ok(vec![default; channels]),
            1 => Ok(vec![v[0]; channels]),
            n if n == channels => Ok(v.to_vec()),
            n => Err(Error::usage(
                flag,
                format!(
                    "{n} values for {channels} channels (input '{}'): give 1 or {channels}",
                    spec.name
                ),
            )),
        }
    };
    let mean = per(&o.mean, 0.0, "--mean")?;
    let std = per(&o.std, 1.0, "--std")?;
    let mut data = vec![0f32; channels * h * w];
    for (i, px) in pixels.chunks_exact(channels).enumerate() {
        for c in 0..channels {
            data[c * h * w + i] = (px[c] as f32 * o.scale - mean[c]) / std[c];
        }
    }
    let t: Tensor = tract_ndarray::ArrayD::from_shape_vec(vec![1, channels, h, w], data)
        .expect("sizes agree")
        .into();
    let tensor = if dtype == DatumType::F32 {
        t
    } else {
        t.cast_to_dt(dtype)
            .map_err(|e| Error::usage("--input", format!("{}: {e}", spec.name)))?
            .into_owned()
    };
    b.check(spec, tensor.shape(), &format!("image {}", path.display()))?;
    Ok(Prepared {
        name: spec.name.clone(),
        tensor,
        source: Source::Image(path.to_path_buf()),
        note: None,
    })
}

pub fn decode_image(path: &Path) -> Result<image::DynamicImage> {
    let reader = image::ImageReader::open(path)
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?
        .with_guessed_format()
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
    reader.decode().map_err(|e| {
        Error::usage(
            "--input",
            format!("{}: cannot decode the image: {e}", path.display()),
        )
    })
}

/// The most elements `--random` makes for one input (2^30: 8 GiB while generated as f64).
pub const MAX_RANDOM_ELEMENTS: usize = 1 << 30;

/// Seeded random data for a declared input: floats uniform in [−1, 1), integers in [0, 10),
/// booleans fair; shapes from the bindings (unbound symbols at 1).
pub fn random(spec: &InputSpec, b: &Bindings, rng: &mut SplitMix64) -> Result<Prepared> {
    let shape = b.concrete(spec)?;
    let n = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|n| *n <= MAX_RANDOM_ELEMENTS)
        .ok_or_else(|| {
            Error::usage(
                "--random",
                format!(
                    "input '{}' of shape {shape:?} would hold over {MAX_RANDOM_ELEMENTS} \
                     elements; bind its symbols smaller with --dim",
                    spec.name
                ),
            )
        })?;
    let dtype = match spec.dtype {
        dt::UNDEFINED => DatumType::F32,
        d => datum_type(d)
            .filter(|t| *t != DatumType::String)
            .ok_or_else(|| {
                Error::usage(
                    "--random",
                    format!(
                        "input '{}' takes {}: no random data for it; give a file",
                        spec.name,
                        dt::name(d)
                    ),
                )
            })?,
    };
    let arr = |v: Vec<f64>| tract_ndarray::ArrayD::from_shape_vec(shape.clone(), v).expect("n");
    let t: Tensor = if dtype.is_float() {
        arr((0..n).map(|_| rng.next_f32() as f64).collect()).into()
    } else if dtype == DatumType::Bool {
        let v: Vec<bool> = (0..n).map(|_| rng.next_u64() & 1 == 1).collect();
        tract_ndarray::ArrayD::from_shape_vec(shape.clone(), v)
            .expect("n")
            .into()
    } else {
        arr((0..n).map(|_| (rng.next_u64() % 10) as f64).collect()).into()
    };
    let tensor = t
        .cast_to_dt(dtype)
        .map_err(|e| Error::usage("--random", format!("{}: {e}", spec.name)))?
        .into_owned();
    Ok(Prepared {
        name: spec.name.clone(),
        tensor,
        source: Source::Random,
        note: None,
    })
}
