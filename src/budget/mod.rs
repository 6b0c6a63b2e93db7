//! `onnxscope check`: budgets a CI can enforce. Limits come from `--max-*` flags and a TOML
//! budget file (model-level, per op type, per node-name glob, per model-path glob); a model is
//! profiled with the dims in force and every limit that applies becomes a check with a value, a
//! limit and a margin. Optionally the totals are compared with a baseline (a saved JSON report
//! or another model). Exit 0 when every check passes, 1 when one fails, 2 on an error.
//!
//! Layout: `units` parses amounts (`8.5G`, `100MiB`, `2%`); `file` reads the budget file and
//! resolves the limits in force for a model; `eval` profiles and checks; `output` renders
//! ([`output::Styled`] implements [`crate::report::Render`]). [`check`] runs it all.

pub mod eval;
pub mod file;
pub mod llm;
pub mod output;
pub mod units;

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::error::{Error, Location, Result};
use crate::model::shapes::ShapeOptions;
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

/// What `check` does: the models, where the limits come from, the baseline, the shapes.
#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    pub models: Vec<PathBuf>,
    /// Budget file (TOML).
    pub budget: Option<PathBuf>,
    /// Limits given on the command line (`--max-*`), in force for every model.
    pub limits: Vec<Limit>,
    /// A saved `profile --format json` report or another model.
    pub baseline: Option<PathBuf>,
    /// How much a total may grow against the baseline (default 0 %).
    pub max_increase: Option<Increase>,
    pub shapes: ShapeOptions,
    /// Count nodes that cannot be costed as 0 FLOPs/MACs instead of failing.
    pub allow_unknown: bool,
    /// LLM budgets from the command line (`--max-decode-flops-per-token`, …); they win over the
    /// budget file's `[llm]`.
    pub llm: llm::LlmLimits,
}

/// One model's checks: the profile limits (`eval::evaluate`, skipped when only LLM limits
/// apply), then the LLM budgets (`llm::checks`).
fn evaluate_with_llm(
    path: &std::path::Path,
    eff: &file::Effective,
    llm_limits: &llm::LlmLimits,
    ctx: &eval::Ctx,
    a: &CheckOptions,
) -> Result<eval::ModelReport> {
    let mut m = if eff.is_empty() && ctx.baseline.is_none() {
        eval::ModelReport {
            path: path.display().to_string(),
            checks: vec![],
            pass: true,
            baseline: None,
            notes: vec![],
        }
    } else {
        eval::evaluate(path, eff, ctx)?
    };
    if !llm_limits.is_empty() {
        let mut dims = a.shapes.dims.clone();
        for (k, v) in &eff.dims {
            dims.entry(k.clone()).or_insert(*v);
        }
        let (checks, notes) =
            llm::checks(path, llm_limits, &dims, a.allow_unknown, a.shapes.use_tract)?;
        m.checks.extend(checks);
        m.notes.extend(notes);
        m.pass = m.checks.iter().all(|c| c.pass);
    }
    Ok(m)
}

/// Profiles and checks every model; `report.pass` says whether every check passed.
pub fn check(a: &CheckOptions) -> Result<output::Report> {
    let cli = &a.limits;
    let shapes = &a.shapes;
    let budget = a.budget.as_deref().map(file::Budget::load).transpose()?;
    let baseline = a
        .baseline
        .as_deref()
        .map(eval::Baseline::load)
        .transpose()?;
    let ctx = eval::Ctx {
        shapes,
        baseline: baseline.as_ref(),
        increase: a.max_increase.unwrap_or_default(),
        allow_unknown: a.allow_unknown,
    };
    let mut limits = vec![];
    for path in &a.models {
        let eff = budget
            .as_ref()
            .map(|b| b.effective(path))
            .unwrap_or_default();
        let eff = file::with_cli(eff, cli);
        let llm_limits = a.llm.over(
            &budget
                .as_ref()
                .map(|b| b.effective_llm(path))
                .unwrap_or_default(),
        );
        if eff.is_empty() && baseline.is_none() && llm_limits.is_empty() {
            return Err(Error::invalid(
                Location {
                    file: path.clone(),
                    ..Default::default()
                },
                "no limit applies to this model: give --budget (with limits for it), a --max-* flag, an LLM limit or --baseline",
            ));
        }
        limits.push((path, eff, llm_limits));
    }
    // Models are evaluated on every core; results (and the first error) keep the list's order.
    let models = crate::util::par::map(&limits, |(path, eff, llm_limits)| {
        evaluate_with_llm(path, eff, llm_limits, &ctx, a)
    })
    .into_iter()
    .collect::<Result<Vec<_>>>()?;
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
    Ok(output::Report::new(models, notes))
}
