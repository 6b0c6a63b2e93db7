//! Post-processing glue of `run`: NMS and Dice on the model's outputs held in memory, with
//! errors that name the outputs (and flags) they came from.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::post::dice::{DiceOptions, DiceReport};
use crate::post::nms::{Detections, Layout, NmsOptions};
use crate::post::npyio::{self, NpyArray};

use super::inputs;

/// NMS on the outputs: which outputs hold boxes, scores and classes, their layout, and the
/// NMS options.
#[derive(Clone, Debug, Default)]
pub struct NmsStep {
    /// The output holding the boxes, or the whole detector tensor [default: the only output].
    pub boxes_output: Option<String>,
    pub scores_output: Option<String>,
    pub classes_output: Option<String>,
    /// `None`: YOLOv8 for a single tensor, else inferred from the shapes.
    pub layout: Option<Layout>,
    pub options: NmsOptions,
}

impl NmsStep {
    /// The layout used: the one given, YOLOv8 for a single tensor, else inferred (`None`).
    pub fn resolved_layout(layout: Option<Layout>, scores_output: Option<&str>) -> Option<Layout> {
        match (layout, scores_output) {
            (Some(l), _) => Some(l),
            (None, None) => Some(Layout::Yolov8),
            (None, Some(_)) => None,
        }
    }
}

/// Dice of one output against a target file.
#[derive(Clone, Debug, Default)]
pub struct DiceStep {
    /// `.npy`, or a PNG/JPEG label map.
    pub target: PathBuf,
    /// The output scored [default: the only output].
    pub output: Option<String>,
    pub options: DiceOptions,
}

fn find_output<'a>(outs: &'a [(String, NpyArray)], name: &str, flag: &str) -> Result<&'a NpyArray> {
    outs.iter()
        .find(|(n, _)| n == name)
        .map(|(_, a)| a)
        .ok_or_else(|| {
            Error::usage(
                flag,
                format!(
                    "the model has no output '{name}'; its outputs: {}",
                    outs.iter()
                        .map(|(n, _)| format!("'{n}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
}

fn only_output<'a>(outs: &'a [(String, NpyArray)], flag: &str) -> Result<&'a str> {
    if outs.len() == 1 {
        return Ok(&outs[0].0);
    }
    Err(Error::usage(
        flag,
        format!(
            "the model has {} outputs ({}): name the one to use",
            outs.len(),
            outs.iter()
                .map(|(n, _)| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

/// NMS on the outputs `n` names.
pub(super) fn run_nms(
    n: &NmsStep,
    outs: &[(String, NpyArray)],
) -> Result<(Detections, NmsOptions)> {
    let boxes_name = match &n.boxes_output {
        Some(b) => b.as_str(),
        None if n.scores_output.is_some() => {
            return Err(Error::usage(
                "--scores-output",
                "needs --boxes-output too (the output holding the boxes)",
            ))
        }
        None => only_output(outs, "--boxes-output")?,
    };
    let layout = NmsStep::resolved_layout(n.layout, n.scores_output.as_deref());
    let opts = n.options.clone();
    let what = |name: &str| format!("output '{name}'");
    let boxes = find_output(outs, boxes_name, "--boxes-output")?
        .clone()
        .into_f32(&what(boxes_name))?;
    let scores = match &n.scores_output {
        Some(s) => Some(
            find_output(outs, s, "--scores-output")?
                .clone()
                .into_f32(&what(s))?,
        ),
        None => None,
    };
    let classes = match &n.classes_output {
        Some(c) => Some(
            find_output(outs, c, "--classes-output")?
                .clone()
                .into_labels(&what(c))?,
        ),
        None => None,
    };
    let det = crate::post::detect(
        boxes.view(),
        scores.as_ref().map(|s| s.view()),
        classes.as_ref().map(|c| c.view()),
        layout,
        &opts,
    )
    .map_err(|e| {
        let mut from = format!("boxes = output '{boxes_name}'");
        if let Some(s) = &n.scores_output {
            let _ = write!(from, ", scores = output '{s}'");
        }
        if let Some(c) = &n.classes_output {
            let _ = write!(from, ", classes = output '{c}'");
        }
        Error::usage("--nms", format!("{e} ({from})"))
    })?;
    Ok((det, opts))
}

/// A Dice target: `.npy` of any numeric dtype, or a PNG/JPEG label map `[1,1,H,W]`.
fn read_target(path: &std::path::Path) -> Result<ndarray::ArrayD<f32>> {
    if !inputs::is_image(path) {
        return Ok(npyio::read(path)?.into_f32_lossy());
    }
    let img = inputs::decode_image(path).map_err(|e| match e {
        Error::Usage { message, .. } => Error::usage("--dice", message),
        other => other,
    })?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let values: Vec<f32> = match &img {
        image::DynamicImage::ImageLuma16(g) => g.as_raw().iter().map(|v| *v as f32).collect(),
        other => other
            .to_luma8()
            .as_raw()
            .iter()
            .map(|v| *v as f32)
            .collect(),
    };
    let mask = values.iter().all(|v| *v == 0.0 || *v == 255.0) && values.contains(&255.0);
    let values = if mask {
        values.into_iter().map(|v| v / 255.0).collect()
    } else {
        values
    };
    Ok(ndarray::ArrayD::from_shape_vec(vec![1, 1, h, w], values).expect("sizes agree"))
}

/// Dice of the output `d` names against its target.
pub(super) fn run_dice(
    d: &DiceStep,
    outs: &[(String, NpyArray)],
) -> Result<(DiceReport, DiceOptions)> {
    let target_path = d.target.as_path();
    let name = match &d.output {
        Some(n) => n.as_str(),
        None => only_output(outs, "--dice-output")?,
    };
    let pred = find_output(outs, name, "--dice-output")?
        .clone()
        .into_f32(&format!("output '{name}'"))?;
    let target = read_target(target_path)?;
    let opts = d.options.clone();
    let report = crate::post::dice(pred.view(), target.view(), &opts).map_err(|e| {
        Error::usage(
            "--dice",
            format!(
                "{e} (pred = output '{name}', target = {})",
                target_path.display()
            ),
        )
    })?;
    Ok((report, opts))
}
