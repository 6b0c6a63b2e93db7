"""compare(): models side by side, deltas against the first, as `compare --format json`."""

from __future__ import annotations

import json

import pytest

import onnxscope
from conftest import R50, RX50, TINY, command


def row(c, key):
    return next(r for r in c["rows"] if r["key"] == key)


def test_resnet50_against_resnext50_totals():
    c = onnxscope.compare([R50, RX50], dims={"N": 1})
    assert [m["path"] for m in c["models"]] == [R50, RX50]
    assert c["by"] == "total"
    flops = row(c, "flops")
    assert flops["values"] == [8_195_202_560, 8_481_080_320]
    # delta against the first model: 8,481,080,320 − 8,195,202,560
    assert flops["delta"][1] == 285_877_760
    assert flops["delta_pct"][1] == pytest.approx(100 * 285_877_760 / 8_195_202_560, abs=0.01)
    assert row(c, "params")["values"] == [25_530_472, 24_994_792]


def test_by_op_and_by_node():
    c = onnxscope.compare([TINY, TINY], dims={"N": 1}, by="op")
    conv = row(c, "Conv")
    # conv1 + conv2 = 13,824 + 8,960
    assert conv["values"] == [22_784, 22_784]
    n = onnxscope.compare([TINY, TINY], dims={"N": 1}, by="node")
    assert n["node_diff"][0]["added"] == [] and n["node_diff"][0]["changed"] == []


def test_the_commands_json():
    c = onnxscope.compare([TINY, R50], dims={"N": 1})
    r = command("compare", TINY, R50, "--dim", "N=1", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert c == json.loads(r.stdout)
    assert "<table>" in c._repr_html_()
    assert "| key |" in c._repr_markdown_()


def test_errors():
    with pytest.raises(onnxscope.OnnxscopeError, match="at least two models"):
        onnxscope.compare(TINY)
    with pytest.raises(onnxscope.OnnxscopeError, match="no_such.onnx"):
        onnxscope.compare([TINY, "models/no_such.onnx"])
    with pytest.raises(onnxscope.OnnxscopeError, match="possible values"):
        onnxscope.compare([TINY, TINY], by="everything")
