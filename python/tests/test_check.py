"""check(): budgets with numbers and unit strings, budget files, baselines, .passed and
.violations, against figures worked out by hand (as in tests/check.rs)."""

from __future__ import annotations

import json

import pytest

import onnxscope
from conftest import R50, RX50, TINY, command


def find(result, name, model=0):
    return next(c for c in result["models"][model]["checks"] if c["name"] == name)


def vlmp(c):
    return (c["value"], c["limit"], c["margin"], c["pass"])


def test_within_and_over_model_limits():
    # tiny_cnn at N=1: 23,376 FLOPs and 234 params
    r = onnxscope.check(TINY, dims={"N": 1}, max_flops=30_000, max_params=200)
    assert vlmp(find(r, "max_flops")) == (23_376, 30_000, 30_000 - 23_376, True)
    assert vlmp(find(r, "max_params")) == (234, 200, 200 - 234, False)
    assert r.passed is False
    assert r.exit_code == 1
    [v] = r.violations
    assert (v["model"], v["name"], v["value"], v["limit"]) == (TINY, "max_params", 234, 200)
    assert v["message"] == "234 params, over the limit 200 (--max-params) by 34 (17.00%)"

    ok = onnxscope.check(TINY, dims={"N": 1}, max_flops="25k", max_params=300)
    # 25k = 25,000: 1,624 to spare
    assert vlmp(find(ok, "max_flops")) == (23_376, 25_000, 1_624, True)
    assert ok.passed is True and ok.violations == [] and ok.exit_code == 0


def test_si_and_binary_units():
    # ResNet-50's weights: 25,530,472 float32 = 102,121,888 bytes
    weights = 25_530_472 * 4
    r = onnxscope.check(R50, max_param_bytes="100MiB")
    assert vlmp(find(r, "max_param_bytes")) == (
        weights,
        100 * 1_048_576,
        100 * 1_048_576 - weights,
        True,
    )
    r = onnxscope.check(R50, max_param_bytes="100MB")
    assert vlmp(find(r, "max_param_bytes")) == (
        weights,
        100_000_000,
        100_000_000 - weights,
        False,
    )
    assert not r.passed


def test_floats_that_are_whole_numbers_are_amounts():
    # 8.5e9 as a float is the amount 8,500,000,000 ("8.5G")
    a = onnxscope.check(RX50, dims={"N": 1}, max_flops=8.5e9)
    b = onnxscope.check(RX50, dims={"N": 1}, max_flops="8.5G")
    assert a == b
    assert vlmp(find(a, "max_flops")) == (
        8_481_080_320,
        8_500_000_000,
        8_500_000_000 - 8_481_080_320,
        True,
    )


def test_several_models_and_a_budget_file(tmp_path):
    budget = tmp_path / "budget.toml"
    budget.write_text('[dims]\nN = 1\n[op_type.Conv]\nmax_flops = "13k"\n')
    r = onnxscope.check([TINY, R50], budget=budget, max_params="26M")
    assert [m["path"] for m in r["models"]] == [TINY, R50]
    # tiny: conv1 is the largest Conv, 2·3·9·64·4 = 13,824 FLOPs > 13,000
    conv = find(r, "op_type.Conv.max_flops")
    assert vlmp(conv) == (13_824, 13_000, 13_000 - 13_824, False)
    assert conv["source"] == f"{budget}:4"
    # ResNet-50: 25,530,472 params ≤ 26,000,000
    assert vlmp(find(r, "max_params", model=1)) == (
        25_530_472,
        26_000_000,
        26_000_000 - 25_530_472,
        True,
    )
    assert {(v["model"], v["name"]) for v in r.violations} >= {
        (TINY, "op_type.Conv.max_flops"),
        (R50, "op_type.Conv.max_flops"),
    }


def test_baseline_and_max_increase():
    # the same model as its own baseline: nothing grows
    r = onnxscope.check(TINY, dims={"N": 1}, baseline=TINY)
    assert r.passed
    assert find(r, "baseline.flops")["value"] == 23_376
    # ResNeXt-50 against ResNet-50: FLOPs grow by 8,481,080,320 − 8,195,202,560 = 285,877,760
    # (3.49%), over 2% and within 4%
    r = onnxscope.check(RX50, dims={"N": 1}, baseline=R50, max_increase="2%")
    assert not r.passed
    assert any(v["name"] == "baseline.flops" for v in r.violations)
    r = onnxscope.check(RX50, dims={"N": 1}, baseline=R50, max_increase="4%")
    assert find(r, "baseline.flops")["pass"]


def test_document_equals_the_commands_json_and_exit_code():
    r = onnxscope.check(TINY, dims={"N": 1}, max_flops="25k", max_params=200)
    c = command("check", TINY, "--dim", "N=1", "--max-flops", "25k", "--max-params", "200",
                "--format", "json")
    assert c.returncode == r.exit_code == 1
    assert r == json.loads(c.stdout)
    assert json.loads(r.to_json()) == r


def test_views():
    r = onnxscope.check(TINY, dims={"N": 1}, max_flops="25k", max_params=200)
    assert ">FAIL</td>" in r._repr_html_() and ">pass</td>" in r._repr_html_()
    assert "| models/tiny_cnn.onnx | max_params | 234 | 200 | -34 | FAIL |" in r._repr_markdown_()


def test_errors_raise_with_the_commands_message():
    with pytest.raises(onnxscope.OnnxscopeError, match="no limit applies"):
        onnxscope.check(TINY, dims={"N": 1})
    # a count still symbolic cannot be compared with a limit
    with pytest.raises(onnxscope.OnnxscopeError) as e:
        onnxscope.check(TINY, max_flops="1G")
    assert "models/tiny_cnn.onnx: flops is 23376*N" in str(e.value)
    assert "--dim N=VALUE" in str(e.value)
    # K is refused as ambiguous
    with pytest.raises(onnxscope.OnnxscopeError, match="K") as e:
        onnxscope.check(TINY, dims={"N": 1}, max_flops="25K")
    assert "\n" not in str(e.value)
    with pytest.raises(onnxscope.OnnxscopeError, match="no_such.onnx"):
        onnxscope.check("models/no_such.onnx", max_flops=1)
    with pytest.raises(onnxscope.OnnxscopeError, match="no_such_budget.toml"):
        onnxscope.check(TINY, budget="models/no_such_budget.toml")
    with pytest.raises(TypeError):
        onnxscope.check(TINY, max_flops=True)


def test_error_message_is_the_commands_line():
    with pytest.raises(onnxscope.OnnxscopeError) as e:
        onnxscope.check("models/no_such.onnx", max_flops="1G")
    c = command("check", "models/no_such.onnx", "--max-flops", "1G")
    assert c.returncode == 2
    assert c.stderr == f"error: {e.value}\n"
    # a bad amount is refused by the parser: the same message on one line
    with pytest.raises(onnxscope.OnnxscopeError) as e:
        onnxscope.check(TINY, dims={"N": 1}, max_flops="8.5X")
    assert "'8.5X'" in str(e.value) and "--max-flops" in str(e.value)
    assert "\n" not in str(e.value)
