"""Loading models and applying a method: the spec's model (HF id or local folder) → tokenizer and
model, then the method's transform (PEFT-style: config object → model transform):

    qlora  4-bit NF4/FP4 base via bitsandbytes (double quant, compute dtype), k-bit preparation, LoRA
    lora   full-precision frozen base + LoRA adapters
    fft    every parameter trains
    none   the base as is (zero-shot baseline)

Offline (CODETUNE_OFFLINE / HF_HUB_OFFLINE): only local folders and the Hugging Face cache; a hub
id that is not cached gives a clear error naming the fix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.settings import Settings
from engine.spec import RunSpec

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

# ChatML, used when a tokenizer ships no chat template (tiny test models, some base models)
FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# For tokenizers without ChatML tokens: plain role headers, the assistant turn closed by EOS
PLAIN_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '### ' + message['role'] + ':\n' + message['content'] + '\n\n' }}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '### assistant:\n' }}{% endif %}"
)


class ModelNotAvailable(RuntimeError):
    """The model cannot be loaded (not a folder, not cached offline, ...), with the fix."""


@dataclass(frozen=True)
class ModelSource:
    """Where the weights come from: a local folder, or a hub id (cached or downloadable)."""

    location: str
    local: bool
    gguf_file: str | None = None


def pick_device(preference: str = "auto") -> str:
    """'cuda' when asked for (or auto and available), else 'cpu'; asking for cuda without it fails."""
    import torch

    if preference == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("resources.device is 'cuda' but no CUDA device is visible. "
                           "Fix: set resources.device to 'auto' or 'cpu', or run on a GPU machine")
    if preference in ("cuda", "auto") and torch.cuda.is_available():
        return "cuda"
    return "cpu"


def resolve_source(spec: RunSpec, settings: Settings) -> ModelSource:
    """A local folder (as given, or under the models directory), or a hub id usable right now."""
    model = spec.model
    for candidate in (Path(model.id).expanduser(), settings.models_dir / model.id):
        if candidate.is_dir():
            if not (candidate / "config.json").exists() and not model.gguf_file:
                raise ModelNotAvailable(
                    f"model folder {candidate} has no config.json. Fix: point model.id at a folder "
                    "saved with save_pretrained(), or set model.gguf_file for a GGUF file in it"
                )
            return ModelSource(str(candidate.resolve()), True, model.gguf_file)
    if model.id.startswith((".", "/", "~")):
        raise ModelNotAvailable(f"model folder {model.id} does not exist. Fix: check the path in model.id")
    if settings.offline:
        from huggingface_hub import try_to_load_from_cache

        probe = model.gguf_file or "config.json"
        cached = try_to_load_from_cache(model.id, probe, revision=model.revision)
        if not isinstance(cached, str):
            raise ModelNotAvailable(
                f"model '{model.id}' is not a local folder and is not in the Hugging Face cache, and "
                "this process is offline (CODETUNE_OFFLINE/HF_HUB_OFFLINE). Fix: on a machine with "
                f"network run `huggingface-cli download {model.id}` (or save_pretrained to a folder) "
                f"and set model.id to that folder, or put it under {settings.models_dir}"
            )
    return ModelSource(model.id, False, model.gguf_file)


def _common_kwargs(spec: RunSpec, source: ModelSource, settings: Settings) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"trust_remote_code": spec.model.trust_remote_code}
    if not source.local:
        kwargs["revision"] = spec.model.revision
        kwargs["local_files_only"] = settings.offline
    if source.gguf_file:
        kwargs["gguf_file"] = source.gguf_file
    return kwargs


def load_tokenizer(spec: RunSpec, settings: Settings, source: ModelSource | None = None) -> PreTrainedTokenizerBase:
    """The tokenizer, with a pad token and a chat template guaranteed."""
    from transformers import AutoTokenizer

    source = source or resolve_source(spec, settings)
    tokenizer = AutoTokenizer.from_pretrained(source.location, **_common_kwargs(spec, source, settings))
    ensure_chat_ready(tokenizer)
    return tokenizer


def ensure_chat_ready(tokenizer: PreTrainedTokenizerBase) -> None:
    """Give the tokenizer a pad token and a chat template when it has none."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if not getattr(tokenizer, "chat_template", None):
        vocab = tokenizer.get_vocab()
        has_chatml = "<|im_start|>" in vocab and "<|im_end|>" in vocab
        tokenizer.chat_template = FALLBACK_CHAT_TEMPLATE if has_chatml else PLAIN_CHAT_TEMPLATE


def stop_token_ids(tokenizer: PreTrainedTokenizerBase, model: Any = None) -> list[int]:
    """Token ids that end an assistant turn: EOS, <|im_end|>, and the model's own eos ids."""
    ids: list[int] = []
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    im_end = tokenizer.get_vocab().get("<|im_end|>")
    if im_end is not None:
        ids.append(int(im_end))
    config_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(config_eos, int):
        ids.append(config_eos)
    elif isinstance(config_eos, list):
        ids.extend(int(i) for i in config_eos)
    return sorted(set(ids))


def torch_dtype(name: str, device: str) -> torch.dtype:
    """'auto' → bf16 on a GPU that supports it (else fp16), fp32 on CPU."""
    import torch

    if name == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def load_base_model(spec: RunSpec, settings: Settings, device: str, source: ModelSource | None = None,
                    quantize: bool | None = None) -> PreTrainedModel:
    """The base causal LM on `device`; 4-bit quantised when the method is qlora."""
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    source = source or resolve_source(spec, settings)
    kwargs = _common_kwargs(spec, source, settings)
    quantize = spec.method == "qlora" if quantize is None else quantize
    if quantize:
        compute = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=spec.quant.quant_type,
            bnb_4bit_use_double_quant=spec.quant.double_quant,
            bnb_4bit_compute_dtype=compute[spec.quant.compute_dtype],
            bnb_4bit_quant_storage=torch.uint8,
        )
        on_gpu = device.startswith("cuda")
        index = int(device.split(":")[1]) if ":" in device else 0
        kwargs["device_map"] = {"": index} if on_gpu else {"": "cpu"}
        kwargs["dtype"] = compute[spec.quant.compute_dtype] if on_gpu else torch.float32
    else:
        kwargs["dtype"] = torch_dtype(spec.model.dtype, device)
    try:
        model = AutoModelForCausalLM.from_pretrained(source.location, **kwargs)
    except OSError as exc:
        raise ModelNotAvailable(f"could not load model '{spec.model.id}': {exc}. Fix: check model.id "
                                "(a local folder or a Hugging Face id) and the revision") from exc
    if not quantize:
        model.to(device)
    return model


def apply_method(model: PreTrainedModel, spec: RunSpec) -> PreTrainedModel:
    """The method's transform: LoRA adapters (qlora/lora), all trainable (fft), frozen (none)."""
    if spec.method in ("qlora", "lora"):
        from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

        if spec.method == "qlora":
            model = prepare_model_for_kbit_training(
                model,
                use_gradient_checkpointing=spec.train.gradient_checkpointing,
                gradient_checkpointing_kwargs={"use_reentrant": False},
            )
        present = {name.split(".")[-1] for name, _ in model.named_modules()}
        missing = [m for m in spec.lora.target_modules if m not in present]
        if missing:
            raise ValueError(
                f"lora.target_modules {missing} are not modules of this model. Fix: use some of "
                f"{sorted(n for n in present if n.endswith('proj') or 'linear' in n.lower())}"
            )
        config = LoraConfig(
            r=spec.lora.r,
            lora_alpha=spec.lora.alpha,
            lora_dropout=spec.lora.dropout,
            target_modules=list(spec.lora.target_modules),
            bias=spec.lora.bias,
            task_type="CAUSAL_LM",
        )
        # get_peft_model draws lora_A from torch's global generator: seed it from the spec, or the
        # same spec and seed would start from different adapters (the trainer seeds only later)
        import torch

        torch.manual_seed(spec.train.seed)
        return get_peft_model(model, config)
    if spec.method == "fft":
        for param in model.parameters():
            param.requires_grad_(True)
        return model
    for param in model.parameters():
        param.requires_grad_(False)
    return model


def count_parameters(model: Any) -> dict[str, int]:
    """Trainable and total parameters (4-bit weights counted at their logical size)."""
    trainable = total = 0
    for param in model.parameters():
        n = param.numel()
        if hasattr(param, "quant_state") or param.__class__.__name__ == "Params4bit":
            n *= 2  # two 4-bit values per stored byte
        total += n
        if param.requires_grad:
            trainable += n
    return {"trainable": trainable, "total": total}


def save_trained(model: Any, tokenizer: PreTrainedTokenizerBase, out_dir: Path, spec: RunSpec,
                 base_location: str) -> None:
    """Save the adapter (PEFT format) or the full model, plus the tokenizer and a manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    adapter_dtypes = {str(p.dtype).removeprefix("torch.") for n, p in model.named_parameters() if "lora_" in n}
    manifest = {"method": spec.method, "base_model": spec.model.id, "base_location": base_location,
                "adapter": spec.method in ("qlora", "lora"),
                # TRL trains QLoRA adapters in bf16 (the QLoRA paper's recipe); a reload must compute
                # in the same dtype to reproduce the trained model's logits exactly
                "adapter_dtype": adapter_dtypes.pop() if len(adapter_dtypes) == 1 else None}
    (out_dir / "codetune_model.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")


def load_for_generation(spec: RunSpec, settings: Settings, device: str, trained_dir: Path | None
                        ) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The model to generate with: the base (method none), base + saved adapter, or the saved
    full model. A QLoRA adapter is applied on the 4-bit base it was trained on."""
    source = resolve_source(spec, settings)
    if spec.method == "none" or trained_dir is None:
        tokenizer = load_tokenizer(spec, settings, source)
        model = load_base_model(spec, settings, device, source, quantize=False)
    elif spec.method == "fft":
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(trained_dir)
        ensure_chat_ready(tokenizer)
        model = AutoModelForCausalLM.from_pretrained(trained_dir, dtype=torch_dtype(spec.model.dtype, device))
        model.to(device)
    else:
        from peft import PeftModel
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(trained_dir)
        ensure_chat_ready(tokenizer)
        base = load_base_model(spec, settings, device, source, quantize=spec.method == "qlora")
        if spec.method == "qlora" and spec.eval.dequantize:
            base = base.dequantize()  # bitsandbytes has no fast 4-bit kernels on CPU
        model = PeftModel.from_pretrained(base, trained_dir)
        manifest = json.loads((trained_dir / "codetune_model.json").read_text(encoding="utf-8")) \
            if (trained_dir / "codetune_model.json").exists() else {}
        if manifest.get("adapter_dtype"):
            import torch

            dtype = getattr(torch, manifest["adapter_dtype"])
            for name, param in model.named_parameters():
                if "lora_" in name:
                    param.data = param.data.to(dtype)
    model.eval()
    return model, tokenizer
