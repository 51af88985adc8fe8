"""Optional vLLM backend for engine.models.generate (`DecodeSettings(backend="vllm")`).

Only where `vllm` is importable (a CUDA machine with it installed; not our pinned environment, so
the tests skip it). vLLM loads the model from its folder, so this serves a model without unmerged
adapters (method none, or a saved full fine-tune); Hugging Face stays the default backend. Greedy
decoding gives the same tokens as generate() up to the kernels' numerics; sampling is seeded per
(request, sample) like the token loop, but vLLM's sampler draws differently, so sampled completions
differ from the other backends' (each repeatable).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.models.decode import sample_seed


def available() -> bool:
    """Whether vLLM can be imported here."""
    try:
        import vllm  # noqa: F401  # pylint: disable=import-outside-toplevel,unused-import,import-error
    except ImportError:
        return False
    return True


def _model_dir(model: Any) -> str:
    if hasattr(model, "peft_config"):
        raise ValueError("the vLLM backend serves a model folder: merge the adapter first, or use backend 'auto'")
    path = getattr(model, "name_or_path", "") or getattr(model.config, "_name_or_path", "")
    if not path:
        raise ValueError("the vLLM backend needs a model loaded from a folder")
    return str(path)


def batch_decoder(model: Any, settings: Any) -> Callable[..., list[tuple[list[int], str]]]:
    """A batch decoder with engine.models.generate's signature, backed by one vLLM engine."""
    if not available():
        raise ValueError("backend 'vllm' needs the vllm package (pip install vllm on a CUDA machine)")
    from vllm import LLM, SamplingParams  # pylint: disable=import-error,import-outside-toplevel

    dtype = str(next(iter(model.parameters())).dtype).removeprefix("torch.")
    engine = LLM(model=_model_dir(model), dtype=dtype, seed=settings.seed)

    def decode_batch(model: Any, tokenizer: Any, batch: list, settings: Any,
                     stop_ids: set[int]) -> list[tuple[list[int], str]]:
        del model, tokenizer
        prompts, params = [], []
        for req, ids in batch:
            for k in range(settings.n_samples):
                prompts.append({"prompt_token_ids": ids})
                params.append(SamplingParams(
                    temperature=settings.temperature, top_p=settings.top_p if settings.temperature > 0 else 1.0,
                    max_tokens=req.max_new_tokens, stop_token_ids=sorted(stop_ids), stop=list(req.stop_strings),
                    include_stop_str_in_output=True, skip_special_tokens=True,
                    seed=sample_seed(settings.seed, req.key, k) if settings.temperature > 0 else None))
        rows = []
        for result in engine.generate(prompts, params, use_tqdm=False):
            tokens = list(result.outputs[0].token_ids)
            if tokens and tokens[-1] in stop_ids:
                rows.append((tokens[:-1], "eos"))
            else:
                rows.append((tokens, "length"))
        return rows

    return decode_batch
