"""GPU smoke test (marked `gpu`, skipped without CUDA): QLoRA, LoRA and full fine-tuning of a
random-initialised Qwen2.5-Coder-0.5B-shaped model for a few steps, then generation. The same
script runs on a CPU with a tiny model in the default suite, and so does bench/gpu_device.sh (the
one prepared command for the GPU machine) in its CPU dry mode, so neither can rot unnoticed."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("gpu_smoke", ROOT / "bench" / "gpu_smoke.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_smoke"] = module
    spec.loader.exec_module(module)
    return module


def _check(report, methods, adapter_share=0.5):
    assert set(report["methods"]) == set(methods)
    for method, result in report["methods"].items():
        assert result["steps"] > 0 and result["tokens_per_s"] > 0, method
        assert math.isfinite(result["last_loss"]), method
        assert result["gen_prompts"] > 0 and result["gen_tokens_per_s"] > 0
        if method in ("qlora", "lora"):
            assert 0 < result["trainable_params"] < adapter_share * result["total_params"]
        else:
            assert result["trainable_params"] == result["total_params"]


def test_smoke_script_on_cpu_with_a_tiny_model():
    """The smoke script's three methods train and generate on a CPU."""
    report = _script().run("tiny", steps=3, device="cpu", methods=["qlora", "lora", "fft"], batch=2, accum=1,
                           max_length=256, gen_prompts=4, gen_batch=4, max_new=8)
    _check(report, ["qlora", "lora", "fft"])


# Run in every Python process of the dry run (as sitecustomize): the distributions of the modules it
# imported, written at exit. Distributions, not modules: they are what the wheels carry.
IMPORT_RECORDER = """
import atexit, os, sys, importlib.metadata as metadata
def _record():
    owners = metadata.packages_distributions()
    names = {d for m in list(sys.modules) for d in owners.get(m.split(".")[0], [])}
    with open(os.environ["CODETUNE_IMPORTS_FILE"], "a", encoding="utf-8") as out:
        out.write("\\n".join(sorted(names)) + "\\n")
atexit.register(_record)
"""


def _names(path):
    lines = (line.split("#")[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return {_normal(line.split("==")[0]) for line in lines if line}


def _normal(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(start, stop=frozenset()):
    """`start` and what it requires, transitively, not expanding past the distributions in `stop`."""
    seen, todo = set(), list(start)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            if name not in stop:
                todo.extend(_requirements(name))
    return seen


def _requirements(distribution):
    """The distributions `distribution` (as installed here) requires, extras left out."""
    from importlib import metadata

    try:
        listed = metadata.requires(distribution) or []
    except metadata.PackageNotFoundError:
        return set()
    return {_normal(re.split(r"[\s;<>=!~\[(]", r, maxsplit=1)[0]) for r in listed if "extra ==" not in r}


@pytest.fixture(scope="module", name="dry_run")
def _dry_run(tmp_path_factory):
    """bench/gpu_device.sh in its CPU dry mode, recording what its processes imported."""
    tmp = tmp_path_factory.mktemp("gpu-dry")
    (tmp / "hook").mkdir()
    (tmp / "hook" / "sitecustomize.py").write_text(IMPORT_RECORDER, encoding="utf-8")
    env = {**os.environ, "CODETUNE_GPU_DRY": "1", "PYTHON": sys.executable, "OUT": str(tmp / "out"),
           "CODETUNE_HOME": str(tmp / "home"), "BUDGET": "300", "CODETUNE_IMPORTS_FILE": str(tmp / "imports.txt"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp / "hook"), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(["bash", str(ROOT / "bench" / "gpu_device.sh")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    recorded = tmp / "imports.txt"
    names = recorded.read_text(encoding="utf-8").split() if recorded.exists() else []
    return done, tmp / "out", {_normal(name) for name in names}


def test_the_device_script_prints_one_json_report_in_its_cpu_dry_mode(dry_run):
    """bench/gpu_device.sh as the GPU machine runs it, on a CPU: one JSON object on stdout with the
    reference recipe and our path side by side, and generation batched vs batch 1."""
    done, out, _ = dry_run
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout[-2000:]
    report = json.loads(lines[0])
    assert report == json.loads((out / "gpu_report.json").read_text())
    assert report["dry"] is True and report["device"] == "cpu"
    (lora,) = report["training"]
    assert set(lora["paths"]) == {"reference", "fast"}, lora
    for speed, result in lora["paths"].items():
        assert "error" not in result, result.get("error")
        assert result["speed"] == speed and result["tokens_per_s"] > 0 and result["peak_mem_mb"] > 0
        assert result["mfu"] is None  # MFU only against a GPU's peak
    assert lora["ratios"]["same_tokens"] and lora["ratios"]["max_loss_difference"] < 1e-3
    generation = report["generation"]
    assert generation["batched"]["new_tokens"] > 0 and generation["batch_1"]["tokens_per_s"] > 0
    assert generation["ratio"] > 0


def test_what_the_device_script_imports_is_on_the_gpu_machine_or_carried(dry_run):
    """Every distribution the dry run imported is in the GPU machine's image (bench/gpu_image.txt) or
    among the wheels carried there (bench/gpu_wheels.txt): a new dependency of the training path
    fails here, not in a GPU session's few minutes."""
    done, _, imported = dry_run
    assert done.returncode == 0, done.stderr[-2000:]
    assert {"torch", "transformers", "trl", "datasets", "pydantic"} <= imported  # the recorder worked
    image, wheels = _names(ROOT / "bench" / "gpu_image.txt"), _names(ROOT / "bench" / "gpu_wheels.txt")
    missing = imported - image - wheels - {"codetune-studio"}
    # a dependency only of packages the image has is that version's business, not ours (this venv's
    # huggingface_hub 2.x imports httpx2; the image's 1.33 uses httpx, which it holds)
    ours, theirs = _closure(wheels | {"codetune-studio"}, stop=image), _closure(image)
    missing = {d for d in missing if d in ours or d not in theirs}
    assert not missing, f"add to bench/gpu_wheels.txt (the GPU machine lacks them): {sorted(missing)}"


def test_mfu_counts_four_n_for_adapters_and_six_n_for_full_fine_tuning():
    """The bench's MFU and ratios; QLoRA is refused on a CPU with the reason."""
    spec = importlib.util.spec_from_file_location("bench_train", ROOT / "bench" / "bench_train.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    reference = {"tokens_per_s": 100.0, "peak_mem_mb": 200.0, "losses": [2.0, 1.5], "tokens": 10}
    fast = {"tokens_per_s": 250.0, "peak_mem_mb": 150.0, "losses": [2.0, 1.4], "tokens": 10}
    ratios = bench.compare(reference, fast)
    assert ratios["tokens_per_s_ratio"] == pytest.approx(2.5) and ratios["peak_mem_ratio"] == pytest.approx(0.75)
    assert ratios["max_loss_difference"] == pytest.approx(0.1) and ratios["same_tokens"]
    assert bench.compare({"error": "x"}, fast) == {}
    assert bench.mfu(1000.0, "lora", 10**9, "cuda") == pytest.approx(4e12 / 989e12)
    assert bench.mfu(1000.0, "qlora", 10**9, "cuda") == pytest.approx(4e12 / 989e12)
    assert bench.mfu(1000.0, "fft", 10**9, "cuda") == pytest.approx(6e12 / 989e12)
    assert bench.mfu(1000.0, "fft", 10**9, "cpu") is None
    skipped = bench.bench("tiny", "qlora", 1, 2, 1, "cpu")
    assert "GPU only" in skipped["skipped"]


@pytest.mark.gpu
def test_gpu_smoke_qwen_05b_shape():
    """The 0.5B shape trains with each method and generates on a GPU."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    report = _script().run("qwen2.5-coder-0.5b", steps=4, device="cuda", methods=["qlora", "lora", "fft"],
                           batch=2, accum=4, max_length=512, gen_prompts=16, gen_batch=16, max_new=32)
    _check(report, ["qlora", "lora", "fft"], adapter_share=0.02)  # all-projection LoRA r=8: ~1% of 0.5B
