"""``python -m memsight`` and the wheel's ``memsight`` command: the whole command line.

The command line lives in Rust (``memsight::cli::main_with_args``); this calls it with
``sys.argv``, so the subcommands, messages and exit codes are those of the cargo-built binary.
"""

from __future__ import annotations

import sys
from typing import Optional, Sequence

from . import _memsight


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs ``memsight ARGS...`` and returns its exit code (0 done, 1 a ``check`` rule failed,
    2 unreadable input or a wrong command line, 3 output not written)."""
    args = list(sys.argv[1:] if argv is None else argv)
    # Python may hold text in its own buffers; the Rust side writes to the file descriptors.
    sys.stdout.flush()
    sys.stderr.flush()
    return _memsight.run_cli(["memsight", *args])


if __name__ == "__main__":
    sys.exit(main())
