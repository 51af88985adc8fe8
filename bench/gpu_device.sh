#!/usr/bin/env bash
# The one prepared command for the GPU machine (device tool). Prints ONE JSON object on stdout (also
# left in $OUT/gpu_report.json; progress and logs in $OUT/gpu_report.log): the reference recipe vs
# our training path for QLoRA, LoRA and full fine-tuning at the Qwen2.5-Coder 0.5B and 1.5B shapes
# (tokens/s, MFU, peak memory, losses), then generation tokens/s batched vs batch 1
# (bench/gpu_smoke.py --report, which keeps to a time budget: under 8 minutes in all).
#
# The machine has no internet and no bitsandbytes or trl, and its transformers (5.17) is not our pin:
# prepare the wheels here first (see docs/ARCHITECTURE.md, "Running the GPU checks"):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
#     --platform manylinux2014_x86_64 -d .whl bitsandbytes==0.50.2 trl==1.16.0 transformers==5.24.0
# then: run(command="bash bench/gpu_device.sh", carry=[".whl"], timeout_s=540)
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
if ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    >>"$LOG" 2>&1 && export PYTHONPATH="/tmp/site:$PWD" || { echo '{"error": "installing the carried wheels failed"}'; exit 1; }
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
"$PY" -c "import torch, transformers, peft, trl; print('versions', torch.__version__, transformers.__version__, \
peft.__version__, trl.__version__)" >>"$LOG" 2>&1
report=$(timeout 450 "$PY" bench/gpu_smoke.py "${args[@]}" 2>>"$LOG" | tail -n 1)
rc=$?
if [ -z "$report" ]; then
  report=$("$PY" -c 'import json, sys; print(json.dumps({"error": "the report did not finish", "rc": int(sys.argv[1]),
"log_tail": open(sys.argv[2], errors="replace").read()[-4000:]}))' "$rc" "$LOG")
fi
printf '%s\n' "$report" | tee "$OUT/gpu_report.json"
