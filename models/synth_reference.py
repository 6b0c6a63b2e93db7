"""Reference outputs of synthesized models, for the Rust test that runs them in tract.

Writes a seeded input and onnxruntime's outputs for `onnxscope synth resnext` models (64×64
input, 10 classes, seed 0, batch 1) into tests/data/synth/. Run from the repository root after
building the binary:

    cargo build --release
    python models/synth_reference.py [--bin target/release/onnxscope]
"""

import argparse
import pathlib
import subprocess
import tempfile

import numpy as np
import onnx
import onnxruntime as ort

CONFIGS = [(1, 64, False), (32, 4, False), (32, 4, True)]  # (cardinality, width, fold_bn)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/onnxscope")
    args = ap.parse_args()
    out = pathlib.Path("tests/data/synth")
    out.mkdir(parents=True, exist_ok=True)
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    np.save(out / "input_1x3x64x64.npy", x)
    with tempfile.TemporaryDirectory() as d:
        for c, w, fold in CONFIGS:
            name = f"resnext50_{c}x{w}d{'_folded' if fold else ''}"
            path = pathlib.Path(d) / f"{name}.onnx"
            cmd = [args.bin, "synth", "resnext", "--depth", "50", "--cardinality", str(c),
                   "--width", str(w), "--input", "64", "--classes", "10", "--seed", "0",
                   "--batch", "1", "-o", str(path)]
            if fold:
                cmd.append("--fold-bn")
            subprocess.run(cmd, check=True)
            onnx.checker.check_model(str(path), full_check=True)
            sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            (y,) = sess.run(None, {"input": x})
            np.save(out / f"{name}.npy", y)
            print(name, y.shape, float(y.min()), float(y.max()))


if __name__ == "__main__":
    main()
