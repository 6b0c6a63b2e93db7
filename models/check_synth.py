#!/usr/bin/env python3
"""Checks a model written by `onnxscope synth-resnext` (src/synth.rs) against the reference tools.

For MODEL.onnx it:
  1. runs onnx.checker.check_model(full_check=True) (strict shape inference included);
  2. counts parameters by the rule of src/synth.rs (initializers named *.weight / *.bias;
     BN running_mean / running_var are buffers and are not counted);
  3. with weights: runs it in onnxruntime on a fixed seeded input and prints the output's
     shape and statistics;
  4. when the architecture is a torchvision model (read from the `synth.arch` metadata, or
     --arch): compares the parameter count with torchvision's sum(p.numel()) (minus the BN
     channels when BN is folded: scale + shift become one conv bias), the initializer names
     and shapes with the state_dict, and the node list (names, op types, Conv group / kernel /
     stride / pad attributes) with torchvision's own ONNX export (legacy exporter, opset 17,
     training=PRESERVE so BN stays a node, Identity nodes dropped);
  5. with weights: loads them into the torchvision model and compares its eval-mode output
     with onnxruntime's (for a BN-folded model, pass the unfolded model of the same seed as
     --unfolded: its weights go into torchvision, so folding is checked numerically too).

Models without weights (initializers marked external at "<none>") get steps 1, 2 and 4; the
checker requires an external data file to exist, so step 1 is run on a copy that has an empty
file named "<none>" beside it (the checker never reads it; shape inference needs only dims).

Usage: python models/check_synth.py MODEL.onnx [--unfolded PLAIN.onnx] [--arch NAME] [--no-torch]
Needs: onnx, onnxruntime, numpy; torch + torchvision for steps 4 and 5. Exit status 1 on any
mismatch.
"""

import argparse
import collections
import sys
import tempfile
import warnings

import numpy as np
import onnx
from onnx import numpy_helper

ABSENT = "<none>"


def load(path):
    return onnx.load(path, load_external_data=False)


def weights_absent(model):
    return any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)


def learnable_params(model):
    return sum(
        int(np.prod(t.dims))
        for t in model.graph.initializer
        if t.name.endswith(".weight") or t.name.endswith(".bias")
    )


def meta(model):
    return {p.key: p.value for p in model.metadata_props}


def attrs(node, skip=("training_mode",)):
    return {
        a.name: onnx.helper.get_attribute_value(a) for a in node.attribute if a.name not in skip
    }


def conv_signature(nodes):
    """Per Conv node: (group, kernel_shape, strides, pads), in graph order."""
    out = []
    for n in nodes:
        if n.op_type == "Conv":
            a = attrs(n)
            out.append((a.get("group", 1), tuple(a["kernel_shape"]), tuple(a["strides"]), tuple(a["pads"])))
    return out


def fixed_input(model, batch=1, seed=0):
    dims = model.graph.input[0].type.tensor_type.shape.dim
    shape = [d.dim_value if d.HasField("dim_value") else batch for d in dims]
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def run_ort(path, x):
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def stats(y):
    return (
        f"shape {list(y.shape)}, mean {y.mean():.4g}, std {y.std():.4g}, "
        f"min {y.min():.4g}, max {y.max():.4g}, finite {bool(np.isfinite(y).all())}"
    )


class Report:
    def __init__(self):
        self.failed = 0

    def check(self, ok, what):
        print(("OK        " if ok else "MISMATCH  ") + what)
        if not ok:
            self.failed += 1


def torchvision_model(arch, classes):
    import torchvision

    return getattr(torchvision.models, arch)(num_classes=classes).eval()


def torch_export_nodes(tv, model):
    """Nodes of torchvision's own ONNX export of `tv`, BN kept as nodes, Identity dropped."""
    import torch

    side = model.graph.input[0].type.tensor_type.shape.dim[2].dim_value
    with tempfile.NamedTemporaryFile(suffix=".onnx") as f, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            tv,
            torch.zeros(1, 3, side, side),
            f.name,
            input_names=["input"],
            output_names=["logits"],
            opset_version=17,
            dynamo=False,
            training=torch.onnx.TrainingMode.PRESERVE,
            do_constant_folding=False,
        )
        exported = onnx.load(f.name)
    return [n for n in exported.graph.node if n.op_type != "Identity"]


def compare_torchvision(model, arch, report):
    import torch

    classes = model.graph.output[0].type.tensor_type.shape.dim[1].dim_value
    tv = torchvision_model(arch, classes)
    folded = not any(n.op_type == "BatchNormalization" for n in model.graph.node)
    bn_channels = sum(m.num_features for m in tv.modules() if isinstance(m, torch.nn.BatchNorm2d))
    tv_params = sum(p.numel() for p in tv.parameters())
    want = tv_params - bn_channels if folded else tv_params
    ours = learnable_params(model)
    how = f"torchvision {tv_params:,}" + (f" - {bn_channels:,} BN channels (folded)" if folded else "")
    report.check(ours == want, f"params {ours:,} vs {how} = {want:,}")

    # Initializer names and shapes vs the state_dict.
    sd = {k: tuple(v.shape) for k, v in tv.state_dict().items() if not k.endswith("num_batches_tracked")}
    if folded:
        bn_prefixes = {k[: -len(".running_var")] for k in sd if k.endswith(".running_var")}
        sd = {k: s for k, s in sd.items() if k.rsplit(".", 1)[0] not in bn_prefixes}
        for k, s in list(sd.items()):
            if k.endswith(".weight") and len(s) == 4:
                sd[k[: -len("weight")] + "bias"] = (s[0],)
    ours_sd = {t.name: tuple(t.dims) for t in model.graph.initializer}
    diff = set(sd.items()) ^ set(ours_sd.items())
    report.check(not diff, f"{len(ours_sd)} initializer names+shapes vs torchvision state_dict"
                 + (f": differ in {sorted(diff)[:6]}" if diff else ""))

    # Node structure vs torchvision's ONNX export.
    ref = torch_export_nodes(tv, model)
    if folded:
        ref = [n for n in ref if n.op_type != "BatchNormalization"]
    ops = lambda nodes: collections.Counter(n.op_type for n in nodes)
    report.check(ops(model.graph.node) == ops(ref),
                 f"op counts {dict(ops(model.graph.node))} vs export {dict(ops(ref))}")
    groups = lambda nodes: dict(collections.Counter(s[0] for s in conv_signature(nodes)))
    report.check(conv_signature(model.graph.node) == conv_signature(ref),
                 f"{len(conv_signature(model.graph.node))} Conv nodes, group histogram "
                 f"{groups(model.graph.node)} vs export {len(conv_signature(ref))} Conv, {groups(ref)}"
                 " (and kernel/stride/pads, in order)")
    names = [(n.name, n.op_type) for n in model.graph.node]
    ref_names = [(n.name, n.op_type) for n in ref]
    report.check(names == ref_names, f"{len(names)} node names and op types, in order, vs export")
    if not folded:
        edges = [(list(n.input), list(n.output)) for n in model.graph.node]
        ref_edges = [(list(n.input), list(n.output)) for n in ref]
        same = sum(a == b for a, b in zip(edges, ref_edges))
        # torch renames deduplicated initializers (equal values in an untrained model) via
        # Identity nodes, so compare the activations only: the first input and the output.
        act = lambda e: [(i[0], o) for i, o in e]
        report.check(act(edges) == act(ref_edges),
                     f"node activation wiring vs export ({same}/{len(edges)} nodes identical incl. weights)")
    return tv


def compare_numbers(tv, weights_model, y, x, report, label):
    import torch

    sd = tv.state_dict()
    for t in weights_model.graph.initializer:
        sd[t.name] = torch.from_numpy(numpy_helper.to_array(t).copy())
    tv.load_state_dict(sd)
    with torch.no_grad():
        ref = tv(torch.from_numpy(x)).numpy()
    err = float(np.abs(y - ref).max())
    scale = float(np.abs(ref).max())
    report.check(err <= 1e-3 * max(scale, 1.0),
                 f"onnxruntime vs torchvision eval forward with {label}: max |diff| {err:.3g} (max |y| {scale:.3g})")


def check_graph_only(path, report):
    """The checker insists that an external data file exists (it never reads it, and shape
    inference needs only the dims), so a graph-only model fails as it is, by design: the
    weights are declared absent. Check it again beside an empty file named "<none>"."""
    import os
    import shutil

    try:
        onnx.checker.check_model(path, full_check=True)
        report.check(True, "onnx.checker.check_model(full_check=True)")
        return
    except Exception as e:  # noqa: BLE001
        print(f"expected   onnx.checker on the file as it is: {e}")
    with tempfile.TemporaryDirectory() as d:
        copy = os.path.join(d, os.path.basename(path))
        shutil.copyfile(path, copy)
        open(os.path.join(d, ABSENT), "wb").close()
        try:
            onnx.checker.check_model(copy, full_check=True)
            report.check(True, f"onnx.checker.check_model(full_check=True) beside an empty {ABSENT!r} file")
        except Exception as e:  # noqa: BLE001
            report.check(False, f"onnx.checker.check_model(full_check=True) beside an empty {ABSENT!r} file: {e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--unfolded", help="the unfolded model of the same seed, for a BN-folded MODEL")
    ap.add_argument("--arch", help="torchvision model name (default: the synth.arch metadata)")
    ap.add_argument("--no-torch", action="store_true", help="skip the torchvision comparisons")
    ap.add_argument("--seed", type=int, default=0, help="seed of the input (default 0)")
    ap.add_argument("--batch", type=int, default=1, help="batch for a symbolic N (default 1)")
    args = ap.parse_args()

    report = Report()
    model = load(args.model)
    absent = weights_absent(model)
    m = meta(model)
    print(f"{args.model}: {m.get('synth.arch', '?')}, ir {model.ir_version}, opset "
          f"{model.opset_import[0].version}, {len(model.graph.node)} nodes, "
          f"{len(model.graph.initializer)} initializers, weights {'absent' if absent else 'present'}")

    if not absent:
        try:
            onnx.checker.check_model(model, full_check=True)
            report.check(True, "onnx.checker.check_model(full_check=True)")
        except Exception as e:  # noqa: BLE001 - the checker raises several types
            report.check(False, f"onnx.checker.check_model(full_check=True): {e}")
    else:
        check_graph_only(args.model, report)
        locs = {e.value for t in model.graph.initializer for e in t.external_data if e.key == "location"}
        report.check(locs == {ABSENT} and not any(t.raw_data for t in model.graph.initializer),
                     f"every initializer marked external at {ABSENT!r}, no data")
    print(f"params (weights + biases, no BN running stats): {learnable_params(model):,}")

    y = x = None
    if not absent:
        x = fixed_input(model, args.batch, args.seed)
        y = run_ort(args.model, x)
        report.check(bool(np.isfinite(y).all()), f"onnxruntime output: {stats(y)}")
        if args.unfolded:
            y_plain = run_ort(args.unfolded, x)
            err = float(np.abs(y - y_plain).max())
            report.check(err <= 1e-3 * max(float(np.abs(y_plain).max()), 1.0),
                         f"folded vs unfolded ({args.unfolded}) in onnxruntime: max |diff| {err:.3g}")

    arch = args.arch or m.get("synth.arch")
    if not args.no_torch and arch:
        import torchvision

        if not hasattr(torchvision.models, arch):
            print(f"(no torchvision model {arch}: comparisons skipped)")
        else:
            tv = compare_torchvision(model, arch, report)
            if y is not None:
                folded = not any(n.op_type == "BatchNormalization" for n in model.graph.node)
                if not folded:
                    compare_numbers(tv, model, y, x, report, "these weights")
                elif args.unfolded:
                    compare_numbers(tv, load(args.unfolded), y, x, report,
                                    f"the unfolded weights of {args.unfolded}")

    print(f"{'FAILED' if report.failed else 'all checks passed'} ({report.failed} mismatches)")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
