#!/usr/bin/env bash
# The one prepared command for the GPU machine (device tool): installs the carried wheels, runs the
# GPU smoke test and the throughput script for the Qwen2.5-Coder-0.5B and 1.5B shapes, and leaves
# the results in $OUT. Prepare the wheels here first (see docs/ARCHITECTURE.md, "GPU checks"):
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
#     --platform manylinux2014_x86_64 -d .whl bitsandbytes==0.50.2 trl==1.16.0
# then: run(command="bash bench/gpu_device.sh", carry=[".whl"], timeout_s=540)
set -uo pipefail
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:$PWD || exit 1
else
  export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 CODETUNE_OFFLINE=1 CODETUNE_HOME=/tmp/codetune
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, transformers, peft, trl, bitsandbytes; print(torch.__version__, transformers.__version__, peft.__version__, trl.__version__, bitsandbytes.__version__)" | tee -a "$OUT/gpu.txt"
timeout 200 python3 -m pytest -q -m gpu tests/engine/test_gpu.py 2>&1 | tail -5 | tee "$OUT/pytest_gpu.txt"
for shape in qwen2.5-coder-0.5b qwen2.5-coder-1.5b; do
  timeout 150 python3 bench/gpu_smoke.py --shape "$shape" --steps 6 --out "$OUT/gpu_smoke_$shape.json" 2>&1 | tail -20
done
