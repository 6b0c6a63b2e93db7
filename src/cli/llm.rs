//! `onnxscope llm`: prefill against decode, the KV cache, bits per weight and tokens/s of a
//! decoder-only LLM export (see `analysis::llm`).

use std::path::PathBuf;

use clap::Args;

use super::args::{format, parse_dims};
use super::profile::device;
use super::Outcome;
use crate::analysis::llm::{self, LlmOptions, LlmReport};
use crate::analysis::roofline::Device;
use crate::error::Result;
use crate::report::{Format, Render};

#[derive(Args, Debug)]
pub struct LlmArgs {
    /// The ONNX model (a decoder with `input_ids`, optionally past KV inputs).
    pub model: PathBuf,
    /// Prompt tokens P: the prefill step has sequence P and past 0.
    #[arg(long, value_name = "P", default_value_t = 512)]
    pub prompt: i64,
    /// Generated tokens G: decode step k = 1..G has sequence 1 and past P+k−1.
    #[arg(long, value_name = "G", default_value_t = 128)]
    pub generate: i64,
    /// Batch size (binds the batch symbol).
    #[arg(long, value_name = "B")]
    pub batch: Option<i64>,
    /// Give a symbol a value, e.g. `--dim kv_cache_dim=128` (repeatable); wins over every
    /// inferred value.
    #[arg(long = "dim", value_name = "SYM=VALUE")]
    pub dims: Vec<String>,
    /// Roofline device preset: laptop-cpu, server-cpu, jetson-orin, a100, a100-fp16.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["peak_gflops", "bandwidth_gbs"])]
    pub device: Option<String>,
    /// Custom device: peak GFLOP/s (with --bandwidth-gbs).
    #[arg(long, value_name = "X", requires = "bandwidth_gbs")]
    pub peak_gflops: Option<f64>,
    /// Memory bandwidth in GB/s (with --peak-gflops).
    #[arg(long, value_name = "Y", requires = "peak_gflops")]
    pub bandwidth_gbs: Option<f64>,
    #[arg(long, value_parser = format(LlmReport::FORMATS, &[]), default_value_t = Format::Table)]
    pub format: Format,
    /// Skip tract's inference and use only onnxscope's own shape rules.
    #[arg(long, hide = true)]
    pub no_tract: bool,
}

/// The typed options of the `llm` flags (shared with `check`'s LLM budgets).
pub fn options(
    prompt: i64,
    generate: i64,
    batch: Option<i64>,
    dims: &[String],
    device: Option<Device>,
    no_tract: bool,
) -> Result<LlmOptions> {
    Ok(LlmOptions {
        prompt,
        generate,
        batch,
        dims: parse_dims(dims)?,
        device,
        use_tract: !no_tract,
    })
}

pub fn run(a: &LlmArgs) -> Result<Outcome> {
    let dev = device(a.device.as_deref(), a.peak_gflops, a.bandwidth_gbs)?;
    let opts = options(a.prompt, a.generate, a.batch, &a.dims, dev, a.no_tract)?;
    let report = llm::analyse_path(&a.model, &opts)?;
    Ok(Outcome::ok(report.render(a.format)?))
}
