//! `onnxscope compare`: the flags of a comparison, turned into [`CompareOptions`] and the
//! list of [`Source`]s (files, or `--resnext` configurations).

use std::path::PathBuf;

use clap::Args;

use super::args::{choice, format, ShapeArgs};
use super::Outcome;
use crate::compare::{self, By, CompareOptions, Comparison, Source};
use crate::error::{Error, Result};
use crate::report::{Format, Render};

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Models to compare; the first is the reference for deltas.
    pub models: Vec<PathBuf>,
    /// Compare ResNeXt configurations built in memory, e.g. `1x64d,2x40d,4x24d,8x14d,32x4d`.
    #[arg(long, value_name = "CxDd,...")]
    pub resnext: Option<String>,
    /// Depth of the `--resnext` networks.
    #[arg(long, default_value_t = 50)]
    pub depth: u32,
    /// Also run each model through tract and report the median latency.
    #[arg(long)]
    pub measure: bool,
    /// Runs per model for `--measure` (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
    #[arg(long, value_parser = format(Comparison::FORMATS, &[]), default_value_t = Format::Table)]
    pub format: Format,
    #[arg(long, value_parser = choice::<By>(), default_value_t = By::Total)]
    pub by: By,
    #[command(flatten)]
    pub shapes: ShapeArgs,
}

pub fn run(a: &CompareArgs) -> Result<Outcome> {
    let opts = CompareOptions {
        by: a.by,
        measure: a.measure,
        repeat: a.repeat,
        shapes: a.shapes.to_options()?,
    };
    let sources: Vec<Source> = if let Some(list) = &a.resnext {
        if !a.models.is_empty() {
            return Err(Error::usage(
                "--resnext",
                "give either model files or --resnext, not both",
            ));
        }
        compare::resnext_sources(list, a.depth)?
    } else {
        if a.models.len() < 2 {
            return Err(Error::usage(
                "MODELS",
                "compare needs at least two models (or --resnext)",
            ));
        }
        a.models.iter().cloned().map(Source::File).collect()
    };
    let c = compare::run(&sources, &opts)?;
    Ok(Outcome::ok(c.render(a.format)?))
}
