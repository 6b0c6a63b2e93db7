//! Table-like reports (terminal table, CSV, Markdown) over one column definition.

use comfy_table::{presets, Cell, CellAlignment, ContentArrangement, Table};

use super::{human, percent, shape_str, GroupBy, ReportOptions};
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
        }
        w.write_record(&rec).expect("csv row");
    }
    String::from_utf8(w.into_inner().expect("csv flush")).expect("utf8")
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

pub fn markdown(p: &Profile, o: &ReportOptions) -> String {
    let (header, rows) = main_rows(p, o);
    let mut s = String::new();
    s.push_str(&format!("| {} |\n", header.join(" | ")));
    s.push_str(&format!(
        "|{}\n",
        header
            .iter()
            .enumerate()
            .map(|(i, _)| if i < 3 && header.len() == 7 || i == 0 {
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
    let (header, rows) = main_rows(p, o);
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
