#!/usr/bin/env python3
"""Records the wrapped-ring fixture `tests/data/train_val_leak_wrapped.pickle`.

Runs the `train_val_leak` workload of sample_snapshots/workloads.py with a history ring of only
MAX_ENTRIES (default 800) entries, so the oldest events (and the oldest `snapshot` markers)
are gone from the dump: memsight must reconstruct the state before the first remaining event
from the dump's segments. Needs a CUDA GPU and PyTorch.

Usage: python3 scripts/record_wrapped.py OUT_DIR
"""
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "workloads", os.path.join(HERE, "..", "sample_snapshots", "workloads.py"))
w = importlib.util.module_from_spec(spec)
spec.loader.exec_module(w)

MAX_ENTRIES = int(os.environ.get("MAX_ENTRIES", "800"))
orig_init = w.Recorder.__init__


def init(self, name, out, max_entries=100_000, **kw):
    orig_init(self, name + "_wrapped", out, max_entries=MAX_ENTRIES, **kw)


w.Recorder.__init__ = init
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
w.w_train_val_leak(out)
print("recorded", os.listdir(out))
