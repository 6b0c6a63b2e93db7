//! The ResNet/ResNeXt graph (torchvision's architecture, node and initializer names): stem,
//! four stages of Bottleneck blocks, head; see the `synth` module documentation.

use super::builder::*;
use super::*;
use crate::model::proto::{GraphProto, ModelProto, OperatorSetIdProto, StringStringEntryProto};

/// Builds the model described by `cfg`.
pub fn resnext(cfg: &ResNeXtConfig) -> Result<ModelProto, SynthError> {
    let layers = cfg.validate()?;
    let mut b = Builder {
        fold_bn: cfg.fold_bn,
        nodes: Vec::with_capacity(600),
        pending: Vec::with_capacity(900),
    };

    // Stem.
    let mut x = b.conv_bn(
        "input",
        &ConvSpec {
            node: "/conv1".into(),
            param: "conv1".into(),
            bn_node: "/bn1".into(),
            bn_param: "bn1".into(),
        },
        3,
        64,
        7,
        2,
        1,
    );
    x = b.unary("/relu/Relu", "Relu", &x, vec![]);
    x = b.unary(
        "/maxpool/MaxPool",
        "MaxPool",
        &x,
        vec![
            attr_int("ceil_mode", 0),
            attr_ints("dilations", &[1, 1]),
            attr_ints("kernel_shape", &[3, 3]),
            attr_ints("pads", &[1, 1, 1, 1]),
            attr_ints("strides", &[2, 2]),
        ],
    );

    // Stages.
    let c = u64::from(cfg.cardinality);
    let mut inplanes: u64 = 64;
    for (stage, &blocks) in layers.iter().enumerate() {
        let planes = 64u64 << stage;
        let width = (planes * u64::from(cfg.width) / 64) * c;
        let out = planes * 4;
        let stride = if stage == 0 { 1 } else { 2 };
        let layer = format!("layer{}", stage + 1);
        for block in 0..blocks {
            let s = if block == 0 { stride } else { 1 };
            let scope = format!("/{layer}/{layer}.{block}");
            let prefix = format!("{layer}.{block}");
            x = b.bottleneck(&x, &scope, &prefix, inplanes, width, out, c, s, block == 0);
            inplanes = out;
        }
    }

    // Head.
    x = b.unary(
        "/avgpool/GlobalAveragePool",
        "GlobalAveragePool",
        &x,
        vec![],
    );
    x = b.unary("/Flatten", "Flatten", &x, vec![attr_int("axis", 1)]);
    let classes = u64::from(cfg.classes);
    let fan_in = inplanes;
    let bound = 1.0 / (fan_in as f32).sqrt();
    b.tensor(
        "fc.weight",
        &[classes, inplanes],
        Init::Uniform(-bound, bound),
    );
    b.tensor("fc.bias", &[classes], Init::Uniform(-bound, bound));
    b.nodes.push(node(
        "/fc/Gemm",
        "Gemm",
        vec![x, "fc.weight".into(), "fc.bias".into()],
        "logits".into(),
        vec![
            attr_float("alpha", 1.0),
            attr_float("beta", 1.0),
            attr_int("transB", 1),
        ],
    ));

    let arch = cfg.arch_name();
    if cfg.weights {
        let bytes: u64 = b.pending.iter().map(|p| 4 * p.numel()).sum();
        if bytes > MAX_WEIGHT_BYTES {
            return Err(SynthError::TooLarge {
                arch,
                bytes,
                limit: MAX_WEIGHT_BYTES,
            });
        }
    }
    let initializer = b
        .pending
        .iter()
        .map(|p| p.materialize(cfg.weights, cfg.seed))
        .collect();

    let batch = match cfg.batch {
        Some(n) => dim_value(n as i64),
        None => dim_param("N"),
    };
    let side = i64::from(cfg.input);
    let input = value_info(
        "input",
        vec![
            batch.clone(),
            dim_value(3),
            dim_value(side),
            dim_value(side),
        ],
    );
    let output = value_info("logits", vec![batch, dim_value(classes as i64)]);

    let meta = |k: &str, v: String| StringStringEntryProto {
        key: k.into(),
        value: v,
    };
    Ok(ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "onnxscope".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!(
            "synthetic {arch} (torchvision layout){}, {}",
            if cfg.fold_bn { ", BN folded" } else { "" },
            if cfg.weights {
                format!("random weights, seed {}", cfg.seed)
            } else {
                "weights absent (external location \"<none>\")".into()
            }
        ),
        metadata_props: vec![
            meta("synth.arch", arch.clone()),
            meta("synth.fold_bn", cfg.fold_bn.to_string()),
            meta(
                "synth.weights",
                if cfg.weights { "random" } else { "absent" }.into(),
            ),
            meta("synth.seed", cfg.seed.to_string()),
        ],
        graph: Some(GraphProto {
            node: b.nodes,
            name: arch,
            initializer,
            input: vec![input],
            output: vec![output],
            ..Default::default()
        }),
        ..Default::default()
    })
}
