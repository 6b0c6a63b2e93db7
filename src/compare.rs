//! `compare`: several models side by side — totals, per op type, per stage, or node by node (a
//! model diff) — each value with its delta against the first model, absolute and in percent;
//! and the ResNeXt grouping study (`--resnext 1x64d,2x40d,...`), built in memory by `synth`;
//! and the grouped-query attention study (`--llama 32x32,32x8,32x1`, heads × kv-heads): each
//! configuration synthesized in memory by `synth llama` (graph only) and costed by the `llm`
//! analysis ([`LlamaComparison`]).
//! Each model is an [`Entry`] whose [`Source`] is a file or a synthesized configuration.
//! Rendered ([`Render`]) as a table, JSON, CSV, Markdown, or a self-contained SVG / HTML bar
//! chart; the table and Markdown share one row builder, and HTML embeds the Markdown rows.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::analysis::llm::{LlmOptions, LlmReport};
use crate::analysis::{profile_model, Profile, ProfileOptions};
use crate::error::{Error, Result};
use crate::model::shapes::ShapeOptions;
use crate::report::{human, human_f, Format, Render};
use crate::sym::Count;
use crate::synth::llama::LlamaConfig;
use crate::synth::ResNeXtConfig;
use crate::util::text::{new_table, right, xml_escape as esc};

/// What the rows are keyed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum By {
    /// Model totals (FLOPs, MACs, params, bytes, …).
    #[default]
    Total,
    /// FLOPs per op type.
    Op,
    /// FLOPs per stage.
    Stage,
    /// FLOPs node by node, with a node diff against the first model.
    Node,
}

crate::choices!(By {
    "total" => By::Total,
    "op" => By::Op,
    "stage" => By::Stage,
    "node" => By::Node,
});

/// Where a compared model comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// An ONNX file.
    File(PathBuf),
    /// A ResNet/ResNeXt configuration synthesized in memory.
    Synth(ResNeXtConfig),
}

impl Source {
    /// The short label of tables and charts: the file stem, or `CxDd`.
    pub fn label(&self) -> String {
        match self {
            Source::File(p) => p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string()),
            Source::Synth(c) => format!("{}x{}d", c.cardinality, c.width),
        }
    }

    /// The model built (or read) as ONNX bytes; `weights` asks a synthesized one for its
    /// random weights.
    fn bytes(&self, weights: bool) -> Result<Vec<u8>> {
        match self {
            Source::File(p) => std::fs::read(p).map_err(|source| Error::Io {
                path: p.clone(),
                source,
            }),
            Source::Synth(c) => {
                let cfg = ResNeXtConfig {
                    weights,
                    ..c.clone()
                };
                Ok(crate::synth::to_bytes(&crate::synth::resnext(&cfg)?))
            }
        }
    }

    /// The path a loaded model is known by (in messages).
    fn load_path(&self) -> PathBuf {
        match self {
            Source::File(p) => p.clone(),
            Source::Synth(_) => PathBuf::from(format!("{}.onnx", self.label())),
        }
    }
}

/// `models/a.onnx`, or `synth:resnext50_32x4d` (the `path` of the JSON report).
impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Synth(c) => {
                write!(f, "synth:resnext{}_{}x{}d", c.depth, c.cardinality, c.width)
            }
        }
    }
}

/// The ResNeXt configurations of `list` (`1x64d,32x4d`) at `depth`, graph only.
pub fn resnext_sources(list: &str, depth: u32) -> Result<Vec<Source>> {
    Ok(crate::synth::parse_config_list(list)?
        .into_iter()
        .map(|(card, width)| {
            Source::Synth(ResNeXtConfig {
                weights: false,
                ..ResNeXtConfig::resnext(depth, card, width)
            })
        })
        .collect())
}

/// Options of [`run`].
#[derive(Clone, Debug, Default)]
pub struct CompareOptions {
    pub by: By,
    /// Also run each model through tract and report the median latency.
    pub measure: bool,
    /// Runs per model for `measure` (the median is reported).
    pub repeat: usize,
    pub shapes: ShapeOptions,
}

/// One model in a comparison.
pub struct Entry {
    pub label: String,
    pub source: Source,
    pub profile: Profile,
    /// Median latency in ms, with `--measure`.
    pub measured_ms: Option<f64>,
}

/// A row: a key and one value per model (None where the model lacks the key).
pub struct Row {
    pub key: String,
    pub values: Vec<Option<Count>>,
}

pub struct NodeDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// (name, what changed)
    pub changed: Vec<(String, String)>,
}

pub struct Comparison {
    pub entries: Vec<Entry>,
    pub by: By,
    pub rows: Vec<Row>,
    /// Node-level differences of each model against the first (`--by node`).
    pub diffs: Vec<NodeDiff>,
}

fn total_rows(entries: &[Entry]) -> Vec<Row> {
    type Get = fn(&Profile) -> Option<Count>;
    let metrics: Vec<(&str, Get)> = vec![
        ("flops", |p| Some(p.totals.flops.clone())),
        ("macs", |p| Some(p.totals.macs.clone())),
        ("params", |p| Some(p.totals.params.clone())),
        ("param_bytes", |p| Some(p.totals.param_bytes.clone())),
        ("activation_bytes", |p| {
            Some(p.totals.activation_bytes.clone())
        }),
        ("grouped_conv_saved_flops", |p| {
            Some(p.totals.grouped_conv.saved_flops.clone())
        }),
        ("grouped_conv_saved_params", |p| {
            Some(p.totals.grouped_conv.saved_params.clone())
        }),
        ("mem_access_bytes", |p| {
            Some(p.totals.mem_access_bytes.clone()).filter(|c| !c.is_zero())
        }),
        ("peak_activation_bytes", |p| {
            p.memory.as_ref().map(|m| m.peak_activation_bytes.clone())
        }),
        ("nodes", |p| Some(Count::int(p.totals.nodes as i128))),
    ];
    metrics
        .into_iter()
        .map(|(k, f)| Row {
            key: k.to_string(),
            values: entries.iter().map(|e| f(&e.profile)).collect(),
        })
        .filter(|r| r.values.iter().any(Option::is_some))
        .collect()
}

fn keyed_rows(entries: &[Entry], get: impl Fn(&Profile) -> Vec<(String, Count)>) -> Vec<Row> {
    let mut order: Vec<String> = vec![];
    let mut maps: Vec<HashMap<String, Count>> = vec![];
    for e in entries {
        let mut m = HashMap::new();
        for (k, v) in get(&e.profile) {
            if !order.contains(&k) {
                order.push(k.clone());
            }
            m.insert(k, v);
        }
        maps.push(m);
    }
    order
        .into_iter()
        .map(|k| Row {
            values: maps.iter().map(|m| m.get(&k).cloned()).collect(),
            key: k,
        })
        .collect()
}

fn node_diff(a: &Profile, b: &Profile) -> NodeDiff {
    let an: BTreeMap<&str, &crate::analysis::NodeReport> =
        a.nodes.iter().map(|n| (n.name.as_str(), n)).collect();
    let bn: BTreeMap<&str, &crate::analysis::NodeReport> =
        b.nodes.iter().map(|n| (n.name.as_str(), n)).collect();
    let added = b
        .nodes
        .iter()
        .filter(|n| !an.contains_key(n.name.as_str()))
        .map(|n| n.name.clone())
        .collect();
    let removed = a
        .nodes
        .iter()
        .filter(|n| !bn.contains_key(n.name.as_str()))
        .map(|n| n.name.clone())
        .collect();
    let mut changed = vec![];
    for n in &a.nodes {
        let Some(m) = bn.get(n.name.as_str()) else {
            continue;
        };
        let mut what = vec![];
        if n.op_type != m.op_type {
            what.push(format!("op {} → {}", n.op_type, m.op_type));
        }
        let shape = |r: &crate::analysis::NodeReport| {
            r.outputs
                .first()
                .map(|t| crate::report::shape_str(&t.shape))
                .unwrap_or_default()
        };
        if shape(n) != shape(m) {
            what.push(format!("output {} → {}", shape(n), shape(m)));
        }
        if n.group != m.group {
            what.push(format!("group {:?} → {:?}", n.group, m.group));
        }
        if n.flops != m.flops {
            what.push(format!("flops {} → {}", n.flops, m.flops));
        }
        if n.params != m.params {
            what.push(format!("params {} → {}", n.params, m.params));
        }
        if !what.is_empty() {
            changed.push((n.name.clone(), what.join("; ")));
        }
    }
    NodeDiff {
        added,
        removed,
        changed,
    }
}

/// Builds the comparison of profiled entries.
pub fn compare(entries: Vec<Entry>, by: By) -> Comparison {
    let rows = match by {
        By::Total => total_rows(&entries),
        By::Op => keyed_rows(&entries, |p| {
            p.by_op_type
                .iter()
                .map(|r| (r.key.clone(), r.flops.clone()))
                .collect()
        }),
        By::Stage => keyed_rows(&entries, |p| {
            p.by_stage
                .iter()
                .map(|r| (r.key.clone(), r.flops.clone()))
                .collect()
        }),
        By::Node => keyed_rows(&entries, |p| {
            p.nodes
                .iter()
                .map(|n| (n.name.clone(), n.flops.clone()))
                .collect()
        }),
    };
    let diffs = if by == By::Node {
        entries
            .iter()
            .skip(1)
            .map(|e| node_diff(&entries[0].profile, &e.profile))
            .collect()
    } else {
        vec![]
    };
    Comparison {
        entries,
        by,
        rows,
        diffs,
    }
}

/// Delta of `v` against `base`, and the percentage (symbols at 1).
fn delta(base: &Option<Count>, v: &Option<Count>) -> Option<(Count, Option<f64>)> {
    let (b, v) = (base.as_ref()?, v.as_ref()?);
    let d = v - b;
    let pct = (b.approx() != 0.0).then(|| 100.0 * d.approx() / b.approx());
    Some((d, pct))
}

fn pct_str(p: Option<f64>) -> String {
    match p {
        Some(p) => format!("{p:+.2}%"),
        None => "-".into(),
    }
}

fn signed_human(c: &Count) -> String {
    match c.as_int() {
        Some(v) if v > 0 => format!("+{}", human_f(v as f64)),
        Some(v) => human_f(v as f64),
        None => human(c),
    }
}

fn measured_row(c: &Comparison) -> Option<Vec<f64>> {
    c.entries.iter().map(|e| e.measured_ms).collect()
}

pub fn render_table(c: &Comparison, markdown: bool) -> String {
    let mut header = vec![match c.by {
        By::Total => "metric".to_string(),
        By::Op => "op_type (flops)".into(),
        By::Stage => "stage (flops)".into(),
        By::Node => "node (flops)".into(),
    }];
    for (i, e) in c.entries.iter().enumerate() {
        header.push(if i == 0 {
            e.label.clone()
        } else {
            format!("{} (Δ, %)", e.label)
        });
    }
    let mut rows: Vec<Vec<String>> = vec![];
    for r in &c.rows {
        let mut cells = vec![r.key.clone()];
        for (i, v) in r.values.iter().enumerate() {
            let base = v.as_ref().map(human).unwrap_or_else(|| "-".into());
            if i == 0 {
                cells.push(base);
            } else {
                match delta(&r.values[0], v) {
                    Some((d, p)) => {
                        cells.push(format!("{base} ({}, {})", signed_human(&d), pct_str(p)))
                    }
                    None => cells.push(base),
                }
            }
        }
        rows.push(cells);
    }
    if let Some(ms) = measured_row(c) {
        let mut cells = vec!["measured_ms (median)".to_string()];
        for (i, m) in ms.iter().enumerate() {
            if i == 0 {
                cells.push(format!("{m:.2}"));
            } else {
                cells.push(format!(
                    "{m:.2} ({:+.2}, {:+.2}%)",
                    m - ms[0],
                    100.0 * (m - ms[0]) / ms[0]
                ));
            }
        }
        rows.push(cells);
    }
    let mut out = grid(&header, &rows, markdown);
    for (i, d) in c.diffs.iter().enumerate() {
        let label = &c.entries[i + 1].label;
        out.push_str(&format!(
            "\n{label} against {}: {} added, {} removed, {} changed\n",
            c.entries[0].label,
            d.added.len(),
            d.removed.len(),
            d.changed.len()
        ));
        for n in &d.added {
            out.push_str(&format!("  + {n}\n"));
        }
        for n in &d.removed {
            out.push_str(&format!("  - {n}\n"));
        }
        for (n, w) in &d.changed {
            out.push_str(&format!("  ~ {n}: {w}\n"));
        }
    }
    out
}

/// A Markdown table, or an aligned text table with the value columns on the right.
fn grid(header: &[String], rows: &[Vec<String>], markdown: bool) -> String {
    let mut out = String::new();
    if markdown {
        out.push_str(&format!("| {} |\n", header.join(" | ")));
        out.push_str(&format!("|---|{}\n", "---:|".repeat(header.len() - 1)));
        for r in rows {
            out.push_str(&format!("| {} |\n", r.join(" | ")));
        }
    } else {
        let mut t = new_table(header);
        for r in rows {
            t.add_row(r.iter().enumerate().map(|(i, s)| {
                if i > 0 {
                    right(s)
                } else {
                    comfy_table::Cell::new(s)
                }
            }));
        }
        out.push_str(&t.to_string());
        out.push('\n');
    }
    out
}

pub fn render_json(c: &Comparison) -> Value {
    let rows: Vec<Value> = c
        .rows
        .iter()
        .map(|r| {
            let deltas: Vec<Value> = r.values.iter().map(|v| delta(&r.values[0], v).map(|(d, _)| d.to_json()).unwrap_or(Value::Null)).collect();
            let pcts: Vec<Value> = r.values.iter().map(|v| delta(&r.values[0], v).and_then(|(_, p)| p).map(Value::from).unwrap_or(Value::Null)).collect();
            json!({
                "key": r.key,
                "values": r.values.iter().map(|v| v.as_ref().map(Count::to_json).unwrap_or(Value::Null)).collect::<Vec<_>>(),
                "delta": deltas,
                "delta_pct": pcts,
            })
        })
        .collect();
    let diffs: Vec<Value> = c
        .diffs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            json!({
                "model": c.entries[i + 1].label,
                "added": d.added,
                "removed": d.removed,
                "changed": d.changed.iter().map(|(n, w)| json!({"name": n, "change": w})).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "models": c.entries.iter().map(|e| json!({"label": e.label, "path": e.source.to_string(), "measured_ms": e.measured_ms})).collect::<Vec<_>>(),
        "by": format!("{:?}", c.by).to_lowercase(),
        "rows": rows,
        "node_diff": diffs,
    })
}

pub fn render_csv(c: &Comparison) -> String {
    let mut w = csv::Writer::from_writer(vec![]);
    let mut header = vec!["key".to_string()];
    for (i, e) in c.entries.iter().enumerate() {
        header.push(e.label.clone());
        if i > 0 {
            header.push(format!("{}_delta", e.label));
            header.push(format!("{}_delta_pct", e.label));
        }
    }
    w.write_record(&header).expect("csv");
    for r in &c.rows {
        let mut rec = vec![r.key.clone()];
        for (i, v) in r.values.iter().enumerate() {
            rec.push(v.as_ref().map(|c| c.to_string()).unwrap_or_default());
            if i > 0 {
                let d = delta(&r.values[0], v);
                rec.push(d.as_ref().map(|(d, _)| d.to_string()).unwrap_or_default());
                rec.push(
                    d.and_then(|(_, p)| p)
                        .map(|p| format!("{p:.4}"))
                        .unwrap_or_default(),
                );
            }
        }
        w.write_record(&rec).expect("csv");
    }
    String::from_utf8(w.into_inner().expect("csv")).expect("utf8")
}

/// Grouped bars: one group per metric (FLOPs, MACs, params, memory access, measured ms), one bar
/// per model, each group scaled to its own maximum, the value written above each bar.
pub fn render_svg(c: &Comparison) -> String {
    let totals = total_rows(&c.entries);
    let mut groups: Vec<(String, Vec<f64>)> = totals
        .iter()
        .filter(|r| {
            matches!(
                r.key.as_str(),
                "flops" | "macs" | "params" | "mem_access_bytes"
            )
        })
        .map(|r| {
            (
                r.key.clone(),
                r.values
                    .iter()
                    .map(|v| v.as_ref().map(Count::approx).unwrap_or(0.0))
                    .collect(),
            )
        })
        .collect();
    if let Some(ms) = measured_row(c) {
        groups.push(("measured ms".into(), ms));
    }
    let colors = [
        "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
    ];
    let n = c.entries.len().max(1);
    let bar_w = 44.0;
    let gap = 36.0;
    let group_w = n as f64 * bar_w + gap;
    let (left, top, plot_h) = (40.0, 40.0, 240.0);
    let width = left + groups.len() as f64 * group_w + 20.0;
    let legend_h = 22.0 * n as f64;
    let height = top + plot_h + 50.0 + legend_h;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
<text x="{left}" y="22" font-size="14" font-weight="bold">Model comparison (each group scaled to its largest value)</text>
<line x1="{left}" y1="{base:.0}" x2="{x2:.0}" y2="{base:.0}" stroke="black"/>
"#,
        base = top + plot_h,
        x2 = width - 20.0
    );
    for (gi, (name, vals)) in groups.iter().enumerate() {
        let max = vals.iter().cloned().fold(0.0_f64, f64::max);
        let gx = left + gi as f64 * group_w + gap / 2.0;
        for (mi, v) in vals.iter().enumerate() {
            let h = if max > 0.0 { plot_h * v / max } else { 0.0 };
            let x = gx + mi as f64 * bar_w;
            let y = top + plot_h - h;
            let label = if name == "measured ms" {
                format!("{v:.1}")
            } else {
                human_f(*v)
            };
            s.push_str(&format!(
                r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{col}"><title>{m}: {label}</title></rect>
<text x="{tx:.1}" y="{ty:.1}" text-anchor="middle" font-size="9">{label}</text>
"#,
                w = bar_w - 4.0,
                col = colors[mi % colors.len()],
                m = esc(&c.entries[mi].label),
                tx = x + (bar_w - 4.0) / 2.0,
                ty = y - 3.0,
            ));
        }
        s.push_str(&format!(
            r#"<text x="{x:.1}" y="{y:.1}" text-anchor="middle" font-size="12">{}</text>
"#,
            esc(name),
            x = gx + n as f64 * bar_w / 2.0,
            y = top + plot_h + 18.0
        ));
    }
    for (mi, e) in c.entries.iter().enumerate() {
        let y = top + plot_h + 40.0 + mi as f64 * 22.0;
        s.push_str(&format!(
            r#"<rect x="{left}" y="{ry:.1}" width="14" height="14" fill="{col}"/><text x="{tx}" y="{ty:.1}">{}</text>
"#,
            esc(&e.label),
            ry = y - 11.0,
            col = colors[mi % colors.len()],
            tx = left + 20.0,
            ty = y
        ));
    }
    s.push_str("</svg>\n");
    s
}

/// A self-contained page: the chart and the Markdown-equivalent table, no scripts, no server.
pub fn render_html(c: &Comparison) -> String {
    let table = render_table(c, true);
    let mut rows = String::new();
    for (i, line) in table.lines().filter(|l| l.starts_with('|')).enumerate() {
        if i == 1 {
            continue;
        }
        let tag = if i == 0 { "th" } else { "td" };
        let cells: Vec<String> = line
            .trim_matches('|')
            .split(" | ")
            .map(|c| format!("<{tag}>{}</{tag}>", esc(c.trim())))
            .collect();
        rows.push_str(&format!("<tr>{}</tr>\n", cells.join("")));
    }
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>onnxscope compare</title>\n<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right;white-space:nowrap}}td:first-child,th:first-child{{text-align:left}}</style></head>\n<body>\n<h1>Model comparison</h1>\n{}\n<table>\n{}</table>\n</body></html>\n",
        render_svg(c),
        rows
    )
}

/// Profiles every source (and measures it with `opts.measure`), then compares them.
pub fn run(sources: &[Source], opts: &CompareOptions) -> Result<Comparison> {
    let popts = ProfileOptions {
        shapes: ShapeOptions {
            use_tract: true,
            ..opts.shapes.clone()
        },
        strict: false,
    };
    // Models are profiled on every core; entries (and the first error) keep the list's order.
    let mut entries = crate::util::par::map(sources, |src| -> Result<Entry> {
        let model = match src {
            Source::File(p) => crate::model::load(p)?,
            Source::Synth(_) => {
                crate::model::load_bytes(&src.load_path(), src.bytes(opts.measure)?.into())?
            }
        };
        let profile = profile_model(&model, &popts)?;
        Ok(Entry {
            label: src.label(),
            source: src.clone(),
            profile,
            measured_ms: None,
        })
    })
    .into_iter()
    .collect::<Result<Vec<_>>>()?;
    if opts.measure {
        measure_entries(&mut entries, opts)?;
    }
    Ok(compare(entries, opts.by))
}

/// Measures every entry (files from disk; synthesized configurations re-built with weights),
/// with a progress bar on stderr.
fn measure_entries(entries: &mut [Entry], opts: &CompareOptions) -> Result<()> {
    let bar = indicatif::ProgressBar::new(entries.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len}")
            .expect("template")
            .progress_chars("=> "),
    );
    for e in entries.iter_mut() {
        bar.set_message(e.label.clone());
        let bytes = e.source.bytes(true)?;
        let path = e.source.to_string();
        let model = crate::model::load_bytes(Path::new(&path), bytes.clone().into())?;
        if !model.missing_external.is_empty() {
            return Err(Error::Run {
                path,
                reason: format!("weights absent ({} tensors, e.g. '{}'): a model without its weights cannot run", model.missing_external.len(), model.missing_external[0]),
            });
        }
        e.measured_ms = Some(crate::runtime::median_ms(
            &bytes,
            &path,
            &model,
            &opts.shapes.dims,
            opts.repeat,
            0,
        )?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}

impl Render for Comparison {
    const FORMATS: &'static [Format] = &[
        Format::Table,
        Format::Json,
        Format::Csv,
        Format::Md,
        Format::Svg,
        Format::Html,
    ];

    fn render_to(&self, format: Format) -> Result<String> {
        Ok(match format {
            Format::Table => render_table(self, false),
            Format::Md => render_table(self, true),
            Format::Json => serde_json::to_string_pretty(&render_json(self)).expect("json") + "\n",
            Format::Csv => render_csv(self),
            Format::Svg => render_svg(self),
            Format::Html => render_html(self),
            other => return Err(crate::report::unsupported(other, Self::FORMATS)),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// `--llama`: grouped-query attention configurations, costed as LLMs.

/// One `--llama` item: query heads × key/value heads (`32x8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadsKv {
    pub heads: u64,
    pub kv_heads: u64,
}

/// The `HxK` items of `list` (`32x32,32x8,32x1`); blanks around items are ignored.
pub fn parse_llama_list(list: &str) -> Result<Vec<HeadsKv>> {
    let bad = |item: &str, reason: &str| {
        Error::usage(
            "--llama",
            format!("bad configuration '{item}': {reason} (expected HEADSxKV_HEADS, e.g. 32x8)"),
        )
    };
    let mut out = vec![];
    for raw in list.split(',') {
        let item = raw.trim();
        if item.is_empty() {
            return Err(bad(raw, "empty item"));
        }
        let lower = item.to_ascii_lowercase();
        let (h, k) = lower.split_once('x').ok_or_else(|| bad(item, "no 'x'"))?;
        let num = |s: &str| -> Result<u64> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(item, "not a positive integer"));
            }
            match s.parse::<u64>() {
                Ok(0) => Err(bad(item, "must be at least 1")),
                Ok(v) => Ok(v),
                Err(_) => Err(bad(item, "number too large")),
            }
        };
        out.push(HeadsKv {
            heads: num(h)?,
            kv_heads: num(k)?,
        });
    }
    Ok(out)
}

/// The `--llama` study: one shape (`base`: layers, hidden, intermediate, vocab, precision, block
/// size; its heads are replaced per item), the items, and the generation they are costed at
/// (`llm`: prompt, generate, device).
#[derive(Clone, Debug)]
pub struct LlamaStudy {
    pub base: LlamaConfig,
    pub configs: Vec<HeadsKv>,
    pub llm: LlmOptions,
}

/// One configuration: its label (`32x8`), the synthesized configuration and its LLM report.
pub struct LlamaEntry {
    pub label: String,
    pub config: LlamaConfig,
    pub report: LlmReport,
}

/// An exact integer, or a float (a mean that does not divide, tokens/s).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    fn from_json(v: &Value) -> Num {
        match (v.as_i64(), v.as_u64(), v.as_f64()) {
            (Some(i), _, _) => Num::Int(i as i128),
            (_, Some(u), _) => Num::Int(u as i128),
            (_, _, Some(f)) => Num::Float(f),
            // a count too large for JSON numbers is written as a string
            _ => v
                .as_str()
                .and_then(|s| s.parse::<i128>().ok())
                .map(Num::Int)
                .unwrap_or(Num::Float(f64::NAN)),
        }
    }
    pub fn approx(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
    fn sub(self, base: Num) -> Num {
        match (self, base) {
            (Num::Int(a), Num::Int(b)) => Num::Int(a - b),
            (a, b) => Num::Float(a.approx() - b.approx()),
        }
    }
    fn to_json(self) -> Value {
        match self {
            Num::Int(i) => Count::int(i).to_json(),
            Num::Float(f) => json!(f),
        }
    }
    fn plain(self) -> String {
        match self {
            Num::Int(i) => i.to_string(),
            Num::Float(f) => format!("{f:.4}"),
        }
    }
    fn human(self, rate: bool) -> String {
        match self {
            Num::Float(f) if rate => format!("{f:.1}"),
            n => human_f(n.approx()),
        }
    }
    fn signed_human(self, rate: bool) -> String {
        let s = self.human(rate);
        if self.approx() > 0.0 {
            format!("+{s}")
        } else {
            s
        }
    }
}

/// A row of the study: a key and one value per configuration.
pub struct LlamaRow {
    pub key: &'static str,
    pub values: Vec<Num>,
}

impl LlamaRow {
    /// Each value against the first: the difference and the percentage (none when the first
    /// is 0).
    fn deltas(&self) -> Vec<(Num, Option<f64>)> {
        let base = self.values[0];
        self.values
            .iter()
            .map(|v| {
                let d = v.sub(base);
                (
                    d,
                    (base.approx() != 0.0).then(|| 100.0 * d.approx() / base.approx()),
                )
            })
            .collect()
    }
}

/// The `--llama` comparison.
pub struct LlamaComparison {
    pub study: LlamaStudy,
    pub entries: Vec<LlamaEntry>,
    pub rows: Vec<LlamaRow>,
}

/// The rows of the study, in order (JSON `rows[].key`).
fn llama_rows(entries: &[LlamaEntry], with_device: bool) -> Vec<LlamaRow> {
    type Get = fn(&LlmReport) -> Num;
    let mut metrics: Vec<(&'static str, Get)> = vec![
        ("params", |r| Num::Int(r.weights.params)),
        ("weight_bytes", |r| Num::Int(r.weights.bytes)),
        ("kv_cache_bytes_per_token", |r| {
            Num::Int(r.kv_cache.bytes_per_token)
        }),
        ("kv_cache_bytes_at_context", |r| {
            Num::Int(r.kv_cache.bytes_at_context)
        }),
        ("prefill_flops", |r| Num::Int(r.prefill.flops)),
        ("decode_flops_per_token", |r| {
            Num::from_json(&r.decode.flops_per_token)
        }),
        ("decode_bytes_per_token", |r| {
            Num::from_json(&r.decode.bytes_per_token)
        }),
    ];
    if with_device {
        metrics.push(("tokens_per_second", |r| {
            Num::Float(r.decode.tokens_per_second.unwrap_or(0.0))
        }));
    }
    metrics
        .into_iter()
        .map(|(key, f)| LlamaRow {
            key,
            values: entries.iter().map(|e| f(&e.report)).collect(),
        })
        .collect()
}

/// Synthesizes every configuration in memory (graph only, no file written) and costs it with
/// the `llm` analysis, then compares them.
pub fn run_llama(study: &LlamaStudy) -> Result<LlamaComparison> {
    if study.configs.is_empty() {
        return Err(Error::usage("--llama", "give at least one HEADSxKV_HEADS"));
    }
    let entries = crate::util::par::map(&study.configs, |hk| -> Result<LlamaEntry> {
        let config = LlamaConfig {
            heads: hk.heads,
            kv_heads: hk.kv_heads,
            weights: false,
            ..study.base.clone()
        };
        let proto = crate::synth::llama::llama(&config)?;
        let path = PathBuf::from(format!("{}.onnx", config.arch_name()));
        let model = crate::model::load_bytes(&path, crate::synth::to_bytes(&proto).into())?;
        let report = crate::analysis::llm::analyse(&model, &study.llm)?;
        Ok(LlamaEntry {
            label: format!("{}x{}", hk.heads, hk.kv_heads),
            config,
            report,
        })
    })
    .into_iter()
    .collect::<Result<Vec<_>>>()?;
    let rows = llama_rows(&entries, study.llm.device.is_some());
    Ok(LlamaComparison {
        study: study.clone(),
        entries,
        rows,
    })
}

impl LlamaComparison {
    /// One line: the shared shape and the generation.
    fn heading(&self) -> String {
        let b = &self.study.base;
        let o = &self.study.llm;
        let mut s = format!(
            "Llama configurations (heads x kv-heads): {} layers, hidden {}, intermediate {}, vocab {}, {}{}; prompt {}, generate {} (context {})",
            b.layers,
            b.hidden,
            b.intermediate,
            b.vocab,
            b.precision,
            if b.precision == crate::synth::llama::Precision::Int4 {
                format!(" (block {})", b.block_size)
            } else {
                String::new()
            },
            o.prompt,
            o.generate,
            o.prompt + o.generate
        );
        if let Some(d) = &o.device {
            s.push_str(&format!(
                "; device {} ({} GFLOP/s, {} GB/s)",
                d.name, d.peak_gflops, d.bandwidth_gbs
            ));
        }
        s
    }

    fn table(&self, markdown: bool) -> String {
        let mut header = vec!["metric".to_string()];
        for (i, e) in self.entries.iter().enumerate() {
            header.push(if i == 0 {
                e.label.clone()
            } else {
                format!("{} (Δ, %)", e.label)
            });
        }
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                let rate = r.key == "tokens_per_second";
                let mut cells = vec![r.key.to_string()];
                for (i, (v, (d, p))) in r.values.iter().zip(r.deltas()).enumerate() {
                    let base = v.human(rate);
                    cells.push(if i == 0 {
                        base
                    } else {
                        format!("{base} ({}, {})", d.signed_human(rate), pct_str(p))
                    });
                }
                cells
            })
            .collect();
        let mut out = self.heading();
        out.push_str(if markdown { "\n\n" } else { "\n" });
        out.push_str(&grid(&header, &rows, markdown));
        let bounds: Vec<&str> = self
            .entries
            .iter()
            .filter_map(|e| e.report.decode.bound.as_deref())
            .collect();
        if !bounds.is_empty() && bounds.iter().all(|b| *b == "memory") {
            out.push_str(if markdown { "\n" } else { "" });
            out.push_str(
                "decode is memory-bound in every configuration: tokens/s follow the bytes per token\n",
            );
        }
        out
    }

    fn json(&self) -> Value {
        let b = &self.study.base;
        let o = &self.study.llm;
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                let d = r.deltas();
                json!({
                    "key": r.key,
                    "values": r.values.iter().map(|v| v.to_json()).collect::<Vec<_>>(),
                    "delta": d.iter().map(|(d, _)| d.to_json()).collect::<Vec<_>>(),
                    "delta_pct": d.iter().map(|(_, p)| p.map(Value::from).unwrap_or(Value::Null)).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({
            "models": self.entries.iter().map(|e| json!({
                "label": e.label,
                "path": format!("synth:{}", e.config.arch_name()),
                "heads": e.config.heads,
                "kv_heads": e.config.kv_heads,
                "head_size": e.config.head_size(),
                "decode_bound": e.report.decode.bound,
            })).collect::<Vec<_>>(),
            "by": "total",
            "llama": {
                "layers": b.layers,
                "hidden": b.hidden,
                "intermediate": b.intermediate,
                "vocab": b.vocab,
                "precision": b.precision.to_string(),
                "block_size": b.block_size,
                "prompt": o.prompt,
                "generate": o.generate,
                "context": o.prompt + o.generate,
                "device": o.device.as_ref().map(|d| json!({
                    "name": d.name,
                    "peak_gflops": d.peak_gflops,
                    "bandwidth_gbs": d.bandwidth_gbs,
                })),
            },
            "rows": rows,
        })
    }

    fn csv(&self) -> String {
        let mut w = csv::Writer::from_writer(vec![]);
        let mut header = vec!["key".to_string()];
        for (i, e) in self.entries.iter().enumerate() {
            header.push(e.label.clone());
            if i > 0 {
                header.push(format!("{}_delta", e.label));
                header.push(format!("{}_delta_pct", e.label));
            }
        }
        w.write_record(&header).expect("csv");
        for r in &self.rows {
            let mut rec = vec![r.key.to_string()];
            for (i, (v, (d, p))) in r.values.iter().zip(r.deltas()).enumerate() {
                rec.push(v.plain());
                if i > 0 {
                    rec.push(d.plain());
                    rec.push(p.map(|p| format!("{p:.4}")).unwrap_or_default());
                }
            }
            w.write_record(&rec).expect("csv");
        }
        String::from_utf8(w.into_inner().expect("csv")).expect("utf8")
    }
}

impl Render for LlamaComparison {
    const FORMATS: &'static [Format] = &[Format::Table, Format::Json, Format::Csv, Format::Md];

    fn render_to(&self, format: Format) -> Result<String> {
        Ok(match format {
            Format::Table => self.table(false),
            Format::Md => self.table(true),
            Format::Json => serde_json::to_string_pretty(&self.json()).expect("json") + "\n",
            Format::Csv => self.csv(),
            other => return Err(crate::report::unsupported(other, Self::FORMATS)),
        })
    }
}
