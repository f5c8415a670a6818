#!/usr/bin/env python3
"""Writes expected.json: facts about every public snapshot in this folder, computed with
CPython's own pickle module (refusing any global, as memsight does), so that tests/public.rs
can check memsight's reader against an independent implementation. Run it after adding files;
the Rust tests never run Python.

Conventions match memsight's model:
- variant: "block_history" when any block carries a `history` list (PyTorch 2.0), else
  "device_traces" when the dict has that key, else "segments_only".
- block addresses: blocks without an `address` (PyTorch 2.0) sit at the segment address plus
  the sizes of the blocks before them.
- frame lines that do not fit in i64 (PyTorch writes SIZE_MAX for unknown) count as -1.
"""
import collections
import gzip
import io
import json
import lzma
import os
import pickle
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MASK = (1 << 64) - 1


class NoGlobals(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"global {module}.{name} refused")


def raw_bytes(path):
    data = open(path, "rb").read()
    if data.startswith(b"\xfd7zXZ\x00"):
        return lzma.decompress(data), "xz"
    if data.startswith(b"\x1f\x8b"):
        return gzip.decompress(data), "gzip"
    return data, None


def line_of(x):
    return x if -(1 << 63) <= x < (1 << 63) else -1


def facts(path):
    data, compression = raw_bytes(path)
    obj = NoGlobals(io.BytesIO(data)).load()
    protocol = data[1] if data[0] == 0x80 else 0
    if isinstance(obj, list):
        segs, traces, top = obj, None, {}
    else:
        segs, traces, top = obj["segments"], obj.get("device_traces"), obj
    frames = set()

    def add_frames(fs):
        for f in fs or []:
            frames.add((f["name"], f["filename"], line_of(f["line"])))

    n_blocks = n_hist = n_exp = 0
    addr_sum = 0
    devices = set()
    state_bytes = collections.Counter()
    for s in segs:
        devices.add(s["device"])
        n_exp += bool(s.get("is_expandable"))
        add_frames(s.get("frames"))
        at = s["address"]
        for b in s["blocks"]:
            n_blocks += 1
            addr = b.get("address", at)
            addr_sum = (addr_sum + addr) & MASK
            at = addr + b["size"]
            state_bytes[b["state"]] += b["size"]
            add_frames(b.get("frames"))
            for h in b.get("history", []):
                n_hist += 1
                add_frames(h.get("frames"))
    events = []
    actions = collections.Counter()
    if traces is not None:
        for dev, t in enumerate(traces):
            events.append(len(t))
            if t:
                devices.add(dev)
            for e in t:
                actions[e["action"]] += 1
                add_frames(e.get("frames"))
    if n_hist:
        variant = "block_history"
    elif traces is not None:
        variant = "device_traces"
    else:
        variant = "segments_only"
    return {
        "variant": variant,
        "protocol": protocol,
        "compression": compression,
        "pickle_bytes": len(data),
        "devices": sorted(devices),
        "trace_lists": len(traces) if traces is not None else 0,
        "events_per_trace": events,
        "actions": dict(sorted(actions.items())),
        "segments": len(segs),
        "expandable_segments": n_exp,
        "reserved": sum(s["total_size"] for s in segs),
        "allocated": sum(s["allocated_size"] for s in segs),
        "active": sum(s["active_size"] for s in segs),
        "requested": sum(s.get("requested_size", 0) for s in segs),
        "blocks": n_blocks,
        "block_address_sum": addr_sum,
        "active_allocated_bytes": state_bytes.get("active_allocated", 0),
        "inactive_bytes": state_bytes.get("inactive", 0),
        "history_entries": n_hist,
        "unique_frames": len(frames),
        "annotations": len(top.get("external_annotations", [])),
        "allocator_settings": "allocator_settings" in top,
        "top_keys": sorted(top.keys()),
    }


def main():
    out = {}
    for name in sorted(os.listdir(HERE)):
        if name.endswith((".pickle", ".pickle.xz", ".pickle.gz")):
            out[name] = facts(os.path.join(HERE, name))
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{len(out)} files", file=sys.stderr)


if __name__ == "__main__":
    main()
