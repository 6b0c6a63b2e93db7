//! Reports of an [`LlmReport`] (`onnxscope llm`; it implements [`Render`]): a terminal table,
//! Markdown and JSON. The two table-like formats share one row definition (roles, then prefill
//! against decode, then FLOPs per op type); JSON is the report's own serialisation (the keys
//! listed in the README).

use comfy_table::{presets, Cell, CellAlignment, ContentArrangement, Table};

use super::graph::human_time;
use super::{human_f, unsupported, Format, Render};
use crate::analysis::llm::LlmReport;
use crate::error::Result;

impl Render for LlmReport {
    const FORMATS: &'static [Format] = &[Format::Table, Format::Json, Format::Md];

    fn render_to(&self, format: Format) -> Result<String> {
        Ok(match format {
            Format::Table => table(self),
            Format::Json => json(self),
            Format::Md => markdown(self),
            other => return Err(unsupported(other, Self::FORMATS)),
        })
    }
}

/// The report as one JSON document.
pub fn json(r: &LlmReport) -> String {
    serde_json::to_string_pretty(r).expect("an LLM report serialises") + "\n"
}

fn roles_rows(r: &LlmReport) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let rows = r
        .roles
        .symbols
        .iter()
        .map(|s| {
            vec![
                s.symbol.clone(),
                s.role.as_str().to_string(),
                s.value
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "per step".into()),
                s.source.clone(),
            ]
        })
        .collect();
    (vec!["symbol", "role", "value", "source"], rows)
}

fn num(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

fn bytes(v: f64) -> String {
    format!("{}B", with_space(human_f(v)))
}

/// `123 k` → `123 kB`; `17` → `17 B`.
fn with_space(s: String) -> String {
    if s.ends_with(|c: char| c.is_ascii_digit()) {
        s + " "
    } else {
        s
    }
}

fn seconds(v: Option<f64>) -> String {
    v.map(human_time).unwrap_or_else(|| "-".into())
}

/// The prefill / decode comparison: a label column and three value columns.
fn cost_rows(r: &LlmReport) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let (pf, d) = (&r.prefill, &r.decode);
    let last = d.steps.last();
    let mut rows = vec![
        vec![
            "context (tokens)".to_string(),
            pf.tokens.to_string(),
            format!("{} → {}", d.context_first, d.context_last),
            d.context_last.to_string(),
        ],
        vec![
            "FLOPs".into(),
            human_f(pf.flops as f64),
            human_f(num(&d.flops_per_token)),
            human_f(d.flops_last_token as f64),
        ],
        vec![
            "MACs".into(),
            human_f(pf.macs as f64),
            human_f(num(&d.macs_per_token)),
            last.map(|s| human_f(s.macs as f64)).unwrap_or_default(),
        ],
        vec![
            "bytes moved".into(),
            bytes(pf.bytes_moved as f64),
            bytes(num(&d.bytes_per_token)),
            last.map(|s| bytes(s.bytes as f64)).unwrap_or_default(),
        ],
    ];
    if r.device.is_some() {
        rows.push(vec![
            "time".into(),
            seconds(pf.seconds),
            seconds(d.seconds_per_token),
            seconds(last.and_then(|s| s.seconds)),
        ]);
        rows.push(vec![
            "tokens/s".into(),
            pf.seconds
                .filter(|s| *s > 0.0)
                .map(|s| rate(pf.tokens as f64 / s))
                .unwrap_or_else(|| "-".into()),
            d.tokens_per_second.map(rate).unwrap_or_else(|| "-".into()),
            last.and_then(|s| s.seconds)
                .filter(|s| *s > 0.0)
                .map(|s| rate(1.0 / s))
                .unwrap_or_else(|| "-".into()),
        ]);
        rows.push(vec![
            "bound".into(),
            pf.bound.clone().unwrap_or_default(),
            d.bound.clone().unwrap_or_default(),
            String::new(),
        ]);
    }
    (
        vec![
            "",
            "prefill",
            "decode (mean per token)",
            "decode (last token)",
        ],
        rows,
    )
}

fn op_rows(r: &LlmReport) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let rows = r
        .by_op_type
        .iter()
        .filter(|o| o.prefill_flops != 0 || o.decode_flops_last_token != 0)
        .map(|o| {
            vec![
                o.op_type.clone(),
                o.count.to_string(),
                human_f(o.prefill_flops as f64),
                human_f(num(&o.decode_flops_per_token)),
                human_f(o.decode_flops_last_token as f64),
            ]
        })
        .collect();
    (
        vec![
            "op_type",
            "count",
            "prefill FLOPs",
            "decode FLOPs/token",
            "last token",
        ],
        rows,
    )
}

/// A rate in human units: `512`, `1.33 M`.
fn rate(v: f64) -> String {
    if v < 999.5 {
        format!("{v:.1}")
    } else {
        human_f(v)
    }
}

fn summary_lines(r: &LlmReport) -> Vec<String> {
    let mut out = vec![];
    let w = &r.weights;
    out.push(format!(
        "Weights: {} params, {}{}",
        human_f(w.params as f64),
        bytes(w.bytes as f64),
        w.bits_per_param
            .map(|b| format!(" ({b:.2} bits/param)"))
            .unwrap_or_default()
    ));
    let k = &r.kv_cache;
    if k.tensors.is_empty() {
        out.push("KV cache: none (no past inputs)".into());
    } else {
        out.push(format!(
            "KV cache: {}/token, {} at {} tokens ({} tensors, {}; whole batch)",
            bytes(k.bytes_per_token as f64),
            bytes(k.bytes_at_context as f64),
            k.context,
            k.tensors.len(),
            k.dtypes.join(", ")
        ));
    }
    if let Some(dev) = &r.device {
        let verdict = match r.decode.bound.as_deref() {
            Some("memory") => "decode is memory-bound (weights and KV cache read every token)",
            Some("compute") => "decode is compute-bound",
            _ => "decode is memory-bound at some steps, compute-bound at others",
        };
        out.push(format!(
            "Device: {} ({} GFLOP/s, {} GB/s, ridge {:.1} FLOP/byte): {verdict}; {} tokens/s per sequence, {} for the batch of {}",
            dev.name,
            dev.peak_gflops,
            dev.bandwidth_gbs,
            dev.ridge_flops_per_byte,
            r.decode
                .tokens_per_second
                .map(rate)
                .unwrap_or_else(|| "-".into()),
            r.decode
                .batch_tokens_per_second
                .map(rate)
                .unwrap_or_else(|| "-".into()),
            r.batch
        ));
    }
    // uncosted nodes, one line per op type and reason (a 32-layer model repeats them)
    let mut groups: Vec<(&str, &str, &str, usize)> = vec![];
    for u in &r.unknown {
        match groups
            .iter_mut()
            .find(|g| g.0 == u.op_type && g.2 == u.reason)
        {
            Some(g) => g.3 += 1,
            None => groups.push((&u.op_type, &u.name, &u.reason, 1)),
        }
    }
    for (op, first, reason, n) in groups {
        if n == 1 {
            out.push(format!("unknown: {first} ({op}): {reason}"));
        } else {
            out.push(format!("unknown: {n} {op} nodes (e.g. {first}): {reason}"));
        }
    }
    for w in &r.warnings {
        out.push(format!("warning: {w}"));
    }
    out
}

fn title(r: &LlmReport) -> String {
    format!(
        "{}: prompt {}, generate {}, batch {}",
        r.model, r.prompt, r.generate, r.batch
    )
}

fn new_table(header: &[&str], rows: &[Vec<String>], numeric_from: usize) -> String {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().map(Cell::new));
    for r in rows {
        t.add_row(r.iter().enumerate().map(|(i, c)| {
            let cell = Cell::new(c);
            if i >= numeric_from {
                cell.set_alignment(CellAlignment::Right)
            } else {
                cell
            }
        }));
    }
    t.to_string()
}

/// The terminal table.
pub fn table(r: &LlmReport) -> String {
    let mut out = title(r) + "\n\nRoles\n";
    let (h, rows) = roles_rows(r);
    out.push_str(&new_table(&h, &rows, 4));
    out.push_str("\n\nCost\n");
    let (h, rows) = cost_rows(r);
    out.push_str(&new_table(&h, &rows, 1));
    out.push_str("\n\nBy op type\n");
    let (h, rows) = op_rows(r);
    out.push_str(&new_table(&h, &rows, 1));
    out.push_str("\n\n");
    for line in summary_lines(r) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

fn md_table(header: &[&str], rows: &[Vec<String>], numeric_from: usize) -> String {
    let mut out = format!("| {} |\n|", header.join(" | "));
    for i in 0..header.len() {
        out.push_str(if i >= numeric_from { "---:|" } else { "---|" });
    }
    out.push('\n');
    for r in rows {
        let cells: Vec<String> = r.iter().map(|c| md_escape(c)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

/// Markdown: the same rows as the table.
pub fn markdown(r: &LlmReport) -> String {
    let mut out = format!("## {}\n\n### Roles\n\n", md_escape(&title(r)));
    let (h, rows) = roles_rows(r);
    out.push_str(&md_table(&h, &rows, 4));
    out.push_str("\n### Cost\n\n");
    let (h, rows) = cost_rows(r);
    out.push_str(&md_table(&h, &rows, 1));
    out.push_str("\n### By op type\n\n");
    let (h, rows) = op_rows(r);
    out.push_str(&md_table(&h, &rows, 1));
    out.push('\n');
    for line in summary_lines(r) {
        out.push_str(&format!("- {}\n", md_escape(&line)));
    }
    out
}
