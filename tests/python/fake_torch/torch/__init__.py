"""A stand-in for the parts of PyTorch that memsight.record() calls, for the CPU tests of its
logic (tests/python/test_record.py). It records every call in `CALLS`; `_snapshot()` returns a
minimal real snapshot (no segments, an empty trace) that memsight can read. The real thing is
checked on a GPU by scripts/check_record.py."""

import types

CALLS = []
OBSERVERS = []
HISTORY = {"enabled": None}
FAIL_RANGE = {"on": False}


def _record_memory_history(enabled="all", context="all", stacks="all", max_entries=0):
    CALLS.append(("history", enabled, context, stacks, max_entries))
    HISTORY["enabled"] = enabled


def _snapshot():
    CALLS.append(("snapshot",))
    return {"segments": [], "device_traces": [[]]}


class record_function:
    def __init__(self, name):
        self.name = name

    def __enter__(self):
        if FAIL_RANGE["on"]:
            raise RuntimeError("record_function failed")
        CALLS.append(("enter", self.name))
        return self

    def __exit__(self, *exc):
        CALLS.append(("exit", self.name))
        return False


def _cuda_attach_out_of_memory_observer(fn):
    OBSERVERS.append(fn)


cuda = types.SimpleNamespace(
    is_available=lambda: True,
    memory=types.SimpleNamespace(
        _record_memory_history=_record_memory_history, _snapshot=_snapshot
    ),
)
_C = types.SimpleNamespace(_cuda_attach_out_of_memory_observer=_cuda_attach_out_of_memory_observer)
autograd = types.SimpleNamespace(profiler=types.SimpleNamespace(record_function=record_function))
