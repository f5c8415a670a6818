#!/usr/bin/env python3
"""Records the multi-rank snapshots in tests/data/recorded/: one pickle per rank of a 2-GPU job.

Usage (2 CUDA GPUs + PyTorch with NCCL): python3 scripts/record_ranks.py --out DIR [--only NAME ...]
Each workload runs in its own process, which spawns one process per GPU (torch.multiprocessing,
NCCL). Every rank records its own history and writes DIR/NAME_rank{R}.pickle (_dump_snapshot) and
DIR/NAME_rank{R}.truth.json in the truth format of the sample snapshots: markers (allocator counters
at each _snapshot() call, one after each step), leak_sites / not_leaks ({file, line, what}: lines of
this file tagged LEAK:<name> / NOTLEAK:<name>), final, env, history_kwargs, notes, iterations,
expect, rank, world_size. This file must not change once it has run: the frames in the pickles name
its lines.

Workloads:
- fsdp2_gather: an MLP sharded with FSDP2 (`fully_shard`) whose first and last layers have an odd
  number of rows (uneven shards: rank 0 holds one row more). Every third step the full state dict is
  gathered on the GPU (`full_tensor()`, a collective every rank joins) and rank 0 alone keeps it, as
  a rank-0 checkpoint writer does: rank 0 holds a full copy of the weights the others do not.
- all_leak: a DDP MLP where every rank keeps each step's loss with its graph: the same leak on
  every rank, so no rank stands out.
"""
import argparse, json, os, re, socket, subprocess, sys, time

HERE = os.path.abspath(__file__)
WORLD = 2


def tagged_lines(kind, tag):
    out = []
    for i, line in enumerate(open(HERE), 1):
        m = re.search(r"#\s*" + kind + r":(\S+)\s*(.*)$", line)
        if m and m.group(1) == tag:
            out.append({"file": os.path.basename(HERE), "line": i, "what": m.group(2).strip()})
    return out


class Recorder:
    """Records one rank's history; `mark` after each step adds a marker with the counters."""

    def __init__(self, torch, name, out, rank):
        self.torch, self.name, self.out, self.rank = torch, name, out, rank
        self.markers = []
        kwargs = dict(enabled="all", context="all", stacks="python", max_entries=100_000)
        self.history_kwargs = {k: str(v) for k, v in kwargs.items()}
        torch.cuda.memory._record_memory_history(**kwargs)

    def counters(self):
        torch = self.torch
        torch.cuda.synchronize()
        st = torch.cuda.memory_stats()
        return {
            "allocated": st.get("allocated_bytes.all.current", 0),
            "reserved": st.get("reserved_bytes.all.current", 0),
            "active": st.get("active_bytes.all.current", 0),
            "inactive_split": st.get("inactive_split_bytes.all.current", 0),
            "requested": st.get("requested_bytes.all.current", 0),
            "peak_allocated": st.get("allocated_bytes.all.peak", 0),
            "peak_reserved": st.get("reserved_bytes.all.peak", 0),
            "num_ooms": st.get("num_ooms", 0),
            "segments": st.get("segment.all.current", 0),
        }

    def mark(self, label):
        c = self.counters()
        self.torch.cuda.memory._snapshot()
        c["label"] = label
        self.markers.append(c)

    def finish(self, notes, iterations, expect, leak_tag=None, notleak_tag=None):
        torch = self.torch
        final = self.counters()
        stem = f"{self.name}_rank{self.rank}"
        path = os.path.join(self.out, stem + ".pickle")
        torch.cuda.memory._dump_snapshot(path)
        torch.cuda.memory._record_memory_history(enabled=None)
        truth = {
            "workload": self.name,
            "rank": self.rank,
            "world_size": WORLD,
            "notes": notes,
            "history_kwargs": self.history_kwargs,
            "markers": self.markers,
            "leak_sites": tagged_lines("LEAK", leak_tag) if leak_tag else [],
            "not_leaks": tagged_lines("NOTLEAK", notleak_tag) if notleak_tag else [],
            "ooms": [],
            "final": final,
            "env": {
                "torch": torch.__version__,
                "device": torch.cuda.get_device_name(),
                "total_memory": torch.cuda.get_device_properties(self.rank).total_memory,
                "script": HERE,
            },
            "pickle_bytes": os.path.getsize(path),
            "iterations": iterations,
            "expect": expect,
        }
        with open(os.path.join(self.out, stem + ".truth.json"), "w") as f:
            json.dump(truth, f, indent=1)


def mlp(torch, dims):
    nn = torch.nn
    layers = []
    for a, b in zip(dims, dims[1:]):
        layers += [nn.Linear(a, b), nn.GELU()]
    return nn.Sequential(*layers[:-1])


# ----------------------------------------------------------------------------- workloads


def w_fsdp2_gather(torch, out, rank):
    """FSDP2 MLP with odd row counts (uneven shards); every third step rank 0 keeps a full state dict."""
    from torch.distributed.fsdp import fully_shard
    rec = Recorder(torch, "fsdp2_gather", out, rank)
    model = mlp(torch, [1024, 4097, 4096, 4096, 1023]).cuda()
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer)
    fully_shard(model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ckpt = None
    rec.mark("start")
    for step in range(9):
        x = torch.randn(256, 1024, device="cuda")
        loss = model(x).float().pow(2).mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        del loss
        if step % 3 == 2:
            full = {k: v.full_tensor() for k, v in model.state_dict().items()}  # NOTLEAK:fsdp2_gather rank 0 keeps the gathered full state dict (replaced every third step); the other ranks drop it
            ckpt = full if rank == 0 else None
            del full
        rec.mark(f"step {step}")
    rec.finish("FSDP2 fully_shard MLP (1024-4097-4096-4096-1023, odd rows: uneven shards), AdamW, 9 steps, "
               "a marker after each; every third step the full state dict is gathered on every rank and rank 0 "
               "keeps it (replaced, not accumulated)", 9,
               "rank 0 holds ~160 MiB more than rank 1 (the gathered full weights, 42M fp32 parameters) from step 2 on: the outlier, "
               "at the full_tensor() line; no leak on any rank", notleak_tag="fsdp2_gather")
    return ckpt


def w_all_leak(torch, out, rank):
    """DDP MLP; every rank keeps each step's loss with its graph (the same leak on every rank)."""
    nn = torch.nn
    rec = Recorder(torch, "all_leak", out, rank)
    model = mlp(torch, [1024, 2048, 2048, 10]).cuda()
    ddp = nn.parallel.DistributedDataParallel(model, device_ids=[rank])
    opt = torch.optim.AdamW(ddp.parameters(), lr=1e-4)
    kept = []
    rec.mark("start")
    for step in range(10):
        x = torch.randn(512, 1024, device="cuda")
        loss = ddp(x).float().pow(2).mean()  # LEAK:all_leak every rank keeps each loss with its graph (the activations of each step)
        loss.backward(retain_graph=True)
        opt.step()
        opt.zero_grad(set_to_none=True)
        kept.append(loss)
        rec.mark(f"step {step}")
    rec.finish("2-rank DDP MLP (1024-2048-2048-10), AdamW, 10 steps, a marker after each; every rank keeps "
               "each loss with its graph", 10,
               "the same leak at the forward line on both ranks (~12 MiB per step); no rank is an outlier",
               leak_tag="all_leak")
    return kept


WORKLOADS = {f.__name__[2:]: f for f in [w_fsdp2_gather, w_all_leak]}


def rank_main(rank, name, out, port):
    import torch
    import torch.distributed as dist
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", rank=rank, world_size=WORLD, device_id=torch.device("cuda", rank))
    keep = WORKLOADS[name](torch, out, rank)
    dist.barrier()
    del keep
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--child")
    ap.add_argument("--budget", type=float, default=240, help="seconds for all workloads together")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.child:
        import torch.multiprocessing as mp
        mp.spawn(rank_main, args=(a.child, a.out, free_port()), nprocs=WORLD, join=True)
        return
    print("script:", HERE, flush=True)
    summary, deadline = [], time.time() + a.budget
    for name in a.only or list(WORKLOADS):
        t0 = time.time()
        if deadline - t0 < 20:
            summary.append(f"{name}: skipped, out of time")
            continue
        env = dict(os.environ)
        env.pop("PYTORCH_CUDA_ALLOC_CONF", None)
        try:
            r = subprocess.run([sys.executable, HERE, "--out", a.out, "--child", name], env=env,
                               capture_output=True, text=True, timeout=min(150, deadline - t0))
            rc, so, se = r.returncode, r.stdout, r.stderr
        except subprocess.TimeoutExpired as e:
            rc, so, se = "timeout", str(e.stdout or "")[-1500:], str(e.stderr or "")[-3000:]
        line = f"{name}: rc={rc} {time.time() - t0:.1f}s"
        for rank in range(WORLD):
            p = os.path.join(a.out, f"{name}_rank{rank}.pickle")
            line += f" rank{rank}={os.path.getsize(p) if os.path.exists(p) else -1}B"
        print(line, flush=True)
        print(so[-2000:], flush=True)
        print(se[-4000:] if rc != 0 else se[-800:], flush=True)
        summary.append(line)
    print("\nSUMMARY\n" + "\n".join(summary), flush=True)


if __name__ == "__main__":
    main()
