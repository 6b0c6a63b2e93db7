//! LLM budgets of `check`: the decode FLOPs per generated token, the KV-cache bytes at the
//! context P + G, and the decode tokens/s on a device — the figures of `onnxscope llm` at
//! `--prompt P --generate G`. Limits come from flags (`--max-decode-flops-per-token`,
//! `--max-kv-cache-bytes`, `--min-tokens-per-second`) and the budget file's `[llm]` table (the
//! flags win). Fails closed like the other FLOP limits: an uncostable node makes the FLOP and
//! tokens/s limits an error unless `--allow-unknown`.

use std::collections::HashMap;
use std::path::Path;

use super::eval::Check;
use super::units::group;
use crate::analysis::llm::{self, LlmOptions};
use crate::analysis::roofline::Device;
use crate::error::{Error, Location, Result};

/// One LLM limit and where it was set (`--max-kv-cache-bytes`, `budget.toml:7`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LlmLimit {
    pub value: u128,
    pub source: String,
}

/// The LLM limits in force and the generation they are measured at.
#[derive(Clone, Debug, Default)]
pub struct LlmLimits {
    pub prompt: Option<i64>,
    pub generate: Option<i64>,
    /// Most decode FLOPs per generated token (mean over the G steps).
    pub max_decode_flops_per_token: Option<LlmLimit>,
    /// Most KV-cache bytes at the context P + G (whole batch).
    pub max_kv_cache_bytes: Option<LlmLimit>,
    /// Fewest decode tokens per second on `device`.
    pub min_tokens_per_second: Option<LlmLimit>,
    pub device: Option<Device>,
}

impl LlmLimits {
    /// True when no LLM limit is set.
    pub fn is_empty(&self) -> bool {
        self.max_decode_flops_per_token.is_none()
            && self.max_kv_cache_bytes.is_none()
            && self.min_tokens_per_second.is_none()
    }

    /// `self` (the command line) over `file` (the budget file's `[llm]`): the flags win.
    pub fn over(&self, file: &LlmLimits) -> LlmLimits {
        LlmLimits {
            prompt: self.prompt.or(file.prompt),
            generate: self.generate.or(file.generate),
            max_decode_flops_per_token: self
                .max_decode_flops_per_token
                .clone()
                .or_else(|| file.max_decode_flops_per_token.clone()),
            max_kv_cache_bytes: self
                .max_kv_cache_bytes
                .clone()
                .or_else(|| file.max_kv_cache_bytes.clone()),
            min_tokens_per_second: self
                .min_tokens_per_second
                .clone()
                .or_else(|| file.min_tokens_per_second.clone()),
            device: self.device.clone().or_else(|| file.device.clone()),
        }
    }
}

fn clamp(v: u128) -> i128 {
    i128::try_from(v).unwrap_or(i128::MAX)
}

fn max_check(name: &str, value: i128, l: &LlmLimit, unit: &str, what: &str) -> Check {
    let limit = clamp(l.value);
    let pass = value <= limit;
    let message = if pass {
        format!(
            "{what}: {} {unit}, within the limit {} ({}) by {}",
            group(value),
            group(limit),
            l.source,
            group(limit - value)
        )
    } else {
        format!(
            "{what}: {} {unit}, over the limit {} ({}) by {}",
            group(value),
            group(limit),
            l.source,
            group(value - limit)
        )
    };
    Check {
        name: name.into(),
        value,
        limit,
        margin: limit - value,
        pass,
        source: l.source.clone(),
        message,
        matched: None,
    }
}

/// The LLM checks of one model (`dims`: the `--dim` and `[dims]` bindings in force).
pub fn checks(
    model: &Path,
    limits: &LlmLimits,
    dims: &HashMap<String, i64>,
    allow_unknown: bool,
    use_tract: bool,
) -> Result<(Vec<Check>, Vec<String>)> {
    let at = || Location {
        file: model.to_path_buf(),
        ..Default::default()
    };
    if let (Some(l), None) = (&limits.min_tokens_per_second, &limits.device) {
        return Err(Error::usage(
            "--min-tokens-per-second",
            format!(
                "({}) needs a device: --device NAME, or --peak-gflops X --bandwidth-gbs Y (or device in [llm])",
                l.source
            ),
        ));
    }
    let defaults = LlmOptions::default();
    let opts = LlmOptions {
        prompt: limits.prompt.unwrap_or(defaults.prompt),
        generate: limits.generate.unwrap_or(defaults.generate),
        batch: None,
        dims: dims.clone(),
        device: limits.device.clone(),
        use_tract,
    };
    let r = llm::analyse_path(model, &opts)?;
    let costing =
        limits.max_decode_flops_per_token.is_some() || limits.min_tokens_per_second.is_some();
    let mut notes = vec![];
    if let (Some(u), true) = (r.unknown.first(), costing) {
        if !allow_unknown {
            return Err(Error::invalid(
                Location {
                    node: Some(u.name.clone()),
                    op_type: Some(u.op_type.clone()),
                    ..at()
                },
                format!(
                    "cannot be costed ({}), so the LLM FLOP and tokens/s limits cannot be checked; --allow-unknown counts uncostable nodes as 0",
                    u.reason
                ),
            ));
        }
        notes.push(format!(
            "llm: {} nodes could not be costed and count 0 (--allow-unknown)",
            r.unknown.len()
        ));
    }
    let gen = format!("prompt {}, generate {}", r.prompt, r.generate);
    let mut out = vec![];
    if let Some(l) = &limits.max_decode_flops_per_token {
        // the exact mean, rounded up: a mean of 10.25 FLOPs is over a limit of 10
        let g = r.generate as i128;
        let mean_up = (r.decode.flops_total + g - 1) / g;
        out.push(max_check(
            "llm.max_decode_flops_per_token",
            mean_up,
            l,
            "FLOPs",
            &format!("decode FLOPs per token ({gen})"),
        ));
    }
    if let Some(l) = &limits.max_kv_cache_bytes {
        out.push(max_check(
            "llm.max_kv_cache_bytes",
            r.kv_cache.bytes_at_context,
            l,
            "bytes",
            &format!("KV cache at {} tokens", r.kv_cache.context),
        ));
    }
    if let Some(l) = &limits.min_tokens_per_second {
        let tps = r.decode.tokens_per_second.unwrap_or(0.0);
        let limit = clamp(l.value);
        let pass = tps >= limit as f64;
        let value = tps.floor() as i128;
        let device = limits
            .device
            .as_ref()
            .map(|d| d.name.as_str())
            .unwrap_or("");
        let message = format!(
            "decode tokens/s on {device} ({gen}): {tps:.2}, {} the minimum {} ({})",
            if pass { "at or above" } else { "below" },
            group(limit),
            l.source
        );
        out.push(Check {
            name: "llm.min_tokens_per_second".into(),
            value,
            limit,
            margin: value - limit,
            pass,
            source: l.source.clone(),
            message,
            matched: None,
        });
    }
    Ok((out, notes))
}
