"""Reference data for `run` on models/odd/stale_value_info.onnx: a seeded input and the output
onnxruntime computes for it (tests/data/odd/). The test runs the model with the input pinned by
`--input x=2x3x8x8`, which contradicts nothing but the stale symbols of the stored value_info.

    python models/odd/make_run_reference.py
"""

import os

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "tests", "data", "odd")
os.makedirs(OUT, exist_ok=True)

x = np.random.default_rng(7).standard_normal((2, 3, 8, 8)).astype(np.float32)
sess = ort.InferenceSession(os.path.join(HERE, "stale_value_info.onnx"), providers=["CPUExecutionProvider"])
(y,) = sess.run(None, {"x": x})
np.save(os.path.join(OUT, "stale_x.npy"), x)
np.save(os.path.join(OUT, "stale_y.npy"), y)
print("y", y.shape, y.dtype)
