#!/usr/bin/env bash
# The one prepared command for the GPU machine (device tool). Prints ONE JSON object on stdout (also
# left in $OUT/gpu_report.json; progress and logs in $OUT/gpu_report.log): the reference recipe vs
# our training path for QLoRA, LoRA and full fine-tuning at the Qwen2.5-Coder 0.5B and 1.5B shapes
# (tokens/s, MFU, peak memory, losses), then generation tokens/s batched vs batch 1
# (bench/gpu_smoke.py --report, which keeps to a time budget: under 8 minutes in all).
#
# The machine has no internet and lacks bitsandbytes, trl, datasets and pydantic, and its transformers
# (5.17) is not our pin: download the wheels here first (bench/gpu_wheels.txt lists them; 31 MiB):
#   bash bench/gpu_wheels.sh
# then: run(command="bash bench/gpu_device.sh", carry=[".whl"], timeout_s=540). A package that still
# fails to import there ends the run at once with {"error": ..., "missing": {...}, "versions": {...}}.
#
# CODETUNE_GPU_DRY=1 runs the same script on a CPU with the tiny model, LoRA only, in seconds
# (tests/engine/test_gpu.py); PYTHON picks the interpreter (default python3), BUDGET the seconds.
set -uo pipefail
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
DRY="${CODETUNE_GPU_DRY:-0}"
LOG="$OUT/gpu_report.log"
: > "$LOG"
if [ "$DRY" != 1 ] && ls .whl/*.whl >/dev/null 2>&1; then  # (the wheels are for the GPU machine's Python 3.12)
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    >>"$LOG" 2>&1 && export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}" \
    || { echo '{"error": "installing the carried wheels failed"}'; exit 1; }
else
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 CODETUNE_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export CODETUNE_HOME="${CODETUNE_HOME:-/tmp/codetune}"
args=(--report --budget "${BUDGET:-400}")
if [ "$DRY" = 1 ]; then
  args+=(--dry)
else
  nvidia-smi --query-gpu=name,memory.total --format=csv >>"$LOG" 2>&1
fi
# Every package the report imports, each on its own: one that is missing ends the run here, in
# seconds of device time, naming what to carry.
preflight=$("$PY" - <<'PY' 2>>"$LOG"
import importlib, json
found, missing = {}, {}
for name in ("torch", "transformers", "peft", "trl", "datasets", "accelerate", "bitsandbytes", "pydantic", "yaml"):
    try:
        found[name] = getattr(importlib.import_module(name), "__version__", "?")
    except Exception as error:  # any failure to import is reported, not only ImportError
        missing[name] = f"{type(error).__name__}: {error}"[:300]
print(json.dumps({"versions": found, "missing": missing}))
PY
)
echo "preflight $preflight" >>"$LOG"
if ! printf '%s' "$preflight" | "$PY" -c 'import json, sys; sys.exit(1 if json.load(sys.stdin)["missing"] else 0)'; then
  report=$("$PY" -c 'import json, sys; p = json.loads(sys.argv[1]); print(json.dumps({"error": "packages missing or '\
'broken on this machine: carry their wheels (bash bench/gpu_wheels.sh, then carry .whl)", **p}))' "$preflight")
  printf '%s\n' "$report" | tee "$OUT/gpu_report.json"
  exit 1
fi
report=$(timeout 450 "$PY" bench/gpu_smoke.py "${args[@]}" 2>>"$LOG" | tail -n 1)
rc=$?
if [ -z "$report" ]; then
  report=$("$PY" -c 'import json, sys; print(json.dumps({"error": "the report did not finish", "rc": int(sys.argv[1]),
"log_tail": open(sys.argv[2], errors="replace").read()[-4000:]}))' "$rc" "$LOG")
fi
printf '%s\n' "$report" | tee "$OUT/gpu_report.json"
