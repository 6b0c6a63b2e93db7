//! Synthetic ONNX models: writes ResNet/ResNeXt graphs (torchvision's layout, node and
//! initializer names) straight into prost `ModelProto`s, with seeded random weights or with
//! no weights at all, so the profiler can be exercised on any depth × cardinality × width
//! without a hub, a Python install or a download.
//!
//! This module owns: [`ResNeXtConfig`] and [`resnext`] (the generator), [`to_bytes`],
//! [`learnable_params`] (the parameter-count rule the tests use), the `synth-resnext`
//! arguments ([`SynthResnextArgs`], [`run_synth`], which writes the file atomically) and
//! [`parse_config_list`] for `compare --resnext 1x64d,32x4d,…`.
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

pub mod llama;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use prost::Message;

use crate::model::proto::{
    attribute_type, data_type, tensor_shape_proto, type_proto, AttributeProto, GraphProto,
    ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto, DATA_LOCATION_EXTERNAL,
};

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

/// Errors of the generator and of `synth-resnext`.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// Only torchvision's Bottleneck depths are built.
    #[error("unsupported depth {0}: ResNet/ResNeXt depth must be 50, 101 or 152")]
    UnsupportedDepth(u32),
    /// A configuration value is out of range.
    #[error("invalid {field} {value}: {reason}")]
    InvalidConfig {
        field: &'static str,
        value: u64,
        reason: &'static str,
    },
    /// The weights would not fit in one protobuf file.
    #[error(
        "weights of {arch} take {bytes} bytes, over the {limit}-byte limit of one .onnx \
         protobuf; synthesize it without weights"
    )]
    TooLarge {
        arch: String,
        bytes: u64,
        limit: u64,
    },
    /// An item of a `CxDd` list does not parse.
    #[error("bad ResNeXt config '{item}': {reason} (expected CxDd, e.g. 32x4d)")]
    BadConfigList { item: String, reason: &'static str },
    /// Writing the output file failed (nothing is left behind).
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What to synthesize. `Default` is ResNeXt-50 32×4d with random weights, seed 0, batch `N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResNeXtConfig {
    /// 50, 101 or 152.
    pub depth: u32,
    /// C, the number of groups of every 3×3 conv.
    pub cardinality: u32,
    /// D, the bottleneck width of one group in the first stage (doubles each stage).
    pub width: u32,
    /// Input height = width, in pixels.
    pub input: u32,
    /// Output classes of the final Gemm.
    pub classes: u32,
    /// Fold each BatchNormalization into the conv before it (weight scaled, bias added).
    pub fold_bn: bool,
    /// Generate random float32 weights; `false` marks every initializer as absent.
    pub weights: bool,
    /// Seed of the weight generator.
    pub seed: u64,
    /// Fixed batch size; `None` writes the symbolic dimension `N`.
    pub batch: Option<u64>,
}

impl Default for ResNeXtConfig {
    fn default() -> Self {
        Self::resnext(50, 32, 4)
    }
}

impl ResNeXtConfig {
    /// ResNeXt-`depth` C×Dd with the other fields at their defaults.
    pub fn resnext(depth: u32, cardinality: u32, width: u32) -> Self {
        Self {
            depth,
            cardinality,
            width,
            input: 224,
            classes: 1000,
            fold_bn: false,
            weights: true,
            seed: 0,
            batch: None,
        }
    }

    /// Plain ResNet-`depth` (C = 1, D = 64).
    pub fn resnet(depth: u32) -> Self {
        Self::resnext(depth, 1, 64)
    }

    /// torchvision's model name: `resnet50`, `wide_resnet50_2`, `resnext101_32x8d`, …
    pub fn arch_name(&self) -> String {
        match (self.cardinality, self.width) {
            (1, 64) => format!("resnet{}", self.depth),
            (1, 128) => format!("wide_resnet{}_2", self.depth),
            (c, d) => format!("resnext{}_{c}x{d}d", self.depth),
        }
    }

    /// Bottleneck blocks per stage.
    pub fn layers(&self) -> Result<[u32; 4], SynthError> {
        match self.depth {
            50 => Ok([3, 4, 6, 3]),
            101 => Ok([3, 4, 23, 3]),
            152 => Ok([3, 8, 36, 3]),
            d => Err(SynthError::UnsupportedDepth(d)),
        }
    }

    fn validate(&self) -> Result<[u32; 4], SynthError> {
        let layers = self.layers()?;
        let bad = |field, value: u64, reason| SynthError::InvalidConfig {
            field,
            value,
            reason,
        };
        if self.cardinality == 0 {
            return Err(bad("cardinality", 0, "must be at least 1"));
        }
        if self.width == 0 {
            return Err(bad("width", 0, "must be at least 1"));
        }
        // The widest conv has 8·C·D channels; keep every element count far inside i64.
        let widest = 8 * u64::from(self.cardinality) * u64::from(self.width);
        if widest > 1 << 20 {
            return Err(bad(
                "cardinality × width",
                widest / 8,
                "must be at most 131072",
            ));
        }
        if self.input == 0 || self.input > 1 << 16 {
            return Err(bad(
                "input",
                self.input.into(),
                "must be between 1 and 65536",
            ));
        }
        if self.classes == 0 || self.classes > 1 << 24 {
            return Err(bad(
                "classes",
                self.classes.into(),
                "must be between 1 and 16777216",
            ));
        }
        if self.batch == Some(0) || self.batch.is_some_and(|b| b > i64::MAX as u64) {
            return Err(bad("batch", self.batch.unwrap_or(0), "must be at least 1"));
        }
        Ok(layers)
    }
}

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

/// Parses a comma-separated list of `CxDd` items (`1x64d,2x40d,32x4d`; the trailing `d` is
/// optional, `X` is accepted, blanks around items are ignored) into `(cardinality, width)`.
pub fn parse_config_list(list: &str) -> Result<Vec<(u32, u32)>, SynthError> {
    let bad = |item: &str, reason| SynthError::BadConfigList {
        item: item.to_string(),
        reason,
    };
    let mut out = Vec::new();
    for raw in list.split(',') {
        let item = raw.trim();
        if item.is_empty() {
            return Err(bad(raw, "empty item"));
        }
        let lower = item.to_ascii_lowercase();
        let body = lower.strip_suffix('d').unwrap_or(&lower);
        let (c, d) = body.split_once('x').ok_or_else(|| bad(item, "no 'x'"))?;
        let num = |s: &str| -> Result<u32, SynthError> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(item, "not a positive integer"));
            }
            match s.parse::<u32>() {
                Ok(0) => Err(bad(item, "must be at least 1")),
                Ok(v) => Ok(v),
                Err(_) => Err(bad(item, "number too large")),
            }
        };
        out.push((num(c)?, num(d)?));
    }
    Ok(out)
}

/// Write a synthetic ResNet/ResNeXt model (torchvision layout) as an .onnx file.
#[derive(Debug, Clone, clap::Args)]
pub struct SynthResnextArgs {
    /// Depth: 50, 101 or 152.
    #[arg(long, default_value_t = 50)]
    pub depth: u32,
    /// Cardinality C (groups of each 3×3 conv); 1 with --width 64 is plain ResNet.
    #[arg(long, default_value_t = 32)]
    pub cardinality: u32,
    /// Bottleneck width D of one group in the first stage.
    #[arg(long, default_value_t = 4)]
    pub width: u32,
    /// Input height and width in pixels.
    #[arg(long, default_value_t = 224)]
    pub input: u32,
    /// Number of output classes.
    #[arg(long, default_value_t = 1000)]
    pub classes: u32,
    /// Fold every BatchNormalization into the conv before it.
    #[arg(long)]
    pub fold_bn: bool,
    /// Write the graph only: initializers keep their shapes but are marked absent.
    #[arg(long)]
    pub no_weights: bool,
    /// Seed of the random weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Fixed batch size (default: symbolic `N`).
    #[arg(long)]
    pub batch: Option<u64>,
    /// Output file (default: `<arch>.onnx`, e.g. `resnext50_32x4d.onnx`).
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

impl SynthResnextArgs {
    /// The generator configuration these arguments describe.
    pub fn config(&self) -> ResNeXtConfig {
        ResNeXtConfig {
            depth: self.depth,
            cardinality: self.cardinality,
            width: self.width,
            input: self.input,
            classes: self.classes,
            fold_bn: self.fold_bn,
            weights: !self.no_weights,
            seed: self.seed,
            batch: self.batch,
        }
    }
}

/// Synthesizes the model, writes it atomically and returns a one-line summary.
pub fn run_synth(args: &SynthResnextArgs) -> Result<String, SynthError> {
    let cfg = args.config();
    let model = resnext(&cfg)?;
    let bytes = to_bytes(&model);
    let path = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.onnx", cfg.arch_name())));
    write_atomic(&path, &bytes)?;
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

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`; on any error
/// the temporary file is removed and `path` is untouched.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SynthError> {
    let io_err = |source| SynthError::Io {
        path: path.to_path_buf(),
        source,
    };
    let name = path.file_name().ok_or_else(|| {
        io_err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a file name",
        ))
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| {
            let written = f.write_all(bytes).and_then(|()| f.sync_all());
            if written.is_err() {
                let _ = fs::remove_file(&tmp);
            }
            written
        })
        .and_then(|()| {
            fs::rename(&tmp, path).inspect_err(|_| {
                let _ = fs::remove_file(&tmp);
            })
        });
    result.map_err(io_err)
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

// ---------------------------------------------------------------------------------------------
// Graph building.

/// Names of one conv (+ BN) pair: node scopes (`/layer1/layer1.0/conv1`) and parameter
/// prefixes (`layer1.0.conv1`).
struct ConvSpec {
    node: String,
    param: String,
    bn_node: String,
    bn_param: String,
}

/// How an initializer's values are drawn.
enum Init {
    /// Uniform on `[lo, hi)`.
    Uniform(f32, f32),
    /// Conv weight uniform on `±bound`, then scaled per output channel by the BN `bn`.
    FoldedWeight { bound: f32, bn: String },
    /// `beta - mean·gamma/sqrt(var+eps)` of the BN `bn`.
    FoldedBias { bn: String },
}

struct Pending {
    name: String,
    dims: Vec<i64>,
    init: Init,
}

impl Pending {
    fn numel(&self) -> u64 {
        self.dims.iter().map(|&d| d as u64).product()
    }

    fn materialize(&self, weights: bool, seed: u64) -> TensorProto {
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

fn bn_scale_range(bn: &str) -> (f32, f32) {
    if bn.ends_with(".bn3") {
        BN3_SCALE
    } else {
        BN_SCALE
    }
}

/// Per-channel `(gamma/sqrt(var+eps), beta - mean·gamma/sqrt(var+eps))` of the BN whose
/// parameters are named `{bn}.weight`, `{bn}.bias`, `{bn}.running_mean`, `{bn}.running_var`,
/// drawn exactly as the unfolded model draws them.
fn bn_fold(seed: u64, bn: &str, c: usize) -> (Vec<f64>, Vec<f32>) {
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

struct Builder {
    fold_bn: bool,
    nodes: Vec<NodeProto>,
    pending: Vec<Pending>,
}

impl Builder {
    fn tensor(&mut self, name: &str, dims: &[u64], init: Init) {
        self.pending.push(Pending {
            name: name.into(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            init,
        });
    }

    fn unary(&mut self, name: &str, op: &str, x: &str, attrs: Vec<AttributeProto>) -> String {
        let out = format!("{name}_output_0");
        self.nodes
            .push(node(name, op, vec![x.into()], out.clone(), attrs));
        out
    }

    /// Conv (no bias) + BatchNormalization, or one Conv with the BN folded in.
    #[allow(clippy::too_many_arguments)]
    fn conv_bn(
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
    fn bottleneck(
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

fn node(
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

fn attr_int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INT,
        i,
        ..Default::default()
    }
}

fn attr_ints(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INTS,
        ints: ints.to_vec(),
        ..Default::default()
    }
}

fn attr_float(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::FLOAT,
        f,
        ..Default::default()
    }
}

fn dim_value(v: i64) -> tensor_shape_proto::Dimension {
    tensor_shape_proto::Dimension {
        value: Some(tensor_shape_proto::dimension::Value::DimValue(v)),
        ..Default::default()
    }
}

fn dim_param(p: &str) -> tensor_shape_proto::Dimension {
    tensor_shape_proto::Dimension {
        value: Some(tensor_shape_proto::dimension::Value::DimParam(p.into())),
        ..Default::default()
    }
}

fn value_info(name: &str, dim: Vec<tensor_shape_proto::Dimension>) -> ValueInfoProto {
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

// ---------------------------------------------------------------------------------------------
// Random numbers: SplitMix64, one stream per (seed, tensor name).

struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform on [0, 1) with 24 bits of mantissa.
    fn next_unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u32 << 24) as f32)
    }
}

fn stream(seed: u64, name: &str) -> SplitMix64 {
    // FNV-1a of the name, mixed with the seed through one SplitMix64 step.
    let h = name.bytes().fold(0xCBF2_9CE4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    });
    let mut s = SplitMix64(seed ^ h);
    SplitMix64(s.next_u64())
}

fn uniform(seed: u64, name: &str, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    let mut rng = stream(seed, name);
    let span = hi - lo;
    (0..n).map(|_| lo + span * rng.next_unit()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph_only(depth: u32, c: u32, d: u32, fold_bn: bool) -> ModelProto {
        resnext(&ResNeXtConfig {
            fold_bn,
            weights: false,
            ..ResNeXtConfig::resnext(depth, c, d)
        })
        .unwrap()
    }

    fn graph(m: &ModelProto) -> &GraphProto {
        m.graph.as_ref().unwrap()
    }

    fn init<'a>(m: &'a ModelProto, name: &str) -> &'a TensorProto {
        graph(m)
            .initializer
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no initializer {name}"))
    }

    fn numel(t: &TensorProto) -> u64 {
        t.dims.iter().map(|&d| d as u64).product()
    }

    fn floats(t: &TensorProto) -> Vec<f32> {
        t.raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }

    fn attr<'a>(n: &'a NodeProto, name: &str) -> &'a AttributeProto {
        n.attribute.iter().find(|a| a.name == name).unwrap()
    }

    // The counting rule (see `learnable_params`): conv weights + conv biases + BN scale + BN
    // bias + fc weight + fc bias; BN running mean/var are buffers and are not counted.
    #[test]
    fn parameter_counts_match_torchvision() {
        // torchvision: sum(p.numel() for p in model.parameters())
        let cases = [
            (50, 1, 64, 25_557_032),  // resnet50
            (101, 1, 64, 44_549_160), // resnet101
            (152, 1, 64, 60_192_808), // resnet152
            (50, 32, 4, 25_028_904),  // resnext50_32x4d
            (101, 32, 8, 88_791_336), // resnext101_32x8d
            (101, 64, 4, 83_455_272), // resnext101_64x4d
            (50, 1, 128, 68_883_240), // wide_resnet50_2
        ];
        for (depth, c, d, want) in cases {
            let m = graph_only(depth, c, d, false);
            assert_eq!(learnable_params(&m), want, "{depth} {c}x{d}d");
        }
    }

    #[test]
    fn folding_bn_trades_scale_and_shift_for_a_conv_bias() {
        assert_eq!(learnable_params(&graph_only(50, 1, 64, true)), 25_530_472);
        // In general: unfolded − 2·(BN channels) + 1·(BN channels).
        for (depth, c, d) in [(50, 32, 4), (101, 32, 8), (152, 1, 64)] {
            let plain = graph_only(depth, c, d, false);
            let bn_channels: u64 = graph(&plain)
                .initializer
                .iter()
                .filter(|t| t.name.ends_with(".running_var"))
                .map(numel)
                .sum();
            let folded = graph_only(depth, c, d, true);
            assert_eq!(
                learnable_params(&folded),
                learnable_params(&plain) - bn_channels
            );
            assert!(graph(&folded)
                .node
                .iter()
                .all(|n| n.op_type != "BatchNormalization"));
            assert!(!graph(&folded)
                .initializer
                .iter()
                .any(|t| t.name.contains("running")));
        }
    }

    /// ResNeXt paper, Table 2: the conv2-stage block (256 channels in and out) at equal
    /// complexity. Hand arithmetic of its conv weights:
    ///   1×1 256→C·d:         256·(C·d)
    ///   3×3 C·d→C·d, C groups: (C·d)·d·9
    ///   1×1 C·d→256:         (C·d)·256
    #[test]
    fn table2_block_params_by_hand() {
        let cases = [
            (1, 64, 256 * 64 + 64 * 64 * 9 + 64 * 256),    // 69,632
            (2, 40, 256 * 80 + 80 * 40 * 9 + 80 * 256),    // 69,760
            (4, 24, 256 * 96 + 96 * 24 * 9 + 96 * 256),    // 69,888
            (8, 14, 256 * 112 + 112 * 14 * 9 + 112 * 256), // 71,456
            (32, 4, 256 * 128 + 128 * 4 * 9 + 128 * 256),  // 70,144
        ];
        let expected = [69_632, 69_760, 69_888, 71_456, 70_144];
        for ((c, d, hand), want) in cases.into_iter().zip(expected) {
            assert_eq!(hand, want);
            let m = graph_only(50, c, d, false);
            // layer1.1 is a non-downsampling block of the first stage: 256 → 256.
            let convs: u64 = ["conv1", "conv2", "conv3"]
                .iter()
                .map(|k| numel(init(&m, &format!("layer1.1.{k}.weight"))))
                .sum();
            assert_eq!(convs, hand, "{c}x{d}d");
            // BN adds scale + bias for C·d, C·d and 256 channels.
            let bn: u64 = ["bn1", "bn2", "bn3"]
                .iter()
                .flat_map(|b| ["weight", "bias"].map(|p| format!("layer1.1.{b}.{p}")))
                .map(|n| numel(init(&m, &n)))
                .sum();
            let w = u64::from(c * d);
            assert_eq!(bn, 2 * (w + w + 256));
            let conv2 = init(&m, "layer1.1.conv2.weight");
            assert_eq!(conv2.dims, [w as i64, i64::from(d), 3, 3]);
        }
    }

    #[test]
    fn node_names_and_structure_follow_torchvision_export() {
        let m = graph_only(50, 32, 4, false);
        let g = graph(&m);
        assert_eq!(g.node.len(), 175); // as torch.onnx.export (training=PRESERVE) of resnext50
        let names: Vec<&str> = g.node.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(
            &names[..6],
            [
                "/conv1/Conv",
                "/bn1/BatchNormalization",
                "/relu/Relu",
                "/maxpool/MaxPool",
                "/layer1/layer1.0/conv1/Conv",
                "/layer1/layer1.0/bn1/BatchNormalization"
            ]
        );
        assert_eq!(
            &names[names.len() - 3..],
            ["/avgpool/GlobalAveragePool", "/Flatten", "/fc/Gemm"]
        );
        for want in [
            "/layer1/layer1.0/relu_1/Relu",
            "/layer1/layer1.0/downsample/downsample.0/Conv",
            "/layer1/layer1.0/downsample/downsample.1/BatchNormalization",
            "/layer1/layer1.0/Add",
            "/layer4/layer4.2/relu_2/Relu",
        ] {
            assert!(names.contains(&want), "{want}");
        }
        let convs: Vec<&NodeProto> = g.node.iter().filter(|n| n.op_type == "Conv").collect();
        assert_eq!(convs.len(), 53);
        let grouped = convs.iter().filter(|n| attr(n, "group").i == 32).count();
        assert_eq!(grouped, 16); // every conv2
                                 // Stride 2 on the 3×3 (v1.5) and on the downsample of stages 2–4.
        let c2 = g
            .node
            .iter()
            .find(|n| n.name == "/layer2/layer2.0/conv2/Conv")
            .unwrap();
        assert_eq!(attr(c2, "strides").ints, [2, 2]);
        assert_eq!(attr(c2, "pads").ints, [1, 1, 1, 1]);
        let c1 = g
            .node
            .iter()
            .find(|n| n.name == "/layer2/layer2.0/conv1/Conv")
            .unwrap();
        assert_eq!(attr(c1, "strides").ints, [1, 1]);
        assert_eq!(
            init(&m, "layer4.0.downsample.0.weight").dims,
            [2048, 1024, 1, 1]
        );
        assert_eq!(init(&m, "fc.weight").dims, [1000, 2048]);
        // The residual adds the downsampled input on block 0, the block input otherwise.
        let add = g
            .node
            .iter()
            .find(|n| n.name == "/layer1/layer1.1/Add")
            .unwrap();
        assert_eq!(
            add.input,
            [
                "/layer1/layer1.1/bn3/BatchNormalization_output_0",
                "/layer1/layer1.0/relu_2/Relu_output_0"
            ]
        );
        // Every node input is the graph input, an initializer or an earlier output.
        let mut known: std::collections::HashSet<&str> =
            g.initializer.iter().map(|t| t.name.as_str()).collect();
        known.insert("input");
        for n in &g.node {
            for i in &n.input {
                assert!(known.contains(i.as_str()), "{} reads unknown {i}", n.name);
            }
            known.extend(n.output.iter().map(String::as_str));
        }
        assert_eq!(g.node.last().unwrap().output, ["logits"]);
    }

    #[test]
    fn header_input_and_output() {
        let m = graph_only(50, 1, 64, false);
        assert_eq!((m.ir_version, m.opset_import[0].version), (8, 17));
        assert_eq!(m.producer_name, "onnxscope");
        let dims = |v: &ValueInfoProto| match &v.r#type.as_ref().unwrap().value {
            Some(type_proto::Value::TensorType(t)) => t.shape.clone().unwrap().dim,
            _ => panic!(),
        };
        let g = graph(&m);
        let input = dims(&g.input[0]);
        assert_eq!(
            input[0].value,
            Some(tensor_shape_proto::dimension::Value::DimParam("N".into()))
        );
        assert_eq!(
            input[3].value,
            Some(tensor_shape_proto::dimension::Value::DimValue(224))
        );
        let m = resnext(&ResNeXtConfig {
            batch: Some(8),
            classes: 10,
            input: 64,
            weights: false,
            ..ResNeXtConfig::resnet(50)
        })
        .unwrap();
        let out = dims(&graph(&m).output[0]);
        assert_eq!(graph(&m).output[0].name, "logits");
        assert_eq!(
            out.iter()
                .map(|d| d.value.clone().unwrap())
                .collect::<Vec<_>>(),
            [
                tensor_shape_proto::dimension::Value::DimValue(8),
                tensor_shape_proto::dimension::Value::DimValue(10)
            ]
        );
    }

    #[test]
    fn graph_only_initializers_are_marked_absent() {
        let m = graph_only(50, 1, 64, false);
        for t in &graph(&m).initializer {
            assert!(t.raw_data.is_empty() && t.float_data.is_empty());
            assert_eq!(t.data_location, DATA_LOCATION_EXTERNAL);
            assert_eq!(t.external_data[0].key, "location");
            assert_eq!(t.external_data[0].value, ABSENT_LOCATION);
            assert_eq!(t.data_type, data_type::FLOAT);
        }
    }

    fn small(seed: u64, fold_bn: bool) -> ModelProto {
        resnext(&ResNeXtConfig {
            seed,
            fold_bn,
            input: 32,
            classes: 10,
            ..ResNeXtConfig::resnext(50, 2, 4)
        })
        .unwrap()
    }

    #[test]
    fn random_weights_are_seeded_finite_and_in_range() {
        let a = small(7, false);
        assert_eq!(a, small(7, false));
        assert_ne!(graph(&a).initializer, graph(&small(8, false)).initializer);
        for t in &graph(&a).initializer {
            assert_eq!(t.raw_data.len() as u64, 4 * numel(t), "{}", t.name);
            assert_eq!(t.data_location, 0);
            let v = floats(t);
            assert!(v.iter().all(|x| x.is_finite()));
            if t.name.ends_with("running_var") {
                assert!(v.iter().all(|&x| (0.5..1.5).contains(&x)));
            } else if t.name.ends_with("running_mean") {
                assert!(v.iter().all(|&x| (0.0..0.1).contains(&x)));
            }
        }
        let w = floats(init(&a, "layer1.0.conv1.weight")); // fan_in 64
        let bound = (6.0f32 / 64.0).sqrt();
        assert!(w.iter().all(|x| x.abs() <= bound));
        let mean = w.iter().sum::<f32>() / w.len() as f32;
        let var = w.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / w.len() as f32;
        assert!(
            mean.abs() < 0.05 && (var - 2.0 / 64.0).abs() < 0.005,
            "{mean} {var}"
        );
    }

    #[test]
    fn folded_weights_are_the_bn_applied_to_the_unfolded_ones() {
        let plain = small(3, false);
        let folded = small(3, true);
        for (conv, bn) in [
            ("conv1", "bn1"),
            ("layer2.0.conv2", "layer2.0.bn2"),
            ("layer3.0.downsample.0", "layer3.0.downsample.1"),
        ] {
            let w = floats(init(&plain, &format!("{conv}.weight")));
            let [g, b, mu, var] = ["weight", "bias", "running_mean", "running_var"]
                .map(|p| floats(init(&plain, &format!("{bn}.{p}"))));
            let wf = floats(init(&folded, &format!("{conv}.weight")));
            let bf = floats(init(&folded, &format!("{conv}.bias")));
            let per = w.len() / g.len();
            for c in 0..g.len() {
                let s = g[c] / (var[c] + BN_EPSILON).sqrt();
                for i in 0..per {
                    let k = c * per + i;
                    assert!((wf[k] - w[k] * s).abs() <= 1e-6 * (1.0 + w[k].abs()));
                }
                assert!((bf[c] - (b[c] - mu[c] * s)).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn bytes_round_trip() {
        let m = small(1, true);
        let bytes = to_bytes(&m);
        assert_eq!(ModelProto::decode(bytes.as_slice()).unwrap(), m);
    }

    #[test]
    fn bad_configs_are_typed_errors() {
        let err = |cfg: ResNeXtConfig| resnext(&cfg).unwrap_err();
        assert!(matches!(
            err(ResNeXtConfig::resnet(34)),
            SynthError::UnsupportedDepth(34)
        ));
        for cfg in [
            ResNeXtConfig::resnext(50, 0, 4),
            ResNeXtConfig::resnext(50, 32, 0),
            ResNeXtConfig {
                input: 0,
                ..Default::default()
            },
            ResNeXtConfig {
                classes: 0,
                ..Default::default()
            },
            ResNeXtConfig {
                batch: Some(0),
                ..Default::default()
            },
            ResNeXtConfig::resnext(50, 1 << 16, 1 << 16),
        ] {
            assert!(matches!(err(cfg), SynthError::InvalidConfig { .. }));
        }
        // ResNeXt-152 64×16d holds ~1.1 G parameters: refused before any weight is drawn.
        let e = err(ResNeXtConfig::resnext(152, 64, 16));
        assert!(matches!(e, SynthError::TooLarge { bytes, .. } if bytes > MAX_WEIGHT_BYTES));
        // …but its graph alone is fine.
        let cfg = ResNeXtConfig {
            weights: false,
            ..ResNeXtConfig::resnext(152, 64, 16)
        };
        assert!(resnext(&cfg).is_ok());
    }

    #[test]
    fn arch_names() {
        assert_eq!(ResNeXtConfig::resnet(50).arch_name(), "resnet50");
        assert_eq!(ResNeXtConfig::default().arch_name(), "resnext50_32x4d");
        assert_eq!(
            ResNeXtConfig::resnext(101, 1, 128).arch_name(),
            "wide_resnet101_2"
        );
    }

    #[test]
    fn config_lists() {
        assert_eq!(
            parse_config_list("1x64d,2x40d,4x24d,8x14d,32x4d").unwrap(),
            [(1, 64), (2, 40), (4, 24), (8, 14), (32, 4)]
        );
        assert_eq!(
            parse_config_list(" 32X4D , 64x4").unwrap(),
            [(32, 4), (64, 4)]
        );
        for bad in [
            "",
            "32x4d,",
            "32",
            "x4d",
            "32x",
            "0x4d",
            "32x0d",
            "-1x4d",
            "32x4dd",
            "3.5x4d",
            "99999999999x4d",
        ] {
            assert!(
                matches!(
                    parse_config_list(bad),
                    Err(SynthError::BadConfigList { .. })
                ),
                "{bad:?}"
            );
        }
    }

    fn scratch_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("synth-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn args(output: PathBuf) -> SynthResnextArgs {
        SynthResnextArgs {
            depth: 50,
            cardinality: 32,
            width: 4,
            input: 224,
            classes: 1000,
            fold_bn: false,
            no_weights: true,
            seed: 0,
            batch: None,
            output: Some(output),
        }
    }

    #[test]
    fn run_synth_writes_the_file_and_summarizes() {
        let dir = scratch_dir("ok");
        let path = dir.join("r.onnx");
        let summary = run_synth(&args(path.clone())).unwrap();
        assert!(
            summary.starts_with("wrote resnext50_32x4d (no weights): 25,028,904 params, 175 nodes"),
            "{summary}"
        );
        let bytes = fs::read(&path).unwrap();
        let m = ModelProto::decode(bytes.as_slice()).unwrap();
        assert_eq!(m, graph_only(50, 32, 4, false));
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1); // no temp file left
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn run_synth_leaves_nothing_behind_on_error() {
        let dir = scratch_dir("err");
        // The target is a non-empty directory: the rename fails after the temp file was written.
        let target = dir.join("taken.onnx");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("keep"), b"x").unwrap();
        let e = run_synth(&args(target.clone())).unwrap_err();
        assert!(matches!(e, SynthError::Io { .. }), "{e}");
        let left: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["taken.onnx"]);
        // A missing directory: nothing is created.
        let e = run_synth(&args(dir.join("missing/r.onnx"))).unwrap_err();
        assert!(e.to_string().contains("missing/r.onnx"), "{e}");
        assert!(!dir.join("missing").exists());
        // A bad configuration fails before any file is touched.
        let mut a = args(dir.join("never.onnx"));
        a.depth = 18;
        assert!(matches!(
            run_synth(&a),
            Err(SynthError::UnsupportedDepth(18))
        ));
        assert!(!dir.join("never.onnx").exists());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn clap_parses_the_documented_flags() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            synth: SynthResnextArgs,
        }
        let cli = Cli::try_parse_from([
            "x",
            "--depth",
            "101",
            "--cardinality",
            "32",
            "--width",
            "8",
            "--fold-bn",
            "--no-weights",
            "--seed",
            "9",
            "-o",
            "out.onnx",
        ])
        .unwrap();
        let cfg = cli.synth.config();
        assert_eq!(
            cfg,
            ResNeXtConfig {
                fold_bn: true,
                weights: false,
                seed: 9,
                ..ResNeXtConfig::resnext(101, 32, 8)
            }
        );
        assert_eq!(cli.synth.output, Some(PathBuf::from("out.onnx")));
        let cli = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(cli.synth.config(), ResNeXtConfig::default());
    }
}
