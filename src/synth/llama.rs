//! Synthetic Llama-family decoders in the onnxruntime-genai layout (`synth llama`): the graph
//! the model builder writes for Llama/Mistral-style configurations, without a hub, a Python
//! install or the weights, so that an 8B-shaped model is a file of a few hundred kB.
//!
//! Layout (as the builder emits it, see `models/llm/INVENTORY.md`): inputs `input_ids`
//! [batch_size, sequence_length], `attention_mask` [batch_size, total_sequence_length],
//! `past_key_values.{l}.key|value` [batch_size, kv_heads, past_sequence_length, head_size];
//! outputs `logits` and `present.{l}.key|value`. `seqlens_k` = ReduceSum(mask) − 1 and
//! `total_sequence_length` = Shape(mask)[1] as int32. Embedding `Gather`; per layer an RMS
//! norm (`SimplifiedLayerNormalization` first, then `SkipSimplifiedLayerNormalization` carrying
//! the residual), one packed QKV projection, `GroupQueryAttention` (packed QKV, rotary from
//! `cos_cache`/`sin_cache` [max_position, head_size/2]), the output projection, a second norm,
//! gate/up projections, SiLU as Sigmoid·x, their product, the down projection; a final norm
//! and the LM head. Projections are `MatMulNBits` (int4: packed uint8 [N, K/bs, bs/2], f32
//! scales [N, K/bs], symmetric) or `MatMul` with [K, N] weights (fp16/fp32).
//!
//! Weights: with `weights = false` every initializer keeps its dims and type and is marked
//! external and absent (as `synth resnext` does); with weights, seeded random values inline,
//! refused above the 2 GiB protobuf limit.

use bytes::Bytes;

use std::path::Path;

use super::rng::{stream, uniform};
use super::SynthError;
use crate::model::proto::{
    attribute_type, data_type, tensor_shape_proto, type_proto, AttributeProto, GraphProto,
    ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};

/// Weight precision of the projections (and the activations' type: fp16 for `Fp16`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    Int4,
    Fp16,
    Fp32,
}

crate::choices!(Precision {
    "int4" => Precision::Int4; "MatMulNBits, symmetric 4-bit blocks",
    "fp16" => Precision::Fp16,
    "fp32" => Precision::Fp32,
});

/// What to synthesize.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LlamaConfig {
    pub layers: u64,
    pub hidden: u64,
    pub heads: u64,
    pub kv_heads: u64,
    pub intermediate: u64,
    pub vocab: u64,
    pub precision: Precision,
    /// int4 quantization block along K.
    pub block_size: u64,
    /// Rows of the rotary caches.
    pub max_position: u64,
    pub weights: bool,
    pub seed: u64,
}

impl LlamaConfig {
    /// Llama-3-8B's shape: 32 layers, hidden 4096, 32 heads, 8 kv-heads, MLP 14336, vocab
    /// 128256.
    pub fn llama3_8b(precision: Precision) -> Self {
        LlamaConfig {
            layers: 32,
            hidden: 4096,
            heads: 32,
            kv_heads: 8,
            intermediate: 14336,
            vocab: 128256,
            precision,
            block_size: 32,
            max_position: 8192,
            weights: false,
            seed: 0,
        }
    }

    pub fn head_size(&self) -> u64 {
        self.hidden / self.heads.max(1)
    }

    fn check(&self) -> Result<(), SynthError> {
        let bad = |field, value, reason| {
            Err(SynthError::InvalidConfig {
                field,
                value,
                reason,
            })
        };
        for (field, v) in [
            ("layers", self.layers),
            ("hidden", self.hidden),
            ("heads", self.heads),
            ("kv-heads", self.kv_heads),
            ("intermediate", self.intermediate),
            ("vocab", self.vocab),
            ("max-position", self.max_position),
        ] {
            if v == 0 {
                return bad(field, v, "must be at least 1");
            }
            if v > 1 << 24 {
                return bad(field, v, "must be at most 16777216");
            }
        }
        if !self.hidden.is_multiple_of(self.heads) {
            return bad("hidden", self.hidden, "must be a multiple of --heads");
        }
        if !self.heads.is_multiple_of(self.kv_heads) {
            return bad("kv-heads", self.kv_heads, "must divide --heads");
        }
        if !self.head_size().is_multiple_of(2) {
            return bad(
                "hidden",
                self.hidden,
                "head size (hidden/heads) must be even",
            );
        }
        if self.precision == Precision::Int4 {
            let bs = self.block_size;
            if bs < 16 || !bs.is_power_of_two() {
                return bad("block-size", bs, "must be a power of two, at least 16");
            }
            for (field, k) in [("hidden", self.hidden), ("intermediate", self.intermediate)] {
                if k % bs != 0 {
                    return bad(field, k, "must be a multiple of --block-size");
                }
            }
        }
        Ok(())
    }

    /// A name like `llama_32l_4096h_32x8_int4`.
    pub fn arch_name(&self) -> String {
        format!(
            "llama_{}l_{}h_{}x{}_{}",
            self.layers, self.hidden, self.heads, self.kv_heads, self.precision
        )
    }
}

const EXTERNAL: i32 = 1;

struct Builder<'a> {
    cfg: &'a LlamaConfig,
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    /// Activations' element type.
    act: i32,
}

fn attr_i(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INT,
        i,
        ..Default::default()
    }
}

fn attr_f(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::FLOAT,
        f,
        ..Default::default()
    }
}

fn f16_bits(x: f32) -> u16 {
    // Round to nearest for the small normal values the weights take; subnormals flush to 0.
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32 - 127 + 15;
    if exp <= 0 {
        return sign;
    }
    if exp >= 31 {
        return sign | 0x7c00;
    }
    let mant = b & 0x7f_ffff;
    let mut h = (sign as u32) | ((exp as u32) << 10) | (mant >> 13);
    if mant & 0x1000 != 0 {
        h += 1;
    }
    h as u16
}

impl Builder<'_> {
    fn node(
        &mut self,
        name: &str,
        op: &str,
        domain: &str,
        input: &[&str],
        output: &[&str],
        attrs: Vec<AttributeProto>,
    ) {
        self.nodes.push(NodeProto {
            name: name.into(),
            op_type: op.into(),
            domain: domain.into(),
            input: input.iter().map(|s| s.to_string()).collect(),
            output: output.iter().map(|s| s.to_string()).collect(),
            attribute: attrs,
            ..Default::default()
        });
    }

    /// An initializer: random values (uniform in ±`bound`, uint8 bytes for `UINT8`) or absent.
    fn tensor(&mut self, name: &str, dims: &[u64], dt: i32, bound: f32) {
        let n: u64 = dims.iter().product();
        let mut t = TensorProto {
            name: name.into(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: dt,
            ..Default::default()
        };
        if !self.cfg.weights {
            t.data_location = EXTERNAL;
            t.external_data = vec![StringStringEntryProto {
                key: "location".into(),
                value: "<none>".into(),
            }];
        } else {
            let raw: Vec<u8> = match dt {
                data_type::UINT8 => {
                    let mut rng = stream(self.cfg.seed, name);
                    (0..n).map(|_| (rng.next_u64() >> 56) as u8).collect()
                }
                data_type::FLOAT16 => uniform(self.cfg.seed, name, n as usize, -bound, bound)
                    .into_iter()
                    .flat_map(|x| f16_bits(x).to_le_bytes())
                    .collect(),
                _ => uniform(self.cfg.seed, name, n as usize, -bound, bound)
                    .into_iter()
                    .flat_map(|x| x.to_le_bytes())
                    .collect(),
            };
            t.raw_data = Bytes::from(raw);
        }
        self.inits.push(t);
    }

    /// An int64 constant initializer (always inline: it is control data, not a weight).
    fn ints(&mut self, name: &str, dims: &[i64], v: &[i64]) {
        self.inits.push(TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: data_type::INT64,
            raw_data: Bytes::from(v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()),
            ..Default::default()
        });
    }

    /// A projection [.., k] → [.., n] named like the builder's (`…/MatMul_Q4` for int4).
    fn linear(&mut self, scope: &str, param: &str, x: &str, k: u64, n: u64) -> String {
        let out = format!("{scope}/MatMul/output_0");
        match self.cfg.precision {
            Precision::Int4 => {
                let bs = self.cfg.block_size;
                let w = format!("{param}.MatMul.weight_Q4");
                let s = format!("{param}.MatMul.weight_scales");
                self.tensor(&w, &[n, k / bs, bs / 2], data_type::UINT8, 0.0);
                self.tensor(&s, &[n, k / bs], data_type::FLOAT, 0.02);
                self.node(
                    &format!("{scope}/MatMul_Q4"),
                    "MatMulNBits",
                    "com.microsoft",
                    &[x, &w, &s],
                    &[&out],
                    vec![
                        attr_i("K", k as i64),
                        attr_i("N", n as i64),
                        attr_i("accuracy_level", 1),
                        attr_i("bits", 4),
                        attr_i("block_size", bs as i64),
                    ],
                );
            }
            _ => {
                let w = format!("{param}.MatMul.weight");
                let bound = 1.0 / (k as f32).sqrt();
                self.tensor(&w, &[k, n], self.act, bound);
                self.node(
                    &format!("{scope}/MatMul"),
                    "MatMul",
                    "",
                    &[x, &w],
                    &[&out],
                    vec![],
                );
            }
        }
        out
    }
}

fn tensor_vi(name: &str, elem: i32, dims: &[Result<u64, &str>]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: elem,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| tensor_shape_proto::Dimension {
                            value: Some(match d {
                                Ok(v) => tensor_shape_proto::dimension::Value::DimValue(*v as i64),
                                Err(s) => {
                                    tensor_shape_proto::dimension::Value::DimParam(s.to_string())
                                }
                            }),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The protobuf limit for one file with inline weights.
const PROTOBUF_LIMIT: u64 = 2 << 30;

/// Builds the decoder graph.
pub fn llama(cfg: &LlamaConfig) -> Result<ModelProto, SynthError> {
    cfg.check()?;
    let act = if cfg.precision == Precision::Fp16 {
        data_type::FLOAT16
    } else {
        data_type::FLOAT
    };
    let (h, d, heads, kv, inter, vocab) = (
        cfg.hidden,
        cfg.head_size(),
        cfg.heads,
        cfg.kv_heads,
        cfg.intermediate,
        cfg.vocab,
    );
    if cfg.weights {
        let act_bytes = if act == data_type::FLOAT16 { 2 } else { 4 };
        let per_weight = |k: u64, n: u64| match cfg.precision {
            Precision::Int4 => k * n / 2 + (k / cfg.block_size) * n * 4,
            _ => k * n * act_bytes,
        };
        let layer = per_weight(h, (heads + 2 * kv) * d)
            + per_weight(heads * d, h)
            + 2 * per_weight(h, inter)
            + per_weight(inter, h)
            + 2 * h * act_bytes;
        let bytes =
            vocab * h * act_bytes + cfg.layers * layer + h * act_bytes + per_weight(h, vocab);
        if bytes > PROTOBUF_LIMIT {
            return Err(SynthError::TooLarge {
                arch: cfg.arch_name(),
                bytes,
                limit: PROTOBUF_LIMIT,
            });
        }
    }
    let mut b = Builder {
        cfg,
        nodes: vec![],
        inits: vec![],
        act,
    };
    let eps = attr_f("epsilon", 1e-5);

    // Attention-mask subgraph: seqlens_k = ReduceSum(mask, 1) − 1, total = Shape(mask)[1].
    let m = "/model/attn_mask_reformat/attn_mask_subgraph";
    b.ints("/model/constants/INT64/[1]", &[1], &[1]);
    b.ints("/model/constants/INT64/1", &[], &[1]);
    b.node(
        &format!("{m}/ReduceSum"),
        "ReduceSum",
        "",
        &["attention_mask", "/model/constants/INT64/[1]"],
        &[&format!("{m}/ReduceSum/output_0")],
        vec![attr_i("keepdims", 0)],
    );
    b.node(
        &format!("{m}/Sub"),
        "Sub",
        "",
        &[
            &format!("{m}/ReduceSum/output_0"),
            "/model/constants/INT64/1",
        ],
        &[&format!("{m}/Sub/output_0")],
        vec![],
    );
    let seqlens = format!("{m}/Sub/Cast/output_0");
    b.node(
        &format!("{m}/Sub/Cast"),
        "Cast",
        "",
        &[&format!("{m}/Sub/output_0")],
        &[&seqlens],
        vec![attr_i("to", data_type::INT32 as i64)],
    );
    b.node(
        &format!("{m}/Shape"),
        "Shape",
        "",
        &["attention_mask"],
        &[&format!("{m}/Shape/output_0")],
        vec![],
    );
    b.node(
        &format!("{m}/Gather"),
        "Gather",
        "",
        &[&format!("{m}/Shape/output_0"), "/model/constants/INT64/1"],
        &[&format!("{m}/Gather/output_0")],
        vec![attr_i("axis", 0)],
    );
    let total = format!("{m}/Gather/Cast/output_0");
    b.node(
        &format!("{m}/Gather/Cast"),
        "Cast",
        "",
        &[&format!("{m}/Gather/output_0")],
        &[&total],
        vec![attr_i("to", data_type::INT32 as i64)],
    );

    // Rotary caches (buffers) and the embedding.
    b.tensor("cos_cache", &[cfg.max_position, d / 2], act, 1.0);
    b.tensor("sin_cache", &[cfg.max_position, d / 2], act, 1.0);
    b.tensor("model.embed_tokens.weight", &[vocab, h], act, 0.02);
    // `residual` is the running sum the next Skip norm adds to: the embedding, first.
    let mut residual = "/model/embed_tokens/Gather/output_0".to_string();
    b.node(
        "/model/embed_tokens/Gather",
        "Gather",
        "",
        &["model.embed_tokens.weight", "input_ids"],
        &[&residual],
        vec![],
    );
    let mut pending: Option<String> = None; // the last layer's MLP output, not yet added
    let mut outputs = vec![];
    let mut inputs = vec![
        tensor_vi(
            "input_ids",
            data_type::INT64,
            &[Err("batch_size"), Err("sequence_length")],
        ),
        tensor_vi(
            "attention_mask",
            data_type::INT64,
            &[Err("batch_size"), Err("total_sequence_length")],
        ),
    ];
    for l in 0..cfg.layers {
        let p = format!("model.layers.{l}");
        let s = format!("/model/layers.{l}");
        // Input norm: plain for layer 0, Skip (adding the previous MLP output) after.
        let ln_w = format!("{p}.input_layernorm.weight");
        b.tensor(&ln_w, &[h], act, 1.0);
        let normed = format!("{s}/input_layernorm/output_0");
        match pending.take() {
            None => b.node(
                &format!("{s}/input_layernorm/LayerNorm"),
                "SimplifiedLayerNormalization",
                "",
                &[&residual, &ln_w],
                &[&normed],
                vec![attr_i("axis", -1), eps.clone(), attr_i("stash_type", 1)],
            ),
            Some(mlp) => {
                let sum = format!("{s}/input_layernorm/output_3");
                b.node(
                    &format!("{s}/input_layernorm/SkipLayerNorm"),
                    "SkipSimplifiedLayerNormalization",
                    "com.microsoft",
                    &[&mlp, &residual, &ln_w],
                    &[&normed, "", "", &sum],
                    vec![eps.clone()],
                );
                residual = sum;
            }
        }
        let qkv = b.linear(
            &format!("{s}/attn/qkv_proj"),
            &format!("{p}.attn.qkv_proj"),
            &normed,
            h,
            (heads + 2 * kv) * d,
        );
        let (pk, pv) = (
            format!("past_key_values.{l}.key"),
            format!("past_key_values.{l}.value"),
        );
        let (ck, cv) = (format!("present.{l}.key"), format!("present.{l}.value"));
        for n in [&pk, &pv] {
            inputs.push(tensor_vi(
                n,
                act,
                &[
                    Err("batch_size"),
                    Ok(kv),
                    Err("past_sequence_length"),
                    Ok(d),
                ],
            ));
        }
        for n in [&ck, &cv] {
            outputs.push(tensor_vi(
                n,
                act,
                &[
                    Err("batch_size"),
                    Ok(kv),
                    Err("total_sequence_length"),
                    Ok(d),
                ],
            ));
        }
        let attn = format!("{s}/attn/GroupQueryAttention/output_0");
        b.node(
            &format!("{s}/attn/GroupQueryAttention"),
            "GroupQueryAttention",
            "com.microsoft",
            &[
                &qkv,
                "",
                "",
                &pk,
                &pv,
                &seqlens,
                &total,
                "cos_cache",
                "sin_cache",
            ],
            &[&attn, &ck, &cv],
            vec![
                attr_i("do_rotary", 1),
                attr_i("kv_num_heads", kv as i64),
                attr_i("local_window_size", -1),
                attr_i("num_heads", heads as i64),
                attr_i("rotary_interleaved", 0),
                attr_f("scale", 1.0 / (d as f32).sqrt()),
                attr_f("softcap", 0.0),
            ],
        );
        let o = b.linear(
            &format!("{s}/attn/o_proj"),
            &format!("{p}.attn.o_proj"),
            &attn,
            heads * d,
            h,
        );
        let post_w = format!("{p}.post_attention_layernorm.weight");
        b.tensor(&post_w, &[h], act, 1.0);
        let normed2 = format!("{s}/post_attention_layernorm/output_0");
        let sum2 = format!("{s}/post_attention_layernorm/output_3");
        b.node(
            &format!("{s}/post_attention_layernorm/SkipLayerNorm"),
            "SkipSimplifiedLayerNormalization",
            "com.microsoft",
            &[&o, &residual, &post_w],
            &[&normed2, "", "", &sum2],
            vec![eps.clone()],
        );
        residual = sum2;
        let gate = b.linear(
            &format!("{s}/mlp/gate_proj"),
            &format!("{p}.mlp.gate_proj"),
            &normed2,
            h,
            inter,
        );
        let up = b.linear(
            &format!("{s}/mlp/up_proj"),
            &format!("{p}.mlp.up_proj"),
            &normed2,
            h,
            inter,
        );
        let sig = format!("{s}/mlp/act_fn/Sigmoid/output_0");
        b.node(
            &format!("{s}/mlp/act_fn/Sigmoid"),
            "Sigmoid",
            "",
            &[&gate],
            &[&sig],
            vec![],
        );
        let silu = format!("{s}/mlp/act_fn/Mul/output_0");
        b.node(
            &format!("{s}/mlp/act_fn/Mul"),
            "Mul",
            "",
            &[&gate, &sig],
            &[&silu],
            vec![],
        );
        let prod = format!("{s}/mlp/Mul/output_0");
        b.node(
            &format!("{s}/mlp/Mul"),
            "Mul",
            "",
            &[&silu, &up],
            &[&prod],
            vec![],
        );
        let down = b.linear(
            &format!("{s}/mlp/down_proj"),
            &format!("{p}.mlp.down_proj"),
            &prod,
            inter,
            h,
        );
        pending = Some(down);
    }
    // Final norm (adds the last MLP output) and the LM head.
    b.tensor("model.norm.weight", &[h], act, 1.0);
    let last = pending.expect("at least one layer");
    let normed = "/model/norm/output_0".to_string();
    b.node(
        "/model/norm/SkipLayerNorm",
        "SkipSimplifiedLayerNormalization",
        "com.microsoft",
        &[&last, &residual, "model.norm.weight"],
        &[&normed],
        vec![eps],
    );
    let logits = b.linear("/lm_head", "lm_head", &normed, h, vocab);
    b.node(
        "/lm_head/Identity",
        "Identity",
        "",
        &[&logits],
        &["logits"],
        vec![],
    );
    outputs.insert(
        0,
        tensor_vi(
            "logits",
            act,
            &[Err("batch_size"), Err("sequence_length"), Ok(vocab)],
        ),
    );
    Ok(ModelProto {
        ir_version: 10,
        producer_name: "onnxscope synth llama".into(),
        opset_import: vec![
            OperatorSetIdProto {
                domain: String::new(),
                version: 21,
            },
            OperatorSetIdProto {
                domain: "com.microsoft".into(),
                version: 1,
            },
        ],
        graph: Some(GraphProto {
            name: cfg.arch_name(),
            node: b.nodes,
            initializer: b.inits,
            input: inputs,
            output: outputs,
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// Synthesizes the decoder, writes it atomically to `path` (a failure leaves nothing behind)
/// and returns a one-line summary.
pub fn write_llama(cfg: &LlamaConfig, path: &Path) -> Result<String, SynthError> {
    let model = llama(cfg)?;
    let bytes = super::to_bytes(&model);
    crate::util::fs::write_atomic(path, &bytes).map_err(|source| SynthError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let g = model.graph.as_ref();
    Ok(format!(
        "wrote {} ({}): {} nodes, {} initializers, {} bytes → {}",
        cfg.arch_name(),
        if cfg.weights {
            format!("random weights, seed {}", cfg.seed)
        } else {
            "no weights".into()
        },
        g.map_or(0, |g| g.node.len()),
        g.map_or(0, |g| g.initializer.len()),
        bytes.len(),
        path.display()
    ))
}
