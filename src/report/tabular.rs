//! Table-like reports (terminal table, CSV, Markdown) over one column definition.

use comfy_table::{presets, Cell, CellAlignment, ContentArrangement, Table};

use super::graph::human_time;
use super::{human, percent, shape_str, Column, GroupBy, ReportOptions};
use crate::analysis::profile::Rollup;
use crate::analysis::{NodeReport, Profile};
use crate::sym::Count;

/// One row of the main section, as exact text and as human text.
struct Row {
    exact: Vec<String>,
    human: Vec<String>,
}

fn node_header() -> Vec<&'static str> {
    vec![
        "name",
        "op_type",
        "output_shape",
        "flops",
        "macs",
        "params",
        "flops_pct",
    ]
}

fn node_row(n: &NodeReport, total: &Count) -> Row {
    let shape = n
        .outputs
        .first()
        .map(|t| shape_str(&t.shape))
        .unwrap_or_default();
    let name = if n.costed {
        n.name.clone()
    } else {
        format!("{} (unknown)", n.name)
    };
    let pct = percent(&n.flops, total);
    Row {
        exact: vec![
            n.name.clone(),
            n.op_type.clone(),
            shape.clone(),
            n.flops.to_string(),
            n.macs.to_string(),
            n.params.to_string(),
            pct.trim_end_matches('%').to_string(),
        ],
        human: vec![
            name,
            n.op_type.clone(),
            shape,
            human(&n.flops),
            human(&n.macs),
            human(&n.params),
            pct,
        ],
    }
}

fn rollup_header(key: &'static str) -> Vec<&'static str> {
    vec![key, "count", "flops", "macs", "params", "flops_pct"]
}

fn rollup_row(r: &Rollup, total: &Count) -> Row {
    let pct = percent(&r.flops, total);
    Row {
        exact: vec![
            r.key.clone(),
            r.count.to_string(),
            r.flops.to_string(),
            r.macs.to_string(),
            r.params.to_string(),
            pct.trim_end_matches('%').to_string(),
        ],
        human: vec![
            r.key.clone(),
            r.count.to_string(),
            human(&r.flops),
            human(&r.macs),
            human(&r.params),
            pct,
        ],
    }
}

/// The main rows for the chosen grouping (and --top).
fn main_rows(p: &Profile, o: &ReportOptions) -> (Vec<&'static str>, Vec<Row>) {
    let total = &p.totals.flops;
    match o.group_by {
        GroupBy::Node => {
            let mut nodes: Vec<&NodeReport> = p.nodes.iter().collect();
            if let Some(k) = o.top {
                nodes.sort_by(|a, b| b.flops.approx().total_cmp(&a.flops.approx()));
                nodes.truncate(k);
            }
            (
                node_header(),
                nodes.into_iter().map(|n| node_row(n, total)).collect(),
            )
        }
        GroupBy::Op => (
            rollup_header("op_type"),
            p.by_op_type.iter().map(|r| rollup_row(r, total)).collect(),
        ),
        GroupBy::Stage => (
            rollup_header("stage"),
            p.by_stage.iter().map(|r| rollup_row(r, total)).collect(),
        ),
    }
}

/// The node rows in display order (--top keeps the K with the most FLOPs).
fn node_list<'a>(p: &'a Profile, o: &ReportOptions) -> Vec<&'a NodeReport> {
    let mut nodes: Vec<&NodeReport> = p.nodes.iter().collect();
    if let Some(k) = o.top {
        nodes.sort_by(|a, b| b.flops.approx().total_cmp(&a.flops.approx()));
        nodes.truncate(k);
    }
    nodes
}

/// Opt-in node columns as (table header, CSV header): `--columns memory`, and the roofline
/// columns when the profile carries a roofline estimate.
fn extra_header(p: &Profile, o: &ReportOptions) -> Vec<(&'static str, &'static str)> {
    let mut h = vec![];
    if o.columns.contains(&Column::Memory) {
        h.extend([
            ("act. bytes", "activation_bytes"),
            ("memory access", "mem_access_bytes"),
            ("FLOP/byte", "intensity"),
            ("live bytes", "live_bytes"),
        ]);
    }
    if p.roofline.is_some() {
        h.extend([("bound", "bound"), ("est. time", "time_s")]);
    }
    h
}

/// The opt-in cells of a node as (exact, human), in `extra_header` order.
fn extra_cells(n: &NodeReport, p: &Profile, o: &ReportOptions) -> Vec<(String, String)> {
    let mut c = vec![];
    if o.columns.contains(&Column::Memory) {
        let intensity = n.intensity.map(|i| i.to_string()).unwrap_or_default();
        let intensity_h = n.intensity.map(|i| format!("{i:.2}")).unwrap_or("-".into());
        c.extend([
            (n.activation_bytes.to_string(), human(&n.activation_bytes)),
            (n.mem_access_bytes.to_string(), human(&n.mem_access_bytes)),
            (intensity, intensity_h),
            (n.live_bytes.to_string(), human(&n.live_bytes)),
        ]);
    }
    if p.roofline.is_some() {
        match &n.roofline {
            Some(r) => c.extend([
                (r.bound.as_str().to_string(), r.bound.as_str().to_string()),
                (r.time_s.to_string(), human_time(r.time_s)),
            ]),
            None => c.extend([(String::new(), "-".into()), (String::new(), "-".into())]),
        }
    }
    c
}

/// Summary lines of the opt-in sections: memory (`--columns memory`), roofline, training.
fn extra_summary(p: &Profile, o: &ReportOptions) -> Vec<String> {
    let mut out = vec![];
    if let (true, Some(m)) = (o.columns.contains(&Column::Memory), &p.memory) {
        let by: Vec<String> = m
            .weight_bytes_by_dtype
            .iter()
            .map(|(k, v)| format!("{k} {}", human(v)))
            .collect();
        out.push(format!(
            "Memory: {} bytes of weights ({}); peak live activations {} bytes at {} (step {} of {}); weights + peak {} bytes",
            human(&m.weight_bytes),
            if by.is_empty() { "none".into() } else { by.join(", ") },
            human(&m.peak_activation_bytes),
            m.peak_node.as_deref().unwrap_or("-"),
            m.peak_step.map(|s| (s + 1).to_string()).unwrap_or("-".into()),
            p.nodes.len(),
            human(&m.inference_bytes),
        ));
        out.push(format!(
            "Memory access: {} bytes read + written, {} bytes/FLOP ({} FLOP/byte)",
            human(&m.mem_access_bytes),
            m.bytes_per_flop
                .map(|b| format!("{b:.4}"))
                .unwrap_or("-".into()),
            p.totals
                .intensity
                .map(|i| format!("{i:.2}"))
                .unwrap_or("-".into()),
        ));
        let g = &m.grouped_conv;
        if g.count > 0 {
            out.push(format!(
                "Grouped convs memory access: {} bytes for {} FLOPs ({} bytes/FLOP) vs dense {} bytes for {} FLOPs ({} bytes/FLOP)",
                human(&g.mem_access_bytes),
                human(&g.flops),
                g.bytes_per_flop.map(|b| format!("{b:.4}")).unwrap_or("-".into()),
                human(&g.dense_mem_access_bytes),
                human(&g.dense_flops),
                g.dense_bytes_per_flop.map(|b| format!("{b:.4}")).unwrap_or("-".into()),
            ));
        }
    }
    if let Some(r) = &p.roofline {
        out.push(format!(
            "Roofline ({}): peak {} GFLOP/s, {} GB/s, ridge {:.2} FLOP/byte; estimated {} ({:.1} GFLOP/s attained); {} compute-bound, {} memory-bound nodes ({} in memory-bound nodes)",
            r.device,
            r.peak_gflops,
            r.bandwidth_gbs,
            r.ridge_flops_per_byte,
            human_time(r.time_s),
            r.attainable_gflops.unwrap_or(0.0),
            r.compute_bound_nodes,
            r.memory_bound_nodes,
            human_time(r.memory_bound_time_s),
        ));
    }
    if let Some(t) = &p.training {
        let b = &t.bytes;
        let f = &t.flops;
        out.push(format!(
            "Training ({}, {}, batch {}): {} trainable params, {} bytes/param + activations",
            t.optimizer.name(),
            t.dtype.name(),
            t.batch
                .map(|b| b.to_string())
                .unwrap_or("as profiled".into()),
            human(&t.trainable_params),
            t.bytes_per_param,
        ));
        out.push(format!(
            "  memory: weights {} + gradients {} + master {} + optimizer state {} + activations {} = {} bytes (16 B/param rule of thumb: {})",
            human(&b.weights),
            human(&b.gradients),
            human(&b.master_weights),
            human(&b.optimizer_state),
            human(&b.activations),
            human(&b.total),
            human(&t.rule_of_thumb_bytes),
        ));
        out.push(format!(
            "  FLOPs per step: forward {} + backward {} + optimizer {} ({}/param) = {}",
            human(&f.forward),
            human(&f.backward),
            human(&f.optimizer),
            t.optimizer_flops_per_param,
            human(&f.total),
        ));
    }
    out
}

pub fn csv(p: &Profile, o: &ReportOptions) -> String {
    let (header, rows) = main_rows(p, o);
    let mut w = csv::Writer::from_writer(vec![]);
    let mut header: Vec<String> = header.into_iter().map(str::to_string).collect();
    let node_extra = o.group_by == GroupBy::Node;
    if node_extra {
        header.extend(
            [
                "domain",
                "stage",
                "param_bytes",
                "activation_bytes",
                "group",
                "dense_flops",
                "dense_params",
            ]
            .map(String::from),
        );
        header.extend(
            extra_header(p, o)
                .into_iter()
                .filter(|h| h.1 != "activation_bytes")
                .map(|h| h.1.to_string()),
        );
    }
    w.write_record(&header).expect("csv header");
    let mut nodes: Vec<&NodeReport> = p.nodes.iter().collect();
    if let Some(k) = o.top {
        nodes.sort_by(|a, b| b.flops.approx().total_cmp(&a.flops.approx()));
        nodes.truncate(k);
    }
    for (i, r) in rows.iter().enumerate() {
        let mut rec = r.exact.clone();
        if node_extra {
            let n = nodes[i];
            let opt = |c: &Option<Count>| c.as_ref().map(|c| c.to_string()).unwrap_or_default();
            rec.extend([
                n.domain.clone(),
                n.stage.clone(),
                n.param_bytes.to_string(),
                n.activation_bytes.to_string(),
                n.group.map(|g| g.to_string()).unwrap_or_default(),
                opt(&n.dense_flops),
                opt(&n.dense_params),
            ]);
            let names = extra_header(p, o);
            rec.extend(
                extra_cells(n, p, o)
                    .into_iter()
                    .zip(names)
                    .filter(|(_, h)| h.1 != "activation_bytes")
                    .map(|(c, _)| c.0),
            );
        }
        w.write_record(&rec).expect("csv row");
    }
    String::from_utf8(w.into_inner().expect("csv flush")).expect("utf8")
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The main rows with the opt-in columns, for the human formats (table, Markdown).
fn human_rows(p: &Profile, o: &ReportOptions) -> (Vec<&'static str>, Vec<Row>) {
    let (mut header, mut rows) = main_rows(p, o);
    if o.group_by == GroupBy::Node {
        header.extend(extra_header(p, o).into_iter().map(|h| h.0));
        for (r, n) in rows.iter_mut().zip(node_list(p, o)) {
            r.human
                .extend(extra_cells(n, p, o).into_iter().map(|c| c.1));
        }
    }
    (header, rows)
}

pub fn markdown(p: &Profile, o: &ReportOptions) -> String {
    let (header, rows) = human_rows(p, o);
    let mut s = String::new();
    s.push_str(&format!("| {} |\n", header.join(" | ")));
    s.push_str(&format!(
        "|{}\n",
        header
            .iter()
            .enumerate()
            .map(|(i, _)| if i < 3 && header.len() >= 7 || i == 0 {
                "---|"
            } else {
                "---:|"
            })
            .collect::<String>()
    ));
    for r in &rows {
        s.push_str(&format!(
            "| {} |\n",
            r.human
                .iter()
                .map(|c| md_escape(c))
                .collect::<Vec<_>>()
                .join(" | ")
        ));
    }
    let t = &p.totals;
    s.push_str(&format!(
        "\n**Totals**: {} FLOPs, {} MACs, {} params ({} bytes), {} nodes\n",
        human(&t.flops),
        human(&t.macs),
        human(&t.params),
        human(&t.param_bytes),
        t.nodes
    ));
    if t.grouped_conv.count > 0 {
        let g = &t.grouped_conv;
        s.push_str(&format!(
            "\n**Grouped convs**: {} convs, {} FLOPs against {} dense (saved {}); {} params against {} dense (saved {})\n",
            g.count, human(&g.flops), human(&g.dense_flops), human(&g.saved_flops), human(&g.params), human(&g.dense_params), human(&g.saved_params)
        ));
    }
    for line in extra_summary(p, o) {
        s.push_str(&format!("\n{}\n", md_escape(line.trim_start())));
    }
    for u in &p.unknown {
        s.push_str(&format!(
            "\n- unknown: `{}` ({}): {}",
            md_escape(&u.name),
            u.op_type,
            u.reason
        ));
    }
    for w in &p.warnings {
        s.push_str(&format!("\n- warning: {}", md_escape(w)));
    }
    if !p.unknown.is_empty() || !p.warnings.is_empty() {
        s.push('\n');
    }
    s
}

fn right(c: &str) -> Cell {
    Cell::new(c).set_alignment(CellAlignment::Right)
}

fn new_table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().map(Cell::new));
    t
}

pub fn table(p: &Profile, o: &ReportOptions) -> String {
    let (header, rows) = human_rows(p, o);
    let mut out = String::new();
    out.push_str(&format!("{}\n", p.model.path));
    let numeric_from = if o.group_by == GroupBy::Node { 3 } else { 1 };
    let mut t = new_table(&header);
    for r in &rows {
        t.add_row(r.human.iter().enumerate().map(|(i, c)| {
            if i >= numeric_from {
                right(c)
            } else {
                Cell::new(c)
            }
        }));
    }
    out.push_str(&t.to_string());
    out.push('\n');
    if o.group_by == GroupBy::Node {
        out.push_str("\nBy op type\n");
        let mut s = new_table(&rollup_header("op_type"));
        for r in &p.by_op_type {
            let row = rollup_row(r, &p.totals.flops);
            s.add_row(row.human.iter().enumerate().map(|(i, c)| {
                if i >= 1 {
                    right(c)
                } else {
                    Cell::new(c)
                }
            }));
        }
        out.push_str(&s.to_string());
        out.push('\n');
    }
    let t = &p.totals;
    out.push_str(&format!(
        "\nTotals: {} FLOPs, {} MACs, {} params, {} bytes of weights, {} bytes of activations, {} nodes\n",
        human(&t.flops),
        human(&t.macs),
        human(&t.params),
        human(&t.param_bytes),
        human(&t.activation_bytes),
        t.nodes
    ));
    if !p.dims.is_empty() {
        let d: Vec<String> = p
            .dims
            .iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{k}={v}"),
                None => format!("{k} unbound"),
            })
            .collect();
        out.push_str(&format!("Symbols: {}\n", d.join(", ")));
    }
    let g = &t.grouped_conv;
    if g.count > 0 {
        out.push_str(&format!(
            "Grouped convs: {} convs, {} FLOPs vs {} dense (saved {}, {}); {} params vs {} dense (saved {})\n",
            g.count,
            human(&g.flops),
            human(&g.dense_flops),
            human(&g.saved_flops),
            percent(&g.saved_flops, &g.dense_flops),
            human(&g.params),
            human(&g.dense_params),
            human(&g.saved_params)
        ));
    }
    for line in extra_summary(p, o) {
        out.push_str(&line);
        out.push('\n');
    }
    for u in &p.unknown {
        out.push_str(&format!(
            "unknown: {} ({}): {}\n",
            u.name, u.op_type, u.reason
        ));
    }
    for w in &p.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out
}
