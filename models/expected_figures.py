#!/usr/bin/env python3
"""Independently computed expected FLOPs / MACs / params for the model fixtures.

    python models/expected_figures.py            # print tables, write models/expected_figures.json
    python models/expected_figures.py --no-fvcore

Shapes come from onnx.shape_inference.infer_shapes on a copy of each model with
the batch dimension bound to N=1. Works on the graph-only fixtures: weights are
never read, only initializer dims.

Per-node formulas (N = batch = 1):
  Conv      FLOPs = (2*(Ci/g)*prod(K) - 1) * prod(out) * Co * N  (+ prod(out)*Co*N with bias)
            MACs  = (Ci/g)*prod(K) * prod(out) * Co * N
            params = (Ci/g)*prod(K)*Co (+ Co with bias)
  Gemm      FLOPs = (2I - 1)*O*N (+ O*N with C), MACs = I*O*N, params = I*O (+ O)
  MatMul    FLOPs = (2K - 1)*M*Ncols*batch, MACs = K*M*Ncols*batch
  Relu, Add (binary elementwise): 1 FLOP per output element
  MaxPool   (prod(K) - 1) per output element;  AveragePool prod(K) per output element
  GlobalAveragePool  H*W per output element
  Flatten, Reshape, Identity: 0
Params total = element count of every stored float initializer, each counted once
(this is cross-checked against the per-node Conv/Gemm param formulas).
Grouped conv savings: for Conv with group g > 1, the same Conv evaluated with g = 1
(same Ci, Co, K, output) minus the actual figure.
"""

import argparse
import copy
import json
import math
import os
import sys

sys.dont_write_bytecode = True  # keep models/ free of __pycache__
from collections import OrderedDict

import onnx
from onnx import TensorProto

HERE = os.path.dirname(os.path.abspath(__file__))
JSON_OUT = os.path.join(HERE, "expected_figures.json")

FLOAT_TYPES = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.DOUBLE}

# model file -> nodes whose figures are recorded individually
MODELS = OrderedDict([
    ("resnet50.onnx", ["/conv1/Conv", "/layer1/layer1.0/conv2/Conv", "/fc/Gemm"]),
    ("resnext50_32x4d.onnx", ["/conv1/Conv", "/layer1/layer1.0/conv2/Conv", "/fc/Gemm"]),
    ("tiny_cnn.onnx", ["conv1", "conv2", "fc"]),
])
RESNET50_FOLDED_PARAMS = 25_530_472


def prod(xs):
    return math.prod(int(x) for x in xs)


def attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def bind_batch(model, n=1):
    """Copy of the model with every symbolic input dim bound to n, shapes inferred."""
    m = copy.deepcopy(model)
    inits = {t.name for t in m.graph.initializer}
    for vi in m.graph.input:
        if vi.name in inits:
            continue
        for d in vi.type.tensor_type.shape.dim:
            if d.HasField("dim_param") or not d.HasField("dim_value"):
                d.ClearField("dim_param")
                d.dim_value = n
    for vi in m.graph.output:  # drop symbolic output dims so inference fills them
        for d in vi.type.tensor_type.shape.dim:
            if d.HasField("dim_param"):
                d.ClearField("dim_param")
    del m.graph.value_info[:]
    return onnx.shape_inference.infer_shapes(m, strict_mode=True)


def shape_table(m):
    shapes = {}
    for vi in list(m.graph.input) + list(m.graph.value_info) + list(m.graph.output):
        dims = vi.type.tensor_type.shape.dim
        s = []
        for d in dims:
            if not d.HasField("dim_value"):
                raise RuntimeError(f"unresolved dim in {vi.name}: {dims}")
            s.append(d.dim_value)
        shapes[vi.name] = s
    for t in m.graph.initializer:
        shapes[t.name] = list(t.dims)
    return shapes


def conv_figures(x, w, y, group, has_bias):
    n, ci = x[0], x[1]
    co = w[0]
    assert w[1] * group == ci, (x, w, group)
    k = prod(w[2:])
    out_sp = prod(y[2:])
    cig = ci // group
    macs = cig * k * out_sp * co * n
    flops = (2 * cig * k - 1) * out_sp * co * n + (out_sp * co * n if has_bias else 0)
    params = cig * k * co + (co if has_bias else 0)
    return flops, macs, params


def node_figures(node, shapes):
    """(flops, macs, params, detail) for one node at the bound batch size."""
    op = node.op_type
    ins = [shapes[i] if i else None for i in node.input]
    out = shapes[node.output[0]]
    out_elems = prod(out)
    detail = {"input_shapes": ins, "output_shape": out}

    if op == "Conv":
        x, w = ins[0], ins[1]
        g = attr(node, "group", 1)
        has_bias = len(node.input) > 2 and node.input[2] != ""
        f, m, p = conv_figures(x, w, out, g, has_bias)
        detail.update(group=g, kernel=w[2:], bias=has_bias)
        if g > 1:
            df, _, dp = conv_figures(x, [w[0], x[1]] + list(w[2:]), out, 1, has_bias)
            detail.update(dense_flops=df, dense_params=dp)
        return f, m, p, detail
    if op == "Gemm":
        a, b = ins[0], ins[1]
        ta, tb = attr(node, "transA", 0), attr(node, "transB", 0)
        n, i = (a[1], a[0]) if ta else (a[0], a[1])
        i2, o = (b[1], b[0]) if tb else (b[0], b[1])
        assert i == i2, (a, b)
        has_c = len(node.input) > 2 and node.input[2] != ""
        f = (2 * i - 1) * o * n + (o * n if has_c else 0)
        p = i * o + (prod(ins[2]) if has_c else 0)
        return f, i * o * n, p, detail
    if op == "MatMul":
        a, b = ins[0], ins[1]
        k = a[-1]
        batch_cols = out_elems  # = M * Ncols * batch
        return (2 * k - 1) * batch_cols, k * batch_cols, 0, detail
    if op in ("Relu", "Add", "Sub", "Mul", "Div"):
        return out_elems, 0, 0, detail
    if op == "MaxPool":
        return (prod(attr(node, "kernel_shape")) - 1) * out_elems, 0, 0, detail
    if op == "AveragePool":
        return prod(attr(node, "kernel_shape")) * out_elems, 0, 0, detail
    if op == "GlobalAveragePool":
        return prod(ins[0][2:]) * out_elems, 0, 0, detail
    if op in ("Flatten", "Reshape", "Identity"):
        return 0, 0, 0, detail
    raise NotImplementedError(f"no formula for op {op} ({node.name})")


def stored_params(model):
    """Element count of each distinct stored float initializer (no data is read)."""
    seen, total = set(), 0
    for t in model.graph.initializer:
        if t.name in seen or t.data_type not in FLOAT_TYPES:
            continue
        seen.add(t.name)
        total += prod(t.dims)
    return total


def analyse(path, named):
    model = onnx.load(path, load_external_data=False)
    m = bind_batch(model, 1)
    shapes = shape_table(m)

    per_op = OrderedDict()
    grouped = dict(count=0, flops=0, dense_flops=0, saved_flops=0, params=0, dense_params=0, saved_params=0)
    nodes = {}
    tot_f = tot_m = tot_p = 0
    for node in m.graph.node:
        f, mac, p, detail = node_figures(node, shapes)
        tot_f += f
        tot_m += mac
        tot_p += p
        e = per_op.setdefault(node.op_type, dict(count=0, flops=0, macs=0, params=0))
        e["count"] += 1
        e["flops"] += f
        e["macs"] += mac
        e["params"] += p
        if node.op_type == "Conv" and detail["group"] > 1:
            grouped["count"] += 1
            grouped["flops"] += f
            grouped["dense_flops"] += detail["dense_flops"]
            grouped["params"] += p
            grouped["dense_params"] += detail["dense_params"]
        nodes[node.name] = dict(op_type=node.op_type, flops=f, macs=mac, params=p, **detail)
    grouped["saved_flops"] = grouped["dense_flops"] - grouped["flops"]
    grouped["saved_params"] = grouped["dense_params"] - grouped["params"]

    params = stored_params(model)
    if params != tot_p:
        raise AssertionError(f"{path}: stored params {params} != per-node params {tot_p}")
    return OrderedDict([
        ("file", os.path.basename(path)),
        ("batch", 1),
        ("nodes", len(m.graph.node)),
        ("params", params),
        ("flops", tot_f),
        ("macs", tot_m),
        ("per_op", per_op),
        ("grouped_conv", grouped),
        ("named_nodes", OrderedDict((n, nodes[n]) for n in named)),
    ])


def fvcore_macs(name):
    """MACs of conv + linear layers from fvcore on the torch model (same construction as the export)."""
    import torch
    from fvcore.nn import FlopCountAnalysis
    sys.path.insert(0, HERE)
    import export_torchvision as ex

    torch.manual_seed(0)
    model = ex.MODELS[name](weights=None).eval()
    ex.randomize_batchnorm(model)
    fca = FlopCountAnalysis(model, torch.randn(1, 3, 224, 224))
    fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    by_op = fca.by_operator()
    conv_linear = sum(v for k, v in by_op.items() if k in ("conv", "linear", "addmm", "matmul"))
    return OrderedDict([
        ("tool", "fvcore"),
        ("by_operator", OrderedDict(sorted(by_op.items()))),
        ("conv_linear_macs", int(conv_linear)),
    ])


def fmt(n):
    return f"{n:,}"


def print_report(r):
    print(f"\n== {r['file']} (N=1, {r['nodes']} nodes)")
    print(f"params {fmt(r['params'])}   FLOPs {fmt(r['flops'])}   MACs {fmt(r['macs'])}")
    print(f"{'op':<20}{'count':>6}{'FLOPs':>18}{'MACs':>18}{'params':>14}")
    for op, e in r["per_op"].items():
        print(f"{op:<20}{e['count']:>6}{fmt(e['flops']):>18}{fmt(e['macs']):>18}{fmt(e['params']):>14}")
    g = r["grouped_conv"]
    print("grouped conv: " + ", ".join(f"{k} {fmt(v)}" for k, v in g.items()))
    for name, d in r["named_nodes"].items():
        print(f"  {name}: {d['op_type']} in {d['input_shapes']} out {d['output_shape']} "
              f"FLOPs {fmt(d['flops'])} MACs {fmt(d['macs'])} params {fmt(d['params'])}"
              + (f" group {d['group']}" if "group" in d else ""))
    if isinstance(r.get("fvcore"), dict):
        fv = r["fvcore"]
        print(f"fvcore conv+linear MACs {fmt(fv['conv_linear_macs'])} "
              f"({'matches' if fv['conv_linear_macs'] == r['macs'] else 'DIFFERS from'} {fmt(r['macs'])}); "
              f"by operator {dict(fv['by_operator'])}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-fvcore", action="store_true", help="skip the fvcore cross-check")
    ap.add_argument("--out", default=JSON_OUT)
    args = ap.parse_args()

    results = OrderedDict()
    for fname, named in MODELS.items():
        r = analyse(os.path.join(HERE, fname), named)
        stem = fname[:-len(".onnx")]
        if stem == "resnet50":
            assert r["params"] == RESNET50_FOLDED_PARAMS, r["params"]
        if stem == "tiny_cnn":  # against the hand-worked figures in make_tiny.py
            sys.path.insert(0, HERE)
            import make_tiny
            m1 = bind_batch(onnx.load(os.path.join(HERE, fname)))
            sh = shape_table(m1)
            for node in m1.graph.node:
                f, mac, p, _ = node_figures(node, sh)
                assert (f, mac, p) == make_tiny.EXPECTED[node.name], (node.name, f, mac, p)
            assert (r["flops"], r["macs"], r["params"]) == make_tiny.EXPECTED_TOTAL
        if not args.no_fvcore and stem in ("resnet50", "resnext50_32x4d"):
            try:
                r["fvcore"] = fvcore_macs(stem)
            except ImportError as e:
                r["fvcore"] = f"not available: {e}"
        results[stem] = r
        print_report(r)

    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
