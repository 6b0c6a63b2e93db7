//! `onnxscope check`: budgets a CI can enforce. Limits come from `--max-*` flags and a TOML
//! budget file (model-level, per op type, per node-name glob, per model-path glob); a model is
//! profiled with the dims in force and every limit that applies becomes a check with a value, a
//! limit and a margin. Optionally the totals are compared with a baseline (a saved JSON report
//! or another model). Exit 0 when every check passes, 1 when one fails, 2 on an error.
//!
//! Layout: `units` parses amounts (`8.5G`, `100MiB`, `2%`); `file` reads the budget file and
//! resolves the limits in force for a model; `eval` profiles and checks; `output` renders.

pub mod eval;
pub mod file;
pub mod output;
pub mod units;

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;

use crate::cli::{Outcome, ShapeArgs};
use crate::error::{Error, Location, Result};
use units::{Increase, Kind};

/// A quantity a limit bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    Flops,
    Macs,
    Params,
    ParamBytes,
    ActivationBytes,
    PeakMemory,
}

impl Metric {
    /// The budget-file key: `max_flops`.
    pub fn key(self) -> &'static str {
        match self {
            Metric::Flops => "max_flops",
            Metric::Macs => "max_macs",
            Metric::Params => "max_params",
            Metric::ParamBytes => "max_param_bytes",
            Metric::ActivationBytes => "max_activation_bytes",
            Metric::PeakMemory => "max_peak_memory",
        }
    }
    /// The profile's name for the quantity: `flops`, `param_bytes`.
    pub fn total(self) -> &'static str {
        match self {
            Metric::Flops => "flops",
            Metric::Macs => "macs",
            Metric::Params => "params",
            Metric::ParamBytes => "param_bytes",
            Metric::ActivationBytes => "activation_bytes",
            Metric::PeakMemory => "peak_memory",
        }
    }
    /// The unit a value is printed with.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::Flops => "FLOPs",
            Metric::Macs => "MACs",
            Metric::Params => "params",
            _ => "bytes",
        }
    }
    pub fn kind(self) -> Kind {
        match self {
            Metric::Flops | Metric::Macs | Metric::Params => Kind::Count,
            _ => Kind::Bytes,
        }
    }
    /// FLOPs and MACs are wrong (too low) when a node could not be costed.
    pub fn needs_costing(self) -> bool {
        matches!(self, Metric::Flops | Metric::Macs)
    }
}

/// One limit and where it was set (`--max-flops`, `budget.toml:12`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limit {
    pub metric: Metric,
    pub max: u128,
    pub source: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    Table,
    Json,
    Junit,
    Github,
    Md,
}

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
    /// Count nodes that cannot be costed as 0 FLOPs/MACs instead of failing (exit 2).
    #[arg(long)]
    pub allow_unknown: bool,
    /// Output: a table, JSON, JUnit XML, GitHub Actions annotations, or Markdown.
    #[arg(long, value_enum, default_value_t = CheckFormat::Table)]
    pub format: CheckFormat,
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

pub fn run_check(a: &CheckArgs) -> Result<Outcome> {
    let cli = a.limits.limits();
    let shapes = a.shapes.to_options()?;
    let budget = a.budget.as_deref().map(file::Budget::load).transpose()?;
    let baseline = a
        .baseline
        .as_deref()
        .map(eval::Baseline::load)
        .transpose()?;
    let ctx = eval::Ctx {
        shapes: &shapes,
        baseline: baseline.as_ref(),
        increase: a.max_increase.unwrap_or_default(),
        allow_unknown: a.allow_unknown,
    };
    let mut models = vec![];
    for path in &a.models {
        let eff = budget
            .as_ref()
            .map(|b| b.effective(path))
            .unwrap_or_default();
        let eff = file::with_cli(eff, &cli);
        if eff.is_empty() && baseline.is_none() {
            return Err(Error::invalid(
                Location {
                    file: path.clone(),
                    ..Default::default()
                },
                "no limit applies to this model: give --budget (with limits for it), a --max-* flag or --baseline",
            ));
        }
        models.push(eval::evaluate(path, &eff, &ctx)?);
    }
    // a per-node rule that selected no node in any model is likely a typo
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut hit: BTreeSet<&str> = BTreeSet::new();
    for m in &models {
        for c in &m.checks {
            if let Some(n) = c.matched {
                seen.insert(&c.name);
                if n > 0 {
                    hit.insert(&c.name);
                }
            }
        }
    }
    let notes: Vec<String> = seen
        .difference(&hit)
        .map(|n| format!("{n} matches no node in any model checked"))
        .collect();
    let report = output::Report::new(models, notes);
    let stdout = match a.format {
        CheckFormat::Table => output::table(&report, use_color()),
        CheckFormat::Json => output::json(&report),
        CheckFormat::Junit => output::junit(&report),
        CheckFormat::Github => output::github(&report),
        CheckFormat::Md => output::markdown(&report),
    };
    Ok(Outcome {
        stdout,
        code: if report.pass { 0 } else { 1 },
    })
}
