"""Batched generation: requests → batches → completions.

Requests are sorted by prompt length so batches carry little padding (for generate(), which takes
one token limit and one set of stop strings per call, first grouped by those), and decoded
greedily or by sampling with n samples per prompt. Each output records its token counts, finish
reason and the wall time of its batch. With greedy decoding, batched output equals one-at-a-time
output (tested).

Backends (`DecodeSettings.backend`): "auto" decodes with engine.models.decode's token loop over the
model's forward wherever it reproduces generate() (preallocated KV cache, finished rows leave the
batch, stop strings checked out of the loop, rows of different tasks in one batch, LoRA adapters
merged into unquantised base weights while it runs; on a CPU, prompts prefilled without padding and
linears on prepacked weights, engine.models.cpu_linear),
else with Hugging Face `generate()`; "generate" always uses generate() (the reference, and the
baseline in bench/bench_engine.py); "vllm" uses engine.models.vllm_backend where vLLM is installed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.tasks.postprocess import cut_at_stop


@dataclass(frozen=True)
class GenRequest:
    """One prompt to complete."""

    key: tuple[str, str]  # (task, sample_id)
    prompt: str  # rendered chat prompt
    max_new_tokens: int
    stop_strings: tuple[str, ...] = ()


@dataclass(frozen=True)
class GenOutput:
    """One completion of a request (sample_index < n_samples)."""

    key: tuple[str, str]
    sample_index: int
    completion: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # eos | stop | length
    latency_s: float
    batch_size: int
    token_ids: tuple[int, ...] = ()  # the completion's tokens (before cutting at a stop string)


@dataclass(frozen=True)
class DecodeSettings:
    """Decoding settings: samples per request, sampling parameters, batch size, seed and stop tokens."""

    n_samples: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    batch_size: int = 8
    seed: int = 0
    stop_token_ids: tuple[int, ...] = field(default_factory=tuple)
    backend: str = "auto"  # auto | generate | vllm (see the module docstring)


def render_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """The chat prompt as the model sees it, ending where the assistant turn starts."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def plan_batches(requests: Sequence[GenRequest], tokenizer: Any, batch_size: int,
                 mixed: bool = False) -> list[list[tuple[GenRequest, list[int]]]]:
    """Batches of requests, longest prompts first; unless `mixed` (a decoder that takes a token limit
    and stop strings per row), each batch shares its requests' decoding settings."""
    groups: dict[tuple[int, tuple[str, ...]], list[tuple[GenRequest, list[int]]]] = {}
    for req in requests:
        ids = tokenizer(req.prompt, add_special_tokens=False)["input_ids"]
        groups.setdefault((0, ()) if mixed else (req.max_new_tokens, req.stop_strings), []).append((req, ids))
    batches = []
    for _, items in sorted(groups.items(), key=lambda kv: kv[0]):
        items.sort(key=lambda item: (-len(item[1]), item[0].key))
        batches.extend(items[i:i + batch_size] for i in range(0, len(items), batch_size))
    return batches


def _stop_criterion(tokenizer: Any, stops: tuple[str, ...], prompt_width: int) -> Any:
    """Stop a row once its completion contains a stop string.

    Decodes only the last few tokens of each row per step: transformers' own StopStringCriteria
    precomputes tables over the whole vocabulary on every generate() call, which costs more than
    the generation itself for short batches on a CPU.
    """
    import torch
    from transformers import StoppingCriteria

    window = max(len(s) for s in stops) + 8  # tokens are at least one character, usually more

    class _Stop(StoppingCriteria):
        def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
            del scores, kwargs
            tails = tokenizer.batch_decode(input_ids[:, max(prompt_width, input_ids.shape[1] - window):],
                                           skip_special_tokens=True)
            return torch.tensor([any(s in tail for s in stops) for tail in tails], device=input_ids.device)

    return _Stop()


def _finish(tokens: list[int], stop_ids: set[int], pad_id: int | None) -> tuple[list[int], str]:
    for i, tok in enumerate(tokens):
        if tok in stop_ids:
            return tokens[:i], "eos"
    while tokens and pad_id is not None and tokens[-1] == pad_id and pad_id not in stop_ids:
        tokens = tokens[:-1]
    return tokens, "length"


def _padded(batch: list[tuple[GenRequest, list[int]]], pad_id: int) -> tuple[Any, Any]:
    import torch

    width = max(len(ids) for _, ids in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(batch), width), dtype=torch.long)
    for row, (_, ids) in enumerate(batch):
        input_ids[row, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
        attention[row, width - len(ids):] = 1
    return input_ids, attention


def _with_generate(model: Any, tokenizer: Any, batch: list[tuple[GenRequest, list[int]]], number: int,
                   settings: DecodeSettings, stop_ids: set[int]) -> list[tuple[list[int], str]]:
    """Hugging Face generate() on one batch; row r * n_samples + k is sample k of request r."""
    import torch

    reqs = [req for req, _ in batch]
    pad_id = tokenizer.pad_token_id
    input_ids, attention = _padded(batch, pad_id)
    width = input_ids.shape[1]
    sampling = settings.temperature > 0
    kwargs: dict[str, Any] = {
        "max_new_tokens": reqs[0].max_new_tokens,
        "do_sample": sampling,
        "num_return_sequences": settings.n_samples,
        "pad_token_id": pad_id,
        "eos_token_id": sorted(stop_ids),
    }
    if sampling:
        kwargs.update(temperature=settings.temperature, top_p=settings.top_p)
        torch.manual_seed(settings.seed * 1_000_003 + number)
    else:
        kwargs.update(temperature=None, top_p=None, top_k=None)
    if reqs[0].stop_strings:
        kwargs["stopping_criteria"] = [_stop_criterion(tokenizer, reqs[0].stop_strings, width)]
    device = next(iter(model.parameters())).device
    with torch.inference_mode():
        out = model.generate(input_ids=input_ids.to(device), attention_mask=attention.to(device), **kwargs)
    return [_finish(out[row, width:].tolist(), stop_ids, pad_id) for row in range(out.shape[0])]


def _with_loop(model: Any, tokenizer: Any, batch: list[tuple[GenRequest, list[int]]],
               settings: DecodeSettings, stop_ids: set[int]) -> list[tuple[list[int], str]]:
    """engine.models.decode's token loop on one batch (same row order as `_with_generate`)."""
    import torch

    from engine.models import decode

    reqs = [req for req, _ in batch]
    sampling = None
    seeds: list[int] = []
    if settings.temperature > 0:
        top_k = getattr(getattr(model, "generation_config", None), "top_k", None)
        sampling = decode.Sampling(settings.temperature, settings.top_p, top_k)
        seeds = [decode.sample_seed(settings.seed, req.key, k) for req in reqs for k in range(settings.n_samples)]
    texts: dict[int, str] = {}
    with torch.inference_mode():
        rows = decode.decode(model, [ids for _, ids in batch], max_new_tokens=[req.max_new_tokens for req in reqs],
                             stop_ids=stop_ids, n_samples=settings.n_samples, sampling=sampling, seeds=seeds,
                             stop_hit=[decode.stop_watch(tokenizer, req.stop_strings, texts) for req in reqs],
                             pad_id=tokenizer.pad_token_id or 0)
    return [(row.tokens, row.reason) for row in rows]


def _backend(model: Any, settings: DecodeSettings) -> Callable[..., list[tuple[list[int], str]]] | None:
    """The function that decodes one batch (None: generate() with its per-batch seed)."""
    if settings.backend == "generate":
        return None
    if settings.backend == "vllm":
        from engine.models import vllm_backend

        return vllm_backend.batch_decoder(model, settings)
    if settings.backend != "auto":
        raise ValueError(f"unknown generation backend {settings.backend!r}; known: auto, generate, vllm")
    from engine.models import decode

    return _with_loop if decode.supports(model) else None


def _merged(model: Any) -> bool:
    """Merge the model's LoRA adapters into its (unquantised) base weights; whether it did. A merged
    layer computes x (W + s·BA)ᵀ in one product instead of three, the same up to float rounding."""
    import torch

    tuner = getattr(model, "base_model", None)
    if not hasattr(model, "peft_config") or not hasattr(tuner, "merge_adapter"):
        return False
    if any(c.peft_type != "LORA" for c in model.peft_config.values()):
        return False
    if any(p.dtype in (torch.uint8, torch.int8) for p in model.parameters()):
        return False  # 4-/8-bit base weights: merging would round the adapter into the quantisation
    tuner.merge_adapter()
    return True


@contextlib.contextmanager
def _fast_model(model: Any, decoder: Callable[..., Any] | None) -> Iterator[None]:
    """While the token loop decodes: LoRA adapters merged (undone after), and on a CPU the linears on
    prepacked weights (engine.models.cpu_linear)."""
    from engine.models import cpu_linear

    if decoder is not _with_loop:
        yield
        return
    first = next(iter(model.parameters()), None)
    on_cpu = first is not None and first.device.type == "cpu"
    merged = _merged(model)
    try:
        with cpu_linear.packed_linears(model) if on_cpu else contextlib.nullcontext():
            yield
    finally:
        if merged:
            model.base_model.unmerge_adapter()


def generate(model: Any, tokenizer: Any, requests: Sequence[GenRequest], settings: DecodeSettings,
             on_batch: Callable[[int, int], None] | None = None,
             done: Collection[tuple[str, str]] = ()) -> Iterator[list[GenOutput]]:
    """Yield the outputs batch by batch (n_samples outputs per request).

    Batches are planned over every request; a resumed run (`done`: the keys already generated,
    whose batches are skipped) samples exactly what an uninterrupted one would: the token loop seeds
    each (request, sample) by its key and sample index, generate() each batch by its index in the plan.
    """
    tokenizer.padding_side = "left"
    if next(iter(model.parameters()), None) is None:
        raise RuntimeError("the model has no parameters")
    stop_ids = set(settings.stop_token_ids) or {int(tokenizer.eos_token_id)}
    decoder = _backend(model, settings)
    batches = plan_batches(requests, tokenizer, settings.batch_size, mixed=decoder is not None)
    with _fast_model(model, decoder):
        for number, batch in enumerate(batches):
            reqs = [req for req, _ in batch]
            if done and all(req.key in done for req in reqs):
                continue
            started = time.perf_counter()
            if decoder is None:
                rows = _with_generate(model, tokenizer, batch, number, settings, stop_ids)
            else:
                rows = decoder(model, tokenizer, batch, settings, stop_ids)
            elapsed = time.perf_counter() - started
            outputs = []
            for row, (tokens, reason) in enumerate(rows):
                req_index, sample_index = divmod(row, settings.n_samples)
                req = reqs[req_index]
                text = tokenizer.decode(tokens, skip_special_tokens=True)
                if req.stop_strings:
                    text, stopped = cut_at_stop(text, list(req.stop_strings))
                    reason = "stop" if stopped else reason
                outputs.append(GenOutput(req.key, sample_index, text, len(batch[req_index][1]), len(tokens), reason,
                                         elapsed, len(batch), tuple(tokens)))
            if on_batch is not None:
                on_batch(number + 1, len(batches))
            yield outputs
