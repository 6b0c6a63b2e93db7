//! `onnxscope dice`: Dice loss and scores of a prediction against a target, both `.npy`; the
//! flags and the MONAI options they describe (shared with `run --dice`).

use std::path::PathBuf;

use clap::Args;

use super::args::{choice, format, TEXT_OR_JSON};
use super::Outcome;
use crate::error::Result;
use crate::post::dice::{self, DiceOptions, DiceView, Reduction};
use crate::report::{Format, Render};

/// `onnxscope dice`: Dice loss and scores of a prediction against a target, both `.npy`.
#[derive(Args, Clone, Debug)]
pub struct DiceArgs {
    /// Prediction `[N,C,...]`: probabilities, or logits with --sigmoid/--softmax.
    #[arg(long, value_name = "P.npy")]
    pub pred: PathBuf,
    /// Target: one-hot `[N,C,...]`, or a label map `[N,1,...]`/`[N,...]` with --to-onehot-y.
    #[arg(long, value_name = "T.npy")]
    pub target: PathBuf,
    /// Score channel 0 too [default].
    #[arg(long, overrides_with = "exclude_background")]
    pub include_background: bool,
    /// Leave channel 0 (background) out.
    #[arg(long, overrides_with = "include_background")]
    pub exclude_background: bool,
    /// Apply a sigmoid to the prediction.
    #[arg(long, conflicts_with = "softmax")]
    pub sigmoid: bool,
    /// Apply a softmax over the class axis.
    #[arg(long)]
    pub softmax: bool,
    /// Denominator Σp² + Σt².
    #[arg(long)]
    pub squared_pred: bool,
    /// Jaccard (soft IoU) instead of Dice.
    #[arg(long)]
    pub jaccard: bool,
    /// Reduction of the loss over items and classes.
    #[arg(long, value_parser = choice::<Reduction>(), default_value_t)]
    pub reduction: Reduction,
    /// Added to the numerator.
    #[arg(long, default_value_t = 1e-5, value_name = "X")]
    pub smooth_nr: f64,
    /// Added to the denominator.
    #[arg(long, default_value_t = 1e-5, value_name = "X")]
    pub smooth_dr: f64,
    /// Sum over the batch before dividing (one loss per class).
    #[arg(long)]
    pub batch: bool,
    /// Hard Dice of the mask `p >= T` (after the activation).
    #[arg(long, value_name = "T", conflicts_with = "argmax")]
    pub threshold: Option<f32>,
    /// Hard Dice of the argmax over classes.
    #[arg(long)]
    pub argmax: bool,
    /// The target is a label map of class ids.
    #[arg(long)]
    pub to_onehot_y: bool,
    /// Hard Dice: an empty target scores NaN and is left out of averages [default].
    #[arg(long, overrides_with = "no_ignore_empty")]
    pub ignore_empty: bool,
    /// Hard Dice: an empty target scores 1 if the prediction is empty too, else 0.
    #[arg(long, overrides_with = "ignore_empty")]
    pub no_ignore_empty: bool,
    #[arg(long, value_parser = format(DiceView::FORMATS, TEXT_OR_JSON), default_value_t)]
    pub format: Format,
}

/// Dice options from flags shared by `dice` and `run --dice`.
macro_rules! dice_options {
    ($a:expr) => {{
        use $crate::post::dice::{Activation, Discretize};
        $crate::post::dice::DiceOptions {
            include_background: !$a.exclude_background,
            activation: if $a.sigmoid {
                Activation::Sigmoid
            } else if $a.softmax {
                Activation::Softmax
            } else {
                Activation::None
            },
            squared_pred: $a.squared_pred,
            jaccard: $a.jaccard,
            reduction: $a.reduction,
            smooth_nr: $a.smooth_nr,
            smooth_dr: $a.smooth_dr,
            batch: $a.batch,
            to_onehot_y: $a.to_onehot_y,
            discretize: match ($a.threshold, $a.argmax) {
                (Some(t), _) => Some(Discretize::Threshold(t)),
                (None, true) => Some(Discretize::Argmax),
                (None, false) => None,
            },
            ignore_empty: !$a.no_ignore_empty,
        }
    }};
}
pub(crate) use dice_options;

impl DiceArgs {
    /// Options for [`dice::dice`].
    pub fn options(&self) -> DiceOptions {
        dice_options!(self)
    }
}

/// The text the command prints.
fn dice_text(a: &DiceArgs) -> Result<String> {
    let opts = a.options();
    let report = dice::dice_files(&a.pred, &a.target, &opts)?;
    DiceView {
        report: &report,
        options: &opts,
    }
    .render(a.format)
}

pub fn run(a: &DiceArgs) -> Result<Outcome> {
    Ok(Outcome::ok(dice_text(a)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::post::dice::{Activation, Discretize};
    use crate::post::npyio;
    use ndarray::{ArrayD, IxDyn};

    fn arr(shape: &[usize], v: &[f32]) -> ArrayD<f32> {
        ArrayD::from_shape_vec(IxDyn(shape), v.to_vec()).unwrap()
    }

    fn args(dir: &std::path::Path) -> DiceArgs {
        DiceArgs {
            pred: dir.join("p.npy"),
            target: dir.join("t.npy"),
            include_background: false,
            exclude_background: false,
            sigmoid: false,
            softmax: true,
            squared_pred: false,
            jaccard: false,
            reduction: Reduction::Mean,
            smooth_nr: 1e-5,
            smooth_dr: 1e-5,
            batch: false,
            threshold: None,
            argmax: true,
            to_onehot_y: true,
            ignore_empty: false,
            no_ignore_empty: false,
            format: Format::Json,
        }
    }

    #[test]
    fn command_json_and_table() {
        let dir = tempfile::tempdir().unwrap();
        let p = arr(&[1, 2, 1, 2], &[0.0, 3.0, 3f32.ln(), 0.0]);
        npyio::write(&dir.path().join("p.npy"), &p).unwrap();
        npyio::write(&dir.path().join("t.npy"), &ndarray::arr3(&[[[1u8, 0]]])).unwrap();
        let a = args(dir.path());
        let v: serde_json::Value = serde_json::from_str(&dice_text(&a).unwrap()).unwrap();
        assert!(v["loss"].is_number(), "{v}");
        assert_eq!(v["dice"]["per_class"].as_array().unwrap().len(), 2);
        assert!(v["dice"]["mean"].is_number());
        assert_eq!(v["dice"]["kind"], "hard");
        // Voxel 0: logits [0, ln 3] → class 1 (label 1); voxel 1: [3, 0] → class 0 (label 0).
        assert_eq!(v["dice"]["per_class"], serde_json::json!([1.0, 1.0]));
        let mut a = args(dir.path());
        a.format = Format::Table;
        a.exclude_background = true;
        let t = dice_text(&a).unwrap();
        assert!(t.starts_with("Dice loss (mean): "), "{t}");
        assert!(t.contains("hard Dice, argmax") && t.contains("mean"), "{t}");
    }

    #[derive(clap::Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        args: DiceArgs,
    }

    #[test]
    fn command_line_parses() {
        use clap::{CommandFactory, Parser};
        Cli::command().debug_assert();
        let base = ["dice", "--pred", "p.npy", "--target", "t.npy"];
        let parse = |extra: &[&str]| {
            Cli::try_parse_from(base.iter().chain(extra)).map(|c| c.args.options())
        };
        let o = parse(&[]).unwrap();
        assert_eq!(o, DiceOptions::default());
        let o = parse(&[
            "--exclude-background",
            "--softmax",
            "--squared-pred",
            "--jaccard",
            "--reduction",
            "none",
            "--smooth-nr",
            "0",
            "--smooth-dr",
            "1e-6",
            "--batch",
            "--argmax",
            "--to-onehot-y",
            "--no-ignore-empty",
        ])
        .unwrap();
        assert!(!o.include_background && o.squared_pred && o.jaccard && o.batch && o.to_onehot_y);
        assert_eq!(
            (o.activation, o.reduction),
            (Activation::Softmax, Reduction::None)
        );
        assert_eq!((o.smooth_nr, o.smooth_dr), (0.0, 1e-6));
        assert_eq!(o.discretize, Some(Discretize::Argmax));
        assert!(!o.ignore_empty);
        // The last of a flag pair wins.
        assert!(
            parse(&["--exclude-background", "--include-background"])
                .unwrap()
                .include_background
        );
        assert!(
            parse(&["--no-ignore-empty", "--ignore-empty"])
                .unwrap()
                .ignore_empty
        );
        let o = parse(&["--sigmoid", "--threshold", "0.3"]).unwrap();
        assert_eq!(
            (o.activation, o.discretize),
            (Activation::Sigmoid, Some(Discretize::Threshold(0.3)))
        );
        // MONAI rejects both activations at once; one discretisation at a time.
        assert!(parse(&["--sigmoid", "--softmax"]).is_err());
        assert!(parse(&["--threshold", "0.5", "--argmax"]).is_err());
    }

    #[test]
    fn command_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let e = dice_text(&args(dir.path())).unwrap_err().to_string();
        assert!(e.contains("p.npy"), "{e}");
        npyio::write(&dir.path().join("p.npy"), &arr(&[1, 2, 3], &[0.0; 6])).unwrap();
        npyio::write(&dir.path().join("t.npy"), &arr(&[1, 1, 4], &[0.0; 4])).unwrap();
        let e = dice_text(&args(dir.path())).unwrap_err().to_string();
        assert!(
            e.contains("target file") && e.contains("t.npy") && e.contains("[1, 1, 3]"),
            "{e}"
        );
        npyio::write(&dir.path().join("p.npy"), &ndarray::arr3(&[[[1i64, 2, 3]]])).unwrap();
        let e = dice_text(&args(dir.path())).unwrap_err().to_string();
        assert!(e.contains("pred file") && e.contains("int64"), "{e}");
    }
}
