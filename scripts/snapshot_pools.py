"""The dump's segments per memory pool, for the truth files of the pool recordings
(scripts/record_graphs.py, scripts/record_graph_oom.py): segments, reserved and allocated bytes
by `segment_pool_id`, as memsight's tests compare them."""


def pools_of(snap):
    pools = {}
    for s in snap["segments"]:
        key = str(tuple(s.get("segment_pool_id", (0, 0))))
        p = pools.setdefault(key, {"segments": 0, "reserved": 0, "allocated": 0})
        p["segments"] += 1
        p["reserved"] += s["total_size"]
        p["allocated"] += s["allocated_size"]
    return pools


def add_to_truth(out, name, **fields):
    """Adds `fields` to the truth file `name` the recorder wrote into `out`."""
    import json, os
    path = os.path.join(out, name + ".truth.json")
    truth = json.load(open(path))
    truth.update(fields)
    json.dump(truth, open(path, "w"), indent=1)


def main(record):
    """A recording script's command line: `--out DIR` (made when missing), then record(DIR)."""
    import argparse, os
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    record(args.out)
