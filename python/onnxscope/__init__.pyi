import os
from typing import Any, Dict, List, Literal, Mapping, Optional, Sequence, Union, overload

import numpy as np
import numpy.typing as npt

from ._onnxscope import OnnxscopeError as OnnxscopeError
from ._report import CheckResult as CheckResult
from ._report import Comparison as Comparison
from ._report import Profile as Profile

__version__: str

PathLike = Union[str, os.PathLike[str]]
Amount = Union[int, float, str]
Dims = Union[Mapping[str, int], Sequence[str], str]
Shapes = Mapping[str, Union[str, Sequence[int]]]

def profile(
    path: PathLike,
    dims: Optional[Dims] = None,
    inputs: Optional[Shapes] = None,
    strict: bool = False,
    *,
    device: Optional[str] = None,
    peak_gflops: Optional[float] = None,
    bandwidth_gbs: Optional[float] = None,
    train: bool = False,
    optimizer: Optional[Literal["sgd", "momentum", "rmsprop", "adam", "adamw"]] = None,
    batch: Optional[int] = None,
    dtype: Optional[Literal["fp32", "fp16", "bf16", "mixed"]] = None,
) -> Profile: ...
def compare(
    paths: Union[PathLike, Sequence[PathLike]],
    dims: Optional[Dims] = None,
    by: Literal["total", "op", "stage", "node"] = "total",
    *,
    inputs: Optional[Shapes] = None,
    measure: bool = False,
    repeat: Optional[int] = None,
    resnext: Optional[str] = None,
    depth: Optional[int] = None,
) -> Comparison: ...
def check(
    paths: Union[PathLike, Sequence[PathLike]],
    budget: Optional[PathLike] = None,
    dims: Optional[Dims] = None,
    max_flops: Optional[Amount] = None,
    max_params: Optional[Amount] = None,
    max_macs: Optional[Amount] = None,
    max_param_bytes: Optional[Amount] = None,
    max_activation_bytes: Optional[Amount] = None,
    max_peak_memory: Optional[Amount] = None,
    baseline: Optional[PathLike] = None,
    max_increase: Optional[Amount] = None,
    *,
    inputs: Optional[Shapes] = None,
    allow_unknown: bool = False,
) -> CheckResult: ...
@overload
def nms(
    boxes: npt.ArrayLike,
    scores: Optional[npt.ArrayLike] = None,
    classes: Optional[npt.ArrayLike] = None,
    iou_threshold: float = 0.5,
    score_threshold: Optional[float] = None,
    box_format: Optional[Literal["xyxy", "xywh", "cxcywh"]] = None,
    *,
    max_per_class: Optional[int] = None,
    max_detections: Optional[int] = None,
    class_agnostic: bool = False,
    multi_label: bool = False,
    semantics: Literal["torchvision", "onnx"] = "torchvision",
    layout: Optional[Literal["flat", "bnc", "bcn", "yolov8", "yolo", "yolov5", "yolo-obj"]] = None,
    return_detections: Literal[False] = False,
) -> npt.NDArray[np.int64]: ...
@overload
def nms(
    boxes: npt.ArrayLike,
    scores: Optional[npt.ArrayLike] = None,
    classes: Optional[npt.ArrayLike] = None,
    iou_threshold: float = 0.5,
    score_threshold: Optional[float] = None,
    box_format: Optional[Literal["xyxy", "xywh", "cxcywh"]] = None,
    *,
    max_per_class: Optional[int] = None,
    max_detections: Optional[int] = None,
    class_agnostic: bool = False,
    multi_label: bool = False,
    semantics: Literal["torchvision", "onnx"] = "torchvision",
    layout: Optional[Literal["flat", "bnc", "bcn", "yolov8", "yolo", "yolov5", "yolo-obj"]] = None,
    return_detections: Literal[True],
) -> Dict[str, Any]: ...
def dice(
    pred: npt.ArrayLike,
    target: npt.ArrayLike,
    *,
    include_background: bool = True,
    sigmoid: bool = False,
    softmax: bool = False,
    squared_pred: bool = False,
    jaccard: bool = False,
    reduction: Literal["mean", "sum", "none"] = "mean",
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    batch: bool = False,
    threshold: Optional[float] = None,
    argmax: bool = False,
    to_onehot_y: bool = False,
    ignore_empty: bool = True,
) -> Dict[str, Any]: ...
def run(
    path: PathLike,
    inputs: Optional[Mapping[str, npt.ArrayLike]] = None,
    *,
    dims: Optional[Dims] = None,
    random: bool = False,
    seed: int = 0,
) -> Dict[str, np.ndarray]: ...

__all__: List[str]
