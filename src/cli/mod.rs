//! The command line: clap definitions, their validation into library options, and the commands'
//! bodies. `main.rs` only maps the outcome to an exit code.

use std::collections::HashMap;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::analysis::roofline::{self, Device};
use crate::analysis::training::{self, Optimizer, TrainDtype, TrainOptions};
use crate::analysis::{profile_model, ProfileOptions};
use crate::error::{Error, Result};
use crate::model::graph::sanitize_symbol;
use crate::model::shapes::ShapeOptions;
use crate::report::graph::{self, ColorBy};
use crate::report::{json, tabular, Column, Format, GroupBy, ReportOptions};

#[derive(Parser, Debug)]
#[command(
    name = "onnxscope",
    version,
    about = "What an ONNX model costs: FLOPs, MACs, params, memory"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Non-maximum suppression on saved boxes and scores (.npy).
    Nms(crate::post::NmsArgs),
    /// Dice score / loss of a prediction against a target (.npy), MONAI semantics.
    Dice(crate::post::DiceArgs),
    /// Several models side by side (or ResNeXt configurations), with deltas.
    Compare(crate::compare::CompareArgs),
    /// Write a synthesized model (ResNet/ResNeXt) as ONNX.
    #[command(subcommand)]
    Synth(SynthCommand),
    /// Per-node FLOPs, MACs, parameters and grouped-conv savings of a model.
    Profile(ProfileArgs),
    /// Execute a model with tract on .npy / image / random inputs; save and summarise its
    /// outputs; time every node against its FLOPs (--profile); NMS or Dice on the outputs.
    Run(Box<crate::runtime::run::RunArgs>),
    /// Check models against budgets (FLOPs, MACs, params, bytes, growth against a baseline);
    /// exit 0 within budget, 1 over, 2 on an error.
    Check(crate::budget::CheckArgs),
}

#[derive(Subcommand, Debug)]
pub enum SynthCommand {
    /// ResNet / ResNeXt (torchvision's architecture): C = 1, D = 64 is ResNet.
    Resnext(crate::synth::SynthResnextArgs),
}

/// Options shared by every command that reads a model's shapes.
#[derive(Args, Debug, Clone, Default)]
pub struct ShapeArgs {
    /// Bind a symbolic dim, e.g. `--dim N=8` (repeatable).
    #[arg(long = "dim", value_name = "SYM=VALUE")]
    pub dims: Vec<String>,
    /// Force an input's shape, e.g. `--input input=1x3x224x224` (repeatable).
    #[arg(long = "input", value_name = "NAME=SHAPE")]
    pub inputs: Vec<String>,
    /// Skip tract's inference and use only onnxscope's own shape rules.
    #[arg(long, hide = true)]
    pub no_tract: bool,
}

impl ShapeArgs {
    pub fn to_options(&self) -> Result<ShapeOptions> {
        let mut dims = HashMap::new();
        for d in &self.dims {
            let (k, v) = d
                .split_once('=')
                .ok_or_else(|| Error::usage("--dim", format!("'{d}' is not SYM=VALUE")))?;
            let v: i64 = v
                .trim()
                .parse()
                .map_err(|_| Error::usage("--dim", format!("'{v}' is not an integer")))?;
            if v <= 0 {
                return Err(Error::usage(
                    "--dim",
                    format!("{k}={v}: dims must be positive"),
                ));
            }
            dims.insert(sanitize_symbol(k.trim()), v);
        }
        let mut inputs = HashMap::new();
        for i in &self.inputs {
            let (k, v) = i
                .rsplit_once('=')
                .ok_or_else(|| Error::usage("--input", format!("'{i}' is not NAME=SHAPE")))?;
            let shape: Vec<i64> = v
                .split(['x', ','])
                .map(|d| d.trim().parse::<i64>())
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| {
                    Error::usage("--input", format!("'{v}' is not a shape like 1x3x224x224"))
                })?;
            if let Some(bad) = shape.iter().find(|d| **d <= 0) {
                return Err(Error::usage(
                    "--input",
                    format!("{k}: dim {bad} must be positive"),
                ));
            }
            inputs.insert(k.to_string(), shape);
        }
        Ok(ShapeOptions {
            inputs,
            dims,
            use_tract: !self.no_tract,
            tract_everywhere: false,
        })
    }
}

#[derive(Args, Debug)]
pub struct ProfileArgs {
    /// The ONNX model.
    pub model: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    #[command(flatten)]
    pub shapes: ShapeArgs,
    /// Show only the K nodes with the most FLOPs.
    #[arg(long, value_name = "K")]
    pub top: Option<usize>,
    /// Rows per node, per op type, or per stage.
    #[arg(long, value_enum, default_value_t = GroupBy::Node)]
    pub group_by: GroupBy,
    /// Fail (exit 2) on unknown ops or nodes that cannot be costed.
    #[arg(long)]
    pub strict: bool,
    /// Opt-in table columns: `memory` (activation bytes, memory access, FLOP/byte, live bytes).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "SET")]
    pub columns: Vec<Column>,
    /// Roofline estimate on a preset device: laptop-cpu, server-cpu, jetson-orin, a100, a100-fp16.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["peak_gflops", "bandwidth_gbs"])]
    pub device: Option<String>,
    /// Roofline estimate on a custom device: peak GFLOP/s (with --bandwidth-gbs).
    #[arg(long, value_name = "X", requires = "bandwidth_gbs")]
    pub peak_gflops: Option<f64>,
    /// Memory bandwidth in GB/s (with --peak-gflops).
    #[arg(long, value_name = "Y", requires = "peak_gflops")]
    pub bandwidth_gbs: Option<f64>,
    /// Also write the roofline plot as SVG to FILE (needs --device or --peak-gflops).
    #[arg(long, value_name = "FILE")]
    pub roofline_svg: Option<PathBuf>,
    /// Training budget per step: memory (weights, gradients, optimizer state, activations) and FLOPs.
    #[arg(long)]
    pub train: bool,
    /// Optimizer for --train.
    #[arg(long, value_enum, default_value_t = Optimizer::Adam, requires = "train")]
    pub optimizer: Optimizer,
    /// Batch size for --train: binds the inputs' symbolic leading dim (e.g. N).
    #[arg(long, value_name = "B", requires = "train")]
    pub batch: Option<i64>,
    /// Training precision for --train (mixed: fp16 weights/grads, fp32 master and state).
    #[arg(long, value_enum, default_value_t = TrainDtype::Fp32, requires = "train")]
    pub dtype: TrainDtype,
    /// What colours the nodes with --format dot|svg (`mac` = memory access cost).
    #[arg(long, value_enum, default_value_t = ColorBy::Flops)]
    pub color_by: ColorBy,
}

/// What a command produced: the text for stdout and the exit code (0, or 1 for a failed check).
pub struct Outcome {
    pub stdout: String,
    pub code: i32,
}

pub fn run(cli: Cli) -> Result<Outcome> {
    match cli.command {
        Command::Profile(a) => run_profile(&a),
        Command::Nms(a) => Ok(Outcome {
            stdout: crate::post::run_nms(&a)?,
            code: 0,
        }),
        Command::Dice(a) => Ok(Outcome {
            stdout: crate::post::run_dice(&a)?,
            code: 0,
        }),
        Command::Compare(a) => crate::compare::run_compare(&a),
        Command::Synth(SynthCommand::Resnext(a)) => Ok(Outcome {
            stdout: crate::synth::run_synth(&a)? + "\n",
            code: 0,
        }),
        Command::Check(a) => crate::budget::run_check(&a),
        Command::Run(a) => crate::runtime::run::run_command(&a),
    }
}

fn run_profile(a: &ProfileArgs) -> Result<Outcome> {
    let mut opts = ProfileOptions {
        shapes: a.shapes.to_options()?,
        strict: a.strict,
    };
    let device = match (&a.device, a.peak_gflops, a.bandwidth_gbs) {
        (Some(name), _, _) => Some(Device::preset(name)?),
        (None, Some(p), Some(b)) => Some(Device::custom(p, b)?),
        _ => None,
    };
    if a.roofline_svg.is_some() && device.is_none() {
        return Err(Error::usage(
            "--roofline-svg",
            "needs a device: --device NAME, or --peak-gflops X --bandwidth-gbs Y",
        ));
    }
    let model = crate::model::load(&a.model)?;
    let mut batch_notes = vec![];
    if let (true, Some(b)) = (a.train, a.batch) {
        batch_notes = training::bind_batch(&model, &mut opts.shapes, b)?;
    }
    let mut p = profile_model(&model, &opts)?;
    p.warnings.extend(batch_notes);
    if let Some(d) = &device {
        roofline::apply(&mut p, d);
    }
    if a.train {
        training::apply(
            &mut p,
            &TrainOptions {
                optimizer: a.optimizer,
                dtype: a.dtype,
                batch: a.batch,
            },
        );
    }
    if let Some(path) = &a.roofline_svg {
        let plot = graph::roofline_svg(&p).expect("roofline applied");
        std::fs::write(path, plot).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
    }
    let r = ReportOptions {
        group_by: a.group_by,
        top: a.top,
        columns: a.columns.clone(),
    };
    let stdout = match a.format {
        Format::Table => tabular::table(&p, &r),
        Format::Json => json::render(&p),
        Format::Csv => tabular::csv(&p, &r),
        Format::Md => tabular::markdown(&p, &r),
        Format::Dot => graph::dot(&model, &p, a.color_by),
        Format::Svg => graph::svg(&graph::dot(&model, &p, a.color_by))?,
    };
    Ok(Outcome { stdout, code: 0 })
}
