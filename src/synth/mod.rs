//! Synthetic ONNX models: writes ResNet/ResNeXt graphs (torchvision's layout, node and
//! initializer names) straight into prost `ModelProto`s, with seeded random weights or with
//! no weights at all, so the profiler can be exercised on any depth × cardinality × width
//! without a hub, a Python install or a download.
//!
//! Layout: [`config`] ([`ResNeXtConfig`], [`parse_config_list`] for `compare --resnext
//! 1x64d,32x4d,…`), [`resnext`] (the architecture), [`builder`] (graph and initializer
//! construction), [`rng`] (seeded weight streams); this file holds [`to_bytes`],
//! [`learnable_params`] (the parameter-count rule the tests use) and [`write_model`], which
//! writes the file atomically.
//!
//! Architecture (torchvision.models.resnet, ResNet v1.5): stem conv 7×7/2 pad 3 (64 ch) →
//! BN → Relu → MaxPool 3×3/2 pad 1; four stages of Bottleneck blocks (expansion 4), stage i
//! with `planes = 64·2^i`, group width `(planes·D/64)·C`, blocks [3,4,6,3] / [3,4,23,3] /
//! [3,8,36,3]; the stride sits on the grouped 3×3 conv; the first block of each stage has a
//! 1×1 conv + BN downsample; GlobalAveragePool → Flatten → Gemm(transB=1). C=1, D=64 is
//! ResNet; C=1, D=128 is torchvision's wide_resnet.
//!
//! Weights: with `weights = true`, every initializer holds float32 `raw_data` drawn from a
//! SplitMix64 stream seeded by `(seed, initializer name)`, so a tensor's values do not depend
//! on which other tensors exist (a BN-folded model computes the same function as the unfolded
//! one with the same seed). With `weights = false` the initializers keep their dims and data
//! type but are marked `data_location = EXTERNAL` with `external_data location = "<none>"`: the
//! graph is structurally complete and cheap to make, and any tool that tries to read the
//! weights finds they are absent rather than silently reading zeros.

pub mod builder;
pub mod config;
pub mod llama;
pub mod resnext;
pub mod rng;

use std::path::Path;

use prost::Message;

use crate::model::proto::ModelProto;

pub use crate::error::SynthError;
pub use config::{parse_config_list, ResNeXtConfig};
pub use resnext::resnext;

/// ONNX IR version written.
pub const IR_VERSION: i64 = 8;
/// Default-domain opset written.
pub const OPSET: i64 = 17;
/// `external_data` location of an initializer whose values were not generated.
pub const ABSENT_LOCATION: &str = "<none>";
/// BatchNormalization epsilon (torch's default).
pub const BN_EPSILON: f32 = 1e-5;
/// Largest weight payload written into one file: a protobuf message cannot exceed 2 GiB,
/// so this keeps ~140 MB of headroom for the graph itself.
pub const MAX_WEIGHT_BYTES: u64 = 2_000_000_000;

// Ranges of the random BN statistics and affine parameters. The last BN of each residual
// branch (`bn3`) gets a smaller scale, so the sum along the identity path grows slowly and
// logits stay O(1)–O(10) even at depth 152.
const BN_SCALE: (f32, f32) = (0.5, 1.0);
const BN3_SCALE: (f32, f32) = (0.2, 0.4);
const BN_BIAS: (f32, f32) = (-0.1, 0.1);
const BN_MEAN: (f32, f32) = (0.0, 0.1);
const BN_VAR: (f32, f32) = (0.5, 1.5);

/// The protobuf encoding of `model`, ready to be written as a `.onnx` file.
pub fn to_bytes(model: &ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

/// Learnable parameters, the way `sum(p.numel() for p in model.parameters())` counts them in
/// torch: the element counts of every initializer named `*.weight` or `*.bias` (conv weights,
/// conv biases, BN scale and bias, fc weight and bias). BN `running_mean` / `running_var` are
/// buffers, not parameters, and are left out.
pub fn learnable_params(model: &ModelProto) -> u64 {
    model
        .graph
        .iter()
        .flat_map(|g| &g.initializer)
        .filter(|t| t.name.ends_with(".weight") || t.name.ends_with(".bias"))
        .map(|t| t.dims.iter().map(|&d| d.max(0) as u64).product::<u64>())
        .sum()
}

/// Synthesizes the model of `cfg`, writes it atomically to `path` (a failure leaves nothing
/// behind) and returns a one-line summary.
pub fn write_model(cfg: &ResNeXtConfig, path: &Path) -> Result<String, SynthError> {
    let model = resnext(cfg)?;
    let bytes = to_bytes(&model);
    crate::util::fs::write_atomic(path, &bytes).map_err(|source| SynthError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let graph = model.graph.as_ref();
    Ok(format!(
        "wrote {} ({}{}): {} params, {} nodes, {} initializers, {} → {}",
        cfg.arch_name(),
        if cfg.weights {
            format!("random weights, seed {}", cfg.seed)
        } else {
            "no weights".into()
        },
        if cfg.fold_bn { ", BN folded" } else { "" },
        group_digits(learnable_params(&model)),
        graph.map_or(0, |g| g.node.len()),
        graph.map_or(0, |g| g.initializer.len()),
        human_bytes(bytes.len() as u64),
        path.display()
    ))
}

fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn human_bytes(n: u64) -> String {
    match n {
        0..1_000 => format!("{n} B"),
        1_000..1_000_000 => format!("{:.1} kB", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        _ => format!("{:.2} GB", n as f64 / 1e9),
    }
}

#[cfg(test)]
mod tests;
