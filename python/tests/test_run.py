"""run(): models executed with tract on NumPy arrays, outputs against onnxruntime's (the
references in models/det and models/seg, made by their generator scripts)."""

from __future__ import annotations

import numpy as np
import pytest

import onnxscope
from conftest import R50, ROOT, TINY

# (model, input name, input file, onnxruntime output file, output name)
REFERENCES = [
    ("models/det/det.onnx", "images", "models/det/input.npy", "models/det/output.npy", "output0"),
    ("models/seg/seg.onnx", "image", "models/seg/input.npy", "models/seg/output.npy", "logits"),
    (TINY, "x", "models/det/ref_tiny_cnn_input.npy", "models/det/ref_tiny_cnn_output.npy", "y"),
    (
        "models/realworld/small_convnet_qdq.onnx",
        "x",
        "models/det/ref_small_convnet_qdq_input.npy",
        "models/det/ref_small_convnet_qdq_output.npy",
        "y",
    ),
]


@pytest.mark.parametrize("model,name,inp,out,out_name", REFERENCES, ids=lambda v: str(v))
def test_outputs_equal_onnxruntime(model, name, inp, out, out_name):
    x = np.load(ROOT / inp)
    want = np.load(ROOT / out)
    got = onnxscope.run(model, {name: x})
    assert list(got) == [out_name]
    y = got[out_name]
    assert isinstance(y, np.ndarray) and y.dtype == want.dtype and y.shape == want.shape
    assert np.max(np.abs(y - want)) <= 1e-4


def test_tiny_cnn_by_hand_shapes_and_batch_binding():
    # N = 3 binds the batch symbol from the array: output [3, 10]
    x = np.zeros((3, 3, 8, 8), dtype=np.float32)
    y = onnxscope.run(TINY, {"x": x})["y"]
    assert y.shape == (3, 10)
    # the same input in every batch row gives the same output row
    assert np.all(y == y[0])


def test_random_inputs_are_seeded():
    a = onnxscope.run(TINY, random=True, seed=7, dims={"N": 2})["y"]
    b = onnxscope.run(TINY, random=True, seed=7, dims={"N": 2})["y"]
    c = onnxscope.run(TINY, random=True, seed=8, dims={"N": 2})["y"]
    assert a.shape == (2, 10)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_bad_inputs_raise_one_line():
    with pytest.raises(onnxscope.OnnxscopeError) as e:
        onnxscope.run(TINY, {"x": np.zeros((1, 3, 8, 8), dtype=np.float64)})
    assert "input 'x' takes float32" in str(e.value) and "float64" in str(e.value)
    with pytest.raises(onnxscope.OnnxscopeError) as e:
        onnxscope.run(TINY, {"x": np.zeros((1, 3, 9, 8), dtype=np.float32)})
    assert "axis 2 is 9, the model fixes it at 8" in str(e.value)
    with pytest.raises(onnxscope.OnnxscopeError, match="has no input 'image'; its inputs: 'x'"):
        onnxscope.run(TINY, {"image": np.zeros((1, 3, 8, 8), np.float32)})
    with pytest.raises(onnxscope.OnnxscopeError, match="input 'x' .* has no data"):
        onnxscope.run(TINY, {})
    with pytest.raises(onnxscope.OnnxscopeError) as e:
        onnxscope.run(R50, random=True)
    msg = str(e.value)
    assert "weights absent" in msg and "resnet50.onnx.data" in msg and "\n" not in msg
