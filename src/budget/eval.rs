//! Evaluation: profile a model with the dims in force, turn every limit that applies to it into
//! a `Check` (value, limit, margin, pass), and compare against a baseline. Fails closed: an
//! uncostable node makes any FLOP/MAC limit an error (unless `--allow-unknown`), and a count
//! still symbolic after binding is an error asking for `--dim`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::file::Effective;
use super::units::{group, pct, Increase};
use super::{Limit, Metric};
use crate::analysis::{profile, NodeReport, Profile, ProfileOptions, Totals};
use crate::error::{Error, Location, Result};
use crate::model::shapes::ShapeOptions;
use crate::sym::Count;

/// One limit checked on one model.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// `max_flops`, `op_type.Conv.max_flops`, `node[/layer4/*].max_macs`, `baseline.flops`.
    pub name: String,
    pub value: i128,
    pub limit: i128,
    /// `limit - value`: headroom when positive, the excess when negative.
    pub margin: i128,
    pub pass: bool,
    /// Where the limit comes from: `--max-flops`, `budget.toml:12`, `--baseline …`.
    pub source: String,
    /// One sentence for people (also the JUnit failure message and the GitHub annotation).
    pub message: String,
    /// Nodes an op-type or node-glob rule selected (None for totals).
    #[serde(skip)]
    pub matched: Option<usize>,
}

/// A node whose FLOPs grew against the baseline (matched by name; absent there = 0).
#[derive(Clone, Debug, Serialize)]
pub struct Growth {
    pub name: String,
    pub op_type: String,
    pub baseline: i128,
    pub value: i128,
    pub growth: i128,
}

#[derive(Clone, Debug, Serialize)]
pub struct BaselineReport {
    pub path: String,
    /// Top 5 by absolute FLOP growth, largest first (execution order among equals).
    pub grown_nodes: Vec<Growth>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ModelReport {
    pub path: String,
    pub checks: Vec<Check>,
    pub pass: bool,
    pub baseline: Option<BaselineReport>,
    pub notes: Vec<String>,
}

/// What a baseline contributes: its totals, per-node FLOPs, uncostable nodes and dims.
#[derive(Clone, Debug)]
pub struct Snapshot {
    totals: BTreeMap<Metric, Count>,
    nodes: Vec<(String, String, Count)>,
    unknown: Vec<(String, String, String)>,
    dims: BTreeMap<String, Option<i64>>,
}

/// `--baseline`: a saved `profile --format json`, or a model profiled with the same dims.
#[derive(Clone, Debug)]
pub enum Baseline {
    Report { path: PathBuf, snapshot: Snapshot },
    Model(PathBuf),
}

const COMPARED: [Metric; 5] = [
    Metric::Flops,
    Metric::Macs,
    Metric::Params,
    Metric::ParamBytes,
    Metric::ActivationBytes,
];

fn total_of(t: &Totals, m: Metric) -> Count {
    match m {
        Metric::Flops => t.flops.clone(),
        Metric::Macs => t.macs.clone(),
        Metric::Params => t.params.clone(),
        Metric::ParamBytes => t.param_bytes.clone(),
        Metric::ActivationBytes => t.activation_bytes.clone(),
        Metric::PeakMemory => unreachable!("peak memory is not a profile total"),
    }
}

fn node_metric(n: &NodeReport, m: Metric) -> &Count {
    match m {
        Metric::Flops => &n.flops,
        Metric::Macs => &n.macs,
        Metric::Params => &n.params,
        Metric::ParamBytes => &n.param_bytes,
        Metric::ActivationBytes => &n.activation_bytes,
        Metric::PeakMemory => unreachable!("peak memory is not a node limit"),
    }
}

/// Peak memory of a model: the pass that computes it is not written yet.
/// Peak memory of inference: weight bytes + the peak of live activation bytes
/// (`memory.inference_bytes` of the profile).
fn peak_memory(p: &Profile) -> Option<Count> {
    p.memory.as_ref().map(|m| m.inference_bytes.clone())
}

impl Snapshot {
    fn from_profile(p: &Profile) -> Snapshot {
        Snapshot {
            totals: COMPARED
                .iter()
                .map(|m| (*m, total_of(&p.totals, *m)))
                .collect(),
            nodes: p
                .nodes
                .iter()
                .map(|n| (n.name.clone(), n.op_type.clone(), n.flops.clone()))
                .collect(),
            unknown: p
                .unknown
                .iter()
                .map(|u| (u.name.clone(), u.op_type.clone(), u.reason.clone()))
                .collect(),
            dims: p.dims.clone(),
        }
    }

    /// Reads the JSON of `onnxscope profile --format json`.
    fn from_json(path: &Path, text: &str) -> Result<Snapshot> {
        let bad = |m: String| {
            Error::invalid(
                Location {
                    file: path.to_path_buf(),
                    ..Default::default()
                },
                format!("not an `onnxscope profile --format json` report: {m}"),
            )
        };
        let v: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let count = |v: &Value, what: &str| -> Result<Count> {
            match v {
                Value::Number(n) => n
                    .as_i64()
                    .map(|x| Count::int(x as i128))
                    .or_else(|| n.as_u64().map(|x| Count::int(x as i128)))
                    .ok_or_else(|| bad(format!("{what}: {n} is not an integer"))),
                Value::String(s) => {
                    parse_count(s).ok_or_else(|| bad(format!("{what}: '{s}' is not a count")))
                }
                _ => Err(bad(format!("{what} is missing"))),
            }
        };
        let mut totals = BTreeMap::new();
        for m in COMPARED {
            totals.insert(
                m,
                count(&v["totals"][m.total()], &format!("totals.{}", m.total()))?,
            );
        }
        let mut nodes = vec![];
        for (i, n) in v["nodes"]
            .as_array()
            .ok_or_else(|| bad("nodes is missing".into()))?
            .iter()
            .enumerate()
        {
            let s = |k: &str| n[k].as_str().unwrap_or_default().to_string();
            nodes.push((
                s("name"),
                s("op_type"),
                count(&n["flops"], &format!("nodes[{i}].flops"))?,
            ));
        }
        let unknown = v["unknown"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|u| {
                        let s = |k: &str| u[k].as_str().unwrap_or_default().to_string();
                        (s("name"), s("op_type"), s("reason"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let dims = v["dims"]
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_i64())).collect())
            .unwrap_or_default();
        Ok(Snapshot {
            totals,
            nodes,
            unknown,
            dims,
        })
    }
}

impl Baseline {
    /// `.json` (or text starting with `{`) is a saved report; anything else a model.
    pub fn load(path: &Path) -> Result<Baseline> {
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let is_onnx = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
        if is_onnx {
            return Ok(Baseline::Model(path.to_path_buf()));
        }
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let looks_json = bytes
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'{');
        if is_json || looks_json {
            let text = String::from_utf8_lossy(&bytes);
            Ok(Baseline::Report {
                path: path.to_path_buf(),
                snapshot: Snapshot::from_json(path, &text)?,
            })
        } else {
            Ok(Baseline::Model(path.to_path_buf()))
        }
    }

    fn path(&self) -> &Path {
        match self {
            Baseline::Report { path, .. } | Baseline::Model(path) => path,
        }
    }

    fn snapshot(&self, opts: &ProfileOptions) -> Result<Snapshot> {
        match self {
            Baseline::Report { snapshot, .. } => Ok(snapshot.clone()),
            Baseline::Model(p) => Ok(Snapshot::from_profile(&profile(p, opts)?)),
        }
    }
}

/// Parses a count as `Count` prints it: `8195202560*N`, `1000*N + 24`, `2*N^2 - N`.
pub fn parse_count(s: &str) -> Option<Count> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if s.is_empty() {
        return None;
    }
    let mut total = Count::zero();
    let mut start = 0;
    let b = s.as_bytes();
    let mut terms = vec![];
    for i in 1..=b.len() {
        if i == b.len() || b[i] == b'+' || b[i] == b'-' {
            terms.push(&s[start..i]);
            start = i;
        }
    }
    for t in terms {
        let (neg, body) = match t.as_bytes()[0] {
            b'-' => (true, &t[1..]),
            b'+' => (false, &t[1..]),
            _ => (false, t),
        };
        if body.is_empty() {
            return None;
        }
        let mut term = Count::int(if neg { -1 } else { 1 });
        for f in body.split('*') {
            let (base, pow) = match f.split_once('^') {
                Some((b, p)) => (b, p.parse::<u32>().ok().filter(|p| *p >= 1 && *p <= 16)?),
                None => (f, 1),
            };
            let factor = if base.bytes().all(|c| c.is_ascii_digit()) && !base.is_empty() {
                Count::int(base.parse::<i128>().ok()?)
            } else if base
                .bytes()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
                && base.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
            {
                Count::sym(base)
            } else {
                return None;
            };
            for _ in 0..pow {
                term = &term * &factor;
            }
        }
        total = &total + &term;
    }
    (!total.overflowed()).then_some(total)
}

/// What `evaluate` needs besides the model.
pub struct Ctx<'a> {
    pub shapes: &'a ShapeOptions,
    pub baseline: Option<&'a Baseline>,
    pub increase: Increase,
    pub allow_unknown: bool,
}

/// Binds counts with the dims in force; a count still symbolic is an error asking for --dim.
struct Binder<'a> {
    dims: &'a HashMap<String, i64>,
}

impl Binder<'_> {
    fn int(&self, c: &Count, at: Location, what: &str) -> Result<i128> {
        let b = c.bind(self.dims);
        if b.overflowed() {
            return Err(Error::Overflow {
                at: Box::new(at),
                what: what.into(),
            });
        }
        b.as_int().ok_or_else(|| {
            let syms = b.symbols();
            Error::invalid(
                at,
                format!(
                    "{what} is {b}, which depends on the unbound {} {}: cannot compare it with a limit; pass {} (or bind it under [dims] in the budget file)",
                    if syms.len() == 1 { "symbol" } else { "symbols" },
                    syms.join(", "),
                    syms.iter()
                        .map(|s| format!("--dim {s}=VALUE"))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            )
        })
    }
}

fn clamp(v: u128) -> i128 {
    i128::try_from(v).unwrap_or(i128::MAX)
}

fn at_file(p: &Path) -> Location {
    Location {
        file: p.to_path_buf(),
        ..Default::default()
    }
}

fn at_node(p: &Path, n: &NodeReport) -> Location {
    Location {
        file: p.to_path_buf(),
        node: Some(n.name.clone()),
        op_type: Some(n.op_type.clone()),
        attribute: None,
    }
}

/// "8,481,080,320 FLOPs, over the limit 8,000,000,000 (--max-flops) by 481,080,320 (6.01%)".
fn verdict(value: i128, limit: i128, unit: &str, source: &str) -> String {
    if value <= limit {
        format!(
            "{} {unit}, within the limit {} ({source}) by {}",
            group(value),
            group(limit),
            group(limit - value)
        )
    } else {
        format!(
            "{} {unit}, over the limit {} ({source}) by {} ({})",
            group(value),
            group(limit),
            group(value - limit),
            pct(value - limit, limit)
        )
    }
}

fn total_check(m: Metric, l: &Limit, value: i128) -> Check {
    let limit = clamp(l.max);
    Check {
        name: m.key().into(),
        value,
        limit,
        margin: limit - value,
        pass: value <= limit,
        source: l.source.clone(),
        message: verdict(value, limit, m.unit(), &l.source),
        matched: None,
    }
}

/// A rule over nodes (`what`: "Conv node", "node matching '/layer4/*'"): its value is the worst
/// node's.
fn node_check(
    name: String,
    what: &str,
    nodes: &[&NodeReport],
    m: Metric,
    l: &Limit,
    model: &Path,
    binder: &Binder,
) -> Result<Check> {
    let limit = clamp(l.max);
    let mut vals = vec![];
    for n in nodes {
        vals.push((
            *n,
            binder.int(node_metric(n, m), at_node(model, n), m.total())?,
        ));
    }
    let mut worst: Option<(&NodeReport, i128)> = None;
    for (n, v) in &vals {
        if worst.is_none_or(|(_, w)| *v > w) {
            worst = Some((n, *v));
        }
    }
    let over: Vec<&str> = vals
        .iter()
        .filter(|(_, v)| *v > limit)
        .map(|(n, _)| n.name.as_str())
        .collect();
    let (value, message) = match worst {
        None => (0, format!("no {what}")),
        Some((n, v)) => {
            let mut s = format!(
                "{} '{}' ({}): {}",
                if over.is_empty() {
                    "largest node"
                } else {
                    "node"
                },
                n.name,
                n.op_type,
                verdict(v, limit, m.unit(), &l.source)
            );
            if !over.is_empty() {
                let shown: Vec<String> = over.iter().take(5).map(|s| format!("'{s}'")).collect();
                s.push_str(&format!(
                    "; {} of {} over: {}{}",
                    over.len(),
                    vals.len(),
                    shown.join(", "),
                    if over.len() > 5 { ", …" } else { "" }
                ));
            }
            (v, s)
        }
    };
    Ok(Check {
        name,
        value,
        limit,
        margin: limit - value,
        pass: over.is_empty(),
        source: l.source.clone(),
        message,
        matched: Some(nodes.len()),
    })
}

/// The first FLOP/MAC limit in force (fail-closed on uncostable nodes cites it).
fn costing_limit(eff: &Effective, baseline: bool) -> Option<String> {
    let costs = |m: &Metric| m.needs_costing();
    if let Some(m) = eff.model.keys().find(|m| costs(m)) {
        return Some(m.key().to_string());
    }
    for (op, ls) in &eff.op_type {
        if let Some(m) = ls.keys().find(|m| costs(m)) {
            return Some(format!("op_type.{op}.{}", m.key()));
        }
    }
    for (g, _, ls) in &eff.node {
        if let Some(m) = ls.keys().find(|m| costs(m)) {
            return Some(format!("node[{g}].{}", m.key()));
        }
    }
    baseline.then(|| "--baseline (FLOPs, MACs)".to_string())
}

/// Checks one model against the limits in force for it.
pub fn evaluate(model: &Path, eff: &Effective, ctx: &Ctx) -> Result<ModelReport> {
    let mut shapes = ctx.shapes.clone();
    for (k, v) in &eff.dims {
        // the command line's --dim wins over the file's [dims]
        shapes.dims.entry(k.clone()).or_insert(*v);
    }
    let opts = ProfileOptions {
        shapes,
        strict: false,
    };
    let p = profile(model, &opts)?;
    let binder = Binder {
        dims: &opts.shapes.dims,
    };
    let mut notes = vec![];
    if let Some(u) = p.unknown.first() {
        if let (Some(limit), false) = (
            costing_limit(eff, ctx.baseline.is_some()),
            ctx.allow_unknown,
        ) {
            return Err(Error::invalid(
                Location {
                    file: model.to_path_buf(),
                    node: Some(u.name.clone()),
                    op_type: Some(u.op_type.clone()),
                    attribute: None,
                },
                format!(
                    "cannot be costed ({}), so {limit} cannot be checked; --allow-unknown counts uncostable nodes as 0",
                    u.reason
                ),
            ));
        }
        let names: Vec<String> = p
            .unknown
            .iter()
            .take(5)
            .map(|u| format!("'{}' ({})", u.name, u.op_type))
            .collect();
        notes.push(format!(
            "{} node{} could not be costed and count{} 0 FLOPs and MACs: {}{}",
            p.unknown.len(),
            if p.unknown.len() == 1 { "" } else { "s" },
            if p.unknown.len() == 1 { "s" } else { "" },
            names.join(", "),
            if p.unknown.len() > 5 { ", …" } else { "" }
        ));
    }

    let mut checks = vec![];
    for (m, l) in &eff.model {
        let value = if *m == Metric::PeakMemory {
            match peak_memory(&p) {
                Some(c) => binder.int(&c, at_file(model), m.total())?,
                None => return Err(peak_memory_error(l)),
            }
        } else {
            binder.int(&total_of(&p.totals, *m), at_file(model), m.total())?
        };
        checks.push(total_check(*m, l, value));
    }
    for (op, ls) in &eff.op_type {
        let nodes: Vec<&NodeReport> = p.nodes.iter().filter(|n| n.op_type == *op).collect();
        for (m, l) in ls {
            checks.push(node_check(
                format!("op_type.{op}.{}", m.key()),
                &format!("{op} node"),
                &nodes,
                *m,
                l,
                model,
                &binder,
            )?);
        }
    }
    for (glob, matcher, ls) in &eff.node {
        let nodes: Vec<&NodeReport> = p
            .nodes
            .iter()
            .filter(|n| matcher.is_match(&n.name))
            .collect();
        for (m, l) in ls {
            checks.push(node_check(
                format!("node[{glob}].{}", m.key()),
                &format!("node matching '{glob}'"),
                &nodes,
                *m,
                l,
                model,
                &binder,
            )?);
        }
    }

    let baseline = match ctx.baseline {
        None => None,
        Some(b) => Some(compare(model, &p, b, &opts, ctx, &binder, &mut checks)?),
    };
    Ok(ModelReport {
        path: model.display().to_string(),
        pass: checks.iter().all(|c| c.pass),
        checks,
        baseline,
        notes,
    })
}

fn peak_memory_error(l: &Limit) -> Error {
    let message = "peak memory could not be computed for this model";
    if l.source.starts_with("--") {
        Error::usage(&l.source, message)
    } else {
        Error::invalid(
            Location {
                file: l.source.clone().into(),
                ..Default::default()
            },
            format!("max_peak_memory: {message}"),
        )
    }
}

fn compare(
    model: &Path,
    p: &Profile,
    b: &Baseline,
    opts: &ProfileOptions,
    ctx: &Ctx,
    binder: &Binder,
    checks: &mut Vec<Check>,
) -> Result<BaselineReport> {
    let bpath = b.path();
    let old = b.snapshot(opts)?;
    for (k, v) in &old.dims {
        if let (Some(was), Some(now)) = (v, binder.dims.get(k)) {
            if was != now {
                return Err(Error::invalid(
                    at_file(bpath),
                    format!(
                        "the baseline was profiled with {k}={was}, this check binds {k}={now}; profile it again with --dim {k}={now}"
                    ),
                ));
            }
        }
    }
    if let (Some((name, op, reason)), false) = (old.unknown.first(), ctx.allow_unknown) {
        return Err(Error::invalid(
            Location {
                file: bpath.to_path_buf(),
                node: Some(name.clone()),
                op_type: Some(op.clone()),
                attribute: None,
            },
            format!(
                "cannot be costed ({reason}), so the baseline's FLOPs and MACs cannot be compared; --allow-unknown counts uncostable nodes as 0"
            ),
        ));
    }
    // nodes that grew most
    let mut before: HashMap<&str, i128> = HashMap::new();
    for (name, _, flops) in &old.nodes {
        if let Some(v) = flops.bind(binder.dims).as_int() {
            before.entry(name.as_str()).or_insert(v);
        }
    }
    let mut grown: Vec<Growth> = vec![];
    for n in &p.nodes {
        let Some(now) = n.flops.bind(binder.dims).as_int() else {
            continue;
        };
        let was = before.get(n.name.as_str()).copied().unwrap_or(0);
        if now > was {
            grown.push(Growth {
                name: n.name.clone(),
                op_type: n.op_type.clone(),
                baseline: was,
                value: now,
                growth: now - was,
            });
        }
    }
    grown.sort_by_key(|g| std::cmp::Reverse(g.growth));
    grown.truncate(5);

    let source = format!("--baseline {}", bpath.display());
    for m in COMPARED {
        let was = binder.int(&old.totals[&m], at_file(bpath), m.total())?;
        let now = binder.int(&total_of(&p.totals, m), at_file(model), m.total())?;
        let limit = ctx.increase.allowed(was);
        let pass = now <= limit;
        let delta = now - was;
        let mut message = format!(
            "{} {} vs baseline {}: {}{} ({}{}), {} the allowed {}",
            group(now),
            m.unit(),
            group(was),
            if delta >= 0 { "+" } else { "" },
            group(delta),
            if delta >= 0 { "+" } else { "" },
            pct(delta, was),
            if pass { "within" } else { "over" },
            ctx.increase,
        );
        if !pass {
            message.push_str(&format!(" (at most {})", group(limit)));
            if m == Metric::Flops && !grown.is_empty() {
                let g: Vec<String> = grown
                    .iter()
                    .map(|g| format!("'{}' +{}", g.name, group(g.growth)))
                    .collect();
                message.push_str(&format!("; grew most: {}", g.join(", ")));
            }
        }
        checks.push(Check {
            name: format!("baseline.{}", m.total()),
            value: now,
            limit,
            margin: limit - now,
            pass,
            source: source.clone(),
            message,
            matched: None,
        });
    }
    Ok(BaselineReport {
        path: bpath.display().to_string(),
        grown_nodes: grown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_printed_counts() {
        for s in [
            "8195202560*N",
            "1000*N + 24",
            "2*N^2 - N",
            "-N",
            "7",
            "0",
            "N*seq + 3*N",
        ] {
            let c = parse_count(s).unwrap_or_else(|| panic!("{s}"));
            let again = parse_count(&c.to_string()).unwrap();
            assert_eq!(c, again, "{s}");
        }
        assert_eq!(parse_count("2*N^2 - N").unwrap().to_string(), "2*N^2 - N");
        let b = HashMap::from([("N".to_string(), 3)]);
        assert_eq!(
            parse_count("1000*N + 24").unwrap().bind(&b).as_int(),
            Some(3024)
        );
        for bad in ["", "N +", "2**N", "3N", "N^0", "a.b"] {
            assert!(parse_count(bad).is_none(), "{bad}");
        }
    }
}
