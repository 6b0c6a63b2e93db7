"""Shared helpers: the repository root (tests run from it, so model paths read as in the README)
and the installed `onnxscope` console script of the environment under test."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY = "models/tiny_cnn.onnx"
R50 = "models/resnet50.onnx"
RX50 = "models/resnext50_32x4d.onnx"
POST = ROOT / "tests" / "data" / "post"


@pytest.fixture(autouse=True)
def _at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def script() -> str:
    """The console script installed beside this interpreter (not a cargo-built binary on PATH)."""
    bindir = os.path.dirname(sys.executable)
    exe = os.path.join(bindir, "onnxscope.exe" if os.name == "nt" else "onnxscope")
    assert os.path.exists(exe), f"no onnxscope script in {bindir}: is the wheel installed?"
    return exe


def command(*args: str, **kw) -> subprocess.CompletedProcess:
    """Runs the installed `onnxscope ARGS...` from the repository root."""
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    return subprocess.run(
        [script(), *args], cwd=ROOT, capture_output=True, text=True, env=env, **kw
    )
