//! Non-maximum suppression: box formats, IoU, greedy NMS with torchvision or ONNX
//! `NonMaxSuppression` semantics, and the detector output layouts it reads.
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
//!
//! # Layout
//!
//! [`geometry`] (box formats, IoU), [`greedy`] (score order, thresholds, the greedy core,
//! candidates and output order), [`grid`] (the bucketed fast path), [`layout`] (detector
//! output layouts, [`detect`], [`detect_files`]); this file holds the options and results,
//! the synthetic boxes of the benchmarks, and the renderings.

pub mod geometry;
pub mod greedy;
pub mod grid;
pub mod layout;

use std::fmt::Write as _;

use ndarray::{Array1, Array2};
use serde::Serialize;

use super::npyio;
use super::PostError;
use crate::report::{Format, Render};

pub use geometry::iou;
pub use greedy::nms;
pub use layout::{detect, detect_files};

/// How the four numbers of a box are to be read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Semantics {
    #[default]
    Torchvision,
    Onnx,
}

/// How detector outputs are laid out. `B` is the batch (optional: a missing batch axis means
/// `B = 1`), `N` or `A` the boxes (anchors), `C` the classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Boxes `[B,N,4]`, one score per box `[B,N]`, optional class ids `[B,N]`.
    Flat,
    /// Boxes `[B,N,4]`, scores `[B,N,C]`.
    Bnc,
    /// Boxes `[B,N,4]`, scores `[B,C,N]` (the ONNX operator's layout).
    Bcn,
    /// One tensor `[B,4+C,A]`: box then class scores down axis 1 (YOLOv8 and later).
    Yolov8,
    /// One tensor `[B,A,5+C]`: box, objectness, class scores; score = objectness × class score
    /// (YOLOv5).
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

crate::choices!(BoxFormat {
    "xyxy" => BoxFormat::Xyxy; "Two corners: `(x1, y1, x2, y2)`",
    "xywh" => BoxFormat::Xywh; "Top-left corner, width and height: `(x, y, w, h)`",
    "cxcywh" => BoxFormat::Cxcywh; "Centre, width and height: `(cx, cy, w, h)`",
});

crate::choices!(Semantics {
    "torchvision" => Semantics::Torchvision,
    "onnx" => Semantics::Onnx,
});

crate::choices!(Layout {
    "flat" => Layout::Flat; "Boxes `[B,N,4]`, one score per box `[B,N]`, optional class ids `[B,N]`",
    "bnc" => Layout::Bnc; "Boxes `[B,N,4]`, scores `[B,N,C]`",
    "bcn" => Layout::Bcn; "Boxes `[B,N,4]`, scores `[B,C,N]` (the ONNX operator's layout)",
    "yolov8" => Layout::Yolov8;
        "One tensor `[B,4+C,A]`: box then class scores down axis 1 (YOLOv8 and later)",
    "yolo" => Layout::Yolov8,
    "yolov5" => Layout::Yolov5;
        "One tensor `[B,A,5+C]`: box, objectness, class scores; score = objectness × class score (YOLOv5)",
    "yolo-obj" => Layout::Yolov5,
});

impl BoxFormat {
    /// The box format a layout implies when none is given: centre boxes for the YOLO layouts,
    /// corners otherwise.
    pub fn default_for(layout: Option<Layout>) -> BoxFormat {
        if matches!(layout, Some(Layout::Yolov8 | Layout::Yolov5)) {
            BoxFormat::Cxcywh
        } else {
            BoxFormat::Xyxy
        }
    }
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

/// Detections with the options that made them, ready to render.
pub struct NmsView<'a> {
    pub detections: &'a Detections,
    pub options: &'a NmsOptions,
    /// JSON on one line (the same document, without indentation).
    pub compact: bool,
}

impl Render for NmsView<'_> {
    const FORMATS: &'static [Format] = &[Format::Table, Format::Json];

    fn render_to(&self, format: Format) -> crate::Result<String> {
        Ok(match format {
            Format::Json if self.compact => {
                serde_json::to_string(self.detections).expect("serialisable") + "\n"
            }
            Format::Json => {
                serde_json::to_string_pretty(self.detections).expect("serialisable") + "\n"
            }
            _ => render_table(self.detections, self.options),
        })
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::*;
    use ndarray::{arr1, arr2};

    pub(crate) fn opts(iou_threshold: f64) -> NmsOptions {
        NmsOptions {
            iou_threshold,
            ..Default::default()
        }
    }

    pub(crate) fn run(boxes: &[[f32; 4]], scores: &[f32], o: &NmsOptions) -> Vec<usize> {
        nms(arr2(boxes).view(), arr1(scores).view(), None, o).unwrap()
    }
}
