//! The report of `run` (stable JSON: inputs, outputs with their summaries, timing, the
//! per-node profile, NMS and Dice results, warnings) and the assembly of the per-node profile
//! from the plan's timings and the profile pass's counts.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use super::{exec, outputs};
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
        nodes.push(NodeTime {
            name: r.name.clone(),
            op_type: r.op_type.clone(),
            time_ms,
            time_pct: pct(time_ms, total_ms),
            flops: count_json(&r.flops),
            macs: count_json(&r.macs),
            gflops_per_s: flops.filter(|_| time_ms > 0.0).map(|f| f / (time_ms * 1e6)),
            estimate_ms: r.roofline.as_ref().map(|x| x.time_s * 1e3),
            tract_nodes: std::mem::take(&mut tract_nodes[ix]),
        });
    }
    // stages: per-run sums, then medians
    let mut stages: Vec<(String, usize, Vec<f64>, Count)> = vec![];
    for r in &p.nodes {
        let Some(&ix) = index_of.get(r.name.as_str()) else {
            continue;
        };
        let pos = match stages.iter().position(|s| s.0 == r.stage) {
            Some(i) => i,
            None => {
                stages.push((r.stage.clone(), 0, vec![0.0; runs], Count::zero()));
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
    }
}
