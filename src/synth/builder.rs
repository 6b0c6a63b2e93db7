//! Graph building: conv/BN pairs, initializers drawn or marked absent, BN folding, and the
//! small protobuf constructors (nodes, attributes, dims, value infos).

use bytes::Bytes;

use super::rng::uniform;
use super::*;
use crate::model::proto::{
    attribute_type, data_type, tensor_shape_proto, type_proto, AttributeProto, NodeProto,
    StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
    DATA_LOCATION_EXTERNAL,
};

/// Names of one conv (+ BN) pair: node scopes (`/layer1/layer1.0/conv1`) and parameter
/// prefixes (`layer1.0.conv1`).
pub(super) struct ConvSpec {
    pub(super) node: String,
    pub(super) param: String,
    pub(super) bn_node: String,
    pub(super) bn_param: String,
}

/// How an initializer's values are drawn.
pub(super) enum Init {
    /// Uniform on `[lo, hi)`.
    Uniform(f32, f32),
    /// Conv weight uniform on `±bound`, then scaled per output channel by the BN `bn`.
    FoldedWeight { bound: f32, bn: String },
    /// `beta - mean·gamma/sqrt(var+eps)` of the BN `bn`.
    FoldedBias { bn: String },
}

pub(super) struct Pending {
    pub(super) name: String,
    pub(super) dims: Vec<i64>,
    pub(super) init: Init,
}

impl Pending {
    pub(super) fn numel(&self) -> u64 {
        self.dims.iter().map(|&d| d as u64).product()
    }

    pub(super) fn materialize(&self, weights: bool, seed: u64) -> TensorProto {
        let mut t = TensorProto {
            name: self.name.clone(),
            dims: self.dims.clone(),
            data_type: data_type::FLOAT,
            ..Default::default()
        };
        if !weights {
            t.data_location = DATA_LOCATION_EXTERNAL;
            t.external_data = vec![StringStringEntryProto {
                key: "location".into(),
                value: ABSENT_LOCATION.into(),
            }];
            return t;
        }
        let n = self.numel() as usize;
        let values = match &self.init {
            Init::Uniform(lo, hi) => uniform(seed, &self.name, n, *lo, *hi),
            Init::FoldedWeight { bound, bn } => {
                let mut w = uniform(seed, &self.name, n, -bound, *bound);
                let co = self.dims[0] as usize;
                let per = n / co;
                let (scale, _) = bn_fold(seed, bn, co);
                for (chunk, s) in w.chunks_exact_mut(per).zip(&scale) {
                    for v in chunk {
                        *v = (f64::from(*v) * s) as f32;
                    }
                }
                w
            }
            Init::FoldedBias { bn } => bn_fold(seed, bn, n).1,
        };
        let mut raw = Vec::with_capacity(4 * n);
        for v in values {
            raw.extend_from_slice(&v.to_le_bytes());
        }
        t.raw_data = Bytes::from(raw);
        t
    }
}

pub(super) fn bn_scale_range(bn: &str) -> (f32, f32) {
    if bn.ends_with(".bn3") {
        BN3_SCALE
    } else {
        BN_SCALE
    }
}

/// Per-channel `(gamma/sqrt(var+eps), beta - mean·gamma/sqrt(var+eps))` of the BN whose
/// parameters are named `{bn}.weight`, `{bn}.bias`, `{bn}.running_mean`, `{bn}.running_var`,
/// drawn exactly as the unfolded model draws them.
pub(super) fn bn_fold(seed: u64, bn: &str, c: usize) -> (Vec<f64>, Vec<f32>) {
    let (lo, hi) = bn_scale_range(bn);
    let gamma = uniform(seed, &format!("{bn}.weight"), c, lo, hi);
    let beta = uniform(seed, &format!("{bn}.bias"), c, BN_BIAS.0, BN_BIAS.1);
    let mean = uniform(seed, &format!("{bn}.running_mean"), c, BN_MEAN.0, BN_MEAN.1);
    let var = uniform(seed, &format!("{bn}.running_var"), c, BN_VAR.0, BN_VAR.1);
    let scale: Vec<f64> = (0..c)
        .map(|i| f64::from(gamma[i]) / (f64::from(var[i]) + f64::from(BN_EPSILON)).sqrt())
        .collect();
    let bias = (0..c)
        .map(|i| (f64::from(beta[i]) - f64::from(mean[i]) * scale[i]) as f32)
        .collect();
    (scale, bias)
}

pub(super) struct Builder {
    pub(super) fold_bn: bool,
    pub(super) nodes: Vec<NodeProto>,
    pub(super) pending: Vec<Pending>,
}

impl Builder {
    pub(super) fn tensor(&mut self, name: &str, dims: &[u64], init: Init) {
        self.pending.push(Pending {
            name: name.into(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            init,
        });
    }

    pub(super) fn unary(
        &mut self,
        name: &str,
        op: &str,
        x: &str,
        attrs: Vec<AttributeProto>,
    ) -> String {
        let out = format!("{name}_output_0");
        self.nodes
            .push(node(name, op, vec![x.into()], out.clone(), attrs));
        out
    }

    /// Conv (no bias) + BatchNormalization, or one Conv with the BN folded in.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn conv_bn(
        &mut self,
        x: &str,
        spec: &ConvSpec,
        ci: u64,
        co: u64,
        k: u64,
        stride: i64,
        group: u64,
    ) -> String {
        let pad = (k / 2) as i64;
        let fan_in = ci / group * k * k;
        let bound = (6.0 / fan_in as f32).sqrt(); // Kaiming uniform: Var = 2 / fan_in
        let weight = format!("{}.weight", spec.param);
        let dims = [co, ci / group, k, k];
        let mut inputs = vec![x.to_string(), weight.clone()];
        if self.fold_bn {
            let bn = spec.bn_param.clone();
            let bias = format!("{}.bias", spec.param);
            self.tensor(
                &weight,
                &dims,
                Init::FoldedWeight {
                    bound,
                    bn: bn.clone(),
                },
            );
            self.tensor(&bias, &[co], Init::FoldedBias { bn });
            inputs.push(bias);
        } else {
            self.tensor(&weight, &dims, Init::Uniform(-bound, bound));
        }
        let conv = format!("{}/Conv", spec.node);
        let conv_out = format!("{conv}_output_0");
        self.nodes.push(node(
            &conv,
            "Conv",
            inputs,
            conv_out.clone(),
            vec![
                attr_ints("dilations", &[1, 1]),
                attr_int("group", group as i64),
                attr_ints("kernel_shape", &[k as i64, k as i64]),
                attr_ints("pads", &[pad, pad, pad, pad]),
                attr_ints("strides", &[stride, stride]),
            ],
        ));
        if self.fold_bn {
            return conv_out;
        }
        let p = &spec.bn_param;
        let names = [
            format!("{p}.weight"),
            format!("{p}.bias"),
            format!("{p}.running_mean"),
            format!("{p}.running_var"),
        ];
        for (name, (lo, hi)) in names
            .iter()
            .zip([bn_scale_range(p), BN_BIAS, BN_MEAN, BN_VAR])
        {
            self.tensor(name, &[co], Init::Uniform(lo, hi));
        }
        let bn = format!("{}/BatchNormalization", spec.bn_node);
        let bn_out = format!("{bn}_output_0");
        let mut inputs = vec![conv_out];
        inputs.extend(names);
        self.nodes.push(node(
            &bn,
            "BatchNormalization",
            inputs,
            bn_out.clone(),
            vec![
                attr_float("epsilon", BN_EPSILON),
                attr_float("momentum", 0.9),
            ],
        ));
        bn_out
    }

    /// One torchvision Bottleneck: 1×1 → grouped 3×3 (stride) → 1×1, plus the residual.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn bottleneck(
        &mut self,
        x: &str,
        scope: &str,
        prefix: &str,
        inplanes: u64,
        width: u64,
        out: u64,
        groups: u64,
        stride: i64,
        downsample: bool,
    ) -> String {
        let spec = |conv: &str, bn: &str| ConvSpec {
            node: format!("{scope}/{conv}"),
            param: format!("{prefix}.{conv}"),
            bn_node: format!("{scope}/{bn}"),
            bn_param: format!("{prefix}.{bn}"),
        };
        let mut y = self.conv_bn(x, &spec("conv1", "bn1"), inplanes, width, 1, 1, 1);
        y = self.unary(&format!("{scope}/relu/Relu"), "Relu", &y, vec![]);
        y = self.conv_bn(&y, &spec("conv2", "bn2"), width, width, 3, stride, groups);
        y = self.unary(&format!("{scope}/relu_1/Relu"), "Relu", &y, vec![]);
        y = self.conv_bn(&y, &spec("conv3", "bn3"), width, out, 1, 1, 1);
        let identity = if downsample {
            let ds = ConvSpec {
                node: format!("{scope}/downsample/downsample.0"),
                param: format!("{prefix}.downsample.0"),
                bn_node: format!("{scope}/downsample/downsample.1"),
                bn_param: format!("{prefix}.downsample.1"),
            };
            self.conv_bn(x, &ds, inplanes, out, 1, stride, 1)
        } else {
            x.to_string()
        };
        let add = format!("{scope}/Add");
        let add_out = format!("{add}_output_0");
        self.nodes.push(node(
            &add,
            "Add",
            vec![y, identity],
            add_out.clone(),
            vec![],
        ));
        self.unary(&format!("{scope}/relu_2/Relu"), "Relu", &add_out, vec![])
    }
}

pub(super) fn node(
    name: &str,
    op: &str,
    input: Vec<String>,
    output: String,
    attribute: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        input,
        output: vec![output],
        name: name.into(),
        op_type: op.into(),
        attribute,
        ..Default::default()
    }
}

pub(super) fn attr_int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INT,
        i,
        ..Default::default()
    }
}

pub(super) fn attr_ints(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INTS,
        ints: ints.to_vec(),
        ..Default::default()
    }
}

pub(super) fn attr_float(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::FLOAT,
        f,
        ..Default::default()
    }
}

pub(super) fn dim_value(v: i64) -> tensor_shape_proto::Dimension {
    tensor_shape_proto::Dimension {
        value: Some(tensor_shape_proto::dimension::Value::DimValue(v)),
        ..Default::default()
    }
}

pub(super) fn dim_param(p: &str) -> tensor_shape_proto::Dimension {
    tensor_shape_proto::Dimension {
        value: Some(tensor_shape_proto::dimension::Value::DimParam(p.into())),
        ..Default::default()
    }
}

pub(super) fn value_info(name: &str, dim: Vec<tensor_shape_proto::Dimension>) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: data_type::FLOAT,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}
