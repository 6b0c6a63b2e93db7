//! `onnxscope run`: execute a model with tract on given or seeded random inputs, summarise and
//! save its outputs, optionally time every node against its static FLOPs (`--profile`), and
//! post-process the outputs in memory with NMS (`--nms`) or Dice (`--dice`).
//!
//! * [`inputs`]: declared inputs, `.npy` / image / random data, shape and dtype checks.
//! * [`exec`]: the tract plan, the runs, per-node timing and the mapping of optimized nodes
//!   back to ONNX node names.
//! * [`outputs`]: output arrays, summaries, file names, atomic writes.
//!
//! Nothing is written until the run and every post-processing step have succeeded.

pub mod exec;
pub mod inputs;
pub mod outputs;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use comfy_table::{presets, Cell, CellAlignment, ContentArrangement, Table};
use serde::Serialize;
use serde_json::Value;

use crate::analysis::{profile_model, Profile, ProfileOptions};
use crate::cli::Outcome;
use crate::error::{Error, Result};
use crate::model::proto::{data_type as dt, DATA_LOCATION_EXTERNAL};
use crate::model::shapes::ShapeOptions;
use crate::model::Model;
use crate::post::dice::{DiceArgs, DiceReport, Reduction};
use crate::post::nms::{BoxFormat, Detections, Layout, NmsArgs, Semantics};
use crate::post::npyio::{self, NpyArray};
use crate::post::OutputFormat;
use crate::report::human_f;
use crate::runtime::SplitMix64;
use crate::sym::Count;

use inputs::{Bindings, ImageOptions, Prepared};

/// Profiled runs when `--profile` is given without `--repeat`.
pub const DEFAULT_PROFILE_REPEAT: usize = 10;

/// `onnxscope run`.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// The ONNX model (external weights are read from beside it).
    pub model: PathBuf,
    /// Input data: NAME=FILE, a .npy of the input's dtype or a PNG/JPEG image (repeatable; a
    /// bare FILE feeds a model's only input).
    #[arg(long = "input", value_name = "NAME=FILE")]
    pub inputs: Vec<String>,
    /// Seeded random data for every input not given with --input (floats in [-1,1), integers
    /// in [0,10), fair booleans).
    #[arg(long)]
    pub random: bool,
    /// Seed of --random.
    #[arg(long, default_value_t = 0, value_name = "S", requires = "random")]
    pub seed: u64,
    /// Bind a symbolic dim for random inputs, e.g. `--dim N=1` (repeatable; unbound dims are 1).
    #[arg(long = "dim", value_name = "SYM=VALUE")]
    pub dims: Vec<String>,
    /// Write every output as DIR/<output name>.npy (names made filename-safe).
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
    /// Time every node (median of --repeat runs) beside its FLOPs and MACs.
    #[arg(long)]
    pub profile: bool,
    /// Timed runs: the median is reported (default with --profile: 10; otherwise one run).
    #[arg(long, value_name = "K")]
    pub repeat: Option<usize>,
    /// With --profile: how many nodes the top-by-time / top-by-FLOPs lists hold.
    #[arg(long, value_name = "K", default_value_t = 10)]
    pub top: usize,
    /// With --profile: the roofline estimate on a preset device beside the measured times
    /// (laptop-cpu, server-cpu, jetson-orin, a100, a100-fp16).
    #[arg(long, value_name = "NAME", conflicts_with_all = ["peak_gflops", "bandwidth_gbs"], requires = "profile")]
    pub device: Option<String>,
    /// With --profile: roofline estimate on a custom device: peak GFLOP/s (with --bandwidth-gbs).
    #[arg(long, value_name = "X", requires_all = ["bandwidth_gbs", "profile"])]
    pub peak_gflops: Option<f64>,
    /// Memory bandwidth in GB/s (with --peak-gflops).
    #[arg(long, value_name = "Y", requires = "peak_gflops")]
    pub bandwidth_gbs: Option<f64>,

    /// Images: resize to W×H first (bilinear), e.g. `--resize 224x224`.
    #[arg(long, value_name = "WxH", help_heading = "Image inputs")]
    pub resize: Option<String>,
    /// Images: per-channel mean subtracted after --scale, e.g. `--mean 0.485,0.456,0.406`.
    #[arg(
        long,
        value_name = "R,G,B",
        value_delimiter = ',',
        allow_hyphen_values = true,
        help_heading = "Image inputs"
    )]
    pub mean: Vec<f32>,
    /// Images: per-channel standard deviation divided by last, e.g. `--std 0.229,0.224,0.225`.
    #[arg(
        long,
        value_name = "R,G,B",
        value_delimiter = ',',
        help_heading = "Image inputs"
    )]
    pub std: Vec<f32>,
    /// Images: pixel values (0-255) are multiplied by X first, e.g. `--scale 1/255` [default: 1].
    #[arg(long, value_name = "X", help_heading = "Image inputs")]
    pub scale: Option<String>,

    #[command(flatten)]
    pub nms: RunNmsArgs,
    #[command(flatten)]
    pub dice: RunDiceArgs,
}

/// The NMS flags of `run` (those of the `nms` command, reading the model's outputs).
#[derive(clap::Args, Debug, Clone, Default)]
#[command(next_help_heading = "Post-processing: NMS")]
pub struct RunNmsArgs {
    /// Non-maximum suppression on the outputs.
    #[arg(long)]
    pub nms: bool,
    /// Output holding the boxes, or the whole detector tensor (YOLO layouts) [default: the
    /// model's only output].
    #[arg(long, value_name = "NAME", requires = "nms")]
    pub boxes_output: Option<String>,
    /// Output holding the scores (flat, bnc or bcn layouts).
    #[arg(long, value_name = "NAME", requires = "nms")]
    pub scores_output: Option<String>,
    /// Output holding integer class ids (flat layout).
    #[arg(long, value_name = "NAME", requires = "scores_output")]
    pub classes_output: Option<String>,
    /// Suppress a box whose IoU with a kept box is greater than this.
    #[arg(long, default_value_t = 0.5, value_name = "T", requires = "nms")]
    pub iou_threshold: f64,
    /// Keep only candidates whose score is greater than this.
    #[arg(long, value_name = "T", requires = "nms")]
    pub score_threshold: Option<f32>,
    /// How the four box numbers read [default: cxcywh for yolo layouts, else xyxy].
    #[arg(long, value_enum, requires = "nms")]
    pub box_format: Option<BoxFormat>,
    /// At most K boxes per class.
    #[arg(long, value_name = "K", requires = "nms")]
    pub max_per_class: Option<usize>,
    /// At most K boxes in all.
    #[arg(long, value_name = "K", requires = "nms")]
    pub max_detections: Option<usize>,
    /// Boxes of different classes suppress one another.
    #[arg(long, requires = "nms")]
    pub class_agnostic: bool,
    /// Every (box, class) pair above the threshold is a candidate.
    #[arg(long, requires = "nms")]
    pub multi_label: bool,
    /// Whose NMS to reproduce.
    #[arg(long, value_enum, default_value_t, requires = "nms")]
    pub nms_semantics: Semantics,
    /// Layout of the detector outputs [default: yolov8 for a single tensor, else inferred].
    #[arg(long, value_enum, requires = "nms")]
    pub layout: Option<Layout>,
}

/// The Dice flags of `run` (those of the `dice` command, on one of the model's outputs).
#[derive(clap::Args, Debug, Clone, Default)]
#[command(next_help_heading = "Post-processing: Dice")]
pub struct RunDiceArgs {
    /// Dice score / loss of an output against TARGET (.npy, or a PNG label map whose pixel
    /// values are class ids; a PNG holding only 0 and 255 is read as a 0/1 mask).
    #[arg(long, value_name = "TARGET")]
    pub dice: Option<PathBuf>,
    /// The output scored [default: the model's only output].
    #[arg(long, value_name = "NAME", requires = "dice")]
    pub dice_output: Option<String>,
    /// Score channel 0 too [default].
    #[arg(long, overrides_with = "exclude_background", requires = "dice")]
    pub include_background: bool,
    /// Leave channel 0 (background) out.
    #[arg(long, overrides_with = "include_background", requires = "dice")]
    pub exclude_background: bool,
    /// Apply a sigmoid to the prediction.
    #[arg(long, conflicts_with = "softmax", requires = "dice")]
    pub sigmoid: bool,
    /// Apply a softmax over the class axis.
    #[arg(long, requires = "dice")]
    pub softmax: bool,
    /// Denominator Σp² + Σt².
    #[arg(long, requires = "dice")]
    pub squared_pred: bool,
    /// Jaccard (soft IoU) instead of Dice.
    #[arg(long, requires = "dice")]
    pub jaccard: bool,
    /// Reduction of the loss over items and classes.
    #[arg(long, value_enum, default_value_t, requires = "dice")]
    pub reduction: Reduction,
    /// Added to the numerator.
    #[arg(long, default_value_t = 1e-5, value_name = "X", requires = "dice")]
    pub smooth_nr: f64,
    /// Added to the denominator.
    #[arg(long, default_value_t = 1e-5, value_name = "X", requires = "dice")]
    pub smooth_dr: f64,
    /// Sum over the batch before dividing (one loss per class).
    #[arg(long, requires = "dice")]
    pub batch: bool,
    /// Hard Dice of the mask `p >= T` (after the activation).
    #[arg(long, value_name = "T", conflicts_with = "argmax", requires = "dice")]
    pub threshold: Option<f32>,
    /// Hard Dice of the argmax over classes.
    #[arg(long, requires = "dice")]
    pub argmax: bool,
    /// The target is a label map of class ids.
    #[arg(long, requires = "dice")]
    pub to_onehot_y: bool,
    /// Hard Dice: an empty target scores NaN and is left out of averages [default].
    #[arg(long, overrides_with = "no_ignore_empty", requires = "dice")]
    pub ignore_empty: bool,
    /// Hard Dice: an empty target scores 1 if the prediction is empty too, else 0.
    #[arg(long, overrides_with = "ignore_empty", requires = "dice")]
    pub no_ignore_empty: bool,
}

impl RunDiceArgs {
    /// The `dice` command's arguments these flags describe (files unused).
    fn as_dice_args(&self) -> DiceArgs {
        DiceArgs {
            pred: PathBuf::new(),
            target: PathBuf::new(),
            include_background: self.include_background,
            exclude_background: self.exclude_background,
            sigmoid: self.sigmoid,
            softmax: self.softmax,
            squared_pred: self.squared_pred,
            jaccard: self.jaccard,
            reduction: self.reduction,
            smooth_nr: self.smooth_nr,
            smooth_dr: self.smooth_dr,
            batch: self.batch,
            threshold: self.threshold,
            argmax: self.argmax,
            to_onehot_y: self.to_onehot_y,
            ignore_empty: self.ignore_empty,
            no_ignore_empty: self.no_ignore_empty,
            format: OutputFormat::Table,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The report

/// An input as the run used it.
#[derive(Clone, Debug, Serialize)]
pub struct InputReport {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: String,
    /// The file it came from, or `"random"`.
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An output and its summary.
#[derive(Clone, Debug, Serialize)]
pub struct OutputReport {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: String,
    #[serde(flatten)]
    pub stats: outputs::Stats,
    /// The `.npy` written (with --output-dir), else null.
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One ONNX node in the profile.
#[derive(Clone, Debug, Serialize)]
pub struct NodeTime {
    pub name: String,
    pub op_type: String,
    /// Median over the profiled runs of the time of the optimized nodes attributed to it.
    pub time_ms: f64,
    /// Share of the median run's wall time.
    pub time_pct: f64,
    /// Static counts from the profile pass (the inputs' shapes bound).
    pub flops: Value,
    pub macs: Value,
    /// FLOPs / time; null when no time was measured on the node.
    pub gflops_per_s: Option<f64>,
    /// Roofline estimate of the node in ms (with --device / --peak-gflops), else null.
    pub estimate_ms: Option<f64>,
    /// The optimized nodes attributed to it, with tract's op names.
    pub tract_nodes: Vec<TractNode>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TractNode {
    pub name: String,
    pub op: String,
    pub time_ms: f64,
}

/// Time of optimized nodes that no ONNX node name prefixes.
#[derive(Clone, Debug, Serialize)]
pub struct Unmatched {
    pub time_ms: f64,
    pub nodes: Vec<TractNode>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RankedTime {
    pub name: String,
    pub time_ms: f64,
    pub time_pct: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct RankedFlops {
    pub name: String,
    pub flops: Value,
    pub flops_pct: f64,
}

/// Time and FLOPs of one stage (as the profile pass names stages: `layer1`, …).
#[derive(Clone, Debug, Serialize)]
pub struct StageTime {
    pub stage: String,
    pub nodes: usize,
    pub time_ms: f64,
    pub time_pct: f64,
    pub flops: Value,
    pub gflops_per_s: Option<f64>,
}

/// What `--profile` reports.
#[derive(Clone, Debug, Serialize)]
pub struct ProfileReport {
    pub repeat: usize,
    /// Median wall time of a profiled run.
    pub total_ms: f64,
    pub flops: Value,
    pub macs: Value,
    /// Total FLOPs / median wall time.
    pub gflops_per_s: Option<f64>,
    /// The model's roofline estimate in ms and the device it assumes (with --device /
    /// --peak-gflops), else null.
    pub estimate_ms: Option<f64>,
    pub estimate_device: Option<String>,
    /// Every ONNX node, in execution order.
    pub nodes: Vec<NodeTime>,
    pub unmatched: Unmatched,
    /// Median of (run wall time − Σ node times): tract's bookkeeping between nodes.
    pub outside_nodes_ms: f64,
    pub top_by_time: Vec<RankedTime>,
    pub top_by_flops: Vec<RankedFlops>,
    /// Per stage: fused kernels rarely cross a stage, so a stage's FLOP rate is meaningful
    /// where a single node's may not be.
    pub by_stage: Vec<StageTime>,
}

/// Everything `run` reports (`--format json` prints it).
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub schema_version: u32,
    pub model: String,
    pub inputs: Vec<InputReport>,
    pub outputs: Vec<OutputReport>,
    /// Wall time of one run, or the median of the timed runs.
    pub time_ms: f64,
    /// How many runs `time_ms` summarises.
    pub runs: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nms: Option<Detections>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dice: Option<DiceReport>,
    pub warnings: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// The command

fn parse_scale(s: &str) -> Result<f32> {
    let bad = || {
        Error::usage(
            "--scale",
            format!("'{s}' is not a number or a fraction like 1/255"),
        )
    };
    let v = match s.split_once('/') {
        Some((a, b)) => {
            let a: f64 = a.trim().parse().map_err(|_| bad())?;
            let b: f64 = b.trim().parse().map_err(|_| bad())?;
            a / b
        }
        None => s.trim().parse::<f64>().map_err(|_| bad())?,
    };
    if !v.is_finite() {
        return Err(bad());
    }
    Ok(v as f32)
}

fn parse_resize(s: &str) -> Result<(u32, u32)> {
    let bad = || Error::usage("--resize", format!("'{s}' is not WxH, e.g. 224x224"));
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let w: u32 = w.trim().parse().map_err(|_| bad())?;
    let h: u32 = h.trim().parse().map_err(|_| bad())?;
    if w == 0 || h == 0 {
        return Err(bad());
    }
    Ok((w, h))
}

fn image_options(a: &RunArgs) -> Result<ImageOptions> {
    if let Some(bad) = a.std.iter().find(|v| **v == 0.0 || !v.is_finite()) {
        return Err(Error::usage("--std", format!("{bad} cannot divide")));
    }
    Ok(ImageOptions {
        resize: a.resize.as_deref().map(parse_resize).transpose()?,
        mean: a.mean.clone(),
        std: a.std.clone(),
        scale: a
            .scale
            .as_deref()
            .map(parse_scale)
            .transpose()?
            .unwrap_or(1.0),
    })
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
fn prepare_inputs(a: &RunArgs, model: &Model) -> Result<Vec<Prepared>> {
    let specs = inputs::specs(model);
    let given = inputs::parse_input_flags(&a.inputs, &specs)?;
    let dims = inputs::parse_dims(&a.dims)?;
    let img = image_options(a)?;
    let mut b = Bindings::new(&dims);
    let mut prepared: Vec<Option<Prepared>> = vec![None; specs.len()];
    // files first (they bind symbols), then random data for the rest
    for (name, file) in &given {
        let ix = specs.iter().position(|s| s.name == *name).expect("parsed");
        prepared[ix] = Some(if inputs::is_image(file) {
            inputs::from_image(&specs[ix], file, &img, &mut b)?
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

fn find_output<'a>(outs: &'a [(String, NpyArray)], name: &str, flag: &str) -> Result<&'a NpyArray> {
    outs.iter()
        .find(|(n, _)| n == name)
        .map(|(_, a)| a)
        .ok_or_else(|| {
            Error::usage(
                flag,
                format!(
                    "the model has no output '{name}'; its outputs: {}",
                    outs.iter()
                        .map(|(n, _)| format!("'{n}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
}

fn only_output<'a>(outs: &'a [(String, NpyArray)], flag: &str) -> Result<&'a str> {
    if outs.len() == 1 {
        return Ok(&outs[0].0);
    }
    Err(Error::usage(
        flag,
        format!(
            "the model has {} outputs ({}): name the one to use",
            outs.len(),
            outs.iter()
                .map(|(n, _)| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

fn run_nms(
    n: &RunNmsArgs,
    outs: &[(String, NpyArray)],
) -> Result<(Detections, crate::post::NmsOptions)> {
    let boxes_name = match &n.boxes_output {
        Some(b) => b.as_str(),
        None if n.scores_output.is_some() => {
            return Err(Error::usage(
                "--scores-output",
                "needs --boxes-output too (the output holding the boxes)",
            ))
        }
        None => only_output(outs, "--boxes-output")?,
    };
    let layout = match (n.layout, &n.scores_output) {
        (Some(l), _) => Some(l),
        (None, None) => Some(Layout::Yolov8),
        (None, Some(_)) => None,
    };
    let args = NmsArgs {
        boxes: PathBuf::new(),
        scores: None,
        classes: None,
        iou_threshold: n.iou_threshold,
        score_threshold: n.score_threshold,
        box_format: n.box_format,
        max_per_class: n.max_per_class,
        max_detections: n.max_detections,
        class_agnostic: n.class_agnostic,
        multi_label: n.multi_label,
        nms_semantics: n.nms_semantics,
        layout,
        format: OutputFormat::Table,
        output_dir: None,
    };
    let opts = args.options();
    let what = |name: &str| format!("output '{name}'");
    let boxes = find_output(outs, boxes_name, "--boxes-output")?
        .clone()
        .into_f32(&what(boxes_name))?;
    let scores = match &n.scores_output {
        Some(s) => Some(
            find_output(outs, s, "--scores-output")?
                .clone()
                .into_f32(&what(s))?,
        ),
        None => None,
    };
    let classes = match &n.classes_output {
        Some(c) => Some(
            find_output(outs, c, "--classes-output")?
                .clone()
                .into_labels(&what(c))?,
        ),
        None => None,
    };
    let det = crate::post::detect(
        boxes.view(),
        scores.as_ref().map(|s| s.view()),
        classes.as_ref().map(|c| c.view()),
        layout,
        &opts,
    )
    .map_err(|e| {
        let mut from = format!("boxes = output '{boxes_name}'");
        if let Some(s) = &n.scores_output {
            let _ = write!(from, ", scores = output '{s}'");
        }
        if let Some(c) = &n.classes_output {
            let _ = write!(from, ", classes = output '{c}'");
        }
        Error::usage("--nms", format!("{e} ({from})"))
    })?;
    Ok((det, opts))
}

/// A Dice target: `.npy` of any numeric dtype, or a PNG/JPEG label map `[1,1,H,W]`.
fn read_target(path: &std::path::Path) -> Result<ndarray::ArrayD<f32>> {
    if !inputs::is_image(path) {
        return Ok(npyio::read(path)?.into_f32_lossy());
    }
    let img = inputs::decode_image(path).map_err(|e| match e {
        Error::Usage { message, .. } => Error::usage("--dice", message),
        other => other,
    })?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let values: Vec<f32> = match &img {
        image::DynamicImage::ImageLuma16(g) => g.as_raw().iter().map(|v| *v as f32).collect(),
        other => other
            .to_luma8()
            .as_raw()
            .iter()
            .map(|v| *v as f32)
            .collect(),
    };
    let mask = values.iter().all(|v| *v == 0.0 || *v == 255.0) && values.contains(&255.0);
    let values = if mask {
        values.into_iter().map(|v| v / 255.0).collect()
    } else {
        values
    };
    Ok(ndarray::ArrayD::from_shape_vec(vec![1, 1, h, w], values).expect("sizes agree"))
}

fn run_dice(
    d: &RunDiceArgs,
    target_path: &std::path::Path,
    outs: &[(String, NpyArray)],
) -> Result<(DiceReport, crate::post::DiceOptions)> {
    let name = match &d.dice_output {
        Some(n) => n.as_str(),
        None => only_output(outs, "--dice-output")?,
    };
    let pred = find_output(outs, name, "--dice-output")?
        .clone()
        .into_f32(&format!("output '{name}'"))?;
    let target = read_target(target_path)?;
    let opts = d.as_dice_args().options();
    let report = crate::post::dice(pred.view(), target.view(), &opts).map_err(|e| {
        Error::usage(
            "--dice",
            format!(
                "{e} (pred = output '{name}', target = {})",
                target_path.display()
            ),
        )
    })?;
    Ok((report, opts))
}

fn count_json(c: &Count) -> Value {
    c.to_json()
}

fn pct(part: f64, total: f64) -> f64 {
    if total > 0.0 {
        100.0 * part / total
    } else {
        0.0
    }
}

/// Per-ONNX-node times from the plan's timings, beside the profile pass's counts.
fn profile_report(model: &Model, p: &Profile, t: &exec::PlanTimes, top: usize) -> ProfileReport {
    let names = exec::OnnxNames::new(model);
    let runs = t.total.len();
    let total_ms = exec::median(&t.total);
    let n_graph = model.graph.nodes.len();
    let mut per_node: Vec<Vec<f64>> = vec![vec![0.0; runs]; n_graph];
    let mut tract_nodes: Vec<Vec<TractNode>> = vec![vec![]; n_graph];
    let mut unmatched_runs = vec![0.0; runs];
    let mut unmatched_nodes = vec![];
    let mut outside: Vec<f64> = t.total.clone();
    for n in &t.nodes {
        for (acc, v) in outside.iter_mut().zip(&n.ms) {
            *acc -= v;
        }
        let node = TractNode {
            name: n.name.clone(),
            op: n.op.clone(),
            time_ms: exec::median(&n.ms),
        };
        match names.attribute(&n.name) {
            Some(ix) if ix < n_graph => {
                for (acc, v) in per_node[ix].iter_mut().zip(&n.ms) {
                    *acc += v;
                }
                tract_nodes[ix].push(node);
            }
            _ => {
                for (acc, v) in unmatched_runs.iter_mut().zip(&n.ms) {
                    *acc += v;
                }
                unmatched_nodes.push(node);
            }
        }
    }
    let mut index_of: HashMap<&str, usize> = HashMap::new();
    for (i, n) in model.graph.nodes.iter().enumerate() {
        index_of.entry(n.name.as_str()).or_insert(i);
    }
    let mut nodes = vec![];
    let mut seen = vec![false; n_graph];
    for r in &p.nodes {
        let Some(&ix) = index_of.get(r.name.as_str()) else {
            continue;
        };
        if std::mem::replace(&mut seen[ix], true) {
            continue;
        }
        let time_ms = exec::median(&per_node[ix]);
        let flops = r.flops.as_int().map(|v| v as f64);
        nodes.push(NodeTime {
            name: r.name.clone(),
            op_type: r.op_type.clone(),
            time_ms,
            time_pct: pct(time_ms, total_ms),
            flops: count_json(&r.flops),
            macs: count_json(&r.macs),
            gflops_per_s: flops.filter(|_| time_ms > 0.0).map(|f| f / (time_ms * 1e6)),
            estimate_ms: r.roofline.as_ref().map(|x| x.time_s * 1e3),
            tract_nodes: std::mem::take(&mut tract_nodes[ix]),
        });
    }
    // stages: per-run sums, then medians
    let mut stages: Vec<(String, usize, Vec<f64>, Count)> = vec![];
    for r in &p.nodes {
        let Some(&ix) = index_of.get(r.name.as_str()) else {
            continue;
        };
        let pos = match stages.iter().position(|s| s.0 == r.stage) {
            Some(i) => i,
            None => {
                stages.push((r.stage.clone(), 0, vec![0.0; runs], Count::zero()));
                stages.len() - 1
            }
        };
        let st = &mut stages[pos];
        st.1 += 1;
        for (acc, v) in st.2.iter_mut().zip(&per_node[ix]) {
            *acc += v;
        }
        st.3 = Count::sum([&st.3, &r.flops]);
    }
    let by_stage: Vec<StageTime> = stages
        .into_iter()
        .map(|(stage, count, times, flops)| {
            let time_ms = exec::median(&times);
            StageTime {
                stage,
                nodes: count,
                time_ms,
                time_pct: pct(time_ms, total_ms),
                gflops_per_s: flops
                    .as_int()
                    .filter(|_| time_ms > 0.0)
                    .map(|f| f as f64 / (time_ms * 1e6)),
                flops: count_json(&flops),
            }
        })
        .collect();
    let mut by_time: Vec<&NodeTime> = nodes.iter().filter(|n| n.time_ms > 0.0).collect();
    by_time.sort_by(|a, b| b.time_ms.total_cmp(&a.time_ms));
    let total_flops = p.totals.flops.as_int().map(|v| v as f64);
    let mut by_flops: Vec<(&NodeTime, f64)> = p
        .nodes
        .iter()
        .filter_map(|r| {
            let f = r.flops.as_int()? as f64;
            let n = nodes.iter().find(|n| n.name == r.name)?;
            (f > 0.0).then_some((n, f))
        })
        .collect();
    by_flops.sort_by(|a, b| b.1.total_cmp(&a.1));
    ProfileReport {
        repeat: runs,
        total_ms,
        flops: count_json(&p.totals.flops),
        macs: count_json(&p.totals.macs),
        gflops_per_s: total_flops
            .filter(|_| total_ms > 0.0)
            .map(|f| f / (total_ms * 1e6)),
        estimate_ms: p.roofline.as_ref().map(|r| r.time_s * 1e3),
        estimate_device: p.roofline.as_ref().map(|r| r.device.clone()),
        unmatched: Unmatched {
            time_ms: exec::median(&unmatched_runs),
            nodes: unmatched_nodes,
        },
        outside_nodes_ms: exec::median(&outside).max(0.0),
        top_by_time: by_time
            .iter()
            .take(top)
            .map(|n| RankedTime {
                name: n.name.clone(),
                time_ms: n.time_ms,
                time_pct: n.time_pct,
            })
            .collect(),
        top_by_flops: by_flops
            .iter()
            .take(top)
            .map(|(n, f)| RankedFlops {
                name: n.name.clone(),
                flops: n.flops.clone(),
                flops_pct: pct(*f, total_flops.unwrap_or(0.0)),
            })
            .collect(),
        by_stage,
        nodes,
    }
}

/// Runs the `run` command.
pub fn run_command(a: &RunArgs) -> Result<Outcome> {
    if a.repeat == Some(0) {
        return Err(Error::usage("--repeat", "must be at least 1"));
    }
    let model = crate::model::load(&a.model)?;
    if !model.missing_external.is_empty() {
        return Err(weights_absent(&model));
    }
    let prepared = prepare_inputs(a, &model)?;
    let plan = exec::build(&a.model, &model, &prepared)?;
    let (tensors, first_ms) = exec::run(&a.model, &plan, &prepared)?;

    let out_names: Vec<String> = model
        .graph
        .outputs
        .iter()
        .map(|t| model.graph.tensors[*t].name.clone())
        .collect();
    if out_names.len() != tensors.len() {
        return Err(Error::Run {
            path: a.model.display().to_string(),
            reason: format!(
                "tract returned {} outputs, the model declares {}",
                tensors.len(),
                out_names.len()
            ),
        });
    }
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
            dims: inputs::parse_dims(&a.dims)?,
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
        let device = match (&a.device, a.peak_gflops, a.bandwidth_gbs) {
            (Some(name), _, _) => Some(crate::analysis::roofline::Device::preset(name)?),
            (None, Some(pk), Some(bw)) => Some(crate::analysis::roofline::Device::custom(pk, bw)?),
            _ => None,
        };
        if let Some(d) = &device {
            crate::analysis::roofline::apply(&mut p, d);
        }
        let r = profile_report(&model, &p, &times, a.top);
        (r.total_ms, repeat, Some(r))
    } else if let Some(k) = a.repeat {
        let times = exec::wall_times(&a.model, &plan, &prepared, k)?;
        (exec::median(&times), k, None)
    } else {
        (first_ms, 1, None)
    };
    drop(plan);

    // post-processing, in memory
    let nms = if a.nms.nms {
        Some(run_nms(&a.nms, &arrays)?)
    } else {
        None
    };
    let dice = match &a.dice.dice {
        Some(target) => Some(run_dice(&a.dice, target, &arrays)?),
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
    let stdout = match a.format {
        OutputFormat::Json => serde_json::to_string_pretty(&report).expect("serialisable") + "\n",
        OutputFormat::Table => render_table(
            &report,
            nms.as_ref().map(|n| &n.1),
            dice.as_ref().map(|d| &d.1),
        ),
    };
    Ok(Outcome { stdout, code: 0 })
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

// ---------------------------------------------------------------------------------------------
// The table

fn right(c: impl ToString) -> Cell {
    Cell::new(c.to_string()).set_alignment(CellAlignment::Right)
}

fn new_table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().map(Cell::new));
    t
}

fn shape_str(s: &[usize]) -> String {
    if s.is_empty() {
        "scalar".into()
    } else {
        s.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("x")
    }
}

fn num(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) => format!("{v:.4e}"),
        Some(v) => format!("{v:.5}"),
    }
}

/// Milliseconds with about four significant digits (at least three decimals).
fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.1}")
    } else if v >= 0.01 || v == 0.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.5}")
    }
}

fn json_human(v: &Value) -> String {
    match v {
        Value::Number(n) => n.as_f64().map(human_f).unwrap_or_else(|| n.to_string()),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn render_table(
    r: &RunReport,
    nms: Option<&crate::post::NmsOptions>,
    dice: Option<&crate::post::DiceOptions>,
) -> String {
    let mut s = String::new();
    let timing = if r.runs == 1 {
        format!("1 run, {} ms", ms(r.time_ms))
    } else {
        format!("median of {} runs, {} ms", r.runs, ms(r.time_ms))
    };
    let _ = writeln!(s, "{} (tract, {timing})", r.model);
    let mut t = new_table(&["input", "shape", "dtype", "source"]);
    for i in &r.inputs {
        let src = match &i.note {
            Some(n) => format!("{} ({n})", i.source),
            None => i.source.clone(),
        };
        t.add_row(vec![
            Cell::new(&i.name),
            Cell::new(shape_str(&i.shape)),
            Cell::new(&i.dtype),
            Cell::new(src),
        ]);
    }
    let _ = writeln!(s, "{t}");
    let with_files = r.outputs.iter().any(|o| o.file.is_some());
    let mut header = vec!["output", "shape", "dtype", "min", "max", "mean"];
    if r.outputs.iter().any(|o| o.stats.nan > 0) {
        header.push("nan");
    }
    if with_files {
        header.push("file");
    }
    let nan_col = header.contains(&"nan");
    let mut t = new_table(&header);
    for o in &r.outputs {
        let mut row = vec![
            Cell::new(&o.name),
            Cell::new(shape_str(&o.shape)),
            Cell::new(match &o.note {
                Some(n) => format!("{} ({n})", o.dtype),
                None => o.dtype.clone(),
            }),
            right(num(o.stats.min)),
            right(num(o.stats.max)),
            right(num(o.stats.mean)),
        ];
        if nan_col {
            row.push(right(o.stats.nan));
        }
        if with_files {
            row.push(Cell::new(o.file.as_deref().unwrap_or("-")));
        }
        t.add_row(row);
    }
    let _ = writeln!(s, "{t}");
    if let Some(p) = &r.profile {
        render_profile(&mut s, p);
    }
    if let (Some(det), Some(o)) = (&r.nms, nms) {
        let _ = write!(s, "\nNMS: {}", crate::post::nms::render_table(det, o));
    }
    if let (Some(d), Some(o)) = (&r.dice, dice) {
        let _ = write!(
            s,
            "\n{}",
            crate::post::dice::render(d, o, OutputFormat::Table)
        );
    }
    for w in &r.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    s
}

fn render_profile(s: &mut String, p: &ProfileReport) {
    let rate = p
        .gflops_per_s
        .map(|g| format!(", {g:.2} GFLOP/s"))
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "\nProfile: median of {} runs, {} ms; {} FLOPs, {} MACs{rate}",
        p.repeat,
        ms(p.total_ms),
        json_human(&p.flops),
        json_human(&p.macs),
    );
    if let (Some(e), Some(d)) = (p.estimate_ms, &p.estimate_device) {
        let _ = writeln!(
            s,
            "Roofline estimate on {d}: {} ms (measured / estimate = {:.2})",
            ms(e),
            if e > 0.0 { p.total_ms / e } else { f64::NAN }
        );
    }
    let est = p.estimate_ms.is_some();
    let mut header = vec![
        "node", "op_type", "time_ms", "time_pct", "flops", "macs", "GFLOP/s",
    ];
    if est {
        header.push("estimate_ms");
    }
    header.push("tract ops");
    let mut t = new_table(&header);
    // the estimate column sits before the last ("tract ops") cell, when shown
    let with_est = |mut row: Vec<Cell>, e: Option<f64>| {
        if est {
            let last = row.pop().expect("row");
            row.push(right(e.map(ms).unwrap_or_else(|| "-".into())));
            row.push(last);
        }
        row
    };
    for n in &p.nodes {
        let mut ops: Vec<&str> = vec![];
        for tn in &n.tract_nodes {
            if !ops.contains(&tn.op.as_str()) {
                ops.push(&tn.op);
            }
        }
        t.add_row(with_est(
            vec![
                Cell::new(&n.name),
                Cell::new(&n.op_type),
                right(ms(n.time_ms)),
                right(format!("{:.2}%", n.time_pct)),
                right(json_human(&n.flops)),
                right(json_human(&n.macs)),
                right(
                    n.gflops_per_s
                        .map(|g| format!("{g:.2}"))
                        .unwrap_or_else(|| "-".into()),
                ),
                Cell::new(if ops.is_empty() {
                    "- (folded away)".to_string()
                } else {
                    ops.join(", ")
                }),
            ],
            n.estimate_ms,
        ));
    }
    if !p.unmatched.nodes.is_empty() {
        let mut ops: Vec<&str> = vec![];
        for tn in &p.unmatched.nodes {
            if !ops.contains(&tn.op.as_str()) {
                ops.push(&tn.op);
            }
        }
        t.add_row(with_est(
            vec![
                Cell::new("unmatched"),
                Cell::new(""),
                right(ms(p.unmatched.time_ms)),
                right(format!("{:.2}%", pct(p.unmatched.time_ms, p.total_ms))),
                right("-"),
                right("-"),
                right("-"),
                Cell::new(ops.join(", ")),
            ],
            None,
        ));
    }
    t.add_row(with_est(
        vec![
            Cell::new("(between nodes)"),
            Cell::new(""),
            right(ms(p.outside_nodes_ms)),
            right(format!("{:.2}%", pct(p.outside_nodes_ms, p.total_ms))),
            right("-"),
            right("-"),
            right("-"),
            Cell::new("plan bookkeeping"),
        ],
        None,
    ));
    let _ = writeln!(s, "{t}");
    if p.by_stage.len() > 1 {
        let _ = writeln!(s, "\nBy stage");
        let mut t = new_table(&["stage", "nodes", "time_ms", "time_pct", "flops", "GFLOP/s"]);
        for st in &p.by_stage {
            t.add_row(vec![
                Cell::new(&st.stage),
                right(st.nodes),
                right(ms(st.time_ms)),
                right(format!("{:.2}%", st.time_pct)),
                right(json_human(&st.flops)),
                right(
                    st.gflops_per_s
                        .map(|g| format!("{g:.2}"))
                        .unwrap_or_else(|| "-".into()),
                ),
            ]);
        }
        let _ = writeln!(s, "{t}");
    }
    let k = p.top_by_time.len().max(p.top_by_flops.len());
    if k == 0 {
        return;
    }
    let _ = writeln!(s, "\nTop {k} nodes by time and by FLOPs");
    let mut t = new_table(&[
        "#",
        "by time",
        "time_ms",
        "time_pct",
        "by FLOPs",
        "flops",
        "flops_pct",
    ]);
    for i in 0..k {
        let a = p.top_by_time.get(i);
        let b = p.top_by_flops.get(i);
        t.add_row(vec![
            right(i + 1),
            Cell::new(a.map(|x| x.name.as_str()).unwrap_or("")),
            right(a.map(|x| ms(x.time_ms)).unwrap_or_default()),
            right(a.map(|x| format!("{:.2}%", x.time_pct)).unwrap_or_default()),
            Cell::new(b.map(|x| x.name.as_str()).unwrap_or("")),
            right(b.map(|x| json_human(&x.flops)).unwrap_or_default()),
            right(
                b.map(|x| format!("{:.2}%", x.flops_pct))
                    .unwrap_or_default(),
            ),
        ]);
    }
    let _ = writeln!(s, "{t}");
    let _ = writeln!(
        s,
        "Times are tract's optimized nodes attributed to the ONNX node whose name prefixes theirs; \
         a fused kernel (Conv+BatchNorm+Add+Relu) is named after one node of the chain and \
         counts there."
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_and_sizes_parse() {
        assert_eq!(parse_scale("1/255").unwrap(), (1.0f64 / 255.0) as f32);
        assert_eq!(parse_scale("0.5").unwrap(), 0.5);
        assert!(parse_scale("1/0").is_err());
        assert!(parse_scale("x").is_err());
        assert_eq!(parse_resize("224x200").unwrap(), (224, 200));
        assert!(parse_resize("224").is_err());
        assert!(parse_resize("0x3").is_err());
    }
}
