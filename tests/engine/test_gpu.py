"""GPU smoke test (marked `gpu`, skipped without CUDA): QLoRA, LoRA and full fine-tuning of a
random-initialised Qwen2.5-Coder-0.5B-shaped model for a few steps, then generation. The same
script runs on a CPU with a tiny model in the default suite, so it cannot rot unnoticed."""

from __future__ import annotations

import importlib.util
import math
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
    report = _script().run("tiny", steps=3, device="cpu", methods=["qlora", "lora", "fft"], batch=2, accum=1,
                           max_length=256, gen_prompts=4, gen_batch=4, max_new=8)
    _check(report, ["qlora", "lora", "fft"])


@pytest.mark.gpu
def test_gpu_smoke_qwen_05b_shape():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    report = _script().run("qwen2.5-coder-0.5b", steps=4, device="cuda", methods=["qlora", "lora", "fft"],
                           batch=2, accum=4, max_length=512, gen_prompts=16, gen_batch=16, max_new=32)
    _check(report, ["qlora", "lora", "fft"], adapter_share=0.02)  # all-projection LoRA r=8: ~1% of 0.5B
