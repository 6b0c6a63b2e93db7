//! `onnxscope llm`: prefill against decode, the KV cache, bits per weight and tokens/s of a
//! decoder-only LLM export (see `analysis::llm`).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{Outcome, ShapeArgs};
use crate::analysis::llm::{self, LlmOptions};
use crate::analysis::roofline::Device;
use crate::error::Result;

/// Output formats of `llm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LlmFormat {
    Table,
    Json,
    Md,
}

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
    #[arg(long, value_enum, default_value_t = LlmFormat::Table)]
    pub format: LlmFormat,
    /// Skip tract's inference and use only onnxscope's own shape rules.
    #[arg(long, hide = true)]
    pub no_tract: bool,
}

/// The typed options of `llm` flags (shared with `check`'s LLM budgets).
pub fn options(
    prompt: i64,
    generate: i64,
    batch: Option<i64>,
    dims: &[String],
    device: Option<Device>,
    no_tract: bool,
) -> Result<LlmOptions> {
    let shapes = ShapeArgs {
        dims: dims.to_vec(),
        ..Default::default()
    }
    .to_options()?;
    Ok(LlmOptions {
        prompt,
        generate,
        batch,
        dims: shapes.dims,
        device,
        use_tract: !no_tract,
    })
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

pub fn run(a: &LlmArgs) -> Result<Outcome> {
    let dev = device(a.device.as_deref(), a.peak_gflops, a.bandwidth_gbs)?;
    let opts = options(a.prompt, a.generate, a.batch, &a.dims, dev, a.no_tract)?;
    let report = llm::analyse_path(&a.model, &opts)?;
    let stdout = match a.format {
        LlmFormat::Table => crate::report::llm::table(&report),
        LlmFormat::Json => crate::report::llm::json(&report),
        LlmFormat::Md => crate::report::llm::markdown(&report),
    };
    Ok(Outcome { stdout, code: 0 })
}
