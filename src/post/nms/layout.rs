//! Detector output layouts: flat, `[B,N,C]`, `[B,C,N]`, YOLOv8 `[B,4+C,A]` and YOLOv5
//! `[B,A,5+C]`, inferred from the shapes when scores are given; [`detect`] reads them into
//! candidates and runs NMS per batch item; [`detect_files`] does the same on `.npy` files.

use std::path::Path;

use ndarray::{ArrayView2, ArrayView3, ArrayViewD, Axis, Ix2, Ix3};

use super::geometry::{corners, Geo};
use super::greedy::{passes, run_candidates, validate, Candidate};
use super::{Detection, Detections, Layout, NmsOptions, PostError, Semantics};
use crate::post::npyio::{self, file_label};

/// What each input is called in messages.
pub(super) struct Names<'a> {
    pub(super) boxes: &'a str,
    pub(super) scores: &'a str,
    pub(super) classes: &'a str,
}

pub(super) const LIB_NAMES: Names<'static> = Names {
    boxes: "boxes",
    scores: "scores",
    classes: "classes",
};

pub(super) fn shape_err(what: &str, expected: &str, got: &[usize]) -> PostError {
    PostError::Shape {
        what: what.to_string(),
        expected: expected.to_string(),
        got: got.to_vec(),
    }
}

/// Adds a batch axis of 1 when `a` has `rank - 1` axes.
pub(super) fn batched<'a, T>(a: ArrayViewD<'a, T>, rank: usize) -> Option<ArrayViewD<'a, T>> {
    if a.ndim() + 1 == rank {
        Some(a.insert_axis(Axis(0)))
    } else if a.ndim() == rank {
        Some(a)
    } else {
        None
    }
}

pub(super) fn resolve_layout(
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
pub(super) enum ClassScores<'a> {
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
pub(super) fn argmax_class(cs: &ClassScores, i: usize) -> (usize, f32) {
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

pub(super) fn detect_named(
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

/// [`detect`] on `.npy` files; messages name each file (`boxes file 'b.npy'`).
pub fn detect_files(
    boxes: &Path,
    scores: Option<&Path>,
    classes: Option<&Path>,
    layout: Option<Layout>,
    opts: &NmsOptions,
) -> Result<Detections, PostError> {
    let bname = file_label("boxes", boxes);
    let boxes = npyio::read(boxes)?.into_f32(&bname)?;
    let (sname, scores) = match scores {
        Some(p) => {
            let name = file_label("scores", p);
            let s = npyio::read(p)?.into_f32(&name)?;
            (name, Some(s))
        }
        None => (String::from("scores"), None),
    };
    let (cname, classes) = match classes {
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
    detect_named(
        boxes.view(),
        scores.as_ref().map(|s| s.view()),
        classes.as_ref().map(|c| c.view()),
        layout,
        opts,
        &names,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::post::nms::test_util::*;
    use crate::post::nms::*;
    use ndarray::{arr2, Array3};

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
}
