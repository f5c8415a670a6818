#!/usr/bin/env python3
"""Records tests/data/recorded/graph_pool_oom: an OOM while a CUDA graph's pool holds free memory.

Usage (CUDA GPU + PyTorch): python3 scripts/record_graph_oom.py --out DIR

Why: a CUDA graph keeps the segments of its private pool for as long as the graph lives, and
memory freed inside the capture stays in that pool: free, but of no use to the eager code's
requests in the default pool. An OOM there reads, from the counters alone, as if the free memory
could have served it. The recording caps the process at 6 GiB, captures a step whose 2 GiB
scratch tensor is freed inside the capture, then asks the default pool for more than what is
left: the request fails although 2 GiB of reserved memory is free (in the graph's pool). The
recorder is scripts/record_iterations.py's, imported as is. Added to the truth: `pools` (the
dump's segments per pool id, reserved and allocated bytes) and `ooms` (the message and the
counters at the failure). This file must not change once it has run: the frames in the pickle
name its lines.
"""
import json, os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from record_iterations import Recorder  # noqa: E402

GIB = 1 << 30


def graph_pool_oom(out):
    import torch
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(6 * GIB / total)
    rec = Recorder("graph_pool_oom", out)
    static_x = torch.randn(1024, 1024, device="cuda")

    def step():
        scratch = torch.empty(2 * GIB // 4, device="cuda")  # freed inside the capture
        scratch.fill_(1.0)
        y = static_x * scratch[: static_x.numel()].view_as(static_x)
        del scratch
        return y.sum()

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        step()
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.empty_cache()  # the warm-up's scratch is gone from the default pool
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_out = step()
    graph.replay()
    rec.mark("after capture")
    # The eager side: 3 GiB of activations in the default pool, then a 1.5 GiB request.
    held = [torch.empty(GIB // 4, device="cuda") for _ in range(3)]
    rec.mark("eager tensors")
    oom = None
    try:
        big = torch.empty(3 * GIB // 8, device="cuda")  # 1.5 GiB: does not fit the cap
        del big
    except torch.cuda.OutOfMemoryError as e:
        oom = {"message": str(e), "counters": rec.counters()}
    rec.mark("after the OOM")
    torch.cuda.synchronize()
    # Imported here, not at the top: the lines above name the frames in the pickle.
    from snapshot_pools import add_to_truth, pools_of
    pools = pools_of(torch.cuda.memory._snapshot())
    rec.finish(
        notes="6 GiB cap; a CUDA graph whose 2 GiB scratch tensor is freed inside the capture "
              "keeps that memory in its private pool; 3 GiB of eager tensors, then a 1.5 GiB "
              "request in the default pool fails although 2 GiB of reserved memory is free in "
              "the graph's pool. Nothing leaks. out %.1f" % float(static_out),
        iterations=None,
        expect={"leak": False, "pools": len(pools), "oom": oom is not None},
    )
    del held, graph
    add_to_truth(out, "graph_pool_oom", pools=pools, ooms=[oom] if oom else [])
    print(json.dumps({"pools": pools, "oom": oom}, indent=1))


def main():
    from snapshot_pools import main as run
    run(graph_pool_oom)


if __name__ == "__main__":
    main()
