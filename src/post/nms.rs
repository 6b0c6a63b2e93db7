//! Non-maximum suppression: box formats, IoU, greedy NMS with torchvision or ONNX
//! `NonMaxSuppression` semantics, the detector output layouts it reads, and the `nms` command.
//!
//! # Semantics
//!
//! Both semantics are greedy: candidates are visited best score first; a visited candidate that
//! no earlier *kept* box suppressed is kept, and it suppresses every later candidate whose IoU
//! with it is strictly greater than `iou_threshold`. A suppressed box suppresses nothing.
//!
//! * [`Semantics::Torchvision`] (default) is `torchvision.ops.nms` / `batched_nms` on
//!   boxes converted to `(x1, y1, x2, y2)` the way `torchvision.ops.box_convert` converts them.
//!   Coordinates are continuous (no "+1 pixel"); the sort is stable and descending, so equal
//!   scores keep the lower candidate first, and NaN scores sort *before* every number (as
//!   `torch.sort(descending=True)` puts them). IoU is computed in float32 exactly as the
//!   torchvision CPU kernel does and compared with the threshold in float64 (the kernel's
//!   `double`), so a threshold of `1/3` suppresses a pair whose float32 IoU is `0.33333334`.
//!   Output order: descending score across all classes.
//! * [`Semantics::Onnx`] is the ONNX `NonMaxSuppression` operator as onnxruntime computes it:
//!   with `center_point_box = 0` a box is two opposite corners in either order (the operator's
//!   `[y1, x1, y2, x2]`; IoU does not depend on which axis comes first, so pass it as
//!   [`BoxFormat::Xyxy`]), normalised with min/max; with `center_point_box = 1` it is
//!   [`BoxFormat::Cxcywh`]. Every (box, class) pair is a candidate; classes never suppress one
//!   another; the IoU threshold is compared in float32. Output order: by batch, then class,
//!   then selection order, like the operator's `[batch, class, box]` rows.
//!
//! # Score threshold
//!
//! A candidate needs `score > score_threshold` (strict): that is the ONNX operator's rule and
//! the one torchvision's detection models apply before calling `batched_nms`
//! (`scores > score_thresh`), in float32 in both. A NaN score never passes a threshold. Without
//! a threshold every candidate is visited, NaN first under torchvision semantics; under ONNX
//! semantics NaN scores are always dropped (onnxruntime's priority queue gives them no defined
//! place).
//!
//! # Degenerate boxes
//!
//! A box with zero or negative width or height (flipped corners under torchvision semantics),
//! or a non-finite coordinate, has IoU 0 with everything: it can be kept, but it never
//! suppresses and is never suppressed. The same holds for a zero union. This is what both
//! reference implementations decide for a threshold ≥ 0 (they compute 0 or NaN there, and NaN
//! never exceeds the threshold); a negative IoU threshold is rejected.
//!
//! # Speed
//!
//! Scores are sorted once (as 64-bit keys). Each class's candidates are then bucketed in a
//! uniform grid (cells about 1.5 times the mean box), each bucket in score order and stored
//! column-wise. A kept box meets only the entries of the cells it covers that rank after it,
//! eight at a time and without branches (SSE2 on x86_64): do they overlap, does the pair
//! belong to this cell (the cell of the two boxes' larger first column and larger first row,
//! so that each pair is examined once), and can their IoU exceed the threshold (a
//! conservative float32 bound)? The few survivors get the exact IoU. Suppressed boxes leave
//! the grid, and a cell is compacted once they crowd it. Areas are computed once per box.

use std::fmt::Write as _;
use std::path::PathBuf;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayView3, ArrayViewD, Axis, Ix2, Ix3};
use serde::Serialize;

use super::npyio::{self, file_label};
use super::{OutputFormat, PostError};

/// How the four numbers of a box are to be read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BoxFormat {
    /// Two corners: `(x1, y1, x2, y2)`.
    #[default]
    Xyxy,
    /// Top-left corner, width and height: `(x, y, w, h)`.
    Xywh,
    /// Centre, width and height: `(cx, cy, w, h)`.
    Cxcywh,
}

/// Whose NMS to reproduce; see the module documentation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Semantics {
    #[default]
    Torchvision,
    Onnx,
}

/// How detector outputs are laid out. `B` is the batch (optional: a missing batch axis means
/// `B = 1`), `N` or `A` the boxes (anchors), `C` the classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Boxes `[B,N,4]`, one score per box `[B,N]`, optional class ids `[B,N]`.
    Flat,
    /// Boxes `[B,N,4]`, scores `[B,N,C]`.
    Bnc,
    /// Boxes `[B,N,4]`, scores `[B,C,N]` (the ONNX operator's layout).
    Bcn,
    /// One tensor `[B,4+C,A]`: box then class scores down axis 1 (YOLOv8 and later).
    #[value(alias = "yolo")]
    Yolov8,
    /// One tensor `[B,A,5+C]`: box, objectness, class scores; score = objectness × class score
    /// (YOLOv5).
    #[value(alias = "yolo-obj")]
    Yolov5,
}

/// Options of [`nms`] and [`detect`].
#[derive(Clone, Debug, PartialEq)]
pub struct NmsOptions {
    /// Suppress when IoU is strictly greater than this. Must be ≥ 0 (and ≤ 1 for ONNX semantics).
    pub iou_threshold: f64,
    /// Keep only candidates whose score is strictly greater than this.
    pub score_threshold: Option<f32>,
    pub box_format: BoxFormat,
    /// Let boxes of different classes suppress one another (torchvision semantics only).
    pub class_agnostic: bool,
    /// At most this many boxes per class and batch item, best first.
    pub max_per_class: Option<usize>,
    /// At most this many boxes per batch item, best scores first.
    pub max_detections: Option<usize>,
    pub semantics: Semantics,
    /// With per-class scores: every (box, class) pair above the threshold is a candidate, so a
    /// box may be kept for several classes. Otherwise (the default) each box is one candidate
    /// with its best class (first on ties, NaN wins like `torch.max`). ONNX semantics always
    /// use every pair, as the operator does.
    pub multi_label: bool,
}

impl Default for NmsOptions {
    fn default() -> Self {
        NmsOptions {
            iou_threshold: 0.5,
            score_threshold: None,
            box_format: BoxFormat::Xyxy,
            class_agnostic: false,
            max_per_class: None,
            max_detections: None,
            semantics: Semantics::Torchvision,
            multi_label: false,
        }
    }
}

/// One kept box.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Detection {
    /// Batch item; present only when the batch has more than one item.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<usize>,
    /// The box's (anchor's) index in its batch item.
    pub index: usize,
    /// The four numbers of the box as they were given, in the input's box format.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// The score the box was ranked by (NaN prints as `null` in JSON).
    pub score: f32,
    pub class: i64,
}

/// The result of [`detect`]: kept box indices and the detections, in output order.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Detections {
    pub keep: Vec<usize>,
    pub detections: Vec<Detection>,
    /// Candidates visited (after the score threshold), summed over the batch.
    #[serde(skip)]
    pub candidates: usize,
    /// Batch size of the input.
    #[serde(skip)]
    pub batch_size: usize,
}

// ---------------------------------------------------------------------------------------------
// Boxes and IoU

/// Converts a box to `(x1, y1, x2, y2)` the way `torchvision.ops.box_convert` does.
#[inline]
fn to_xyxy(b: [f32; 4], fmt: BoxFormat) -> [f32; 4] {
    match fmt {
        BoxFormat::Xyxy => b,
        BoxFormat::Xywh => [b[0], b[1], b[0] + b[2], b[1] + b[3]],
        BoxFormat::Cxcywh => {
            let (hw, hh) = (0.5 * b[2], 0.5 * b[3]);
            [b[0] - hw, b[1] - hh, b[0] + hw, b[1] + hh]
        }
    }
}

/// The corners NMS works on under `semantics`.
#[inline]
fn corners(b: [f32; 4], fmt: BoxFormat, semantics: Semantics) -> [f32; 4] {
    let c = to_xyxy(b, fmt);
    match (semantics, fmt) {
        // The operator normalises corner boxes (not centre boxes) with min/max.
        (Semantics::Onnx, BoxFormat::Xyxy | BoxFormat::Xywh) => [
            c[0].min(c[2]),
            c[1].min(c[3]),
            c[0].max(c[2]),
            c[1].max(c[3]),
        ],
        _ => c,
    }
}

/// A box as NMS sees it: corners and area. Boxes that cannot overlap anything (degenerate or
/// non-finite) are stored as the empty box `[+inf, +inf, -inf, -inf]`, which makes every
/// overlap test fail without a separate flag.
#[derive(Clone, Copy, Debug)]
struct Geo {
    x1: f32,
    y1: f32,
    x2: f32,
    y2: f32,
    area: f32,
}

const EMPTY: Geo = Geo {
    x1: f32::INFINITY,
    y1: f32::INFINITY,
    x2: f32::NEG_INFINITY,
    y2: f32::NEG_INFINITY,
    area: 0.0,
};

impl Geo {
    #[inline]
    fn new(c: [f32; 4]) -> Geo {
        let live = c.iter().all(|v| v.is_finite()) && c[2] > c[0] && c[3] > c[1];
        if live {
            Geo {
                x1: c[0],
                y1: c[1],
                x2: c[2],
                y2: c[3],
                area: (c[2] - c[0]) * (c[3] - c[1]),
            }
        } else {
            EMPTY
        }
    }

    #[inline]
    fn live(&self) -> bool {
        self.x2 > self.x1
    }
}

/// IoU of two boxes that overlap with positive width and height, else `None`. The arithmetic
/// is torchvision's CPU kernel (`inter / (area_kept + area_other - inter)` in float32), which
/// onnxruntime shares for such boxes.
#[inline(always)]
fn overlap_iou(a: &Geo, b: &Geo) -> Option<f32> {
    let w = a.x2.min(b.x2) - a.x1.max(b.x1);
    if w <= 0.0 {
        return None;
    }
    let h = a.y2.min(b.y2) - a.y1.max(b.y1);
    if h <= 0.0 {
        return None;
    }
    let inter = w * h;
    if inter <= 0.0 {
        return None; // underflow
    }
    Some(inter / (a.area + b.area - inter))
}

/// Intersection over union of two boxes in format `fmt`, with continuous coordinates (no
/// "+1"). Degenerate boxes (zero or negative width or height, non-finite coordinates) and
/// disjoint boxes give 0, never NaN.
pub fn iou(a: [f32; 4], b: [f32; 4], fmt: BoxFormat) -> f32 {
    let (ga, gb) = (Geo::new(to_xyxy(a, fmt)), Geo::new(to_xyxy(b, fmt)));
    match overlap_iou(&ga, &gb) {
        Some(v) if v.is_finite() => v,
        _ => 0.0,
    }
}

// ---------------------------------------------------------------------------------------------
// The greedy core

/// A sort key for scores: ascending keys put NaN first (as `torch.sort(descending=True)`
/// does), then scores in descending order, with -0.0 equal to 0.0.
#[inline]
fn desc_key(s: f32) -> u32 {
    if s.is_nan() {
        return 0;
    }
    let b = (s + 0.0).to_bits(); // -0.0 + 0.0 = 0.0
    let ascending = if b >> 31 == 1 { !b } else { b | 0x8000_0000 };
    u32::MAX - ascending // ≥ 0x007F_FFFF (that of +inf): never 0
}

/// Positions `0..scores.len()` sorted best first; ties keep the lower position first.
fn rank_order(scores: &[f32]) -> Vec<u32> {
    let mut keys: Vec<u64> = scores
        .iter()
        .enumerate()
        .map(|(i, &s)| (u64::from(desc_key(s)) << 32) | i as u64)
        .collect();
    keys.sort_unstable();
    keys.into_iter().map(|k| k as u32).collect()
}

/// The float32 threshold `t` such that, for every float32 IoU `q`, `q > t` is the decision
/// of `semantics`: torchvision compares `(double) q > iou_threshold`, which for a float32 `q`
/// is `q >` the largest float32 not above the threshold; onnxruntime compares in float32
/// after rounding the threshold to nearest.
fn f32_threshold(iou_threshold: f64, semantics: Semantics) -> f32 {
    let t = iou_threshold as f32;
    match semantics {
        Semantics::Torchvision if f64::from(t) > iou_threshold => t.next_down(),
        _ => t,
    }
}

/// Groups with fewer candidates than this are compared pairwise; building a grid costs more.
const DIRECT_MAX: usize = 64;

/// Greedy NMS over `boxes`, which are in rank order (best first). Returns the positions kept,
/// in rank order, stopping after `limit`. A box suppresses a later one when their IoU,
/// computed as torchvision's kernel does, is greater than `t`.
fn greedy(boxes: &[Geo], limit: usize, t: f32) -> Vec<u32> {
    if limit == 0 || boxes.is_empty() {
        return Vec::new();
    }
    if boxes.len() <= DIRECT_MAX {
        greedy_direct(boxes, limit, t)
    } else {
        greedy_grid(boxes, limit, t)
    }
}

fn greedy_direct(boxes: &[Geo], limit: usize, t: f32) -> Vec<u32> {
    let mut suppressed = vec![false; boxes.len()];
    let mut keep = Vec::new();
    for r in 0..boxes.len() {
        if suppressed[r] {
            continue;
        }
        keep.push(r as u32);
        if keep.len() == limit {
            break;
        }
        let a = &boxes[r];
        if !a.live() {
            continue;
        }
        for (j, b) in boxes.iter().enumerate().skip(r + 1) {
            if !suppressed[j] && overlap_iou(a, b).is_some_and(|v| v > t) {
                suppressed[j] = true;
            }
        }
    }
    keep
}

/// Lanes of the branch-free pair test.
const LANES: usize = 8;

/// A uniform grid over the live boxes. Cell `(cx, cy)` lists, in rank order, every live box
/// whose closed extent meets the cell, stored as columns (struct of arrays) so that pairs are
/// tested [`LANES`] at a time without branches. Cell coordinates are monotone functions of box
/// coordinates, so two overlapping boxes share every cell that holds a point of their
/// overlap, in particular the cell `(max(cx1_a, cx1_b), max(cy1_a, cy1_b))` made of the larger
/// of their first columns and rows: the pair is tested there only.
struct Grid {
    ox: f64,
    oy: f64,
    sx: f64,
    sy: f64,
    nx: usize,
    ny: usize,
    /// Cell `c` holds entries `start[c]..start[c + 1]`.
    start: Vec<u32>,
    x1: Vec<f32>,
    y1: Vec<f32>,
    x2: Vec<f32>,
    y2: Vec<f32>,
    area: Vec<f32>,
    /// First column and row of the entry's box.
    cx1: Vec<u32>,
    cy1: Vec<u32>,
    rank: Vec<u32>,
}

impl Grid {
    #[inline(always)]
    fn col(&self, x: f32) -> usize {
        cell_index(x, self.ox, self.sx, self.nx)
    }

    #[inline(always)]
    fn row(&self, y: f32) -> usize {
        cell_index(y, self.oy, self.sy, self.ny)
    }

    /// Makes box `r` (cell span `sp`) invisible to later tests. In each cell the box is among
    /// the entries from `head[c]` on, which are in rank order.
    fn remove(&mut self, r: u32, sp: [u32; 4], head: &[u32], dead: &mut [u32]) {
        for cy in sp[2] as usize..=sp[3] as usize {
            for cx in sp[0] as usize..=sp[1] as usize {
                let c = cy * self.nx + cx;
                let (lo, hi) = (head[c] as usize, self.start[c + 1] as usize);
                let e = lo + self.rank[lo..hi].partition_point(|&k| k < r);
                debug_assert_eq!(self.rank[e], r);
                self.x2[e] = f32::NEG_INFINITY;
                dead[c] += 1;
            }
        }
    }

    /// Packs the live entries of `lo..hi` (one cell's unvisited part) against `hi`, keeping
    /// their order, and returns where they now start.
    fn compact(&mut self, lo: usize, hi: usize) -> usize {
        let mut w = hi;
        for k in (lo..hi).rev() {
            if self.x2[k] != f32::NEG_INFINITY {
                w -= 1;
                if w != k {
                    self.x1[w] = self.x1[k];
                    self.y1[w] = self.y1[k];
                    self.x2[w] = self.x2[k];
                    self.y2[w] = self.y2[k];
                    self.area[w] = self.area[k];
                    self.cx1[w] = self.cx1[k];
                    self.cy1[w] = self.cy1[k];
                    self.rank[w] = self.rank[k];
                }
            }
        }
        w
    }
}

/// `floor((v − origin)·scale)` clamped to `0..n`. Every coordinate passed here is ≥ `origin`
/// (the grid starts at the smallest live coordinate), so the saturating cast is the floor.
#[inline(always)]
fn cell_index(v: f32, origin: f64, scale: f64, n: usize) -> usize {
    (((f64::from(v) - origin) * scale) as usize).min(n - 1)
}

/// Cell span `[cx1, cx2, cy1, cy2]` of each box (`[1, 0, 1, 0]`, empty, for dead boxes), and
/// the number of registrations.
fn spans(boxes: &[Geo], g: &Grid) -> (Vec<[u32; 4]>, usize) {
    let mut total = 0usize;
    let spans = boxes
        .iter()
        .map(|b| {
            if !b.live() {
                return [1, 0, 1, 0];
            }
            let s = [g.col(b.x1), g.col(b.x2), g.row(b.y1), g.row(b.y2)];
            total += (s[1] - s[0] + 1) * (s[3] - s[2] + 1);
            s.map(|v| v as u32)
        })
        .collect();
    (spans, total)
}

fn build_grid(boxes: &[Geo]) -> (Grid, Vec<[u32; 4]>) {
    let (mut minx, mut miny, mut maxx, mut maxy) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    let (mut sw, mut sh, mut n) = (0.0f64, 0.0f64, 0usize);
    for b in boxes.iter().filter(|b| b.live()) {
        minx = minx.min(b.x1.into());
        miny = miny.min(b.y1.into());
        maxx = maxx.max(b.x2.into());
        maxy = maxy.max(b.y2.into());
        sw += f64::from(b.x2) - f64::from(b.x1);
        sh += f64::from(b.y2) - f64::from(b.y1);
        n += 1;
    }
    let mut grid = Grid {
        ox: if n > 0 { minx } else { 0.0 },
        oy: if n > 0 { miny } else { 0.0 },
        sx: 0.0,
        sy: 0.0,
        nx: 1,
        ny: 1,
        start: Vec::new(),
        x1: Vec::new(),
        y1: Vec::new(),
        x2: Vec::new(),
        y2: Vec::new(),
        area: Vec::new(),
        cx1: Vec::new(),
        cy1: Vec::new(),
        rank: Vec::new(),
    };
    let (ex, ey) = (maxx - minx, maxy - miny);
    // Cells 1.5 times the mean box (measured a little faster than 1 or 2 times).
    let dim = |extent: f64, total: f64| -> usize {
        let v = extent * n as f64 / (1.5 * total);
        if v.is_finite() {
            (v.ceil() as usize).clamp(1, 1 << 15)
        } else {
            1 << 15
        }
    };
    let (mut nx, mut ny) = if n > 0 {
        (dim(ex, sw), dim(ey, sh))
    } else {
        (1, 1)
    };
    // Not many more cells than boxes.
    while nx * ny > 2 * n + 16 {
        if nx >= ny {
            nx = nx.div_ceil(2);
        } else {
            ny = ny.div_ceil(2);
        }
    }
    loop {
        grid.nx = nx;
        grid.ny = ny;
        grid.sx = if ex > 0.0 { nx as f64 / ex } else { 0.0 };
        grid.sy = if ey > 0.0 { ny as f64 / ey } else { 0.0 };
        let (s, total) = spans(boxes, &grid);
        // A few huge boxes may span many cells; coarsen until registrations stay linear.
        if total > 8 * n + 64 && (nx > 1 || ny > 1) {
            nx = nx.div_ceil(2);
            ny = ny.div_ceil(2);
            continue;
        }
        let cells = nx * ny;
        let mut start = vec![0u32; cells + 1];
        for sp in s.iter().filter(|sp| sp[0] <= sp[1]) {
            for cy in sp[2]..=sp[3] {
                for cx in sp[0]..=sp[1] {
                    start[cy as usize * nx + cx as usize + 1] += 1;
                }
            }
        }
        for i in 0..cells {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        // Padding lets the last cell be read a whole chunk of lanes at a time.
        let len = total + LANES;
        grid.x1 = vec![EMPTY.x1; len];
        grid.y1 = vec![EMPTY.y1; len];
        grid.x2 = vec![EMPTY.x2; len];
        grid.y2 = vec![EMPTY.y2; len];
        grid.area = vec![EMPTY.area; len];
        grid.cx1 = vec![0; len];
        grid.cy1 = vec![0; len];
        grid.rank = vec![u32::MAX; len];
        for (r, sp) in s.iter().enumerate().filter(|(_, sp)| sp[0] <= sp[1]) {
            let b = &boxes[r];
            for cy in sp[2]..=sp[3] {
                for cx in sp[0]..=sp[1] {
                    let c = cy as usize * nx + cx as usize;
                    let e = fill[c] as usize;
                    grid.x1[e] = b.x1;
                    grid.y1[e] = b.y1;
                    grid.x2[e] = b.x2;
                    grid.y2[e] = b.y2;
                    grid.area[e] = b.area;
                    grid.cx1[e] = sp[0];
                    grid.cy1[e] = sp[2];
                    grid.rank[e] = r as u32;
                    fill[c] += 1;
                }
            }
        }
        grid.start = start;
        return (grid, s);
    }
}

/// Below this, `union · t_lo` is treated as possibly inexact and the pair is decided exactly.
const TINY: f32 = 1e-30;

/// Which of the [`LANES`] grid entries from `e` on (bit `k` for entry `e + k`) the kept box
/// `a` may suppress in cell `cell`: they overlap with positive width and height, the pair
/// belongs to this cell (the entry's first column is the cell's unless the cell is in `a`'s
/// first column, `any.0`; likewise for rows), and `inter > union · t_lo`. With
/// `t_lo = t·(1 − 2⁻²⁰)` that last test keeps every pair whose float32 IoU exceeds `t`
/// (float32 rounding moves each side by less than 2⁻²³ relative, unless `union · t_lo` is
/// tiny, in which case the pair is kept too); the caller then decides exactly. Branch-free
/// SSE2 on x86_64; elsewhere the exact decision itself.
#[inline(always)]
fn candidate_mask(
    a: &Geo,
    g: &Grid,
    e: usize,
    cell: (u32, u32),
    any: (bool, bool),
    t: f32,
    t_lo: f32,
) -> u32 {
    let end = e + LANES;
    let (x1, y1, x2, y2) = (&g.x1[e..end], &g.y1[e..end], &g.x2[e..end], &g.y2[e..end]);
    let (area, cx1, cy1) = (&g.area[e..end], &g.cx1[e..end], &g.cy1[e..end]);
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        let _ = t;
        // SAFETY: SSE2 is part of the x86_64 baseline; every load reads 4 lanes at offset 0
        // or 4 of slices that hold LANES = 8 elements.
        unsafe {
            let (ax1, ay1) = (_mm_set1_ps(a.x1), _mm_set1_ps(a.y1));
            let (ax2, ay2) = (_mm_set1_ps(a.x2), _mm_set1_ps(a.y2));
            let (aarea, lo, zero) = (_mm_set1_ps(a.area), _mm_set1_ps(t_lo), _mm_setzero_ps());
            let tiny = _mm_set1_ps(TINY);
            let all = _mm_set1_epi32(-1);
            let (ccx, ccy) = (_mm_set1_epi32(cell.0 as i32), _mm_set1_epi32(cell.1 as i32));
            let mut bits = 0u32;
            for o in (0..LANES).step_by(4) {
                let w = _mm_sub_ps(
                    _mm_min_ps(ax2, _mm_loadu_ps(x2[o..].as_ptr())),
                    _mm_max_ps(ax1, _mm_loadu_ps(x1[o..].as_ptr())),
                );
                let h = _mm_sub_ps(
                    _mm_min_ps(ay2, _mm_loadu_ps(y2[o..].as_ptr())),
                    _mm_max_ps(ay1, _mm_loadu_ps(y1[o..].as_ptr())),
                );
                let inter = _mm_mul_ps(w, h);
                let union = _mm_sub_ps(_mm_add_ps(aarea, _mm_loadu_ps(area[o..].as_ptr())), inter);
                let p = _mm_mul_ps(union, lo);
                let maybe = _mm_or_ps(_mm_cmpgt_ps(inter, p), _mm_cmplt_ps(p, tiny));
                let pos = _mm_and_ps(_mm_cmpgt_ps(w, zero), _mm_cmpgt_ps(h, zero));
                let mut m = _mm_and_ps(pos, maybe);
                if !(any.0 && any.1) {
                    let hx = if any.0 {
                        all
                    } else {
                        _mm_cmpeq_epi32(_mm_loadu_si128(cx1[o..].as_ptr().cast()), ccx)
                    };
                    let hy = if any.1 {
                        all
                    } else {
                        _mm_cmpeq_epi32(_mm_loadu_si128(cy1[o..].as_ptr().cast()), ccy)
                    };
                    m = _mm_and_ps(m, _mm_castsi128_ps(_mm_and_si128(hx, hy)));
                }
                bits |= (_mm_movemask_ps(m) as u32) << o;
            }
            bits
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = t_lo;
        let mut bits = 0u32;
        for k in 0..LANES {
            let r = if a.x2 < x2[k] { a.x2 } else { x2[k] };
            let l = if a.x1 > x1[k] { a.x1 } else { x1[k] };
            let b = if a.y2 < y2[k] { a.y2 } else { y2[k] };
            let u = if a.y1 > y1[k] { a.y1 } else { y1[k] };
            let (w, h) = (r - l, b - u);
            let inter = w * h;
            let over = inter / (a.area + area[k] - inter) > t;
            let here = (any.0 | (cx1[k] == cell.0)) & (any.1 | (cy1[k] == cell.1));
            bits |= u32::from((w > 0.0) & (h > 0.0) & (inter > 0.0) & over & here) << k;
        }
        bits
    }
}

fn greedy_grid(boxes: &[Geo], limit: usize, t: f32) -> Vec<u32> {
    let t_lo = t * (1.0 - 1.0 / 1_048_576.0);
    let (mut grid, spans) = build_grid(boxes);
    // Entries before head[c] in cell c have ranks already visited; dead[c] counts the
    // suppressed entries (an overestimate once the head has passed some of them).
    let mut head: Vec<u32> = grid.start[..grid.start.len() - 1].to_vec();
    let mut dead = vec![0u32; head.len()];
    let mut suppressed = vec![false; boxes.len()];
    let mut keep = Vec::new();
    let mut victims = Vec::new();
    for r in 0..boxes.len() {
        if suppressed[r] {
            continue;
        }
        keep.push(r as u32);
        if keep.len() == limit {
            break;
        }
        let sp = spans[r];
        if sp[0] > sp[1] {
            continue; // not live: suppresses nothing
        }
        let a = boxes[r];
        let rank = r as u32;
        for cy in sp[2]..=sp[3] {
            for cx in sp[0]..=sp[1] {
                let c = cy as usize * grid.nx + cx as usize;
                let hi = grid.start[c + 1] as usize;
                let mut e = head[c] as usize;
                while e < hi && grid.rank[e] <= rank {
                    e += 1;
                }
                if dead[c] as usize * 2 >= hi - e && dead[c] > 0 {
                    e = grid.compact(e, hi);
                    dead[c] = 0;
                }
                head[c] = e as u32;
                let any = (cx == sp[0], cy == sp[2]);
                while e < hi {
                    let mut bits = candidate_mask(&a, &grid, e, (cx, cy), any, t, t_lo);
                    if hi - e < LANES {
                        bits &= (1u32 << (hi - e)) - 1;
                    }
                    while bits != 0 {
                        let j = grid.rank[e + bits.trailing_zeros() as usize];
                        bits &= bits - 1;
                        if overlap_iou(&a, &boxes[j as usize]).is_some_and(|v| v > t) {
                            suppressed[j as usize] = true;
                            victims.push(j);
                        }
                    }
                    e += LANES;
                }
            }
        }
        // Suppressed boxes leave the grid (after the sweep, so that no entry moves meanwhile).
        for v in victims.drain(..) {
            grid.remove(v, spans[v as usize], &head, &mut dead);
        }
    }
    keep
}

// ---------------------------------------------------------------------------------------------
// Candidates, classes and output order

/// One candidate of one batch item: a box, a class and the score it is ranked by.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    index: u32,
    class: i64,
    score: f32,
}

fn validate(opts: &NmsOptions) -> Result<(), PostError> {
    let t = opts.iou_threshold;
    if t.is_nan() || t < 0.0 {
        return Err(PostError::Option(format!(
            "iou threshold must be >= 0, got {t}"
        )));
    }
    if let Some(s) = opts.score_threshold {
        if s.is_nan() {
            return Err(PostError::Option("score threshold is NaN".into()));
        }
    }
    if opts.semantics == Semantics::Onnx {
        if t > 1.0 {
            return Err(PostError::Option(format!(
                "iou threshold must be in [0, 1] under onnx semantics, got {t}"
            )));
        }
        if opts.class_agnostic {
            return Err(PostError::Option(
                "onnx semantics are per class (the NonMaxSuppression operator has no class-agnostic mode)"
                    .into(),
            ));
        }
    }
    Ok(())
}

/// Whether a score is a candidate.
#[inline]
fn passes(score: f32, opts: &NmsOptions) -> bool {
    match opts.score_threshold {
        Some(t) => score > t,
        None => !(opts.semantics == Semantics::Onnx && score.is_nan()),
    }
}

/// Runs NMS on the candidates of one batch item; `geo[i]` is box `i`. Returns positions into
/// `cands`, in output order.
#[inline(never)]
fn run_candidates(geo: &[Geo], cands: &[Candidate], opts: &NmsOptions) -> Vec<usize> {
    let scores: Vec<f32> = cands.iter().map(|c| c.score).collect();
    let order = rank_order(&scores);
    let per_class_limit = opts.max_per_class.unwrap_or(usize::MAX);
    let t = f32_threshold(opts.iou_threshold, opts.semantics);

    // Candidate ranks of each group, in rank order.
    let groups: Vec<(i64, Vec<u32>)> = if opts.class_agnostic {
        vec![(0, (0..order.len() as u32).collect())]
    } else {
        let mut by_class: Vec<(i64, u32)> = order
            .iter()
            .enumerate()
            .map(|(r, &p)| (cands[p as usize].class, r as u32))
            .collect();
        if by_class.windows(2).any(|w| w[0].0 != w[1].0) {
            by_class.sort_unstable(); // by class, then rank
        }
        let mut groups: Vec<(i64, Vec<u32>)> = Vec::new();
        for (c, r) in by_class {
            match groups.last_mut() {
                Some((gc, v)) if *gc == c => v.push(r),
                _ => groups.push((c, vec![r])),
            }
        }
        groups
    };

    let mut kept_per_group: Vec<Vec<u32>> = Vec::with_capacity(groups.len());
    for (_, ranks) in &groups {
        let boxes: Vec<Geo> = ranks
            .iter()
            .map(|&r| geo[cands[order[r as usize] as usize].index as usize])
            .collect();
        let limit = if opts.class_agnostic {
            usize::MAX
        } else {
            per_class_limit
        };
        let kept = greedy(&boxes, limit, t);
        kept_per_group.push(kept.into_iter().map(|k| ranks[k as usize]).collect());
    }

    let mut ranks: Vec<u32> = match opts.semantics {
        // Class after class (ascending), each in selection order.
        Semantics::Onnx => kept_per_group.into_iter().flatten().collect(),
        Semantics::Torchvision => {
            let mut all: Vec<u32> = kept_per_group.into_iter().flatten().collect();
            all.sort_unstable();
            if opts.class_agnostic && opts.max_per_class.is_some() {
                let mut seen: std::collections::HashMap<i64, usize> = Default::default();
                all.retain(|&r| {
                    let n = seen
                        .entry(cands[order[r as usize] as usize].class)
                        .or_default();
                    *n += 1;
                    *n <= per_class_limit
                });
            }
            all
        }
    };
    if let Some(m) = opts.max_detections {
        if m == 0 {
            ranks.clear();
        } else if ranks.len() > m {
            // Keep the best `m` by rank, in output order.
            let mut best = ranks.clone();
            let (_, &mut cut, _) = best.select_nth_unstable(m - 1);
            ranks.retain(|&r| r <= cut);
        }
    }
    ranks
        .into_iter()
        .map(|r| order[r as usize] as usize)
        .collect()
}

/// NMS on one set of boxes: `boxes` `[N,4]` in `opts.box_format`, `scores` `[N]`, optional
/// class ids `[N]` (without them every box is class 0). Returns the kept box indices in output
/// order (see the module documentation).
pub fn nms(
    boxes: ArrayView2<f32>,
    scores: ArrayView1<f32>,
    classes: Option<ArrayView1<i64>>,
    opts: &NmsOptions,
) -> Result<Vec<usize>, PostError> {
    let det = detect(
        boxes.into_dyn(),
        Some(scores.into_dyn()),
        classes.map(|c| c.into_dyn()),
        Some(Layout::Flat),
        opts,
    )?;
    Ok(det.keep)
}

// ---------------------------------------------------------------------------------------------
// Layouts

/// What each input is called in messages.
struct Names<'a> {
    boxes: &'a str,
    scores: &'a str,
    classes: &'a str,
}

const LIB_NAMES: Names<'static> = Names {
    boxes: "boxes",
    scores: "scores",
    classes: "classes",
};

fn shape_err(what: &str, expected: &str, got: &[usize]) -> PostError {
    PostError::Shape {
        what: what.to_string(),
        expected: expected.to_string(),
        got: got.to_vec(),
    }
}

/// Adds a batch axis of 1 when `a` has `rank - 1` axes.
fn batched<'a, T>(a: ArrayViewD<'a, T>, rank: usize) -> Option<ArrayViewD<'a, T>> {
    if a.ndim() + 1 == rank {
        Some(a.insert_axis(Axis(0)))
    } else if a.ndim() == rank {
        Some(a)
    } else {
        None
    }
}

fn resolve_layout(
    boxes: &[usize],
    scores: Option<&[usize]>,
    names: &Names,
) -> Result<Layout, PostError> {
    let Some(s) = scores else {
        return Err(PostError::Option(format!(
            "{} alone needs a layout: yolov8 ([B,4+C,A]) or yolov5 ([B,A,5+C]); otherwise give scores",
            names.boxes
        )));
    };
    let b: Vec<usize> = if boxes.len() == 2 {
        [&[1], boxes].concat()
    } else {
        boxes.to_vec()
    };
    if b.len() != 3 || b[2] != 4 {
        return Err(shape_err(names.boxes, "[N,4] or [B,N,4]", boxes));
    }
    let n = b[1];
    if s.len() + 1 == boxes.len() {
        return Ok(Layout::Flat);
    }
    if s.len() != boxes.len() {
        return Err(shape_err(
            names.scores,
            &format!("[N], [N,C] or [C,N] with N = {n} (batched: [B,N], [B,N,C] or [B,C,N])"),
            s,
        ));
    }
    let (d1, d2) = (s[s.len() - 2], s[s.len() - 1]);
    match (d1 == n, d2 == n) {
        (true, false) => Ok(Layout::Bnc),
        (false, true) => Ok(Layout::Bcn),
        (true, true) if n == 1 => Ok(Layout::Bnc),
        (true, true) => Err(PostError::Option(format!(
            "{} {s:?} could be [B,N,C] or [B,C,N] (N = C = {n}): give the layout (bnc or bcn)",
            names.scores
        ))),
        (false, false) => Err(shape_err(
            names.scores,
            &format!("[B,N,C] or [B,C,N] with N = {n} boxes"),
            s,
        )),
    }
}

/// Per-class scores of box `i` of a batch item, whatever the layout.
enum ClassScores<'a> {
    /// `[N,C]`, `[C,N]` or `[4+C,A]` viewed as `[C,N]`.
    Matrix(ArrayView2<'a, f32>, bool),
    /// `[A,5+C]`: objectness column and class columns.
    Objectness(ArrayView2<'a, f32>),
}

impl ClassScores<'_> {
    fn classes(&self) -> usize {
        match self {
            ClassScores::Matrix(m, box_major) => m.shape()[if *box_major { 1 } else { 0 }],
            ClassScores::Objectness(m) => m.shape()[1] - 5,
        }
    }

    #[inline]
    fn get(&self, i: usize, c: usize) -> f32 {
        match self {
            ClassScores::Matrix(m, true) => m[[i, c]],
            ClassScores::Matrix(m, false) => m[[c, i]],
            ClassScores::Objectness(m) => m[[i, 5 + c]] * m[[i, 4]],
        }
    }
}

/// Best class of a box: the first maximum, a NaN wins (like `torch.max` over classes).
fn argmax_class(cs: &ClassScores, i: usize) -> (usize, f32) {
    let (mut best_c, mut best) = (0, cs.get(i, 0));
    if best.is_nan() {
        return (0, best);
    }
    for c in 1..cs.classes() {
        let v = cs.get(i, c);
        if v.is_nan() {
            return (c, v);
        }
        if v > best {
            best = v;
            best_c = c;
        }
    }
    (best_c, best)
}

/// Layout-aware NMS on a detector's raw outputs.
///
/// * `boxes`: `[B,N,4]` (or `[N,4]`), or the single output tensor of the yolov8/yolov5 layouts.
/// * `scores`: per the layout; `None` for the single-tensor layouts.
/// * `classes`: class ids for [`Layout::Flat`] only.
/// * `layout`: `None` to infer it from the shapes (possible when scores are given and the
///   box and class counts differ).
pub fn detect(
    boxes: ArrayViewD<f32>,
    scores: Option<ArrayViewD<f32>>,
    classes: Option<ArrayViewD<i64>>,
    layout: Option<Layout>,
    opts: &NmsOptions,
) -> Result<Detections, PostError> {
    detect_named(boxes, scores, classes, layout, opts, &LIB_NAMES)
}

fn detect_named(
    boxes: ArrayViewD<f32>,
    scores: Option<ArrayViewD<f32>>,
    classes: Option<ArrayViewD<i64>>,
    layout: Option<Layout>,
    opts: &NmsOptions,
    names: &Names,
) -> Result<Detections, PostError> {
    validate(opts)?;
    let layout = match layout {
        Some(l) => l,
        None => resolve_layout(boxes.shape(), scores.as_ref().map(|s| s.shape()), names)?,
    };
    if classes.is_some() && layout != Layout::Flat {
        return Err(PostError::Option(format!(
            "{} are only read with the flat layout; layout {layout:?} takes classes from the scores",
            names.classes
        )));
    }
    let single = matches!(layout, Layout::Yolov8 | Layout::Yolov5);
    if single && scores.is_some() {
        return Err(PostError::Option(format!(
            "layout {layout:?} reads boxes and scores from one tensor ({}); drop {}",
            names.boxes, names.scores
        )));
    }
    if !single && scores.is_none() {
        return Err(PostError::Option(format!(
            "layout {layout:?} needs {}",
            names.scores
        )));
    }

    // Views: (per-item boxes [N,4] or single tensor), per-item scores.
    let tensor: ArrayView3<f32> = {
        let (expected, ok): (&str, fn(&[usize]) -> bool) = match layout {
            Layout::Yolov8 => ("[4+C,A] or [B,4+C,A] with C >= 1", |s: &[usize]| s[1] >= 5),
            Layout::Yolov5 => ("[A,5+C] or [B,A,5+C] with C >= 1", |s: &[usize]| s[2] >= 6),
            _ => ("[N,4] or [B,N,4]", |s: &[usize]| s[2] == 4),
        };
        batched(boxes.view(), 3)
            .filter(|b| ok(b.shape()))
            .ok_or_else(|| shape_err(names.boxes, expected, boxes.shape()))?
            .into_dimensionality::<Ix3>()
            .expect("rank checked")
    };
    let bsz = tensor.shape()[0];
    let n = match layout {
        Layout::Yolov8 => tensor.shape()[2],
        _ => tensor.shape()[1],
    };
    let batch_note = |e: &str| format!("{e} (batch {bsz}, N = {n})");

    let scores3: Option<ArrayViewD<f32>> = match (layout, &scores) {
        (Layout::Flat, Some(s)) => {
            let v = batched(s.view(), 2)
                .filter(|v| v.shape() == [bsz, n])
                .ok_or_else(|| shape_err(names.scores, &batch_note("[N] or [B,N]"), s.shape()))?;
            Some(v)
        }
        (Layout::Bnc | Layout::Bcn, Some(s)) => {
            let v = batched(s.view(), 3).ok_or_else(|| {
                shape_err(
                    names.scores,
                    &batch_note("[N,C], [C,N] or batched"),
                    s.shape(),
                )
            })?;
            let sh = v.shape();
            let ok = sh[0] == bsz
                && if layout == Layout::Bnc {
                    sh[1] == n
                } else {
                    sh[2] == n
                }
                && sh[1].min(sh[2]) > 0;
            if !ok {
                let e = if layout == Layout::Bnc {
                    "[B,N,C]"
                } else {
                    "[B,C,N]"
                };
                return Err(shape_err(names.scores, &batch_note(e), s.shape()));
            }
            Some(v)
        }
        _ => None,
    };
    let classes2: Option<ArrayView2<i64>> = match &classes {
        Some(c) => Some(
            batched(c.view(), 2)
                .filter(|v| v.shape() == [bsz, n])
                .ok_or_else(|| shape_err(names.classes, &batch_note("[N] or [B,N]"), c.shape()))?
                .into_dimensionality::<Ix2>()
                .expect("rank checked"),
        ),
        None => None,
    };

    let multi = opts.multi_label || opts.semantics == Semantics::Onnx;
    let mut out = Detections {
        batch_size: bsz,
        ..Default::default()
    };
    for b in 0..bsz {
        let item = tensor.index_axis(Axis(0), b);
        let raw_box = |i: usize| -> [f32; 4] {
            match layout {
                Layout::Yolov8 => [item[[0, i]], item[[1, i]], item[[2, i]], item[[3, i]]],
                _ => [item[[i, 0]], item[[i, 1]], item[[i, 2]], item[[i, 3]]],
            }
        };
        let geo: Vec<Geo> = (0..n)
            .map(|i| Geo::new(corners(raw_box(i), opts.box_format, opts.semantics)))
            .collect();
        let mut cands: Vec<Candidate> = Vec::new();
        let mut push = |index: usize, class: i64, score: f32| {
            if passes(score, opts) {
                cands.push(Candidate {
                    index: index as u32,
                    class,
                    score,
                });
            }
        };
        if layout == Layout::Flat {
            let s = scores3
                .as_ref()
                .expect("flat has scores")
                .index_axis(Axis(0), b);
            let s = s
                .into_dimensionality::<ndarray::Ix1>()
                .expect("rank checked");
            for i in 0..n {
                push(i, classes2.as_ref().map_or(0, |c| c[[b, i]]), s[i]);
            }
        } else {
            let cs = match layout {
                Layout::Bnc | Layout::Bcn => {
                    let s = scores3.as_ref().expect("has scores").index_axis(Axis(0), b);
                    let s = s.into_dimensionality::<Ix2>().expect("rank checked");
                    ClassScores::Matrix(s, layout == Layout::Bnc)
                }
                Layout::Yolov8 => ClassScores::Matrix(item.slice_move(ndarray::s![4.., ..]), false),
                _ => ClassScores::Objectness(item),
            };
            for i in 0..n {
                if multi {
                    for c in 0..cs.classes() {
                        push(i, c as i64, cs.get(i, c));
                    }
                } else {
                    let (c, s) = argmax_class(&cs, i);
                    push(i, c as i64, s);
                }
            }
        }
        out.candidates += cands.len();
        for p in run_candidates(&geo, &cands, opts) {
            let c = cands[p];
            let index = c.index as usize;
            out.keep.push(index);
            out.detections.push(Detection {
                batch: (bsz > 1).then_some(b),
                index,
                bbox: raw_box(index),
                score: c.score,
                class: c.class,
            });
        }
    }
    Ok(out)
}

/// Reproducible synthetic detections for benchmarks and tests: `n` boxes `[n,4]` (xyxy) inside
/// a 640×640 image with sides from 10 to 100, and scores `[n]` in `[0, 1)`.
///
/// The generator is xorshift64 (shifts 13, 7, 17; a zero seed is replaced by
/// `0x9E3779B97F4A7C15`); each draw is its top 24 bits divided by 2^24. Box `i` takes five
/// draws `u0..u4`: `w = 10 + 90·u0`, `h = 10 + 90·u1`, `x1 = (640 − w)·u2`,
/// `y1 = (640 − h)·u3`, `x2 = x1 + w`, `y2 = y1 + h`, `score = u4`, all in float32, so any
/// language can regenerate the same boxes bit for bit.
pub fn synthetic_boxes(n: usize, seed: u64) -> (Array2<f32>, Array1<f32>) {
    let mut x = if seed == 0 {
        0x9E37_79B9_7F4A_7C15
    } else {
        seed
    };
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 40) as f32 * (1.0 / 16_777_216.0)
    };
    let mut boxes = Array2::zeros((n, 4));
    let mut scores = Array1::zeros(n);
    for i in 0..n {
        let u: [f32; 5] = std::array::from_fn(|_| next());
        let w = 10.0 + 90.0 * u[0];
        let h = 10.0 + 90.0 * u[1];
        let x1 = (640.0 - w) * u[2];
        let y1 = (640.0 - h) * u[3];
        boxes
            .row_mut(i)
            .assign(&ndarray::arr1(&[x1, y1, x1 + w, y1 + h]));
        scores[i] = u[4];
    }
    (boxes, scores)
}

// ---------------------------------------------------------------------------------------------
// The command

/// `onnxscope nms`: NMS on boxes and scores saved as `.npy`.
#[derive(clap::Args, Clone, Debug)]
pub struct NmsArgs {
    /// Boxes `[N,4]`/`[B,N,4]`, or the whole output tensor for `--layout yolov8|yolov5`.
    #[arg(long, value_name = "B.npy")]
    pub boxes: PathBuf,
    /// Scores: `[N]`/`[B,N]` (flat), `[B,N,C]` (bnc) or `[B,C,N]` (bcn).
    #[arg(long, value_name = "S.npy")]
    pub scores: Option<PathBuf>,
    /// Class id of each box, `[N]`/`[B,N]`, integer (flat layout only).
    #[arg(long, value_name = "C.npy")]
    pub classes: Option<PathBuf>,
    /// Suppress a box whose IoU with a kept box is greater than this.
    #[arg(long, default_value_t = 0.5, value_name = "T")]
    pub iou_threshold: f64,
    /// Keep only candidates whose score is greater than this.
    #[arg(long, value_name = "T")]
    pub score_threshold: Option<f32>,
    /// Box format [default: xyxy; cxcywh for the yolov8/yolov5 layouts].
    #[arg(long, value_enum)]
    pub box_format: Option<BoxFormat>,
    /// At most this many boxes per class (and batch item).
    #[arg(long, value_name = "K")]
    pub max_per_class: Option<usize>,
    /// At most this many boxes per batch item, best scores first.
    #[arg(long, value_name = "K")]
    pub max_detections: Option<usize>,
    /// Let boxes of different classes suppress one another.
    #[arg(long)]
    pub class_agnostic: bool,
    /// A candidate per (box, class) above the score threshold instead of one per box.
    #[arg(long)]
    pub multi_label: bool,
    /// Whose NMS to reproduce.
    #[arg(long, value_enum, default_value_t)]
    pub nms_semantics: Semantics,
    /// How the inputs are laid out [default: inferred from the shapes when scores are given].
    #[arg(long, value_enum)]
    pub layout: Option<Layout>,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
    /// Also write keep.npy, boxes.npy, scores.npy, classes.npy (and batch.npy when B > 1) here.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
}

impl NmsArgs {
    /// Options for [`detect`] (the box format defaults by layout).
    pub fn options(&self) -> NmsOptions {
        let yolo = matches!(self.layout, Some(Layout::Yolov8 | Layout::Yolov5));
        NmsOptions {
            iou_threshold: self.iou_threshold,
            score_threshold: self.score_threshold,
            box_format: self.box_format.unwrap_or(if yolo {
                BoxFormat::Cxcywh
            } else {
                BoxFormat::Xyxy
            }),
            class_agnostic: self.class_agnostic,
            max_per_class: self.max_per_class,
            max_detections: self.max_detections,
            semantics: self.nms_semantics,
            multi_label: self.multi_label,
        }
    }
}

/// Runs the `nms` command and returns the text to print.
pub fn run_nms(args: &NmsArgs) -> Result<String, PostError> {
    let opts = args.options();
    let bname = file_label("boxes", &args.boxes);
    let boxes = npyio::read(&args.boxes)?.into_f32(&bname)?;
    let (sname, scores) = match &args.scores {
        Some(p) => {
            let name = file_label("scores", p);
            let s = npyio::read(p)?.into_f32(&name)?;
            (name, Some(s))
        }
        None => (String::from("scores"), None),
    };
    let (cname, classes) = match &args.classes {
        Some(p) => {
            let name = file_label("classes", p);
            let c = npyio::read(p)?.into_labels(&name)?;
            (name, Some(c))
        }
        None => (String::from("classes"), None),
    };
    let names = Names {
        boxes: &bname,
        scores: &sname,
        classes: &cname,
    };
    let det = detect_named(
        boxes.view(),
        scores.as_ref().map(|s| s.view()),
        classes.as_ref().map(|c| c.view()),
        args.layout,
        &opts,
        &names,
    )?;
    if let Some(dir) = &args.output_dir {
        write_outputs(dir, &det)?;
    }
    Ok(match args.format {
        OutputFormat::Json => serde_json::to_string_pretty(&det).expect("serialisable") + "\n",
        OutputFormat::Table => render_table(&det, &opts),
    })
}

/// Writes keep.npy (int64 `[K]`), boxes.npy (float32 `[K,4]`, as given), scores.npy
/// (float32 `[K]`), classes.npy (int64 `[K]`) and, for a batch of more than one, batch.npy
/// (int64 `[K]`).
pub fn write_outputs(dir: &std::path::Path, det: &Detections) -> Result<(), PostError> {
    std::fs::create_dir_all(dir).map_err(|source| PostError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let d = &det.detections;
    let keep: Array1<i64> = d.iter().map(|x| x.index as i64).collect();
    let boxes = Array2::from_shape_fn((d.len(), 4), |(i, j)| d[i].bbox[j]);
    let scores: Array1<f32> = d.iter().map(|x| x.score).collect();
    let classes: Array1<i64> = d.iter().map(|x| x.class).collect();
    npyio::write(&dir.join("keep.npy"), &keep)?;
    npyio::write(&dir.join("boxes.npy"), &boxes)?;
    npyio::write(&dir.join("scores.npy"), &scores)?;
    npyio::write(&dir.join("classes.npy"), &classes)?;
    if det.batch_size > 1 {
        let batch: Array1<i64> = d.iter().map(|x| x.batch.unwrap_or(0) as i64).collect();
        npyio::write(&dir.join("batch.npy"), &batch)?;
    }
    Ok(())
}

/// The detections as an aligned text table with a one-line summary.
pub fn render_table(det: &Detections, opts: &NmsOptions) -> String {
    let coords: [&str; 4] = match (opts.box_format, opts.semantics) {
        (BoxFormat::Xyxy, Semantics::Onnx) => ["y1", "x1", "y2", "x2"],
        (BoxFormat::Xyxy, _) => ["x1", "y1", "x2", "y2"],
        (BoxFormat::Xywh, _) => ["x", "y", "w", "h"],
        (BoxFormat::Cxcywh, _) => ["cx", "cy", "w", "h"],
    };
    let semantics = match opts.semantics {
        Semantics::Torchvision => "torchvision",
        Semantics::Onnx => "onnx",
    };
    let mut s = format!(
        "{} kept of {} candidates ({semantics} semantics, IoU > {}{})\n",
        det.detections.len(),
        det.candidates,
        opts.iou_threshold,
        opts.score_threshold
            .map(|t| format!(", score > {t}"))
            .unwrap_or_default(),
    );
    let batched = det.batch_size > 1;
    let mut rows: Vec<Vec<String>> = Vec::with_capacity(det.detections.len() + 1);
    let mut head: Vec<String> = Vec::new();
    if batched {
        head.push("batch".into());
    }
    head.extend(["index", "class", "score"].map(String::from));
    head.extend(coords.map(String::from));
    rows.push(head);
    for d in &det.detections {
        let mut r = Vec::new();
        if let Some(b) = d.batch {
            r.push(b.to_string());
        }
        r.push(d.index.to_string());
        r.push(d.class.to_string());
        r.push(format!("{:.4}", d.score));
        r.extend(d.bbox.map(|v| format!("{v:.2}")));
        rows.push(r);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:>w$}"))
            .collect();
        let _ = writeln!(s, "{}", line.join("  "));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2, Array3};

    fn opts(iou_threshold: f64) -> NmsOptions {
        NmsOptions {
            iou_threshold,
            ..Default::default()
        }
    }

    fn run(boxes: &[[f32; 4]], scores: &[f32], o: &NmsOptions) -> Vec<usize> {
        nms(arr2(boxes).view(), arr1(scores).view(), None, o).unwrap()
    }

    // --- The seed document's bugs, one test each. -------------------------------------------

    /// Bug 1: legacy "+1 pixel" widths. [0,0,10,10] and [5,0,15,10] overlap on a 5×10 strip:
    /// inter = 50, union = 100 + 100 − 50 = 150, IoU = 1/3. The "+1" version computes
    /// 6·11 / (121 + 121 − 66) = 66/176 = 0.375.
    #[test]
    fn bug_plus_one_pixel_xyxy_iou_is_continuous() {
        let v = iou(
            [0.0, 0.0, 10.0, 10.0],
            [5.0, 0.0, 15.0, 10.0],
            BoxFormat::Xyxy,
        );
        assert!((v - 1.0 / 3.0).abs() < 1e-6, "{v}");
        // A 1×1 box is 1 unit of area, not 4: [0,0,1,1] vs [0,0,2,2] is 1/4, not 4/9.
        let v = iou([0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 2.0, 2.0], BoxFormat::Xyxy);
        assert_eq!(v, 0.25);
    }

    /// Bug 2: centre format with `down = max(y1 − h1/2, y2 + h2/2)`. Boxes (5,5,10,10) and
    /// (5,10,10,10) are [0,0,10,10] and [0,5,10,15]: the overlap is y ∈ [max(0, 10 − 5), 10] =
    /// [5, 10], so inter = 10·5 = 50 and IoU = 50/150 = 1/3. The buggy top edge
    /// max(0, 10 + 5) = 15 lies below the bottom edge 10 and gives 0.
    #[test]
    fn bug_center_format_top_edge_uses_minus_half_height() {
        let v = iou(
            [5.0, 5.0, 10.0, 10.0],
            [5.0, 10.0, 10.0, 10.0],
            BoxFormat::Cxcywh,
        );
        assert!((v - 1.0 / 3.0).abs() < 1e-6, "{v}");
        // Horizontal counterpart: (5,5,10,10) vs (10,5,10,10) → x overlap [5,10] → 1/3.
        let v = iou(
            [5.0, 5.0, 10.0, 10.0],
            [10.0, 5.0, 10.0, 10.0],
            BoxFormat::Cxcywh,
        );
        assert!((v - 1.0 / 3.0).abs() < 1e-6, "{v}");
        // And xywh: (0,5,10,10) is [0,5,10,15].
        let v = iou(
            [0.0, 0.0, 10.0, 10.0],
            [0.0, 5.0, 10.0, 10.0],
            BoxFormat::Xywh,
        );
        assert!((v - 1.0 / 3.0).abs() < 1e-6, "{v}");
    }

    /// Bug 3: NMS taking the intersection's right/bottom edges from the left/top coordinates
    /// (`xxr = min(xl_i, xl_j)`), which makes every intersection empty. [0,0,10,10] (0.9) and
    /// [1,1,11,11] (0.8): inter = 9·9 = 81, union = 200 − 81 = 119, IoU = 0.6807 > 0.5, so
    /// box 1 is suppressed; box 2 is far away and stays. Suppression must also happen through
    /// the grid path (more than DIRECT_MAX boxes).
    #[test]
    fn bug_intersection_right_edge_taken_from_right_coordinates() {
        let boxes = [
            [0.0, 0.0, 10.0, 10.0],
            [1.0, 1.0, 11.0, 11.0],
            [50.0, 50.0, 60.0, 60.0],
        ];
        assert_eq!(run(&boxes, &[0.9, 0.8, 0.7], &opts(0.5)), vec![0, 2]);
        let ga = Geo::new([0.0, 0.0, 10.0, 10.0]);
        let gb = Geo::new([1.0, 1.0, 11.0, 11.0]);
        assert_eq!(overlap_iou(&ga, &gb), Some(81.0 / 119.0));

        // 200 copies of that pair spread out: every second box must go.
        let mut many = Vec::new();
        let mut scores = Vec::new();
        for k in 0..200 {
            let o = (k * 30) as f32;
            many.push([o, 0.0, o + 10.0, 10.0]);
            many.push([o + 1.0, 1.0, o + 11.0, 11.0]);
            scores.extend([1.0 - k as f32 * 1e-3, 0.5]);
        }
        let keep = run(&many, &scores, &opts(0.5));
        assert_eq!(keep, (0..200).map(|k| 2 * k).collect::<Vec<_>>());
    }

    /// Bug 4: a zero union (two identical zero-area boxes) divides 0 by 0. The IoU must be 0,
    /// not NaN, and NaN must not decide anything: at threshold 0 both boxes stay.
    #[test]
    fn bug_zero_union_is_iou_zero_not_nan() {
        let p = [5.0, 5.0, 5.0, 5.0];
        assert_eq!(iou(p, p, BoxFormat::Xyxy), 0.0);
        assert_eq!(
            iou(
                [0.0, 0.0, 0.0, 10.0],
                [0.0, 0.0, 0.0, 10.0],
                BoxFormat::Xyxy
            ),
            0.0
        );
        assert_eq!(iou([0.0; 4], [0.0, 0.0, 0.0, 0.0], BoxFormat::Cxcywh), 0.0);
        assert_eq!(run(&[p, p], &[0.9, 0.8], &opts(0.0)), vec![0, 1]);
        // Under ONNX semantics too.
        let o = NmsOptions {
            semantics: Semantics::Onnx,
            ..opts(0.0)
        };
        assert_eq!(run(&[p, p], &[0.9, 0.8], &o), vec![0, 1]);
    }

    // --- Hand-worked cases. ------------------------------------------------------------------

    #[test]
    fn iou_hand_cases() {
        let a = [0.0, 0.0, 4.0, 4.0];
        assert_eq!(iou(a, a, BoxFormat::Xyxy), 1.0);
        // [2,2,6,6]: inter 2·2 = 4, union 16 + 16 − 4 = 28 → 1/7.
        assert_eq!(iou(a, [2.0, 2.0, 6.0, 6.0], BoxFormat::Xyxy), 4.0 / 28.0);
        // Touching edges: inter 0.
        assert_eq!(iou(a, [4.0, 0.0, 8.0, 4.0], BoxFormat::Xyxy), 0.0);
        // Containment: [1,1,3,3] inside: 4/16.
        assert_eq!(iou(a, [1.0, 1.0, 3.0, 3.0], BoxFormat::Xyxy), 0.25);
        // Flipped corners are degenerate (negative width): 0.
        assert_eq!(iou(a, [4.0, 0.0, 0.0, 4.0], BoxFormat::Xyxy), 0.0);
        // Non-finite coordinates: 0.
        assert_eq!(iou(a, [0.0, 0.0, f32::INFINITY, 4.0], BoxFormat::Xyxy), 0.0);
        assert_eq!(iou(a, [f32::NAN, 0.0, 4.0, 4.0], BoxFormat::Xyxy), 0.0);
    }

    /// A: [0,0,10,10] 0.9; B: [5,0,15,10] 0.8 (IoU(A,B) = 50/150 = 1/3);
    /// C: [10,0,20,10] 0.7 (IoU(B,C) = 1/3, IoU(A,C) = 0). At 0.3, A suppresses B, and B,
    /// being suppressed, does not suppress C.
    #[test]
    fn suppressed_box_suppresses_nothing() {
        let boxes = [
            [0.0, 0.0, 10.0, 10.0],
            [5.0, 0.0, 15.0, 10.0],
            [10.0, 0.0, 20.0, 10.0],
        ];
        assert_eq!(run(&boxes, &[0.9, 0.8, 0.7], &opts(0.3)), vec![0, 2]);
        // At 0.34 nobody is suppressed; output is by descending score.
        assert_eq!(run(&boxes, &[0.7, 0.8, 0.9], &opts(0.34)), vec![2, 1, 0]);
    }

    /// [0,0,3,1] and [1,0,4,1]: inter 2, union 3 + 3 − 2 = 4, IoU exactly 0.5. Suppression
    /// is strict: kept at 0.5, suppressed at 0.49.
    #[test]
    fn threshold_is_strict() {
        let boxes = [[0.0, 0.0, 3.0, 1.0], [1.0, 0.0, 4.0, 1.0]];
        assert_eq!(run(&boxes, &[0.9, 0.8], &opts(0.5)), vec![0, 1]);
        assert_eq!(run(&boxes, &[0.9, 0.8], &opts(0.49)), vec![0]);
    }

    /// IoU 50/150 is 0.33333334 in float32. torchvision compares it with the threshold as a
    /// double: 0.33333334 > 0.333…3 suppresses. onnxruntime compares in float32: equal, kept.
    #[test]
    fn threshold_precision_follows_each_semantics() {
        let boxes = [[0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 15.0, 10.0]];
        assert_eq!(run(&boxes, &[0.9, 0.8], &opts(1.0 / 3.0)), vec![0]);
        let o = NmsOptions {
            semantics: Semantics::Onnx,
            ..opts(1.0 / 3.0)
        };
        assert_eq!(run(&boxes, &[0.9, 0.8], &o), vec![0, 1]);
    }

    #[test]
    fn ties_keep_the_lower_index() {
        let b = [1.0, 1.0, 5.0, 5.0];
        assert_eq!(run(&[b, b, b], &[0.5, 0.5, 0.5], &opts(0.5)), vec![0]);
        assert_eq!(run(&[b, b, b], &[0.3, 0.7, 0.7], &opts(0.5)), vec![1]);
        // Disjoint boxes with equal scores come out in index order.
        let d: Vec<[f32; 4]> = (0..5)
            .map(|i| [i as f32 * 10.0, 0.0, i as f32 * 10.0 + 1.0, 1.0])
            .collect();
        assert_eq!(run(&d, &[0.5; 5], &opts(0.5)), vec![0, 1, 2, 3, 4]);
    }

    /// torch.sort(descending=True) puts NaN first, so a NaN-scored box is visited first and
    /// suppresses its neighbours (torchvision gives [1, 3] here). A score threshold drops NaN.
    #[test]
    fn nan_scores_sort_first_like_torch() {
        let boxes = [
            [0.0, 0.0, 10.0, 10.0],
            [1.0, 1.0, 11.0, 11.0],
            [50.0, 50.0, 60.0, 60.0],
            [51.0, 51.0, 61.0, 61.0],
        ];
        let s = [0.9, f32::NAN, 0.1, f32::NAN];
        assert_eq!(run(&boxes, &s, &opts(0.5)), vec![1, 3]);
        let t = NmsOptions {
            score_threshold: Some(0.0),
            ..opts(0.5)
        };
        assert_eq!(run(&boxes, &s, &t), vec![0, 2]);
        // ONNX semantics drop NaN even without a threshold.
        let o = NmsOptions {
            semantics: Semantics::Onnx,
            ..opts(0.5)
        };
        assert_eq!(run(&boxes, &s, &o), vec![0, 2]);
    }

    #[test]
    fn score_threshold_is_strict() {
        let boxes = [[0.0, 0.0, 1.0, 1.0], [5.0, 5.0, 6.0, 6.0]];
        let t = NmsOptions {
            score_threshold: Some(0.5),
            ..opts(0.5)
        };
        assert_eq!(run(&boxes, &[0.5, 0.6], &t), vec![1]);
    }

    #[test]
    fn flipped_corners_degenerate_for_torchvision_normalised_for_onnx() {
        let boxes = [[0.0, 0.0, 10.0, 10.0], [10.0, 10.0, 0.0, 0.0]];
        // torchvision: the flipped box has no overlap with anything and stays.
        assert_eq!(run(&boxes, &[0.9, 0.8], &opts(0.5)), vec![0, 1]);
        // onnx: min/max make it the same box, IoU 1, suppressed.
        let o = NmsOptions {
            semantics: Semantics::Onnx,
            ..opts(0.5)
        };
        assert_eq!(run(&boxes, &[0.9, 0.8], &o), vec![0]);
    }

    #[test]
    fn formats_agree() {
        let xyxy = [
            [0.0, 0.0, 10.0, 10.0],
            [2.0, 2.0, 12.0, 12.0],
            [30.0, 0.0, 40.0, 8.0],
        ];
        let xywh: Vec<[f32; 4]> = xyxy
            .iter()
            .map(|b| [b[0], b[1], b[2] - b[0], b[3] - b[1]])
            .collect();
        let cxcywh: Vec<[f32; 4]> = xyxy
            .iter()
            .map(|b| {
                [
                    (b[0] + b[2]) / 2.0,
                    (b[1] + b[3]) / 2.0,
                    b[2] - b[0],
                    b[3] - b[1],
                ]
            })
            .collect();
        let s = [0.5, 0.9, 0.7];
        // IoU(box 0, box 1) = 8·8 / (100 + 100 − 64) = 64/136 = 0.4706: suppressed at 0.45.
        let expect = run(&xyxy, &s, &opts(0.45));
        assert_eq!(expect, vec![1, 2]);
        assert_eq!(run(&xyxy, &s, &opts(0.5)), vec![1, 2, 0]);
        for (b, f) in [(&xywh, BoxFormat::Xywh), (&cxcywh, BoxFormat::Cxcywh)] {
            let o = NmsOptions {
                box_format: f,
                ..opts(0.45)
            };
            assert_eq!(run(b, &s, &o), expect, "{f:?}");
        }
    }

    #[test]
    fn classes_batched_and_agnostic() {
        let b = [0.0, 0.0, 10.0, 10.0];
        let boxes = arr2(&[b, b, b, [1.0, 1.0, 10.0, 10.0]]);
        let scores = arr1(&[0.9, 0.8, 0.7, 0.95]);
        let classes = arr1(&[0i64, 1, 0, 1]);
        let keep = nms(
            boxes.view(),
            scores.view(),
            Some(classes.view()),
            &opts(0.5),
        )
        .unwrap();
        // Class 1: 3 (0.95) suppresses 1 (IoU 81/100). Class 0: 0 suppresses 2.
        assert_eq!(keep, vec![3, 0]);
        let agnostic = NmsOptions {
            class_agnostic: true,
            ..opts(0.5)
        };
        let keep = nms(boxes.view(), scores.view(), Some(classes.view()), &agnostic).unwrap();
        assert_eq!(keep, vec![3]);
        // ONNX semantics: class-major output.
        let o = NmsOptions {
            semantics: Semantics::Onnx,
            ..opts(0.5)
        };
        let keep = nms(boxes.view(), scores.view(), Some(classes.view()), &o).unwrap();
        assert_eq!(keep, vec![0, 3]);
        let bad = NmsOptions {
            class_agnostic: true,
            ..o
        };
        assert!(nms(boxes.view(), scores.view(), None, &bad).is_err());
    }

    #[test]
    fn caps_per_class_and_total() {
        let d: Vec<[f32; 4]> = (0..6)
            .map(|i| [i as f32 * 10.0, 0.0, i as f32 * 10.0 + 1.0, 1.0])
            .collect();
        let boxes = arr2(&d);
        let scores = arr1(&[0.1, 0.9, 0.8, 0.7, 0.6, 0.5]);
        let classes = arr1(&[0i64, 0, 0, 1, 1, 1]);
        let o = NmsOptions {
            max_per_class: Some(2),
            ..opts(0.5)
        };
        let keep = nms(boxes.view(), scores.view(), Some(classes.view()), &o).unwrap();
        assert_eq!(keep, vec![1, 2, 3, 4]);
        let o = NmsOptions {
            max_detections: Some(3),
            ..opts(0.5)
        };
        assert_eq!(
            nms(boxes.view(), scores.view(), Some(classes.view()), &o).unwrap(),
            vec![1, 2, 3]
        );
        let o = NmsOptions {
            max_detections: Some(0),
            ..opts(0.5)
        };
        assert!(nms(boxes.view(), scores.view(), None, &o)
            .unwrap()
            .is_empty());
        // ONNX: class-major order, but the total cap keeps the best scores: 1, 2 (class 0)
        // and 3 (class 1), printed class by class.
        let o = NmsOptions {
            max_detections: Some(3),
            semantics: Semantics::Onnx,
            ..opts(0.5)
        };
        assert_eq!(
            nms(boxes.view(), scores.view(), Some(classes.view()), &o).unwrap(),
            vec![1, 2, 3]
        );
        let o = NmsOptions {
            max_per_class: Some(1),
            class_agnostic: true,
            ..opts(0.5)
        };
        assert_eq!(
            nms(boxes.view(), scores.view(), Some(classes.view()), &o).unwrap(),
            vec![1, 3]
        );
    }

    #[test]
    fn rejects_bad_thresholds() {
        let b = arr2(&[[0.0f32, 0.0, 1.0, 1.0]]);
        let s = arr1(&[1.0f32]);
        for t in [-0.1, f64::NAN] {
            assert!(nms(b.view(), s.view(), None, &opts(t)).is_err());
        }
        let o = NmsOptions {
            semantics: Semantics::Onnx,
            ..opts(1.5)
        };
        assert!(nms(b.view(), s.view(), None, &o).is_err());
        assert_eq!(nms(b.view(), s.view(), None, &opts(1.5)).unwrap(), vec![0]);
    }

    // --- The grid against a literal transcription of torchvision's kernel. ------------------

    /// Descending score order with NaN first, as `torch.sort(descending=True)` orders them
    /// (-0.0 and 0.0 are equal): the comparator the sort key must agree with.
    fn score_desc(a: f32, b: f32) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        match (a.is_nan(), b.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
        }
    }

    #[test]
    fn sort_key_orders_like_torch_sort_descending() {
        let v = [
            1.0,
            f32::NAN,
            2.0,
            f32::NEG_INFINITY,
            f32::INFINITY,
            -f32::NAN,
            0.0,
            -0.0,
            -3.5,
        ];
        let order: Vec<u32> = rank_order(&v);
        // torch.sort(descending=True, stable=True) gives [1, 5, 4, 2, 0, 6, 7, 8, 3].
        assert_eq!(order, vec![1, 5, 4, 2, 0, 6, 7, 8, 3]);
        let mut by_cmp: Vec<u32> = (0..v.len() as u32).collect();
        by_cmp.sort_by(|&a, &b| score_desc(v[a as usize], v[b as usize]));
        assert_eq!(order, by_cmp);
    }

    /// torchvision/csrc/ops/cpu/nms_kernel.cpp, all pairs.
    fn torchvision_kernel(boxes: &[[f32; 4]], scores: &[f32], thr: f64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..boxes.len()).collect();
        order.sort_by(|&a, &b| score_desc(scores[a], scores[b])); // stable
        let area: Vec<f32> = boxes
            .iter()
            .map(|b| (b[2] - b[0]) * (b[3] - b[1]))
            .collect();
        let mut sup = vec![false; boxes.len()];
        let mut keep = Vec::new();
        for (k, &i) in order.iter().enumerate() {
            if sup[i] {
                continue;
            }
            keep.push(i);
            let a = boxes[i];
            for &j in &order[k + 1..] {
                if sup[j] {
                    continue;
                }
                let b = boxes[j];
                let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
                let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
                let inter = w * h;
                let ovr = inter / (area[i] + area[j] - inter);
                if f64::from(ovr) > thr {
                    sup[j] = true;
                }
            }
        }
        keep
    }

    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 40) as f32 / 16_777_216.0
        }
    }

    #[test]
    fn grid_matches_all_pairs_kernel_on_random_sets() {
        let mut r = XorShift(42);
        for round in 0..300 {
            let n = 1 + (r.next() * 900.0) as usize;
            let extent = [50.0, 400.0, 5000.0][round % 3];
            let quant = round % 4 == 0; // integer coordinates: exact ties in IoU and touching edges
            let mut boxes = Vec::with_capacity(n);
            let mut scores = Vec::with_capacity(n);
            for i in 0..n {
                let q = |v: f32| if quant { v.round() } else { v };
                let mut b = [
                    q(r.next() * extent),
                    q(r.next() * extent),
                    q(r.next() * extent * 0.2 + 0.5),
                    q(r.next() * extent * 0.2 + 0.5),
                ];
                b[2] += b[0];
                b[3] += b[1];
                match (r.next() * 40.0) as u32 {
                    0 if i > 0 => b = boxes[i - 1],      // duplicate
                    1 => b[2] = b[0],                    // zero width
                    2 => b.swap(0, 2),                   // flipped
                    3 => b = [0.0, 0.0, extent, extent], // covers everything
                    4 => b[3] = f32::INFINITY,           // non-finite
                    _ => {}
                }
                boxes.push(b);
                let s = if quant {
                    (r.next() * 10.0).floor() / 10.0
                } else {
                    r.next()
                };
                scores.push(if r.next() < 0.02 { f32::NAN } else { s });
            }
            let thr = [0.0, 0.3, 0.5, 0.7, 0.95][round % 5];
            let expect = torchvision_kernel(&boxes, &scores, thr);
            assert_eq!(
                run(&boxes, &scores, &opts(thr)),
                expect,
                "round {round} n {n} thr {thr}"
            );
        }
    }

    /// onnxruntime's NonMaxSuppression for one class (corner boxes, `SuppressByIOU`).
    fn onnxruntime_kernel(boxes: &[[f32; 4]], scores: &[f32], thr: f32) -> Vec<usize> {
        let mut order: Vec<usize> = (0..boxes.len()).filter(|&i| !scores[i].is_nan()).collect();
        order.sort_by(|&a, &b| score_desc(scores[a], scores[b]));
        let mut selected: Vec<usize> = Vec::new();
        let norm = |b: [f32; 4]| {
            [
                b[0].min(b[2]),
                b[1].min(b[3]),
                b[0].max(b[2]),
                b[1].max(b[3]),
            ]
        };
        for &i in &order {
            let a = norm(boxes[i]);
            let suppressed = selected.iter().any(|&s| {
                let b = norm(boxes[s]);
                let (ix1, ix2) = (a[0].max(b[0]), a[2].min(b[2]));
                if ix2 <= ix1 {
                    return false;
                }
                let (iy1, iy2) = (a[1].max(b[1]), a[3].min(b[3]));
                if iy2 <= iy1 {
                    return false;
                }
                let inter = (ix2 - ix1) * (iy2 - iy1);
                if inter <= 0.0 {
                    return false;
                }
                let a1 = (a[2] - a[0]) * (a[3] - a[1]);
                let a2 = (b[2] - b[0]) * (b[3] - b[1]);
                let union = a1 + a2 - inter;
                if a1 <= 0.0 || a2 <= 0.0 || union <= 0.0 {
                    return false;
                }
                inter / union > thr
            });
            if !suppressed {
                selected.push(i);
            }
        }
        selected
    }

    /// Dense clusters of near-identical boxes, thresholds that fall exactly on float32 IoU
    /// values (1/3, 0.5 with integer corners), both semantics, sizes that exercise the grid's
    /// compaction.
    #[test]
    fn grid_matches_kernels_on_dense_clusters() {
        let mut r = XorShift(7);
        for round in 0..24 {
            let n = 500 + (r.next() * 4000.0) as usize;
            let clusters = 1 + (r.next() * 40.0) as usize;
            let centres: Vec<(f32, f32)> = (0..clusters)
                .map(|_| (r.next() * 1000.0, r.next() * 1000.0))
                .collect();
            let quant = round % 2 == 0;
            let mut boxes = Vec::with_capacity(n);
            for _ in 0..n {
                let (cx, cy) = centres[(r.next() * clusters as f32) as usize];
                let mut b = [
                    cx + r.next() * 30.0,
                    cy + r.next() * 30.0,
                    10.0 + r.next() * 60.0,
                    10.0 + r.next() * 60.0,
                ];
                if quant {
                    b = b.map(f32::round);
                }
                boxes.push([b[0], b[1], b[0] + b[2], b[1] + b[3]]);
            }
            let scores: Vec<f32> = (0..n).map(|_| (r.next() * 50.0).floor() / 50.0).collect();
            for thr in [1.0 / 3.0, 0.5, 0.0, 0.8] {
                let expect = torchvision_kernel(&boxes, &scores, thr);
                assert_eq!(
                    run(&boxes, &scores, &opts(thr)),
                    expect,
                    "round {round} thr {thr}"
                );
                let o = NmsOptions {
                    semantics: Semantics::Onnx,
                    ..opts(thr)
                };
                let expect = onnxruntime_kernel(&boxes, &scores, thr as f32);
                assert_eq!(
                    run(&boxes, &scores, &o),
                    expect,
                    "onnx round {round} thr {thr}"
                );
            }
        }
    }

    #[test]
    fn synthetic_boxes_are_inside_the_image() {
        let (b, s) = synthetic_boxes(1000, 7);
        assert!(b.rows().into_iter().all(|r| {
            let (w, h) = (r[2] - r[0], r[3] - r[1]);
            r[0] >= 0.0
                && r[1] >= 0.0
                && r[2] <= 640.0
                && r[3] <= 640.0
                && (10.0..=100.0).contains(&w)
                && (10.0..=100.0).contains(&h)
        }));
        assert!(s.iter().all(|v| (0.0..1.0).contains(v)));
        assert_eq!(synthetic_boxes(1000, 7).0, b);
    }

    // --- Layouts. ------------------------------------------------------------------------------

    /// Two boxes, three classes, written in every layout: the same detections come out.
    #[test]
    fn layouts_agree() {
        let boxes = [
            [0.0f32, 0.0, 10.0, 10.0],
            [1.0, 1.0, 11.0, 11.0],
            [40.0, 40.0, 50.0, 50.0],
        ];
        let cls = [[0.1f32, 0.8, 0.1], [0.7, 0.2, 0.1], [0.2, 0.3, 0.6]];
        let o = opts(0.5);
        let b3 = arr2(&boxes).insert_axis(Axis(0));
        let bnc = arr2(&cls).insert_axis(Axis(0));
        let bcn = bnc.clone().permuted_axes([0, 2, 1]);
        // N = C = 3: the layout cannot be inferred and must be given.
        let bnc_l = Some(Layout::Bnc);
        let a = detect(
            b3.view().into_dyn(),
            Some(bnc.view().into_dyn()),
            None,
            bnc_l,
            &o,
        )
        .unwrap();
        let b = detect(
            b3.view().into_dyn(),
            Some(bcn.view().into_dyn()),
            None,
            Some(Layout::Bcn),
            &o,
        )
        .unwrap();
        // Argmax classes: box 0 → class 1, box 1 → class 0, box 2 → class 2: no suppression.
        assert_eq!(a.keep, vec![0, 1, 2]);
        assert_eq!(
            a.detections.iter().map(|d| d.class).collect::<Vec<_>>(),
            vec![1, 0, 2]
        );
        assert_eq!(a, b);
        // yolov8 [1, 4+C, A] in cxcywh.
        let mut y8 = Array3::<f32>::zeros((1, 7, 3));
        for (i, bx) in boxes.iter().enumerate() {
            let c = [
                (bx[0] + bx[2]) / 2.0,
                (bx[1] + bx[3]) / 2.0,
                bx[2] - bx[0],
                bx[3] - bx[1],
            ];
            for k in 0..4 {
                y8[[0, k, i]] = c[k];
            }
            for k in 0..3 {
                y8[[0, 4 + k, i]] = cls[i][k];
            }
        }
        let oc = NmsOptions {
            box_format: BoxFormat::Cxcywh,
            ..o.clone()
        };
        let y = detect(y8.view().into_dyn(), None, None, Some(Layout::Yolov8), &oc).unwrap();
        assert_eq!(y.keep, a.keep);
        // yolov5 [1, A, 5+C] with objectness 1.0.
        let mut y5 = Array3::<f32>::zeros((1, 3, 8));
        for i in 0..3 {
            for k in 0..4 {
                y5[[0, i, k]] = y8[[0, k, i]];
            }
            y5[[0, i, 4]] = 1.0;
            for k in 0..3 {
                y5[[0, i, 5 + k]] = cls[i][k];
            }
        }
        let y = detect(y5.view().into_dyn(), None, None, Some(Layout::Yolov5), &oc).unwrap();
        assert_eq!(y.keep, a.keep);
        // Class-agnostic: box 0 (0.8) suppresses box 1 (0.7; IoU 81/119).
        let ag = NmsOptions {
            class_agnostic: true,
            ..o.clone()
        };
        let a = detect(
            b3.view().into_dyn(),
            Some(bnc.view().into_dyn()),
            None,
            bnc_l,
            &ag,
        )
        .unwrap();
        assert_eq!(a.keep, vec![0, 2]);
        // Multi-label with a threshold: each (box, class) above 0.15 is a candidate.
        let ml = NmsOptions {
            multi_label: true,
            score_threshold: Some(0.15),
            ..o.clone()
        };
        let m = detect(
            b3.view().into_dyn(),
            Some(bnc.view().into_dyn()),
            None,
            bnc_l,
            &ml,
        )
        .unwrap();
        let got: Vec<(usize, i64)> = m.detections.iter().map(|d| (d.index, d.class)).collect();
        // Class 0: (1,0) 0.7 and (2,0) 0.2, disjoint, both kept. Class 1: (0,1) 0.8
        // suppresses (1,1) 0.2; (2,1) 0.3 kept. Class 2: (2,2) 0.6. Scores ≤ 0.15 drop out.
        assert_eq!(got, vec![(0, 1), (1, 0), (2, 2), (2, 1), (2, 0)]);
    }

    #[test]
    fn objectness_multiplies_class_scores() {
        // One anchor, obj 0.5, classes [0.2, 0.9]: score 0.45, class 1.
        let t = Array3::from_shape_vec((1, 1, 7), vec![5.0, 5.0, 2.0, 2.0, 0.5, 0.2, 0.9]).unwrap();
        let o = NmsOptions {
            box_format: BoxFormat::Cxcywh,
            score_threshold: Some(0.4),
            ..opts(0.5)
        };
        let d = detect(t.view().into_dyn(), None, None, Some(Layout::Yolov5), &o).unwrap();
        assert_eq!(d.detections.len(), 1);
        assert_eq!(d.detections[0].class, 1);
        assert_eq!(d.detections[0].score, 0.45);
        assert_eq!(d.detections[0].bbox, [5.0, 5.0, 2.0, 2.0]);
    }

    #[test]
    fn batch_items_are_independent() {
        let b = ndarray::arr3(&[
            [[0.0f32, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0]],
            [[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]],
        ]);
        let s = arr2(&[[0.9f32, 0.8], [0.9, 0.8]]);
        let d = detect(
            b.view().into_dyn(),
            Some(s.view().into_dyn()),
            None,
            None,
            &opts(0.5),
        )
        .unwrap();
        let got: Vec<(Option<usize>, usize)> =
            d.detections.iter().map(|d| (d.batch, d.index)).collect();
        assert_eq!(got, vec![(Some(0), 0), (Some(1), 0), (Some(1), 1)]);
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["detections"][0]["batch"], 0);
        assert_eq!(json["keep"], serde_json::json!([0, 0, 1]));
    }

    #[test]
    fn layout_errors_say_what_was_expected() {
        let b = Array2::<f32>::zeros((5, 3));
        let s = Array1::<f32>::zeros(5);
        let e = detect(
            b.view().into_dyn(),
            Some(s.view().into_dyn()),
            None,
            None,
            &opts(0.5),
        )
        .unwrap_err();
        assert!(e.to_string().contains("[N,4]"), "{e}");
        let b = Array2::<f32>::zeros((5, 4));
        let s = Array1::<f32>::zeros(6);
        let e = detect(
            b.view().into_dyn(),
            Some(s.view().into_dyn()),
            None,
            None,
            &opts(0.5),
        )
        .unwrap_err();
        assert!(e.to_string().contains("scores"), "{e}");
        let e = detect(b.view().into_dyn(), None, None, None, &opts(0.5)).unwrap_err();
        assert!(e.to_string().contains("yolov8"), "{e}");
        let sq = Array2::<f32>::zeros((5, 5));
        let e = detect(
            b.view().into_dyn(),
            Some(sq.view().into_dyn()),
            None,
            None,
            &opts(0.5),
        )
        .unwrap_err();
        assert!(e.to_string().contains("bnc or bcn"), "{e}");
    }

    // --- The command. --------------------------------------------------------------------------

    fn args(dir: &std::path::Path) -> NmsArgs {
        NmsArgs {
            boxes: dir.join("b.npy"),
            scores: Some(dir.join("s.npy")),
            classes: None,
            iou_threshold: 0.5,
            score_threshold: None,
            box_format: None,
            max_per_class: None,
            max_detections: None,
            class_agnostic: false,
            multi_label: false,
            nms_semantics: Semantics::Torchvision,
            layout: None,
            format: OutputFormat::Json,
            output_dir: None,
        }
    }

    #[test]
    fn command_json_and_output_dir() {
        let dir = tempfile::tempdir().unwrap();
        npyio::write(
            &dir.path().join("b.npy"),
            &arr2(&[
                [0.0f32, 0.0, 10.0, 10.0],
                [1.0, 1.0, 11.0, 11.0],
                [20.0, 0.0, 30.0, 10.0],
            ]),
        )
        .unwrap();
        npyio::write(&dir.path().join("s.npy"), &arr1(&[0.8f32, 0.9, 0.7])).unwrap();
        npyio::write(&dir.path().join("c.npy"), &arr1(&[0i32, 0, 3])).unwrap();
        let mut a = args(dir.path());
        a.classes = Some(dir.path().join("c.npy"));
        a.output_dir = Some(dir.path().join("out"));
        let text = run_nms(&a).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["keep"], serde_json::json!([1, 2]));
        let d0 = v["detections"][0].as_object().unwrap();
        assert_eq!(
            d0.keys().collect::<Vec<_>>(),
            ["index", "box", "score", "class"]
        );
        assert_eq!(v["detections"][1]["class"], 3);
        assert_eq!(
            v["detections"][1]["box"],
            serde_json::json!([20.0, 0.0, 30.0, 10.0])
        );
        let keep = npyio::read(&dir.path().join("out/keep.npy")).unwrap();
        assert_eq!(keep.dtype(), "int64");
        assert_eq!(
            keep.into_labels("k").unwrap().into_raw_vec_and_offset().0,
            vec![1, 2]
        );
        let boxes = npyio::read(&dir.path().join("out/boxes.npy")).unwrap();
        assert_eq!(boxes.shape(), &[2, 4]);
        for f in ["scores.npy", "classes.npy"] {
            assert!(dir.path().join("out").join(f).exists(), "{f}");
        }
        assert!(!dir.path().join("out/batch.npy").exists());

        a.format = OutputFormat::Table;
        let t = run_nms(&a).unwrap();
        assert!(t.starts_with("2 kept of 3 candidates"), "{t}");
        assert!(t.contains("index  class   score"), "{t}");
    }

    #[derive(clap::Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        args: NmsArgs,
    }

    #[test]
    fn command_line_parses() {
        use clap::{CommandFactory, Parser};
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "nms",
            "--boxes",
            "b.npy",
            "--scores",
            "s.npy",
            "--iou-threshold",
            "0.45",
            "--score-threshold",
            "0.25",
            "--box-format",
            "cxcywh",
            "--max-per-class",
            "100",
            "--max-detections",
            "300",
            "--nms-semantics",
            "onnx",
            "--layout",
            "bcn",
            "--format",
            "json",
            "--output-dir",
            "out",
        ])
        .unwrap();
        let o = cli.args.options();
        assert_eq!((o.iou_threshold, o.score_threshold), (0.45, Some(0.25)));
        assert_eq!(
            (o.box_format, o.semantics),
            (BoxFormat::Cxcywh, Semantics::Onnx)
        );
        assert_eq!((o.max_per_class, o.max_detections), (Some(100), Some(300)));
        assert_eq!(cli.args.layout, Some(Layout::Bcn));
        // The yolo layouts default to centre boxes.
        let cli = Cli::try_parse_from([
            "nms",
            "--boxes",
            "y.npy",
            "--layout",
            "yolo",
            "--class-agnostic",
        ])
        .unwrap();
        assert_eq!(cli.args.layout, Some(Layout::Yolov8));
        assert_eq!(cli.args.options().box_format, BoxFormat::Cxcywh);
        assert!(cli.args.options().class_agnostic);
        assert!(Cli::try_parse_from(["nms", "--boxes", "b.npy", "--nms-semantics", "tf"]).is_err());
    }

    #[test]
    fn command_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let e = run_nms(&args(dir.path())).unwrap_err();
        assert!(e.to_string().contains("b.npy"), "{e}");
        npyio::write(&dir.path().join("b.npy"), &Array2::<f32>::zeros((3, 5))).unwrap();
        npyio::write(&dir.path().join("s.npy"), &Array1::<f32>::zeros(3)).unwrap();
        let e = run_nms(&args(dir.path())).unwrap_err().to_string();
        assert!(
            e.contains("boxes file") && e.contains("b.npy") && e.contains("[N,4]"),
            "{e}"
        );
        npyio::write(&dir.path().join("b.npy"), &Array2::<i32>::zeros((3, 4))).unwrap();
        let e = run_nms(&args(dir.path())).unwrap_err().to_string();
        assert!(
            e.contains("b.npy") && e.contains("float32") && e.contains("int32"),
            "{e}"
        );
        npyio::write(&dir.path().join("b.npy"), &Array2::<f32>::zeros((3, 4))).unwrap();
        npyio::write(&dir.path().join("s.npy"), &Array1::<f32>::zeros(4)).unwrap();
        let e = run_nms(&args(dir.path())).unwrap_err().to_string();
        assert!(e.contains("scores file") && e.contains("s.npy"), "{e}");
    }
}
