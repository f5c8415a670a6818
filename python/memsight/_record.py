"""``memsight.record``: a PyTorch CUDA memory recording around a block of code.

What it saves the user from writing: turning history on with the right arguments, dumping
when the block ends *and* when an out-of-memory error happens (the moment that matters most,
and often the last moment the process has), writing the file so that a crash mid-write never
leaves a torn pickle, marking iterations so that leak verdicts have boundaries, and turning
history off again. PyTorch is imported only when a recording starts, so ``import memsight``
works on machines without it.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import warnings
from typing import Any, Optional

# The recording in progress: PyTorch's memory history is one per process, so recordings do
# not nest.
_ACTIVE: Optional["Recorder"] = None
# PyTorch has no way to detach an out-of-memory observer: one is attached per process, the
# first time a recording starts, and it serves whichever recording is active.
_OBSERVER_ATTACHED = False

#: The name of the ``record_function`` range ``Recorder.step`` opens for each iteration.
#: memsight takes iteration boundaries from these annotations (before ``ProfilerStep``).
STEP_ANNOTATION = "memsight.step"


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as e:
        raise ImportError(
            "memsight.record() needs PyTorch with CUDA (import torch failed: "
            f"{e}); reading and analysing snapshots does not"
        ) from e
    return torch


def _on_oom(device: int, alloc: int, device_allocated: int, device_free: int) -> None:
    """PyTorch's out-of-memory observer: called after the failed request is in the trace
    and before ``OutOfMemoryError`` is raised, with the GIL held."""
    rec = _ACTIVE
    if rec is None:
        return
    rec.ooms += 1
    try:
        rec.dump()
    except Exception as e:  # never let the dump hide the OOM itself
        warnings.warn(f"memsight.record: could not write {rec.path} at an OOM: {e}")


class Recorder(contextlib.ContextDecorator):
    """A recording: a context manager and a decorator (see ``record``)."""

    def __init__(
        self,
        path: "str | os.PathLike[str]",
        *,
        max_entries: int = 100_000,
        stacks: str = "python",
        context: str = "all",
        dump_on_oom: bool = True,
    ):
        if stacks not in ("python", "all"):
            raise ValueError(f'stacks must be "python" or "all", not {stacks!r}')
        self.path = os.fspath(path)
        self.max_entries = int(max_entries)
        self.stacks = stacks
        self.context = context
        self.dump_on_oom = dump_on_oom
        #: Iterations marked by ``step()`` so far.
        self.steps = 0
        #: Out-of-memory errors seen while recording (each one wrote the file).
        self.ooms = 0
        #: Times the file was written.
        self.dumps = 0
        self._torch: Any = None
        self._range: Any = None

    def __enter__(self) -> "Recorder":
        global _ACTIVE, _OBSERVER_ATTACHED
        torch = _import_torch()
        if not torch.cuda.is_available():
            raise RuntimeError("memsight.record() needs a CUDA device: torch.cuda.is_available() is False")
        if _ACTIVE is not None:
            raise RuntimeError(
                f"memsight.record({self.path!r}) inside memsight.record({_ACTIVE.path!r}): "
                "PyTorch keeps one memory history per process, so recordings cannot nest"
            )
        self._torch = torch
        self.steps = self.ooms = self.dumps = 0
        torch.cuda.memory._record_memory_history(
            enabled="all", context=self.context, stacks=self.stacks, max_entries=self.max_entries
        )
        try:
            if self.dump_on_oom and not _OBSERVER_ATTACHED:
                torch._C._cuda_attach_out_of_memory_observer(_on_oom)
                _OBSERVER_ATTACHED = True
            self._open_range()
        except BaseException:
            # A recording that did not start must not leave history on.
            torch.cuda.memory._record_memory_history(enabled=None)
            self._torch = None
            raise
        _ACTIVE = self
        return self

    def __exit__(self, *exc: Any) -> bool:
        global _ACTIVE
        try:
            self._close_range()
            self.dump()
        finally:
            _ACTIVE = None
            self._torch.cuda.memory._record_memory_history(enabled=None)
        return False

    def step(self) -> None:
        """Ends an iteration and starts the next: call it once per training step (or
        request), at its end. Each iteration is a ``record_function("memsight.step#N")``
        range in the trace, which memsight reads as iteration boundaries."""
        if self._torch is None:
            raise RuntimeError("Recorder.step() outside its recording")
        self._close_range()
        self.steps += 1
        self._open_range()

    def dump(self, path: "Optional[str | os.PathLike[str]]" = None) -> str:
        """Writes the snapshot now (``torch.cuda.memory._snapshot()``) to ``path`` (the
        recording's by default): to a temporary file beside it, synced, then renamed over
        it, so the file is always a whole snapshot. Returns the path written."""
        if self._torch is None:
            raise RuntimeError("Recorder.dump() outside its recording")
        target = self.path if path is None else os.fspath(path)
        snapshot = self._torch.cuda.memory._snapshot()
        directory = os.path.dirname(os.path.abspath(target))
        tmp = os.path.join(directory, f".{os.path.basename(target)}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as f:
                pickle.dump(snapshot, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self.dumps += 1
        return target

    def _open_range(self) -> None:
        rf = self._torch.autograd.profiler.record_function(f"{STEP_ANNOTATION}#{self.steps}")
        rf.__enter__()
        self._range = rf

    def _close_range(self) -> None:
        rf, self._range = self._range, None
        if rf is not None:
            rf.__exit__(None, None, None)


def record(
    path: "str | os.PathLike[str]",
    *,
    max_entries: int = 100_000,
    stacks: str = "python",
    context: str = "all",
    dump_on_oom: bool = True,
) -> Recorder:
    """Records PyTorch's CUDA memory history while a block (or a decorated function) runs,
    and writes the snapshot to ``path`` when it ends, whatever way it ends, and at every
    out-of-memory error (``dump_on_oom``), so a run that dies still leaves one::

        with memsight.record("run.pickle") as rec:
            for batch in loader:
                train_step(batch)
                rec.step()              # or memsight.step(): one iteration ends
        memsight.analyze("run.pickle")

    ``max_entries``, ``stacks`` (``"python"`` or ``"all"``, which adds C++ frames) and
    ``context`` are ``torch.cuda.memory._record_memory_history``'s. The file is written
    atomically; each write leaves a ``snapshot`` marker in the trace."""
    return Recorder(
        path, max_entries=max_entries, stacks=stacks, context=context, dump_on_oom=dump_on_oom
    )


def step() -> None:
    """Ends an iteration of the active recording (``Recorder.step``); does nothing when no
    recording is active, so a training loop can keep the call."""
    if _ACTIVE is not None:
        _ACTIVE.step()
