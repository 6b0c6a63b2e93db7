"""The `onnxscope` command the wheel installs: the crate's parser and dispatch, so flags,
output and exit codes (0 ok, 1 over budget, 2 error) are the binary's."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import onnxscope
from conftest import R50, ROOT, TINY, command, script


def test_version_and_help():
    r = command("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"onnxscope {onnxscope.__version__}"
    r = command("--help")
    assert r.returncode == 0
    for sub in ("profile", "compare", "check", "run", "nms", "dice", "synth"):
        assert sub in r.stdout


def test_profile_table_and_json():
    r = command("profile", TINY, "--dim", "N=1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("models/tiny_cnn.onnx\n")
    assert "Totals: 23.4 k FLOPs" in r.stdout
    j = command("profile", TINY, "--dim", "N=1", "--format", "json")
    assert json.loads(j.stdout)["totals"]["flops"] == 23_376


def test_exit_codes():
    ok = command("check", TINY, "--dim", "N=1", "--max-flops", "25k")
    assert ok.returncode == 0, ok.stderr
    over = command("check", TINY, "--dim", "N=1", "--max-params", "200", "--format", "github")
    assert over.returncode == 1
    # GitHub annotation; % is escaped as %25 in annotation messages
    assert ("::error file=models/tiny_cnn.onnx::max_params: 234 params, over the limit 200 "
            "(--max-params) by 34 (17.00%25)") in over.stdout
    err = command("profile", "models/no_such.onnx")
    assert err.returncode == 2 and err.stdout == ""
    assert err.stderr.startswith("error: models/no_such.onnx") and err.stderr.count("\n") == 1
    usage = command("profile", TINY, "--no-such-flag")
    assert usage.returncode == 2 and "--no-such-flag" in usage.stderr


def test_python_dash_m():
    r = subprocess.run([sys.executable, "-m", "onnxscope", "profile", TINY, "--dim", "N=1",
                        "--format", "json"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["totals"]["macs"] == 11_560


def test_closed_pipe_ends_quietly():
    # `onnxscope profile ... | head -1`: the reader goes away, the command ends without a trace
    p = subprocess.Popen([script(), "profile", R50, "--dim", "N=1", "--format", "csv"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read().decode()
    code = p.wait()
    assert first.startswith(b"name,op_type")
    assert code == 0 and err == "", err


def test_the_script_is_the_installed_one():
    assert os.path.dirname(script()) == os.path.dirname(sys.executable)
