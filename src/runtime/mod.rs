//! Running a model with tract (typed → optimized → runnable plan) on seeded random inputs, for
//! latency measurements. Every call into tract is guarded: a panic becomes an error.

pub mod lower;
pub mod run;

use std::time::Instant;

use tract_onnx::prelude::*;

use crate::compare::{CompareArgs, Entry};
use crate::error::{Error, Result};
use crate::model::graph::TensorKind;
use crate::model::proto::data_type as dt;

/// SplitMix64: a small, seeded, reproducible generator for input data.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    pub fn next_f32(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

fn tract_err(path: &str, e: impl std::fmt::Display) -> Error {
    Error::Run {
        path: path.into(),
        reason: e.to_string(),
    }
}

/// Concrete input shapes (unbound symbols at 1) and element types of a model's inputs.
fn input_specs(
    model: &crate::model::Model,
    dims: &std::collections::HashMap<String, i64>,
) -> Vec<(Vec<usize>, i32)> {
    let ones: std::collections::HashMap<String, i64> = model
        .graph
        .inputs
        .iter()
        .flat_map(|i| {
            model.graph.tensors[*i]
                .declared
                .iter()
                .flatten()
                .flat_map(|d| d.symbols())
        })
        .map(|s| (s.clone(), dims.get(&s).copied().unwrap_or(1)))
        .collect();
    model
        .graph
        .inputs
        .iter()
        .filter(|i| model.graph.tensors[**i].kind == TensorKind::Input)
        .map(|i| {
            let t = &model.graph.tensors[*i];
            let shape = t
                .declared
                .as_ref()
                .map(|s| {
                    s.iter()
                        .map(|d| d.bind(&ones).as_int().unwrap_or(1).max(1) as usize)
                        .collect()
                })
                .unwrap_or_default();
            (shape, t.dtype)
        })
        .collect()
}

/// Median wall time in ms of `repeat` runs of the model in `bytes` on seeded random inputs.
pub fn median_ms(
    bytes: &[u8],
    path: &str,
    model: &crate::model::Model,
    dims: &std::collections::HashMap<String, i64>,
    repeat: usize,
    seed: u64,
) -> Result<f64> {
    let specs = input_specs(model, dims);
    let path_s = path.to_string();
    let r = crate::model::shapes::guard(move || -> Result<f64> {
        let mut reader = bytes;
        let mut m = tract_onnx::onnx()
            .model_for_read(&mut reader)
            .map_err(|e| tract_err(&path_s, format!("{e:#}")))?;
        let mut rng = SplitMix64(seed);
        let mut inputs: TVec<TValue> = tvec![];
        for (ix, (shape, dtype)) in specs.iter().enumerate() {
            if *dtype != dt::FLOAT && *dtype != 0 {
                return Err(tract_err(
                    &path_s,
                    format!("input {ix}: only float32 inputs are generated for measurements"),
                ));
            }
            m.set_input_fact(ix, f32::fact(shape).into())
                .map_err(|e| tract_err(&path_s, e))?;
            let n: usize = shape.iter().product();
            let data: Vec<f32> = (0..n).map(|_| rng.next_f32()).collect();
            let t = tract_ndarray::ArrayD::from_shape_vec(shape.clone(), data)
                .map_err(|e| tract_err(&path_s, e))?;
            inputs.push(Tensor::from(t).into());
        }
        let plan = m
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(|e| tract_err(&path_s, format!("{e:#}")))?;
        // one warm-up run, then the timed ones
        plan.run(inputs.clone())
            .map_err(|e| tract_err(&path_s, format!("{e:#}")))?;
        let mut times = Vec::with_capacity(repeat);
        for _ in 0..repeat.max(1) {
            let t = Instant::now();
            plan.run(inputs.clone())
                .map_err(|e| tract_err(&path_s, format!("{e:#}")))?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        Ok(times[times.len() / 2])
    });
    r.map_err(|e| tract_err(path, e))?
}

/// Measures every entry of a comparison (files from disk; `--resnext` configurations re-synthesized
/// with weights), with a progress bar on stderr.
pub fn measure_entries(entries: &mut [Entry], a: &CompareArgs) -> Result<()> {
    let dims = a.shapes.to_options()?.dims;
    let bar = indicatif::ProgressBar::new(entries.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len}")
            .expect("template")
            .progress_chars("=> "),
    );
    for e in entries.iter_mut() {
        bar.set_message(e.label.clone());
        let bytes: Vec<u8> = if let Some(rest) = e.path.strip_prefix("synth:") {
            let (card, width) =
                crate::synth::parse_config_list(rest.rsplit('_').next().unwrap_or(""))?
                    .into_iter()
                    .next()
                    .ok_or_else(|| Error::usage("--resnext", "empty configuration"))?;
            let mut cfg = crate::synth::ResNeXtConfig::resnext(a.depth, card, width);
            cfg.weights = true;
            crate::synth::to_bytes(&crate::synth::resnext(&cfg)?)
        } else {
            std::fs::read(&e.path).map_err(|source| Error::Io {
                path: e.path.clone().into(),
                source,
            })?
        };
        let model = crate::model::load_bytes(std::path::Path::new(&e.path), bytes.clone().into())?;
        if !model.missing_external.is_empty() {
            return Err(Error::Run {
                path: e.path.clone(),
                reason: format!("weights absent ({} tensors, e.g. '{}'): a model without its weights cannot run", model.missing_external.len(), model.missing_external[0]),
            });
        }
        e.measured_ms = Some(median_ms(&bytes, &e.path, &model, &dims, a.repeat, 0)?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}
