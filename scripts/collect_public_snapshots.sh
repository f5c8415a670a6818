#!/usr/bin/env bash
# Re-fetches the public snapshots listed in tests/data/public/SOURCES.tsv from GitHub (the exact
# commit and path each came from), checks each against its recorded git blob id, and stores it
# in tests/data/public/ (xz-compressed where the stored name ends in .xz, to stay small).
# Then regenerates expected.json with CPython:
#
#   scripts/collect_public_snapshots.sh            # all files
#   scripts/collect_public_snapshots.sh --check    # only verify the committed copies
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/tests/data/public"
check_only=0
[ "${1:-}" = "--check" ] && check_only=1
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail=0
while IFS=$'\t' read -r stored repo commit path blob bytes; do
    case "$stored" in ''|'#'*) continue ;; esac
    raw="$tmp/raw"
    if [ "$check_only" = 1 ]; then
        case "$stored" in
            *.xz) xz -dc "$dir/$stored" > "$raw" ;;
            *) cp "$dir/$stored" "$raw" ;;
        esac
    else
        url="https://raw.githubusercontent.com/$repo/$commit/$path"
        if ! curl -fsSL --retry 3 -o "$raw" "$url"; then
            echo "FAIL $stored: cannot download $url" >&2
            fail=1
            continue
        fi
    fi
    got="$(git hash-object "$raw")"
    if [ "$got" != "$blob" ]; then
        echo "FAIL $stored: blob $got, expected $blob" >&2
        fail=1
        continue
    fi
    if [ "$check_only" = 0 ]; then
        case "$stored" in
            *.xz) xz -9e -c "$raw" > "$dir/$stored" ;;
            *) cp "$raw" "$dir/$stored" ;;
        esac
    fi
    echo "ok   $stored ($bytes bytes, $repo@${commit:0:10}:$path)"
done < "$dir/SOURCES.tsv"
[ "$check_only" = 1 ] || python3 "$dir/make_expected.py"
exit "$fail"
