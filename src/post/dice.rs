//! Dice and Jaccard for segmentation outputs: MONAI's `DiceLoss` (soft, on probabilities) and
//! `DiceMetric` (hard, after a threshold or an argmax), per class, on `[N,C,...]` predictions
//! of any spatial rank, computed in one pass; [`dice_files`] reads `.npy` files.
//!
//! # What is computed
//!
//! With `p` the prediction (after `sigmoid` or `softmax` over `C` when asked) and `t` the
//! target (one-hot, or a label map turned one-hot by `to_onehot_y`), per item `n` and class
//! `c` (or per class over the whole batch with `batch`), summing over space:
//!
//! * loss `f = 1 − (2·Σp·t + smooth_nr) / (Σp + Σt + smooth_dr)`; with `squared_pred` the
//!   denominator is `Σp² + Σt²`; with `jaccard` it is `2·(Σp + Σt − Σp·t) + smooth_dr` (MONAI
//!   keeps the factor 2 of the numerator there too). `reduction` then takes the mean or the
//!   sum of `f` over items and classes, or keeps them all (`none`).
//! * soft Dice per class: `1 − f`, averaged over items.
//! * hard Dice (with `threshold` or `argmax`): the prediction becomes a mask `h` (`p ≥ T`, as
//!   MONAI's `AsDiscrete(threshold=T)`; or the class of the largest score, first on ties,
//!   taken on the raw scores since both activations are monotone), then as `DiceMetric`:
//!   `2·Σh·t / (Σt + Σh)` with no smoothing.
//!
//! Sums are accumulated in float64; activations are computed in float32 like PyTorch.
//!
//! # Empty masks (hard Dice, as MONAI's `DiceMetric`)
//!
//! When the target of an (item, class) is empty (`Σt = 0`): with `ignore_empty` (the default)
//! the score is NaN, i.e. left out of the averages, *whatever the prediction* (a false
//! positive on an empty target is not penalised); without it the score is 1 when the
//! prediction is empty too and 0 otherwise. Averages follow MONAI's reductions: a class
//! averages its non-NaN items (`mean_batch`); the overall mean averages, over items with at
//! least one valid class, each item's average over its valid classes (`mean`); with nothing
//! valid the result is 0, as in MONAI. The soft loss has no empty rule: the smoothing terms
//! give `1 − smooth_nr / smooth_dr` (0 with the defaults) when both are empty.
//!
//! # Single-channel predictions (as MONAI)
//!
//! With `C = 1`, `softmax`, `to_onehot_y` and excluding the background are ignored with a
//! warning; the hard score compares `h` with `t == 1`. An argmax needs `C ≥ 2`.

use std::fmt::Write as _;
use std::path::Path;

use ndarray::ArrayViewD;
use serde::Serialize;

use super::npyio::{self, file_label};
use super::PostError;
use crate::report::{Format, Render};

/// What is applied to the prediction before the sums.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// The prediction is already a probability.
    #[default]
    None,
    Sigmoid,
    /// Softmax over the class axis.
    Softmax,
}

/// How the loss of every (item, class) is reduced, as MONAI's `reduction`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reduction {
    #[default]
    Mean,
    Sum,
    None,
}

crate::choices!(Reduction {
    "mean" => Reduction::Mean,
    "sum" => Reduction::Sum,
    "none" => Reduction::None,
});

/// How a hard mask is made from the prediction.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Discretize {
    /// `p ≥ T` per class (after the activation).
    Threshold(f32),
    /// One class per voxel: the largest score.
    Argmax,
}

/// Options of [`dice`]; the defaults are MONAI's.
#[derive(Clone, Debug, PartialEq)]
pub struct DiceOptions {
    /// Keep channel 0 in the scores.
    pub include_background: bool,
    pub activation: Activation,
    pub squared_pred: bool,
    pub jaccard: bool,
    pub reduction: Reduction,
    pub smooth_nr: f64,
    pub smooth_dr: f64,
    /// Sum over the batch before dividing (one loss per class).
    pub batch: bool,
    /// The target is a label map `[N,1,...]` or `[N,...]` of class ids.
    pub to_onehot_y: bool,
    /// Also score a hard mask.
    pub discretize: Option<Discretize>,
    /// Hard scores of empty targets are NaN (left out) rather than 1 or 0.
    pub ignore_empty: bool,
}

impl Default for DiceOptions {
    fn default() -> Self {
        DiceOptions {
            include_background: true,
            activation: Activation::None,
            squared_pred: false,
            jaccard: false,
            reduction: Reduction::Mean,
            smooth_nr: 1e-5,
            smooth_dr: 1e-5,
            batch: false,
            to_onehot_y: false,
            discretize: None,
            ignore_empty: true,
        }
    }
}

/// The loss after the reduction.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum LossValue {
    /// `mean` or `sum`.
    Scalar(f64),
    /// `none` with `batch`: one value per class.
    PerClass(Vec<f64>),
    /// `none`: `[item][class]`.
    PerItem(Vec<Vec<f64>>),
}

/// Dice scores per class.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DiceScores {
    /// `"soft"` (1 − loss per class) or `"hard"` (after the threshold or argmax).
    pub kind: &'static str,
    /// The channel index of each class reported.
    pub channels: Vec<usize>,
    /// One score per reported channel.
    pub per_class: Vec<f64>,
    pub mean: f64,
    /// `[item][class]`; NaN (empty target, ignored) is `None`. Absent for soft scores with
    /// `batch`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_item: Option<Vec<Vec<Option<f64>>>>,
    /// Hard scores: how many items have a non-NaN score, per class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid: Option<Vec<usize>>,
}

/// Everything [`dice`] computes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DiceReport {
    pub loss: LossValue,
    pub dice: DiceScores,
    /// Options MONAI would ignore with a warning (single-channel predictions).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Sums of one (item, class).
#[derive(Clone, Copy, Debug, Default)]
struct Sums {
    /// Σp·t
    pt: f64,
    /// Σp, or Σp² with `squared_pred`
    p: f64,
    /// Σt, or Σt² with `squared_pred`
    t: f64,
    /// Σh·t (hard)
    ht: f64,
    /// Σh (hard)
    h: f64,
    /// Σt for the hard score
    th: f64,
}

/// Voxels handled together: a cache-resident block, the only buffer.
const BLOCK: usize = 1024;

/// Soft loss, soft Dice and (when asked) hard Dice of `pred` `[N,C,...]` against `target`
/// (`[N,C,...]`, or with `to_onehot_y` a label map `[N,1,...]` / `[N,...]`).
pub fn dice(
    pred: ArrayViewD<f32>,
    target: ArrayViewD<f32>,
    opts: &DiceOptions,
) -> Result<DiceReport, PostError> {
    dice_named(pred, target, opts, "pred", "target")
}

fn dice_named(
    pred: ArrayViewD<f32>,
    target: ArrayViewD<f32>,
    opts: &DiceOptions,
    pred_name: &str,
    target_name: &str,
) -> Result<DiceReport, PostError> {
    if pred.ndim() < 3 {
        return Err(PostError::Shape {
            what: pred_name.to_string(),
            expected: "[N,C,spatial...] with at least one spatial axis".into(),
            got: pred.shape().to_vec(),
        });
    }
    let (n, c) = (pred.shape()[0], pred.shape()[1]);
    let spatial = &pred.shape()[2..];
    let s: usize = spatial.iter().product();
    if n == 0 || c == 0 || s == 0 {
        return Err(PostError::Shape {
            what: pred_name.to_string(),
            expected: "no empty axis".into(),
            got: pred.shape().to_vec(),
        });
    }
    if !(opts.smooth_nr.is_finite() && opts.smooth_dr.is_finite()) {
        return Err(PostError::Option("smoothing terms must be finite".into()));
    }
    let mut warnings = Vec::new();
    let mut activation = opts.activation;
    let mut labels = opts.to_onehot_y;
    let mut first = usize::from(!opts.include_background);
    if c == 1 {
        if activation == Activation::Softmax {
            warnings.push("single channel prediction, softmax ignored".to_string());
            activation = Activation::None;
        }
        if labels {
            warnings.push("single channel prediction, to_onehot_y ignored".to_string());
            labels = false;
        }
        if first == 1 {
            warnings.push("single channel prediction, exclude_background ignored".to_string());
            first = 0;
        }
        if opts.discretize == Some(Discretize::Argmax) {
            return Err(PostError::Option(
                "argmax needs at least 2 channels in the prediction".into(),
            ));
        }
    }

    // The target, as [N, C or 1, S].
    let tshape = target.shape();
    let label_shapes = [
        [&[n, 1][..], spatial].concat(),
        [&[n][..], spatial].concat(),
    ];
    let onehot_shapes: Vec<Vec<usize>> = if c == 1 {
        label_shapes.to_vec()
    } else {
        vec![pred.shape().to_vec()]
    };
    let ok = if labels {
        label_shapes.iter().any(|sh| sh == tshape)
    } else {
        onehot_shapes.iter().any(|sh| sh == tshape)
    };
    if !ok {
        let mut expected = if labels {
            format!("a label map {:?} or {:?}", label_shapes[0], label_shapes[1])
        } else {
            format!("{:?} like {pred_name}", onehot_shapes[0])
        };
        if !labels && label_shapes.iter().any(|sh| sh == tshape) {
            expected.push_str(" (this looks like a label map: use to_onehot_y)");
        }
        return Err(PostError::Shape {
            what: target_name.to_string(),
            expected,
            got: tshape.to_vec(),
        });
    }

    let pred = pred.as_standard_layout();
    let target = target.as_standard_layout();
    let pred = pred.as_slice().expect("standard layout");
    let target = target.as_slice().expect("standard layout");
    let tc = if labels { 1 } else { c };

    let mut sums = vec![Sums::default(); n * c];
    let mut pbuf = vec![0f32; c * BLOCK];
    let mut tbuf = vec![0f32; c * BLOCK];
    let mut hbuf = vec![0f32; c * BLOCK];
    let mut work = vec![0f32; BLOCK];
    let mut amax = vec![0u32; BLOCK];
    for item in 0..n {
        let x = &pred[item * c * s..(item + 1) * c * s];
        let y = &target[item * tc * s..(item + 1) * tc * s];
        let acc = &mut sums[item * c..(item + 1) * c];
        let mut s0 = 0;
        while s0 < s {
            let len = BLOCK.min(s - s0);
            // Prediction → probabilities.
            for k in 0..c {
                let src = &x[k * s + s0..k * s + s0 + len];
                let dst = &mut pbuf[k * BLOCK..k * BLOCK + len];
                match activation {
                    Activation::Sigmoid => {
                        for (d, &v) in dst.iter_mut().zip(src) {
                            *d = 1.0 / (1.0 + (-v).exp());
                        }
                    }
                    _ => dst.copy_from_slice(src),
                }
            }
            if activation == Activation::Softmax {
                softmax_block(&mut pbuf, &mut work, c, len);
            }
            // Hard mask.
            match opts.discretize {
                Some(Discretize::Threshold(th)) => {
                    for k in 0..c {
                        let p = &pbuf[k * BLOCK..k * BLOCK + len];
                        for (h, &v) in hbuf[k * BLOCK..k * BLOCK + len].iter_mut().zip(p) {
                            *h = f32::from(u8::from(v >= th));
                        }
                    }
                }
                Some(Discretize::Argmax) => {
                    argmax_block(&x[s0..], s, c, len, &mut amax, &mut work);
                    for k in 0..c {
                        for (h, &a) in hbuf[k * BLOCK..k * BLOCK + len].iter_mut().zip(&amax) {
                            *h = f32::from(u8::from(a == k as u32));
                        }
                    }
                }
                None => {}
            }
            // Target.
            if labels {
                let lab = &y[s0..s0 + len];
                let cf = c as f32;
                // Branch-free check first; the offending label is looked up only on failure.
                let bad_label = |l: f32| !((l >= 0.0) & (l < cf) & ((l as u32) as f32 == l));
                if lab.iter().fold(false, |bad, &l| bad | bad_label(l)) {
                    let bad = lab.iter().find(|&&l| bad_label(l)).expect("found above");
                    return Err(PostError::Value {
                        what: target_name.to_string(),
                        message: format!("label {bad} is not a class id in 0..{c}"),
                    });
                }
                for k in 0..c {
                    let kf = k as f32;
                    for (t, &l) in tbuf[k * BLOCK..k * BLOCK + len].iter_mut().zip(lab) {
                        *t = f32::from(u8::from(l == kf));
                    }
                }
            } else {
                for k in 0..c {
                    tbuf[k * BLOCK..k * BLOCK + len]
                        .copy_from_slice(&y[k * s + s0..k * s + s0 + len]);
                }
            }
            // Sums.
            for (k, a) in acc.iter_mut().enumerate() {
                let p = &pbuf[k * BLOCK..k * BLOCK + len];
                let t = &tbuf[k * BLOCK..k * BLOCK + len];
                accumulate(a, p, t, opts.squared_pred);
                if opts.discretize.is_some() {
                    let h = &hbuf[k * BLOCK..k * BLOCK + len];
                    accumulate_hard(a, h, t, c == 1);
                }
            }
            s0 += len;
        }
    }

    let channels: Vec<usize> = (first..c).collect();
    let loss_of = |a: &Sums| -> f64 {
        let num = 2.0 * a.pt + opts.smooth_nr;
        let den = if opts.jaccard {
            2.0 * (a.p + a.t - a.pt) + opts.smooth_dr
        } else {
            a.p + a.t + opts.smooth_dr
        };
        1.0 - num / den
    };
    // Loss per (item, class) or per class.
    let f: Vec<Vec<f64>> = if opts.batch {
        vec![channels
            .iter()
            .map(|&k| {
                let mut tot = Sums::default();
                for item in 0..n {
                    let a = &sums[item * c + k];
                    tot.pt += a.pt;
                    tot.p += a.p;
                    tot.t += a.t;
                }
                loss_of(&tot)
            })
            .collect()]
    } else {
        (0..n)
            .map(|item| {
                channels
                    .iter()
                    .map(|&k| loss_of(&sums[item * c + k]))
                    .collect()
            })
            .collect()
    };
    let all: Vec<f64> = f.iter().flatten().copied().collect();
    let loss = match opts.reduction {
        Reduction::Mean => LossValue::Scalar(all.iter().sum::<f64>() / all.len() as f64),
        Reduction::Sum => LossValue::Scalar(all.iter().sum()),
        Reduction::None if opts.batch => LossValue::PerClass(f[0].clone()),
        Reduction::None => LossValue::PerItem(f.clone()),
    };

    let scores = match opts.discretize {
        None => {
            let rows = f.len() as f64;
            let per_class: Vec<f64> = (0..channels.len())
                .map(|j| f.iter().map(|r| 1.0 - r[j]).sum::<f64>() / rows)
                .collect();
            DiceScores {
                kind: "soft",
                mean: all.iter().map(|v| 1.0 - v).sum::<f64>() / all.len() as f64,
                per_class,
                per_item: (!opts.batch).then(|| {
                    f.iter()
                        .map(|r| r.iter().map(|v| Some(1.0 - v)).collect())
                        .collect()
                }),
                valid: None,
                channels,
            }
        }
        Some(_) => {
            let d: Vec<Vec<f64>> = (0..n)
                .map(|item| {
                    channels
                        .iter()
                        .map(|&k| {
                            let a = &sums[item * c + k];
                            if a.th > 0.0 {
                                2.0 * a.ht / (a.th + a.h)
                            } else if opts.ignore_empty {
                                f64::NAN
                            } else if a.th + a.h <= 0.0 {
                                1.0
                            } else {
                                0.0
                            }
                        })
                        .collect()
                })
                .collect();
            let (per_class, valid) = nan_mean_batch(&d, channels.len());
            DiceScores {
                kind: "hard",
                mean: nan_mean(&d),
                per_class,
                per_item: Some(
                    d.iter()
                        .map(|r| r.iter().map(|v| (!v.is_nan()).then_some(*v)).collect())
                        .collect(),
                ),
                valid: Some(valid),
                channels,
            }
        }
    };
    Ok(DiceReport {
        loss,
        dice: scores,
        warnings,
    })
}

/// Softmax over the `c` rows of `p` (row stride [`BLOCK`]) for `len` voxels, as
/// `exp(x − max) / Σ exp(x − max)`.
fn softmax_block(p: &mut [f32], max: &mut [f32], c: usize, len: usize) {
    let max = &mut max[..len];
    max.copy_from_slice(&p[..len]);
    for k in 1..c {
        for (m, &v) in max.iter_mut().zip(&p[k * BLOCK..k * BLOCK + len]) {
            // NaN propagates, as in torch.
            if v > *m || v.is_nan() {
                *m = v;
            }
        }
    }
    let mut sum = [0f32; BLOCK];
    let sum = &mut sum[..len];
    for k in 0..c {
        for ((v, s), &m) in p[k * BLOCK..k * BLOCK + len]
            .iter_mut()
            .zip(sum.iter_mut())
            .zip(max.iter())
        {
            *v = (*v - m).exp();
            *s += *v;
        }
    }
    for k in 0..c {
        for (v, &s) in p[k * BLOCK..k * BLOCK + len].iter_mut().zip(sum.iter()) {
            *v /= s;
        }
    }
}

/// Class of the largest raw score per voxel (first on ties; a NaN wins, like `torch.argmax`).
/// `x` starts at the block's first voxel of channel 0; channels are `s` apart.
fn argmax_block(x: &[f32], s: usize, c: usize, len: usize, amax: &mut [u32], best: &mut [f32]) {
    let best = &mut best[..len];
    best.copy_from_slice(&x[..len]);
    let amax = &mut amax[..len];
    amax.fill(0);
    for k in 1..c {
        let kk = k as u32;
        for ((b, a), &v) in best
            .iter_mut()
            .zip(amax.iter_mut())
            .zip(&x[k * s..k * s + len])
        {
            // Bitwise select: the comparisons are unpredictable on real data.
            let take = !b.is_nan() & ((v > *b) | v.is_nan());
            let m = u32::from(take).wrapping_neg();
            *b = f32::from_bits((v.to_bits() & m) | (b.to_bits() & !m));
            *a = (kk & m) | (*a & !m);
        }
    }
}

/// Lanes of the float64 sums: independent partial sums let them pipeline and vectorise.
const ACC: usize = 4;

/// Adds `Σ f(p, t)` over the block, in [`ACC`] partial sums, to `out`.
#[inline(always)]
fn sum3(p: &[f32], t: &[f32], f: impl Fn(f64, f64) -> [f64; 3]) -> [f64; 3] {
    let mut acc = [[0f64; ACC]; 3];
    let (pc, tc) = (p.chunks_exact(ACC), t.chunks_exact(ACC));
    let (pr, tr) = (pc.remainder(), tc.remainder());
    for (pp, tt) in pc.zip(tc) {
        for l in 0..ACC {
            let v = f(f64::from(pp[l]), f64::from(tt[l]));
            for (a, x) in acc.iter_mut().zip(v) {
                a[l] += x;
            }
        }
    }
    let mut out = acc.map(|a| a.iter().sum::<f64>());
    for (&pp, &tt) in pr.iter().zip(tr) {
        let v = f(f64::from(pp), f64::from(tt));
        for (o, x) in out.iter_mut().zip(v) {
            *o += x;
        }
    }
    out
}

#[inline]
fn accumulate(a: &mut Sums, p: &[f32], t: &[f32], squared: bool) {
    let [pt, sp, st] = if squared {
        sum3(p, t, |p, t| [p * t, p * p, t * t])
    } else {
        sum3(p, t, |p, t| [p * t, p, t])
    };
    a.pt += pt;
    a.p += sp;
    a.t += st;
}

#[inline]
fn accumulate_hard(a: &mut Sums, h: &[f32], t: &[f32], single_channel: bool) {
    // A single channel is compared with `t == 1`, as DiceMetric does.
    let [ht, sh, st] = if single_channel {
        sum3(h, t, |h, t| {
            let t = f64::from(u8::from(t == 1.0));
            [h * t, h, t]
        })
    } else {
        sum3(h, t, |h, t| [h * t, h, t])
    };
    a.ht += ht;
    a.h += sh;
    a.th += st;
}

/// MONAI's `mean_batch`: per class, the mean of the non-NaN items (0 when none), and their count.
fn nan_mean_batch(d: &[Vec<f64>], classes: usize) -> (Vec<f64>, Vec<usize>) {
    (0..classes)
        .map(|j| {
            let v: Vec<f64> = d.iter().map(|r| r[j]).filter(|v| !v.is_nan()).collect();
            let m = if v.is_empty() {
                0.0
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            };
            (m, v.len())
        })
        .unzip()
}

/// MONAI's `mean`: per item the mean of its non-NaN classes, then the mean of the items that
/// have one (0 when none).
fn nan_mean(d: &[Vec<f64>]) -> f64 {
    let items: Vec<f64> = d
        .iter()
        .filter_map(|r| {
            let v: Vec<f64> = r.iter().copied().filter(|v| !v.is_nan()).collect();
            (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
        })
        .collect();
    if items.is_empty() {
        0.0
    } else {
        items.iter().sum::<f64>() / items.len() as f64
    }
}

// ---------------------------------------------------------------------------------------------
// Files and renderings

/// [`dice`] on `.npy` files; messages name each file (`pred file 'p.npy'`).
pub fn dice_files(pred: &Path, target: &Path, opts: &DiceOptions) -> Result<DiceReport, PostError> {
    let pname = file_label("pred", pred);
    let tname = file_label("target", target);
    let pred = npyio::read(pred)?.into_f32(&pname)?;
    let target = npyio::read(target)?.into_f32_lossy();
    dice_named(pred.view(), target.view(), opts, &pname, &tname)
}

/// A Dice report with the options that made it, ready to render.
pub struct DiceView<'a> {
    pub report: &'a DiceReport,
    pub options: &'a DiceOptions,
}

impl Render for DiceView<'_> {
    const FORMATS: &'static [Format] = &[Format::Table, Format::Json];

    fn render_to(&self, format: Format) -> crate::Result<String> {
        Ok(match format {
            Format::Json => serde_json::to_string_pretty(self.report).expect("serialisable") + "\n",
            _ => render_table(self.report, self.options),
        })
    }
}

fn fmt(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else {
        format!("{v:.6}")
    }
}

/// The report as text: the loss, then the scores per channel.
pub fn render_table(r: &DiceReport, opts: &DiceOptions) -> String {
    let mut s = String::new();
    for w in &r.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    let what = if opts.jaccard { "Jaccard" } else { "Dice" };
    let reduction = match opts.reduction {
        Reduction::Mean => "mean",
        Reduction::Sum => "sum",
        Reduction::None => "none",
    };
    match &r.loss {
        LossValue::Scalar(v) => {
            let _ = writeln!(s, "{what} loss ({reduction}): {}", fmt(*v));
        }
        LossValue::PerClass(v) => {
            let vals: Vec<String> = v.iter().map(|x| fmt(*x)).collect();
            let _ = writeln!(s, "{what} loss per class: {}", vals.join("  "));
        }
        LossValue::PerItem(rows) => {
            let _ = writeln!(s, "{what} loss per item and class:");
            for (i, row) in rows.iter().enumerate() {
                let vals: Vec<String> = row.iter().map(|x| fmt(*x)).collect();
                let _ = writeln!(s, "  item {i}: {}", vals.join("  "));
            }
        }
    }
    let d = &r.dice;
    let kind = match opts.discretize {
        None => format!("soft {what}"),
        Some(Discretize::Threshold(t)) => format!("hard Dice, p >= {t}"),
        Some(Discretize::Argmax) => "hard Dice, argmax".to_string(),
    };
    let _ = writeln!(s, "{kind}:");
    let _ = writeln!(
        s,
        "  {:>7}  {:>10}{}",
        "channel",
        "score",
        if d.valid.is_some() {
            "  valid items"
        } else {
            ""
        }
    );
    for (j, ch) in d.channels.iter().enumerate() {
        let valid = d
            .valid
            .as_ref()
            .map(|v| format!("  {:>11}", v[j]))
            .unwrap_or_default();
        let _ = writeln!(s, "  {ch:>7}  {:>10}{valid}", fmt(d.per_class[j]));
    }
    let _ = writeln!(s, "  {:>7}  {:>10}", "mean", fmt(d.mean));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array, ArrayD, IxDyn};

    fn arr(shape: &[usize], v: &[f32]) -> ArrayD<f32> {
        Array::from_shape_vec(IxDyn(shape), v.to_vec()).unwrap()
    }

    fn no_smooth() -> DiceOptions {
        DiceOptions {
            smooth_nr: 0.0,
            smooth_dr: 0.0,
            ..Default::default()
        }
    }

    fn scalar(r: &DiceReport) -> f64 {
        match r.loss {
            LossValue::Scalar(v) => v,
            ref other => panic!("{other:?}"),
        }
    }

    fn near(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }

    /// p = [0.9, 0.1, 0.8, 0.0], t = [1, 0, 1, 0] (one item, one channel, 2×2):
    /// Σp·t = 0.9 + 0.8 = 1.7, Σp = 1.8, Σt = 2, Σp² = 0.81 + 0.01 + 0.64 = 1.46.
    #[test]
    fn hand_worked_soft_losses() {
        let p = arr(&[1, 1, 2, 2], &[0.9, 0.1, 0.8, 0.0]);
        let t = arr(&[1, 1, 2, 2], &[1.0, 0.0, 1.0, 0.0]);
        // Dice: 1 − 2·1.7 / (1.8 + 2) = 1 − 3.4/3.8.
        near(
            scalar(&dice(p.view(), t.view(), &no_smooth()).unwrap()),
            1.0 - 3.4 / 3.8,
        );
        // Squared: 1 − 3.4 / (1.46 + 2).
        let o = DiceOptions {
            squared_pred: true,
            ..no_smooth()
        };
        near(
            scalar(&dice(p.view(), t.view(), &o).unwrap()),
            1.0 - 3.4 / 3.46,
        );
        // Jaccard: 1 − 3.4 / (2·(1.8 + 2 − 1.7)) = 1 − 3.4/4.2.
        let o = DiceOptions {
            jaccard: true,
            ..no_smooth()
        };
        near(
            scalar(&dice(p.view(), t.view(), &o).unwrap()),
            1.0 - 3.4 / 4.2,
        );
        // Default smoothing 1e-5 on both sides: 1 − 3.40001/3.80001.
        near(
            scalar(&dice(p.view(), t.view(), &Default::default()).unwrap()),
            1.0 - 3.40001 / 3.80001,
        );
        // Soft Dice score is 1 − loss.
        let r = dice(p.view(), t.view(), &no_smooth()).unwrap();
        near(r.dice.per_class[0], 3.4 / 3.8);
        assert_eq!(r.dice.kind, "soft");
    }

    /// Same data. Threshold 0.5: h = [1, 0, 1, 0], Σh·t = 2, Σh = 2, Σt = 2 → 2·2/4 = 1.
    /// Threshold 0.85: h = [1, 0, 0, 0] → 2·1/(2 + 1) = 2/3. Threshold 0.8 keeps 0.8 (≥).
    #[test]
    fn hand_worked_hard_dice() {
        let p = arr(&[1, 1, 2, 2], &[0.9, 0.1, 0.8, 0.0]);
        let t = arr(&[1, 1, 2, 2], &[1.0, 0.0, 1.0, 0.0]);
        for (th, want) in [(0.5, 1.0), (0.85, 2.0 / 3.0), (0.8, 1.0)] {
            let o = DiceOptions {
                discretize: Some(Discretize::Threshold(th)),
                ..Default::default()
            };
            let r = dice(p.view(), t.view(), &o).unwrap();
            assert_eq!(r.dice.kind, "hard");
            near(r.dice.per_class[0], want);
            near(r.dice.mean, want);
        }
    }

    /// One voxel, logits [0, ln 3] → softmax [1/4, 3/4]; label 1 → t = [0, 1].
    /// Class 0: Σp·t = 0, Σp = 1/4, Σt = 0 → loss 1 − 0/0.25 = 1.
    /// Class 1: Σp·t = 3/4, Σp = 3/4, Σt = 1 → loss 1 − 1.5/1.75 = 1/7.
    #[test]
    fn softmax_with_label_map() {
        let x = arr(&[1, 2, 1, 1], &[0.0, 3f32.ln()]);
        let y = arr(&[1, 1, 1, 1], &[1.0]);
        let o = DiceOptions {
            activation: Activation::Softmax,
            to_onehot_y: true,
            reduction: Reduction::None,
            ..no_smooth()
        };
        let r = dice(x.view(), y.view(), &o).unwrap();
        let LossValue::PerItem(f) = &r.loss else {
            panic!()
        };
        near(f[0][0], 1.0);
        near(f[0][1], 1.0 / 7.0);
        // The same label map without its channel axis.
        let y2 = arr(&[1, 1, 1], &[1.0]);
        assert_eq!(dice(x.view(), y2.view(), &o).unwrap(), r);
        // Excluding the background leaves class 1 only.
        let o = DiceOptions {
            include_background: false,
            ..o
        };
        let r = dice(x.view(), y.view(), &o).unwrap();
        assert_eq!(r.dice.channels, vec![1]);
        let LossValue::PerItem(f) = &r.loss else {
            panic!()
        };
        near(f[0][0], 1.0 / 7.0);
    }

    /// Item 0: p = [1, 1], t = [1, 0] → Σp·t 1, Σp 2, Σt 1 → loss 1 − 2/3 = 1/3.
    /// Item 1: p = [0, 0], t = [0, 1] → loss 1 − 0/1 = 1. Mean over items: 2/3.
    /// Batch sums first: Σp·t 1, Σp 2, Σt 2 → 1 − 2/4 = 1/2.
    #[test]
    fn batch_sums_before_dividing() {
        let p = arr(&[2, 1, 2], &[1.0, 1.0, 0.0, 0.0]);
        let t = arr(&[2, 1, 2], &[1.0, 0.0, 0.0, 1.0]);
        near(
            scalar(&dice(p.view(), t.view(), &no_smooth()).unwrap()),
            2.0 / 3.0,
        );
        let o = DiceOptions {
            batch: true,
            ..no_smooth()
        };
        near(scalar(&dice(p.view(), t.view(), &o).unwrap()), 0.5);
        let o = DiceOptions {
            reduction: Reduction::Sum,
            ..no_smooth()
        };
        near(scalar(&dice(p.view(), t.view(), &o).unwrap()), 4.0 / 3.0);
    }

    /// MONAI DiceMetric's empty rules, item by item (one channel, threshold 0.5):
    /// item 0 target empty, prediction empty; item 1 target empty, prediction not;
    /// item 2 target [1, 0], prediction [1, 1] → 2·1/(1 + 2) = 2/3.
    #[test]
    fn empty_masks_follow_dice_metric() {
        let p = arr(&[3, 1, 2], &[0.0, 0.0, 1.0, 0.0, 1.0, 1.0]);
        let t = arr(&[3, 1, 2], &[0.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
        let o = DiceOptions {
            discretize: Some(Discretize::Threshold(0.5)),
            ..Default::default()
        };
        let r = dice(p.view(), t.view(), &o).unwrap();
        let items: Vec<Option<f64>> = r
            .dice
            .per_item
            .as_ref()
            .unwrap()
            .iter()
            .map(|r| r[0])
            .collect();
        assert_eq!(items[..2], [None, None]);
        near(items[2].unwrap(), 2.0 / 3.0);
        assert_eq!(r.dice.valid, Some(vec![1]));
        near(r.dice.mean, 2.0 / 3.0);
        // Without ignore_empty: 1 (both empty), 0 (false positive), 2/3; mean 5/9.
        let o = DiceOptions {
            ignore_empty: false,
            ..o
        };
        let r = dice(p.view(), t.view(), &o).unwrap();
        let items: Vec<f64> = r
            .dice
            .per_item
            .as_ref()
            .unwrap()
            .iter()
            .map(|r| r[0].unwrap())
            .collect();
        assert_eq!(items[..2], [1.0, 0.0]);
        near(r.dice.mean, (1.0 + 0.0 + 2.0 / 3.0) / 3.0);
        // Nothing valid at all: MONAI reports 0.
        let z = arr(&[1, 1, 2], &[0.0, 0.0]);
        let o = DiceOptions {
            discretize: Some(Discretize::Threshold(0.5)),
            ..Default::default()
        };
        let r = dice(z.view(), z.view(), &o).unwrap();
        assert_eq!((r.dice.mean, r.dice.valid.clone()), (0.0, Some(vec![0])));
        // The soft loss of two empty masks is 1 − smooth_nr/smooth_dr = 0 with the defaults.
        near(scalar(&r), 0.0);
    }

    #[test]
    fn argmax_takes_the_first_maximum() {
        // Two voxels, three classes: [1, 3, 3] → class 1; [5, 0, 5] → class 0.
        let x = arr(&[1, 3, 2], &[1.0, 5.0, 3.0, 0.0, 3.0, 5.0]);
        let y = arr(&[1, 1, 2], &[1.0, 0.0]);
        let o = DiceOptions {
            to_onehot_y: true,
            discretize: Some(Discretize::Argmax),
            ignore_empty: false,
            ..Default::default()
        };
        let r = dice(x.view(), y.view(), &o).unwrap();
        // Every class is predicted exactly where it is labelled (class 2 nowhere: both empty).
        assert_eq!(r.dice.per_class, vec![1.0, 1.0, 1.0]);
    }

    /// A non-contiguous view and a spatial size spanning several blocks give what a plain
    /// transcription of the formulas gives.
    #[test]
    fn blocks_and_views_agree_with_direct_sums() {
        let (n, c, h, w) = (2, 3, 37, 41);
        let mut x = 12345u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / 16_777_216.0
        };
        let logits = Array::from_shape_fn(IxDyn(&[n, h, w, c]), |_| next() * 8.0 - 4.0);
        let labels = Array::from_shape_fn(IxDyn(&[n, 1, h, w]), |_| (next() * c as f32).floor());
        let pred = logits.view().permuted_axes(IxDyn(&[0, 3, 1, 2]));
        assert!(!pred.is_standard_layout());
        let o = DiceOptions {
            activation: Activation::Softmax,
            to_onehot_y: true,
            reduction: Reduction::None,
            ..Default::default()
        };
        let r = dice(pred.clone(), labels.view(), &o).unwrap();
        let LossValue::PerItem(f) = &r.loss else {
            panic!()
        };
        for i in 0..n {
            for k in 0..c {
                let (mut pt, mut sp, mut st) = (0f64, 0f64, 0f64);
                for y in 0..h {
                    for xx in 0..w {
                        let m = (0..c).map(|j| pred[[i, j, y, xx]]).fold(f32::MIN, f32::max);
                        let z: f32 = (0..c).map(|j| (pred[[i, j, y, xx]] - m).exp()).sum();
                        let p = f64::from((pred[[i, k, y, xx]] - m).exp() / z);
                        let t = f64::from(u8::from(labels[[i, 0, y, xx]] == k as f32));
                        pt += p * t;
                        sp += p;
                        st += t;
                    }
                }
                let want = 1.0 - (2.0 * pt + 1e-5) / (sp + st + 1e-5);
                assert!(
                    (f[i][k] - want).abs() < 1e-6,
                    "{i} {k}: {} vs {want}",
                    f[i][k]
                );
            }
        }
    }

    #[test]
    fn errors_say_what_was_expected() {
        let p = arr(&[1, 2, 2], &[0.0; 4]);
        let labels = arr(&[1, 1, 2], &[0.0, 2.0]);
        let o = DiceOptions {
            to_onehot_y: true,
            ..Default::default()
        };
        let e = dice(p.view(), labels.view(), &o).unwrap_err().to_string();
        assert!(e.contains("target") && e.contains("label 2"), "{e}");
        let frac = arr(&[1, 1, 2], &[0.0, 0.5]);
        assert!(dice(p.view(), frac.view(), &o).is_err());
        // A label map without to_onehot_y.
        let e = dice(p.view(), labels.view(), &Default::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("to_onehot_y"), "{e}");
        // No spatial axis.
        let e = dice(
            arr(&[1, 2], &[0.0, 1.0]).view(),
            arr(&[1, 2], &[0.0, 1.0]).view(),
            &Default::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("spatial"), "{e}");
        // Argmax over one channel.
        let one = arr(&[1, 1, 2], &[0.0, 1.0]);
        let o = DiceOptions {
            discretize: Some(Discretize::Argmax),
            ..Default::default()
        };
        assert!(dice(one.view(), one.view(), &o).is_err());
    }
}
