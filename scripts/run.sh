#!/usr/bin/env bash
# Starts a worker and the dashboard on 127.0.0.1 (port: first argument, default 8501), prints the
# URL, and stops both on Ctrl-C. The venv, system tools, data directory and demo model are set
# up by `make run` before this runs.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${1:-8501}"
ADDRESS="${CODETUNE_ADDRESS:-127.0.0.1}"
VENV=.venv
export CODETUNE_HOME="${CODETUNE_HOME:-$PWD/workspace}"
export CODETUNE_DATA_DIR="${CODETUNE_DATA_DIR:-$(cd .. && pwd)/shared/data}"
mkdir -p "$CODETUNE_HOME"
# the command line finds this workspace from anywhere in the checkout (engine/settings.py)
if [ ! -e .codetune.toml ]; then
  printf '# written by make run: the workspace and data the app uses, for `codetune` in this checkout\nhome = "%s"\ndata_dir = "%s"\n' \
    "$CODETUNE_HOME" "$CODETUNE_DATA_DIR" > .codetune.toml
fi

"$VENV/bin/codetune" worker >>"$CODETUNE_HOME/worker.log" 2>&1 &
WORKER=$!
"$VENV/bin/streamlit" run app.py --server.address "$ADDRESS" --server.port "$PORT" \
  --server.headless true --browser.gatherUsageStats false >>"$CODETUNE_HOME/app.log" 2>&1 &
APP=$!
trap 'kill $APP $WORKER 2>/dev/null; wait 2>/dev/null; echo "stopped"' INT TERM EXIT

for _ in $(seq 1 60); do
  if "$VENV/bin/python" -c "import urllib.request,sys; urllib.request.urlopen('http://$ADDRESS:$PORT/_stcore/health', timeout=1)" 2>/dev/null; then
    break
  fi
  kill -0 $APP 2>/dev/null || { echo "the app failed to start; see $CODETUNE_HOME/app.log"; exit 1; }
  sleep 0.5
done
echo "CodeTune Studio is running: http://$ADDRESS:$PORT"
echo "  workspace: $CODETUNE_HOME   data: $CODETUNE_DATA_DIR"
echo "  logs: $CODETUNE_HOME/app.log, $CODETUNE_HOME/worker.log   (Ctrl-C stops both)"
wait $APP
