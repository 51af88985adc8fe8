#!/bin/bash
# The demo study's wall time, this tree against an older commit, one after the other on this machine.
#   bench/bench_demo.sh [OLD_COMMIT]      (default: HEAD~1; needs the demo model: make model)
# Each side gets a fresh workspace under $TMPDIR (the demo model linked in), submits `codetune study
# demo` and runs one worker until the queue is empty. Keep the machine otherwise idle: torch's two
# threads slow down 10–20x when another process takes a core.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
old=${1:-HEAD~1}
tmp=$(mktemp -d)
git -C "$root" worktree add -q --detach "$tmp/old" "$old"
trap 'git -C "$root" worktree remove --force "$tmp/old"; rm -rf "$tmp"' EXIT
model=${CODETUNE_DEMO_MODEL:-$root/workspace/models/SmolLM2-135M-Instruct}
for side in new old; do
  if [ "$side" = new ]; then code=$root; else code=$tmp/old; fi
  home=$tmp/home-$side; mkdir -p "$home/models"; ln -s "$model" "$home/models/SmolLM2-135M-Instruct"
  start=$(date +%s.%N)
  (cd "$code" && env CODETUNE_HOME="$home" CODETUNE_OFFLINE=1 HF_HUB_OFFLINE=1 CODETUNE_HUB_CHECK=0 \
     CODETUNE_DATA_DIR="${CODETUNE_DATA_DIR:-$root/../shared/data}" PYTHONPATH="$code" \
     sh -c "'$root/.venv/bin/python' -m ui.cli study demo >/dev/null && '$root/.venv/bin/python' -m ui.cli worker --once >/dev/null")
  end=$(date +%s.%N)
  printf '%s (%s): %.0f s\n' "$side" "$(git -C "$code" rev-parse --short HEAD)" "$(echo "$end - $start" | bc)"
done
