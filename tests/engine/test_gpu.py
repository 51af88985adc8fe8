"""GPU smoke test (marked `gpu`, skipped without CUDA): QLoRA, LoRA and full fine-tuning of a
random-initialised Qwen2.5-Coder-0.5B-shaped model for a few steps, then generation. The same
script runs on a CPU with a tiny model in the default suite, and so does bench/gpu_device.sh (the
one prepared command for the GPU machine) in its CPU dry mode, so neither can rot unnoticed."""

from __future__ import annotations

import importlib.util
import json
import math
import os
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


def test_the_device_script_prints_one_json_report_in_its_cpu_dry_mode(tmp_path):
    """bench/gpu_device.sh as the GPU machine runs it, on a CPU: one JSON object on stdout with the
    reference recipe and our path side by side, and generation batched vs batch 1."""
    env = {**os.environ, "CODETUNE_GPU_DRY": "1", "PYTHON": sys.executable, "OUT": str(tmp_path / "out"),
           "CODETUNE_HOME": str(tmp_path / "home"), "BUDGET": "300"}
    done = subprocess.run(["bash", str(ROOT / "bench" / "gpu_device.sh")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout[-2000:]
    report = json.loads(lines[0])
    assert report == json.loads((tmp_path / "out" / "gpu_report.json").read_text())
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
