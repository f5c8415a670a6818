#!/usr/bin/env bash
# Fuzzes the reader for N seconds (default 60), seeded with the real samples, the synthetic
# fixtures and the small public snapshots.
#
#   scripts/fuzz_seed.sh [SECONDS]
#
# With cargo-fuzz (nightly) it runs `cargo fuzz run load`. With a nightly toolchain but no
# cargo-fuzz it builds the same libFuzzer target with the flags cargo-fuzz would use. With
# stable only it builds fuzz/ without libFuzzer: a driver that replays the corpus and mutates
# it for the same time. Crashes land in fuzz/artifacts/load/; the exit status is 1 if any.
set -euo pipefail
secs="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
corpus="$root/fuzz/corpus/load"
mkdir -p "$corpus" "$root/fuzz/artifacts/load"
for f in "$root"/sample_snapshots/*.pickle "$root"/tests/data/fixtures/*.pickle* \
         "$root"/tests/data/public/*.pickle; do
    [ -f "$f" ] || continue
    # Inputs over 256 KB slow libFuzzer down without adding shapes the small ones lack.
    [ "$(stat -c %s "$f")" -le 262144 ] || continue
    cp -f "$f" "$corpus/seed-$(basename "$f")"
done
cd "$root/fuzz"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/fuzz/target}"
if [ "${FUZZ_STABLE:-0}" != 1 ] && cargo +nightly fuzz --version >/dev/null 2>&1; then
    exec cargo +nightly fuzz run load "$corpus" -- -max_total_time="$secs" -max_len=131072 \
        -rss_limit_mb=4096 -timeout=20
elif cargo +nightly --version >/dev/null 2>&1 && [ "${FUZZ_STABLE:-0}" != 1 ]; then
    # What cargo-fuzz does: sanitizer coverage for libFuzzer, address sanitizer, --cfg fuzzing.
    export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Zsanitizer=address \
-Cdebug-assertions -Coverflow-checks"
    triple="$(rustc +nightly -vV | sed -n 's/^host: //p')"
    cargo +nightly build --release --bin load --target "$triple"
    exec "$CARGO_TARGET_DIR/$triple/release/load" "$corpus" -max_total_time="$secs" \
        -max_len=131072 -rss_limit_mb=4096 -timeout=20 \
        -artifact_prefix="$root/fuzz/artifacts/load/"
else
    cargo build --release --no-default-features --bin load
    exec "$CARGO_TARGET_DIR/release/load" --seconds "$secs" "$corpus"
fi
