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
