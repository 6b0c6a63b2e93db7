//! `onnxscope compare`: the flags of a comparison, turned into [`CompareOptions`] and the
//! list of [`Source`]s (files, or `--resnext` configurations); or the `--llama` study
//! ([`LlamaStudy`]).

use std::path::PathBuf;

use clap::Args;

use super::args::{choice, format, ShapeArgs};
use super::profile::device;
use super::Outcome;
use crate::analysis::llm::LlmOptions;
use crate::compare::{self, By, CompareOptions, Comparison, LlamaComparison, LlamaStudy, Source};
use crate::error::{Error, Result};
use crate::report::{Format, Render};
use crate::synth::llama::{LlamaConfig, Precision};

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
    #[command(flatten)]
    pub llama: LlamaCompareArgs,
}

/// The `--llama` study: the configurations and their shared shape, generation and device.
#[derive(Args, Debug, Default)]
pub struct LlamaCompareArgs {
    /// Compare Llama-family decoders built in memory (graph only), heads × kv-heads, e.g.
    /// `32x32,32x8,32x1`, costed as `onnxscope llm` costs them.
    #[arg(long = "llama", value_name = "HxK,...", conflicts_with_all = ["resnext", "measure"])]
    pub list: Option<String>,
    /// Decoder layers of the `--llama` configurations [default: 32].
    #[arg(long, requires = "list")]
    pub layers: Option<u64>,
    /// Hidden size of the `--llama` configurations [default: 4096].
    #[arg(long, requires = "list")]
    pub hidden: Option<u64>,
    /// MLP intermediate size of the `--llama` configurations [default: 14336].
    #[arg(long, requires = "list")]
    pub intermediate: Option<u64>,
    /// Vocabulary size of the `--llama` configurations [default: 128256].
    #[arg(long, requires = "list")]
    pub vocab: Option<u64>,
    /// Weight precision of the `--llama` configurations [default: int4].
    #[arg(long, value_parser = choice::<Precision>(), requires = "list")]
    pub precision: Option<Precision>,
    /// int4 quantization block size along K [default: 32].
    #[arg(long, requires = "list")]
    pub block_size: Option<u64>,
    /// Prompt tokens P of the `--llama` study [default: 512].
    #[arg(long, value_name = "P", requires = "list")]
    pub prompt: Option<i64>,
    /// Generated tokens G of the `--llama` study [default: 128].
    #[arg(long, value_name = "G", requires = "list")]
    pub generate: Option<i64>,
    /// Roofline device of the `--llama` tokens/s: laptop-cpu, server-cpu, jetson-orin, a100,
    /// a100-fp16.
    #[arg(long, value_name = "NAME", requires = "list", conflicts_with_all = ["peak_gflops", "bandwidth_gbs"])]
    pub device: Option<String>,
    /// Custom device: peak GFLOP/s (with --bandwidth-gbs).
    #[arg(long, value_name = "X", requires_all = ["list", "bandwidth_gbs"])]
    pub peak_gflops: Option<f64>,
    /// Memory bandwidth in GB/s (with --peak-gflops).
    #[arg(long, value_name = "Y", requires_all = ["list", "peak_gflops"])]
    pub bandwidth_gbs: Option<f64>,
}

impl LlamaCompareArgs {
    /// The study these flags describe (`list` given).
    pub fn study(&self, list: &str) -> Result<LlamaStudy> {
        let d = LlamaConfig::llama3_8b(self.precision.unwrap_or(Precision::Int4));
        let defaults = LlmOptions::default();
        let prompt = self.prompt.unwrap_or(defaults.prompt);
        let generate = self.generate.unwrap_or(defaults.generate);
        for (flag, v) in [("--prompt", prompt), ("--generate", generate)] {
            if v < 1 {
                return Err(Error::usage(flag, format!("{v}: must be at least 1")));
            }
        }
        let base = LlamaConfig {
            layers: self.layers.unwrap_or(d.layers),
            hidden: self.hidden.unwrap_or(d.hidden),
            intermediate: self.intermediate.unwrap_or(d.intermediate),
            vocab: self.vocab.unwrap_or(d.vocab),
            block_size: self.block_size.unwrap_or(d.block_size),
            // the rotary caches hold every position of the context
            max_position: d.max_position.max((prompt + generate) as u64),
            ..d
        };
        Ok(LlamaStudy {
            base,
            configs: compare::parse_llama_list(list)?,
            llm: LlmOptions {
                prompt,
                generate,
                device: device(self.device.as_deref(), self.peak_gflops, self.bandwidth_gbs)?,
                ..defaults
            },
        })
    }
}

/// `compare --llama`: the study, rendered.
fn run_llama(a: &CompareArgs, list: &str) -> Result<Outcome> {
    if !a.models.is_empty() {
        return Err(Error::usage(
            "--llama",
            "give either model files or --llama, not both",
        ));
    }
    if a.by != By::Total {
        return Err(Error::usage(
            "--by",
            "--llama compares totals only (--by total)",
        ));
    }
    if !a.shapes.dims.is_empty() || !a.shapes.inputs.is_empty() {
        return Err(Error::usage(
            "--llama",
            "the configurations bind their own dims: --dim and --input do not apply",
        ));
    }
    if !LlamaComparison::FORMATS.contains(&a.format) {
        return Err(crate::report::unsupported(
            a.format,
            LlamaComparison::FORMATS,
        ));
    }
    let c = compare::run_llama(&a.llama.study(list)?)?;
    Ok(Outcome::ok(c.render(a.format)?))
}

pub fn run(a: &CompareArgs) -> Result<Outcome> {
    if let Some(list) = &a.llama.list {
        return run_llama(a, list);
    }
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
