//! `onnxscope run`: the flags of a run (inputs, timing, image preprocessing, NMS and Dice on
//! the outputs), turned into [`RunOptions`].

use std::path::PathBuf;

use clap::Args;

use super::args::{choice, format, parse_dims, TEXT_OR_JSON};
use super::dice::dice_options;
use super::nms::nms_options;
use super::Outcome;
use crate::error::{Error, Result};
use crate::post::dice::Reduction;
use crate::post::nms::{BoxFormat, Layout, Semantics};
use crate::report::{Format, Render};
use crate::runtime::lower::Int4;
use crate::runtime::run::inputs::ImageOptions;
use crate::runtime::run::{self, DiceStep, NmsStep, RunOptions, RunOutput};

/// `onnxscope run`.
#[derive(Args, Debug, Clone)]
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
    /// 4-bit MatMulNBits / GatherBlockQuantized with 32-blocks: `exact` dequantizes at f32
    /// (onnxruntime's numbers), `fast` keeps tract's int4 kernels (f16-rounded scales), `auto`
    /// is exact while the f32 weights fit in 1 GiB.
    #[arg(long, value_name = "MODE", value_parser = choice::<Int4>(), default_value_t = Int4::Auto)]
    pub int4: Int4,
    #[arg(long, value_parser = format(RunOutput::FORMATS, TEXT_OR_JSON), default_value_t)]
    pub format: Format,
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
#[derive(Args, Debug, Clone, Default)]
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
    #[arg(long, value_parser = choice::<BoxFormat>(), requires = "nms")]
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
    #[arg(long, value_parser = choice::<Semantics>(), default_value_t, requires = "nms")]
    pub nms_semantics: Semantics,
    /// Layout of the detector outputs [default: yolov8 for a single tensor, else inferred].
    #[arg(long, value_parser = choice::<Layout>(), requires = "nms")]
    pub layout: Option<Layout>,
}

/// The Dice flags of `run` (those of the `dice` command, on one of the model's outputs).
#[derive(Args, Debug, Clone, Default)]
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
    #[arg(long, value_parser = choice::<Reduction>(), default_value_t, requires = "dice")]
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

impl RunArgs {
    /// The options these flags describe.
    pub fn options(&self) -> Result<RunOptions> {
        let n = &self.nms;
        let nms = n.nms.then(|| {
            let layout = NmsStep::resolved_layout(n.layout, n.scores_output.as_deref());
            NmsStep {
                boxes_output: n.boxes_output.clone(),
                scores_output: n.scores_output.clone(),
                classes_output: n.classes_output.clone(),
                layout: n.layout,
                options: nms_options!(n, layout),
            }
        });
        let d = &self.dice;
        let dice = d.dice.as_ref().map(|target| DiceStep {
            target: target.clone(),
            output: d.dice_output.clone(),
            options: dice_options!(d),
        });
        Ok(RunOptions {
            model: self.model.clone(),
            inputs: self.inputs.clone(),
            random: self.random,
            seed: self.seed,
            dims: parse_dims(&self.dims)?,
            output_dir: self.output_dir.clone(),
            int4: self.int4,
            profile: self.profile,
            repeat: self.repeat,
            top: self.top,
            device: super::profile::device(
                self.device.as_deref(),
                self.peak_gflops,
                self.bandwidth_gbs,
            )?,
            image: image_options(self)?,
            nms,
            dice,
        })
    }
}

pub fn run(a: &RunArgs) -> Result<Outcome> {
    let out = run::run(&a.options()?)?;
    Ok(Outcome::ok(out.render(a.format)?))
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
