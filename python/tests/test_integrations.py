"""The CI integrations of `check`: the composite GitHub Action (action.yml), whose check step
is run here as GitHub would run it, and the pre-commit hook (.pre-commit-hooks.yaml)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

import pytest

from conftest import ROOT, TINY

yaml = pytest.importorskip("yaml")


def action():
    return yaml.safe_load((ROOT / "action.yml").read_text())


def check_step():
    return next(s for s in action()["runs"]["steps"] if s.get("name") == "Check model budgets")


def run_step(tmp_path, **inputs):
    """The check step's script with the action's inputs (defaults filled in) as GitHub passes
    them, the installed onnxscope first on PATH."""
    a = action()
    values = {k: v.get("default", "") for k, v in a["inputs"].items()}
    values.update(inputs)
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env["PATH"]
    env["GITHUB_STEP_SUMMARY"] = str(tmp_path / "summary.md")
    for k, v in check_step()["env"].items():
        name = v.strip().removeprefix("${{ inputs.").removesuffix(" }}")
        env[k] = str(values[name])
    return subprocess.run(["bash", "-e", "-c", check_step()["run"]], cwd=ROOT, env=env,
                          capture_output=True, text=True)


def test_action_shape():
    a = action()
    assert a["runs"]["using"] == "composite"
    assert a["inputs"]["format"]["default"] == "github"
    assert {"models", "budget", "format"} <= set(a["inputs"])
    install = next(s for s in a["runs"]["steps"] if s.get("name") == "Install onnxscope")
    assert "pip install" in install["run"]


def test_action_annotates_and_fails_over_budget(tmp_path):
    budget = tmp_path / "budget.toml"
    budget.write_text("max_params = 200\n[dims]\nN = 1\n")
    r = run_step(tmp_path, models="models/tiny*.onnx", budget=str(budget))
    assert r.returncode == 1, r.stderr
    assert "::error file=models/tiny_cnn.onnx::max_params: 234 params" in r.stdout
    # the job summary gets the Markdown table
    assert "| `models/tiny_cnn.onnx` | `max_params` | 234 | 200 |" in (
        tmp_path / "summary.md").read_text()


def test_action_passes_within_budget_with_extra_args(tmp_path):
    r = run_step(tmp_path, models=f"{TINY}\n", args="--dim N=1 --max-flops 25k")
    assert r.returncode == 0, r.stdout + r.stderr


def test_action_reports_a_pattern_without_models(tmp_path):
    r = run_step(tmp_path, models="models/**/nothing*.onnx", args="--max-flops 1")
    assert r.returncode == 2
    assert "::error::onnxscope check: no model matches 'models/**/nothing*.onnx'" in r.stdout


def test_pre_commit_hook_runs_check_on_onnx_files(tmp_path):
    [hook] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "onnxscope-check"
    assert hook["language"] == "python"
    import re

    files = re.compile(hook["files"])
    assert files.search("models/tiny_cnn.onnx") and not files.search("models/README.md")
    # pre-commit runs `entry args... files...`
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env["PATH"]
    argv = shlex.split(hook["entry"]) + ["--dim", "N=1", "--max-params", "300", TINY]
    assert subprocess.run(argv, cwd=ROOT, env=env, capture_output=True).returncode == 0
    argv = shlex.split(hook["entry"]) + ["--dim", "N=1", "--max-params", "200", TINY]
    assert subprocess.run(argv, cwd=ROOT, env=env, capture_output=True).returncode == 1
