//! The budget file (TOML): model-level limits, `[dims]`, `[op_type.X]` limits (no node of that
//! type over), `[[node]]` name-glob limits (no matching node over) and `[[model]]` sections that
//! apply all of these to the models whose path matches a glob. Every limit remembers the line it
//! was read from, so a report can say where a number came from, and every error names the line.
//!
//! Precedence, key by key: the file's top level, then each matching `[[model]]` section in file
//! order (a later match overrides an earlier one), then the command line's `--max-*` / `--dim`.
//! An `[llm]` table sets the LLM budgets of `budget::llm`, at the top level and in `[[model]]`
//! sections (`[model.llm]`), with the same precedence key by key: the top level's `[llm]`, then
//! each matching section's in file order, then the command line's LLM flags.

use std::collections::BTreeMap;
use std::path::Path;

use globset::{Glob, GlobBuilder, GlobMatcher};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use toml::Spanned;

use super::llm::{LlmLimit, LlmLimits};
use super::units::{parse_amount, Kind};
use super::{Limit, Metric};
use crate::analysis::roofline::Device;
use crate::error::{Error, Location, Result};

/// An amount read from TOML: an integer, a whole float, or a string with units.
#[derive(Clone, Copy, Debug)]
struct Amt<const BYTES: bool>(u128);

impl<'de, const BYTES: bool> Deserialize<'de> for Amt<BYTES> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<const B: bool>;
        impl<const B: bool> Visitor<'_> for V<B> {
            type Value = Amt<B>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "an amount: an integer or a string such as \"8.5G\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Amt<B>, E> {
                if v < 0 {
                    return Err(E::custom(format!("{v}: must not be negative")));
                }
                Ok(Amt(v as u128))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Amt<B>, E> {
                Ok(Amt(v as u128))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Amt<B>, E> {
                if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_992.0 {
                    Ok(Amt(v as u128))
                } else {
                    Err(E::custom(format!(
                        "{v}: not a whole non-negative number (write large or fractional amounts as strings, e.g. \"1.5G\")"
                    )))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Amt<B>, E> {
                let kind = if B { Kind::Bytes } else { Kind::Count };
                parse_amount(v, kind)
                    .map(Amt)
                    .map_err(|m| E::custom(format!("'{v}': {m}")))
            }
        }
        d.deserialize_any(V::<BYTES>)
    }
}

type Count = Option<Spanned<Amt<false>>>;
type Bytes = Option<Spanned<Amt<true>>>;

/// Limits of one node (in `[op_type.X]` and `[[node]]`).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNodeLimits {
    max_flops: Count,
    max_macs: Count,
    max_params: Count,
    max_param_bytes: Bytes,
    max_activation_bytes: Bytes,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNodeRule {
    glob: Spanned<String>,
    max_flops: Count,
    max_macs: Count,
    max_params: Count,
    max_param_bytes: Bytes,
    max_activation_bytes: Bytes,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModelSection {
    glob: Spanned<String>,
    max_flops: Count,
    max_macs: Count,
    max_params: Count,
    max_param_bytes: Bytes,
    max_activation_bytes: Bytes,
    max_peak_memory: Bytes,
    #[serde(default)]
    dims: BTreeMap<String, Spanned<i64>>,
    #[serde(default)]
    op_type: BTreeMap<String, Spanned<RawNodeLimits>>,
    #[serde(default)]
    node: Vec<Spanned<RawNodeRule>>,
    llm: Option<RawLlm>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    max_flops: Count,
    max_macs: Count,
    max_params: Count,
    max_param_bytes: Bytes,
    max_activation_bytes: Bytes,
    max_peak_memory: Bytes,
    #[serde(default)]
    dims: BTreeMap<String, Spanned<i64>>,
    #[serde(default)]
    op_type: BTreeMap<String, Spanned<RawNodeLimits>>,
    #[serde(default)]
    node: Vec<Spanned<RawNodeRule>>,
    #[serde(default)]
    model: Vec<Spanned<RawModelSection>>,
    llm: Option<RawLlm>,
}

/// `[llm]`: the generation measured and the LLM limits (see `budget::llm`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLlm {
    prompt: Option<Spanned<i64>>,
    generate: Option<Spanned<i64>>,
    max_decode_flops_per_token: Count,
    max_kv_cache_bytes: Bytes,
    min_tokens_per_second: Count,
    device: Option<Spanned<String>>,
    peak_gflops: Option<Spanned<f64>>,
    bandwidth_gbs: Option<Spanned<f64>>,
}

fn llm_limits(r: &RawLlm, path: &str, src: &str) -> Result<LlmLimits> {
    let lim = |v: &Option<Spanned<Amt<false>>>| {
        v.as_ref().map(|v| LlmLimit {
            value: v.get_ref().0,
            source: format!("{path}:{}", line_of(src, v.span().start)),
        })
    };
    let kv = r.max_kv_cache_bytes.as_ref().map(|v| LlmLimit {
        value: v.get_ref().0,
        source: format!("{path}:{}", line_of(src, v.span().start)),
    });
    let bad = |span: std::ops::Range<usize>, m: String| at_line(path, src, span.start, m);
    for (key, v) in [("prompt", &r.prompt), ("generate", &r.generate)] {
        if let Some(v) = v.as_ref().filter(|v| *v.get_ref() < 1) {
            return Err(bad(
                v.span(),
                format!("llm.{key}: {} must be at least 1", v.get_ref()),
            ));
        }
    }
    let device = match (&r.device, &r.peak_gflops, &r.bandwidth_gbs) {
        (Some(d), None, None) => Some(
            Device::preset(d.get_ref()).map_err(|e| bad(d.span(), format!("llm.device: {e}")))?,
        ),
        (None, Some(p), Some(b)) => Some(
            Device::custom(*p.get_ref(), *b.get_ref())
                .map_err(|e| bad(p.span(), format!("llm: {e}")))?,
        ),
        (None, None, None) => None,
        (Some(d), _, _) => {
            return Err(bad(
                d.span(),
                "llm: give device, or peak_gflops with bandwidth_gbs, not both".into(),
            ))
        }
        (None, Some(x), None) | (None, None, Some(x)) => {
            return Err(bad(
                x.span(),
                "llm: peak_gflops and bandwidth_gbs go together".into(),
            ))
        }
    };
    Ok(LlmLimits {
        prompt: r.prompt.as_ref().map(|v| *v.get_ref()),
        generate: r.generate.as_ref().map(|v| *v.get_ref()),
        max_decode_flops_per_token: lim(&r.max_decode_flops_per_token),
        max_kv_cache_bytes: kv,
        min_tokens_per_second: lim(&r.min_tokens_per_second),
        device,
    })
}

/// A `[[node]]` rule: a name glob and its limits.
#[derive(Clone, Debug)]
pub struct NodeRule {
    pub glob: String,
    pub matcher: GlobMatcher,
    pub limits: Vec<Limit>,
}

/// What one level of the file sets (the top level, or one `[[model]]` section).
#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub limits: Vec<Limit>,
    pub dims: Vec<(String, i64)>,
    pub op_type: Vec<(String, Vec<Limit>)>,
    pub node: Vec<NodeRule>,
}

/// A `[[model]]` section.
#[derive(Clone, Debug)]
pub struct ModelSection {
    pub glob: String,
    matcher: GlobMatcher,
    /// Match the file name only (the glob has no `/`).
    name_only: bool,
    pub scope: Scope,
    /// The section's `[model.llm]` (empty without one).
    pub llm: LlmLimits,
}

#[derive(Clone, Debug)]
pub struct Budget {
    pub path: String,
    pub top: Scope,
    pub models: Vec<ModelSection>,
    /// The `[llm]` table (empty without one).
    pub llm: LlmLimits,
}

/// The limits in force for one model, after precedence.
#[derive(Clone, Debug, Default)]
pub struct Effective {
    pub dims: BTreeMap<String, i64>,
    pub model: BTreeMap<Metric, Limit>,
    pub op_type: BTreeMap<String, BTreeMap<Metric, Limit>>,
    /// By glob text, in the order the globs first appear.
    pub node: Vec<(String, GlobMatcher, BTreeMap<Metric, Limit>)>,
}

impl Effective {
    pub fn is_empty(&self) -> bool {
        self.model.is_empty() && self.op_type.is_empty() && self.node.is_empty()
    }

    fn apply(&mut self, s: &Scope) {
        for (k, v) in &s.dims {
            self.dims.insert(k.clone(), *v);
        }
        for l in &s.limits {
            self.model.insert(l.metric, l.clone());
        }
        for (op, limits) in &s.op_type {
            let e = self.op_type.entry(op.clone()).or_default();
            for l in limits {
                e.insert(l.metric, l.clone());
            }
        }
        for r in &s.node {
            let i = match self.node.iter().position(|(g, _, _)| *g == r.glob) {
                Some(i) => i,
                None => {
                    self.node
                        .push((r.glob.clone(), r.matcher.clone(), BTreeMap::new()));
                    self.node.len() - 1
                }
            };
            for l in &r.limits {
                self.node[i].2.insert(l.metric, l.clone());
            }
        }
    }
}

/// 1-based line of a byte offset.
fn line_of(src: &str, offset: usize) -> usize {
    src[..offset.min(src.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

/// An error at a line of the budget file: `budget.toml:12: message`.
fn at_line(path: &str, src: &str, offset: usize, message: String) -> Error {
    Error::invalid(
        Location {
            file: format!("{path}:{}", line_of(src, offset)).into(),
            ..Default::default()
        },
        message,
    )
}

/// Turns toml's error into `path:LINE: [key: ]message`; when the error points at a value the
/// key in front of it is named.
fn toml_error(path: &str, src: &str, e: toml::de::Error) -> Error {
    let msg = e.message().trim().to_string();
    let Some(span) = e.span() else {
        return Error::invalid(
            Location {
                file: path.into(),
                ..Default::default()
            },
            msg,
        );
    };
    let start = span.start.min(src.len());
    let line_start = src[..start].rfind('\n').map_or(0, |i| i + 1);
    let before = &src[line_start..start];
    let msg = match before.split_once('=') {
        Some((key, _)) if !key.trim().is_empty() && !before.trim_start().starts_with('[') => {
            format!("{}: {msg}", key.trim())
        }
        _ => msg,
    };
    at_line(path, src, start, msg)
}

fn limit_from<const B: bool>(
    out: &mut Vec<Limit>,
    metric: Metric,
    v: &Option<Spanned<Amt<B>>>,
    path: &str,
    src: &str,
) {
    if let Some(v) = v {
        out.push(Limit {
            metric,
            max: v.get_ref().0,
            source: format!("{path}:{}", line_of(src, v.span().start)),
        });
    }
}

fn node_limits(r: &RawNodeLimits, path: &str, src: &str) -> Vec<Limit> {
    let mut v = vec![];
    limit_from(&mut v, Metric::Flops, &r.max_flops, path, src);
    limit_from(&mut v, Metric::Macs, &r.max_macs, path, src);
    limit_from(&mut v, Metric::Params, &r.max_params, path, src);
    limit_from(&mut v, Metric::ParamBytes, &r.max_param_bytes, path, src);
    limit_from(
        &mut v,
        Metric::ActivationBytes,
        &r.max_activation_bytes,
        path,
        src,
    );
    v
}

fn glob_of(g: &Spanned<String>, literal_sep: bool, path: &str, src: &str) -> Result<GlobMatcher> {
    let text = g.get_ref();
    if text.is_empty() {
        return Err(at_line(
            path,
            src,
            g.span().start,
            "glob: empty glob".into(),
        ));
    }
    let built = if literal_sep {
        GlobBuilder::new(text).literal_separator(true).build()
    } else {
        Glob::new(text)
    };
    built.map(|g| g.compile_matcher()).map_err(|e| {
        let kind = e.kind().to_string();
        at_line(
            path,
            src,
            g.span().start,
            format!("glob: bad glob '{text}': {kind}"),
        )
    })
}

struct Parts<'a> {
    limits: Vec<Limit>,
    dims: &'a BTreeMap<String, Spanned<i64>>,
    op_type: &'a BTreeMap<String, Spanned<RawNodeLimits>>,
    node: &'a [Spanned<RawNodeRule>],
}

fn scope(p: Parts, path: &str, src: &str) -> Result<Scope> {
    let mut s = Scope {
        limits: p.limits,
        ..Default::default()
    };
    for (k, v) in p.dims {
        // 0 is legal (an empty tensor, e.g. past_sequence_length = 0), as with --dim
        if *v.get_ref() < 0 {
            return Err(at_line(
                path,
                src,
                v.span().start,
                format!("{k}: dims must be zero or positive, found {}", v.get_ref()),
            ));
        }
        s.dims
            .push((crate::model::graph::sanitize_symbol(k), *v.get_ref()));
    }
    for (op, l) in p.op_type {
        let limits = node_limits(l.get_ref(), path, src);
        if limits.is_empty() {
            return Err(at_line(
                path,
                src,
                l.span().start,
                format!("[op_type.{op}] sets no limit"),
            ));
        }
        s.op_type.push((op.clone(), limits));
    }
    for r in p.node {
        let raw = r.get_ref();
        let matcher = glob_of(&raw.glob, false, path, src)?;
        let limits = node_limits(
            &RawNodeLimits {
                max_flops: raw.max_flops.clone(),
                max_macs: raw.max_macs.clone(),
                max_params: raw.max_params.clone(),
                max_param_bytes: raw.max_param_bytes.clone(),
                max_activation_bytes: raw.max_activation_bytes.clone(),
            },
            path,
            src,
        );
        if limits.is_empty() {
            return Err(at_line(
                path,
                src,
                r.span().start,
                format!("[[node]] '{}' sets no limit", raw.glob.get_ref()),
            ));
        }
        s.node.push(NodeRule {
            glob: raw.glob.get_ref().clone(),
            matcher,
            limits,
        });
    }
    Ok(s)
}

macro_rules! model_limits {
    ($r:expr, $path:expr, $src:expr) => {{
        let mut v = vec![];
        limit_from(&mut v, Metric::Flops, &$r.max_flops, $path, $src);
        limit_from(&mut v, Metric::Macs, &$r.max_macs, $path, $src);
        limit_from(&mut v, Metric::Params, &$r.max_params, $path, $src);
        limit_from(&mut v, Metric::ParamBytes, &$r.max_param_bytes, $path, $src);
        limit_from(
            &mut v,
            Metric::ActivationBytes,
            &$r.max_activation_bytes,
            $path,
            $src,
        );
        limit_from(&mut v, Metric::PeakMemory, &$r.max_peak_memory, $path, $src);
        v
    }};
}

impl Budget {
    /// Reads and validates a budget file.
    pub fn load(path: &Path) -> Result<Budget> {
        let src = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Budget::parse(&path.display().to_string(), &src)
    }

    /// Parses budget text; `path` is only used in messages and limit sources.
    pub fn parse(path: &str, src: &str) -> Result<Budget> {
        let raw: RawFile = toml::from_str(src).map_err(|e| toml_error(path, src, e))?;
        let top = scope(
            Parts {
                limits: model_limits!(raw, path, src),
                dims: &raw.dims,
                op_type: &raw.op_type,
                node: &raw.node,
            },
            path,
            src,
        )?;
        let mut models = vec![];
        for m in &raw.model {
            let r = m.get_ref();
            let text = r.glob.get_ref().trim_start_matches("./").to_string();
            let matcher = glob_of(&r.glob, true, path, src)?;
            let sc = scope(
                Parts {
                    limits: model_limits!(r, path, src),
                    dims: &r.dims,
                    op_type: &r.op_type,
                    node: &r.node,
                },
                path,
                src,
            )?;
            let llm = match &r.llm {
                Some(l) => llm_limits(l, path, src)?,
                None => LlmLimits::default(),
            };
            models.push(ModelSection {
                name_only: !text.contains('/'),
                glob: r.glob.get_ref().clone(),
                matcher,
                scope: sc,
                llm,
            });
        }
        let llm = match &raw.llm {
            Some(r) => llm_limits(r, path, src)?,
            None => LlmLimits::default(),
        };
        Ok(Budget {
            path: path.to_string(),
            top,
            models,
            llm,
        })
    }

    /// The `[[model]]` sections whose glob matches a model, in file order.
    fn matching<'a>(&'a self, model: &Path) -> impl Iterator<Item = &'a ModelSection> + 'a {
        let rel = relative(model);
        let name = model
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        self.models.iter().filter(move |m| {
            if m.name_only {
                m.matcher.is_match(&name)
            } else {
                m.matcher.is_match(&rel)
            }
        })
    }

    /// The file's limits for a model: the top level, then every matching `[[model]]` section.
    pub fn effective(&self, model: &Path) -> Effective {
        let mut e = Effective::default();
        e.apply(&self.top);
        for m in self.matching(model) {
            e.apply(&m.scope);
        }
        e
    }

    /// The file's LLM limits for a model, key by key: the top level's `[llm]`, then every
    /// matching section's `[model.llm]` (a later match overrides an earlier one).
    pub fn effective_llm(&self, model: &Path) -> LlmLimits {
        self.matching(model)
            .fold(self.llm.clone(), |acc, m| m.llm.over(&acc))
    }
}

/// A model path as matched by `[[model]]` globs: relative to the working directory when it lies
/// under it, without a leading `./`, with `/` separators.
pub fn relative(model: &Path) -> String {
    let mut p = model.to_path_buf();
    if p.is_absolute() {
        if let Ok(cwd) = std::env::current_dir() {
            if let Ok(r) = p.strip_prefix(&cwd) {
                p = r.to_path_buf();
            }
        }
    }
    let s = p.to_string_lossy().replace('\\', "/");
    let mut s = s.as_str();
    while let Some(r) = s.strip_prefix("./") {
        s = r;
    }
    s.to_string()
}

/// Applies the command line's `--max-*` limits over the file's (the command line wins; its
/// `--dim` bindings win the same way, in `eval::evaluate`).
pub fn with_cli(mut e: Effective, limits: &[Limit]) -> Effective {
    for l in limits {
        e.model.insert(l.metric, l.clone());
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> String {
        Budget::parse("b.toml", src).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_line_and_key() {
        assert_eq!(
            err("max_flops = \"8G\"\n\n[op_type.Conv]\nmax_flop = 3\n"),
            "b.toml:4: unknown field `max_flop`, expected one of `max_flops`, `max_macs`, `max_params`, `max_param_bytes`, `max_activation_bytes`"
        );
        let e = err("max_params = 1\nmax_flops = \"8.5X\"\n");
        assert!(
            e.starts_with("b.toml:2: max_flops: '8.5X': unknown unit 'X'"),
            "{e}"
        );
        let e = err("[[node]]\nglob = \"a[\"\nmax_flops = 1\n");
        assert!(e.starts_with("b.toml:2: glob: bad glob 'a['"), "{e}");
        let e = err("[[node]]\nglob = \"a\"\n");
        assert_eq!(e, "b.toml:1: [[node]] 'a' sets no limit");
        let e = err("max_flops = 1\n[dims]\nN = -1\n");
        assert_eq!(e, "b.toml:3: N: dims must be zero or positive, found -1");
        let b = Budget::parse("b.toml", "max_flops = 1\n[dims]\npast = 0\n").unwrap();
        assert_eq!(b.top.dims, [("past".to_string(), 0)]);
        let e = err("max_param_bytes = -1\n");
        assert!(
            e.starts_with("b.toml:1: max_param_bytes: -1: must not be negative"),
            "{e}"
        );
    }

    #[test]
    fn precedence() {
        let b = Budget::parse(
            "b.toml",
            "max_flops = 10\nmax_params = 5\n[dims]\nN = 1\n\
             [[model]]\nglob = \"m/a*.onnx\"\nmax_flops = 20\n[model.dims]\nN = 2\n\
             [[model]]\nglob = \"a2.onnx\"\nmax_flops = 30\n",
        )
        .unwrap();
        let e = b.effective(Path::new("m/a1.onnx"));
        assert_eq!(e.model[&Metric::Flops].max, 20);
        assert_eq!(e.model[&Metric::Flops].source, "b.toml:7");
        assert_eq!(e.model[&Metric::Params].max, 5);
        assert_eq!(e.dims["N"], 2);
        let e = b.effective(Path::new("./m/a2.onnx"));
        assert_eq!(e.model[&Metric::Flops].max, 30);
        let e = b.effective(Path::new("m/sub/a1.onnx"));
        assert_eq!(e.model[&Metric::Flops].max, 10, "* does not cross /");
    }

    #[test]
    fn llm_precedence() {
        let b = Budget::parse(
            "b.toml",
            "[llm]\nprompt = 8\nmax_kv_cache_bytes = 100\ndevice = \"a100\"\n\
             [[model]]\nglob = \"a*.onnx\"\n[model.llm]\nmax_kv_cache_bytes = 200\ngenerate = 3\n\
             [[model]]\nglob = \"ab.onnx\"\n[model.llm]\nmax_kv_cache_bytes = 300\npeak_gflops = 1.0\nbandwidth_gbs = 2.0\n",
        )
        .unwrap();
        let kv = |l: &LlmLimits| {
            l.max_kv_cache_bytes
                .as_ref()
                .map(|x| (x.value, x.source.clone()))
        };
        // no section matches: the top level
        let e = b.effective_llm(Path::new("z.onnx"));
        assert_eq!(kv(&e), Some((100, "b.toml:3".into())));
        assert_eq!((e.prompt, e.generate), (Some(8), None));
        assert_eq!(e.device.as_ref().map(|d| d.name.as_str()), Some("a100"));
        // one section: its keys over the top level's, the others kept
        let e = b.effective_llm(Path::new("d/ac.onnx"));
        assert_eq!(kv(&e), Some((200, "b.toml:8".into())));
        assert_eq!((e.prompt, e.generate), (Some(8), Some(3)));
        assert_eq!(e.device.as_ref().map(|d| d.name.as_str()), Some("a100"));
        // two sections: the later one wins where it sets a key
        let e = b.effective_llm(Path::new("ab.onnx"));
        assert_eq!(kv(&e), Some((300, "b.toml:13".into())));
        assert_eq!((e.prompt, e.generate), (Some(8), Some(3)));
        assert_eq!(e.device.as_ref().map(|d| d.peak_gflops), Some(1.0));
        // the command line over the file
        let cli = LlmLimits {
            generate: Some(9),
            ..Default::default()
        };
        let e = cli.over(&b.effective_llm(Path::new("ab.onnx")));
        assert_eq!((e.prompt, e.generate), (Some(8), Some(9)));
        assert_eq!(kv(&e), Some((300, "b.toml:13".into())));
    }
}
