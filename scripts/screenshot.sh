#!/usr/bin/env bash
# Screenshots of the app's main views under Xvfb, into assets/screenshot-*.png.
# Needs: xvfb, xdotool, imagemagick (import). Usage: scripts/screenshot.sh [path/to/memsight]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-${CARGO_TARGET_DIR:-target}/release/memsight}
DISPLAY_NUM=${DISPLAY_NUM:-:77}
W=1500 H=920
# The app sizes its window to 88% of the screen (src/ui/window.rs): a screen of this size gives
# a W x H window at the top left, where the coordinates below click; shots are cropped to it.
SW=1705 SH=1046
mkdir -p assets

Xvfb "$DISPLAY_NUM" -screen 0 ${SW}x${SH}x24 >/dev/null 2>&1 &
XVFB=$!
export DISPLAY=$DISPLAY_NUM
APP=
cleanup() { [ -n "$APP" ] && kill "$APP" 2>/dev/null; kill "$XVFB" 2>/dev/null; }
trap cleanup EXIT
sleep 2

start() {
  # The stored settings (theme, recent files) must not leak into the pictures.
  XDG_DATA_HOME=$(mktemp -d) "$BIN" "$@" >/dev/null 2>&1 &
  APP=$!
  sleep "${LOAD_WAIT:-6}"
  xdotool search --name memsight | head -1 | xargs -r xdotool windowfocus
  xdotool mousemove $((W - 10)) $((H - 10))
}
stop() { kill "$APP"; wait "$APP" 2>/dev/null || true; APP=; }
shot() {
  sleep 1
  import -window root -crop "${W}x${H}+0+0" +repage "assets/screenshot-$1.png"
  echo "assets/screenshot-$1.png"
}

start sample_snapshots/train_val_leak.pickle
shot diagnosis
xdotool key 5                              # Leaks
sleep 1
xdotool mousemove 96 212 sleep 0.4 click 1 sleep 0.4           # the first leak suspect row
xdotool mousemove $((W - 10)) $((H - 10))
shot leaks
xdotool key 2                              # Memory timeline, the leak highlighted
xdotool mousemove 700 450                  # hover: a tooltip
shot timeline
stop

start sample_snapshots/gpt_train_amp.pickle
xdotool key 2                              # Memory timeline
sleep 1
xdotool mousemove 182 121 sleep 0.4 click 1 sleep 0.4          # bands by allocation
xdotool mousemove 55 12 sleep 0.4 click 1 sleep 0.4            # View menu
sleep 1
xdotool mousemove 100 301 sleep 0.4 click 1 sleep 0.4          # Light theme
xdotool key Escape
xdotool mousemove 600 500
for _ in 1 2 3 4 5; do xdotool key w; sleep 0.3; done   # zoom in around the pointer
shot allocations-light
stop

start sample_snapshots/gpt_train_amp.pickle
xdotool key 3                              # Call tree at the allocated peak
sleep 2
xdotool mousemove 400 200                  # hover a frame
shot calltree
stop

start sample_snapshots/gpt_train_amp.pickle
xdotool mousemove 269 62 sleep 0.4 click 1 sleep 2         # Call tree (a click: keys can miss)
xdotool mousemove 429 122 sleep 0.4 click 1 sleep 2        # Group by: annotation
xdotool mousemove 1018 210 sleep 0.4 click 1 sleep 1       # pick Optimizer.step#AdamW.step
xdotool mousemove 161 62 sleep 0.4 click 1 sleep 2         # Memory timeline, by the same groups
xdotool mousemove $((W - 10)) $((H - 10))
shot groups
stop

start sample_snapshots/frag_oom.pickle
xdotool key 2                              # Memory timeline
sleep 1
xdotool mousemove 948 122 sleep 0.4 click 1 sleep 0.4          # Axis: wall clock
xdotool mousemove 1121 500                 # the burst after the 4 s pause
for _ in 1 2 3 4 5 6 7 8 9 10 11; do xdotool key w; sleep 0.5; done   # zoom into it
xdotool mousemove $((W - 10)) $((H - 10))
shot wallclock
stop

start sample_snapshots/frag_oom.pickle
xdotool key 4                              # Segments
sleep 1
xdotool mousemove 1018 122 sleep 0.4 click 1 sleep 0.4         # Next OOM
xdotool mousemove 500 215                  # hover a block of the fragmented segment
shot segments
stop

start sample_snapshots/frag_oom.pickle
xdotool key 6                              # What if: expandable segments simulated on opening
sleep 1
xdotool mousemove 272 190 sleep 0.4 click 1 sleep 0.4          # preset: max split 256 MiB
xdotool mousemove 236 283 sleep 0.4 click 1 sleep 0.4          # Simulate
sleep 2
xdotool mousemove 600 560                  # hover the chart: every scenario at that event
shot whatif
stop

start sample_snapshots/frag_oom.pickle
xdotool key 4                              # Segments
sleep 1
xdotool mousemove 1018 122 sleep 0.4 click 1 sleep 0.4         # Next OOM
xdotool key 8                              # Events: the OOM's row under the cursor
sleep 1
shot events
stop

# A job's ranks side by side: a folder with the two ranks of the DDP job.
job=$(mktemp -d)
ln -s "$PWD/../shared/snapshots/ddp_rank0.pickle" "$PWD/../shared/snapshots/ddp_rank1.pickle" "$job/"
start "$job"
shot ranks
stop

start sample_snapshots/train_val_leak.pickle
xdotool key 9                              # Diff: the first iteration against the last
sleep 1
# The leaking line, its stack in the panel (a slower click: the app only repaints on input).
xdotool mousemove 96 387 sleep 0.6 mousedown 1 sleep 0.15 mouseup 1 sleep 0.6
xdotool mousemove $((W - 10)) $((H - 10))
shot diff
stop
