//! `onnxscope profile`: per-node FLOPs, MACs, parameters and memory of one model, optionally
//! with a roofline estimate (`--device`) and a training budget (`--train`).

use std::path::PathBuf;

use clap::Args;

use super::args::{choice, format, ShapeArgs};
use super::Outcome;
use crate::analysis::roofline::{self, Device};
use crate::analysis::training::{self, Optimizer, TrainDtype, TrainOptions};
use crate::analysis::{profile_model, ProfileOptions};
use crate::error::{Error, Result};
use crate::report::graph::{self, ColorBy};
use crate::report::{Column, Format, GroupBy, ProfileView, Render, ReportOptions};

/// `--help` lines of the graph formats.
const PROFILE_FORMATS: &[(&str, &str)] = &[
    (
        "dot",
        "The graph in Graphviz DOT, nodes coloured by `--color-by`",
    ),
    ("svg", "The same graph rendered to SVG by Graphviz's `dot`"),
];

#[derive(Args, Debug)]
pub struct ProfileArgs {
    /// The ONNX model.
    pub model: PathBuf,
    #[arg(long, value_parser = format(ProfileView::FORMATS, PROFILE_FORMATS), default_value_t = Format::Table)]
    pub format: Format,
    #[command(flatten)]
    pub shapes: ShapeArgs,
    /// Show only the K nodes with the most FLOPs.
    #[arg(long, value_name = "K")]
    pub top: Option<usize>,
    /// Rows per node, per op type, or per stage.
    #[arg(long, value_parser = choice::<GroupBy>(), default_value_t = GroupBy::Node)]
    pub group_by: GroupBy,
    /// Fail (exit 2) on unknown ops or nodes that cannot be costed.
    #[arg(long)]
    pub strict: bool,
    /// Opt-in table columns: `memory` (activation bytes, memory access, FLOP/byte, live bytes).
    #[arg(long, value_parser = choice::<Column>(), value_delimiter = ',', value_name = "SET")]
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
    #[arg(long, value_parser = choice::<Optimizer>(), default_value_t = Optimizer::Adam, requires = "train")]
    pub optimizer: Optimizer,
    /// Batch size for --train: binds the inputs' symbolic leading dim (e.g. N).
    #[arg(long, value_name = "B", requires = "train")]
    pub batch: Option<i64>,
    /// Training precision for --train (mixed: fp16 weights/grads, fp32 master and state).
    #[arg(long, value_parser = choice::<TrainDtype>(), default_value_t = TrainDtype::Fp32, requires = "train")]
    pub dtype: TrainDtype,
    /// What colours the nodes with --format dot|svg (`mac` = memory access cost).
    #[arg(long, value_parser = choice::<ColorBy>(), default_value_t = ColorBy::Flops)]
    pub color_by: ColorBy,
}

/// A device from `--device NAME` or `--peak-gflops X --bandwidth-gbs Y`.
pub fn device(
    name: Option<&str>,
    peak_gflops: Option<f64>,
    bandwidth_gbs: Option<f64>,
) -> Result<Option<Device>> {
    Ok(match (name, peak_gflops, bandwidth_gbs) {
        (Some(name), _, _) => Some(Device::preset(name)?),
        (None, Some(p), Some(b)) => Some(Device::custom(p, b)?),
        _ => None,
    })
}

pub fn run(a: &ProfileArgs) -> Result<Outcome> {
    let mut opts = ProfileOptions {
        shapes: a.shapes.to_options()?,
        strict: a.strict,
    };
    let device = device(a.device.as_deref(), a.peak_gflops, a.bandwidth_gbs)?;
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
    if a.format == Format::Json {
        // A large graph's JSON runs to ~900 bytes a node: serialised straight to stdout once
        // the model is no longer needed, never held as one string.
        drop(model);
        return Ok(Outcome::streamed(move |w| {
            crate::report::json::write(&p, w)
        }));
    }
    let view = ProfileView {
        model: &model,
        profile: &p,
        options: ReportOptions {
            group_by: a.group_by,
            top: a.top,
            columns: a.columns.clone(),
        },
        color_by: a.color_by,
    };
    Ok(Outcome::ok(view.render(a.format)?))
}
