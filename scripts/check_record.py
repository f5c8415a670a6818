#!/usr/bin/env python3
"""The real-GPU check of memsight.record(): two small training loops, each recorded with
memsight.record(), and memsight's diagnosis of what they left.

  leak: an MLP trained with AdamW that keeps every step's output on the GPU (the LEAK line
        below); record(...).step() marks each iteration. memsight must find the leak at that
        line, with the iterations taken from the memsight.step annotations.
  oom:  the same model under torch.cuda.set_per_process_memory_fraction (a 2 GiB cap), the
        batch doubling every step until the allocator gives up. The OOM observer must have
        written the snapshot at the OOM (checked on a copy taken before the block ends), the
        block's end must write it again, and memsight must find the OOM in both.

Usage (CUDA GPU, PyTorch, memsight installed): python3 scripts/check_record.py --out DIR
Each loop runs in its own process (PyTorch's memory history and OOM observers are per
process). Writes DIR/leak.pickle, DIR/oom.pickle, DIR/oom_at_oom.pickle and DIR/result.json;
exits 1 when a check fails. Line numbers matter: the leak check reads the LEAK tag's line.
"""
import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.abspath(__file__)
STEPS = 8
CAP = 2 << 30


def tagged_line(tag):
    for i, line in enumerate(open(HERE), 1):
        if line.rstrip().endswith("# " + tag):
            return i
    raise SystemExit(f"no line tagged {tag}")


def model(torch):
    nn = torch.nn
    return nn.Sequential(
        nn.Linear(1024, 4096), nn.GELU(), nn.Linear(4096, 4096), nn.GELU(), nn.Linear(4096, 1024)
    ).cuda()


def run_leak(out):
    import torch
    import memsight

    net = model(torch)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    kept = []
    with memsight.record(os.path.join(out, "leak.pickle")) as rec:
        for _ in range(STEPS):
            x = torch.randn(1024, 1024, device="cuda")
            y = net(x)
            y.square().mean().backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            kept.append(y.detach().clone())  # LEAK
            rec.step()
    return {"steps": rec.steps, "dumps": rec.dumps, "ooms": rec.ooms}


def run_oom(out):
    import torch
    import memsight

    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(CAP / total)
    net = model(torch)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    path = os.path.join(out, "oom.pickle")
    info = {"cap": CAP, "total_memory": total}
    rec = memsight.record(path)
    try:
        with rec:
            batch = 1024
            try:
                while True:
                    x = torch.randn(batch, 1024, device="cuda")
                    net(x).square().mean().backward()  # OOM
                    opt.step()
                    opt.zero_grad(set_to_none=True)
                    rec.step()
                    info["last_batch"] = batch
                    batch *= 2
            except torch.cuda.OutOfMemoryError:
                # What the observer wrote at the OOM, before the block's end writes it again.
                info["dumps_at_oom"] = rec.dumps
                shutil.copy(path, os.path.join(out, "oom_at_oom.pickle"))
                raise
    except torch.cuda.OutOfMemoryError as e:
        info["raised"] = str(e).splitlines()[0]
    info.update(steps=rec.steps, dumps=rec.dumps, ooms=rec.ooms)
    return info


def check(out, runs):
    import memsight

    fails = []

    def expect(cond, what):
        (print("ok  ", what) if cond else fails.append(what) or print("FAIL", what))

    leak = memsight.analyze(os.path.join(out, "leak.pickle"))["devices"][0]
    line = tagged_line("LEAK")
    leaks = leak["leaks"]
    expect(runs["leak"]["steps"] == STEPS, f"leak: {STEPS} steps marked")
    expect(leak["iteration_source"] == "annotations"
           and leak["iteration_detail"] == "memsight.step",
           f"leak: iterations from memsight.step annotations ({leak['iteration_source']}, "
           f"{leak['iteration_detail']})")
    expect(leak["iterations"] == STEPS, f"leak: {leak['iterations']} iterations == {STEPS}")
    expect(bool(leaks) and os.path.basename(leaks[0]["file"]) == "check_record.py"
           and leaks[0]["line"] == line,
           f"leak: first suspect is check_record.py:{line} "
           f"({[(l['file'], l['line']) for l in leaks]})")
    if leaks:
        expect(leaks[0]["growth_bytes_per_iteration"] == 4 << 20,
               f"leak: +4 MiB per iteration ({leaks[0]['growth_bytes_per_iteration']})")
    expect(leak["ooms"] == [], "leak: no OOM")

    o = runs["oom"]
    expect("raised" in o, f"oom: OutOfMemoryError raised ({o.get('raised')})")
    expect(o.get("ooms", 0) >= 1 and o.get("dumps_at_oom", 0) >= 1,
           f"oom: the observer wrote the snapshot at the OOM (ooms {o.get('ooms')}, "
           f"dumps then {o.get('dumps_at_oom')})")
    for name in ["oom_at_oom.pickle", "oom.pickle"]:
        d = memsight.analyze(os.path.join(out, name))["devices"][0]
        expect(len(d["ooms"]) >= 1, f"oom: {name} has the OOM ({len(d['ooms'])})")
        if d["ooms"]:
            first = d["ooms"][0]
            expect(first["verdict"] == "capacity",
                   f"oom: {name}: verdict {first['verdict']}, {first['requested']} B requested, "
                   f"{first['allocated']} B allocated, {first['reserved']} B reserved")
            expect(first["reserved"] <= CAP, f"oom: {name}: reserved within the 2 GiB cap")
    return fails


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", choices=["leak", "oom"])
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.only:
        result = {"leak": run_leak, "oom": run_oom}[args.only](args.out)
        print("RESULT " + json.dumps(result))
        return 0
    runs = {}
    for name in ["leak", "oom"]:
        p = subprocess.run([sys.executable, HERE, "--out", args.out, "--only", name],
                           capture_output=True, text=True)
        sys.stderr.write(p.stderr[-4000:])
        lines = [l for l in p.stdout.splitlines() if l.startswith("RESULT ")]
        if p.returncode != 0 or not lines:
            print(f"FAIL {name}: the loop exited {p.returncode}")
            return 1
        runs[name] = json.loads(lines[-1][len("RESULT "):])
    import memsight
    import torch

    fails = check(args.out, runs)
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "gpu": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": sys.version.split()[0],
        "memsight": memsight.__version__,
        "runs": runs,
        "sizes": {f: os.path.getsize(os.path.join(args.out, f))
                  for f in ["leak.pickle", "oom.pickle", "oom_at_oom.pickle"]},
        "failed": fails,
    }
    with open(os.path.join(args.out, "result.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
