//! `onnxscope nms`: non-maximum suppression on boxes and scores saved as `.npy`; the flags,
//! the NMS options they describe, the optional `.npy` outputs and the rendering.

use std::path::PathBuf;

use clap::Args;

use super::args::{choice, format, TEXT_OR_JSON};
use super::Outcome;
use crate::error::Result;
use crate::post::nms::{self, BoxFormat, Layout, NmsOptions, NmsView, Semantics};
use crate::report::{Format, Render};

/// `onnxscope nms`: NMS on boxes and scores saved as `.npy`.
#[derive(Args, Clone, Debug)]
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
    #[arg(long, value_parser = choice::<BoxFormat>())]
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
    #[arg(long, value_parser = choice::<Semantics>(), default_value_t)]
    pub nms_semantics: Semantics,
    /// How the inputs are laid out [default: inferred from the shapes when scores are given].
    #[arg(long, value_parser = choice::<Layout>())]
    pub layout: Option<Layout>,
    #[arg(long, value_parser = format(NmsView::FORMATS, TEXT_OR_JSON), default_value_t)]
    pub format: Format,
    /// Also write keep.npy, boxes.npy, scores.npy, classes.npy (and batch.npy when B > 1) here.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// JSON on one line: the same document without indentation (for pipes and files; at 10k
    /// boxes printing pretty JSON costs more than the suppression).
    #[arg(long)]
    pub compact: bool,
    /// Write the .npy files of --output-dir and print nothing.
    #[arg(long, requires = "output_dir")]
    pub npy_only: bool,
}

/// NMS options from flags shared by `nms` and `run --nms`: the box format defaults by layout.
macro_rules! nms_options {
    ($a:expr, $layout:expr) => {
        $crate::post::nms::NmsOptions {
            iou_threshold: $a.iou_threshold,
            score_threshold: $a.score_threshold,
            box_format: $a
                .box_format
                .unwrap_or($crate::post::nms::BoxFormat::default_for($layout)),
            class_agnostic: $a.class_agnostic,
            max_per_class: $a.max_per_class,
            max_detections: $a.max_detections,
            semantics: $a.nms_semantics,
            multi_label: $a.multi_label,
        }
    };
}
pub(crate) use nms_options;

impl NmsArgs {
    /// Options for [`nms::detect`] (the box format defaults by layout).
    pub fn options(&self) -> NmsOptions {
        nms_options!(self, self.layout)
    }
}

/// The text the command prints.
fn nms_text(a: &NmsArgs) -> Result<String> {
    let opts = a.options();
    let det = nms::detect_files(
        &a.boxes,
        a.scores.as_deref(),
        a.classes.as_deref(),
        a.layout,
        &opts,
    )?;
    if let Some(dir) = &a.output_dir {
        nms::write_outputs(dir, &det)?;
    }
    if a.npy_only {
        return Ok(String::new());
    }
    NmsView {
        detections: &det,
        options: &opts,
        compact: a.compact,
    }
    .render(a.format)
}

pub fn run(a: &NmsArgs) -> Result<Outcome> {
    Ok(Outcome::ok(nms_text(a)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::post::npyio;
    use ndarray::{arr1, arr2, Array1, Array2};

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
            format: Format::Json,
            output_dir: None,
            compact: false,
            npy_only: false,
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
        let text = nms_text(&a).unwrap();
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

        a.format = Format::Table;
        let t = nms_text(&a).unwrap();
        assert!(t.starts_with("2 kept of 3 candidates"), "{t}");
        assert!(t.contains("index  class   score"), "{t}");

        // --compact: the same document on one line.
        a.format = Format::Json;
        a.compact = true;
        let c = nms_text(&a).unwrap();
        assert_eq!(c.lines().count(), 1, "{c}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&c).unwrap(), v);
        // --npy-only: the files, and nothing printed.
        std::fs::remove_dir_all(dir.path().join("out")).unwrap();
        a.npy_only = true;
        assert_eq!(nms_text(&a).unwrap(), "");
        assert!(dir.path().join("out/keep.npy").exists());
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
        let e = nms_text(&args(dir.path())).unwrap_err();
        assert!(e.to_string().contains("b.npy"), "{e}");
        npyio::write(&dir.path().join("b.npy"), &Array2::<f32>::zeros((3, 5))).unwrap();
        npyio::write(&dir.path().join("s.npy"), &Array1::<f32>::zeros(3)).unwrap();
        let e = nms_text(&args(dir.path())).unwrap_err().to_string();
        assert!(
            e.contains("boxes file") && e.contains("b.npy") && e.contains("[N,4]"),
            "{e}"
        );
        npyio::write(&dir.path().join("b.npy"), &Array2::<i32>::zeros((3, 4))).unwrap();
        let e = nms_text(&args(dir.path())).unwrap_err().to_string();
        assert!(
            e.contains("b.npy") && e.contains("float32") && e.contains("int32"),
            "{e}"
        );
        npyio::write(&dir.path().join("b.npy"), &Array2::<f32>::zeros((3, 4))).unwrap();
        npyio::write(&dir.path().join("s.npy"), &Array1::<f32>::zeros(4)).unwrap();
        let e = nms_text(&args(dir.path())).unwrap_err().to_string();
        assert!(e.contains("scores file") && e.contains("s.npy"), "{e}");
    }
}
