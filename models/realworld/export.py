#!/usr/bin/env python3
"""Real exported models beyond ResNets, and their expected figures computed independently.

    python models/realworld/export.py              # export every model, then print the figures
    python models/realworld/export.py --figures    # only the figures (from the committed files)
    python models/realworld/export.py --no-fvcore  # skip the fvcore cross-checks

Models (see models/realworld/README.md): torchvision vit_b_16 and mobilenet_v3_small, the
detector fasterrcnn_mobilenet_v3_large_320_fpn, a TransformerEncoderLayer (dynamic N and S), and
quantize_static outputs (QDQ, QOperator). Each is checked in onnxruntime against torch (or, for
the quantized ones, run) before its weights are dropped.

Every file is graph-only (tensors of 1 KiB or more are saved as external data whose file is
then deleted, as models/export_torchvision.py does), opset 17, TorchScript exporter
(dynamo=False), random weights from torch.manual_seed(0). The output is deterministic.

The figures (FLOPs, MACs, params) never come from onnxscope: shapes from onnx.shape_inference
on a copy with the symbols bound (completed by shapes observed in onnxruntime where onnx cannot
resolve one), then the README's per-op formulas ("Counting"), node by node, in `node_figures`.
Expressions in N and S are interpolated from bound figures (`fit_polynomial`). Conv/linear/matmul
MACs are cross-checked with fvcore on the torch models (`fvcore_checks`). Parameters follow the
README's rule: every stored tensor (initializer or Constant node output, subgraphs included) read
by some node in a slot that is not control data (shape, axes, indices, sizes, pads, Resize
scales/roi, Clip bounds, BN running statistics), counted once (`stored_params`). The detector's
uncostable nodes are reasoned from the graph (`static_analysis`).
"""

import argparse
import copy
import math
import os
import sys
import tempfile
import warnings
from collections import Counter, OrderedDict

sys.dont_write_bytecode = True  # keep models/ free of __pycache__

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS_DIR = os.path.dirname(HERE)
OPSET = 17


# ----------------------------------------------------------------------------------------------
# export


def save_graph_only(m, name):
    """Save with tensors >= 1 KiB as external data, then delete the data file."""
    path = os.path.join(HERE, name + ".onnx")
    loc = name + ".onnx.data"
    onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location=loc, size_threshold=1024)
    data = os.path.join(HERE, loc)
    if os.path.exists(data):
        os.remove(data)
    print(f"wrote {os.path.relpath(path, MODELS_DIR)} ({os.path.getsize(path):,} B, "
          f"{len(m.graph.node)} nodes)")
    return path


def torch_export(model, args, path, input_names, output_names, dynamic_axes):
    import torch
    # not under torch.no_grad(): without autograd, MultiheadAttention takes its fused fast path
    # (aten::_native_multi_head_attention), which the exporter cannot translate
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, args, path, dynamo=False, opset_version=OPSET,
                          input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, do_constant_folding=True)
    m = onnx.load(path)
    onnx.checker.check_model(m)
    return m


def randomize_constant_params(model, seed=1):
    """Replace every parameter whose elements are all equal (LayerNorm γ = 1 and β = 0, zero
    biases) by seeded random values: identical tensors are deduplicated by the exporter into one
    initializer read through Identity nodes, which a trained model would not show."""
    import torch
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.numel() > 1 and bool((p == p.flatten()[0]).all()):
                p.copy_(p + 0.1 * torch.randn(p.shape, generator=g))
    return model


def vit_model():
    import torch
    import torchvision
    torch.manual_seed(0)
    return randomize_constant_params(torchvision.models.vit_b_16(weights=None).eval())


def mobilenet_model():
    import torch
    import torchvision
    sys.path.insert(0, MODELS_DIR)
    from export_torchvision import randomize_batchnorm
    torch.manual_seed(0)
    m = torchvision.models.mobilenet_v3_small(weights=None).eval()
    randomize_batchnorm(m)  # distinct folded conv biases
    return randomize_constant_params(m)  # the SE blocks' zero-initialized biases


def detector_model():
    import torch
    import torchvision
    sys.path.insert(0, MODELS_DIR)
    from export_torchvision import randomize_batchnorm
    torch.manual_seed(0)
    # box_score_thresh 0: random weights score low, and the check below wants detections
    m = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None, box_score_thresh=0.0).eval()
    randomize_batchnorm(m)
    return randomize_constant_params(m)


D_MODEL, HEADS, FF = 64, 4, 256


def encoder_layer():
    """torch.nn.TransformerEncoderLayer(d_model 64, 4 heads, feed-forward 256, batch_first,
    post-norm, ReLU), random weights."""
    import torch
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(d_model=D_MODEL, nhead=HEADS, dim_feedforward=FF,
                                             batch_first=True)
    return randomize_constant_params(layer.eval())


def encoder_model():
    """The TransformerEncoderLayer's computation with its own parameters, attention written out.

    Exporting the layer itself (dynamo=False) does not give a model dynamic in S: the exporter
    bakes the traced sequence length into the key's Reshape (`k.view(k.shape[0], ...)` in
    F.multi_head_attention_forward; pytorch/pytorch#117209, #110347), and onnxruntime then fails
    at any other S. This module computes the same function (checked against the layer in
    `verify_encoder`) with every shape taken from the input:
      qkv = x·W_inᵀ + b_in; q, k, v = split; heads: [N,S,4,16] -> [N,4,S,16]
      attn = softmax(q·kᵀ / √16)·v; out = out_proj(attn -> [N,S,64])
      y = norm2(h + linear2(relu(linear1(h)))), h = norm1(x + out)
    """
    import torch

    class Encoder(torch.nn.Module):
        def __init__(self, layer):
            super().__init__()
            self.layer = layer

        def forward(self, x):
            L = self.layer
            a = L.self_attn
            n, s = x.shape[0], x.shape[1]
            hd = D_MODEL // HEADS
            qkv = torch.nn.functional.linear(x, a.in_proj_weight, a.in_proj_bias)
            q, k, v = qkv.split(D_MODEL, dim=-1)
            q, k, v = (t.reshape(n, s, HEADS, hd).transpose(1, 2) for t in (q, k, v))
            att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(hd), dim=-1)
            o = (att @ v).transpose(1, 2).reshape(n, s, D_MODEL)
            h = L.norm1(x + a.out_proj(o))
            return L.norm2(h + L.linear2(torch.relu(L.linear1(h))))

    return Encoder(encoder_layer()).eval()


def small_convnet():
    """The float model that is quantized: convs (one depthwise) and a MatMul classifier.

    x [N,3,16,16] -> conv1 3->8 k3 p1 + Relu -> dw 8 k3 p1 g8 + Relu -> pw 8->16 k1 + Relu
      -> GlobalAveragePool -> Flatten -> MatMul [16,10] -> Add bias -> y [N,10]
    """
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.dw = torch.nn.Conv2d(8, 8, 3, padding=1, groups=8)
            self.pw = torch.nn.Conv2d(8, 16, 1)
            self.w = torch.nn.Parameter(0.1 * torch.randn(16, 10))
            self.b = torch.nn.Parameter(0.1 * torch.randn(10))

        def forward(self, x):
            x = torch.relu(self.conv1(x))
            x = torch.relu(self.dw(x))
            x = torch.relu(self.pw(x))
            x = torch.nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)
            return x @ self.w + self.b  # MatMul + Add, not Gemm

    torch.manual_seed(0)
    return Net().eval()


def run_ort(path, feeds):
    import onnxruntime as ort
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def check_close(name, got, ref, tol=1e-4):
    err = float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-12))
    print(f"  {name}: onnxruntime vs torch, max relative difference {err:.1e}")
    assert err < tol, (name, err)


def export_vit(tmp):
    import torch
    path = os.path.join(tmp, "vit.onnx")
    model = vit_model()
    m = torch_export(model, (torch.randn(1, 3, 224, 224),), path, ["input"], ["logits"],
                     {"input": {0: "N"}, "logits": {0: "N"}})
    x = torch.randn(2, 3, 224, 224)  # N = 2: the batch axis really is dynamic
    with torch.no_grad():
        check_close("vit_b_16 (N=2)", run_ort(path, {"input": x.numpy()})[0], model(x).numpy())
    return save_graph_only(m, "vit_b_16")


def export_mobilenet(tmp):
    import torch
    path = os.path.join(tmp, "mnv3.onnx")
    model = mobilenet_model()
    m = torch_export(model, (torch.randn(1, 3, 224, 224),), path, ["input"], ["logits"],
                     {"input": {0: "N"}, "logits": {0: "N"}})
    assert not any(n.op_type in ("BatchNormalization", "Identity") for n in m.graph.node)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        check_close("mobilenet_v3_small (N=2)", run_ort(path, {"input": x.numpy()})[0],
                    model(x).numpy())
    return save_graph_only(m, "mobilenet_v3_small")


def export_detector(tmp):
    """One 3x320x320 image (the model takes a list of images; the size is fixed, the number of
    detections D is dynamic)."""
    import torch
    path = os.path.join(tmp, "det.onnx")
    model = detector_model()
    m = torch_export(model, ([torch.rand(3, 320, 320)],), path, ["image"],
                     ["boxes", "scores", "labels"],
                     {"boxes": {0: "D"}, "scores": {0: "D"}, "labels": {0: "D"}})
    x = torch.rand(3, 320, 320)
    boxes = run_ort(path, {"image": x.numpy()})[0]
    with torch.no_grad():
        ref = model([x])[0]["boxes"].numpy()
    print(f"  detector: onnxruntime {boxes.shape[0]} boxes, torch {ref.shape[0]}")
    return save_graph_only(m, "fasterrcnn_mobilenet_v3_large_320_fpn")


def export_encoder(tmp):
    import torch
    path = os.path.join(tmp, "enc.onnx")
    model = encoder_model()
    m = torch_export(model, (torch.randn(2, 10, D_MODEL),), path, ["x"], ["y"],
                     {"x": {0: "N", 1: "S"}, "y": {0: "N", 1: "S"}})
    x = torch.randn(3, 7, D_MODEL)  # neither the traced N nor the traced S
    with torch.no_grad():
        ref = model.layer(x).numpy()  # torch.nn.TransformerEncoderLayer itself
        check_close("encoder (written out) vs TransformerEncoderLayer", model(x).numpy(), ref,
                    1e-5)
    check_close("transformer_encoder (N=3, S=7)", run_ort(path, {"x": x.numpy()})[0], ref)
    return save_graph_only(m, "transformer_encoder")


class _Calibration:
    """A few batches of seeded random data for quantize_static."""

    def __init__(self, name, shape, n=8):
        rng = np.random.default_rng(0)
        self.batches = iter([{name: rng.standard_normal(shape, dtype=np.float32)}
                             for _ in range(n)])

    def get_next(self):
        return next(self.batches, None)


def export_quantized(tmp):
    """small_convnet quantized with onnxruntime.quantization.quantize_static:
    - QDQ format (every op): QuantizeLinear/DequantizeLinear pairs around float ops;
    - QOperator format restricted to Conv and MatMul: QLinearConv, QLinearMatMul;
    and models/tiny_cnn.onnx quantized in QOperator format with the defaults, which also emits
    com.microsoft QLinearGlobalAveragePool and QGemm."""
    import torch
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.calibrate import CalibrationDataReader

    class Reader(_Calibration, CalibrationDataReader):
        pass

    f32 = os.path.join(tmp, "small.onnx")
    torch_export(small_convnet(), (torch.randn(1, 3, 16, 16),), f32, ["x"], ["y"],
                 {"x": {0: "N"}, "y": {0: "N"}})
    paths = []
    jobs = [
        ("small_convnet_qdq", f32, QuantFormat.QDQ, None, (1, 3, 16, 16)),
        ("small_convnet_qop", f32, QuantFormat.QOperator, ["Conv", "MatMul"], (1, 3, 16, 16)),
        ("tiny_cnn_qop", os.path.join(MODELS_DIR, "tiny_cnn.onnx"), QuantFormat.QOperator, None,
         (1, 3, 8, 8)),
    ]
    for name, src, fmt, ops, shape in jobs:
        out = os.path.join(tmp, name + ".onnx")
        src_in = onnx.load(src).graph.input[0].name
        quantize_static(src, out, Reader(src_in, shape), quant_format=fmt,
                        op_types_to_quantize=ops, per_channel=False,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        m = onnx.load(out)
        onnx.checker.check_model(m)
        x = np.random.default_rng(1).standard_normal((2,) + shape[1:], dtype=np.float32)
        y = run_ort(out, {src_in: x})[0]
        print(f"  {name}: runs in onnxruntime at N=2, output {list(y.shape)}, ops "
              f"{sorted(Counter(n.op_type for n in m.graph.node).items())}")
        m.producer_name, m.producer_version = "onnxruntime.quantization", ""
        paths.append(save_graph_only(m, name))
    return paths


EXPORTS = [export_vit, export_mobilenet, export_detector, export_encoder, export_quantized]


# ----------------------------------------------------------------------------------------------
# expected figures (independent of onnxscope)


def prod(xs):
    return math.prod(int(x) for x in xs)


def attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def bind(model, dims):
    """Copy with every symbolic input dim bound (dims: symbol -> value), value_info dropped."""
    m = copy.deepcopy(model)
    inits = {t.name for t in m.graph.initializer}
    for vi in m.graph.input:
        if vi.name in inits:
            continue
        for d in vi.type.tensor_type.shape.dim:
            if d.HasField("dim_param"):
                v = dims[d.dim_param]
                d.ClearField("dim_param")
                d.dim_value = v
    for vi in m.graph.output:
        for d in vi.type.tensor_type.shape.dim:
            if d.HasField("dim_param"):
                d.ClearField("dim_param")
    del m.graph.value_info[:]
    return m


def inferred_shapes(m):
    """onnx shape inference (with data propagation): {tensor: dims} where fully resolved, and
    {tensor: elem_type}."""
    mi = onnx.shape_inference.infer_shapes(m, strict_mode=True, data_prop=True)
    shapes, types = {}, {}
    for vi in list(mi.graph.input) + list(mi.graph.value_info) + list(mi.graph.output):
        tt = vi.type.tensor_type
        types[vi.name] = tt.elem_type
        if tt.HasField("shape") and all(d.HasField("dim_value") for d in tt.shape.dim):
            shapes[vi.name] = [d.dim_value for d in tt.shape.dim]
    for t in m.graph.initializer:
        shapes[t.name] = list(t.dims)
    return shapes, types


def executed_shapes(m, types):
    """Shapes of every node output from running the model in onnxruntime, on a copy in which the
    absent (external) weights are zeros and every node output is a graph output. Used where
    onnx's inference does not resolve a shape (ViT's Reshape targets are computed at run time);
    only for models whose shapes do not depend on data."""
    import onnxruntime as ort
    m = copy.deepcopy(m)
    for t in m.graph.initializer:
        if t.data_location == TensorProto.EXTERNAL:
            arr = np.zeros(list(t.dims), dtype=helper.tensor_dtype_to_np_dtype(t.data_type))
            t.CopyFrom(numpy_helper.from_array(arr, t.name))
    have = {o.name for o in m.graph.output}
    for n in m.graph.node:
        for o in n.output:
            if o and o not in have:
                # onnx's inference does not type com.microsoft ops: their (quantized) output has
                # the element type of their first input
                elem = types.get(o) or types[n.input[0]]
                types[o] = elem
                m.graph.output.append(helper.make_tensor_value_info(o, elem, None))
    feeds = {}
    inits = {t.name for t in m.graph.initializer}
    for vi in m.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        feeds[vi.name] = np.zeros([d.dim_value for d in tt.shape.dim],
                                  dtype=helper.tensor_dtype_to_np_dtype(tt.elem_type))
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    outs = sess.run(None, feeds)
    return {o.name: list(v.shape) for o, v in zip(sess.get_outputs(), outs)}


def all_shapes(m):
    """Inferred shapes, completed by executed ones; the two must agree where both exist."""
    shapes, types = inferred_shapes(m)
    missing = [o for n in m.graph.node for o in n.output if o and o not in shapes]
    if missing:
        ran = executed_shapes(m, types)
        for k, v in ran.items():
            if k in shapes:
                assert shapes[k] == v, (k, shapes[k], v)
            shapes[k] = v
    return shapes, len(missing)


# Per output element (README "Counting").
ONE_PER_ELEMENT = {
    "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Equal", "Less", "Greater", "LessOrEqual",
    "GreaterOrEqual", "And", "Or", "Xor", "Not", "Where", "Relu", "Abs", "Neg", "Sign", "Floor",
    "Ceil", "Round", "Exp", "Log", "Sqrt", "Reciprocal", "Erf", "Tanh", "Sin", "Cos",
}
PER_ELEMENT = {"Clip": 2, "LeakyRelu": 2, "PRelu": 2, "Sigmoid": 4, "HardSigmoid": 4, "Elu": 4,
               "HardSwish": 5, "Mish": 5, "Selu": 5}
ZERO_COST = {
    "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Concat", "Split", "Slice",
    "Gather", "GatherElements", "GatherND", "ScatterElements", "ScatterND", "Shape", "Size",
    "Cast", "Identity", "Dropout", "Constant", "ConstantOfShape", "Expand", "Tile", "Pad",
    "Range", "NonZero",
}


def conv_figures(x, w, y, bias, requant=False):
    """Conv / QLinearConv: (flops, macs) with x, w, y the input, weight and output shapes."""
    outputs = x[0] * w[0] * prod(y[2:])  # N·Co·Πout
    per = w[1] * prod(w[2:])  # (Ci/g)·ΠK
    flops = (2 * per - 1) * outputs + (outputs if bias else 0) + (3 * outputs if requant else 0)
    return flops, per * outputs


def node_figures(node, shape):
    """(flops, macs, dense) of one node by the README's formulas; for a grouped conv dense =
    (flops and weight + bias params of the g = 1 equivalent, actual weight + bias params), else
    None."""
    op = node.op_type
    ins = [shape[i] if i else None for i in node.input]
    has = lambda i: len(node.input) > i and node.input[i] != ""
    out = shape[node.output[0]]
    oe = prod(out)
    if op in ("Conv", "QLinearConv"):
        xi, wi, bi = (0, 1, 2) if op == "Conv" else (0, 3, 8)
        x, w = ins[xi], ins[wi]
        q = op == "QLinearConv"
        f, mac = conv_figures(x, w, out, has(bi), q)
        dense = None
        if attr(node, "group", 1) > 1:
            # (flops, weight + bias params) of the g = 1 conv, and the actual weight + bias
            wd = [w[0], x[1]] + list(w[2:])
            b = w[0] if has(bi) else 0
            dense = (conv_figures(x, wd, out, has(bi), q)[0], prod(wd) + b, prod(w) + b)
        return f, mac, dense
    if op == "QGemm":  # com.microsoft; as Gemm (no beta) + 3 per output when requantized
        a, b = ins[0], ins[3]
        m_, k = (a[1], a[0]) if attr(node, "transA", 0) else (a[0], a[1])
        n_ = b[0] if attr(node, "transB", 0) else b[1]
        mn = m_ * n_
        f = (2 * k - 1) * mn + (mn if has(6) else 0) + (3 * mn if has(7) else 0)
        f += mn if attr(node, "alpha", 1.0) != 1.0 else 0
        return f, k * mn, None
    if op == "QLinearGlobalAveragePool":  # com.microsoft; H·W + 3 (requantization) per output
        x = ins[0]
        sp = x[1:-1] if attr(node, "channels_last", 0) else x[2:]
        return (prod(sp) + 3) * oe, 0, None
    if op == "Gemm":
        a, b = ins[0], ins[1]
        m_, k = (a[1], a[0]) if attr(node, "transA", 0) else (a[0], a[1])
        n_ = b[0] if attr(node, "transB", 0) else b[1]
        mn = m_ * n_
        f = (2 * k - 1) * mn
        f += mn if has(2) else 0
        f += mn if attr(node, "alpha", 1.0) != 1.0 else 0
        f += mn if has(2) and attr(node, "beta", 1.0) != 1.0 else 0
        return f, k * mn, None
    if op in ("MatMul", "QLinearMatMul"):
        a = ins[0]
        k = a[-1]
        f = (2 * k - 1) * oe + (3 * oe if op == "QLinearMatMul" else 0)
        return f, k * oe, None
    if op == "LayerNormalization":
        x = ins[0]
        ax = attr(node, "axis", -1) % len(x)
        rows, n = prod(x[:ax]), prod(x[ax:])
        return rows * ((7 if has(2) else 6) * n + 3), 0, None
    if op == "Softmax":
        x = ins[0]
        n = x[attr(node, "axis", -1) % len(x)]
        return (prod(x) // n) * (5 * n - 2), 0, None
    if op == "GlobalAveragePool":
        return prod(ins[0][2:]) * oe, 0, None
    if op == "MaxPool":
        return (prod(attr(node, "kernel_shape")) - 1) * oe, 0, None
    if op == "AveragePool":
        return prod(attr(node, "kernel_shape")) * oe, 0, None
    if op == "ReduceMean":
        return prod(ins[0]), 0, None
    if op in ("ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd"):
        return prod(ins[0]) - oe, 0, None
    if op == "Resize":
        d = sum(1 for a, b in zip(ins[0], out) if a != b)  # resized axes
        mode = attr(node, "mode", b"nearest").decode()
        per = {"nearest": 0, "linear": 3 * (2 ** d - 1), "cubic": 2 * 4 ** d - 1}[mode]
        return per * oe, 0, None
    if op in ("TopK", "NonMaxSuppression"):
        # not in the README's table: src/ops/shape_ops.rs costs these data-dependent selections
        # at one comparison per input element (a floor)
        return prod(ins[0]), 0, None
    if op == "QuantizeLinear":
        return 3 * oe, 0, None
    if op == "DequantizeLinear":
        return 2 * oe, 0, None
    if op in ("Max", "Min", "Sum"):
        return (sum(1 for i in node.input if i) - 1) * oe, 0, None
    if op in ONE_PER_ELEMENT:
        return oe, 0, None
    if op in PER_ELEMENT:
        return PER_ELEMENT[op] * oe, 0, None
    if op in ZERO_COST:
        return 0, 0, None
    raise NotImplementedError(f"no formula for {op} ({node.name})")


# Inputs that carry control data, not parameters (README: shapes, axes, indices, sizes, pads,
# Resize scales/roi, Clip bounds; BatchNormalization's running statistics), by ONNX op schema.
CONTROL_SLOTS = {
    "Reshape": {1}, "Expand": {1}, "Tile": {1}, "Unsqueeze": {1}, "Squeeze": {1},
    "Gather": {1}, "GatherElements": {1}, "GatherND": {1}, "ScatterElements": {1},
    "ScatterND": {1}, "Slice": {1, 2, 3, 4}, "Pad": {1, 3}, "Resize": {1, 2, 3},
    "Clip": {1, 2}, "Split": {1}, "TopK": {1}, "ReduceMax": {1}, "ReduceMin": {1},
    "ReduceSum": {1}, "ReduceMean": {1}, "ReduceProd": {1}, "ConstantOfShape": {0},
    "Range": {0, 1, 2}, "NonMaxSuppression": {2, 3, 4}, "RoiAlign": {2}, "CumSum": {1},
    "Loop": {0, 1}, "If": {0}, "Shape": {0}, "Size": {0}, "BatchNormalization": {3, 4},
}


def stored_params(model):
    """Elements of the distinct stored tensors (initializers and Constant outputs, subgraphs
    included) that some node reads in a slot that is not control data. A tensor read from a
    subgraph is judged by the subgraph node that reads it."""
    stored = {}  # name -> elements

    def constant_elems(n):
        a = n.attribute[0]
        if a.name == "value":
            return prod(a.t.dims)
        if a.name in ("value_floats", "value_ints", "value_strings"):
            return len(helper.get_attribute_value(a))
        return 1

    data_use = set()

    def walk(g):
        for t in g.initializer:
            stored.setdefault(t.name, prod(t.dims))
        for n in g.node:
            if n.op_type == "Constant":
                stored.setdefault(n.output[0], constant_elems(n))
            for k, i in enumerate(n.input):
                if i and k not in CONTROL_SLOTS.get(n.op_type, ()):
                    data_use.add(i)
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    walk(a.g)
                for sg in a.graphs:
                    walk(sg)

    walk(model.graph)
    return sum(e for name, e in stored.items() if name in data_use)


def figures(path, dims, fvcore_check=None):
    """Totals of one model at the bound dims: FLOPs, MACs, params, per-op-type rollup,
    grouped-conv savings."""
    model = onnx.load(path, load_external_data=False)
    m = bind(model, dims)
    shape, executed = all_shapes(m)
    per_op = OrderedDict()
    tot_f = tot_m = 0
    grouped = dict(count=0, flops=0, dense_flops=0, params=0, dense_params=0)
    for node in m.graph.node:
        f, mac, dense = node_figures(node, shape)
        tot_f += f
        tot_m += mac
        e = per_op.setdefault(node.op_type, [0, 0, 0])
        e[0] += 1
        e[1] += f
        e[2] += mac
        if dense:
            grouped["count"] += 1
            grouped["flops"] += f
            grouped["dense_flops"] += dense[0]
            grouped["params"] += dense[2]
            grouped["dense_params"] += dense[1]
    return dict(flops=tot_f, macs=tot_m, params=stored_params(model), per_op=per_op,
                grouped=grouped, nodes=len(m.graph.node), executed_shapes=executed)


# Inputs whose *values* decide an output's shape (the rest decide it through their shapes).
SHAPE_VALUE_SLOTS = {
    "Reshape": {1}, "Expand": {1}, "Tile": {1}, "ConstantOfShape": {0}, "Range": {0, 1, 2},
    "Slice": {1, 2, 3, 4}, "TopK": {1}, "Resize": {1, 2, 3}, "Pad": {1, 3}, "Split": {1},
    "Unsqueeze": {1}, "Squeeze": {1}, "ReduceMax": {1}, "ReduceMin": {1}, "ReduceSum": {1},
    "ReduceMean": {1}, "ReduceProd": {1},
}
# Outputs whose size depends on the data.
DATA_SIZED = {"NonZero", "NonMaxSuppression", "Unique", "Compress", "If", "Loop"}


def static_analysis(model):
    """Which nodes cannot be costed, reasoned from the graph alone (for the detector, whose
    shapes after the first NonZero depend on the data).

    A tensor's shape is static when its producer's data inputs have static shapes and the
    inputs that decide a shape by value (Reshape's target, Slice's bounds, ...) have static
    values; a value is static when computed from stored tensors and static shapes only
    (Shape of a static tensor, arithmetic on such values). NonZero, NonMaxSuppression and If
    outputs are data-sized. A node cannot be costed when one of its tensors has a shape that is
    not static, unless it costs 0 whatever its shapes; an op without a formula (RoiAlign) cannot
    be costed at all. Returns {node path: reason}, If branches as `If_k/else_branch/node`."""
    out = OrderedDict()

    def walk(g, sshape, sval, prefix):
        for t in g.initializer:
            sshape[t.name] = sval[t.name] = True
        for n in g.node:
            ins = [i for i in n.input if i]
            ctrl = SHAPE_VALUE_SLOTS.get(n.op_type, set())
            if n.op_type == "Constant":
                ok_shape = ok_val = True
            elif n.op_type in ("Shape", "Size"):
                ok_shape, ok_val = True, sshape[n.input[0]]
            elif n.op_type in DATA_SIZED:
                ok_shape = ok_val = False
            else:
                ok_shape = all(sval[i] if k in ctrl else sshape[i]
                               for k, i in enumerate(n.input) if i)
                ok_val = all(sval[i] for i in ins)
            for o in n.output:
                sshape[o], sval[o] = ok_shape, ok_val
            name = prefix + n.name
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    walk(a.g, dict(sshape), dict(sval), f"{name}/{a.name}/")
            if n.op_type in ZERO_COST or n.op_type in ("If", "Loop"):
                continue
            if n.op_type == "RoiAlign":
                out[name] = "no formula for RoiAlign"
            elif not all(sshape[i] for i in ins) or not all(sshape[o] for o in n.output if o):
                out[name] = "shape depends on the data"

    sshape, sval = {}, {}
    for vi in model.graph.input:
        sshape[vi.name], sval[vi.name] = True, False
    walk(model.graph, sshape, sval, "")
    return out


def executed_detector_shapes(model, seed):
    """Every main-graph tensor's shape from running the detector in onnxruntime with seeded
    random weights and image (the graph-only file has no weights)."""
    import onnxruntime as ort
    m = copy.deepcopy(model)
    rng = np.random.default_rng(seed)
    for t in m.graph.initializer:
        if t.data_location == TensorProto.EXTERNAL:
            dt = helper.tensor_dtype_to_np_dtype(t.data_type)
            arr = (0.1 * rng.standard_normal(list(t.dims))).astype(dt)
            t.CopyFrom(numpy_helper.from_array(arr, t.name))
    _, types = inferred_shapes(m)
    have = {o.name for o in m.graph.output}
    for n in m.graph.node:
        for o in n.output:
            if o and o not in have:
                m.graph.output.append(helper.make_tensor_value_info(o, types[o], None))
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    image = rng.random((3, 320, 320), dtype=np.float32)
    outs = sess.run(None, {"image": image})
    shapes = {o.name: list(v.shape) for o, v in zip(sess.get_outputs(), outs)}
    shapes["image"] = list(image.shape)
    for t in model.graph.initializer:
        shapes[t.name] = list(t.dims)
    return shapes


def detector_figures(path):
    """Params; the nodes that cannot be costed (static_analysis); FLOPs and MACs of the rest,
    from shapes observed in onnxruntime (two runs with different weights and images must agree
    on every shape used)."""
    model = onnx.load(path, load_external_data=False)
    unknown = static_analysis(model)
    runs = [executed_detector_shapes(model, seed) for seed in (1, 2)]
    flops = macs = 0
    per_op = OrderedDict()
    for node in model.graph.node:
        if node.name in unknown or node.op_type in ("If", "Loop"):
            continue  # If: both branches cost 0 here (their only costly nodes are unknown)
        if node.op_type in ZERO_COST or node.op_type == "Constant":
            continue
        used = [t for t in list(node.input) + list(node.output) if t]
        for t in used:
            assert runs[0][t] == runs[1][t], ("shape changed between runs", node.name, t)
        f, mac, _ = node_figures(node, runs[0])
        flops += f
        macs += mac
        e = per_op.setdefault(node.op_type, [0, 0, 0])
        e[0] += 1
        e[1] += f
        e[2] += mac
    return dict(params=stored_params(model), flops=flops, macs=macs, unknown=unknown,
                per_op=per_op)


def fit_polynomial(fn, symbols=("N", "S"), max_deg=(2, 3), grid=((1, 2, 3), (2, 3, 5, 7)),
                   checks=((4, 11), (5, 13))):
    """The polynomial in the symbols that `fn(values)` follows: exact interpolation on a grid
    (sympy rationals), confirmed at extra points. Returns {(exp_N, exp_S): coefficient}."""
    import itertools
    import sympy
    monos = list(itertools.product(*(range(d + 1) for d in max_deg)))
    pts = list(itertools.product(*grid))
    assert len(pts) == len(monos)
    a = sympy.Matrix([[sympy.Integer(math.prod(v ** k for v, k in zip(p, mono))) for mono in monos]
                      for p in pts])
    b = sympy.Matrix([fn(dict(zip(symbols, p))) for p in pts])
    coef = a.LUsolve(b)
    poly = {mono: int(c) for mono, c in zip(monos, coef) if c != 0}
    assert all(c.is_integer for c in coef), coef
    for p in checks:
        want = fn(dict(zip(symbols, p)))
        got = sum(c * math.prod(v ** k for v, k in zip(p, mono)) for mono, c in poly.items())
        assert got == want, (p, got, want)
    return poly


def format_polynomial(poly, symbols=("N", "S")):
    """Highest degree first, then by monomial (as onnxscope prints a count): `2*N*S^2 + N`."""
    def key(mono):
        vec = [(s, k) for s, k in zip(symbols, mono) if k]
        return (-sum(mono), vec)
    parts = []
    for mono in sorted(poly, key=key):
        c = poly[mono]
        vars_ = "*".join(s if k == 1 else f"{s}^{k}" for s, k in zip(symbols, mono) if k)
        body = vars_ if abs(c) == 1 and vars_ else (f"{abs(c)}*{vars_}" if vars_ else str(abs(c)))
        sign = "-" if c < 0 else "+"
        parts.append((sign, body))
    s = ("-" if parts[0][0] == "-" else "") + parts[0][1]
    for sign, body in parts[1:]:
        s += f" {sign} {body}"
    return s


def transitive_control_params(model):
    """Elements of the stored tensors that feed nothing but control data, reading "used only as
    control data" transitively (a constant concatenated into a Reshape target). The README's rule
    as onnxscope applies it looks at the reading slot only; this is the difference between the
    two readings, printed for information."""
    g = model.graph
    consumers = {}
    for n in g.node:
        for k, i in enumerate(n.input):
            if i:
                consumers.setdefault(i, []).append((n, k))
    outputs = {o.name for o in g.output}
    co = {}

    def control_only(t):
        cs = consumers.get(t, [])
        return bool(cs) and t not in outputs and all(
            k in CONTROL_SLOTS.get(n.op_type, ()) or
            (n.op_type not in ("If", "Loop") and all(co[o] for o in n.output if o))
            for n, k in cs)

    for n in reversed(g.node):  # consumers come later in a sorted graph
        for o in n.output:
            if o:
                co[o] = control_only(o)
    for t in g.initializer:
        co[t.name] = control_only(t.name)

    stored = {t.name: prod(t.dims) for t in g.initializer}
    for n in g.node:
        if n.op_type == "Constant" and n.attribute[0].name == "value":
            stored[n.output[0]] = prod(n.attribute[0].t.dims)
    direct = {t for t in stored
              if consumers.get(t) and all(k in CONTROL_SLOTS.get(n.op_type, ())
                                          for n, k in consumers[t])}
    return sum(e for t, e in stored.items() if co[t] and t not in direct)


# ----------------------------------------------------------------------------------------------
# fvcore cross-checks (MACs of conv / linear / matmul on the torch models)


def fvcore_by_operator(model, x):
    from fvcore.nn import FlopCountAnalysis
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fca = FlopCountAnalysis(model, x)
        fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return dict(fca.by_operator())


def fvcore_checks(results):
    import torch
    fv = OrderedDict()
    by = fvcore_by_operator(mobilenet_model(), torch.randn(1, 3, 224, 224))
    fv["mobilenet_v3_small"] = (by, by["conv"] + by["linear"], results["mobilenet_v3_small"]["macs"])
    by = fvcore_by_operator(encoder_model(), torch.randn(1, 10, D_MODEL))
    fv["transformer_encoder"] = (by, by["linear"] + by["matmul"],
                                 results["transformer_encoder"]["macs"])
    by = fvcore_by_operator(small_convnet(), torch.randn(1, 3, 16, 16))
    for q in ("small_convnet_qdq", "small_convnet_qop"):
        fv[q] = (by, by["conv"] + by["matmul"], results[q]["macs"])
    # fvcore skips aten::scaled_dot_product_attention: add q·kᵀ and attn·v by hand,
    # 12 layers × 2 products × 12 heads × 197 × 197 × 64
    by = fvcore_by_operator(vit_model(), torch.randn(1, 3, 224, 224))
    attention = 12 * 2 * 12 * 197 * 197 * 64
    fv["vit_b_16"] = (by, by["conv"] + by["linear"] + attention, results["vit_b_16"]["macs"])
    print("\nfvcore (conv + linear + matmul MACs) against the MACs above:")
    for name, (by, theirs, ours) in fv.items():
        print(f"  {name}: fvcore {theirs:,} {'==' if theirs == ours else '!='} {ours:,}  {by}")
        assert theirs == ours, name


# ----------------------------------------------------------------------------------------------
# main

FIXED = OrderedDict([
    ("vit_b_16", {"N": 1}),
    ("mobilenet_v3_small", {"N": 1}),
    ("small_convnet_qdq", {"N": 1}),
    ("small_convnet_qop", {"N": 1}),
    ("transformer_encoder", {"N": 1, "S": 10}),
    ("tiny_cnn_qop", {"N": 1}),
])


def fmt(n):
    return f"{n:,}"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--figures", action="store_true", help="skip the export, only the figures")
    ap.add_argument("--no-fvcore", action="store_true", help="skip the fvcore cross-checks")
    args = ap.parse_args()

    if not args.figures:
        with tempfile.TemporaryDirectory() as tmp:
            for export in EXPORTS:
                export(tmp)
        total = sum(os.path.getsize(os.path.join(HERE, f)) for f in os.listdir(HERE)
                    if f.endswith(".onnx"))
        print(f"models/realworld/*.onnx: {total:,} B in all")

    path = lambda name: os.path.join(HERE, name + ".onnx")
    results = OrderedDict()
    for name, dims in FIXED.items():
        r = figures(path(name), dims)
        results[name] = r
        model = onnx.load(path(name), load_external_data=False)
        extra = transitive_control_params(model)
        print(f"\n== {name} at {dims} ({r['nodes']} nodes"
              + (f"; {r['executed_shapes']} shapes from onnxruntime" if r["executed_shapes"] else "")
              + ")")
        print(f"params {fmt(r['params'])}   FLOPs {fmt(r['flops'])}   MACs {fmt(r['macs'])}"
              + (f"   (stored tensors that only feed shape arithmetic, read transitively: {extra})"
                 if extra else ""))
        for op, (count, f, mac) in r["per_op"].items():
            if f or mac:
                print(f"  {op:<20}{count:>5}{fmt(f):>18}{fmt(mac):>18}")
        g = r["grouped"]
        if g["count"]:
            print("  grouped conv: " + ", ".join(f"{k} {fmt(v)}" for k, v in g.items()))

    enc = path("transformer_encoder")
    for what in ("flops", "macs"):
        poly = fit_polynomial(lambda d: figures(enc, d)[what])
        print(f"\ntransformer_encoder {what} in N and S: {format_polynomial(poly)}")
    at = figures(enc, {"N": 3, "S": 7})
    print(f"transformer_encoder at N=3, S=7: FLOPs {fmt(at['flops'])}, MACs {fmt(at['macs'])}")

    det = detector_figures(path("fasterrcnn_mobilenet_v3_large_320_fpn"))
    print(f"\n== fasterrcnn_mobilenet_v3_large_320_fpn (one 3x320x320 image)")
    print(f"params {fmt(det['params'])}   FLOPs {fmt(det['flops'])}   MACs {fmt(det['macs'])} "
          f"(the nodes that can be costed)")
    print(f"cannot be costed ({len(det['unknown'])}):")
    for name, why in det["unknown"].items():
        print(f"  {name}: {why}")

    if not args.no_fvcore:
        fvcore_checks(results)


if __name__ == "__main__":
    main()
