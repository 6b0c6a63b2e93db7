//! What a decoder-only LLM export costs to serve: the prompt (prefill) against each generated
//! token (decode), the KV cache, the weights' bits per parameter, and the tokens/s a device can
//! reach by the roofline.
//!
//! Roles. The symbols of the graph inputs are given roles: `input_ids` [batch, sequence]
//! (or `inputs_embeds` [batch, sequence, hidden]), `attention_mask` [batch, total], the past
//! KV inputs (`past_key_values.*`, `past_key*`, `past.*`, …, rank 4) [batch, kv_heads, past,
//! head]: past is the symbolic axis that is neither batch nor the head axis. Any other symbol
//! (the onnxruntime-genai builder declares the head axis as `kv_cache_dim`) gets a value from
//! `--dim`, else `genai_config.json` beside the model, else the attention nodes' attributes and
//! projection widths, else the present outputs' declared shapes — or the analysis stops with an
//! error naming the `--dim` to give.
//!
//! Steps. Prefill: sequence P, past 0, total P. Decode step k (k = 1..G): sequence 1, past
//! P+k−1, total P+k. Without KV-cache inputs, step k re-runs the whole prefix: sequence P+k
//! (a warning says so). The decode graph is profiled once with the step symbols left free, which
//! gives every total as an exact polynomial in them (`Count`); each step is that polynomial
//! bound to its values. The polynomial is checked against a concrete profile of the last step
//! (the largest context); when they disagree (a rule that is not polynomial in the context, such
//! as a local attention window that clamps it) every step is profiled on its own. Either way the
//! figures are exact.
//!
//! Bytes and time. Weights: logical parameters and stored bytes of the profile (an int4
//! `MatMulNBits` counts K·N parameters and its packed bytes + scales + zero points). KV cache:
//! the present outputs' shapes and element types (the past inputs' when there are no present
//! outputs), whole batch, per unit of the context axis. Prefill moves the profile's memory
//! access (every node reads its inputs and writes its outputs) and takes the per-node roofline
//! time of `profile --device`. A decode step moves the weights once plus the KV cache read (past)
//! and written (the new token), as with a shared past/present buffer; its time is
//! max(FLOPs / peak, bytes / bandwidth). "Per token" is per generated position of the whole
//! batch; tokens/s counts positions per second (× batch in `batch_tokens_per_second`).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Serialize;

use super::report::Unknown;
use super::roofline::{self, Device};
use super::{profile_model, Profile, ProfileOptions};
use crate::error::{Error, Location, Result};
use crate::model::attr::Attrs;
use crate::model::graph::{Graph, TensorKind};
use crate::model::proto::data_type as dt;
use crate::model::shapes::ShapeOptions;
use crate::model::{Model, Shape};
use crate::sym::Count;

/// What to cost: prompt and generation lengths, batch, symbol values, device.
#[derive(Clone, Debug)]
pub struct LlmOptions {
    /// Prompt tokens P (≥ 1).
    pub prompt: i64,
    /// Generated tokens G (≥ 1): decode steps k = 1..G.
    pub generate: i64,
    /// Batch size; `None` = 1, or the export's fixed batch.
    pub batch: Option<i64>,
    /// `--dim` values (sanitized symbol → value). They win over every inferred value.
    pub dims: HashMap<String, i64>,
    /// Roofline device for prefill seconds and decode tokens/s.
    pub device: Option<Device>,
    /// Use tract's shape inference beside onnxscope's own rules.
    pub use_tract: bool,
}

impl Default for LlmOptions {
    fn default() -> Self {
        LlmOptions {
            prompt: 512,
            generate: 128,
            batch: None,
            dims: HashMap::new(),
            device: None,
            use_tract: true,
        }
    }
}

/// The role a symbol of the graph inputs plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Batch,
    /// New tokens of a step.
    Sequence,
    /// Tokens already in the KV cache.
    Past,
    /// Past + new tokens (the attention mask's length).
    Total,
    /// The head size axis of the KV cache.
    HeadSize,
    /// The KV-head axis of the KV cache.
    KvHeads,
    /// Any other symbol, given a fixed value.
    Other,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Batch => "batch",
            Role::Sequence => "sequence",
            Role::Past => "past",
            Role::Total => "total",
            Role::HeadSize => "head size",
            Role::KvHeads => "kv heads",
            Role::Other => "other",
        }
    }
    /// Roles whose value changes from step to step.
    fn per_step(self) -> bool {
        matches!(self, Role::Sequence | Role::Past | Role::Total)
    }
}

/// One symbol of the inputs: its role, its value (null for the per-step roles) and where the
/// role or the value was read.
#[derive(Clone, Debug, Serialize)]
pub struct SymbolRole {
    pub symbol: String,
    pub role: Role,
    pub value: Option<i64>,
    pub source: String,
}

/// Which symbols play which role (JSON `roles`).
#[derive(Clone, Debug, Serialize)]
pub struct Roles {
    pub batch: Option<String>,
    pub sequence: Option<String>,
    pub past: Option<String>,
    pub total: Option<String>,
    /// Every symbol of the inputs with its role and value.
    pub symbols: Vec<SymbolRole>,
    /// The past KV-cache inputs.
    pub kv_inputs: Vec<String>,
    /// The present KV-cache outputs.
    pub kv_outputs: Vec<String>,
}

impl Roles {
    fn first(&self, role: Role) -> Option<String> {
        self.symbols
            .iter()
            .find(|s| s.role == role)
            .map(|s| s.symbol.clone())
    }
    fn has_cache(&self) -> bool {
        !self.kv_inputs.is_empty()
    }
}

/// JSON `weights`.
#[derive(Clone, Debug, Serialize)]
pub struct Weights {
    /// Logical parameters (int4 weights count K·N).
    pub params: i128,
    /// Bytes as stored (packed data, scales, zero points).
    pub bytes: i128,
    /// 8 · bytes / params (null without parameters).
    pub bits_per_param: Option<f64>,
}

/// JSON `kv_cache` (whole batch).
#[derive(Clone, Debug, Serialize)]
pub struct KvCache {
    pub bytes_per_token: i128,
    /// Bytes at `context` = P + G tokens.
    pub bytes_at_context: i128,
    pub context: i64,
    /// Cache tensors summed (present outputs, else past inputs).
    pub tensors: Vec<String>,
    pub dtypes: Vec<String>,
}

/// JSON `prefill`.
#[derive(Clone, Debug, Serialize)]
pub struct Prefill {
    /// Prompt positions P.
    pub tokens: i64,
    pub flops: i128,
    pub macs: i128,
    /// Σ per-node memory access (bytes read + written) of the prefill step.
    pub bytes_moved: i128,
    /// Per-node roofline time on the device, seconds (null without a device).
    pub seconds: Option<f64>,
    /// `compute` or `memory` (which roof dominates the step), null without a device.
    pub bound: Option<String>,
}

/// One decode step (JSON `decode.steps[]`).
#[derive(Clone, Debug, Serialize)]
pub struct DecodeStep {
    /// Tokens attended after this step (P + k).
    pub context: i64,
    pub flops: i128,
    pub macs: i128,
    /// Weights + KV read and written.
    pub bytes: i128,
    pub seconds: Option<f64>,
}

/// JSON `decode`.
#[derive(Clone, Debug, Serialize)]
pub struct Decode {
    pub steps_count: i64,
    /// Context of the first decode step (P + 1) and of the last (P + G).
    pub context_first: i64,
    pub context_last: i64,
    /// Mean FLOPs per generated token over the G steps (exact: an integer when it divides).
    pub flops_per_token: serde_json::Value,
    pub flops_first_token: i128,
    pub flops_last_token: i128,
    /// Σ FLOPs of the G steps.
    pub flops_total: i128,
    pub macs_per_token: serde_json::Value,
    /// Mean bytes per step: weights + KV read and written.
    pub bytes_per_token: serde_json::Value,
    /// Mean roofline time per step, seconds (null without a device).
    pub seconds_per_token: Option<f64>,
    /// G / Σ step time (positions per second; null without a device).
    pub tokens_per_second: Option<f64>,
    /// tokens_per_second × batch.
    pub batch_tokens_per_second: Option<f64>,
    /// `memory`, `compute` or `mixed` over the steps, null without a device.
    pub bound: Option<String>,
    /// FLOPs of a step as a polynomial in the step symbols (null when each step was profiled).
    pub flops_formula: Option<String>,
    /// How the steps were costed.
    pub method: String,
    pub steps: Vec<DecodeStep>,
}

/// The device of the estimate (JSON `device`).
#[derive(Clone, Debug, Serialize)]
pub struct DeviceInfo {
    pub name: String,
    pub peak_gflops: f64,
    pub bandwidth_gbs: f64,
    pub ridge_flops_per_byte: f64,
    pub source: String,
}

/// FLOPs of one op type in prefill and decode (JSON `by_op_type[]`).
#[derive(Clone, Debug, Serialize)]
pub struct OpTypeShare {
    pub op_type: String,
    /// Nodes of this type.
    pub count: u64,
    pub prefill_flops: i128,
    /// Mean over the decode steps.
    pub decode_flops_per_token: serde_json::Value,
    pub decode_flops_last_token: i128,
}

/// The result of `onnxscope llm`.
#[derive(Clone, Debug, Serialize)]
pub struct LlmReport {
    pub model: String,
    pub prompt: i64,
    pub generate: i64,
    pub batch: i64,
    pub roles: Roles,
    pub weights: Weights,
    pub kv_cache: KvCache,
    pub prefill: Prefill,
    pub decode: Decode,
    pub device: Option<DeviceInfo>,
    /// Where the FLOPs go: prefill and decode per op type.
    pub by_op_type: Vec<OpTypeShare>,
    /// Nodes no rule could cost (they count 0 in every figure).
    pub unknown: Vec<Unknown>,
    pub warnings: Vec<String>,
}

/// Loads a file and analyses it.
pub fn analyse_path(path: &Path, opts: &LlmOptions) -> Result<LlmReport> {
    let model = crate::model::load(path)?;
    analyse(&model, opts)
}

fn usage(arg: &str, msg: impl Into<String>) -> Error {
    Error::usage(arg, msg)
}

fn at_file(model: &Model) -> Location {
    Location {
        file: model.path.clone(),
        ..Default::default()
    }
}

/// The symbol when a dim is exactly one symbol.
fn plain_sym(c: &Count) -> Option<String> {
    let s = c.symbols();
    (s.len() == 1 && *c == Count::sym(&s[0])).then(|| s[0].clone())
}

/// Names of graph inputs that hold a past KV cache.
fn is_past_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("past")
        || n.starts_with("cache.")
        || n.contains(".past_key")
        || n.contains(".past_value")
}

fn is_present_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("present") || n.contains(".present")
}

/// Gives `symbol` its role; a symbol seen in two roles is an error.
fn assign(
    model: &Model,
    syms: &mut BTreeMap<String, SymbolRole>,
    symbol: &str,
    role: Role,
    source: String,
) -> Result<()> {
    if let Some(prev) = syms.get(symbol) {
        if prev.role != role {
            return Err(Error::invalid(
                at_file(model),
                format!(
                    "llm: symbol '{symbol}' is the {} axis of {} and the {} axis of {}: cannot tell its role",
                    prev.role.as_str(),
                    prev.source,
                    role.as_str(),
                    source
                ),
            ));
        }
        return Ok(());
    }
    syms.insert(
        symbol.to_string(),
        SymbolRole {
            symbol: symbol.to_string(),
            role,
            value: None,
            source,
        },
    );
    Ok(())
}

/// Role detection (see the module header).
pub fn detect_roles(model: &Model, opts: &LlmOptions) -> Result<Roles> {
    let g = &model.graph;
    let inputs: Vec<usize> = g
        .inputs
        .iter()
        .copied()
        .filter(|i| g.tensors[*i].kind == TensorKind::Input)
        .collect();
    let names: Vec<&str> = inputs.iter().map(|i| g.tensors[*i].name.as_str()).collect();
    let cannot = |msg: String| Error::invalid(at_file(model), format!("llm: {msg}"));
    let mut syms: BTreeMap<String, SymbolRole> = BTreeMap::new();
    let declared = |id: usize| -> Option<&Shape> { g.tensors[id].declared.as_ref() };
    let find = |name: &str| inputs.iter().copied().find(|i| g.tensors[*i].name == name);

    // input_ids [batch, sequence] (or inputs_embeds [batch, sequence, hidden])
    let (ids, ids_name) = match (find("input_ids"), find("inputs_embeds")) {
        (Some(i), _) => (i, "input_ids"),
        (None, Some(i)) => (i, "inputs_embeds"),
        _ => {
            return Err(cannot(format!(
                "cannot tell the roles: no input 'input_ids' [batch, sequence] (inputs: {})",
                names.join(", ")
            )))
        }
    };
    let ids_shape = declared(ids).ok_or_else(|| {
        cannot(format!(
            "cannot tell the roles: input '{ids_name}' declares no shape"
        ))
    })?;
    if ids_shape.len() < 2 {
        return Err(cannot(format!(
            "cannot tell the roles: input '{ids_name}' has rank {}, expected [batch, sequence]",
            ids_shape.len()
        )));
    }
    let mut fixed_batch = None;
    match plain_sym(&ids_shape[0]) {
        Some(b) => assign(
            model,
            &mut syms,
            &b,
            Role::Batch,
            format!("{ids_name} axis 0"),
        )?,
        None => fixed_batch = ids_shape[0].as_int().map(|v| v as i64),
    }
    let Some(seq) = plain_sym(&ids_shape[1]) else {
        return Err(cannot(format!(
            "cannot tell the roles: '{ids_name}' has a fixed sequence length {} (axis 1 must be a symbol)",
            ids_shape[1]
        )));
    };
    assign(
        model,
        &mut syms,
        &seq,
        Role::Sequence,
        format!("{ids_name} axis 1"),
    )?;

    // attention_mask [batch, total]
    if let Some(m) = find("attention_mask") {
        if let Some(s) = declared(m).filter(|s| s.len() == 2) {
            if let Some(b) = plain_sym(&s[0]) {
                assign(
                    model,
                    &mut syms,
                    &b,
                    Role::Batch,
                    "attention_mask axis 0".into(),
                )?;
            }
            if let Some(t) = plain_sym(&s[1]) {
                if t != seq {
                    assign(
                        model,
                        &mut syms,
                        &t,
                        Role::Total,
                        "attention_mask axis 1".into(),
                    )?;
                }
            }
        }
    }
    // position ids follow the sequence
    for name in ["position_ids", "token_type_ids"] {
        if let Some(p) = find(name) {
            if let Some(s) = declared(p).filter(|s| s.len() == 2) {
                if let Some(b) = plain_sym(&s[0]) {
                    assign(model, &mut syms, &b, Role::Batch, format!("{name} axis 0"))?;
                }
                if let Some(t) = plain_sym(&s[1]) {
                    assign(
                        model,
                        &mut syms,
                        &t,
                        Role::Sequence,
                        format!("{name} axis 1"),
                    )?;
                }
            }
        }
    }

    // past KV inputs [batch, kv_heads, past, head]
    let mut kv_inputs = vec![];
    for &i in &inputs {
        let t = &g.tensors[i];
        if !is_past_name(&t.name) {
            continue;
        }
        let Some(s) = declared(i).filter(|s| s.len() == 4) else {
            continue;
        };
        kv_inputs.push(t.name.clone());
        let batch_sym = plain_sym(&s[0]);
        if let Some(b) = &batch_sym {
            assign(
                model,
                &mut syms,
                b,
                Role::Batch,
                format!("{} axis 0", t.name),
            )?;
        }
        // candidates for past: symbolic axes 1 and 2 that are not the batch symbol
        let cands: Vec<(usize, String)> = (1..=2)
            .filter_map(|a| plain_sym(&s[a]).map(|x| (a, x)))
            .filter(|(_, x)| Some(x) != batch_sym.as_ref())
            .collect();
        let past_axis = match cands.as_slice() {
            [] => {
                return Err(cannot(format!(
                    "cannot tell the roles: past input '{}' has no symbolic past axis (shape {})",
                    t.name,
                    shape_text(s)
                )))
            }
            [(a, x)] => {
                assign(
                    model,
                    &mut syms,
                    x,
                    Role::Past,
                    format!("{} axis {a}", t.name),
                )?;
                *a
            }
            _ => {
                // [batch, kv_heads, past, head]: axis 2 is the past
                assign(
                    model,
                    &mut syms,
                    &cands[1].1,
                    Role::Past,
                    format!("{} axis 2", t.name),
                )?;
                2
            }
        };
        for (a, d) in s.iter().enumerate().take(3).skip(1) {
            if a != past_axis {
                if let Some(x) = plain_sym(d) {
                    if Some(&x) != batch_sym.as_ref() {
                        assign(
                            model,
                            &mut syms,
                            &x,
                            Role::KvHeads,
                            format!("{} axis {a}", t.name),
                        )?;
                    }
                }
            }
        }
        if let Some(x) = plain_sym(&s[3]) {
            assign(
                model,
                &mut syms,
                &x,
                Role::HeadSize,
                format!("{} axis 3", t.name),
            )?;
        }
    }
    let kv_outputs: Vec<String> = if kv_inputs.is_empty() {
        vec![]
    } else {
        g.outputs
            .iter()
            .map(|o| &g.tensors[*o])
            .filter(|t| is_present_name(&t.name))
            .map(|t| t.name.clone())
            .collect()
    };

    // every other symbol of the inputs
    for &i in &inputs {
        let t = &g.tensors[i];
        for (a, d) in declared(i).into_iter().flatten().enumerate() {
            for s in d.symbols() {
                if !syms.contains_key(&s) {
                    assign(
                        model,
                        &mut syms,
                        &s,
                        Role::Other,
                        format!("{} axis {a}", t.name),
                    )?;
                }
            }
        }
    }

    // values: --dim, then genai_config.json, attention nodes, present outputs
    let genai = read_genai_config(&model.path);
    let attn = attention_hints(model)?;
    let present_dims = |axis: usize| -> Option<i64> {
        kv_outputs.iter().find_map(|n| {
            g.tensor(n)
                .and_then(|t| t.declared.as_ref())
                .and_then(|s| s.get(axis))
                .and_then(|d| d.as_int())
                .map(|v| v as i64)
        })
    };
    for s in syms.values_mut() {
        if let Some(v) = opts.dims.get(&s.symbol) {
            if s.role.per_step() {
                return Err(usage(
                    "--dim",
                    format!(
                        "{}={v}: '{}' is the {} axis ({}); its value comes from --prompt and --generate",
                        s.symbol,
                        s.symbol,
                        s.role.as_str(),
                        s.source
                    ),
                ));
            }
            if s.role == Role::Batch {
                if let Some(b) = opts.batch.filter(|b| b != v) {
                    return Err(usage(
                        "--dim",
                        format!("{}={v} is the batch, but --batch {b} was given", s.symbol),
                    ));
                }
            }
            s.value = Some(*v);
            s.source = format!("--dim ({})", s.source);
            continue;
        }
        match s.role {
            Role::Batch => {
                s.value = Some(opts.batch.unwrap_or(1));
                s.source = format!(
                    "{} = {} ({})",
                    if opts.batch.is_some() {
                        "--batch"
                    } else {
                        "default batch"
                    },
                    opts.batch.unwrap_or(1),
                    s.source
                );
            }
            Role::HeadSize | Role::KvHeads => {
                let (key, hint, axis) = if s.role == Role::HeadSize {
                    ("head_size", &attn.head_size, 3)
                } else {
                    ("num_key_value_heads", &attn.kv_heads, 1)
                };
                let found = genai
                    .as_ref()
                    .and_then(|c| c.get(key).copied())
                    .map(|v| (v, format!("genai_config.json {key}")))
                    .or_else(|| hint.clone())
                    .or_else(|| {
                        present_dims(axis).map(|v| (v, format!("present outputs axis {axis}")))
                    });
                match found {
                    Some((v, src)) => {
                        s.value = Some(v);
                        s.source = format!("{src} ({})", s.source);
                    }
                    None => {
                        return Err(cannot(format!(
                            "cannot tell the value of symbol '{}' ({}, the {}): no genai_config.json beside the model, no attention node that tells it; give --dim {}=VALUE",
                            s.symbol,
                            s.source,
                            s.role.as_str(),
                            s.symbol
                        )))
                    }
                }
            }
            Role::Other => {
                return Err(cannot(format!(
                    "cannot tell what symbol '{}' ({}) stands for; give --dim {}=VALUE",
                    s.symbol, s.source, s.symbol
                )))
            }
            Role::Sequence | Role::Past | Role::Total => {}
        }
    }
    if let (Some(f), Some(b)) = (fixed_batch, opts.batch) {
        if f != b {
            return Err(usage(
                "--batch",
                format!("{b}: the export fixes the batch at {f} ('{ids_name}' axis 0)"),
            ));
        }
    }
    let symbols: Vec<SymbolRole> = {
        let order = [
            Role::Batch,
            Role::Sequence,
            Role::Past,
            Role::Total,
            Role::KvHeads,
            Role::HeadSize,
            Role::Other,
        ];
        let mut v: Vec<SymbolRole> = syms.into_values().collect();
        v.sort_by_key(|s| order.iter().position(|r| *r == s.role));
        v
    };
    let mut roles = Roles {
        batch: None,
        sequence: None,
        past: None,
        total: None,
        symbols,
        kv_inputs,
        kv_outputs,
    };
    roles.batch = roles.first(Role::Batch);
    roles.sequence = roles.first(Role::Sequence);
    roles.past = roles.first(Role::Past);
    roles.total = roles.first(Role::Total);
    Ok(roles)
}

fn shape_text(s: &Shape) -> String {
    format!(
        "[{}]",
        s.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// `head_size` and `num_key_value_heads` of the onnxruntime-genai config beside the model.
fn read_genai_config(model: &Path) -> Option<HashMap<&'static str, i64>> {
    let path = model.parent()?.join("genai_config.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let dec = v.get("model")?.get("decoder")?;
    let mut out = HashMap::new();
    for key in ["head_size", "num_key_value_heads"] {
        if let Some(x) = dec.get(key).and_then(|x| x.as_i64()).filter(|x| *x > 0) {
            out.insert(key, x);
        }
    }
    Some(out)
}

/// Head size and KV heads as the attention nodes tell them (attributes, projection widths).
#[derive(Default)]
struct AttentionHints {
    head_size: Option<(i64, String)>,
    kv_heads: Option<(i64, String)>,
}

fn attention_hints(model: &Model) -> Result<AttentionHints> {
    let g = &model.graph;
    let mut h = AttentionHints::default();
    for (id, n) in g.nodes.iter().enumerate() {
        let ms = n.domain == "com.microsoft";
        let onnx = n.domain.is_empty() || n.domain == "ai.onnx";
        let attrs = Attrs::new(&n.attributes, g.location(&model.path, id));
        let width = |slot: usize| {
            n.inputs
                .get(slot)
                .copied()
                .flatten()
                .and_then(|t| last_dim(g, t, 0))
        };
        let (heads, kv_heads, q_width) = match n.op_type.as_str() {
            "GroupQueryAttention" if ms => {
                let hq = attrs.int("num_heads")?.unwrap_or(0);
                let hkv = attrs.int("kv_num_heads")?.unwrap_or(0);
                let packed = n.inputs.get(1).copied().flatten().is_none();
                let w = width(0).map(|w| if packed { (w, hq + 2 * hkv) } else { (w, hq) });
                (hq, hkv, w)
            }
            "MultiHeadAttention" if ms => {
                let hq = attrs.int("num_heads")?.unwrap_or(0);
                (hq, hq, width(0).map(|w| (w, hq)))
            }
            "Attention" if onnx => {
                let hq = attrs.int("q_num_heads")?.unwrap_or(0);
                let hkv = attrs.int("kv_num_heads")?.unwrap_or(hq);
                (hq, hkv, width(0).map(|w| (w, hq)))
            }
            _ => continue,
        };
        let src = format!("{} '{}'", n.op_type, n.name);
        if h.kv_heads.is_none() && kv_heads > 0 {
            h.kv_heads = Some((kv_heads, format!("{src} kv heads")));
        }
        if let Some((w, parts)) = q_width {
            if h.head_size.is_none() && parts > 0 && heads > 0 && w > 0 && w % parts == 0 {
                h.head_size = Some((w / parts, format!("{src}: width {w} / {parts} heads")));
            }
        }
    }
    Ok(h)
}

/// The last dim of a tensor, from its declaration or walking back through its producers
/// (MatMulNBits N, a MatMul/Gemm weight, a bias Add).
fn last_dim(g: &Graph, t: usize, depth: usize) -> Option<i64> {
    let tensor = &g.tensors[t];
    if let Some(v) = tensor
        .declared
        .as_ref()
        .and_then(|s| s.last())
        .and_then(|d| d.as_int())
    {
        return Some(v as i64);
    }
    if depth > 8 {
        return None;
    }
    let p = &g.nodes[tensor.producer?];
    let stored_dims = |slot: usize| -> Option<Vec<i64>> {
        let t = &g.tensors[p.inputs.get(slot).copied().flatten()?];
        t.stored.as_ref().map(|s| s.dims.clone())
    };
    let attrs = |name: &str| p.attributes.iter().find(|a| a.name == name).map(|a| a.i);
    match p.op_type.as_str() {
        "MatMulNBits" => attrs("N"),
        "MatMul" => stored_dims(1).and_then(|d| d.last().copied()),
        "Gemm" => {
            let d = stored_dims(1)?;
            if attrs("transB").unwrap_or(0) != 0 {
                d.first().copied()
            } else {
                d.last().copied()
            }
        }
        "Add" | "Mul" | "Sub" | "Cast" | "Identity" => p
            .inputs
            .iter()
            .flatten()
            .filter(|i| g.tensors[**i].stored.is_none())
            .find_map(|i| last_dim(g, *i, depth + 1)),
        _ => None,
    }
}

/// Symbol values for one step (`None` leaves that role's symbols free).
fn bindings(
    roles: &Roles,
    seq: Option<i64>,
    past: Option<i64>,
    total: Option<i64>,
) -> HashMap<String, i64> {
    let mut out = HashMap::new();
    for s in &roles.symbols {
        let v = match s.role {
            Role::Sequence => seq,
            Role::Past => past,
            Role::Total => total,
            _ => s.value,
        };
        if let Some(v) = v {
            out.insert(s.symbol.clone(), v);
        }
    }
    out
}

fn profile_at(model: &Model, dims: HashMap<String, i64>, use_tract: bool) -> Result<Profile> {
    profile_model(
        model,
        &ProfileOptions {
            shapes: ShapeOptions {
                inputs: HashMap::new(),
                dims,
                use_tract,
                tract_everywhere: false,
            },
            strict: false,
        },
    )
}

/// A count that must be a number once every symbol is bound.
fn exact(model: &Model, what: &str, c: &Count) -> Result<i128> {
    c.as_int().ok_or_else(|| {
        Error::invalid(
            at_file(model),
            format!(
                "llm: {what} still depends on {} after binding every role ({c}); give --dim for them",
                c.symbols().join(", ")
            ),
        )
    })
}

/// An exact mean: an integer when it divides, else a float.
fn mean_json(sum: i128, n: i64) -> serde_json::Value {
    if n != 0 && sum % n as i128 == 0 {
        Count::int(sum / n as i128).to_json()
    } else {
        serde_json::json!(sum as f64 / n as f64)
    }
}

/// One step's exact figures.
#[derive(Clone, Debug, PartialEq, Eq)]
struct StepCost {
    flops: i128,
    macs: i128,
    /// FLOPs per op type, in the order of the decode profile's `by_op_type`.
    by_op: Vec<i128>,
}

/// The values of the step symbols at decode step k.
fn decode_step(roles: &Roles, p: i64, k: i64) -> (i64, Option<i64>, i64) {
    if roles.has_cache() {
        (1, Some(p + k - 1), p + k)
    } else {
        (p + k, None, p + k)
    }
}

/// Analyses a loaded model.
pub fn analyse(model: &Model, opts: &LlmOptions) -> Result<LlmReport> {
    for (flag, v) in [("--prompt", opts.prompt), ("--generate", opts.generate)] {
        if v < 1 {
            return Err(usage(flag, format!("{v}: must be at least 1")));
        }
    }
    if let Some(b) = opts.batch.filter(|b| *b < 1) {
        return Err(usage("--batch", format!("{b}: must be at least 1")));
    }
    let roles = detect_roles(model, opts)?;
    let mut warnings = model.warnings.clone();
    let known: Vec<&str> = roles.symbols.iter().map(|s| s.symbol.as_str()).collect();
    let mut extra: Vec<&String> = opts
        .dims
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .collect();
    extra.sort();
    if !extra.is_empty() {
        warnings.push(format!(
            "--dim {}: not a symbol of the model's inputs (ignored)",
            extra
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let (p, g_steps) = (opts.prompt, opts.generate);
    let batch = roles
        .symbols
        .iter()
        .find(|s| s.role == Role::Batch)
        .and_then(|s| s.value)
        .or(opts.batch)
        .unwrap_or(1);
    let cache = roles.has_cache();
    if !cache {
        warnings.push(format!(
            "no KV-cache inputs (past_*): each generated token re-runs the whole prefix (decode step k has sequence {p}+k)"
        ));
    } else if roles.kv_outputs.is_empty() {
        warnings.push(
            "no present KV outputs: KV-cache bytes are read from the past inputs' shapes".into(),
        );
    }

    // prefill
    let mut pre = profile_at(
        model,
        bindings(&roles, Some(p), Some(0), Some(p)),
        opts.use_tract,
    )?;
    let weights = {
        let params = exact(model, "the parameter count", &pre.totals.params)?;
        let bytes = exact(model, "the weight bytes", &pre.totals.param_bytes)?;
        Weights {
            params,
            bytes,
            bits_per_param: (params > 0).then(|| 8.0 * bytes as f64 / params as f64),
        }
    };
    let mut prefill = Prefill {
        tokens: p,
        flops: exact(model, "prefill FLOPs", &pre.totals.flops)?,
        macs: exact(model, "prefill MACs", &pre.totals.macs)?,
        bytes_moved: exact(model, "prefill memory access", &pre.totals.mem_access_bytes)?,
        seconds: None,
        bound: None,
    };
    if let Some(d) = &opts.device {
        roofline::apply(&mut pre, d);
        if let Some(r) = &pre.roofline {
            prefill.seconds = Some(r.time_s);
            prefill.bound = Some(
                if r.compute_time_s >= r.memory_time_s {
                    "compute"
                } else {
                    "memory"
                }
                .into(),
            );
        }
    }

    // decode: one profile with the step symbols free, checked at the first and last step
    let free = if cache {
        bindings(&roles, Some(1), None, None)
    } else {
        bindings(&roles, None, None, None)
    };
    let sym = profile_at(model, free, opts.use_tract)?;
    let step_values = |k: i64| -> HashMap<String, i64> {
        let (s, past, total) = decode_step(&roles, p, k);
        bindings(&roles, Some(s), past, Some(total))
    };
    let eval = |c: &Count, k: i64| c.bind(&step_values(k)).as_int();
    let op_keys: Vec<&str> = sym.by_op_type.iter().map(|r| r.key.as_str()).collect();
    let from_poly = |k: i64| -> Option<StepCost> {
        Some(StepCost {
            flops: eval(&sym.totals.flops, k)?,
            macs: eval(&sym.totals.macs, k)?,
            by_op: sym
                .by_op_type
                .iter()
                .map(|r| eval(&r.flops, k))
                .collect::<Option<Vec<_>>>()?,
        })
    };
    let concrete = |k: i64| -> Result<(StepCost, Profile)> {
        let prof = profile_at(model, step_values(k), opts.use_tract)?;
        let mut by_op = vec![0; op_keys.len()];
        for r in &prof.by_op_type {
            if let Some(i) = op_keys.iter().position(|k| *k == r.key) {
                by_op[i] = exact(model, "decode FLOPs", &r.flops)?;
            }
        }
        let c = StepCost {
            flops: exact(model, "decode FLOPs", &prof.totals.flops)?,
            macs: exact(model, "decode MACs", &prof.totals.macs)?,
            by_op,
        };
        Ok((c, prof))
    };
    let unknown_names =
        |pr: &Profile| -> Vec<String> { pr.unknown.iter().map(|u| u.name.clone()).collect() };
    // The check at the last step suffices: the rules that are not polynomial in the context
    // clamp it (a local window attends min(T, W + 1) keys), so the polynomial is exact at every
    // step exactly when it is exact at the largest context.
    let (last_cost, last_profile) = concrete(g_steps)?;
    let poly_ok = from_poly(g_steps).as_ref() == Some(&last_cost)
        && unknown_names(&last_profile) == unknown_names(&sym);
    let mut costs: Vec<StepCost> = Vec::with_capacity(g_steps as usize);
    let method;
    let mut flops_formula = None;
    let from_poly_all = poly_ok
        .then(|| (1..=g_steps).map(from_poly).collect::<Option<Vec<_>>>())
        .flatten();
    if let Some(all) = from_poly_all {
        costs = all;
        method = "one profile with the step symbols free, bound per step (checked against the last step profiled)".to_string();
        flops_formula = Some(sym.totals.flops.to_string());
    } else {
        for k in 1..g_steps {
            costs.push(concrete(k)?.0);
        }
        costs.push(last_cost);
        method = "each step profiled (the cost is not one polynomial in the context)".into();
    }
    let unknown = last_profile.unknown.clone();
    let mut by_op_type = vec![];
    for (i, r) in sym.by_op_type.iter().enumerate() {
        let prefill_flops = match pre.by_op_type.iter().find(|x| x.key == r.key) {
            Some(x) => exact(model, "prefill FLOPs", &x.flops)?,
            None => 0,
        };
        let sum: i128 = costs.iter().map(|c| c.by_op[i]).sum();
        by_op_type.push(OpTypeShare {
            op_type: r.key.clone(),
            count: r.count,
            prefill_flops,
            decode_flops_per_token: mean_json(sum, g_steps),
            decode_flops_last_token: costs[costs.len() - 1].by_op[i],
        });
    }
    if !unknown.is_empty() {
        warnings.push(format!(
            "{} nodes could not be costed and count 0 in every figure (see `unknown`)",
            unknown.len()
        ));
    }

    // KV cache
    let context = p + g_steps;
    let kv_names: Vec<String> = if !roles.kv_outputs.is_empty() {
        roles.kv_outputs.clone()
    } else {
        roles.kv_inputs.clone()
    };
    let (kv_bytes_at, kv_dtypes) = kv_bytes(model, &roles, &sym, &kv_names)?;
    let at_context = |c: i64| -> Result<i128> {
        // present holds `total` = c tokens after the step with past c − 1; a past input, c
        let vals = if !roles.kv_outputs.is_empty() {
            bindings(&roles, Some(1), Some(c - 1), Some(c))
        } else {
            bindings(&roles, Some(1), Some(c), Some(c + 1))
        };
        exact(model, "KV-cache bytes", &kv_bytes_at.bind(&vals))
    };
    let (bytes_per_token, bytes_at_context) = if cache {
        let hi = at_context(context)?;
        let lo = at_context(context - 1)?;
        (hi - lo, hi)
    } else {
        (0, 0)
    };
    if cache && bytes_at_context != bytes_per_token * context as i128 {
        warnings.push(format!(
            "KV-cache bytes are not proportional to the context ({bytes_at_context} bytes at {context} tokens, {bytes_per_token} per token)"
        ));
    }
    let kv_cache = KvCache {
        bytes_per_token,
        bytes_at_context,
        context,
        tensors: if cache { kv_names } else { vec![] },
        dtypes: kv_dtypes,
    };

    // decode bytes and time
    let mut steps = Vec::with_capacity(g_steps as usize);
    let (mut sum_f, mut sum_m, mut sum_b) = (0i128, 0i128, 0i128);
    let (mut sum_t, mut n_mem, mut n_comp) = (0.0f64, 0, 0);
    for (i, c) in costs.iter().enumerate() {
        let k = i as i64 + 1;
        // weights once + KV read (past P+k−1 tokens) + KV written (the new token)
        let bytes = weights.bytes + bytes_per_token * (p + k) as i128;
        let seconds = opts.device.as_ref().map(|d| {
            let r = roofline::classify(c.flops as f64, bytes as f64, d);
            match r.bound {
                roofline::Bound::Memory => n_mem += 1,
                roofline::Bound::Compute => n_comp += 1,
                roofline::Bound::None => {}
            }
            r.time_s
        });
        sum_t += seconds.unwrap_or(0.0);
        sum_f += c.flops;
        sum_m += c.macs;
        sum_b += bytes;
        steps.push(DecodeStep {
            context: p + k,
            flops: c.flops,
            macs: c.macs,
            bytes,
            seconds,
        });
    }
    let with_device = opts.device.is_some();
    let tps = (with_device && sum_t > 0.0).then(|| g_steps as f64 / sum_t);
    let decode = Decode {
        steps_count: g_steps,
        context_first: p + 1,
        context_last: p + g_steps,
        flops_per_token: mean_json(sum_f, g_steps),
        flops_first_token: costs[0].flops,
        flops_last_token: costs[costs.len() - 1].flops,
        flops_total: sum_f,
        macs_per_token: mean_json(sum_m, g_steps),
        bytes_per_token: mean_json(sum_b, g_steps),
        seconds_per_token: with_device.then(|| sum_t / g_steps as f64),
        tokens_per_second: tps,
        batch_tokens_per_second: tps.map(|t| t * batch as f64),
        bound: with_device.then(|| {
            match (n_mem, n_comp) {
                (_, 0) => "memory",
                (0, _) => "compute",
                _ => "mixed",
            }
            .to_string()
        }),
        flops_formula,
        method,
        steps,
    };
    let device = opts.device.as_ref().map(|d| DeviceInfo {
        name: d.name.clone(),
        peak_gflops: d.peak_gflops,
        bandwidth_gbs: d.bandwidth_gbs,
        ridge_flops_per_byte: d.ridge(),
        source: d.source.clone(),
    });
    Ok(LlmReport {
        model: model.path.display().to_string(),
        prompt: p,
        generate: g_steps,
        batch,
        roles,
        weights,
        kv_cache,
        prefill,
        decode,
        device,
        by_op_type,
        unknown,
        warnings,
    })
}

/// Σ bytes of the cache tensors as a count in the step symbols, and their element types.
fn kv_bytes(
    model: &Model,
    roles: &Roles,
    sym: &Profile,
    names: &[String],
) -> Result<(Count, Vec<String>)> {
    let g = &model.graph;
    let fixed = bindings(roles, None, None, None);
    let mut total = Count::zero();
    let mut dtypes: Vec<String> = vec![];
    for name in names {
        // the inferred shape of the decode profile, else the declaration
        let inferred = sym
            .nodes
            .iter()
            .flat_map(|n| n.outputs.iter())
            .find(|t| *t.name == **name)
            .and_then(|t| t.shape.as_deref().map(|s| (s.to_vec(), t.dtype)));
        let t = g.tensor(name);
        let (shape, dtype) = match (inferred, t) {
            (Some((s, d)), _) => (s, crate::analysis::memory::dtype_of_name(d)),
            (None, Some(t)) if t.declared.is_some() => {
                (t.declared.clone().expect("checked"), t.dtype)
            }
            _ => {
                return Err(Error::invalid(
                    at_file(model),
                    format!("llm: the shape of KV-cache tensor '{name}' is unknown"),
                ))
            }
        };
        let shape: Shape = shape.iter().map(|d| d.bind(&fixed)).collect();
        total = &total + &crate::analysis::memory::bytes_of(&Count::product(&shape), dtype);
        let d = dt::name(dtype).to_string();
        if !dtypes.contains(&d) {
            dtypes.push(d);
        }
    }
    Ok((total, dtypes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_mean_is_an_integer_when_it_divides() {
        // (6 + 7 + 8 + 9) / 4 = 7.5; (6 + 7 + 8) / 3 = 7
        assert_eq!(mean_json(30, 4), serde_json::json!(7.5));
        assert_eq!(mean_json(21, 3), serde_json::json!(7));
    }

    #[test]
    fn cache_tensor_names() {
        for n in [
            "past_key_values.0.key",
            "past_key_0",
            "past.3.value",
            "past_value",
        ] {
            assert!(is_past_name(n), "{n}");
        }
        for n in ["input_ids", "attention_mask", "position_ids"] {
            assert!(!is_past_name(n), "{n}");
        }
        assert!(is_present_name("present.0.key") && is_present_name("present_value_1"));
        assert!(!is_present_name("logits"));
    }

    #[test]
    fn a_plain_symbol_is_one_symbol_alone() {
        let s = Count::sym("past");
        assert_eq!(plain_sym(&s).as_deref(), Some("past"));
        assert_eq!(plain_sym(&(&s + 1)), None);
        assert_eq!(plain_sym(&Count::int(4)), None);
    }
}
