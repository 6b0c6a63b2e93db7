"""The Rust extension module (src/cli/python.rs); use the functions of ``onnxscope`` instead."""

from typing import List, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

__version__: str

class OnnxscopeError(ValueError):
    """An error onnxscope reports: the one-line message the command prints after ``error: ``."""

def cli(argv: List[str]) -> Tuple[str, int]: ...
def main(argv: Sequence[str]) -> int: ...
def nms(
    flags: List[str],
    boxes: np.ndarray,
    scores: Optional[np.ndarray] = None,
    classes: Optional[np.ndarray] = None,
    detections: bool = False,
) -> Tuple[npt.NDArray[np.int64], Optional[str]]: ...
def dice(flags: List[str], pred: np.ndarray, target: np.ndarray) -> str: ...
def run(
    path: str,
    inputs: List[Tuple[str, np.ndarray]],
    dims: List[str] = ...,
    random: bool = False,
    seed: int = 0,
) -> List[Tuple[str, np.ndarray]]: ...
