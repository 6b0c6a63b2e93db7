//! `run`'s report rendered: the terminal tables (inputs, outputs, per-node profile, by stage,
//! top nodes, NMS and Dice results) and JSON (the report serialised).

use std::fmt::Write as _;

use comfy_table::Cell;
use serde_json::Value;

use super::report::{pct, ProfileReport, RegionRollup, RegionTime, RunReport};
use super::RunOutput;
use crate::report::{human_f, Format, Render};
use crate::util::text::{new_table, right};

impl Render for RunOutput {
    const FORMATS: &'static [Format] = &[Format::Table, Format::Json];

    fn render_to(&self, format: Format) -> crate::Result<String> {
        Ok(match format {
            Format::Json => {
                serde_json::to_string_pretty(&self.report).expect("serialisable") + "\n"
            }
            _ => render_table(&self.report, self.nms.as_ref(), self.dice.as_ref()),
        })
    }
}

fn shape_str(s: &[usize]) -> String {
    if s.is_empty() {
        "scalar".into()
    } else {
        s.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("x")
    }
}

fn num(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) => format!("{v:.4e}"),
        Some(v) => format!("{v:.5}"),
    }
}

/// Milliseconds with about four significant digits (at least three decimals).
fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.1}")
    } else if v >= 0.01 || v == 0.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.5}")
    }
}

fn json_human(v: &Value) -> String {
    match v {
        Value::Number(n) => n.as_f64().map(human_f).unwrap_or_else(|| n.to_string()),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn render_table(
    r: &RunReport,
    nms: Option<&crate::post::NmsOptions>,
    dice: Option<&crate::post::DiceOptions>,
) -> String {
    let mut s = String::new();
    let timing = if r.runs == 1 {
        format!("1 run, {} ms", ms(r.time_ms))
    } else {
        format!("median of {} runs, {} ms", r.runs, ms(r.time_ms))
    };
    let _ = writeln!(s, "{} (tract, {timing})", r.model);
    let mut t = new_table(&["input", "shape", "dtype", "source"]);
    for i in &r.inputs {
        let src = match &i.note {
            Some(n) => format!("{} ({n})", i.source),
            None => i.source.clone(),
        };
        t.add_row(vec![
            Cell::new(&i.name),
            Cell::new(shape_str(&i.shape)),
            Cell::new(&i.dtype),
            Cell::new(src),
        ]);
    }
    let _ = writeln!(s, "{t}");
    let with_files = r.outputs.iter().any(|o| o.file.is_some());
    let mut header = vec!["output", "shape", "dtype", "min", "max", "mean"];
    if r.outputs.iter().any(|o| o.stats.nan > 0) {
        header.push("nan");
    }
    if with_files {
        header.push("file");
    }
    let nan_col = header.contains(&"nan");
    let mut t = new_table(&header);
    for o in &r.outputs {
        let mut row = vec![
            Cell::new(&o.name),
            Cell::new(shape_str(&o.shape)),
            Cell::new(match &o.note {
                Some(n) => format!("{} ({n})", o.dtype),
                None => o.dtype.clone(),
            }),
            right(num(o.stats.min)),
            right(num(o.stats.max)),
            right(num(o.stats.mean)),
        ];
        if nan_col {
            row.push(right(o.stats.nan));
        }
        if with_files {
            row.push(Cell::new(o.file.as_deref().unwrap_or("-")));
        }
        t.add_row(row);
    }
    let _ = writeln!(s, "{t}");
    if let Some(p) = &r.profile {
        render_profile(&mut s, p);
    }
    if let (Some(det), Some(o)) = (&r.nms, nms) {
        let _ = write!(s, "\nNMS: {}", crate::post::nms::render_table(det, o));
    }
    if let (Some(d), Some(o)) = (&r.dice, dice) {
        let _ = write!(s, "\n{}", crate::post::dice::render_table(d, o));
    }
    for w in &r.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    s
}

fn render_profile(s: &mut String, p: &ProfileReport) {
    let rate = p
        .gflops_per_s
        .map(|g| format!(", {g:.2} GFLOP/s"))
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "\nProfile: median of {} runs, {} ms; {} FLOPs, {} MACs{rate}",
        p.repeat,
        ms(p.total_ms),
        json_human(&p.flops),
        json_human(&p.macs),
    );
    if let (Some(e), Some(d)) = (p.estimate_ms, &p.estimate_device) {
        let _ = writeln!(
            s,
            "Roofline estimate on {d}: {} ms (measured / estimate = {:.2})",
            ms(e),
            if e > 0.0 { p.total_ms / e } else { f64::NAN }
        );
    }
    match p.peak_gflops {
        Some(g) => {
            let _ = writeln!(
                s,
                "Peak: {g:.2} GFLOP/s ({}); every rate below is checked against it",
                p.peak_source
            );
        }
        None => {
            let _ = writeln!(s, "Peak: {}", p.peak_source);
        }
    }
    let est = p.estimate_ms.is_some();
    let mut header = vec![
        "node", "op_type", "time_ms", "time_pct", "flops", "macs", "GFLOP/s", "region",
    ];
    if est {
        header.push("estimate_ms");
    }
    header.push("tract ops");
    let mut t = new_table(&header);
    // the estimate column sits before the last ("tract ops") cell, when shown
    let with_est = |mut row: Vec<Cell>, e: Option<f64>| {
        if est {
            let last = row.pop().expect("row");
            row.push(right(e.map(ms).unwrap_or_else(|| "-".into())));
            row.push(last);
        }
        row
    };
    for n in &p.nodes {
        let mut ops: Vec<&str> = vec![];
        for tn in &n.tract_nodes {
            if !ops.contains(&tn.op.as_str()) {
                ops.push(&tn.op);
            }
        }
        t.add_row(with_est(
            vec![
                Cell::new(&n.name),
                Cell::new(&n.op_type),
                right(ms(n.time_ms)),
                right(format!("{:.2}%", n.time_pct)),
                right(json_human(&n.flops)),
                right(json_human(&n.macs)),
                right(
                    n.gflops_per_s
                        .map(|g| format!("{g:.2}"))
                        .unwrap_or_else(|| "-".into()),
                ),
                Cell::new(region_label(p, n.region)),
                Cell::new(if ops.is_empty() {
                    "- (folded away)".to_string()
                } else {
                    ops.join(", ")
                }),
            ],
            n.estimate_ms,
        ));
    }
    if !p.unmatched.nodes.is_empty() {
        let mut ops: Vec<&str> = vec![];
        for tn in &p.unmatched.nodes {
            if !ops.contains(&tn.op.as_str()) {
                ops.push(&tn.op);
            }
        }
        t.add_row(with_est(
            vec![
                Cell::new("unmatched"),
                Cell::new(""),
                right(ms(p.unmatched.time_ms)),
                right(format!("{:.2}%", pct(p.unmatched.time_ms, p.total_ms))),
                right("-"),
                right("-"),
                right("-"),
                Cell::new(""),
                Cell::new(ops.join(", ")),
            ],
            None,
        ));
    }
    t.add_row(with_est(
        vec![
            Cell::new("(between nodes)"),
            Cell::new(""),
            right(ms(p.outside_nodes_ms)),
            right(format!("{:.2}%", pct(p.outside_nodes_ms, p.total_ms))),
            right("-"),
            right("-"),
            right("-"),
            Cell::new(""),
            Cell::new("plan bookkeeping"),
        ],
        None,
    ));
    let _ = writeln!(s, "{t}");
    render_regions(s, p);
    if p.by_stage.len() > 1 {
        let _ = writeln!(s, "\nBy stage");
        let mut t = new_table(&["stage", "nodes", "time_ms", "time_pct", "flops", "GFLOP/s"]);
        for st in &p.by_stage {
            t.add_row(vec![
                Cell::new(&st.stage),
                right(st.nodes),
                right(ms(st.time_ms)),
                right(format!("{:.2}%", st.time_pct)),
                right(json_human(&st.flops)),
                right(
                    st.gflops_per_s
                        .map(|g| format!("{g:.2}"))
                        .unwrap_or_else(|| "-".into()),
                ),
            ]);
        }
        let _ = writeln!(s, "{t}");
    }
    if !p.by_op.is_empty() {
        let _ = writeln!(
            s,
            "\nBy kind of region (grouped and dense convs apart; bytes: Σ nodes' memory access)"
        );
        let _ = writeln!(s, "{}", rollup_table(&p.by_op, "kind"));
    }
    if p.by_stage.len() > 1 && !p.by_stage_kind.is_empty() {
        let _ = writeln!(s, "\nBy stage and kind of region");
        let _ = writeln!(s, "{}", rollup_table(&p.by_stage_kind, "stage / kind"));
    }
    for w in &p.above_peak {
        let _ = writeln!(s, "warning: {w}");
    }
    let k = p.top_by_time.len().max(p.top_by_flops.len());
    if k == 0 {
        return;
    }
    let _ = writeln!(s, "\nTop {k} nodes by time and by FLOPs");
    let mut t = new_table(&[
        "#",
        "by time",
        "time_ms",
        "time_pct",
        "by FLOPs",
        "flops",
        "flops_pct",
    ]);
    for i in 0..k {
        let a = p.top_by_time.get(i);
        let b = p.top_by_flops.get(i);
        t.add_row(vec![
            right(i + 1),
            Cell::new(a.map(|x| x.name.as_str()).unwrap_or("")),
            right(a.map(|x| ms(x.time_ms)).unwrap_or_default()),
            right(a.map(|x| format!("{:.2}%", x.time_pct)).unwrap_or_default()),
            Cell::new(b.map(|x| x.name.as_str()).unwrap_or("")),
            right(b.map(|x| json_human(&x.flops)).unwrap_or_default()),
            right(
                b.map(|x| format!("{:.2}%", x.flops_pct))
                    .unwrap_or_default(),
            ),
        ]);
    }
    let _ = writeln!(s, "{t}");
    let _ = writeln!(
        s,
        "Times are tract's optimized nodes attributed to the ONNX node whose name prefixes theirs; \
         a fused kernel (Conv+BatchNorm+Add+Relu) is named after one node of the chain, so its \
         time and FLOPs are reported for the region (rN) and a fused node has no rate of its own."
    );
}

fn rate(v: Option<f64>) -> String {
    v.map(|g| format!("{g:.2}")).unwrap_or_else(|| "-".into())
}

fn bpf(v: Option<f64>) -> String {
    v.map(|b| format!("{b:.3}")).unwrap_or_else(|| "-".into())
}

/// `rN` for a node in a region of several nodes; empty when it ran alone or in none.
fn region_label(p: &ProfileReport, region: Option<usize>) -> String {
    match region {
        Some(r) if p.regions.get(r).is_some_and(|x| x.nodes.len() > 1) => format!("r{r}"),
        _ => String::new(),
    }
}

/// The regions of several ONNX nodes (fused kernels); single-node regions are the node rows.
fn render_regions(s: &mut String, p: &ProfileReport) {
    let fused: Vec<(usize, &RegionTime)> = p
        .regions
        .iter()
        .enumerate()
        .filter(|(_, r)| r.nodes.len() > 1)
        .collect();
    if fused.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\nFused regions ({} of {} regions: ONNX nodes tract ran as one kernel)",
        fused.len(),
        p.regions.len()
    );
    let mut t = new_table(&[
        "region",
        "nodes",
        "kind",
        "time_ms",
        "time_pct",
        "flops",
        "GFLOP/s",
        "bytes/FLOP",
        "tract ops",
    ]);
    for (i, r) in fused {
        t.add_row(vec![
            Cell::new(format!("r{i}")),
            Cell::new(r.nodes.join("\n")),
            Cell::new(&r.kind),
            right(ms(r.time_ms)),
            right(format!("{:.2}%", r.time_pct)),
            right(json_human(&r.flops)),
            right(rate(r.gflops)),
            right(bpf(r.bytes_per_flop)),
            Cell::new(r.tract_ops.join(", ")),
        ]);
    }
    let _ = writeln!(s, "{t}");
}

fn rollup_table(rows: &[RegionRollup], first: &str) -> comfy_table::Table {
    let mut t = new_table(&[
        first,
        "regions",
        "nodes",
        "time_ms",
        "time_pct",
        "flops",
        "GFLOP/s",
        "bytes/FLOP",
    ]);
    for r in rows {
        t.add_row(vec![
            Cell::new(&r.key),
            right(r.regions),
            right(r.nodes),
            right(ms(r.time_ms)),
            right(format!("{:.2}%", r.time_pct)),
            right(json_human(&r.flops)),
            right(rate(r.gflops_per_s)),
            right(bpf(r.bytes_per_flop)),
        ]);
    }
    t
}
