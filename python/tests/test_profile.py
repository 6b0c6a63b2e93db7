"""profile(): the JSON document of `onnxscope profile --format json`, checked against figures
worked out by hand (the same as tests/models.rs and tests/check.rs), its DataFrames, its
notebook views and its errors."""

from __future__ import annotations

import json
import sys

import pytest

import onnxscope
from conftest import R50, RX50, TINY, command


def node(p, name):
    return next(n for n in p["nodes"] if n["name"] == name)


def test_tiny_cnn_per_node_and_totals_by_hand():
    p = onnxscope.profile(TINY, dims={"N": 1})
    # models/make_tiny.py: conv1 3→4 k3 p1 bias on 8×8: 2·3·9·64·4; conv2 4→4 k3 g2 no bias:
    # (2·2·9 − 1)·64·4; relu 4·64; maxpool k2 s2 → 4×4: (4−1)·4·16; gap 4·16; fc 4→10 with
    # bias 2·4·10.
    want = {
        "conv1": (2 * 3 * 9 * 64 * 4, 3 * 9 * 4 + 4),
        "relu1": (4 * 64, 0),
        "conv2": ((2 * 2 * 9 - 1) * 64 * 4, 2 * 9 * 4),
        "pool": ((4 - 1) * 4 * 16, 0),
        "gap": (4 * 16, 0),
        "flat": (0, 0),
        "fc": (2 * 4 * 10, 4 * 10 + 10),
    }
    for name, (flops, params) in want.items():
        n = node(p, name)
        assert (n["flops"], n["params"]) == (flops, params), name
    t = p["totals"]
    assert t["flops"] == 13_824 + 256 + 8_960 + 192 + 64 + 0 + 80 == 23_376
    assert t["macs"] == 11_560
    assert t["params"] == 112 + 72 + 50 == 234
    assert t["param_bytes"] == 234 * 4
    # conv1, relu1, conv2 outputs 1×4×8×8 float32; pool 1×4×4×4; gap and flat 4; fc 10
    assert t["activation_bytes"] == 3 * 4 * 64 * 4 + 4 * 16 * 4 + 2 * 4 * 4 + 10 * 4 == 3_400
    assert t["nodes"] == 7
    assert p["dims"] == {"N": 1}
    assert p["schema_version"] == 1


def test_resnet50_matches_independent_figures():
    p = onnxscope.profile(R50, dims={"N": 1})
    t = p["totals"]
    # torchvision resnet50 with BN folded: 25,557,032 − 53,120 BN γ/β + 26,560 conv biases
    assert t["params"] == 25_557_032 - 53_120 + 26_560
    assert t["flops"] == 8_195_202_560
    assert t["macs"] == 4_089_184_256
    # the stem: 3→64, 7×7, stride 2, bias, 112×112 out
    stem = node(p, "/conv1/Conv")
    assert stem["flops"] == 2 * 3 * 49 * 112 * 112 * 64
    assert stem["params"] == 3 * 49 * 64 + 64
    assert any("weights absent" in w for w in p["warnings"])


def test_resnext50_grouped_conv_savings():
    p = onnxscope.profile(RX50, dims="N=1")
    g = p["totals"]["grouped_conv"]
    assert g["count"] == 16
    assert g["saved_flops"] == g["dense_flops"] - g["flops"] == 14_797_504_512 - 462_422_016
    c = node(p, "/layer1/layer1.0/conv2/Conv")
    # 128→128, 3×3, 32 groups of 4 channels, bias, 56×56
    assert c["group"] == 32
    assert c["flops"] == 2 * 4 * 9 * 56 * 56 * 128


def test_unbound_symbol_stays_symbolic_and_binds_linearly():
    p = onnxscope.profile(TINY)
    assert p["totals"]["flops"] == "23376*N"
    assert p["dims"] == {"N": None}
    assert onnxscope.profile(TINY, dims=["N=3"])["totals"]["flops"] == 3 * 23_376


def test_inputs_force_the_input_shape():
    # a batch of 2 through the input shape instead of the symbol
    p = onnxscope.profile(TINY, inputs={"x": (2, 3, 8, 8)})
    assert p["totals"]["flops"] == 2 * 23_376
    assert onnxscope.profile(TINY, inputs={"x": "2x3x8x8"}) == p


def test_document_equals_the_commands_json():
    p = onnxscope.profile(TINY, dims={"N": 1})
    r = command("profile", TINY, "--dim", "N=1", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert isinstance(p, dict)
    assert p == json.loads(r.stdout)
    assert json.loads(p.to_json()) == p
    assert p.to_json() == r.stdout.rstrip("\n")


def test_roofline_and_training_options_reach_the_command():
    plain = onnxscope.profile(TINY, dims={"N": 1})
    roof = onnxscope.profile(TINY, dims={"N": 1}, device="a100")
    assert plain["roofline"] is None and roof["roofline"] is not None
    custom = onnxscope.profile(TINY, dims={"N": 1}, peak_gflops=100, bandwidth_gbs=10)
    assert custom["roofline"] is not None
    train = onnxscope.profile(TINY, train=True, batch=4, optimizer="sgd")
    assert plain["training"] is None and train["training"] is not None
    # --batch binds N = 4
    assert train["totals"]["flops"] == 4 * 23_376


def test_frames_with_pandas():
    pd = pytest.importorskip("pandas")
    p = onnxscope.profile(TINY, dims={"N": 1})
    nodes = p.nodes_frame()
    assert isinstance(nodes, pd.DataFrame)
    assert list(nodes["name"]) == ["conv1", "relu1", "conv2", "pool", "gap", "flat", "fc"]
    assert int(nodes["flops"].sum()) == 23_376
    assert nodes.set_index("name").loc["conv1", "output_shape"] == "1x4x8x8"
    assert "inputs" not in nodes.columns and "outputs" not in nodes.columns
    ops = p.by_op_frame()
    conv = ops.set_index("op_type").loc["Conv"]
    assert (conv["count"], conv["flops"], conv["params"]) == (2, 13_824 + 8_960, 112 + 72)


def test_frames_without_pandas_say_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    p = onnxscope.profile(TINY, dims={"N": 1})
    for frame in (p.nodes_frame, p.by_op_frame):
        with pytest.raises(ImportError, match=r"need pandas.*pip install pandas"):
            frame()


def test_notebook_views():
    p = onnxscope.profile(TINY, dims={"N": 1})
    h = p._repr_html_()
    assert h.startswith("<div>") and h.endswith("</div>")
    # totals in the table's units (23,376 → 23.4 k) and exact
    assert "23.4 k" in h and "23376" in h
    # top nodes by FLOPs, largest first: conv1 (13,824) before conv2 (8,960)
    assert h.index("conv1") < h.index("conv2")
    assert "<td>Conv</td>" in h
    # conv1 is 13,824 / 23,376 = 59.14% of the FLOPs
    assert "59.14%" in h
    md = p._repr_markdown_()
    assert "| name | op_type |" in md and "| conv1 | Conv | 1x4x8x8 |" in md


def test_html_escapes_names(tmp_path):
    p = onnxscope.profile(TINY, dims={"N": 1})
    p["nodes"][0]["name"] = "<b>x</b>"
    assert "<b>x</b>" not in p._repr_html_() and "&lt;b&gt;x&lt;/b&gt;" in p._repr_html_()


def _stderr_line(*args):
    r = command(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0][len("error: "):]


def test_missing_file_raises_the_commands_message():
    with pytest.raises(onnxscope.OnnxscopeError) as e:
        onnxscope.profile("models/no_such.onnx")
    msg = str(e.value)
    assert "models/no_such.onnx" in msg and "cannot read" in msg and "\n" not in msg
    assert msg == _stderr_line("profile", "models/no_such.onnx", "--format", "json")
    assert isinstance(e.value, ValueError)


def test_not_onnx_raises(tmp_path):
    bad = tmp_path / "garbage.onnx"
    bad.write_bytes(b"\x08\x07\x12\xff\xff not a protobuf")
    with pytest.raises(onnxscope.OnnxscopeError, match="garbage.onnx") as e:
        onnxscope.profile(bad)
    assert str(e.value) == _stderr_line("profile", str(bad))


def test_bad_dims_raise_the_commands_message():
    with pytest.raises(onnxscope.OnnxscopeError) as e:
        onnxscope.profile(TINY, dims={"N": -1})
    assert str(e.value) == "bad argument --dim: N=-1: dims must be zero or positive"
    with pytest.raises(onnxscope.OnnxscopeError, match="is not SYM=VALUE"):
        onnxscope.profile(TINY, dims=["N"])


def test_bad_option_value_is_one_line():
    with pytest.raises(onnxscope.OnnxscopeError) as e:
        onnxscope.profile(TINY, optimizer="lion", train=True)
    msg = str(e.value)
    assert "'lion'" in msg and "possible values" in msg and "\n" not in msg


def test_a_path_that_looks_like_a_flag_is_a_path(tmp_path):
    with pytest.raises(onnxscope.OnnxscopeError, match="--strict"):
        onnxscope.profile("--strict")


def test_wrong_argument_types_raise_type_error():
    with pytest.raises(TypeError):
        onnxscope.profile(42)
    with pytest.raises(TypeError):
        onnxscope.profile(TINY, dims={"N": True})
