//! The uniform grid that makes greedy NMS fast on many boxes: each class's candidates bucketed
//! in cells about 1.5 times the mean box, stored column-wise, and tested eight at a time
//! (SSE2 on x86_64) with a conservative float32 bound before the exact IoU.

use super::geometry::{overlap_iou, Geo, EMPTY};

/// Lanes of the branch-free pair test.
pub(super) const LANES: usize = 8;

/// A uniform grid over the live boxes. Cell `(cx, cy)` lists, in rank order, every live box
/// whose closed extent meets the cell, stored as columns (struct of arrays) so that pairs are
/// tested [`LANES`] at a time without branches. Cell coordinates are monotone functions of box
/// coordinates, so two overlapping boxes share every cell that holds a point of their
/// overlap, in particular the cell `(max(cx1_a, cx1_b), max(cy1_a, cy1_b))` made of the larger
/// of their first columns and rows: the pair is tested there only.
pub(super) struct Grid {
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
pub(super) fn cell_index(v: f32, origin: f64, scale: f64, n: usize) -> usize {
    (((f64::from(v) - origin) * scale) as usize).min(n - 1)
}

/// Cell span `[cx1, cx2, cy1, cy2]` of each box (`[1, 0, 1, 0]`, empty, for dead boxes), and
/// the number of registrations.
pub(super) fn spans(boxes: &[Geo], g: &Grid) -> (Vec<[u32; 4]>, usize) {
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

pub(super) fn build_grid(boxes: &[Geo]) -> (Grid, Vec<[u32; 4]>) {
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
pub(super) const TINY: f32 = 1e-30;

/// Which of the [`LANES`] grid entries from `e` on (bit `k` for entry `e + k`) the kept box
/// `a` may suppress in cell `cell`: they overlap with positive width and height, the pair
/// belongs to this cell (the entry's first column is the cell's unless the cell is in `a`'s
/// first column, `any.0`; likewise for rows), and `inter > union · t_lo`. With
/// `t_lo = t·(1 − 2⁻²⁰)` that last test keeps every pair whose float32 IoU exceeds `t`
/// (float32 rounding moves each side by less than 2⁻²³ relative, unless `union · t_lo` is
/// tiny, in which case the pair is kept too); the caller then decides exactly. Branch-free
/// SSE2 on x86_64; elsewhere the exact decision itself.
#[inline(always)]
pub(super) fn candidate_mask(
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

pub(super) fn greedy_grid(boxes: &[Geo], limit: usize, t: f32) -> Vec<u32> {
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

#[cfg(test)]
mod tests {
    use crate::post::nms::greedy::rank_order;
    use crate::post::nms::test_util::*;
    use crate::post::nms::*;

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
}
