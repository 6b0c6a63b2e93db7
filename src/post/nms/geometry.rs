//! Boxes and IoU: box formats converted to corners the way `torchvision.ops.box_convert`
//! does, the corners each semantics works on, and the float32 IoU of torchvision's CPU kernel.

use super::{BoxFormat, Semantics};

/// Converts a box to `(x1, y1, x2, y2)` the way `torchvision.ops.box_convert` does.
#[inline]
pub(super) fn to_xyxy(b: [f32; 4], fmt: BoxFormat) -> [f32; 4] {
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
pub(super) fn corners(b: [f32; 4], fmt: BoxFormat, semantics: Semantics) -> [f32; 4] {
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
pub(super) struct Geo {
    pub(super) x1: f32,
    pub(super) y1: f32,
    pub(super) x2: f32,
    pub(super) y2: f32,
    pub(super) area: f32,
}

pub(super) const EMPTY: Geo = Geo {
    x1: f32::INFINITY,
    y1: f32::INFINITY,
    x2: f32::NEG_INFINITY,
    y2: f32::NEG_INFINITY,
    area: 0.0,
};

impl Geo {
    #[inline]
    pub(super) fn new(c: [f32; 4]) -> Geo {
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
    pub(super) fn live(&self) -> bool {
        self.x2 > self.x1
    }
}

/// IoU of two boxes that overlap with positive width and height, else `None`. The arithmetic
/// is torchvision's CPU kernel (`inter / (area_kept + area_other - inter)` in float32), which
/// onnxruntime shares for such boxes.
#[inline(always)]
pub(super) fn overlap_iou(a: &Geo, b: &Geo) -> Option<f32> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::post::nms::test_util::*;
    use crate::post::nms::*;

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
}
