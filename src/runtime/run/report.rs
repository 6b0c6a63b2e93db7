//! The report of `run` (stable JSON: inputs, outputs with their summaries, timing, the
//! per-node profile, NMS and Dice results, warnings) and the assembly of the per-node profile
//! from the plan's timings and the profile pass's counts.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use super::{exec, outputs, regions};
use crate::analysis::profile::NodeReport;
use crate::analysis::Profile;
use crate::model::Model;
use crate::post::dice::DiceReport;
use crate::post::nms::Detections;
use crate::sym::Count;

/// An input as the run used it.
#[derive(Clone, Debug, Serialize)]
pub struct InputReport {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: String,
    /// The file it came from, or `"random"`.
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An output and its summary.
#[derive(Clone, Debug, Serialize)]
pub struct OutputReport {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: String,
    #[serde(flatten)]
    pub stats: outputs::Stats,
    /// The `.npy` written (with --output-dir), else null.
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One ONNX node in the profile.
#[derive(Clone, Debug, Serialize)]
pub struct NodeTime {
    pub name: String,
    pub op_type: String,
    /// Median over the profiled runs of the time of the optimized nodes attributed to it.
    pub time_ms: f64,
    /// Share of the median run's wall time.
    pub time_pct: f64,
    /// Static counts from the profile pass (the inputs' shapes bound).
    pub flops: Value,
    pub macs: Value,
    /// FLOPs / time; null when no time was measured on the node.
    pub gflops_per_s: Option<f64>,
    /// Roofline estimate of the node in ms (with --device / --peak-gflops), else null.
    pub estimate_ms: Option<f64>,
    /// The optimized nodes attributed to it, with tract's op names.
    pub tract_nodes: Vec<TractNode>,
    /// Index into `regions` of the region it ran in; null when it ran in none (folded away).
    pub region: Option<usize>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TractNode {
    pub name: String,
    pub op: String,
    pub time_ms: f64,
}

/// Time of optimized nodes that no ONNX node name prefixes.
#[derive(Clone, Debug, Serialize)]
pub struct Unmatched {
    pub time_ms: f64,
    pub nodes: Vec<TractNode>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RankedTime {
    pub name: String,
    pub time_ms: f64,
    pub time_pct: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct RankedFlops {
    pub name: String,
    pub flops: Value,
    pub flops_pct: f64,
}

/// Time and FLOPs of one stage (as the profile pass names stages: `layer1`, …).
#[derive(Clone, Debug, Serialize)]
pub struct StageTime {
    pub stage: String,
    pub nodes: usize,
    pub time_ms: f64,
    pub time_pct: f64,
    pub flops: Value,
    pub gflops_per_s: Option<f64>,
}

/// ONNX nodes tract executed as one kernel (see `regions`): their time, FLOPs and rate.
#[derive(Clone, Debug, Serialize)]
pub struct RegionTime {
    /// ONNX node names, in topological order; the executed node (the kernel's name) is `kernel`.
    pub nodes: Vec<String>,
    pub kernel: String,
    /// tract's ops run for it (distinct, in execution order).
    pub tract_ops: Vec<String>,
    pub time_ms: f64,
    pub time_pct: f64,
    pub flops: Value,
    /// Σ members' memory access (bytes read + written): an upper bound for a fused kernel.
    pub bytes: Value,
    /// FLOPs / time; null when no time was measured.
    pub gflops: Option<f64>,
    pub bytes_per_flop: Option<f64>,
    /// The stage of its kernel node.
    pub stage: String,
    /// `grouped conv`, `dense conv`, or the op type of its costliest node.
    pub kind: String,
}

/// Regions rolled up by a key (kind, or stage and kind).
#[derive(Clone, Debug, Serialize)]
pub struct RegionRollup {
    pub key: String,
    pub regions: usize,
    pub nodes: usize,
    pub time_ms: f64,
    pub time_pct: f64,
    pub flops: Value,
    pub bytes: Value,
    pub gflops_per_s: Option<f64>,
    pub bytes_per_flop: Option<f64>,
}

/// What `--profile` reports.
#[derive(Clone, Debug, Serialize)]
pub struct ProfileReport {
    pub repeat: usize,
    /// Median wall time of a profiled run.
    pub total_ms: f64,
    pub flops: Value,
    pub macs: Value,
    /// Total FLOPs / median wall time.
    pub gflops_per_s: Option<f64>,
    /// The model's roofline estimate in ms and the device it assumes (with --device /
    /// --peak-gflops), else null.
    pub estimate_ms: Option<f64>,
    pub estimate_device: Option<String>,
    /// Every ONNX node, in execution order.
    pub nodes: Vec<NodeTime>,
    pub unmatched: Unmatched,
    /// Median of (run wall time − Σ node times): tract's bookkeeping between nodes.
    pub outside_nodes_ms: f64,
    pub top_by_time: Vec<RankedTime>,
    pub top_by_flops: Vec<RankedFlops>,
    /// Per stage: fused kernels rarely cross a stage, so a stage's FLOP rate is meaningful
    /// where a single node's may not be.
    pub by_stage: Vec<StageTime>,
    /// The ONNX nodes tract executed as one kernel each, in execution order.
    pub regions: Vec<RegionTime>,
    /// Regions by kind (`grouped conv`, `dense conv`, other op types).
    pub by_op: Vec<RegionRollup>,
    /// Regions by stage and kind (`layer1 / grouped conv`).
    pub by_stage_kind: Vec<RegionRollup>,
    /// The machine's attainable peak (from the device, else estimated from the CPU); null when
    /// neither is known.
    pub peak_gflops: Option<f64>,
    pub peak_source: String,
    /// Rows (node, region, stage, rollup) whose rate is above the peak.
    pub above_peak: Vec<String>,
}

/// Everything `run` reports (`--format json` prints it).
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub schema_version: u32,
    pub model: String,
    pub inputs: Vec<InputReport>,
    pub outputs: Vec<OutputReport>,
    /// Wall time of one run, or the median of the timed runs.
    pub time_ms: f64,
    /// How many runs `time_ms` summarises.
    pub runs: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nms: Option<Detections>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dice: Option<DiceReport>,
    pub warnings: Vec<String>,
}

fn count_json(c: &Count) -> Value {
    c.to_json()
}

pub(super) fn pct(part: f64, total: f64) -> f64 {
    if total > 0.0 {
        100.0 * part / total
    } else {
        0.0
    }
}

/// Per-ONNX-node times from the plan's timings, beside the profile pass's counts.
pub(super) fn profile_report(
    model: &Model,
    p: &Profile,
    t: &exec::PlanTimes,
    top: usize,
) -> ProfileReport {
    let names = exec::OnnxNames::new(model);
    let runs = t.total.len();
    let total_ms = exec::median(&t.total);
    let n_graph = model.graph.nodes.len();
    let mut per_node: Vec<Vec<f64>> = vec![vec![0.0; runs]; n_graph];
    let mut tract_nodes: Vec<Vec<TractNode>> = vec![vec![]; n_graph];
    let mut unmatched_runs = vec![0.0; runs];
    let mut unmatched_nodes = vec![];
    let mut outside: Vec<f64> = t.total.clone();
    for n in &t.nodes {
        for (acc, v) in outside.iter_mut().zip(&n.ms) {
            *acc -= v;
        }
        let node = TractNode {
            name: n.name.clone(),
            op: n.op.clone(),
            time_ms: exec::median(&n.ms),
        };
        match names.attribute(&n.name) {
            Some(ix) if ix < n_graph => {
                for (acc, v) in per_node[ix].iter_mut().zip(&n.ms) {
                    *acc += v;
                }
                tract_nodes[ix].push(node);
            }
            _ => {
                for (acc, v) in unmatched_runs.iter_mut().zip(&n.ms) {
                    *acc += v;
                }
                unmatched_nodes.push(node);
            }
        }
    }
    let mut index_of: HashMap<&str, usize> = HashMap::new();
    for (i, n) in model.graph.nodes.iter().enumerate() {
        index_of.entry(n.name.as_str()).or_insert(i);
    }
    let g = &model.graph;
    let mut report_of: Vec<Option<&NodeReport>> = vec![None; n_graph];
    for r in &p.nodes {
        if let Some(&ix) = index_of.get(r.name.as_str()) {
            report_of[ix].get_or_insert(r);
        }
    }

    // regions: absorbed nodes join the executed node downstream of them
    let is_absorbed: Vec<bool> = (0..n_graph)
        .map(|i| {
            let ops: Vec<&str> = tract_nodes[i].iter().map(|t| t.op.as_str()).collect();
            regions::absorbed(&g.nodes[i].op_type, &ops)
        })
        .collect();
    let owner = regions::owners(g, &is_absorbed);
    let mut topo: Vec<usize> = g.order.iter().copied().filter(|&i| i < n_graph).collect();
    for i in 0..n_graph {
        if !topo.contains(&i) {
            topo.push(i);
        }
    }
    let kernels: Vec<usize> = topo
        .iter()
        .copied()
        .filter(|&i| owner[i] == Some(i))
        .collect();
    let mut region_of_kernel = vec![None; n_graph];
    for (r, &k) in kernels.iter().enumerate() {
        region_of_kernel[k] = Some(r);
    }
    let node_region: Vec<Option<usize>> = owner
        .iter()
        .map(|o| o.and_then(|k| region_of_kernel[k]))
        .collect();
    let mut members: Vec<Vec<usize>> = vec![vec![]; kernels.len()];
    for &i in &topo {
        if let Some(r) = node_region[i] {
            members[r].push(i);
        }
    }
    let mut region_runs: Vec<Vec<f64>> = vec![vec![0.0; runs]; kernels.len()];
    let mut regions_out: Vec<RegionTime> = vec![];
    for (r, ms) in members.iter().enumerate() {
        for &i in ms {
            for (acc, v) in region_runs[r].iter_mut().zip(&per_node[i]) {
                *acc += v;
            }
        }
        let reps: Vec<&NodeReport> = ms.iter().filter_map(|&i| report_of[i]).collect();
        let flops = Count::sum(reps.iter().map(|n| &n.flops));
        let bytes = Count::sum(reps.iter().map(|n| &n.mem_access_bytes));
        let kernel = kernels[r];
        let costliest = reps
            .iter()
            .filter(|n| n.flops.as_int().is_some_and(|f| f > 0))
            .max_by_key(|n| n.flops.as_int().unwrap_or(0));
        let kind = match costliest {
            Some(n) if n.op_type == "Conv" && n.group.is_some_and(|g| g > 1) => {
                "grouped conv".to_string()
            }
            Some(n) if n.op_type == "Conv" => "dense conv".to_string(),
            Some(n) => n.op_type.clone(),
            None => g.nodes[kernel].op_type.clone(),
        };
        let mut ops: Vec<String> = vec![];
        for &i in ms {
            for t in &tract_nodes[i] {
                if !ops.contains(&t.op) {
                    ops.push(t.op.clone());
                }
            }
        }
        let time_ms = exec::median(&region_runs[r]);
        let f = flops.as_int().map(|v| v as f64);
        let b = bytes.as_int().map(|v| v as f64);
        regions_out.push(RegionTime {
            nodes: ms.iter().map(|&i| g.nodes[i].name.clone()).collect(),
            kernel: g.nodes[kernel].name.clone(),
            tract_ops: ops,
            time_ms,
            time_pct: pct(time_ms, total_ms),
            gflops: f.filter(|_| time_ms > 0.0).map(|f| f / (time_ms * 1e6)),
            bytes_per_flop: f.zip(b).filter(|(f, _)| *f > 0.0).map(|(f, b)| b / f),
            flops: count_json(&flops),
            bytes: count_json(&bytes),
            stage: report_of[kernel]
                .map(|n| n.stage.clone())
                .unwrap_or_default(),
            kind,
        });
    }

    let mut nodes = vec![];
    let mut seen = vec![false; n_graph];
    for r in &p.nodes {
        let Some(&ix) = index_of.get(r.name.as_str()) else {
            continue;
        };
        if std::mem::replace(&mut seen[ix], true) {
            continue;
        }
        let time_ms = exec::median(&per_node[ix]);
        let flops = r.flops.as_int().map(|v| v as f64);
        // a rate only for a node that ran alone: a fused node's time and FLOPs are its region's
        let alone = node_region[ix].is_some_and(|k| members[k].len() == 1);
        nodes.push(NodeTime {
            name: r.name.clone(),
            op_type: r.op_type.clone(),
            time_ms,
            time_pct: pct(time_ms, total_ms),
            flops: count_json(&r.flops),
            macs: count_json(&r.macs),
            gflops_per_s: flops
                .filter(|_| time_ms > 0.0 && alone)
                .map(|f| f / (time_ms * 1e6)),
            estimate_ms: r.roofline.as_ref().map(|x| x.time_s * 1e3),
            tract_nodes: std::mem::take(&mut tract_nodes[ix]),
            region: node_region[ix],
        });
    }
    // stages: per-run sums, then medians; a node counts in the stage of its region's kernel
    let mut stages: Vec<(String, usize, Vec<f64>, Count)> = vec![];
    for r in &p.nodes {
        let Some(&ix) = index_of.get(r.name.as_str()) else {
            continue;
        };
        let stage = node_region[ix]
            .map(|k| regions_out[k].stage.clone())
            .unwrap_or_else(|| r.stage.clone());
        let pos = match stages.iter().position(|s| s.0 == stage) {
            Some(i) => i,
            None => {
                stages.push((stage, 0, vec![0.0; runs], Count::zero()));
                stages.len() - 1
            }
        };
        let st = &mut stages[pos];
        st.1 += 1;
        for (acc, v) in st.2.iter_mut().zip(&per_node[ix]) {
            *acc += v;
        }
        st.3 = Count::sum([&st.3, &r.flops]);
    }
    let by_stage: Vec<StageTime> = stages
        .into_iter()
        .map(|(stage, count, times, flops)| {
            let time_ms = exec::median(&times);
            StageTime {
                stage,
                nodes: count,
                time_ms,
                time_pct: pct(time_ms, total_ms),
                gflops_per_s: flops
                    .as_int()
                    .filter(|_| time_ms > 0.0)
                    .map(|f| f as f64 / (time_ms * 1e6)),
                flops: count_json(&flops),
            }
        })
        .collect();
    let region_reps: Vec<Vec<&NodeReport>> = members
        .iter()
        .map(|ms| ms.iter().filter_map(|&i| report_of[i]).collect())
        .collect();
    let by_op = rollup(&regions_out, &region_runs, &region_reps, total_ms, |r| {
        r.kind.clone()
    });
    let by_stage_kind = rollup(&regions_out, &region_runs, &region_reps, total_ms, |r| {
        format!("{} / {}", r.stage, r.kind)
    });

    // the peak every rate is checked against
    let peak = match &p.roofline {
        Some(r) => Some(regions::Peak {
            gflops: r.peak_gflops,
            source: format!("device {}: {}", r.device, r.source),
        }),
        None => regions::machine_peak(),
    };
    let mut above_peak = vec![];
    if let Some(pk) = &peak {
        let mut check = |what: &str, name: &str, rate: Option<f64>| {
            if let Some(g) = rate.filter(|g| *g > pk.gflops) {
                above_peak.push(format!(
                    "{what} '{name}' at {g:.2} GFLOP/s is above the peak {:.2} GFLOP/s",
                    pk.gflops
                ));
            }
        };
        for n in &nodes {
            check("node", &n.name, n.gflops_per_s);
        }
        for r in &regions_out {
            check("region", &r.kernel, r.gflops);
        }
        for st in &by_stage {
            check("stage", &st.stage, st.gflops_per_s);
        }
        for ro in by_op.iter().chain(&by_stage_kind) {
            check("rollup", &ro.key, ro.gflops_per_s);
        }
    }
    let mut by_time: Vec<&NodeTime> = nodes.iter().filter(|n| n.time_ms > 0.0).collect();
    by_time.sort_by(|a, b| b.time_ms.total_cmp(&a.time_ms));
    let total_flops = p.totals.flops.as_int().map(|v| v as f64);
    let mut by_flops: Vec<(&NodeTime, f64)> = p
        .nodes
        .iter()
        .filter_map(|r| {
            let f = r.flops.as_int()? as f64;
            let n = nodes.iter().find(|n| n.name == r.name)?;
            (f > 0.0).then_some((n, f))
        })
        .collect();
    by_flops.sort_by(|a, b| b.1.total_cmp(&a.1));
    ProfileReport {
        repeat: runs,
        total_ms,
        flops: count_json(&p.totals.flops),
        macs: count_json(&p.totals.macs),
        gflops_per_s: total_flops
            .filter(|_| total_ms > 0.0)
            .map(|f| f / (total_ms * 1e6)),
        estimate_ms: p.roofline.as_ref().map(|r| r.time_s * 1e3),
        estimate_device: p.roofline.as_ref().map(|r| r.device.clone()),
        unmatched: Unmatched {
            time_ms: exec::median(&unmatched_runs),
            nodes: unmatched_nodes,
        },
        outside_nodes_ms: exec::median(&outside).max(0.0),
        top_by_time: by_time
            .iter()
            .take(top)
            .map(|n| RankedTime {
                name: n.name.clone(),
                time_ms: n.time_ms,
                time_pct: n.time_pct,
            })
            .collect(),
        top_by_flops: by_flops
            .iter()
            .take(top)
            .map(|(n, f)| RankedFlops {
                name: n.name.clone(),
                flops: n.flops.clone(),
                flops_pct: pct(*f, total_flops.unwrap_or(0.0)),
            })
            .collect(),
        by_stage,
        nodes,
        above_peak,
        peak_gflops: peak.as_ref().map(|p| p.gflops),
        peak_source: peak
            .map(|p| p.source)
            .unwrap_or_else(|| "unknown (no /proc/cpuinfo clock, no --device)".into()),
        regions: regions_out,
        by_op,
        by_stage_kind,
    }
}

/// Regions grouped by `key` (in first-appearance order): per-run sums, then medians.
fn rollup(
    regions: &[RegionTime],
    runs: &[Vec<f64>],
    reps: &[Vec<&NodeReport>],
    total_ms: f64,
    key: impl Fn(&RegionTime) -> String,
) -> Vec<RegionRollup> {
    let mut acc: Vec<(String, usize, usize, Vec<f64>, Count, Count)> = vec![];
    for (i, r) in regions.iter().enumerate() {
        let k = key(r);
        let pos = match acc.iter().position(|a| a.0 == k) {
            Some(p) => p,
            None => {
                let n = runs[i].len();
                acc.push((k, 0, 0, vec![0.0; n], Count::zero(), Count::zero()));
                acc.len() - 1
            }
        };
        let a = &mut acc[pos];
        a.1 += 1;
        a.2 += r.nodes.len();
        for (x, v) in a.3.iter_mut().zip(&runs[i]) {
            *x += v;
        }
        for n in &reps[i] {
            a.4 = Count::sum([&a.4, &n.flops]);
            a.5 = Count::sum([&a.5, &n.mem_access_bytes]);
        }
    }
    acc.into_iter()
        .map(|(key, regions, nodes, times, flops, bytes)| {
            let time_ms = exec::median(&times);
            let f = flops.as_int().map(|v| v as f64);
            let b = bytes.as_int().map(|v| v as f64);
            RegionRollup {
                key,
                regions,
                nodes,
                time_ms,
                time_pct: pct(time_ms, total_ms),
                gflops_per_s: f.filter(|_| time_ms > 0.0).map(|f| f / (time_ms * 1e6)),
                bytes_per_flop: f.zip(b).filter(|(f, _)| *f > 0.0).map(|(f, b)| b / f),
                flops: count_json(&flops),
                bytes: count_json(&bytes),
            }
        })
        .collect()
}
