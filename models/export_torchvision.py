#!/usr/bin/env python3
"""Export torchvision ResNet-50 and ResNeXt-50 (32x4d) to ONNX fixtures.

Random weights (weights=None, torch.manual_seed(0)), eval mode, TorchScript
exporter (dynamo=False), opset 17, input "input" [N,3,224,224] with a dynamic
batch axis named "N", output "logits", constant folding on so BatchNormalization
is folded into the preceding Conv weights/biases.

Default: write graph-only files next to this script (models/resnet50.onnx,
models/resnext50_32x4d.onnx). Large tensors are saved as external data whose
file is then deleted, so the committed .onnx files stay tiny; small tensors
(e.g. shape constants) remain inline.

    python models/export_torchvision.py                      # graph-only fixtures
    python models/export_torchvision.py --with-weights DIR   # full models (+ .data) in DIR

BatchNorm parameters and running statistics are randomised (seeded) before
export, see randomize_batchnorm().
"""

import argparse
import os
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = {
    "resnet50": torchvision.models.resnet50,
    "resnext50_32x4d": torchvision.models.resnext50_32x4d,
}
OPSET = 17


def randomize_batchnorm(model, seed=0):
    """Give every BatchNorm distinct, non-trivial statistics.

    torchvision initialises BN to weight=1, bias=0, mean=0, var=1, so every
    folded Conv bias would be all zeros; the exporter then deduplicates the
    identical bias tensors into a handful of shared initializers reached through
    Identity nodes. Random (seeded) BN parameters make the folded graph look like
    a trained model's: one distinct bias per Conv, no Identity nodes.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                c = mod.num_features
                mod.weight.copy_(0.5 + torch.rand(c, generator=g))
                mod.bias.copy_(0.1 * torch.randn(c, generator=g))
                mod.running_mean.copy_(0.1 * torch.randn(c, generator=g))
                mod.running_var.copy_(0.5 + torch.rand(c, generator=g))


def export_raw(name, path, default_bn=False):
    torch.manual_seed(0)
    model = MODELS[name](weights=None).eval()
    if not default_bn:
        randomize_batchnorm(model)
    dummy = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.onnx.export(
            model,
            (dummy,),
            path,
            dynamo=False,
            opset_version=OPSET,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
            do_constant_folding=True,
            export_params=True,
        )
    return model, dummy


def fold_batchnorm(m):
    """Fold Conv -> BatchNormalization pairs (only used if the exporter did not)."""
    g = m.graph
    inits = {t.name: t for t in g.initializer}
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    producer = {o: n for n in g.node for o in n.output}
    remove = []
    for bn in list(g.node):
        if bn.op_type != "BatchNormalization":
            continue
        conv = producer.get(bn.input[0])
        if conv is None or conv.op_type != "Conv" or len(consumers[conv.output[0]]) != 1:
            raise RuntimeError(f"cannot fold BatchNormalization {bn.name}")
        eps = next((a.f for a in bn.attribute if a.name == "epsilon"), 1e-5)
        scale, bias, mean, var = (numpy_helper.to_array(inits[x]) for x in bn.input[1:5])
        w = numpy_helper.to_array(inits[conv.input[1]])
        b = numpy_helper.to_array(inits[conv.input[2]]) if len(conv.input) > 2 else np.zeros(w.shape[0], w.dtype)
        s = scale / np.sqrt(var + eps)
        w2 = (w * s.reshape(-1, *([1] * (w.ndim - 1)))).astype(w.dtype)
        b2 = ((b - mean) * s + bias).astype(w.dtype)
        inits[conv.input[1]].CopyFrom(numpy_helper.from_array(w2, conv.input[1]))
        bname = conv.name + ".folded_bias"
        if len(conv.input) > 2:
            inits[conv.input[2]].CopyFrom(numpy_helper.from_array(b2, conv.input[2]))
        else:
            g.initializer.append(numpy_helper.from_array(b2, bname))
            conv.input.append(bname)
        conv.output[0] = bn.output[0]
        remove.append(bn)
    for bn in remove:
        g.node.remove(bn)
    used = {i for n in g.node for i in n.input}
    keep = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    return m


def check_no_bn(m, name):
    ops = sorted({n.op_type for n in m.graph.node})
    if "BatchNormalization" in ops:
        raise RuntimeError(f"{name}: BatchNormalization still present")
    return ops


def check_distinct_biases(m, name):
    """Every Conv should read its own bias initializer directly."""
    inits = {t.name for t in m.graph.initializer}
    biases = [n.input[2] for n in m.graph.node if n.op_type == "Conv" and len(n.input) > 2]
    convs = sum(n.op_type == "Conv" for n in m.graph.node)
    if len(biases) != convs or len(set(biases)) != convs or not set(biases) <= inits:
        raise RuntimeError(f"{name}: Conv biases are missing, shared or not initializers")


def build(name, workdir, default_bn=False):
    raw = os.path.join(workdir, name + ".raw.onnx")
    model, dummy = export_raw(name, raw, default_bn)
    m = onnx.load(raw)
    if any(n.op_type == "BatchNormalization" for n in m.graph.node):
        print(f"{name}: exporter left BatchNormalization nodes, folding with onnx", file=sys.stderr)
        m = fold_batchnorm(m)
    ops = check_no_bn(m, name)
    if not default_bn:
        check_distinct_biases(m, name)
    onnx.checker.check_model(m)
    return m, ops, model, dummy


def save_with_external(m, path, name):
    loc = name + ".onnx.data"
    onnx.save_model(
        m,
        path,
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=loc,
        size_threshold=1024,
    )
    return os.path.join(os.path.dirname(path), loc)


def verify_full(path, model, dummy):
    """Run the full model with onnxruntime and compare against torch."""
    try:
        import onnxruntime as ort
    except ImportError:
        return
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    x = torch.cat([dummy, torch.randn(1, 3, 224, 224)])  # batch 2: dynamic N works
    (y,) = sess.run(None, {"input": x.numpy()})
    with torch.no_grad():
        ref = model(x).numpy()
    err = float(np.abs(y - ref).max() / np.abs(ref).max())
    print(f"  onnxruntime vs torch max relative diff (N=2): {err:.2e}")
    assert err < 1e-4, err


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--with-weights", metavar="DIR",
                    help="write full models (<name>.onnx + <name>.onnx.data) into DIR instead of graph-only fixtures")
    ap.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--default-bn", action="store_true",
                    help="keep torchvision's default BN init (folded biases all zero, deduplicated via Identity nodes)")
    ap.add_argument("--verify", action="store_true", help="with --with-weights: run onnxruntime and compare to torch")
    args = ap.parse_args()

    for name in args.models:
        with tempfile.TemporaryDirectory() as tmp:
            m, ops, model, dummy = build(name, tmp, args.default_bn)
            print(f"{name}: {len(m.graph.node)} nodes, ops {ops}")
            if args.with_weights:
                os.makedirs(args.with_weights, exist_ok=True)
                path = os.path.join(args.with_weights, name + ".onnx")
                data = save_with_external(m, path, name)
                print(f"  wrote {path} ({os.path.getsize(path)} B) + {data} ({os.path.getsize(data)} B)")
                if args.verify:
                    verify_full(path, model, dummy)
            else:
                path = os.path.join(HERE, name + ".onnx")
                data = save_with_external(m, path, name)
                os.remove(data)
                print(f"  wrote {path} ({os.path.getsize(path)} B), external weights omitted")


if __name__ == "__main__":
    main()
