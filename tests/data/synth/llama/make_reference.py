"""Reference logits for `synth llama` from onnxruntime (tests/synth_llama.rs).

    cargo build && python tests/data/synth/llama/make_reference.py target/debug/onnxscope

Synthesizes the tiny decoders the test synthesizes (same flags, same seed), runs a prefill of
five tokens through onnxruntime (CPU) and saves the logits as <precision>_logits.npy here.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
FLAGS = ["--layers", "2", "--hidden", "64", "--heads", "4", "--kv-heads", "2",
         "--intermediate", "128", "--vocab", "256", "--max-position", "128", "--seed", "7"]
IDS = np.array([[1, 17, 42, 99, 200]], dtype=np.int64)

def main(binary):
    for p in ["fp32", "int4"]:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.onnx")
            subprocess.run([binary, "synth", "llama", *FLAGS, "--precision", p, "-o", path], check=True)
            s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            feeds = {"input_ids": IDS, "attention_mask": np.ones((1, 5), np.int64)}
            for l in range(2):
                for kv in ["key", "value"]:
                    feeds[f"past_key_values.{l}.{kv}"] = np.zeros((1, 2, 0, 16), np.float32)
            logits = s.run(["logits"], feeds)[0]
            np.save(os.path.join(HERE, f"{p}_logits.npy"), logits)
            print(p, logits.shape, float(np.abs(logits).max()), "onnxruntime", ort.__version__)

if __name__ == "__main__":
    main(sys.argv[1])
