//! `onnxscope run`: execute a model with tract on given or seeded random inputs, summarise and
//! save its outputs, optionally time every node against its static FLOPs (`--profile`), and
//! post-process the outputs in memory with NMS (`--nms`) or Dice (`--dice`).
//!
//! * [`inputs`]: declared inputs, `.npy` / image / random data, shape and dtype checks.
//! * [`exec`]: the tract plan, the runs, per-node timing and the mapping of optimized nodes
//!   back to ONNX node names.
//! * [`outputs`]: output arrays, summaries, file names, atomic writes.
//! * [`report`]: the report (inputs, outputs, timing, per-node profile) and its assembly
//!   from the plan's timings.
//! * [`post`]: the post-processing glue, NMS and Dice on the outputs held in memory.
//! * [`render`]: the report as terminal tables (JSON is the report serialised).
//!
//! This file holds the options ([`RunOptions`]) and [`run`], which ties the steps together.
//!
//! Nothing is written until the run and every post-processing step have succeeded.

pub mod exec;
pub mod inputs;
pub mod outputs;
pub mod post;
pub mod regions;
pub mod render;
pub mod report;

use std::collections::HashMap;
use std::path::PathBuf;

use crate::analysis::roofline::Device;
use crate::analysis::{profile_model, ProfileOptions};
use crate::error::{Error, Result};
use crate::model::proto::{data_type as dt, DATA_LOCATION_EXTERNAL};
use crate::model::shapes::ShapeOptions;
use crate::model::Model;
use crate::post::npyio::NpyArray;
use crate::util::rng::SplitMix64;

use inputs::{Bindings, ImageOptions, Prepared};
pub use post::{DiceStep, NmsStep};
pub use report::{InputReport, OutputReport, RunReport};

/// Profiled runs when `--profile` is given without `--repeat`.
pub const DEFAULT_PROFILE_REPEAT: usize = 10;

/// What `run` does: the model, where its inputs come from, what is timed, what is written
/// and which post-processing steps follow.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// The ONNX model (external weights are read from beside it).
    pub model: PathBuf,
    /// Input data as `NAME=FILE` (or a bare `FILE` for a model's only input).
    pub inputs: Vec<String>,
    /// Seeded random data for every input without a file.
    pub random: bool,
    pub seed: u64,
    /// Symbolic dims bound for random inputs (unbound dims are 1).
    pub dims: HashMap<String, i64>,
    /// Write every output as `DIR/<output name>.npy`.
    pub output_dir: Option<PathBuf>,
    /// How 4-bit weights with 32-blocks run (see `runtime::lower`).
    pub int4: crate::runtime::lower::Int4,
    /// Time every node beside its FLOPs and MACs.
    pub profile: bool,
    /// Timed runs (the median is reported).
    pub repeat: Option<usize>,
    /// With `profile`: entries of the top-by-time / top-by-FLOPs lists.
    pub top: usize,
    /// With `profile`: the roofline estimate on this device.
    pub device: Option<Device>,
    /// How image inputs are turned into tensors.
    pub image: ImageOptions,
    pub nms: Option<NmsStep>,
    pub dice: Option<DiceStep>,
}

/// The report of a run with the options of its post-processing steps (for the table).
pub struct RunOutput {
    pub report: RunReport,
    pub nms: Option<crate::post::NmsOptions>,
    pub dice: Option<crate::post::DiceOptions>,
}

/// The error for a model whose weights are not all there: names the file(s) and a tensor.
fn weights_absent(model: &Model) -> Error {
    let missing: std::collections::HashSet<&str> =
        model.missing_external.iter().map(String::as_str).collect();
    let mut files: Vec<String> = vec![];
    for t in crate::model::load::all_stored(&model.graph) {
        if t.data_location != DATA_LOCATION_EXTERNAL || !missing.contains(t.name.as_str()) {
            continue;
        }
        let loc = t
            .external_data
            .iter()
            .find(|e| e.key == "location")
            .map(|e| e.value.clone())
            .unwrap_or_default();
        let f = if loc == "<none>" {
            "(none: a graph-only model)".to_string()
        } else {
            let dir = model.path.parent().unwrap_or(std::path::Path::new(""));
            format!("file '{}'", dir.join(&loc).display())
        };
        if !files.contains(&f) {
            files.push(f);
        }
    }
    let n = model.missing_external.len();
    Error::Run {
        path: model.path.display().to_string(),
        reason: format!(
            "weights absent: external data {} missing or too short ({n} tensor{}, e.g. '{}'); \
             profile counts without weights, run cannot",
            files.join(", "),
            if n == 1 { "" } else { "s" },
            model.missing_external[0],
        ),
    }
}

/// Reads, generates and checks every input.
fn prepare_inputs(a: &RunOptions, model: &Model) -> Result<Vec<Prepared>> {
    let specs = inputs::specs(model);
    let given = inputs::parse_input_flags(&a.inputs, &specs)?;
    let img = &a.image;
    let mut b = Bindings::new(&a.dims);
    let mut prepared: Vec<Option<Prepared>> = vec![None; specs.len()];
    // files first (they bind symbols), then random data for the rest
    for (name, file) in &given {
        let ix = specs.iter().position(|s| s.name == *name).expect("parsed");
        prepared[ix] = Some(if inputs::is_image(file) {
            inputs::from_image(&specs[ix], file, img, &mut b)?
        } else {
            inputs::from_npy(&specs[ix], file, &mut b)?
        });
    }
    let mut rng = SplitMix64(a.seed);
    for (ix, spec) in specs.iter().enumerate() {
        if prepared[ix].is_some() {
            continue;
        }
        if !a.random {
            return Err(Error::usage(
                "--input",
                format!(
                    "input '{}' ({} {}) has no data: give --input {}=FILE.npy (or an image), or --random",
                    spec.name,
                    dt::name(spec.dtype),
                    inputs::shape_text(&spec.shape),
                    spec.name
                ),
            ));
        }
        prepared[ix] = Some(inputs::random(spec, &b, &mut rng)?);
    }
    Ok(prepared.into_iter().map(|p| p.expect("filled")).collect())
}

fn dtype_name(a: &NpyArray) -> String {
    a.dtype().to_string()
}

/// Runs the model as `a` says and returns the report. Nothing is written until the run and
/// every post-processing step have succeeded.
pub fn run(a: &RunOptions) -> Result<RunOutput> {
    if a.repeat == Some(0) {
        return Err(Error::usage("--repeat", "must be at least 1"));
    }
    let model = crate::model::load(&a.model)?;
    if !model.missing_external.is_empty() {
        return Err(weights_absent(&model));
    }
    let prepared = prepare_inputs(a, &model)?;
    let plan = exec::build(&a.model, &model, &prepared, a.int4)?;
    let (tensors, first_ms) = exec::run(&a.model, &plan, &prepared)?;

    let out_names = outputs::names(&a.model, &model, tensors.len())?;
    let mut arrays: Vec<(String, NpyArray)> = vec![];
    let mut notes: Vec<Option<String>> = vec![];
    for (name, t) in out_names.iter().zip(&tensors) {
        let (arr, note) = outputs::to_array(name, t)?;
        arrays.push((name.clone(), arr));
        notes.push(note);
    }
    drop(tensors);

    // timing
    let (time_ms, runs, profile) = if a.profile {
        let repeat = a.repeat.unwrap_or(DEFAULT_PROFILE_REPEAT);
        let times = exec::profile(&a.model, &plan, &prepared, repeat)?;
        let shapes = ShapeOptions {
            inputs: prepared
                .iter()
                .map(|p| {
                    (
                        p.name.clone(),
                        p.tensor.shape().iter().map(|d| *d as i64).collect(),
                    )
                })
                .collect(),
            dims: a.dims.clone(),
            use_tract: true,
            tract_everywhere: false,
        };
        let mut p = profile_model(
            &model,
            &ProfileOptions {
                shapes,
                strict: false,
            },
        )?;
        if let Some(d) = &a.device {
            crate::analysis::roofline::apply(&mut p, d);
        }
        let r = report::profile_report(&model, &p, &times, a.top);
        (r.total_ms, repeat, Some(r))
    } else if let Some(k) = a.repeat {
        let times = exec::wall_times(&a.model, &plan, &prepared, k)?;
        (exec::median(&times), k, None)
    } else {
        (first_ms, 1, None)
    };
    drop(plan);

    // post-processing, in memory
    let nms = match &a.nms {
        Some(n) => Some(post::run_nms(n, &arrays)?),
        None => None,
    };
    let dice = match &a.dice {
        Some(d) => Some(post::run_dice(d, &arrays)?),
        None => None,
    };

    // only now: the files
    let files = outputs::file_names(&out_names);
    let written: Vec<Option<String>> = match &a.output_dir {
        Some(dir) => {
            let list: Vec<(String, &NpyArray)> = files
                .iter()
                .cloned()
                .zip(arrays.iter().map(|(_, x)| x))
                .collect();
            outputs::write_all(dir, &list)?
                .into_iter()
                .map(|p| Some(p.display().to_string()))
                .collect()
        }
        None => vec![None; arrays.len()],
    };

    let report = RunReport {
        schema_version: 1,
        model: a.model.display().to_string(),
        inputs: prepared
            .iter()
            .map(|p| InputReport {
                name: p.name.clone(),
                shape: p.tensor.shape().to_vec(),
                dtype: tract_dtype_name(p.tensor.datum_type()),
                source: p.source.label(),
                note: p.note.clone(),
            })
            .collect(),
        outputs: arrays
            .iter()
            .zip(written)
            .zip(notes)
            .map(|(((name, arr), file), note)| OutputReport {
                name: name.clone(),
                shape: arr.shape().to_vec(),
                dtype: dtype_name(arr),
                stats: outputs::stats(arr),
                file,
                note,
            })
            .collect(),
        time_ms,
        runs,
        profile,
        nms: nms.as_ref().map(|n| n.0.clone()),
        dice: dice.as_ref().map(|d| d.0.clone()),
        warnings: model
            .warnings
            .iter()
            .filter(|w| !w.starts_with("weights absent"))
            .cloned()
            .collect(),
    };
    Ok(RunOutput {
        report,
        nms: nms.map(|n| n.1),
        dice: dice.map(|d| d.1),
    })
}

fn tract_dtype_name(d: tract_onnx::prelude::DatumType) -> String {
    use tract_onnx::prelude::DatumType as D;
    match d {
        D::F16 => "float16",
        D::F32 => "float32",
        D::F64 => "float64",
        D::I8 => "int8",
        D::I16 => "int16",
        D::I32 => "int32",
        D::I64 => "int64",
        D::U8 => "uint8",
        D::U16 => "uint16",
        D::U32 => "uint32",
        D::U64 => "uint64",
        D::Bool => "bool",
        other => return format!("{other:?}"),
    }
    .to_string()
}
