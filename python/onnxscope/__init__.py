"""onnxscope: what an exported ONNX model costs before it ships.

FLOPs (the seed rule, with its -1), MACs, parameters and memory per node, op type and stage;
budgets a CI can enforce; runs with tract. The Rust core does the work: ``profile``,
``compare`` and ``check`` return exactly the documents of the command's ``--format json``,
``nms``, ``dice`` and ``run`` take NumPy arrays. Errors raise :class:`OnnxscopeError` (a
``ValueError``) with the one-line message the command prints.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

import numpy as np

from . import _onnxscope
from ._onnxscope import OnnxscopeError
from ._report import CheckResult, Comparison, Profile

__version__: str = _onnxscope.__version__

__all__ = [
    "OnnxscopeError",
    "Profile",
    "Comparison",
    "CheckResult",
    "profile",
    "compare",
    "check",
    "nms",
    "dice",
    "run",
    "__version__",
]

PathLike = Union[str, "os.PathLike[str]"]
Amount = Union[int, float, str]


# ---------------------------------------------------------------------------------------------
# argv building: keyword arguments become the command's flags; the Rust parser validates them.


def _path(p: Any) -> str:
    try:
        return os.fsdecode(os.fspath(p))
    except TypeError:
        raise TypeError(f"expected a path (str or os.PathLike), got {type(p).__name__}") from None


def _paths(paths: Any) -> List[str]:
    if isinstance(paths, (str, bytes, os.PathLike)):
        return [_path(paths)]
    return [_path(p) for p in paths]


def _scalar(v: Any, what: str) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float, str, np.integer, np.floating)):
        raise TypeError(f"{what}: expected a number or a string, got {type(v).__name__}")
    return str(v)


def _shape_flags(dims: Any, inputs: Any) -> List[str]:
    argv: List[str] = []
    if dims is not None:
        if isinstance(dims, str):
            items: Iterable[str] = [dims]
        elif isinstance(dims, Mapping):
            items = [f"{k}={_scalar(v, f'dims[{k!r}]')}" for k, v in dims.items()]
        else:
            items = [str(d) for d in dims]
        for d in items:
            argv.append(f"--dim={d}")
    if inputs is not None:
        if not isinstance(inputs, Mapping):
            raise TypeError("inputs: expected a mapping of input name to shape")
        for name, shape in inputs.items():
            if not isinstance(shape, str):
                shape = "x".join(_scalar(d, f"inputs[{name!r}]") for d in shape)
            argv.append(f"--input={name}={shape}")
    return argv


def _amount(v: Any, what: str) -> str:
    """A limit as the command takes it: an integer, or a string with a unit ("8.5G", "100MiB")."""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return _scalar(v, what)


def _floats(a: Any) -> np.ndarray:
    """An array as given (its dtype is checked as the command checks a .npy file's); other
    sequences (lists, which have no dtype) as float32."""
    return a if isinstance(a, np.ndarray) else np.asarray(a, dtype=np.float32)


def _cli(argv: List[str]):
    stdout, code = _onnxscope.cli(argv)
    return json.loads(stdout), code


# ---------------------------------------------------------------------------------------------
# profile, compare, check


def profile(
    path: PathLike,
    dims: Optional[Union[Mapping[str, int], Sequence[str], str]] = None,
    inputs: Optional[Mapping[str, Union[str, Sequence[int]]]] = None,
    strict: bool = False,
    *,
    device: Optional[str] = None,
    peak_gflops: Optional[float] = None,
    bandwidth_gbs: Optional[float] = None,
    train: bool = False,
    optimizer: Optional[str] = None,
    batch: Optional[int] = None,
    dtype: Optional[str] = None,
) -> Profile:
    """Per-node FLOPs, MACs, parameters and memory of a model: ``onnxscope profile --format json``.

    ``dims`` binds symbolic dims (``{"N": 1}``), ``inputs`` forces input shapes
    (``{"input": (1, 3, 224, 224)}``), ``strict`` makes an uncostable node an error. ``device``
    (or ``peak_gflops`` with ``bandwidth_gbs``) adds the roofline estimate; ``train`` the
    training budget (with ``optimizer``, ``batch``, ``dtype``).
    """
    argv = ["profile", "--format", "json", *_shape_flags(dims, inputs)]
    if strict:
        argv.append("--strict")
    if device is not None:
        argv.append(f"--device={device}")
    if peak_gflops is not None:
        argv.append(f"--peak-gflops={_scalar(peak_gflops, 'peak_gflops')}")
    if bandwidth_gbs is not None:
        argv.append(f"--bandwidth-gbs={_scalar(bandwidth_gbs, 'bandwidth_gbs')}")
    if train:
        argv.append("--train")
    if optimizer is not None:
        argv.append(f"--optimizer={optimizer}")
    if batch is not None:
        argv.append(f"--batch={_scalar(batch, 'batch')}")
    if dtype is not None:
        argv.append(f"--dtype={dtype}")
    argv += ["--", _path(path)]
    doc, _ = _cli(argv)
    return Profile(doc)


def compare(
    paths: Union[PathLike, Sequence[PathLike]],
    dims: Optional[Union[Mapping[str, int], Sequence[str], str]] = None,
    by: str = "total",
    *,
    inputs: Optional[Mapping[str, Union[str, Sequence[int]]]] = None,
    measure: bool = False,
    repeat: Optional[int] = None,
    resnext: Optional[str] = None,
    depth: Optional[int] = None,
) -> Comparison:
    """Several models side by side with deltas against the first: ``onnxscope compare --format json``.

    ``by`` is ``"total"``, ``"op"``, ``"stage"`` or ``"node"``; ``measure`` also times each model
    with tract (median of ``repeat`` runs); ``resnext`` compares configurations built in memory
    (``"1x64d,32x4d"``, with ``depth``).
    """
    argv = ["compare", "--format", "json", f"--by={by}", *_shape_flags(dims, inputs)]
    if measure:
        argv.append("--measure")
    if repeat is not None:
        argv.append(f"--repeat={_scalar(repeat, 'repeat')}")
    if resnext is not None:
        argv.append(f"--resnext={resnext}")
    if depth is not None:
        argv.append(f"--depth={_scalar(depth, 'depth')}")
    argv += ["--", *(_paths(paths) if paths is not None else [])]
    doc, _ = _cli(argv)
    return Comparison(doc)


def check(
    paths: Union[PathLike, Sequence[PathLike]],
    budget: Optional[PathLike] = None,
    dims: Optional[Union[Mapping[str, int], Sequence[str], str]] = None,
    max_flops: Optional[Amount] = None,
    max_params: Optional[Amount] = None,
    max_macs: Optional[Amount] = None,
    max_param_bytes: Optional[Amount] = None,
    max_activation_bytes: Optional[Amount] = None,
    max_peak_memory: Optional[Amount] = None,
    baseline: Optional[PathLike] = None,
    max_increase: Optional[Amount] = None,
    *,
    inputs: Optional[Mapping[str, Union[str, Sequence[int]]]] = None,
    allow_unknown: bool = False,
) -> CheckResult:
    """Models against budgets: ``onnxscope check --format json``.

    Limits take numbers or the command's unit strings (``"8.5G"``, ``"26M"``, ``"100MiB"``);
    ``max_increase`` is a percentage (``"2%"``) or an amount against ``baseline`` (a saved
    profile JSON or another model). A limit exceeded is not an error: the result's ``.passed`` is
    False and ``.violations`` lists the failed checks. Errors (unreadable model, bad amount,
    uncostable node, unbound symbol) raise :class:`OnnxscopeError`.
    """
    argv = ["check", "--format", "json", *_shape_flags(dims, inputs)]
    if budget is not None:
        argv.append(f"--budget={_path(budget)}")
    for flag, v in (
        ("--max-flops", max_flops),
        ("--max-macs", max_macs),
        ("--max-params", max_params),
        ("--max-param-bytes", max_param_bytes),
        ("--max-activation-bytes", max_activation_bytes),
        ("--max-peak-memory", max_peak_memory),
    ):
        if v is not None:
            argv.append(f"{flag}={_amount(v, flag[2:].replace('-', '_'))}")
    if baseline is not None:
        argv.append(f"--baseline={_path(baseline)}")
    if max_increase is not None:
        argv.append(f"--max-increase={_amount(max_increase, 'max_increase')}")
    if allow_unknown:
        argv.append("--allow-unknown")
    argv += ["--", *_paths(paths)]
    doc, code = _cli(argv)
    return CheckResult(doc, exit_code=code)


# ---------------------------------------------------------------------------------------------
# nms, dice, run


def nms(
    boxes: Any,
    scores: Any = None,
    classes: Any = None,
    iou_threshold: float = 0.5,
    score_threshold: Optional[float] = None,
    box_format: Optional[str] = None,
    *,
    max_per_class: Optional[int] = None,
    max_detections: Optional[int] = None,
    class_agnostic: bool = False,
    multi_label: bool = False,
    semantics: str = "torchvision",
    layout: Optional[str] = None,
    return_detections: bool = False,
) -> Any:
    """Non-maximum suppression with the ``nms`` command's semantics and defaults.

    ``boxes`` ``[N,4]`` (or ``[B,N,4]``, or the single output tensor of the ``yolov8`` /
    ``yolov5`` layouts), ``scores`` ``[N]`` (or per class, ``[B,N,C]`` / ``[B,C,N]``),
    ``classes`` ``[N]`` integer class ids (flat layout). ``box_format`` is ``"xyxy"`` (the
    default; ``"cxcywh"`` for the yolo layouts), ``"xywh"`` or ``"cxcywh"``; ``semantics``
    ``"torchvision"`` or ``"onnx"``. Returns the kept indices (int64, output order); with
    ``return_detections`` the command's JSON document (``keep`` and ``detections``) instead.
    float32 arrays are read in place.
    """
    flags = [f"--iou-threshold={_scalar(iou_threshold, 'iou_threshold')}"]
    if score_threshold is not None:
        flags.append(f"--score-threshold={_scalar(score_threshold, 'score_threshold')}")
    if box_format is not None:
        flags.append(f"--box-format={box_format}")
    if max_per_class is not None:
        flags.append(f"--max-per-class={_scalar(max_per_class, 'max_per_class')}")
    if max_detections is not None:
        flags.append(f"--max-detections={_scalar(max_detections, 'max_detections')}")
    if class_agnostic:
        flags.append("--class-agnostic")
    if multi_label:
        flags.append("--multi-label")
    flags.append(f"--nms-semantics={semantics}")
    if layout is not None:
        flags.append(f"--layout={layout}")
    keep, doc = _onnxscope.nms(
        flags,
        _floats(boxes),
        None if scores is None else _floats(scores),
        None if classes is None else np.asarray(classes),
        bool(return_detections),
    )
    if return_detections:
        return json.loads(doc)
    return keep


def dice(
    pred: Any,
    target: Any,
    *,
    include_background: bool = True,
    sigmoid: bool = False,
    softmax: bool = False,
    squared_pred: bool = False,
    jaccard: bool = False,
    reduction: str = "mean",
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    batch: bool = False,
    threshold: Optional[float] = None,
    argmax: bool = False,
    to_onehot_y: bool = False,
    ignore_empty: bool = True,
) -> Dict[str, Any]:
    """Dice loss and scores with MONAI's semantics, as the ``dice`` command computes them.

    ``pred`` ``[N,C,...]`` (probabilities, or logits with ``sigmoid`` / ``softmax``), ``target``
    one-hot ``[N,C,...]`` or, with ``to_onehot_y``, a label map. ``threshold`` or ``argmax``
    adds the hard Dice. Returns the command's JSON document: ``loss``, ``dice`` (``kind``,
    ``channels``, ``per_class``, ``mean``, ...) and ``warnings`` when there are any.
    """
    flags: List[str] = []
    if not include_background:
        flags.append("--exclude-background")
    if sigmoid:
        flags.append("--sigmoid")
    if softmax:
        flags.append("--softmax")
    if squared_pred:
        flags.append("--squared-pred")
    if jaccard:
        flags.append("--jaccard")
    flags.append(f"--reduction={reduction}")
    flags.append(f"--smooth-nr={_scalar(smooth_nr, 'smooth_nr')}")
    flags.append(f"--smooth-dr={_scalar(smooth_dr, 'smooth_dr')}")
    if batch:
        flags.append("--batch")
    if threshold is not None:
        flags.append(f"--threshold={_scalar(threshold, 'threshold')}")
    if argmax:
        flags.append("--argmax")
    if to_onehot_y:
        flags.append("--to-onehot-y")
    if not ignore_empty:
        flags.append("--no-ignore-empty")
    return json.loads(_onnxscope.dice(flags, _floats(pred), _floats(target)))


def run(
    path: PathLike,
    inputs: Optional[Mapping[str, Any]] = None,
    *,
    dims: Optional[Union[Mapping[str, int], Sequence[str], str]] = None,
    random: bool = False,
    seed: int = 0,
) -> Dict[str, np.ndarray]:
    """Runs a model with tract: ``{input name: array}`` in, ``{output name: array}`` out.

    Arrays must have the dtype the model declares (float32 or float64 arrays feed a float16
    input); their shapes bind the model's symbolic dims. With ``random``, inputs not given get
    the command's seeded random data (``seed``; symbols bound by ``dims``, otherwise 1).
    """
    given = [(str(k), np.asarray(v)) for k, v in (inputs or {}).items()]
    dim_flags = [f[len("--dim="):] for f in _shape_flags(dims, None)]
    outputs = _onnxscope.run(_path(path), given, dim_flags, bool(random), int(seed))
    return dict(outputs)
