"""nms(): the `nms` command's semantics on NumPy arrays, against a case worked by hand and the
torchvision / onnxruntime references in tests/data/post (made by
models/post/make_nms_reference.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import onnxscope
from conftest import POST, command

REFERENCE = json.loads((POST / "nms_reference.json").read_text())


def load(name):
    return np.load(POST / name)


def test_hand_worked_case():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], dtype=np.float32)
    scores = np.array([0.9, 0.8, 0.7], dtype=np.float32)
    # IoU(0, 1) = 9·9 / (100 + 100 − 81) = 81 / 119 = 0.68; box 2 overlaps neither
    assert 81 / 119 > 0.5
    keep = onnxscope.nms(boxes, scores)
    assert keep.dtype == np.int64 and keep.tolist() == [0, 2]
    assert onnxscope.nms(boxes, scores, iou_threshold=0.7).tolist() == [0, 1, 2]
    # different classes never suppress one another, unless class-agnostic
    classes = np.array([0, 1, 0])
    assert onnxscope.nms(boxes, scores, classes).tolist() == [0, 1, 2]
    assert onnxscope.nms(boxes, scores, classes, class_agnostic=True).tolist() == [0, 2]
    # score > 0.75 leaves boxes 0 and 1; max_detections keeps the best one
    assert onnxscope.nms(boxes, scores, iou_threshold=0.7, score_threshold=0.75).tolist() == [0, 1]
    assert onnxscope.nms(boxes, scores, iou_threshold=0.7, max_detections=1).tolist() == [0]
    # the same boxes as (x, y, w, h)
    xywh = boxes.copy()
    xywh[:, 2:] -= xywh[:, :2]
    assert onnxscope.nms(xywh, scores, box_format="xywh").tolist() == [0, 2]


def test_lists_and_float64_arrays():
    boxes = [[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]]
    # a list has no dtype: taken as float32
    assert onnxscope.nms(boxes, [0.9, 0.8, 0.7]).tolist() == [0, 2]
    # float64 is rounded to float32, as the command reads float64 .npy files
    assert onnxscope.nms(np.array(boxes, np.float64), np.array([0.9, 0.8, 0.7])).tolist() == [0, 2]
    # a non-contiguous float32 view is read as it is
    wide = np.zeros((3, 8), dtype=np.float32)
    wide[:, ::2] = np.asarray(boxes, dtype=np.float32)
    assert onnxscope.nms(wide[:, ::2], np.array([0.9, 0.8, 0.7], np.float32)).tolist() == [0, 2]


@pytest.mark.parametrize("case", [c for c in REFERENCE["cases"] if c["kind"] == "nms"],
                         ids=lambda c: c["name"])
def test_matches_torchvision_reference(case):
    keep = onnxscope.nms(
        load(case["boxes"]),
        load(case["scores"]),
        load(case["classes"]) if "classes" in case else None,
        iou_threshold=case["iou_threshold"],
        box_format=case["box_format"],
        semantics=case["semantics"],
    )
    assert keep.tolist() == case["keep"]


@pytest.mark.parametrize("case", [c for c in REFERENCE["cases"] if c["kind"] == "detect"],
                         ids=lambda c: c["name"])
def test_layouts_match_references(case):
    doc = onnxscope.nms(
        load(case["boxes"]),
        load(case["scores"]) if "scores" in case else None,
        iou_threshold=case["iou_threshold"],
        score_threshold=case.get("score_threshold"),
        max_per_class=case.get("max_per_class"),
        box_format=case["box_format"],
        semantics=case["semantics"],
        layout=case["layout"],
        return_detections=True,
    )
    dets = doc["detections"]
    if "selected" in case:
        # onnxruntime's rows [batch, class, box]
        assert [[d.get("batch", 0), d["class"], d["index"]] for d in dets] == case["selected"]
    else:
        assert doc["keep"] == case["keep"]
        assert [d["class"] for d in dets] == case["classes_out"]


def test_detections_document_equals_the_commands_json(tmp_path):
    boxes, scores = load("nms_random_boxes.npy"), load("nms_random_scores.npy")
    doc = onnxscope.nms(boxes, scores, iou_threshold=0.3, return_detections=True)
    r = command("nms", "--boxes", str(POST / "nms_random_boxes.npy"),
                "--scores", str(POST / "nms_random_scores.npy"),
                "--iou-threshold", "0.3", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert doc == json.loads(r.stdout)


def test_bad_input_raises_one_line():
    boxes = np.zeros((5, 3), dtype=np.float32)
    with pytest.raises(onnxscope.OnnxscopeError) as e:
        onnxscope.nms(boxes, np.zeros(5, np.float32))
    assert str(e.value) == "boxes: expected shape [N,4] or [B,N,4], got [5, 3]"
    with pytest.raises(onnxscope.OnnxscopeError, match="invalid option"):
        onnxscope.nms(np.zeros((2, 4), np.float32), np.zeros(2, np.float32), iou_threshold=-1)
    with pytest.raises(onnxscope.OnnxscopeError) as e:
        onnxscope.nms(np.zeros((2, 4), np.int64), np.zeros(2, np.float32))
    assert str(e.value) == "boxes: expected a float32 or float64 array, got int64"
    with pytest.raises(onnxscope.OnnxscopeError, match="whole-number class ids"):
        onnxscope.nms(np.zeros((2, 4)), np.zeros(2), np.array([0.5, 1.0]))
    with pytest.raises(onnxscope.OnnxscopeError) as e:
        onnxscope.nms(np.zeros((2, 4)), np.zeros(2), box_format="yxyx")
    assert "'yxyx'" in str(e.value) and "xyxy, xywh, cxcywh" in str(e.value)
    with pytest.raises(onnxscope.OnnxscopeError, match="unsupported dtype"):
        onnxscope.nms(np.array([["a", "b", "c", "d"]]), np.zeros(1))
