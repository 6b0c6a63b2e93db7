"""dice(): MONAI's Dice loss and metric as the `dice` command computes them, on a case worked
by hand and against the MONAI references in tests/data/post (made by
models/post/make_dice_reference.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import onnxscope
from conftest import POST, command

REFERENCE = json.loads((POST / "dice_reference.json").read_text())


def close(got, want):
    # MONAI ran in float64 on the same float32 inputs; activations here are float32
    if want is None:
        assert got is None
    elif isinstance(want, list):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            close(g, w)
    else:
        assert abs(got - want) <= 2e-6 + 2e-6 * abs(want), (got, want)


def test_hand_worked_case():
    # one item, one class, four voxels: p = [1, 1, 0, 0], t = [1, 0, 1, 0]
    pred = np.array([[[1, 1, 0, 0]]], dtype=np.float32)
    target = np.array([[[1, 0, 1, 0]]], dtype=np.float32)
    d = onnxscope.dice(pred, target)
    # Σp·t = 1, Σp = 2, Σt = 2: loss = 1 − (2·1 + 1e-5) / (2 + 2 + 1e-5)
    loss = 1 - (2 * 1 + 1e-5) / (2 + 2 + 1e-5)
    assert d["loss"] == pytest.approx(loss, abs=1e-12)
    assert d["dice"]["kind"] == "soft"
    assert d["dice"]["per_class"] == [pytest.approx(1 - loss, abs=1e-12)]
    # hard Dice at 0.5: h = p, 2·Σh·t / (Σt + Σh) = 2 / 4
    h = onnxscope.dice(pred, target, threshold=0.5)
    assert h["dice"]["kind"] == "hard" and h["dice"]["mean"] == pytest.approx(0.5)
    # jaccard: 1 − (2·1 + 1e-5) / (2·(2 + 2 − 1) + 1e-5)
    j = onnxscope.dice(pred, target, jaccard=True)
    assert j["loss"] == pytest.approx(1 - (2 + 1e-5) / (2 * 3 + 1e-5), abs=1e-12)
    # an integer target is taken as values, like the command's .npy targets
    assert onnxscope.dice(pred, target.astype(np.uint8)) == d


@pytest.mark.parametrize("case", REFERENCE["cases"], ids=lambda c: c["name"])
def test_matches_monai_reference(case):
    opts = {k: v for k, v in case["options"].items() if k != "labels_without_channel"}
    r = onnxscope.dice(np.load(POST / case["pred"]), np.load(POST / case["target"]), **opts)
    e = case["expect"]
    close(r["loss"], e["loss"])
    assert r["dice"]["kind"] == e["dice"]["kind"]
    close(r["dice"]["per_class"], e["dice"]["per_class"])
    close(r["dice"]["mean"], e["dice"]["mean"])
    if "per_item" in e["dice"]:
        close(r["dice"]["per_item"], e["dice"]["per_item"])
        assert r["dice"]["valid"] == e["dice"]["valid"]
    if case["name"] == "single_ignored_options":
        assert len(r["warnings"]) == 3


def test_document_equals_the_commands_json():
    pred, target = POST / "dice_logits_2d.npy", POST / "dice_labels_2d.npy"
    r = onnxscope.dice(np.load(pred), np.load(target), softmax=True, to_onehot_y=True,
                       argmax=True)
    c = command("dice", "--pred", str(pred), "--target", str(target), "--softmax",
                "--to-onehot-y", "--argmax", "--format", "json")
    assert c.returncode == 0, c.stderr
    assert r == json.loads(c.stdout)


def test_bad_input_raises_one_line():
    with pytest.raises(onnxscope.OnnxscopeError) as e:
        onnxscope.dice(np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32))
    assert str(e.value).startswith("pred: expected shape [N,C,spatial...]")
    with pytest.raises(onnxscope.OnnxscopeError, match="pred: expected a float32 or float64"):
        onnxscope.dice(np.zeros((1, 1, 4), np.int32), np.zeros((1, 1, 4)))
    with pytest.raises(onnxscope.OnnxscopeError, match="possible values"):
        onnxscope.dice(np.zeros((1, 1, 4)), np.zeros((1, 1, 4)), reduction="max")
    with pytest.raises(onnxscope.OnnxscopeError, match="cannot be used with"):
        onnxscope.dice(np.zeros((1, 1, 4)), np.zeros((1, 1, 4)), threshold=0.5, argmax=True)
