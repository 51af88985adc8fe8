#!/usr/bin/env bash
# Download the wheels bench/gpu_device.sh needs on the GPU machine (bench/gpu_wheels.txt) into .whl/
# (git-ignored): Python 3.12, x86-64 manylinux, no dependencies resolved (the list names them all).
# Then: run(command="bash bench/gpu_device.sh", carry=[".whl"], timeout_s=540).
# The device tool carries at most 64 MiB, working tree and wheels together; this refuses more than 62.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.whl"
mkdir -p "$dest"
mapfile -t pins < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$root/bench/gpu_wheels.txt" | grep -v '^$')
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$dest" "${pins[@]}"
# bitsandbytes ships a native library per CUDA/ROCm/XPU version (43 MB compressed): keep CUDA 12.8
# and 13.x, what a current torch on the H200 uses (bitsandbytes picks the nearest same-major one).
python3 - "$dest"/bitsandbytes-*.whl <<'PY'
import re, sys, zipfile
path = sys.argv[1]
drop = re.compile(r"bitsandbytes/libbitsandbytes_(cuda(11\d|12[0-7])|rocm\d+|xpu\d+)\.so$")
with zipfile.ZipFile(path) as src:
    items = [(i, src.read(i)) for i in src.infolist() if not drop.search(i.filename)]
with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
    for info, data in items:
        if info.filename.endswith(".dist-info/RECORD"):  # list only the files kept
            data = b"".join(line for line in data.splitlines(keepends=True) if not drop.search(line.split(b",")[0].decode()))
        out.writestr(info, data)
PY
count=$(ls "$dest"/*.whl | wc -l)
wheels=$(du -cb "$dest"/*.whl | tail -1 | cut -f1)
tree=$(cd "$root" && { git ls-files -z; git ls-files -z --others --exclude-standard; } | du -cb --files0-from=- | tail -1 | cut -f1)
echo "$count wheels in $dest: $((wheels / 1048576)) MiB; with the working tree $(((wheels + tree) / 1048576)) MiB"
if [ "$count" -ne "${#pins[@]}" ]; then
  echo "expected ${#pins[@]} wheels (one per line of bench/gpu_wheels.txt): remove stale ones from $dest" >&2
  exit 1
fi
if [ $((wheels + tree)) -gt $((62 * 1048576)) ]; then
  echo "too large: the device tool carries 64 MiB, working tree and wheels together" >&2
  exit 1
fi
