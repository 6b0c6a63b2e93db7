"""Reference values for onnxscope's Dice (src/post/dice.rs), computed once with MONAI's
DiceLoss and DiceMetric in float64 on small seeded float32 inputs.

Writes small .npy inputs and dice_reference.json into tests/data/post/ (relative to the
repository root):

    python models/post/make_dice_reference.py    # needs torch, monai, numpy

Each case lists the onnxscope options (named as the `dice` command's flags) and what MONAI
returns for them:
  * loss: DiceLoss(include_background, to_onehot_y, sigmoid, softmax, squared_pred, jaccard,
    reduction, smooth_nr, smooth_dr, batch)(pred, target)
  * soft scores: 1 - DiceLoss(..., reduction="none"), averaged over the batch per class
  * hard scores: DiceMetric(include_background, reduction="none", ignore_empty) on the
    prediction activated, then thresholded (AsDiscrete(threshold=T): p >= T) or arg-maxed and
    one-hot encoded; per class and overall with MONAI's "mean_batch" and "mean" reductions.
"""

import json
import pathlib
import warnings

import monai
import numpy as np
import torch
from monai.losses import DiceLoss
from monai.metrics import DiceMetric
from monai.metrics.utils import do_metric_reduction
from monai.networks import one_hot

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data" / "post"


def save(name, array):
    np.save(OUT / f"{name}.npy", array)
    return f"{name}.npy"


def nan_to_none(x):
    if isinstance(x, list):
        return [nan_to_none(v) for v in x]
    return None if (isinstance(x, float) and np.isnan(x)) else x


def monai_case(pred_np, target_np, o):
    pred = torch.from_numpy(pred_np.astype(np.float64))
    target = torch.from_numpy(target_np.astype(np.float64))
    if o.get("labels_without_channel"):
        target = target[:, None]
    c = pred.shape[1]
    kw = dict(
        include_background=o.get("include_background", True),
        to_onehot_y=o.get("to_onehot_y", False),
        sigmoid=o.get("sigmoid", False),
        softmax=o.get("softmax", False),
        squared_pred=o.get("squared_pred", False),
        jaccard=o.get("jaccard", False),
        smooth_nr=o.get("smooth_nr", 1e-5),
        smooth_dr=o.get("smooth_dr", 1e-5),
        batch=o.get("batch", False),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = DiceLoss(reduction=o.get("reduction", "mean"), **kw)(pred, target)
        per = DiceLoss(reduction="none", **kw)(pred, target)
    per = per.reshape(per.shape[0], -1) if not kw["batch"] else per.reshape(1, -1)
    expect = dict(loss=loss.reshape(-1).tolist() if loss.numel() > 1 else float(loss))
    if o.get("reduction") == "none":
        expect["loss"] = per.tolist() if not kw["batch"] else per[0].tolist()

    if "threshold" not in o and not o.get("argmax"):
        soft = 1.0 - per
        expect["dice"] = dict(kind="soft", per_class=soft.mean(0).tolist(), mean=float(soft.mean()))
        return expect

    if kw["sigmoid"]:
        probs = torch.sigmoid(pred)
    elif kw["softmax"] and c > 1:
        probs = torch.softmax(pred, 1)
    else:
        probs = pred
    if o.get("argmax"):
        y_pred = one_hot(torch.argmax(probs, 1, keepdim=True), c)
    else:
        y_pred = (probs >= o["threshold"]).double()
    y = one_hot(target, c) if (kw["to_onehot_y"] and c > 1) else target
    metric = DiceMetric(include_background=kw["include_background"], reduction="none",
                        ignore_empty=o.get("ignore_empty", True))
    d = metric(y_pred, y)
    per_class, valid = do_metric_reduction(d.clone(), "mean_batch")
    mean, _ = do_metric_reduction(d.clone(), "mean")
    expect["dice"] = dict(kind="hard", per_item=nan_to_none(d.tolist()), per_class=per_class.tolist(),
                          mean=float(mean), valid=[int(v) for v in valid.tolist()])
    return expect


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)

    # 2-D, 3 classes: logits and a label map in which class 2 is absent from item 1.
    logits = rng.normal(0, 2, (2, 3, 8, 8)).astype(np.float32)
    labels = rng.integers(0, 3, (2, 1, 8, 8)).astype(np.int64)
    labels[1][labels[1] == 2] = 1
    onehot = np.eye(3, dtype=np.uint8)[labels[:, 0]].transpose(0, 3, 1, 2).copy()
    f_logits = save("dice_logits_2d", logits)
    f_labels = save("dice_labels_2d", labels)
    f_labels_nc = save("dice_labels_2d_nochannel", labels[:, 0].astype(np.int32))
    f_onehot = save("dice_onehot_2d", onehot)

    # 3-D, 2 channels of probabilities (multi-label), channel 1 empty in item 0.
    probs3 = (1 / (1 + np.exp(-rng.normal(0, 2, (2, 2, 4, 5, 6))))).astype(np.float32)
    mask3 = (rng.uniform(0, 1, (2, 2, 4, 5, 6)) < 0.3).astype(np.uint8)
    mask3[0, 1] = 0
    f_probs3 = save("dice_probs_3d", probs3)
    f_mask3 = save("dice_mask_3d", mask3)

    # One channel of logits; item 1 has an empty target and item 2 an empty target and
    # (very negative logits) an empty prediction.
    single = rng.normal(0, 2, (3, 1, 6, 6)).astype(np.float32)
    single[2] = -20
    tsingle = (rng.uniform(0, 1, (3, 1, 6, 6)) < 0.4).astype(np.float32)
    tsingle[1:] = 0
    f_single = save("dice_single_logits", single)
    f_tsingle = save("dice_single_target", tsingle)

    inputs = {f_logits: logits, f_labels: labels, f_labels_nc: labels[:, 0], f_onehot: onehot,
              f_probs3: probs3, f_mask3: mask3, f_single: single, f_tsingle: tsingle}

    cases = [
        ("softmax_labels_argmax", f_logits, f_labels, dict(softmax=True, to_onehot_y=True, argmax=True)),
        ("softmax_labels_exclude_bg_squared_none", f_logits, f_labels,
         dict(softmax=True, to_onehot_y=True, include_background=False, squared_pred=True, reduction="none")),
        ("sigmoid_onehot_jaccard_batch_sum_threshold", f_logits, f_onehot,
         dict(sigmoid=True, jaccard=True, batch=True, reduction="sum", threshold=0.5)),
        ("softmax_onehot_batch_none_argmax_keep_empty", f_logits, f_onehot,
         dict(softmax=True, batch=True, reduction="none", smooth_nr=0.0, smooth_dr=1e-6, argmax=True,
              ignore_empty=False)),
        ("softmax_labels_argmax_keep_empty_exclude_bg", f_logits, f_labels,
         dict(softmax=True, to_onehot_y=True, argmax=True, ignore_empty=False, include_background=False)),
        ("labels_without_channel_axis", f_logits, f_labels_nc,
         dict(softmax=True, to_onehot_y=True, labels_without_channel=True, jaccard=True, squared_pred=True)),
        ("probs_3d_threshold_exclude_bg", f_probs3, f_mask3, dict(include_background=False, threshold=0.5)),
        ("probs_3d_soft_none", f_probs3, f_mask3, dict(reduction="none")),
        ("probs_3d_threshold_0.7_keep_empty", f_probs3, f_mask3, dict(threshold=0.7, ignore_empty=False)),
        ("single_sigmoid_threshold", f_single, f_tsingle, dict(sigmoid=True, threshold=0.5)),
        ("single_sigmoid_threshold_keep_empty", f_single, f_tsingle,
         dict(sigmoid=True, threshold=0.5, ignore_empty=False, reduction="none")),
        ("single_ignored_options", f_single, f_tsingle,
         dict(softmax=True, to_onehot_y=True, include_background=False, smooth_nr=1.0, smooth_dr=1.0)),
    ]
    out = []
    for name, fp, ft, o in cases:
        expect = monai_case(inputs[fp], inputs[ft], o)
        out.append(dict(name=name, pred=fp, target=ft, options=o, expect=expect))

    meta = dict(monai=monai.__version__, torch=torch.__version__, numpy=np.__version__)
    (OUT / "dice_reference.json").write_text(json.dumps(dict(versions=meta, cases=out), indent=1) + "\n")
    print(f"wrote {len(out)} cases to {OUT}")


if __name__ == "__main__":
    main()
