"""``python -m onnxscope``: the ``onnxscope`` command."""

from ._cli import main

main()
