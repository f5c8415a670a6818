#!/usr/bin/env bash
# Writes what memsight prints for every sample, shared snapshot, public snapshot and fixture
# (analyze text and JSON, the Markdown and JSON reports, check) into OUTDIR, one file each.
# Run it with the binary before and after a change and `diff -r` the folders: a refactor must
# leave them byte-identical, a behaviour change shows exactly what it changed.
#
#   scripts/outputs.sh target/release/memsight /tmp/after
set -uo pipefail
bin="$1"
out="$2"
root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$out"
for f in "$root"/sample_snapshots/*.pickle "$root"/../shared/snapshots/*.pickle \
         "$root"/tests/data/public/*.pickle* "$root"/tests/data/fixtures/*.pickle* \
         "$root"/tests/data/*.pickle "$root"/tests/data/recorded/*.pickle*; do
    [ -f "$f" ] || continue
    n="$(basename "$(dirname "$f")")__$(basename "$f")"
    "$bin" analyze "$f" >"$out/$n.analyze.txt" 2>&1
    "$bin" analyze --json "$f" >"$out/$n.analyze.json" 2>&1
    "$bin" report --format md "$f" >"$out/$n.report.md" 2>&1
    "$bin" report --format json "$f" >"$out/$n.report.json" 2>&1
    "$bin" check --no-leaks --no-oom --max-fragmentation 30% "$f" >"$out/$n.check.txt" 2>&1
    echo "exit $?" >>"$out/$n.check.txt"
done
