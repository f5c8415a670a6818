#!/usr/bin/env python3
"""Records tests/data/recorded/cuda_graph_pools: a training step captured in a CUDA graph.

Usage (CUDA GPU + PyTorch): python3 scripts/record_graphs.py --out DIR

Why: a CUDA graph allocates from a private memory pool (its own segments, `segment_pool_id`
non-zero in the dump), next to the default pool the eager code uses; a user `torch.cuda.MemPool`
makes a third. The app's pool filter must offer them, and the analysis must count them. The
recorder (markers, counters, the truth file) is scripts/record_iterations.py's, imported as is:
its frames do not matter here, and that file must not change once it has run. Added to the truth:
`pools`, the dump's segments per pool id with their reserved and allocated bytes. This file must
not change once it has run: the frames in the pickle name its lines.
"""
import json, os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from record_iterations import Recorder, mlp  # noqa: E402


def cuda_graph_pools(out, steps=6):
    import torch
    rec = Recorder("cuda_graph_pools", out)
    model = mlp(torch, width=2048, depth=3, d_in=1024)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    static_x = torch.randn(256, 1024, device="cuda")
    static_y = torch.randint(0, 10, (256,), device="cuda")
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(model(static_x), static_y)
        loss.backward()
        opt.step()
        return loss

    # Warm up on a side stream, as torch.cuda.graph's documentation asks.
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_loss = step()
    # A user pool: activations of an eager evaluation pass kept apart.
    pool = torch.cuda.MemPool()
    for i in range(steps):
        static_x.copy_(torch.randn(256, 1024, device="cuda"))
        graph.replay()
        with torch.cuda.use_mem_pool(pool):
            with torch.no_grad():
                ev = model(torch.randn(512, 1024, device="cuda"))
            del ev
        rec.step(i)
        # One marker per iteration, as a training loop leaves them (the warm-up and the
        # capture fall in the first window).
        rec.mark(f"step {i}")
    torch.cuda.synchronize()
    # Imported here, not at the top: the lines above name the frames in the pickle.
    from snapshot_pools import add_to_truth, pools_of
    pools = pools_of(torch.cuda.memory._snapshot())
    rec.finish(
        notes="MLP training step captured in a CUDA graph (private pool) and replayed; an "
              "eager no-grad pass per step allocates from a user MemPool; the rest is the "
              "default pool. Nothing leaks. loss %.4f" % float(static_loss.detach()),
        iterations=steps,
        expect={"leak": False, "pools": len(pools)},
    )
    add_to_truth(out, "cuda_graph_pools", pools=pools)
    print(json.dumps(pools, indent=1))


def main():
    from snapshot_pools import main as run
    run(cuda_graph_pools)


if __name__ == "__main__":
    main()
