//! The Python extension module `onnxscope._onnxscope` (cargo feature `python`, built by
//! maturin); the package in `python/onnxscope` is its only caller. It is a front end of the
//! command line like `main.rs`, hence its place under `cli`.
//!
//! * [`cli`] runs an argv through the same [`Cli`] parser and dispatch as the binary and
//!   returns the command's stdout and exit code: `profile`, `compare` and `check` hand back
//!   their `--format json` documents unchanged. [`main`] is the `onnxscope` console script.
//! * [`nms`], [`dice`] and [`run`] take NumPy arrays (float32 input is read in place, without
//!   a copy). Their options are parsed from the commands' own flags, so defaults and checks are
//!   the command line's; the library calls they make are gathered in [`calls`].
//!
//! Errors raise `OnnxscopeError` (a `ValueError`) carrying the line the binary prints after
//! `error: `. Every call releases the GIL while it works and catches panics, so a bug surfaces
//! as `OnnxscopeError`, never as a crash of the interpreter.

use std::ffi::OsString;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use ndarray::ArrayD;
use numpy::{PyArray1, PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::post::npyio::NpyArray;

pyo3::create_exception!(
    onnxscope,
    OnnxscopeError,
    PyValueError,
    "An error onnxscope reports: the one-line message the command prints after `error: `."
);

/// An error and its causes on one line, joined by `: ` (what the binary prints after `error: `).
fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

/// A rendered parse error on one line: the message and the possible values, without usage or
/// tips.
fn parse_error_line(rendered: &str) -> String {
    rendered
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with("Usage:")
                && !l.starts_with("For more information")
                && !l.starts_with("tip:")
        })
        .map(|l| l.strip_prefix("error: ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join(" ")
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("internal error (a bug in onnxscope, please report it): {msg}")
}

/// Runs `f` without the GIL and with panics caught; an error or a panic becomes
/// `OnnxscopeError`.
fn guarded<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    F: FnOnce() -> Result<T, String> + Send,
    T: Send,
{
    match py.detach(move || catch_unwind(AssertUnwindSafe(f))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(msg)) => Err(OnnxscopeError::new_err(msg)),
        Err(payload) => Err(OnnxscopeError::new_err(panic_text(&*payload))),
    }
}

/// Parses `onnxscope ARGV...` with the binary's parser.
fn parse(argv: impl IntoIterator<Item = String>) -> PyResult<Cli> {
    Cli::try_parse_from(std::iter::once("onnxscope".to_string()).chain(argv))
        .map_err(|e| OnnxscopeError::new_err(parse_error_line(&e.render().to_string())))
}

/// Runs `onnxscope ARGV...` in process: `(stdout, exit code)`; 1 is a failed budget check.
#[pyfunction]
fn cli(py: Python<'_>, argv: Vec<String>) -> PyResult<(String, i32)> {
    let parsed = parse(argv)?;
    guarded(py, move || {
        crate::cli::run(parsed)
            .map(|out| out.into_text())
            .map_err(|e| one_line(&e))
    })
}

/// The `onnxscope` console script: what the binary's `main` does, returning the exit code.
#[pyfunction]
fn main(py: Python<'_>, argv: Vec<OsString>) -> i32 {
    let parsed = match Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => {
            // --help and --version land here too, with exit code 0
            let _ = e.print();
            return e.exit_code();
        }
    };
    match py.detach(move || catch_unwind(AssertUnwindSafe(|| crate::cli::run(parsed)))) {
        Ok(Ok(out)) => out.print(),
        Ok(Err(e)) => {
            eprintln!("error: {}", one_line(&e));
            2
        }
        Err(payload) => {
            eprintln!("error: {}", panic_text(&*payload));
            101
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Arrays

/// A float32 input: the caller's array read in place, or a converted copy.
enum F32In<'py> {
    Borrowed(numpy::PyReadonlyArrayDyn<'py, f32>),
    Owned(ArrayD<f32>),
}

impl F32In<'_> {
    fn view(&self) -> ndarray::ArrayViewD<'_, f32> {
        match self {
            F32In::Borrowed(a) => a.as_array(),
            F32In::Owned(a) => a.view(),
        }
    }
}

/// A copy of a NumPy array of any numeric or bool dtype.
fn to_npy(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<NpyArray> {
    macro_rules! try_as {
        ($($t:ty => $v:ident),*) => {
            $(if let Ok(a) = obj.cast::<PyArrayDyn<$t>>() {
                return Ok(NpyArray::$v(a.to_owned_array()));
            })*
        };
    }
    try_as!(f32 => F32, f64 => F64, i64 => I64, i32 => I32, u8 => U8, bool => Bool, i8 => I8,
        i16 => I16, u16 => U16, u32 => U32, u64 => U64);
    let dtype = match obj.cast::<numpy::PyUntypedArray>() {
        Ok(a) => a.dtype().str()?.to_string(),
        Err(_) => obj.get_type().name()?.to_string(),
    };
    Err(OnnxscopeError::new_err(format!(
        "{what}: unsupported dtype {dtype} (expected a numeric or bool array)"
    )))
}

/// A float32 array in place, or float64 rounded (other dtypes are refused, as by the command).
fn f32_input<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<F32In<'py>> {
    if let Ok(a) = obj.cast::<PyArrayDyn<f32>>() {
        if let Ok(r) = a.try_readonly() {
            return Ok(F32In::Borrowed(r));
        }
    }
    to_npy(obj, what)?
        .into_f32(what)
        .map(F32In::Owned)
        .map_err(|e| OnnxscopeError::new_err(one_line(&e)))
}

/// Any numeric array as float32 values (targets that may be masks or label maps).
fn f32_lossy<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<F32In<'py>> {
    if let Ok(a) = obj.cast::<PyArrayDyn<f32>>() {
        if let Ok(r) = a.try_readonly() {
            return Ok(F32In::Borrowed(r));
        }
    }
    Ok(F32In::Owned(to_npy(obj, what)?.into_f32_lossy()))
}

fn to_py<'py>(py: Python<'py>, a: NpyArray) -> Bound<'py, PyAny> {
    match a {
        NpyArray::F32(a) => PyArrayDyn::from_owned_array(py, a).into_any(),
        NpyArray::F64(a) => PyArrayDyn::from_owned_array(py, a).into_any(),
        NpyArray::I8(a) => PyArrayDyn::from_owned_array(py, a).into_any(),
        NpyArray::I16(a) => PyArrayDyn::from_owned_array(py, a).into_any(),
        NpyArray::I32(a) => PyArrayDyn::from_owned_array(py, a).into_any(),
        NpyArray::I64(a) => PyArrayDyn::from_owned_array(py, a).into_any(),
        NpyArray::U8(a) => PyArrayDyn::from_owned_array(py, a).into_any(),
        NpyArray::U16(a) => PyArrayDyn::from_owned_array(py, a).into_any(),
        NpyArray::U32(a) => PyArrayDyn::from_owned_array(py, a).into_any(),
        NpyArray::U64(a) => PyArrayDyn::from_owned_array(py, a).into_any(),
        NpyArray::Bool(a) => PyArrayDyn::from_owned_array(py, a).into_any(),
    }
}

// ---------------------------------------------------------------------------------------------
// nms, dice, run

/// NMS with the `nms` command's flags (`flags`) on arrays: the kept indices (int64) and, when
/// `detections` is set, the command's JSON document.
#[pyfunction]
#[pyo3(signature = (flags, boxes, scores=None, classes=None, detections=false))]
fn nms<'py>(
    py: Python<'py>,
    flags: Vec<String>,
    boxes: &Bound<'py, PyAny>,
    scores: Option<&Bound<'py, PyAny>>,
    classes: Option<&Bound<'py, PyAny>>,
    detections: bool,
) -> PyResult<(Bound<'py, PyArray1<i64>>, Option<String>)> {
    let mut argv: Vec<String> = vec!["nms".into(), "--boxes".into(), "<array>".into()];
    if scores.is_some() {
        argv.extend(["--scores".into(), "<array>".into()]);
    }
    if classes.is_some() {
        argv.extend(["--classes".into(), "<array>".into()]);
    }
    argv.extend(flags);
    let Command::Nms(args) = parse(argv)?.command else {
        unreachable!("parsed as nms")
    };
    let boxes = f32_input(boxes, "boxes")?;
    let scores = scores.map(|s| f32_input(s, "scores")).transpose()?;
    let classes = match classes {
        Some(c) => Some(
            to_npy(c, "classes")?
                .into_labels("classes")
                .map_err(|e| OnnxscopeError::new_err(one_line(&e)))?,
        ),
        None => None,
    };
    let (b, s, c) = (
        boxes.view(),
        scores.as_ref().map(F32In::view),
        classes.as_ref().map(|c| c.view()),
    );
    let (keep, doc) = guarded(py, move || {
        let det = calls::nms(&args, b, s, c).map_err(|e| one_line(&e))?;
        let keep: Vec<i64> = det.keep.iter().map(|&k| k as i64).collect();
        let doc = detections.then(|| serde_json::to_string(&det).expect("serialisable"));
        Ok((keep, doc))
    })?;
    Ok((PyArray1::from_vec(py, keep), doc))
}

/// Dice with the `dice` command's flags on arrays: the command's JSON document.
#[pyfunction]
fn dice(
    py: Python<'_>,
    flags: Vec<String>,
    pred: &Bound<'_, PyAny>,
    target: &Bound<'_, PyAny>,
) -> PyResult<String> {
    let mut argv: Vec<String> = ["dice", "--pred", "<array>", "--target", "<array>"]
        .map(String::from)
        .into();
    argv.extend(flags);
    let Command::Dice(args) = parse(argv)?.command else {
        unreachable!("parsed as dice")
    };
    let pred = f32_input(pred, "pred")?;
    let target = f32_lossy(target, "target")?;
    let (p, t) = (pred.view(), target.view());
    guarded(py, move || {
        let report = calls::dice(&args, p, t).map_err(|e| one_line(&e))?;
        Ok(serde_json::to_string(&report).expect("serialisable"))
    })
}

/// Runs a model with tract on the given arrays (`inputs`: name, array): the outputs in the
/// model's order. `dims` are `SYM=VALUE` bindings; with `random`, inputs not given get the
/// command's seeded random data.
#[pyfunction]
#[pyo3(signature = (path, inputs, dims=Vec::new(), random=false, seed=0))]
fn run<'py>(
    py: Python<'py>,
    path: PathBuf,
    inputs: Vec<(String, Bound<'py, PyAny>)>,
    dims: Vec<String>,
    random: bool,
    seed: u64,
) -> PyResult<Vec<(String, Bound<'py, PyAny>)>> {
    let given = inputs
        .iter()
        .map(|(name, a)| Ok((name.clone(), to_npy(a, &format!("input '{name}'"))?)))
        .collect::<PyResult<Vec<_>>>()?;
    let outputs = guarded(py, move || {
        calls::run(&path, given, &dims, random, seed).map_err(|e| one_line(&e))
    })?;
    Ok(outputs
        .into_iter()
        .map(|(name, a)| (name, to_py(py, a)))
        .collect())
}

/// The library calls behind [`nms`], [`dice`] and [`run`], in one place.
mod calls {
    use std::path::Path;

    use ndarray::ArrayViewD;
    use tract_onnx::prelude::DatumType;

    use crate::cli::dice::DiceArgs;
    use crate::cli::nms::NmsArgs;
    use crate::error::{Error, Result};
    use crate::model::proto::data_type as dt;
    use crate::post::dice::DiceReport;
    use crate::post::nms::Detections;
    use crate::post::npyio::NpyArray;
    use crate::post::PostError;
    use crate::runtime::run::inputs::{self, Bindings, Prepared, Source};
    use crate::runtime::run::{exec, outputs};
    use crate::util::rng::SplitMix64;

    pub fn nms(
        args: &NmsArgs,
        boxes: ArrayViewD<f32>,
        scores: Option<ArrayViewD<f32>>,
        classes: Option<ArrayViewD<i64>>,
    ) -> Result<Detections, PostError> {
        crate::post::detect(boxes, scores, classes, args.layout, &args.options())
    }

    pub fn dice(
        args: &DiceArgs,
        pred: ArrayViewD<f32>,
        target: ArrayViewD<f32>,
    ) -> Result<DiceReport, PostError> {
        crate::post::dice(pred, target, &args.options())
    }

    /// One given array checked against the input's declaration, as `run --input` checks a file.
    fn prepare(spec: &inputs::InputSpec, a: NpyArray, b: &mut Bindings) -> Result<Prepared> {
        let dtype = a.dtype();
        let what = format!("the array given ({dtype})");
        let mut note = None;
        let tensor =
            if spec.dtype == dt::FLOAT16 && matches!(a, NpyArray::F32(_) | NpyArray::F64(_)) {
                note = Some(format!("{dtype} rounded to float16"));
                crate::runtime::run::inputs::npy_to_tensor(a)
                    .cast_to_dt(DatumType::F16)
                    .map_err(|e| Error::usage("inputs", format!("{}: {e}", spec.name)))?
                    .into_owned()
            } else {
                if spec.dtype != dt::UNDEFINED && dt::name(spec.dtype) != dtype {
                    return Err(Error::usage(
                        "inputs",
                        format!(
                            "input '{}' takes {} {}; {what} is {}",
                            spec.name,
                            dt::name(spec.dtype),
                            inputs::shape_text(&spec.shape),
                            inputs::dims_text(a.shape()),
                        ),
                    ));
                }
                crate::runtime::run::inputs::npy_to_tensor(a)
            };
        b.check(spec, tensor.shape(), &what)?;
        Ok(Prepared {
            name: spec.name.clone(),
            tensor,
            source: Source::Npy("<array>".into()),
            note,
        })
    }

    pub fn run(
        path: &Path,
        given: Vec<(String, NpyArray)>,
        dims: &[String],
        random: bool,
        seed: u64,
    ) -> Result<Vec<(String, NpyArray)>> {
        let model = crate::model::load(path)?;
        if let Some(first) = model.missing_external.first() {
            // the loader's warning names the missing file
            let what = model
                .warnings
                .iter()
                .find(|w| w.starts_with("weights absent"))
                .map(|w| w.trim_end_matches("; costs need dims only").to_string())
                .unwrap_or_else(|| {
                    format!("weights absent ({} tensors)", model.missing_external.len())
                });
            return Err(Error::Run {
                path: path.display().to_string(),
                reason: format!(
                    "{what}, e.g. '{first}'; profile counts without weights, run cannot"
                ),
            });
        }
        let specs = inputs::specs(&model);
        let names = || {
            specs
                .iter()
                .map(|s| format!("'{}'", s.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut b = Bindings::new(&crate::cli::args::parse_dims(dims)?);
        let mut prepared: Vec<Option<Prepared>> = vec![None; specs.len()];
        for (name, a) in given {
            let ix = specs.iter().position(|s| s.name == name).ok_or_else(|| {
                Error::usage(
                    "inputs",
                    format!("the model has no input '{name}'; its inputs: {}", names()),
                )
            })?;
            prepared[ix] = Some(prepare(&specs[ix], a, &mut b)?);
        }
        let mut rng = SplitMix64(seed);
        for (ix, spec) in specs.iter().enumerate() {
            if prepared[ix].is_some() {
                continue;
            }
            if !random {
                return Err(Error::usage(
                    "inputs",
                    format!(
                        "input '{}' ({} {}) has no data: give it an array, or random=True",
                        spec.name,
                        dt::name(spec.dtype),
                        inputs::shape_text(&spec.shape),
                    ),
                ));
            }
            prepared[ix] = Some(inputs::random(spec, &b, &mut rng)?);
        }
        let prepared: Vec<Prepared> = prepared.into_iter().flatten().collect();
        let plan = exec::build(path, &model, &prepared, Default::default())?;
        let (tensors, _ms) = exec::run(path, &plan, &prepared)?;
        let out_names = outputs::names(path, &model, tensors.len())?;
        out_names
            .into_iter()
            .zip(&tensors)
            .map(|(name, t)| Ok((name.clone(), outputs::to_array(&name, t)?.0)))
            .collect()
    }
}

/// onnxscope's Rust core; the API is the `onnxscope` package around it.
#[pymodule]
fn _onnxscope(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("OnnxscopeError", m.py().get_type::<OnnxscopeError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(cli, m)?)?;
    m.add_function(wrap_pyfunction!(main, m)?)?;
    m.add_function(wrap_pyfunction!(nms, m)?)?;
    m.add_function(wrap_pyfunction!(dice, m)?)?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    Ok(())
}
