//! Roofline estimates. A device is a peak compute rate P (FLOP/s) and a memory bandwidth B
//! (bytes/s); its ridge point is P / B FLOPs per byte. A node of F FLOPs and M bytes of memory
//! access (`mem_access_bytes`) has arithmetic intensity F / M: at or above the ridge it is
//! compute-bound, below it memory-bound, and its time is estimated as max(F / P, M / B). The
//! model's estimate is the sum over nodes — sequential execution, no overlap between nodes, no
//! fusion, every input read from and every output written to main memory — so it is an
//! idealised bound, not a benchmark. Unbound symbols are taken as 1 (bind them with `--dim`).
//!
//! Units are decimal: 1 GFLOP/s = 10⁹ FLOP/s, 1 GB/s = 10⁹ bytes/s, as in the spec sheets.
//! FLOPs follow the project's counting rule (a multiply-add is 2 FLOPs), the same convention as
//! the vendors' peak figures (an FMA counts 2).

use serde::Serialize;

use super::Profile;
use crate::error::{Error, Result};
use crate::sym::Count;

/// A device preset: its name, peak FP rate, bandwidth and where the figures come from.
#[derive(Clone, Debug, PartialEq)]
pub struct Device {
    pub name: String,
    pub peak_gflops: f64,
    pub bandwidth_gbs: f64,
    pub source: String,
}

/// (name, peak GFLOP/s, GB/s, source). Peaks are dense (no structured sparsity).
pub const PRESETS: &[(&str, f64, f64, &str)] = &[
    (
        "laptop-cpu",
        384.0,
        68.3,
        "Intel Core i7-1185G7 (Tiger Lake): 4 cores × 32 FP32 FLOP/cycle (one AVX-512 FMA unit) \
         × 3.0 GHz base = 384 GFLOP/s; LPDDR4x-4266, 128-bit = 68.3 GB/s (Intel ARK)",
    ),
    (
        "server-cpu",
        5888.0,
        204.8,
        "Intel Xeon Platinum 8380 (Ice Lake-SP): 40 cores × 64 FP32 FLOP/cycle (two AVX-512 FMA \
         units) × 2.3 GHz base = 5,888 GFLOP/s; 8 channels DDR4-3200 = 204.8 GB/s (Intel ARK)",
    ),
    (
        "jetson-orin",
        5325.0,
        204.8,
        "NVIDIA Jetson AGX Orin 64GB: 2048 CUDA cores × 2 FLOP × 1.3 GHz = 5.3 TFLOP/s FP32; \
         256-bit LPDDR5 204.8 GB/s (Jetson AGX Orin Series Technical Brief / data sheet)",
    ),
    (
        "a100",
        19500.0,
        2039.0,
        "NVIDIA A100 80GB SXM4: 19.5 TFLOP/s FP32 (CUDA cores); HBM2e 2,039 GB/s \
         (NVIDIA A100 Tensor Core GPU datasheet)",
    ),
    (
        "a100-fp16",
        312000.0,
        2039.0,
        "NVIDIA A100 80GB SXM4: 312 TFLOP/s FP16/BF16 Tensor Core, dense; HBM2e 2,039 GB/s \
         (NVIDIA A100 Tensor Core GPU datasheet)",
    ),
];

impl Device {
    /// A preset by name (case-insensitive).
    pub fn preset(name: &str) -> Result<Device> {
        PRESETS
            .iter()
            .find(|p| p.0.eq_ignore_ascii_case(name))
            .map(|p| Device {
                name: p.0.to_string(),
                peak_gflops: p.1,
                bandwidth_gbs: p.2,
                source: p.3.to_string(),
            })
            .ok_or_else(|| {
                Error::usage(
                    "--device",
                    format!(
                        "unknown device '{name}' (presets: {}; or give --peak-gflops and --bandwidth-gbs)",
                        PRESETS.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
                    ),
                )
            })
    }
    /// A device from explicit figures.
    pub fn custom(peak_gflops: f64, bandwidth_gbs: f64) -> Result<Device> {
        for (arg, v) in [
            ("--peak-gflops", peak_gflops),
            ("--bandwidth-gbs", bandwidth_gbs),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::usage(arg, format!("{v}: must be a positive number")));
            }
        }
        Ok(Device {
            name: "custom".into(),
            peak_gflops,
            bandwidth_gbs,
            source: "given on the command line".into(),
        })
    }
    /// FLOPs per byte where the two roofs meet.
    pub fn ridge(&self) -> f64 {
        self.peak_gflops / self.bandwidth_gbs
    }
}

/// Which roof limits a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bound {
    Compute,
    Memory,
    /// No FLOPs and no bytes (e.g. a Constant).
    None,
}

impl Bound {
    pub fn as_str(self) -> &'static str {
        match self {
            Bound::Compute => "compute",
            Bound::Memory => "memory",
            Bound::None => "none",
        }
    }
}

/// A node's roofline estimate (JSON `nodes[].roofline`).
#[derive(Clone, Debug, Serialize)]
pub struct NodeRoofline {
    pub bound: Bound,
    /// max(FLOPs / peak, bytes / bandwidth), seconds.
    pub time_s: f64,
    /// FLOPs / time_s, GFLOP/s (null when time is 0).
    pub attainable_gflops: Option<f64>,
}

/// The model's roofline estimate (JSON `roofline`).
#[derive(Clone, Debug, Serialize)]
pub struct RooflineReport {
    pub device: String,
    pub source: String,
    pub peak_gflops: f64,
    pub bandwidth_gbs: f64,
    /// peak / bandwidth, FLOPs per byte.
    pub ridge_flops_per_byte: f64,
    /// Σ per-node time, seconds.
    pub time_s: f64,
    /// Σ FLOPs / peak: the time if every node were compute-bound.
    pub compute_time_s: f64,
    /// Σ bytes / bandwidth: the time if every node were memory-bound.
    pub memory_time_s: f64,
    pub compute_bound_nodes: u64,
    pub memory_bound_nodes: u64,
    /// Time spent in memory-bound nodes, seconds.
    pub memory_bound_time_s: f64,
    /// Model FLOPs / time_s, GFLOP/s.
    pub attainable_gflops: Option<f64>,
    /// Unbound symbols taken as 1.
    pub symbols_at_one: Vec<String>,
}

/// Classifies one node of `flops` FLOPs and `bytes` bytes.
pub fn classify(flops: f64, bytes: f64, d: &Device) -> NodeRoofline {
    let tc = flops / (d.peak_gflops * 1e9);
    let tm = bytes / (d.bandwidth_gbs * 1e9);
    let bound = if flops <= 0.0 && bytes <= 0.0 {
        Bound::None
    } else if tc >= tm {
        Bound::Compute
    } else {
        Bound::Memory
    };
    let time_s = tc.max(tm);
    NodeRoofline {
        bound,
        time_s,
        attainable_gflops: (time_s > 0.0).then(|| flops / time_s / 1e9 + 0.0),
    }
}

/// The roofline pass's table: a row per node (in the order given) and the model-level report.
#[derive(Clone, Debug)]
pub struct RooflineTable {
    pub nodes: Vec<NodeRoofline>,
    pub report: RooflineReport,
    /// Set when unbound symbols were taken as 1.
    pub warning: Option<String>,
}

/// Estimates every node from its FLOPs and memory access bytes, and the model from the sums;
/// `total_flops` is the model's FLOPs.
pub fn estimate<'a>(
    nodes: impl IntoIterator<Item = (&'a Count, &'a Count)>,
    total_flops: &Count,
    d: &Device,
) -> RooflineTable {
    let mut r = RooflineReport {
        device: d.name.clone(),
        source: d.source.clone(),
        peak_gflops: d.peak_gflops,
        bandwidth_gbs: d.bandwidth_gbs,
        ridge_flops_per_byte: d.ridge(),
        time_s: 0.0,
        compute_time_s: 0.0,
        memory_time_s: 0.0,
        compute_bound_nodes: 0,
        memory_bound_nodes: 0,
        memory_bound_time_s: 0.0,
        attainable_gflops: None,
        symbols_at_one: vec![],
    };
    let mut symbols = vec![];
    let mut rows = vec![];
    for (flops, bytes) in nodes {
        symbols.extend(flops.symbols());
        symbols.extend(bytes.symbols());
        let (f, b) = (flops.approx().max(0.0), bytes.approx().max(0.0));
        let nr = classify(f, b, d);
        r.time_s += nr.time_s;
        r.compute_time_s += f / (d.peak_gflops * 1e9);
        r.memory_time_s += b / (d.bandwidth_gbs * 1e9);
        match nr.bound {
            Bound::Compute => r.compute_bound_nodes += 1,
            Bound::Memory => {
                r.memory_bound_nodes += 1;
                r.memory_bound_time_s += nr.time_s;
            }
            Bound::None => {}
        }
        rows.push(nr);
    }
    symbols.sort();
    symbols.dedup();
    let total = total_flops.approx();
    r.attainable_gflops = (r.time_s > 0.0).then(|| total / r.time_s / 1e9);
    let warning = (!symbols.is_empty()).then(|| {
        format!(
            "roofline: unbound symbols {} taken as 1 (bind them with --dim)",
            symbols.join(", ")
        )
    });
    r.symbols_at_one = symbols;
    RooflineTable {
        nodes: rows,
        report: r,
        warning,
    }
}

/// Estimates the roofline of a profile and joins the table into it.
pub fn apply(p: &mut Profile, d: &Device) {
    let t = estimate(
        p.nodes.iter().map(|n| (&n.flops, &n.mem_access_bytes)),
        &p.totals.flops,
        d,
    );
    p.join_roofline(t);
}
