//! Training budgets per step: memory (weights, gradients, master weights, optimizer state,
//! activations kept for the backward pass) and FLOPs (forward, backward, optimizer update).
//!
//! **Trainable parameters** P: every floating-point parameter of the profile (`memory.
//! params_by_dtype`, the parameter rule: BatchNorm running statistics are buffers and are not
//! counted). Integer (quantized) tensors are not trainable and are left out.
//!
//! **Memory**, bytes per trainable parameter:
//!
//! | dtype | weights | gradients | fp32 master | each state tensor |
//! |---|---|---|---|---|
//! | fp32 | 4 | 4 | – | 4 |
//! | fp16, bf16 | 2 | 2 | – | 2 |
//! | mixed | 2 | 2 | 4 | 4 |
//!
//! State tensors: SGD 0, momentum 1 (velocity), RMSprop 1 (square average), Adam and AdamW 2
//! (first and second moments). Activations kept for the backward pass: every node output of the
//! forward pass plus the graph inputs, at the profiled batch, floating-point tensors in the
//! training dtype (fp32: 4 bytes, fp16/bf16/mixed: 2), other tensors at their own size. Transient
//! buffers (activation gradients, workspaces) and allocator overhead are not counted.
//!
//! **FLOPs** per step = forward + backward + optimizer. Backward: 2× the forward FLOPs of every
//! node with multiply-accumulates (conv/matmul-like: the input gradient and the weight gradient
//! each cost about one forward), 1× for the rest (element-wise, pooling, normalisation). The
//! optimizer update is counted per parameter from its formulas (see `Optimizer::flops_per_param`);
//! per-step scalars (lr·λ, 1 − βᵗ) are computed once per step and not counted per parameter.

use serde::Serialize;

use super::memory::{bytes_of, dtype_of_name, is_float};
use super::Profile;
use crate::error::{Error, Result};
use crate::model::graph::TensorKind;
use crate::model::shapes::ShapeOptions;
use crate::model::Model;
use crate::sym::Count;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    Sgd,
    Momentum,
    Rmsprop,
    #[default]
    Adam,
    Adamw,
}

crate::choices!(Optimizer {
    "sgd" => Optimizer::Sgd,
    "momentum" => Optimizer::Momentum,
    "rmsprop" => Optimizer::Rmsprop,
    "adam" => Optimizer::Adam,
    "adamw" => Optimizer::Adamw,
});

impl Optimizer {
    pub fn name(self) -> &'static str {
        match self {
            Optimizer::Sgd => "sgd",
            Optimizer::Momentum => "momentum",
            Optimizer::Rmsprop => "rmsprop",
            Optimizer::Adam => "adam",
            Optimizer::Adamw => "adamw",
        }
    }
    /// State tensors kept per parameter.
    pub fn state_tensors(self) -> i128 {
        match self {
            Optimizer::Sgd => 0,
            Optimizer::Momentum | Optimizer::Rmsprop => 1,
            Optimizer::Adam | Optimizer::Adamw => 2,
        }
    }
    /// Arithmetic per parameter per step, counted from the update formulas:
    ///
    /// - SGD: p ← p − lr·g: 1 mul + 1 sub = **2**.
    /// - Momentum: v ← β·v + (1−β)·g: 2 mul + 1 add = 3; p ← p − lr·v: 2; **5**.
    /// - RMSprop: s ← β·s + (1−β)·g²: g² 1, 2 mul, 1 add = 4; p ← p − lr·g/(√s + ε): sqrt 1,
    ///   add ε 1, div 1, mul lr 1, sub 1 = 5; **9**.
    /// - Adam: m ← β₁m + (1−β₁)g: 3; v ← β₂v + (1−β₂)g²: 4; m̂ = m/(1−β₁ᵗ): 1;
    ///   v̂ = v/(1−β₂ᵗ): 1; p ← p − lr·m̂/(√v̂ + ε): 5; **14**.
    /// - AdamW: Adam + decoupled weight decay p ← p − (lr·λ)·p: 1 mul + 1 sub; **16**.
    pub fn flops_per_param(self) -> i128 {
        match self {
            Optimizer::Sgd => 2,
            Optimizer::Momentum => 3 + 2,
            Optimizer::Rmsprop => 4 + 5,
            Optimizer::Adam => 3 + 4 + 1 + 1 + 5,
            Optimizer::Adamw => 3 + 4 + 1 + 1 + 5 + 2,
        }
    }
    pub fn update_rule(self) -> &'static str {
        match self {
            Optimizer::Sgd => "p -= lr*g",
            Optimizer::Momentum => "v = b*v + (1-b)*g; p -= lr*v",
            Optimizer::Rmsprop => "s = b*s + (1-b)*g^2; p -= lr*g/(sqrt(s)+eps)",
            Optimizer::Adam => {
                "m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; mh = m/(1-b1^t); vh = v/(1-b2^t); \
                 p -= lr*mh/(sqrt(vh)+eps)"
            }
            Optimizer::Adamw => {
                "m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; mh = m/(1-b1^t); vh = v/(1-b2^t); \
                 p -= lr*mh/(sqrt(vh)+eps); p -= (lr*wd)*p"
            }
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrainDtype {
    #[default]
    Fp32,
    Fp16,
    Bf16,
    /// fp16 weights and gradients, an fp32 master copy, fp32 optimizer state.
    Mixed,
}

crate::choices!(TrainDtype {
    "fp32" => TrainDtype::Fp32,
    "fp16" => TrainDtype::Fp16,
    "bf16" => TrainDtype::Bf16,
    "mixed" => TrainDtype::Mixed;
        "fp16 weights and gradients, an fp32 master copy, fp32 optimizer state",
});

impl TrainDtype {
    pub fn name(self) -> &'static str {
        match self {
            TrainDtype::Fp32 => "fp32",
            TrainDtype::Fp16 => "fp16",
            TrainDtype::Bf16 => "bf16",
            TrainDtype::Mixed => "mixed",
        }
    }
    /// Bytes per parameter: (weights, gradients, fp32 master copy, each state tensor).
    pub fn param_bytes(self) -> (i128, i128, i128, i128) {
        match self {
            TrainDtype::Fp32 => (4, 4, 0, 4),
            TrainDtype::Fp16 | TrainDtype::Bf16 => (2, 2, 0, 2),
            TrainDtype::Mixed => (2, 2, 4, 4),
        }
    }
    /// Bytes of a floating-point activation element.
    pub fn activation_bytes(self) -> i128 {
        match self {
            TrainDtype::Fp32 => 4,
            _ => 2,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct TrainOptions {
    pub optimizer: Optimizer,
    pub dtype: TrainDtype,
    /// The batch the profile was taken at (`--batch`), when given.
    pub batch: Option<i64>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct TrainingBytes {
    pub weights: Count,
    pub gradients: Count,
    pub master_weights: Count,
    pub optimizer_state: Count,
    pub activations: Count,
    pub total: Count,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct TrainingFlops {
    pub forward: Count,
    pub backward: Count,
    pub optimizer: Count,
    pub total: Count,
}

/// JSON `training`.
#[derive(Clone, Debug, Serialize)]
pub struct TrainingReport {
    pub optimizer: Optimizer,
    pub dtype: TrainDtype,
    /// The batch given with `--batch` (null: the batch the model was profiled at).
    pub batch: Option<i64>,
    pub trainable_params: Count,
    pub optimizer_state_tensors: i128,
    /// Weights + gradients + master + state, per trainable parameter (activations excluded).
    pub bytes_per_param: i128,
    pub bytes: TrainingBytes,
    /// The "16 bytes per parameter" Adam rule of thumb: 16·P (no activations).
    pub rule_of_thumb_bytes: Count,
    pub flops: TrainingFlops,
    pub optimizer_flops_per_param: i128,
    pub update_rule: String,
    pub conventions: Vec<String>,
}

/// Training memory and FLOPs of a profiled model (taken at the training batch).
pub fn estimate(p: &Profile, o: &TrainOptions) -> TrainingReport {
    let trainable = p
        .memory
        .as_ref()
        .map(|m| {
            Count::sum(
                m.params_by_dtype
                    .iter()
                    .filter(|(k, _)| is_float(dtype_of_name(k)))
                    .map(|(_, v)| v),
            )
        })
        .unwrap_or_default();
    let (w, g, master, state) = o.dtype.param_bytes();
    let k = o.optimizer.state_tensors();
    let act_elem = o.dtype.activation_bytes();
    // Activations kept: every node output (not Constants) plus the graph inputs.
    let tensor_bytes = |shape: Option<&[Count]>, dtype: &str| -> Count {
        let Some(s) = shape else {
            return Count::zero();
        };
        let elems = Count::product(s);
        let t = dtype_of_name(dtype);
        if is_float(t) || t == 0 {
            &elems * act_elem
        } else {
            bytes_of(&elems, t)
        }
    };
    let mut activations = Count::zero();
    let mut n_unsized = 0usize;
    for n in &p.nodes {
        if n.op_type == crate::ops::shape_ops::CONSTANT {
            continue;
        }
        for t in &n.outputs {
            if t.name.is_empty() {
                continue;
            }
            if t.shape.is_none() {
                n_unsized += 1;
            }
            activations = &activations + &tensor_bytes(t.shape.as_deref(), t.dtype);
        }
    }
    if let Some(m) = &p.memory {
        for i in &m.inputs {
            let t = dtype_of_name(&i.dtype);
            let b = if is_float(t) || t == 0 {
                &i.elements * act_elem
            } else {
                i.bytes.clone()
            };
            activations = &activations + &b;
        }
    }
    let bytes = {
        let weights = &trainable * w;
        let gradients = &trainable * g;
        let master_weights = &trainable * master;
        let optimizer_state = &trainable * (k * state);
        let total = Count::sum([
            &weights,
            &gradients,
            &master_weights,
            &optimizer_state,
            &activations,
        ]);
        TrainingBytes {
            weights,
            gradients,
            master_weights,
            optimizer_state,
            activations,
            total,
        }
    };
    let forward = p.totals.flops.clone();
    let backward = Count::sum(
        &p.nodes
            .iter()
            .map(|n| {
                if n.macs.is_zero() {
                    n.flops.clone()
                } else {
                    &n.flops * 2
                }
            })
            .collect::<Vec<_>>(),
    );
    let per_param = o.optimizer.flops_per_param();
    let optimizer = &trainable * per_param;
    let total = Count::sum([&forward, &backward, &optimizer]);
    let mut conventions = vec![
        "activations kept for backward: every node output of the forward pass plus the graph \
         inputs, at the profiled batch; float tensors in the training dtype"
            .to_string(),
        "backward FLOPs: 2x forward for nodes with multiply-accumulates (input and weight \
         gradients), 1x for the rest"
            .to_string(),
        format!(
            "optimizer FLOPs: {per_param} per parameter ({})",
            o.optimizer.update_rule()
        ),
    ];
    if n_unsized > 0 {
        conventions.push(format!(
            "{n_unsized} node outputs of unknown shape count 0 activation bytes"
        ));
    }
    TrainingReport {
        optimizer: o.optimizer,
        dtype: o.dtype,
        batch: o.batch,
        rule_of_thumb_bytes: &trainable * 16,
        bytes_per_param: w + g + master + k * state,
        trainable_params: trainable,
        optimizer_state_tensors: k,
        bytes,
        flops: TrainingFlops {
            forward,
            backward,
            optimizer,
            total,
        },
        optimizer_flops_per_param: per_param,
        update_rule: o.optimizer.update_rule().to_string(),
        conventions,
    }
}

/// Estimates training from a profile and joins the estimate into it.
pub fn apply(p: &mut Profile, o: &TrainOptions) {
    let t = estimate(p, o);
    p.join_training(t);
}

/// Sets the shape options so the model is profiled at batch `batch`: the symbolic leading dim
/// of every graph input is bound to it (`--dim`), and an input exported with a fixed leading 1
/// (rank ≥ 2) is re-shaped with `batch` in front (`--input`). Other fixed leading dims are left
/// alone; the returned notes say so.
pub fn bind_batch(model: &Model, shapes: &mut ShapeOptions, batch: i64) -> Result<Vec<String>> {
    if batch <= 0 {
        return Err(Error::usage(
            "--batch",
            format!("{batch}: the batch must be positive"),
        ));
    }
    let g = &model.graph;
    let mut notes = vec![];
    for &t in &g.inputs {
        let tensor = &g.tensors[t];
        if tensor.kind != TensorKind::Input {
            continue;
        }
        if let Some(forced) = shapes.inputs.get(&tensor.name) {
            if forced.first().is_some_and(|d| *d != batch) {
                return Err(Error::usage(
                    "--batch",
                    format!(
                        "--batch {batch} conflicts with --input {}={}",
                        tensor.name,
                        forced
                            .iter()
                            .map(|d| d.to_string())
                            .collect::<Vec<_>>()
                            .join("x")
                    ),
                ));
            }
            continue;
        }
        let Some(shape) = &tensor.declared else {
            continue;
        };
        let Some(first) = shape.first() else {
            continue;
        };
        let syms = first.symbols();
        if first.as_int().is_none() && syms.len() == 1 && *first == Count::sym(&syms[0]) {
            let s = &syms[0];
            match shapes.dims.get(s) {
                Some(v) if *v != batch => {
                    return Err(Error::usage(
                        "--batch",
                        format!("--batch {batch} conflicts with --dim {s}={v}"),
                    ))
                }
                _ => {
                    shapes.dims.insert(s.clone(), batch);
                }
            }
        } else if first.as_int() == Some(1) && shape.len() >= 2 && batch != 1 {
            let rest: Option<Vec<i64>> = shape[1..]
                .iter()
                .map(|d| d.bind(&shapes.dims).as_int().map(|v| v as i64))
                .collect();
            match rest {
                Some(rest) => {
                    let mut s = vec![batch];
                    s.extend(rest);
                    shapes.inputs.insert(tensor.name.clone(), s);
                    notes.push(format!(
                        "--batch: input '{}' has a fixed batch of 1; re-shaped with {batch}",
                        tensor.name
                    ));
                }
                None => notes.push(format!(
                    "--batch: input '{}' has a fixed batch of 1 and symbolic dims; give its shape with --input",
                    tensor.name
                )),
            }
        } else if first.as_int() != Some(batch as i128) {
            notes.push(format!(
                "--batch: input '{}' has leading dim {first}, left as it is",
                tensor.name
            ));
        }
    }
    Ok(notes)
}
