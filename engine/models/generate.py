"""Batched generation with Hugging Face generate().

Requests are grouped by their decoding settings (max new tokens, stop strings), sorted by prompt
length so batches carry little padding, left-padded, and decoded greedily or by sampling with
n samples per prompt. Each output records its token counts, finish reason and the wall time of
its batch. With greedy decoding, batched output equals one-at-a-time output (tested).
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class DecodeSettings:
    """Decoding settings: samples per request, sampling parameters, batch size, seed and stop tokens."""

    n_samples: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    batch_size: int = 8
    seed: int = 0
    stop_token_ids: tuple[int, ...] = field(default_factory=tuple)


def render_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """The chat prompt as the model sees it, ending where the assistant turn starts."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def plan_batches(requests: Sequence[GenRequest], tokenizer: Any,
                 batch_size: int) -> list[list[tuple[GenRequest, list[int]]]]:
    """Batches of requests sharing decoding settings, longest prompts first."""
    groups: dict[tuple[int, tuple[str, ...]], list[tuple[GenRequest, list[int]]]] = {}
    for req in requests:
        ids = tokenizer(req.prompt, add_special_tokens=False)["input_ids"]
        groups.setdefault((req.max_new_tokens, req.stop_strings), []).append((req, ids))
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


def generate(model: Any, tokenizer: Any, requests: Sequence[GenRequest], settings: DecodeSettings,
             on_batch: Callable[[int, int], None] | None = None,
             done: Collection[tuple[str, str]] = ()) -> Iterator[list[GenOutput]]:
    """Yield the outputs batch by batch (n_samples outputs per request).

    Batches are planned over every request and seeded by their index in that plan, so a resumed run
    (`done`: the keys already generated, whose batches are skipped) samples exactly what an
    uninterrupted one would.
    """
    import torch

    tokenizer.padding_side = "left"
    first_param = next(iter(model.parameters()), None)
    if first_param is None:
        raise RuntimeError("the model has no parameters")
    device = first_param.device
    stop_ids = set(settings.stop_token_ids) or {int(tokenizer.eos_token_id)}
    pad_id = tokenizer.pad_token_id
    batches = plan_batches(requests, tokenizer, settings.batch_size)
    for number, batch in enumerate(batches):
        reqs = [req for req, _ in batch]
        if done and all(req.key in done for req in reqs):
            continue
        lengths = [len(ids) for _, ids in batch]
        width = max(lengths)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (_, ids) in enumerate(batch):
            input_ids[row, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
            attention[row, width - len(ids):] = 1
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
        started = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(input_ids=input_ids.to(device), attention_mask=attention.to(device), **kwargs)
        elapsed = time.perf_counter() - started
        outputs = []
        for row in range(out.shape[0]):
            req_index, sample_index = divmod(row, settings.n_samples)
            req = reqs[req_index]
            tokens, reason = _finish(out[row, width:].tolist(), stop_ids, pad_id)
            text = tokenizer.decode(tokens, skip_special_tokens=True)
            if req.stop_strings:
                text, stopped = cut_at_stop(text, list(req.stop_strings))
                reason = "stop" if stopped else reason
            outputs.append(GenOutput(req.key, sample_index, text, lengths[req_index], len(tokens), reason,
                                     elapsed, len(batch)))
        if on_batch is not None:
            on_batch(number + 1, len(batches))
        yield outputs
