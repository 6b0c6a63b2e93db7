//! `onnxscope llm`: prefill against decode, the KV cache, bits per weight and tokens/s of a
//! decoder-only LLM export (see `analysis::llm`); and the LLM budget flags of `check`.

use std::path::PathBuf;

use clap::Args;

use super::args::{format, parse_dims};
use super::profile::device;
use super::Outcome;
use crate::analysis::llm::{self, LlmOptions, LlmReport};
use crate::analysis::roofline::Device;
use crate::budget::llm::{LlmLimit, LlmLimits};
use crate::budget::units::{self, Kind};
use crate::error::{Error, Result};
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

fn count_arg(s: &str) -> std::result::Result<u128, String> {
    units::parse_amount(s, Kind::Count)
}
fn bytes_arg(s: &str) -> std::result::Result<u128, String> {
    units::parse_amount(s, Kind::Bytes)
}

/// `check`'s LLM budgets: the generation measured, the limits and the device.
#[derive(Args, Debug, Default)]
pub struct LlmBudgetArgs {
    /// Prompt tokens P of the LLM budgets (default 512, or `prompt` in [llm]).
    #[arg(long, value_name = "P")]
    pub prompt: Option<i64>,
    /// Generated tokens G of the LLM budgets (default 128, or `generate` in [llm]).
    #[arg(long, value_name = "G")]
    pub generate: Option<i64>,
    /// Most decode FLOPs per generated token (the mean over G steps), as `onnxscope llm`.
    #[arg(long, value_name = "AMOUNT", value_parser = count_arg)]
    pub max_decode_flops_per_token: Option<u128>,
    /// Most KV-cache bytes at the context P + G (whole batch).
    #[arg(long, value_name = "BYTES", value_parser = bytes_arg)]
    pub max_kv_cache_bytes: Option<u128>,
    /// Fewest decode tokens per second on the device (needs --device or --peak-gflops).
    #[arg(long, value_name = "AMOUNT", value_parser = count_arg)]
    pub min_tokens_per_second: Option<u128>,
    /// Roofline device of --min-tokens-per-second: laptop-cpu, server-cpu, jetson-orin, a100,
    /// a100-fp16.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["peak_gflops", "bandwidth_gbs"])]
    pub device: Option<String>,
    /// Custom device: peak GFLOP/s (with --bandwidth-gbs).
    #[arg(long, value_name = "X", requires = "bandwidth_gbs")]
    pub peak_gflops: Option<f64>,
    /// Memory bandwidth in GB/s (with --peak-gflops).
    #[arg(long, value_name = "Y", requires = "peak_gflops")]
    pub bandwidth_gbs: Option<f64>,
}

impl LlmBudgetArgs {
    /// The command line's LLM limits (they win over the budget file's `[llm]`).
    pub fn limits(&self) -> Result<LlmLimits> {
        for (flag, v) in [("--prompt", self.prompt), ("--generate", self.generate)] {
            if let Some(v) = v.filter(|v| *v < 1) {
                return Err(Error::usage(flag, format!("{v}: must be at least 1")));
            }
        }
        let lim = |v: Option<u128>, flag: &str| {
            v.map(|value| LlmLimit {
                value,
                source: flag.into(),
            })
        };
        Ok(LlmLimits {
            prompt: self.prompt,
            generate: self.generate,
            max_decode_flops_per_token: lim(
                self.max_decode_flops_per_token,
                "--max-decode-flops-per-token",
            ),
            max_kv_cache_bytes: lim(self.max_kv_cache_bytes, "--max-kv-cache-bytes"),
            min_tokens_per_second: lim(self.min_tokens_per_second, "--min-tokens-per-second"),
            device: device(self.device.as_deref(), self.peak_gflops, self.bandwidth_gbs)?,
        })
    }
}
