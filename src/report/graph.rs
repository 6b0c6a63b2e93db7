//! Pictures of a profile: the graph as Graphviz DOT (petgraph's `Dot` over the IR's DAG, with
//! attribute getters that colour each node by its FLOPs, MACs, memory access or arithmetic
//! intensity), SVG through Graphviz's `dot` binary, and a hand-written SVG roofline plot.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};

use petgraph::dot::{Config, Dot};
use petgraph::visit::NodeRef;

use super::{human, human_f, shape_str};
use crate::analysis::roofline::Bound;
use crate::analysis::{NodeReport, Profile};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::util::text::xml_escape;

/// What colours the nodes of the DOT/SVG graph.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColorBy {
    /// FLOPs.
    #[default]
    Flops,
    /// Multiply-accumulates (`macs`).
    Macs,
    /// Memory access cost: bytes read + written (`mem_access_bytes`); `mac` is an alias.
    MemoryAccess,
    /// Arithmetic intensity, FLOPs per byte.
    Intensity,
}

crate::choices!(ColorBy {
    "flops" => ColorBy::Flops; "FLOPs",
    "macs" => ColorBy::Macs; "Multiply-accumulates (`macs`)",
    "memory-access" => ColorBy::MemoryAccess;
        "Memory access cost: bytes read + written (`mem_access_bytes`); `mac` is an alias",
    "mac" => ColorBy::MemoryAccess,
    "intensity" => ColorBy::Intensity; "Arithmetic intensity, FLOPs per byte",
});

impl ColorBy {
    fn label(self) -> &'static str {
        match self {
            ColorBy::Flops => "FLOPs",
            ColorBy::Macs => "MACs",
            ColorBy::MemoryAccess => "memory access (bytes)",
            ColorBy::Intensity => "FLOP/byte",
        }
    }
    fn value(self, n: &NodeReport) -> f64 {
        match self {
            ColorBy::Flops => n.flops.approx(),
            ColorBy::Macs => n.macs.approx(),
            ColorBy::MemoryAccess => n.mem_access_bytes.approx(),
            ColorBy::Intensity => n.intensity.unwrap_or(0.0),
        }
        .max(0.0)
    }
}

/// Escapes a string for a double-quoted DOT attribute (`\n` stays a DOT line break).
fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// White → red on a square-root scale (small nodes stay visible next to the largest).
fn heat(v: f64, max: f64) -> (String, &'static str) {
    let t = if max > 0.0 {
        (v / max).clamp(0.0, 1.0).sqrt()
    } else {
        0.0
    };
    let (lo, hi) = ((255.0, 255.0, 255.0), (189.0, 0.0, 38.0));
    let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    let c = format!(
        "#{:02x}{:02x}{:02x}",
        mix(lo.0, hi.0),
        mix(lo.1, hi.1),
        mix(lo.2, hi.2)
    );
    (c, if t > 0.6 { "white" } else { "black" })
}

fn metric_text(by: ColorBy, n: &NodeReport) -> String {
    match by {
        ColorBy::Flops => format!("{} FLOPs", human(&n.flops)),
        ColorBy::Macs => format!("{} MACs", human(&n.macs)),
        ColorBy::MemoryAccess => format!("{} B memory access", human(&n.mem_access_bytes)),
        ColorBy::Intensity => match n.intensity {
            Some(i) => format!("{i:.2} FLOP/byte"),
            None => "- FLOP/byte".into(),
        },
    }
}

/// The model's graph in Graphviz DOT: one box per node (name, op type, output shape and the
/// chosen metric), filled by the metric; an edge per tensor labelled with its shape; graph inputs
/// and outputs as ellipses.
pub fn dot(model: &Model, p: &Profile, by: ColorBy) -> String {
    let g = &model.graph;
    // `p.nodes[k]` is `g.order[k]`.
    let mut report: Vec<Option<&NodeReport>> = vec![None; g.nodes.len()];
    for (k, id) in g.order.iter().enumerate() {
        report[*id] = p.nodes.get(k);
    }
    let max = p.nodes.iter().map(|n| by.value(n)).fold(0.0, f64::max);
    // tensor name → shape text, from the nodes' inputs and outputs
    let mut shapes: std::collections::HashMap<&str, String> = std::collections::HashMap::new();
    for n in &p.nodes {
        for t in n.inputs.iter().chain(n.outputs.iter()) {
            shapes
                .entry(&*t.name)
                .or_insert_with(|| shape_str(&t.shape));
        }
    }
    let node_attrs = |_, n: (petgraph::graph::NodeIndex, &usize)| -> String {
        let id = *n.weight();
        let node = &g.nodes[id];
        let Some(r) = report[id] else {
            return format!("label = \"{}\"", dot_escape(&node.name));
        };
        let shape = r
            .outputs
            .first()
            .map(|t| shape_str(&t.shape))
            .unwrap_or_default();
        let (fill, font) = heat(by.value(r), max);
        let label = format!(
            "{}\\n{} {}\\n{}",
            dot_escape(&node.name),
            dot_escape(&node.op_type),
            dot_escape(&shape),
            dot_escape(&metric_text(by, r))
        );
        let unknown = if r.costed { "" } else { ", color = \"red\"" };
        format!("label = \"{label}\", fillcolor = \"{fill}\", fontcolor = \"{font}\"{unknown}")
    };
    let edge_attrs = |_, e: petgraph::graph::EdgeReference<'_, usize>| -> String {
        let t = *e.weight();
        let label = shapes
            .get(g.tensors[t].name.as_str())
            .cloned()
            .unwrap_or_default();
        format!("label = \"{}\"", dot_escape(&label))
    };
    let body = Dot::with_attr_getters(
        &g.dag,
        &[
            Config::NodeNoLabel,
            Config::EdgeNoLabel,
            Config::GraphContentOnly,
        ],
        &edge_attrs,
        &node_attrs,
    );
    let mut s = String::new();
    let _ = writeln!(s, "digraph onnxscope {{");
    let _ = writeln!(s, "    rankdir = \"TB\"");
    let _ = writeln!(
        s,
        "    label = \"{}\\nnodes filled by {}: white 0 → red {} (square-root scale)\"",
        dot_escape(&p.model.path),
        by.label(),
        dot_escape(&human_f(max))
    );
    let _ = writeln!(s, "    labelloc = \"t\"");
    let _ = writeln!(s, "    fontname = \"Helvetica\"");
    let _ = writeln!(
        s,
        "    node [ shape = \"box\", style = \"rounded,filled\", fontname = \"Helvetica\", fontsize = 10 ]"
    );
    let _ = writeln!(
        s,
        "    edge [ fontname = \"Helvetica\", fontsize = 8, color = \"#555555\" ]"
    );
    let _ = write!(s, "{body}");
    let shape_of = |t: usize| -> String {
        shapes
            .get(g.tensors[t].name.as_str())
            .cloned()
            .unwrap_or_else(|| "?".into())
    };
    for (k, &t) in g.inputs.iter().enumerate() {
        let _ = writeln!(
            s,
            "    in{k} [ label = \"{}\\n{}\", shape = \"ellipse\", style = \"filled\", fillcolor = \"#deebf7\" ]",
            dot_escape(&g.tensors[t].name),
            dot_escape(&shape_of(t))
        );
        for (n, _) in &g.tensors[t].consumers {
            let _ = writeln!(s, "    in{k} -> {n}");
        }
    }
    for (k, &t) in g.outputs.iter().enumerate() {
        let _ = writeln!(
            s,
            "    out{k} [ label = \"{}\\n{}\", shape = \"ellipse\", style = \"filled\", fillcolor = \"#e5f5e0\" ]",
            dot_escape(&g.tensors[t].name),
            dot_escape(&shape_of(t))
        );
        if let Some(pr) = g.tensors[t].producer {
            let _ = writeln!(s, "    {pr} -> out{k}");
        }
    }
    s.push_str("}\n");
    s
}

/// Renders DOT to SVG with Graphviz's `dot` (looked up on PATH).
pub fn svg(dot_src: &str) -> Result<String> {
    let spawned = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::usage(
                "--format svg",
                "Graphviz's `dot` program was not found on PATH; install graphviz \
                 (Debian/Ubuntu: apt-get install graphviz, macOS: brew install graphviz) \
                 or use --format dot and render it elsewhere",
            ))
        }
        Err(e) => {
            return Err(Error::usage(
                "--format svg",
                format!("cannot run Graphviz's `dot`: {e}"),
            ))
        }
    };
    let input = dot_src.to_string();
    let mut stdin = child.stdin.take().expect("piped stdin");
    // Write from a thread so a large graph cannot deadlock on full pipes.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child
        .wait_with_output()
        .map_err(|e| Error::usage("--format svg", format!("running Graphviz's `dot`: {e}")))?;
    let _ = writer.join();
    if !out.status.success() {
        return Err(Error::usage(
            "--format svg",
            format!(
                "Graphviz's `dot` failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    String::from_utf8(out.stdout)
        .map_err(|_| Error::usage("--format svg", "Graphviz's `dot` wrote invalid UTF-8"))
}

/// A decade tick: `0.01`, `0.1`, `1`, `10`, `1.00k`.
fn tick(d: f64) -> String {
    if d < 1.0 {
        format!("{}", (d * 1e6).round() / 1e6)
    } else {
        human_f(d).replace(' ', "")
    }
}

/// At most `n` characters, with an ellipsis in front when cut.
fn tail(s: &str, n: usize) -> String {
    let c: Vec<char> = s.chars().collect();
    if c.len() <= n {
        s.to_string()
    } else {
        format!("…{}", c[c.len() - (n - 1)..].iter().collect::<String>())
    }
}

/// Seconds in human units (ns, µs, ms, s).
pub fn human_time(s: f64) -> String {
    let (v, u) = if s >= 1.0 {
        (s, "s")
    } else if s >= 1e-3 {
        (s * 1e3, "ms")
    } else if s >= 1e-6 {
        (s * 1e6, "µs")
    } else {
        (s * 1e9, "ns")
    };
    if v >= 99.95 {
        format!("{v:.0} {u}")
    } else if v >= 9.995 {
        format!("{v:.1} {u}")
    } else {
        format!("{v:.2} {u}")
    }
}

/// A log–log roofline plot of the profile (needs `p.roofline`): the two roofs, the ridge point,
/// each node with FLOPs at (intensity, attainable GFLOP/s) sized by its share of the estimated
/// time and coloured by its bound, and the whole model as a black diamond.
pub fn roofline_svg(p: &Profile) -> Option<String> {
    let r = p.roofline.as_ref()?;
    let (w, h) = (960.0_f64, 620.0_f64);
    let (l, rt, t, b) = (80.0, 230.0, 60.0, 60.0);
    let pts: Vec<(&NodeReport, f64, f64, f64, Bound)> = p
        .nodes
        .iter()
        .filter_map(|n| {
            let nr = n.roofline.as_ref()?;
            let i = n.intensity?;
            let perf = nr.attainable_gflops?;
            (i > 0.0 && perf > 0.0).then_some((n, i, perf, nr.time_s, nr.bound))
        })
        .collect();
    let skipped = p.nodes.len() - pts.len();
    let total_i = p.totals.intensity.filter(|i| *i > 0.0);
    let total_perf = r.attainable_gflops.filter(|v| *v > 0.0);
    let mut xs: Vec<f64> = pts.iter().map(|x| x.1).collect();
    xs.push(r.ridge_flops_per_byte);
    xs.extend(total_i);
    let x_lo = 10f64.powf(
        xs.iter()
            .cloned()
            .fold(f64::INFINITY, f64::min)
            .log10()
            .floor(),
    );
    let x_hi = 10f64
        .powf(
            (xs.iter().cloned().fold(0.0, f64::max) * 1.5)
                .log10()
                .ceil(),
        )
        .max(x_lo * 100.0);
    let y_hi = 10f64.powf((r.peak_gflops * 1.5).log10().ceil());
    let mut ys: Vec<f64> = pts.iter().map(|x| x.2).collect();
    ys.push(r.bandwidth_gbs * x_lo);
    ys.extend(total_perf);
    let y_lo = 10f64
        .powf(
            ys.iter()
                .cloned()
                .fold(f64::INFINITY, f64::min)
                .log10()
                .floor(),
        )
        .min(y_hi / 100.0);
    let px = |x: f64| l + (x.log10() - x_lo.log10()) / (x_hi.log10() - x_lo.log10()) * (w - l - rt);
    let py =
        |y: f64| h - b - (y.log10() - y_lo.log10()) / (y_hi.log10() - y_lo.log10()) * (h - t - b);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="Helvetica, Arial, sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="24" font-size="15" font-weight="bold">Roofline: {} on {}</text>"#,
        l,
        xml_escape(&p.model.path),
        xml_escape(&r.device)
    );
    let _ = writeln!(
        s,
        r##"<text x="{}" y="44" fill="#444">peak {} GFLOP/s, {} GB/s, ridge {:.1} FLOP/byte; estimate {} ({} compute-bound, {} memory-bound nodes)</text>"##,
        l,
        r.peak_gflops,
        r.bandwidth_gbs,
        r.ridge_flops_per_byte,
        human_time(r.time_s),
        r.compute_bound_nodes,
        r.memory_bound_nodes
    );
    // grid and ticks, one per decade
    let mut d = x_lo;
    while d <= x_hi * 1.0001 {
        let x = px(d);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{t}" x2="{x:.1}" y2="{:.1}" stroke="#e5e5e5"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            h - b,
            h - b + 18.0,
            tick(d)
        );
        d *= 10.0;
    }
    let mut d = y_lo;
    while d <= y_hi * 1.0001 {
        let y = py(d);
        let _ = writeln!(
            s,
            r##"<line x1="{l}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            w - rt,
            l - 6.0,
            y + 4.0,
            tick(d)
        );
        d *= 10.0;
    }
    let _ = writeln!(
        s,
        r##"<rect x="{l}" y="{t}" width="{:.1}" height="{:.1}" fill="none" stroke="#333"/>"##,
        w - l - rt,
        h - t - b
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">arithmetic intensity (FLOP/byte)</text>"#,
        l + (w - l - rt) / 2.0,
        h - 16.0
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(20 {:.1}) rotate(-90)" text-anchor="middle">attainable GFLOP/s</text>"#,
        t + (h - t - b) / 2.0
    );
    // the roofs: bandwidth × intensity up to the ridge, then the peak
    let x0 = x_lo.max(y_lo / r.bandwidth_gbs);
    let ridge = r.ridge_flops_per_byte;
    let _ = writeln!(
        s,
        r##"<polyline points="{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="none" stroke="#222" stroke-width="2.5"/>"##,
        px(x0),
        py(r.bandwidth_gbs * x0),
        px(ridge),
        py(r.peak_gflops),
        px(x_hi),
        py(r.peak_gflops)
    );
    let _ = writeln!(
        s,
        r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#222" stroke-dasharray="4 4"/><text x="{:.1}" y="{:.1}" fill="#222">ridge {ridge:.1}</text>"##,
        py(r.peak_gflops),
        h - b,
        px(ridge) + 4.0,
        h - b - 6.0,
        x = px(ridge)
    );
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#222">peak {} GFLOP/s</text>"##,
        w - rt - 6.0,
        py(r.peak_gflops) - 6.0,
        r.peak_gflops
    );
    // nodes, largest first so small ones stay on top
    let total_t = r.time_s.max(f64::MIN_POSITIVE);
    let mut order: Vec<usize> = (0..pts.len()).collect();
    order.sort_by(|a, b| pts[*b].3.total_cmp(&pts[*a].3));
    for &k in &order {
        let (n, i, perf, time, bound) = pts[k];
        let rad = (3.0 + 40.0 * (time / total_t).sqrt()).min(22.0);
        let fill = if bound == Bound::Memory {
            "#2b8cbe"
        } else {
            "#e6550d"
        };
        // grouped convs get a black ring
        let (stroke, sw) = if n.dense_flops.is_some() {
            ("black", 1.5)
        } else {
            (fill, 1.0)
        };
        let _ = writeln!(
            s,
            r##"<circle cx="{:.1}" cy="{:.1}" r="{rad:.1}" fill="{fill}" fill-opacity="0.55" stroke="{stroke}" stroke-width="{sw}"><title>{} ({}): {:.2} FLOP/byte, {} FLOPs, {} bytes, {}, {}-bound</title></circle>"##,
            px(i),
            py(perf),
            xml_escape(&n.name),
            xml_escape(&n.op_type),
            i,
            human(&n.flops),
            human(&n.mem_access_bytes),
            human_time(time),
            bound.as_str()
        );
    }
    if let (Some(i), Some(perf)) = (total_i, total_perf) {
        let (cx, cy) = (px(i), py(perf));
        let _ = writeln!(
            s,
            r##"<polygon points="{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="black"><title>model: {:.2} FLOP/byte, {:.1} GFLOP/s attained</title></polygon>"##,
            cx,
            cy - 8.0,
            cx + 8.0,
            cy,
            cx,
            cy + 8.0,
            cx - 8.0,
            cy,
            i,
            perf
        );
    }
    // legend
    let lx = w - rt + 16.0;
    let items: [(&str, String); 4] = [
        ("#e6550d", "compute-bound node".into()),
        ("#2b8cbe", "memory-bound node".into()),
        ("ring", "grouped conv".into()),
        ("black", "whole model".into()),
    ];
    for (k, (c, txt)) in items.iter().enumerate() {
        let y = t + 14.0 + 22.0 * k as f64;
        if *c == "ring" {
            let _ = writeln!(
                s,
                r#"<circle cx="{lx:.1}" cy="{y:.1}" r="7" fill="white" stroke="black" stroke-width="1.5"/>"#
            );
        } else if *c == "black" {
            let _ = writeln!(
                s,
                r#"<polygon points="{lx:.1},{:.1} {:.1},{y:.1} {lx:.1},{:.1} {:.1},{y:.1}" fill="black"/>"#,
                y - 7.0,
                lx + 7.0,
                y + 7.0,
                lx - 7.0
            );
        } else {
            let _ = writeln!(
                s,
                r#"<circle cx="{lx:.1}" cy="{y:.1}" r="7" fill="{c}" fill-opacity="0.55" stroke="{c}"/>"#
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 14.0,
            y + 4.0,
            xml_escape(txt)
        );
    }
    let mut notes = vec![
        "circle area ~ share of the".to_string(),
        "estimated time".to_string(),
        format!("not drawn (no FLOPs): {skipped}"),
        format!(
            "time in memory-bound nodes: {:.0}%",
            100.0 * r.memory_bound_time_s / total_t
        ),
        String::new(),
        "longest nodes:".to_string(),
    ];
    for &k in order.iter().take(5) {
        let (n, _, _, time, _) = pts[k];
        notes.push(format!(
            "{:.1}% {}",
            100.0 * time / total_t,
            tail(&n.name, 26)
        ));
    }
    for (k, txt) in notes.iter().enumerate() {
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" fill="#444" font-size="11">{}</text>"##,
            lx - 7.0,
            t + 122.0 + 16.0 * k as f64,
            xml_escape(txt)
        );
    }
    s.push_str("</svg>\n");
    Some(s)
}
