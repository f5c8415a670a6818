#!/usr/bin/env python3
"""Writes the synthetic snapshot fixtures in tests/data/fixtures/ and their expected facts.

Each fixture is a small pickle in one shape PyTorch has written (or might write): every pickle
protocol, C++ frames, expandable segments with segment_map/unmap, an OOM with device_free,
snapshot markers, external annotations, allocator settings, segment pool ids, compile context
and user metadata, PyTorch 2.0 blocks with a history and no address, empty traces, several
devices, keys and actions memsight does not know, frame lines of SIZE_MAX, and gzip/zstd/xz
compression. The facts in expected.json are computed here by CPython from the very bytes
written (the same function as for the public files), plus the fixture-specific facts below;
tests/reader.rs checks memsight against them. The outputs are committed: the Rust tests never
run Python. Needs the `zstd` command for the .zst fixture.

    python3 tests/data/make_fixtures.py
"""
import gzip
import importlib.util
import json
import lzma
import os
import pickle
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures")
SIZE_MAX = (1 << 64) - 1

spec = importlib.util.spec_from_file_location(
    "make_expected", os.path.join(HERE, "public", "make_expected.py")
)
make_expected = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_expected)

MB = 1 << 20
BASE = 0x7F00_0000_0000


def fr(name, filename, line):
    return {"name": name, "filename": filename, "line": line}


# Shared frame objects, so that pickle memoizes them as PyTorch's pickles do.
PY_TRAIN = fr("train_step", "/work/train.py", 88)
PY_FWD = fr("forward", "/work/model.py", 42)
PY_ATTN = fr("attention", "/work/model.py", 17)
CXX_MALLOC = fr("c10::cuda::CUDACachingAllocator::malloc", "??", 0)
CXX_EMPTY = fr("at::empty_strided", "EmptyTensor.cpp", 0)
STACK_FWD = [PY_FWD, PY_TRAIN]
STACK_ATTN = [CXX_MALLOC, CXX_EMPTY, PY_ATTN, PY_FWD, PY_TRAIN]


def ev(action, addr, size, t, frames=None, **extra):
    e = {"action": action, "addr": addr, "size": size, "stream": 0, "time_us": t}
    e["frames"] = frames if frames is not None else []
    e.update(extra)
    return e


def block(addr, size, state, requested=None, frames=None):
    return {
        "address": addr,
        "size": size,
        "requested_size": size if requested is None else requested,
        "state": state,
        "frames": frames if frames is not None else [],
    }


def segment(addr, total, blocks, device=0, expandable=False, pool=(0, 0), frames=None):
    alloc = sum(b["size"] for b in blocks if b["state"] == "active_allocated")
    active = sum(b["size"] for b in blocks if b["state"].startswith("active"))
    req = sum(b["requested_size"] for b in blocks if b["state"] == "active_allocated")
    return {
        "device": device,
        "address": addr,
        "total_size": total,
        "allocated_size": alloc,
        "active_size": active,
        "requested_size": req,
        "stream": 0,
        "segment_type": "large" if total >= MB else "small",
        "segment_pool_id": pool,
        "is_expandable": expandable,
        "frames": frames if frames is not None else STACK_FWD,
        "blocks": blocks,
    }


def modern():
    """A PyTorch 2.1+ snapshot with most of the optional fields."""
    a = BASE
    trace = [
        ev("segment_alloc", a, 2 * MB, 1_000, STACK_FWD),
        ev("alloc", a, 512, 1_010, STACK_ATTN, compile_context="N/A"),
        ev("alloc", a + 512, MB, 1_020, STACK_FWD, user_metadata="step 1"),
        ev("snapshot", 0, 512 + MB, 1_030, []),
        ev("free_requested", a + 512, MB, 1_040, STACK_FWD),
        ev("free_completed", a + 512, MB, 1_050, STACK_FWD),
        ev("alloc", a + 512, 4096, 1_060, STACK_ATTN,
           compile_context="torch/_dynamo frame 0/0", user_metadata="step 2"),
        ev("snapshot", 0, 512 + 4096, 1_070, []),
    ]
    seg = segment(a, 2 * MB, [
        block(a, 512, "active_allocated", 500, STACK_ATTN),
        block(a + 512, 4096, "active_allocated", 4096, STACK_ATTN),
        block(a + 512 + 4096, 2 * MB - 512 - 4096, "inactive"),
    ], pool=(1, 7))
    return {
        "segments": [seg],
        "device_traces": [trace],
        "allocator_settings": {
            "PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb:128,roundup_power2_divisions:[256:4]",
            "max_split_size": 128 * MB,
            "garbage_collection_threshold": 0.0,
            "expandable_segments": False,
            "roundup_power2_divisions": {"256": 4},
        },
        "external_annotations": [
            {"stage": "START", "name": "Optimizer.step#AdamW.step", "device": 0, "time_us": 1_005},
            {"stage": "END", "name": "Optimizer.step#AdamW.step", "device": 0, "time_us": 1_065},
        ],
    }


def expandable():
    """Expandable segments grow by segment_map and shrink by segment_unmap."""
    a = BASE + 0x1000_0000
    trace = [
        ev("segment_map", a, 2 * MB, 10, STACK_FWD),
        ev("alloc", a, MB, 11, STACK_FWD),
        ev("segment_map", a + 2 * MB, 2 * MB, 12, STACK_FWD),
        ev("alloc", a + MB, 2 * MB, 13, STACK_FWD),
        ev("free_requested", a + MB, 2 * MB, 14, STACK_FWD),
        ev("free_completed", a + MB, 2 * MB, 15, STACK_FWD),
        ev("segment_unmap", a + 2 * MB, 2 * MB, 16, STACK_FWD),
    ]
    seg = segment(a, 2 * MB, [
        block(a, MB, "active_allocated", MB, STACK_FWD),
        block(a + MB, MB, "inactive"),
    ], expandable=True)
    return {"segments": [seg], "device_traces": [trace],
            "allocator_settings": {"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True",
                                   "expandable_segments": True, "max_split_size": -1}}


def oom():
    """An allocation that fails: cached blocks are freed, then the oom entry."""
    a = BASE
    trace = [
        ev("segment_alloc", a, 20 * MB, 1, STACK_FWD),
        ev("alloc", a, 20 * MB, 2, STACK_FWD),
        ev("segment_alloc", a + 20 * MB, 2 * MB, 3, STACK_FWD),
        ev("alloc", a + 20 * MB, MB, 4, STACK_FWD),
        ev("free_requested", a + 20 * MB, MB, 5, STACK_FWD),
        ev("free_completed", a + 20 * MB, MB, 6, STACK_FWD),
        ev("segment_free", a + 20 * MB, 2 * MB, 7, STACK_FWD),
        {"action": "oom", "size": 64 * MB, "stream": 0, "time_us": 8,
         "device_free": 3 * MB, "frames": STACK_ATTN},
    ]
    seg = segment(a, 20 * MB, [block(a, 20 * MB, "active_allocated", 20 * MB, STACK_FWD)])
    return {"segments": [seg], "device_traces": [trace]}


def multi_device():
    """Three trace lists: devices 0 and 2 busy, device 1 idle."""
    segs, traces = [], []
    for dev in range(3):
        a = BASE + dev * 0x1_0000_0000
        if dev == 1:
            traces.append([])
            continue
        traces.append([
            ev("segment_alloc", a, 2 * MB, 100 + dev, STACK_FWD),
            ev("alloc", a, 1024 * (dev + 1), 200 + dev, STACK_FWD),
        ])
        segs.append(segment(a, 2 * MB, [
            block(a, 1024 * (dev + 1), "active_allocated", 1000, STACK_FWD),
            block(a + 1024 * (dev + 1), 2 * MB - 1024 * (dev + 1), "inactive"),
        ], device=dev))
    return {"segments": segs, "device_traces": traces}


def empty_traces():
    """History recording off: segments and one empty trace list."""
    a = BASE
    seg = segment(a, 2 * MB, [block(a, 2 * MB, "active_allocated", 2 * MB - 8)], frames=[])
    return {"segments": [seg], "device_traces": [[]]}


def history_blocks(with_trace):
    """PyTorch 2.0: blocks carry `history` and no `address`; segments have no frames."""
    a = BASE
    sizes = [(512, "active_allocated"), (1536, "inactive"), (MB, "active_allocated"),
             (MB - 2048, "inactive")]
    blocks = []
    at = a
    for i, (size, state) in enumerate(sizes):
        b = {"size": size, "requested_size": size, "state": state}
        if state == "active_allocated":
            b["history"] = [
                {"addr": at, "real_size": size - i, "frames": STACK_FWD},
                {"addr": at, "real_size": size, "frames": STACK_ATTN},
            ]
        blocks.append(b)
        at += size
    seg = {"device": 0, "address": a, "total_size": 2 * MB,
           "allocated_size": 512 + MB, "active_size": 512 + MB,
           "requested_size": 512 + MB, "stream": 0, "segment_type": "large",
           "blocks": blocks}
    snap = {"segments": [seg]}
    if with_trace:
        snap["device_traces"] = [[{"action": "free_completed", "addr": a + 512, "size": 1536,
                                   "stream": 0}]]
    return snap


def segments_list():
    """torch.cuda.memory_snapshot(): a bare list of segments."""
    return modern()["segments"] + multi_device()["segments"]


def unknown_things():
    """Keys and actions memsight does not know: kept and counted, never fatal."""
    a = BASE
    snap = modern()
    snap["future_top_key"] = {"version": 3, "notes": ["x", "y"]}
    snap["segments"][0]["future_segment_key"] = 1
    snap["segments"][0]["blocks"][0]["future_block_key"] = "z"
    snap["device_traces"][0].insert(2, ev("prefetch", a, 4096, 1_015, STACK_FWD))
    snap["device_traces"][0].insert(3, ev("prefetch", a, 4096, 1_016, STACK_FWD, hint=2))
    snap["device_traces"][0][4]["future_event_key"] = [1, 2, 3]
    return snap


def size_max_lines():
    """Frames whose line is SIZE_MAX (PyTorch's 'unknown'), in events, blocks and segments."""
    snap = modern()
    odd = [fr("unwind::unwind", "??", SIZE_MAX), PY_FWD]
    snap["device_traces"][0][1]["frames"] = odd
    snap["segments"][0]["frames"] = [fr("torch::CapturedTraceback::gather", "??", SIZE_MAX)]
    return snap


def write(name, obj, protocol=4, compress=None):
    data = pickle.dumps(obj, protocol=protocol)
    path = os.path.join(OUT, name)
    if compress == "gzip":
        open(path, "wb").write(gzip.compress(data, mtime=0))
    elif compress == "xz":
        open(path, "wb").write(lzma.compress(data))
    elif compress == "zstd":
        subprocess.run(["zstd", "-q", "-f", "-19", "-o", path], input=data, check=True)
    else:
        open(path, "wb").write(data)
    return path


def main():
    os.makedirs(OUT, exist_ok=True)
    specific = {}
    for p in range(6):
        write(f"modern_p{p}.pickle", modern(), protocol=p)
    write("modern.pickle.gz", modern(), compress="gzip")
    write("modern.pickle.zst", modern(), compress="zstd")
    write("modern.pickle.xz", modern(), compress="xz")
    write("expandable.pickle", expandable())
    write("oom.pickle", oom())
    write("multi_device.pickle", multi_device())
    write("empty_traces.pickle", empty_traces())
    write("history_only.pickle", history_blocks(False), protocol=2)
    write("history_with_trace.pickle", history_blocks(True))
    write("segments_list.pickle", segments_list(), protocol=3)
    write("unknown.pickle", unknown_things())
    write("size_max_lines.pickle", size_max_lines())
    write("size_max_lines_p0.pickle", size_max_lines(), protocol=0)

    specific["unknown.pickle"] = {
        "unknown_keys": {"top.future_top_key": 1, "segment.future_segment_key": 1,
                         "block.future_block_key": 1, "event.hint": 1,
                         "event.future_event_key": 1},
        "unknown_actions": {"prefetch": 2},
    }
    specific["oom.pickle"] = {"oom_device_free": [3 * MB], "oom_size": [64 * MB]}
    for name in ["modern_p0.pickle", "modern.pickle.zst"]:
        specific[name] = {
            "compile_contexts": ["", "N/A", "", "", "", "", "torch/_dynamo frame 0/0", ""],
            "user_metadata": ["", "", "step 1", "", "", "", "step 2", ""],
            "pool_ids": [[1, 7]],
            "max_split_size": 128 * MB,
            "alloc_conf": "max_split_size_mb:128,roundup_power2_divisions:[256:4]",
            "annotation_names": ["Optimizer.step#AdamW.step"] * 2,
        }
    specific["expandable.pickle"] = {"max_split_size": None, "expandable_setting": True}
    specific["size_max_lines.pickle"] = {"min_line": -1}
    specific["size_max_lines_p0.pickle"] = {"min_line": -1}

    facts = {}
    for name in sorted(os.listdir(OUT)):
        if ".pickle" in name:
            path = os.path.join(OUT, name)
            if name.endswith(".zst"):
                raw = subprocess.run(["zstd", "-dc", path], capture_output=True,
                                     check=True).stdout
                tmp = path + ".tmp"
                open(tmp, "wb").write(raw)
                f = make_expected.facts(tmp)
                os.remove(tmp)
                f["compression"] = "zstd"
            else:
                f = make_expected.facts(path)
            f.update(specific.get(name, {}))
            facts[name] = f
    with open(os.path.join(OUT, "expected.json"), "w") as fh:
        json.dump(facts, fh, indent=1, sort_keys=True)
        fh.write("\n")
    print(f"{len(facts)} fixtures")


if __name__ == "__main__":
    main()
