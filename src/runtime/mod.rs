//! Running a model with tract (typed → optimized → runnable plan) on seeded random inputs, for
//! latency measurements ([`median_ms`]), and the `run` command's library ([`run`]). Every call
//! into tract is guarded: a panic becomes an error.

pub mod lower;
pub mod run;

use std::time::Instant;

use tract_onnx::prelude::*;

use crate::error::{Error, Result};
use crate::model::graph::TensorKind;
use crate::model::proto::data_type as dt;
use crate::util::rng::SplitMix64;

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
