#!/usr/bin/env bash
# The memory bound of `memsight ranks`: peak RSS for N files of a large snapshot, at J workers.
# huge_trace (1M events, 156 MiB once decompressed) is decompressed once into
# target/bench-data/ and linked N times under rank names (snapshot_1000_R.pickle), so the job
# reads N distinct paths of ~160 MB each. Not a timed test: run it by hand, BENCHMARKS.md has
# the figures.
#
#   scripts/bench_ranks.sh [BIN] [N] [JOBS...]     # defaults: target/release/memsight 64 2 8
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$root/target/release/memsight}"
n="${2:-64}"
shift $(( $# > 2 ? 2 : $# )) || true
jobs=("$@")
[ ${#jobs[@]} -gt 0 ] || jobs=(2 8)
data="$root/target/bench-data"
src="$data/huge_trace.pickle"
mkdir -p "$data"
if [ ! -f "$src" ]; then
    xz -dc "$root/../shared/snapshots/huge_trace.pickle.xz" >"$src.tmp" && mv "$src.tmp" "$src"
fi
dir="$data/ranks-$n"
rm -rf "$dir"
mkdir -p "$dir"
for r in $(seq 0 $((n - 1))); do
    ln -s "$src" "$dir/snapshot_1000_$r.pickle"
done
echo "$n files of $(du -Lh "$src" | cut -f1) ($(basename "$src")), $(nproc) cores, $(git -C "$root" rev-parse --short HEAD)"
for j in "${jobs[@]}"; do
    /usr/bin/time -v "$bin" ranks --jobs "$j" "$dir" >/tmp/memsight-bench-ranks.txt 2>/tmp/memsight-bench-ranks.time
    rss_kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' /tmp/memsight-bench-ranks.time)
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' /tmp/memsight-bench-ranks.time)
    echo "jobs $j: peak RSS $((rss_kb / 1024)) MiB, wall $wall, $(head -1 /tmp/memsight-bench-ranks.txt)"
done
rm -rf "$dir"
