//! The greedy core: the score order (NaN first, ties by position), the float32 threshold of
//! each semantics, pairwise greedy NMS for small groups, and the candidates of one batch item
//! split by class and put in output order.

use ndarray::{ArrayView1, ArrayView2};

use super::geometry::{overlap_iou, Geo};
use super::grid::greedy_grid;
use super::layout::detect;
use super::{Layout, NmsOptions, PostError, Semantics};

/// A sort key for scores: ascending keys put NaN first (as `torch.sort(descending=True)`
/// does), then scores in descending order, with -0.0 equal to 0.0.
#[inline]
pub(super) fn desc_key(s: f32) -> u32 {
    if s.is_nan() {
        return 0;
    }
    let b = (s + 0.0).to_bits(); // -0.0 + 0.0 = 0.0
    let ascending = if b >> 31 == 1 { !b } else { b | 0x8000_0000 };
    u32::MAX - ascending // ≥ 0x007F_FFFF (that of +inf): never 0
}

/// Positions `0..scores.len()` sorted best first; ties keep the lower position first.
pub(super) fn rank_order(scores: &[f32]) -> Vec<u32> {
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
pub(super) fn f32_threshold(iou_threshold: f64, semantics: Semantics) -> f32 {
    let t = iou_threshold as f32;
    match semantics {
        Semantics::Torchvision if f64::from(t) > iou_threshold => t.next_down(),
        _ => t,
    }
}

/// Groups with fewer candidates than this are compared pairwise; building a grid costs more.
pub(super) const DIRECT_MAX: usize = 64;

/// Greedy NMS over `boxes`, which are in rank order (best first). Returns the positions kept,
/// in rank order, stopping after `limit`. A box suppresses a later one when their IoU,
/// computed as torchvision's kernel does, is greater than `t`.
pub(super) fn greedy(boxes: &[Geo], limit: usize, t: f32) -> Vec<u32> {
    if limit == 0 || boxes.is_empty() {
        return Vec::new();
    }
    if boxes.len() <= DIRECT_MAX {
        greedy_direct(boxes, limit, t)
    } else {
        greedy_grid(boxes, limit, t)
    }
}

pub(super) fn greedy_direct(boxes: &[Geo], limit: usize, t: f32) -> Vec<u32> {
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

/// One candidate of one batch item: a box, a class and the score it is ranked by.
#[derive(Clone, Copy, Debug)]
pub(super) struct Candidate {
    pub(super) index: u32,
    pub(super) class: i64,
    pub(super) score: f32,
}

pub(super) fn validate(opts: &NmsOptions) -> Result<(), PostError> {
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
pub(super) fn passes(score: f32, opts: &NmsOptions) -> bool {
    match opts.score_threshold {
        Some(t) => score > t,
        None => !(opts.semantics == Semantics::Onnx && score.is_nan()),
    }
}

/// Runs NMS on the candidates of one batch item; `geo[i]` is box `i`. Returns positions into
/// `cands`, in output order.
#[inline(never)]
pub(super) fn run_candidates(geo: &[Geo], cands: &[Candidate], opts: &NmsOptions) -> Vec<usize> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::post::nms::test_util::*;
    use crate::post::nms::*;
    use ndarray::{arr1, arr2};

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
}
