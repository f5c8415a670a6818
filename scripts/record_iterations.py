#!/usr/bin/env python3
"""Records the real snapshots in tests/data/recorded/: iteration detection and growth classification.

Usage (CUDA GPU + PyTorch): python3 scripts/record_iterations.py --out DIR [--only NAME ...]
Each workload runs in its own process under torch.cuda.memory._record_memory_history and writes
DIR/NAME.pickle (_dump_snapshot) and DIR/NAME.truth.json in the truth format of the sample
snapshots (workloads.py / iters.py): markers (allocator counters at each _snapshot() call; none of
these workloads makes one), leak_sites and not_leaks ({file, line, what}: lines of this file tagged
LEAK:<name> / NOTLEAK:<name>), ooms, final, env, history_kwargs, notes, iterations, expect. Added:
step_counters (memory_stats() after each iteration, with time.time() in us: the trace's time_us
uses the same clock; reading them adds no trace entry), trace_entries, external_annotations
(a summary of the dump's external_annotations list). This file must not change once it has run:
the frames in the pickles name its lines.
"""
import argparse, json, os, pickle, re, subprocess, sys, time

HERE = os.path.abspath(__file__)


def tagged_lines(kind, tag):
    out = []
    for i, line in enumerate(open(HERE), 1):
        m = re.search(r"#\s*" + kind + r":(\S+)\s*(.*)$", line)
        if m and m.group(1) == tag:
            out.append({"file": os.path.basename(HERE), "line": i, "what": m.group(2).strip()})
    return out


class Recorder:
    def __init__(self, name, out, max_entries=100_000, stacks="python", context="all"):
        import torch
        self.torch, self.name, self.out = torch, name, out
        self.markers, self.steps = [], []
        kwargs = dict(enabled="all", context=context, stacks=stacks, max_entries=max_entries)
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
            "num_alloc_retries": st.get("num_alloc_retries", 0),
            "num_ooms": st.get("num_ooms", 0),
            "segments": st.get("segment.all.current", 0),
        }

    def mark(self, label):
        c = self.counters()
        s = self.torch.cuda.memory._snapshot()
        tr = s["device_traces"][self.torch.cuda.current_device()]
        c.update(label=label, n_trace=len(tr), last_action=tr[-1]["action"] if tr else None,
                 last_time_us=tr[-1].get("time_us") if tr else None)
        self.markers.append(c)

    def step(self, i):
        """Counters at the end of iteration i, without a snapshot (no trace entry)."""
        c = self.counters()
        c.update(step=i, wall_time_us=int(time.time() * 1e6))
        self.steps.append(c)

    def finish(self, notes, iterations, expect, leak_tag=None, notleak_tag=None):
        torch = self.torch
        final = self.counters()
        path = os.path.join(self.out, self.name + ".pickle")
        torch.cuda.memory._dump_snapshot(path)
        torch.cuda.memory._record_memory_history(enabled=None)
        snap = pickle.load(open(path, "rb"))
        ann = snap.get("external_annotations", [])
        names = {}
        for a in ann:
            d = names.setdefault(str(a.get("name")), {})
            d[str(a.get("stage"))] = d.get(str(a.get("stage")), 0) + 1
        truth = {
            "workload": self.name,
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
                "total_memory": torch.cuda.get_device_properties(0).total_memory,
                "alloc_conf": os.environ.get("PYTORCH_CUDA_ALLOC_CONF", ""),
                "script": HERE,
            },
            "pickle_bytes": os.path.getsize(path),
            "iterations": iterations,
            "expect": expect,
            "step_counters": self.steps,
            "trace_entries": len(snap["device_traces"][torch.cuda.current_device()]),
            "external_annotations": {"count": len(ann), "names": names},
        }
        with open(os.path.join(self.out, self.name + ".truth.json"), "w") as f:
            json.dump(truth, f, indent=1)


def mlp(torch, width=4096, depth=3, d_in=1024, n_out=10):
    nn = torch.nn
    layers, d = [], d_in
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.GELU()]
        d = width
    layers.append(nn.Linear(d, n_out))
    return nn.Sequential(*layers).cuda()


def gpt(torch, vocab=8192, d=512, heads=8, layers=6, seq=256):
    nn, F = torch.nn, torch.nn.functional

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

        def forward(self, x):
            b, t, _ = x.shape
            q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
            return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(vocab, d)
            self.pos = nn.Parameter(torch.zeros(seq, d))
            self.blocks = nn.ModuleList(Block() for _ in range(layers))
            self.ln = nn.LayerNorm(d)
            self.head = nn.Linear(d, vocab, bias=False)

        def forward(self, idx):
            x = self.emb(idx) + self.pos[: idx.shape[1]]
            for blk in self.blocks:
                x = blk(x)
            return self.head(self.ln(x))

    return GPT().cuda()


# ----------------------------------------------------------------------------- workloads


def alibi_bias(torch, cache, t, heads):
    """ALiBi attention bias (heads, t, t) with the causal mask, cached per sequence length."""
    if t not in cache:
        pos = torch.arange(t, device="cuda")
        slopes = 2.0 ** (-8.0 * torch.arange(1, heads + 1, device="cuda") / heads)
        rel = (pos[None, :] - pos[:, None]).float()
        bias = slopes[:, None, None] * rel.clamp(max=0)[None]
        cache[t] = bias.masked_fill(rel[None] > 0, float("-inf"))  # NOTLEAK:bounded_cache one bias table per sequence length: 4 lengths, filled in the first 4 steps, then reused
    return cache[t]


def w_bounded_cache(out):
    """12 training steps of a one-block attention model whose ALiBi bias is cached in a dict keyed
    by sequence length; lengths cycle over 4 values, so the cache grows in steps 0-3, then is flat."""
    import torch
    nn, F = torch.nn, torch.nn.functional
    rec = Recorder("bounded_cache", out)
    vocab, d, heads = 4096, 512, 8

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(vocab, d)
            self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
            self.head = nn.Linear(d, vocab, bias=False)

        def forward(self, idx, bias):
            b, t = idx.shape
            x = self.emb(idx)
            q, k, v = self.qkv(x).view(b, t, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
            x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
            return self.head(x + self.fc2(F.gelu(self.fc1(x))))

    model = Net().cuda()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
    cache = {}
    lengths = [128, 256, 384, 512]
    for step in range(12):
        t = lengths[step % 4]
        idx = torch.randint(0, vocab, (8, t), device="cuda")
        logits = model(idx, alibi_bias(torch, cache, t, heads))
        loss = F.cross_entropy(logits.view(-1, vocab), idx.view(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        del logits, loss
        rec.step(step)
    rec.finish("12 steps, one attention block, ALiBi bias cached per sequence length (128/256/384/512 cycling), "
               "AdamW, no markers", 12,
               "no leak; bounded growth: the bias cache fills in the first 4 steps (one table per length, "
               "~15.7 MB in all) then stays flat; AdamW state is created once at step 0",
               notleak_tag="bounded_cache")


def w_dataloader_nomarks(out):
    """10 MLP training steps with AdamW; batches come from a DataLoader over a CPU TensorDataset
    (num_workers=0) and are moved to the GPU each step. No markers, no leak."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    rec = Recorder("dataloader_nomarks", out)
    g = torch.Generator().manual_seed(0)
    ds = TensorDataset(torch.randn(640, 1024, generator=g), torch.randint(0, 10, (640,), generator=g))
    dl = DataLoader(ds, batch_size=64, shuffle=True, num_workers=0, generator=g)
    model = mlp(torch, width=2048, depth=3)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    lossf = torch.nn.CrossEntropyLoss()
    for step, (x, y) in enumerate(dl):
        x, y = x.cuda(), y.cuda()
        loss = lossf(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        del loss
        rec.step(step)
    rec.finish("10 MLP steps, AdamW, DataLoader over a CPU TensorDataset (num_workers=0), no markers", 10,
               "no leak; 10 iterations; AdamW state is created once at step 0")


def infer(out, name, leak):
    import torch
    rec = Recorder(name, out)
    model = mlp(torch, width=2048, depth=3, n_out=2048).eval()
    outs, preds = [], []
    with torch.no_grad():
        for step in range(12):
            x = torch.randn(512, 1024, device="cuda")
            y = model(x)  # LEAK:infer_leak_nomarks each batch's output (512x2048 fp32, 4 MiB) kept on the GPU in outs
            if leak:
                outs.append(y)
            preds.append(y.argmax(-1).cpu())
            del y
            rec.step(step)
    return rec, (model, outs)  # the caller holds these until the dump


def w_infer_nomarks(out):
    """Inference loop, no optimizer: torch.no_grad, 12 batches through an MLP, predictions copied
    to the CPU. No markers, no leak."""
    rec, alive = infer(out, "infer_nomarks", leak=False)
    rec.finish("inference only: no_grad, 12 batches through an MLP, argmax copied to the CPU, no markers", 12,
               "no leak; 12 iterations; no optimizer, so no backward/optimizer phases to find them by")


def w_infer_leak_nomarks(out):
    """The same inference loop, but each batch's output is appended to a list kept on the GPU."""
    rec, alive = infer(out, "infer_leak_nomarks", leak=True)
    rec.finish("inference only: no_grad, 12 batches, every output kept on the GPU in a list, no markers", 12,
               "leak at the forward line: +4 MiB (one output) per iteration, all 12 alive at the end",
               leak_tag="infer_leak_nomarks")


def w_adam_staggered(out):
    """A trunk with 4 heads; steps 0-3 put a loss on head k only, so AdamW creates state for head k
    lazily at step k; steps 4-11 train all heads. Adam state grows for 4 steps, then is flat."""
    import torch
    nn = torch.nn
    rec = Recorder("adam_staggered", out)
    trunk = nn.Sequential(nn.Linear(1024, 2048), nn.GELU()).cuda()
    heads = nn.ModuleList(nn.Linear(2048, 2048) for _ in range(4)).cuda()
    opt = torch.optim.AdamW(list(trunk.parameters()) + list(heads.parameters()), lr=1e-4)
    for step in range(12):
        x = torch.randn(256, 1024, device="cuda")
        h = trunk(x)
        if step < 4:
            loss = heads[step](h).pow(2).mean()
        else:
            loss = sum(hd(h).pow(2).mean() for hd in heads)
        loss.backward()
        opt.step()  # NOTLEAK:adam_staggered AdamW state (exp_avg, exp_avg_sq) created lazily for head k at step k: +32 MiB a step for steps 0-3, then flat
        opt.zero_grad(set_to_none=True)
        del h, loss
        rec.step(step)
    rec.finish("trunk + 4 heads (2048x2048), AdamW; steps 0-3 train head k only, steps 4-11 all heads; no markers",
               12, "no leak; bounded growth: optimizer state grows in steps 0-3 (one head's state each) "
               "then stays flat for 8 steps", notleak_tag="adam_staggered")


def annotated(out, name, leak):
    import torch
    from torch.profiler import ProfilerActivity, profile, record_function, schedule
    F = torch.nn.functional
    rec = Recorder(name, out)
    model = gpt(torch, vocab=4096, d=256, heads=4, layers=2, seq=128)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
    acts = [ProfilerActivity.CPU]
    if ProfilerActivity.CUDA in torch.profiler.supported_activities():
        acts.append(ProfilerActivity.CUDA)
    print("profiler activities:", acts, flush=True)
    losses = []
    with profile(activities=acts, schedule=schedule(wait=1, warmup=1, active=2, repeat=2)) as prof:
        for step in range(8):
            with record_function("train_step"):
                idx = torch.randint(0, 4096, (8, 128), device="cuda")
                logits = model(idx)  # LEAK:annotated_leak activations saved for backward of each kept loss graph
                loss = F.cross_entropy(logits.view(-1, 4096), idx.view(-1))  # LEAK:annotated_leak log-softmax output saved by cross_entropy for the kept graph
                if leak:
                    losses.append(loss)
                loss.backward(retain_graph=leak)
                opt.step()
                opt.zero_grad(set_to_none=True)
                del logits, loss
            rec.step(step)
            prof.step()
    return rec, [str(a) for a in acts], (model, opt, losses)  # the caller holds these until the dump


def w_annotated_steps(out):
    """8 small-GPT steps, each inside record_function("train_step"), under torch.profiler.profile
    with a schedule and prof.step() per step. No markers, no leak."""
    rec, acts, alive = annotated(out, "annotated_steps", leak=False)
    rec.finish("8 GPT steps (2x256), AdamW, record_function('train_step') per step, torch.profiler.profile("
               f"{acts}, schedule wait=1 warmup=1 active=2 repeat=2), prof.step() per step, no markers", 8,
               "no leak; 8 iterations, annotated (train_step, ProfilerStep#N, Optimizer.step#AdamW.step)")


def w_annotated_leak(out):
    """Same as annotated_steps, but each step keeps its loss with its graph (retain_graph=True)."""
    rec, acts, alive = annotated(out, "annotated_leak", leak=True)
    rec.finish("as annotated_steps, but every loss is kept with its graph (retain_graph=True)", 8,
               "leak at the forward line (and the loss line): each step's saved activations stay alive; 8 iterations",
               leak_tag="annotated_leak")


def w_warmup_then_leak(out):
    """12 MLP steps, no markers; steps 0-5 are clean, from step 6 on each step keeps a detached copy
    of a hidden activation on the GPU: a leak that begins midway."""
    import torch
    nn = torch.nn
    rec = Recorder("warmup_then_leak", out)
    trunk = nn.Sequential(nn.Linear(1024, 4096), nn.GELU(), nn.Linear(4096, 4096), nn.GELU()).cuda()
    head = nn.Linear(4096, 10).cuda()
    opt = torch.optim.AdamW(list(trunk.parameters()) + list(head.parameters()), lr=1e-4)
    lossf = nn.CrossEntropyLoss()
    keep = []
    for step in range(12):
        x = torch.randn(512, 1024, device="cuda")
        y = torch.randint(0, 10, (512,), device="cuda")
        h = trunk(x)
        loss = lossf(head(h), y)
        if step >= 6:
            keep.append(h.detach().clone())  # LEAK:warmup_then_leak a copy of the hidden activation (512x4096 fp32, 8 MiB) kept each step from step 6 on
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        del h, loss
        rec.step(step)
    rec.finish("12 MLP steps, AdamW, no markers; from step 6 each step keeps h.detach().clone()", 12,
               "leak beginning at step 6 (the 7th iteration): +8 MiB per step for 6 steps at the clone line; "
               "steps 0-5 are steady after AdamW's state at step 0", leak_tag="warmup_then_leak")


def w_annot_probe(out):
    """Not a recorded workload: prints which record_function scopes reach external_annotations
    without any profiler, from the main thread and from another thread."""
    import threading
    import torch
    from torch.profiler import record_function

    def names():
        return [(a.get("name"), a.get("stage")) for a in torch.cuda.memory._snapshot().get("external_annotations", [])]

    def in_thread(tag):
        def f():
            with record_function(tag):
                torch.empty(1 << 20, device="cuda")
        th = threading.Thread(target=f)
        th.start()
        th.join()

    torch.cuda.memory._record_memory_history(enabled="all", context="all", stacks="python", max_entries=10_000)
    with record_function("probe_main"):
        torch.empty(1 << 20, device="cuda")
    with torch.autograd.profiler.record_function("probe_autograd_rf"):
        torch.empty(1 << 20, device="cuda")
    in_thread("probe_other_thread")
    print("plain (thread-local callback):", names(), flush=True)
    torch.cuda.memory._record_memory_history(enabled=None)
    import inspect
    params = inspect.signature(torch.cuda.memory._record_memory_history).parameters
    print("_record_memory_history parameters:", list(params), flush=True)
    if "global_record_annotations" in params:
        extra = {"clear_history": True} if "clear_history" in params else {}
        torch.cuda.memory._record_memory_history(enabled="all", context="all", stacks="python", max_entries=10_000,
                                                 global_record_annotations=True, **extra)
        in_thread("probe_other_thread_global")
        print("global_record_annotations=True:", names(), flush=True)
        torch.cuda.memory._record_memory_history(enabled=None)
    else:
        print("no global_record_annotations parameter", flush=True)


WORKLOADS = {f.__name__[2:]: f for f in [
    w_bounded_cache, w_dataloader_nomarks, w_infer_nomarks, w_infer_leak_nomarks, w_adam_staggered,
    w_annotated_steps, w_annotated_leak, w_warmup_then_leak, w_annot_probe]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--child")
    ap.add_argument("--budget", type=float, default=500, help="seconds for all workloads together")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.child:
        WORKLOADS[a.child](a.out)
        return
    print("script:", HERE, flush=True)
    summary, deadline = [], time.time() + a.budget
    for name in a.only or list(WORKLOADS):
        env = dict(os.environ)
        env.pop("PYTORCH_CUDA_ALLOC_CONF", None)
        t0 = time.time()
        if deadline - t0 < 20:
            summary.append(f"{name}: skipped, out of time")
            continue
        try:
            r = subprocess.run([sys.executable, HERE, "--out", a.out, "--child", name], env=env,
                               capture_output=True, text=True, timeout=min(150, deadline - t0))
            rc, so, se = r.returncode, r.stdout, r.stderr
        except subprocess.TimeoutExpired as e:
            rc, so, se = "timeout", str(e.stdout or "")[-1500:], str(e.stderr or "")[-3000:]
        dt = time.time() - t0
        p = os.path.join(a.out, name + ".pickle")
        size = os.path.getsize(p) if os.path.exists(p) else -1
        line = f"{name}: rc={rc} {dt:.1f}s pickle={size}"
        tp = os.path.join(a.out, name + ".truth.json")
        if os.path.exists(tp):
            t = json.load(open(tp))
            line += (f" trace={t['trace_entries']} final_alloc={t['final']['allocated']}"
                     f" steps={len(t['step_counters'])} annotations={json.dumps(t['external_annotations'])}")
        print(line, flush=True)
        print(so[-3000:], flush=True)
        print(se[-4000:] if rc != 0 else se[-1200:], flush=True)
        summary.append(line)
    print("\nSUMMARY\n" + "\n".join(summary), flush=True)


if __name__ == "__main__":
    main()
