//! Regions: the ONNX nodes tract executed as one kernel, found from the per-node attribution
//! of [`super::exec`] and the ONNX graph's data edges; and the machine's attainable peak that
//! every measured rate is checked against.
//!
//! # The grouping rule
//!
//! An ONNX node is *executed* when a tract node carrying real work is attributed to it. It is
//! *absorbed* when no tract node is attributed to it (BatchNormalization folded into a conv, an
//! Add fused into a matrix product), or when it is a matrix product (Conv, MatMul, Gemm and
//! their quantized forms) whose only tract nodes prepare data (`OptMatMulPack`, `IntoShape`,
//! `Pad`, `LazyIm2col`, `Downsample`, axis ops): its kernel then runs under another node's
//! name (tract fuses Conv + BatchNormalization + Add + Relu into one `OptMatMul` named
//! `…/Relu.low.prefused`).
//!
//! An absorbed node joins the region of the first executed node reached by following the ONNX
//! graph's data edges forward from it (breadth first, consumers in topological order). A region
//! is one executed node and the absorbed nodes that reach it first; its time is the time of
//! every tract node attributed to its members, its FLOPs the sum of theirs.
//!
//! Limits: an absorbed node whose output feeds several executed consumers is attached to the
//! nearest (and, at equal distance, the first in topological order) only, though tract may
//! have recomputed or folded it into all of them; an absorbed node with no executed node
//! downstream (one whose result is only a graph output, a constant nobody reads) belongs to no
//! region and shows no time. Bytes of a region are the sum of its members' memory access, an
//! upper bound: intermediates inside a fused kernel never reach memory.

use crate::model::graph::Graph;

/// ONNX op types whose cost is a matrix product (the kernels tract fuses into).
pub fn is_matrix_op(op_type: &str) -> bool {
    matches!(
        op_type,
        "Conv"
            | "ConvTranspose"
            | "ConvInteger"
            | "QLinearConv"
            | "MatMul"
            | "MatMulInteger"
            | "QLinearMatMul"
            | "Gemm"
    )
}

/// tract ops that only prepare data for a matrix product (no arithmetic of the product).
pub fn is_prep_op(tract_op: &str) -> bool {
    matches!(
        tract_op,
        "OptMatMulPack"
            | "MatMulPack"
            | "IntoShape"
            | "Pad"
            | "LazyIm2col"
            | "Im2col"
            | "Downsample"
            | "Source"
    ) || tract_op.starts_with("AxisOp")
        || tract_op.starts_with("Reshape")
}

/// Whether an ONNX node of `op_type` with the tract ops `tract_ops` attributed to it was
/// absorbed into another node's kernel (see the module header).
pub fn absorbed(op_type: &str, tract_ops: &[&str]) -> bool {
    tract_ops.is_empty() || (is_matrix_op(op_type) && tract_ops.iter().all(|o| is_prep_op(o)))
}

/// For each node of `g` (by index): the executed node whose region it belongs to (itself when
/// executed), or `None` when no executed node is downstream of it.
pub fn owners(g: &Graph, is_absorbed: &[bool]) -> Vec<Option<usize>> {
    let n = g.nodes.len();
    let mut topo = vec![usize::MAX; n];
    for (pos, id) in g.order.iter().enumerate() {
        if *id < n {
            topo[*id] = pos;
        }
    }
    let consumers = |i: usize| -> Vec<usize> {
        let mut c: Vec<usize> = g.nodes[i]
            .outputs
            .iter()
            .flatten()
            .flat_map(|t| g.tensors[*t].consumers.iter().map(|(c, _)| *c))
            .filter(|&c| c < n)
            .collect();
        c.sort_by_key(|&c| (topo[c], c));
        c.dedup();
        c
    };
    (0..n)
        .map(|i| {
            if !is_absorbed.get(i).copied().unwrap_or(true) {
                return Some(i);
            }
            let mut seen = vec![false; n];
            seen[i] = true;
            let mut queue = std::collections::VecDeque::from(vec![i]);
            while let Some(x) = queue.pop_front() {
                for c in consumers(x) {
                    if std::mem::replace(&mut seen[c], true) {
                        continue;
                    }
                    if !is_absorbed.get(c).copied().unwrap_or(true) {
                        return Some(c);
                    }
                    queue.push_back(c);
                }
            }
            None
        })
        .collect()
}

/// The machine's attainable peak FP32 rate.
#[derive(Clone, Debug, PartialEq)]
pub struct Peak {
    pub gflops: f64,
    pub source: String,
}

/// FMA units per core assumed by the estimate: two (as on server x86 cores since Haswell and
/// on AVX-512 Xeons). Cores with one unit have half this peak: the estimate is an upper bound.
pub const FMA_UNITS: u32 = 2;

/// Estimates the peak from `/proc/cpuinfo` text and the maximum clock in kHz (from
/// `cpufreq/cpuinfo_max_freq`, when readable): logical CPUs × f32 lanes of the widest FMA the
/// flags report (avx512f: 16, avx2 + fma: 8, else 4) × 2 FLOPs per FMA × [`FMA_UNITS`] × clock
/// (the max frequency, else the highest `cpu MHz`).
pub fn estimate_peak(cpuinfo: &str, max_freq_khz: Option<f64>) -> Option<Peak> {
    let cpus = cpuinfo
        .lines()
        .filter(|l| l.split(':').next().is_some_and(|k| k.trim() == "processor"))
        .count();
    let flags: Vec<&str> = cpuinfo
        .lines()
        .find(|l| {
            let k = l.split(':').next().unwrap_or("").trim();
            k == "flags" || k == "Features"
        })
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.split_whitespace().collect())
        .unwrap_or_default();
    let has = |f: &str| flags.contains(&f);
    let (lanes, simd) = if has("avx512f") {
        (16, "avx512f")
    } else if has("avx2") && has("fma") {
        (8, "avx2+fma")
    } else {
        (4, "sse/neon")
    };
    let mhz_line = cpuinfo
        .lines()
        .filter(|l| l.split(':').next().is_some_and(|k| k.trim() == "cpu MHz"))
        .filter_map(|l| l.split_once(':')?.1.trim().parse::<f64>().ok())
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    let (ghz, clock) = match (max_freq_khz, mhz_line) {
        (Some(k), _) if k > 0.0 => (k / 1e6, "cpuinfo_max_freq"),
        (_, Some(m)) if m > 0.0 => (m / 1e3, "cpu MHz"),
        _ => return None,
    };
    if cpus == 0 {
        return None;
    }
    let gflops = cpus as f64 * lanes as f64 * 2.0 * FMA_UNITS as f64 * ghz;
    Some(Peak {
        gflops,
        source: format!(
            "estimated: {cpus} CPUs × {lanes} f32 lanes ({simd}) × 2 FLOPs/FMA × {FMA_UNITS} \
             FMA units (assumed) × {ghz:.2} GHz ({clock})"
        ),
    })
}

/// The peak of this machine, from `/proc/cpuinfo` and cpufreq; `None` where they are absent.
pub fn machine_peak() -> Option<Peak> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let khz = std::fs::read_to_string("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok());
    estimate_peak(&info, khz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_from_cpuinfo() {
        let two = "processor\t: 0\nflags\t\t: fpu sse avx2 fma avx512f\ncpu MHz\t\t: 2300.000\n\
                   processor\t: 1\nflags\t\t: fpu sse avx2 fma avx512f\ncpu MHz\t\t: 2300.000\n";
        // 2 CPUs × 16 lanes × 2 × 2 units × 2.3 GHz = 294.4
        let p = estimate_peak(two, None).unwrap();
        assert!((p.gflops - 294.4).abs() < 1e-9, "{p:?}");
        // the max frequency wins over cpu MHz: 2 × 16 × 2 × 2 × 3.5 = 448
        let p = estimate_peak(two, Some(3_500_000.0)).unwrap();
        assert!((p.gflops - 448.0).abs() < 1e-9, "{p:?}");
        let avx2 = "processor : 0\nflags : sse avx2 fma\ncpu MHz : 1000\n";
        // 1 × 8 × 2 × 2 × 1.0 = 32
        assert_eq!(estimate_peak(avx2, None).unwrap().gflops, 32.0);
        let plain = "processor : 0\nflags : sse avx2\ncpu MHz : 1000\n";
        // no fma: 1 × 4 × 2 × 2 × 1.0 = 16
        assert_eq!(estimate_peak(plain, None).unwrap().gflops, 16.0);
        assert_eq!(estimate_peak("processor : 0\n", None), None);
    }

    #[test]
    fn absorbed_rule() {
        assert!(absorbed("BatchNormalization", &[]));
        assert!(absorbed("Conv", &["IntoShape", "OptMatMulPack"]));
        // a strided 1×1 conv: subsampling and packing only, the product runs elsewhere
        assert!(absorbed(
            "Conv",
            &["Downsample", "IntoShape", "OptMatMulPack"]
        ));
        assert!(!absorbed(
            "Conv",
            &["Pad", "LazyIm2col", "OptMatMul", "IntoShape"]
        ));
        assert!(!absorbed("Relu", &["OptMatMul"]));
        // a Reshape that runs as IntoShape is its own (data movement) node
        assert!(!absorbed("Reshape", &["IntoShape"]));
    }
}
