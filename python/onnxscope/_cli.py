"""The ``onnxscope`` console script: the crate's own parser and dispatch, run in process, so
the command behaves as the binary built by ``cargo install`` (same flags, output, exit codes)."""

from __future__ import annotations

import signal
import sys

from . import _onnxscope


def main() -> None:
    # Ctrl-C ends the command at once, as it ends the binary.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.stdout.flush()
    sys.exit(_onnxscope.main(["onnxscope", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
