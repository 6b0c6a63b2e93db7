//! `onnxscope check`: the budget flags (`--max-*`, `--budget`, `--baseline`), turned into
//! [`CheckOptions`]; exit 0 within budget, 1 over.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;

use super::args::{format, ShapeArgs};
use super::Outcome;
use crate::budget::output::Styled;
use crate::budget::units::{self, Increase, Kind};
use crate::budget::{self, CheckOptions, Limit, Metric};
use crate::error::Result;
use crate::report::{Format, Render};

fn count_arg(s: &str) -> std::result::Result<u128, String> {
    units::parse_amount(s, Kind::Count)
}
fn bytes_arg(s: &str) -> std::result::Result<u128, String> {
    units::parse_amount(s, Kind::Bytes)
}

/// The `--max-*` flags (boxed in `CheckArgs` to keep the command enum small).
#[derive(Args, Debug, Default)]
pub struct LimitArgs {
    /// Most FLOPs a model may cost (8.5G, 1.2e9, 1500).
    #[arg(long, value_name = "AMOUNT", value_parser = count_arg)]
    pub max_flops: Option<u128>,
    /// Most MACs a model may cost.
    #[arg(long, value_name = "AMOUNT", value_parser = count_arg)]
    pub max_macs: Option<u128>,
    /// Most parameters a model may hold (26M).
    #[arg(long, value_name = "AMOUNT", value_parser = count_arg)]
    pub max_params: Option<u128>,
    /// Most bytes of weights (100MiB = 104,857,600; 100MB = 10^8).
    #[arg(long, value_name = "BYTES", value_parser = bytes_arg)]
    pub max_param_bytes: Option<u128>,
    /// Most bytes of activations (all node outputs added up).
    #[arg(long, value_name = "BYTES", value_parser = bytes_arg)]
    pub max_activation_bytes: Option<u128>,
    /// Most bytes of peak inference memory: weight bytes + the peak of live activations.
    #[arg(long, value_name = "BYTES", value_parser = bytes_arg)]
    pub max_peak_memory: Option<u128>,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The ONNX models to check.
    #[arg(required = true, value_name = "MODEL")]
    pub models: Vec<PathBuf>,
    /// Budget file (TOML): model-level, per-op-type, per-node-glob and per-model limits.
    #[arg(long, value_name = "FILE")]
    pub budget: Option<PathBuf>,
    #[command(flatten)]
    pub limits: Box<LimitArgs>,
    /// Compare the totals with a saved `profile --format json` report or another model.
    #[arg(long, value_name = "REPORT.json|MODEL.onnx")]
    pub baseline: Option<PathBuf>,
    /// How much a total may grow against --baseline: a percentage (2%) or an amount (100M);
    /// default 0%.
    #[arg(long, value_name = "PCT%|AMOUNT", requires = "baseline", value_parser = Increase::parse)]
    pub max_increase: Option<Increase>,
    #[command(flatten)]
    pub shapes: ShapeArgs,
    #[command(flatten)]
    pub llm: Box<super::llm::LlmBudgetArgs>,
    /// Count nodes that cannot be costed as 0 FLOPs/MACs instead of failing (exit 2).
    #[arg(long)]
    pub allow_unknown: bool,
    /// Output: a table, JSON, JUnit XML, GitHub Actions annotations, or Markdown.
    #[arg(long, value_parser = format(Styled::FORMATS, &[]), default_value_t = Format::Table)]
    pub format: Format,
}

impl LimitArgs {
    fn limits(&self) -> Vec<Limit> {
        [
            (Metric::Flops, self.max_flops, "--max-flops"),
            (Metric::Macs, self.max_macs, "--max-macs"),
            (Metric::Params, self.max_params, "--max-params"),
            (
                Metric::ParamBytes,
                self.max_param_bytes,
                "--max-param-bytes",
            ),
            (
                Metric::ActivationBytes,
                self.max_activation_bytes,
                "--max-activation-bytes",
            ),
            (
                Metric::PeakMemory,
                self.max_peak_memory,
                "--max-peak-memory",
            ),
        ]
        .into_iter()
        .filter_map(|(metric, v, flag)| {
            v.map(|max| Limit {
                metric,
                max,
                source: flag.into(),
            })
        })
        .collect()
    }
}

/// Colour only on a terminal, and never when NO_COLOR is set to something.
fn use_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

pub fn run(a: &CheckArgs) -> Result<Outcome> {
    let opts = CheckOptions {
        models: a.models.clone(),
        budget: a.budget.clone(),
        limits: a.limits.limits(),
        baseline: a.baseline.clone(),
        max_increase: a.max_increase,
        shapes: a.shapes.to_options()?,
        allow_unknown: a.allow_unknown,
        llm: a.llm.limits()?,
    };
    let report = budget::check(&opts)?;
    let stdout = Styled {
        report: &report,
        color: use_color(),
    }
    .render(a.format)?;
    Ok(Outcome::ok(stdout).with_code(if report.pass { 0 } else { 1 }))
}
