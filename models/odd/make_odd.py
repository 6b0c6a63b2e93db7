"""Writes the small fixtures for real exports' odd dims and If-branch scope (issue 12).

    python models/odd/make_odd.py          # writes models/odd/*.onnx, checks them with onnxruntime

- ``paddle_cls.onnx``: a PP-OCR-classifier-shaped net whose batch is declared ``dim_value: -1``
  (input, output and value_info), as Paddle exports do: Conv(bias)+BatchNormalization+Relu+
  GlobalAveragePool+Flatten+Gemm(bias)+Softmax on x [-1, 3, 8, 8].
- ``stale_value_info.onnx``: input x ["DynamicDimension.0", 3, 8, 8] whose stored value_info and
  outputs carry symbols (``unk__12``, ``DynamicDimension.0``) that a pinned input resolves:
  Conv(no bias) → Relu → GlobalAveragePool → Flatten → Unsqueeze → GRU → Squeeze → Gemm(bias).
- ``if_lstm.onnx``: silero-vad-shaped: the network sits inside the branches of an ``If`` on
  ``Equal(sr, 16000)``; each branch reads the outer input ``x`` [1, 1, 16] and outer
  initializers (conv and LSTM weights, a Reshape target) by name. then: an If on the input's
  rank (Shape → Size → Equal 2; Unsqueeze or Identity) → Conv k3 → Transpose →
  LSTM(H=4) → Reshape; else: Conv k5 stride 2 → Transpose → LSTM(H=4) → Reshape → a nested
  ``If`` whose branches read a main-graph initializer. After the If: Softmax.

The expected counts are worked out by hand in tests/odd_dims.rs. Each branch is also written as a
standalone model with its intermediate tensors as outputs and run in onnxruntime, which checks
the shapes the hand counts use.
"""

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(0)
F = TensorProto.FLOAT


def init(name, shape, dtype=np.float32):
    return numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(dtype), name)


def ints(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def save(model, name):
    onnx.checker.check_model(model, full_check=False)
    path = os.path.join(HERE, name)
    onnx.save(model, path)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")
    return path


def paddle_cls():
    nodes = [
        helper.make_node("Conv", ["x", "conv_w", "conv_b"], ["c"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("BatchNormalization", ["c", "bn_s", "bn_b", "bn_m", "bn_v"], ["bn"], name="bn"),
        helper.make_node("Relu", ["bn"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["fc"], transB=1, name="fc"),
        helper.make_node("Softmax", ["fc"], ["y"], axis=-1, name="softmax"),
    ]
    var = np.abs(rng.standard_normal(4)).astype(np.float32) + 0.5
    inits = [
        init("conv_w", (4, 3, 3, 3)),
        init("conv_b", (4,)),
        init("bn_s", (4,)),
        init("bn_b", (4,)),
        init("bn_m", (4,)),
        numpy_helper.from_array(var, "bn_v"),
        init("fc_w", (2, 4)),
        init("fc_b", (2,)),
    ]
    g = helper.make_graph(
        nodes,
        "paddle_cls",
        [helper.make_tensor_value_info("x", F, [-1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", F, [-1, 2])],
        inits,
        value_info=[helper.make_tensor_value_info("flat", F, [-1, 4])],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="PaddlePaddle")
    m.ir_version = 8
    path = save(m, "paddle_cls.onnx")
    import onnxruntime as ort

    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for n in (1, 3):
        (y,) = s.run(None, {"x": rng.standard_normal((n, 3, 8, 8)).astype(np.float32)})
        assert y.shape == (n, 2), y.shape
    print("  onnxruntime: batch 1 and 3 run, y [N, 2]")


def stale_value_info():
    n_sym = "DynamicDimension.0"
    nodes = [
        helper.make_node("Conv", ["x", "conv_w"], ["c"], name="conv"),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"),
        helper.make_node("Unsqueeze", ["flat", "axes0"], ["seq"], name="unsqueeze"),
        helper.make_node("GRU", ["seq", "gru_w", "gru_r"], ["", "h"], hidden_size=3, name="gru"),
        helper.make_node("Squeeze", ["h", "axes0"], ["hs"], name="squeeze"),
        helper.make_node("Gemm", ["hs", "fc_w", "fc_b"], ["y"], transB=1, name="fc"),
    ]
    inits = [
        init("conv_w", (4, 3, 1, 1)),
        ints("axes0", [0]),
        init("gru_w", (1, 9, 4)),
        init("gru_r", (1, 9, 3)),
        init("fc_w", (5, 3)),
        init("fc_b", (5,)),
    ]
    vi = helper.make_tensor_value_info
    g = helper.make_graph(
        nodes,
        "stale",
        [vi("x", F, [n_sym, 3, 8, 8])],
        [vi("y", F, ["unk__14", 5])],
        inits,
        value_info=[
            vi("c", F, ["unk__12", 4, 8, 8]),
            vi("r", F, [n_sym, 4, 8, 8]),
            vi("gap", F, ["unk__13", 4, 1, 1]),
            vi("flat", F, [n_sym, 4]),
            vi("seq", F, [1, "unk__15", 4]),
            vi("h", F, [1, "unk__16", 3]),
            vi("hs", F, ["unk__16", 3]),
        ],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    path = save(m, "stale_value_info.onnx")
    import onnxruntime as ort

    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (y,) = s.run(None, {"x": rng.standard_normal((2, 3, 8, 8)).astype(np.float32)})
    assert y.shape == (2, 5), y.shape
    print("  onnxruntime: x [2, 3, 8, 8] → y [2, 5]")


def if_branches():
    """The If model's branch bodies (node lists) and the initializers they read."""
    vi = helper.make_tensor_value_info
    # silero's `if x.dim() == 2: x = x.unsqueeze(1)`: a condition on a shape, known statically
    rank_if = helper.make_node(
        "If",
        ["t_is2d"],
        ["t_x3"],
        name="t_rank_if",
        then_branch=helper.make_graph(
            [helper.make_node("Unsqueeze", ["x", "axes1"], ["t_unsq"], name="t_unsqueeze")],
            "t_2d", [], [vi("t_unsq", F, [None, None, None, None])]
        ),
        else_branch=helper.make_graph(
            [helper.make_node("Identity", ["x"], ["t_same"], name="t_identity")],
            "t_3d", [], [vi("t_same", F, [None, None, None])]
        ),
    )
    then_nodes = [
        helper.make_node("Shape", ["x"], ["t_shape"], name="t_shape"),
        helper.make_node("Size", ["t_shape"], ["t_rank"], name="t_size"),
        helper.make_node("Equal", ["t_rank", "two"], ["t_is2d"], name="t_is2d"),
        rank_if,
        helper.make_node("Conv", ["t_x3", "w16", "b16"], ["t_c"], pads=[1, 1], name="t_conv"),
        helper.make_node("Transpose", ["t_c"], ["t_seq"], perm=[2, 0, 1], name="t_transpose"),
        helper.make_node("LSTM", ["t_seq", "lw16", "lr16", "lb16"], ["", "t_h"], hidden_size=4, name="t_lstm"),
        helper.make_node("Reshape", ["t_h", "shape_out"], ["t_out"], name="t_reshape"),
    ]
    else_nodes = [
        helper.make_node("Conv", ["x", "w8", "b8"], ["e_c"], pads=[2, 2], strides=[2], name="e_conv"),
        helper.make_node("Transpose", ["e_c"], ["e_seq"], perm=[2, 0, 1], name="e_transpose"),
        helper.make_node("LSTM", ["e_seq", "lw8", "lr8", "lb8"], ["", "e_h"], hidden_size=4, name="e_lstm"),
        helper.make_node("Reshape", ["e_h", "shape_out"], ["e_r"], name="e_reshape"),
    ]
    inits = [
        init("w16", (4, 1, 3)),
        init("b16", (4,)),
        init("lw16", (1, 16, 4)),
        init("lr16", (1, 16, 4)),
        init("lb16", (1, 32)),
        init("w8", (2, 1, 5)),
        init("b8", (2,)),
        init("lw8", (1, 16, 2)),
        init("lr8", (1, 16, 4)),
        init("lb8", (1, 32)),
        ints("shape_out", [1, 4]),
        ints("axes1", [1]),
        ints("two", 2),
        init("scale", (1,)),
        ints("sr16k", 16000),
        ints("sr8k", 8000),
    ]
    return then_nodes, else_nodes, inits


def if_lstm():
    then_nodes, else_nodes, inits = if_branches()
    vi = helper.make_tensor_value_info
    out = lambda name: vi(name, F, [None, None])  # noqa: E731 (dims unnamed, as exporters often write them)
    nested = helper.make_node(
        "If",
        ["is8k"],
        ["e_out"],
        name="e_if",
        then_branch=helper.make_graph(
            [helper.make_node("Mul", ["e_r", "scale"], ["e_mul"], name="e_mul")], "e_then", [], [out("e_mul")]
        ),
        else_branch=helper.make_graph(
            [helper.make_node("Add", ["e_r", "scale"], ["e_add"], name="e_add")], "e_else", [], [out("e_add")]
        ),
    )
    else_nodes = else_nodes + [
        helper.make_node("Equal", ["sr", "sr8k"], ["is8k"], name="e_is8k"),
        nested,
    ]
    nodes = [
        helper.make_node("Equal", ["sr", "sr16k"], ["is16k"], name="is16k"),
        helper.make_node(
            "If",
            ["is16k"],
            ["branch_out"],
            name="rate_if",
            then_branch=helper.make_graph(then_nodes, "then16k", [], [out("t_out")]),
            else_branch=helper.make_graph(else_nodes, "else8k", [], [out("e_out")]),
        ),
        helper.make_node("Softmax", ["branch_out"], ["y"], axis=-1, name="softmax"),
    ]
    g = helper.make_graph(
        nodes,
        "if_lstm",
        [vi("x", F, [1, 1, 16]), vi("sr", TensorProto.INT64, [])],
        [vi("y", F, [None, None])],
        inits,
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    path = save(m, "if_lstm.onnx")

    import onnxruntime as ort

    x = rng.standard_normal((1, 1, 16)).astype(np.float32)
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for sr in (16000, 8000):
        (y,) = s.run(None, {"x": x, "sr": np.array(sr, dtype=np.int64)})
        assert y.shape == (1, 4), y.shape
    print("  onnxruntime: sr 16000 and 8000 both run, y [1, 4]")

    # Each branch as a standalone model (outer names as its inputs and initializers), every
    # intermediate tensor an output: the shapes the hand counts in tests/odd_dims.rs use.
    expected = {
        "t_x3": (1, 1, 16),  # the rank If: x is 3-D, so its else branch (Identity)
        "t_c": (1, 4, 16),  # Conv Ci=1 K=3 pad 1: T 16, Co 4
        "t_seq": (16, 1, 4),  # LSTM X [S=16, B=1, I=4]
        "t_h": (1, 1, 4),
        "t_out": (1, 4),
        "e_c": (1, 2, 8),  # Conv Ci=1 K=5 stride 2 pad 2: T (16 + 4 − 5) / 2 + 1 = 8, Co 2
        "e_seq": (8, 1, 2),  # LSTM X [S=8, B=1, I=2]
        "e_h": (1, 1, 4),
        "e_r": (1, 4),
    }
    for body, names in ((if_branches()[0], ["t_x3", "t_c", "t_seq", "t_h", "t_out"]),
                        (if_branches()[1], ["e_c", "e_seq", "e_h", "e_r"])):
        bg = helper.make_graph(body, "branch", [vi("x", F, [1, 1, 16])], [vi(n, F, None) for n in names],
                               [i for i in inits if i.name not in ("sr16k", "sr8k")])
        bm = helper.make_model(bg, opset_imports=[helper.make_opsetid("", 17)])
        bm.ir_version = 8
        so = ort.SessionOptions()
        so.log_severity_level = 3  # each branch alone leaves the other's initializers unused
        bs = ort.InferenceSession(bm.SerializeToString(), so, providers=["CPUExecutionProvider"])
        for n, v in zip(names, bs.run(None, {"x": x})[-len(names):]):
            assert v.shape == expected[n], (n, v.shape, expected[n])
            print(f"  onnxruntime: {n} {list(v.shape)}")


if __name__ == "__main__":
    paddle_cls()
    stale_value_info()
    if_lstm()
