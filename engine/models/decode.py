"""The token loop behind engine.models.generate: one prefill, then one forward per new token.

It replaces `model.generate()` for the decoders we generate with (Llama/Qwen2-style, full
attention), because on a CPU most of generate()'s time at batch 8-32 is not the model:

- the KV cache grows in place in a preallocated buffer (capacity doubles when full) instead of
  `torch.cat` of the whole cache at every token, which copies it once per token per layer;
- a row leaves the batch as soon as it is finished (stop token, stop string or length): its cache
  rows are dropped, so the other rows do not carry it to the longest row's end, and so are the
  cache's leading columns that were only its prompt's (left padding for every row still decoding);
- stop strings are looked for only when the new token's text could end one (a per-token text
  table), not by decoding every row's tail at every step;
- the prompts are prefilled without padding on a CPU (one forward per prompt, or per group of equal
  length; the keys and values are then laid out left-padded in the batch's cache), so no compute goes
  to pad tokens, and each prompt's prefill is exactly the one generate() does for it alone; on CUDA
  one padded forward for the whole batch (kernel launches cost more there than padding);
- each row has its own token limit and stop strings, so one batch mixes tasks;
- n samples of one prompt share one prefill (the cache is repeated per sample after it);
- sampling draws each (request, sample) from its own generator seeded by the seed, the request key
  and the sample index, so a sample does not depend on its batch (size, neighbours, or a resume).

Greedy decoding takes the argmax of the same float32 logits as generate() does with the same left
padding, attention mask and position ids, so the tokens equal generate()'s one prompt at a time
(tests/engine/test_generate_fast.py, bench/bench_engine.py). Models this loop does not cover
(sliding-window or linear-attention layers, encoder-decoders, logits processors in the model's
generation config) keep using generate(): see `supports()`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers.cache_utils import Cache, DynamicLayer

# generation-config fields that make generate() change logits; with any of them set we defer to it
_PROCESSOR_FIELDS = {"repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "encoder_repetition_penalty": 1.0,
                     "bad_words_ids": None, "suppress_tokens": None, "begin_suppress_tokens": None,
                     "forced_bos_token_id": None, "forced_eos_token_id": None, "sequence_bias": None,
                     "min_length": 0, "min_new_tokens": None, "exponential_decay_length_penalty": None,
                     "min_p": None, "typical_p": 1.0, "epsilon_cutoff": 0.0, "eta_cutoff": 0.0}


@dataclass(frozen=True)
class Sampling:
    """Sampling parameters (the same warpers generate() applies, in its order)."""

    temperature: float
    top_p: float = 1.0
    top_k: int | None = None


@dataclass(frozen=True)
class Finished:
    """One decoded row: its new tokens (without the stop token) and why it ended (eos | length)."""

    tokens: list[int]
    reason: str


def supports(model: Any) -> bool:
    """Whether `decode` reproduces generate() for this model (else the caller uses generate())."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "is_encoder_decoder", False):
        return False
    text = config.get_text_config(decoder=True)
    if any(t != "full_attention" for t in (getattr(text, "layer_types", None) or ())):
        return False
    if getattr(text, "sliding_window", None) and getattr(text, "use_sliding_window", True):
        return False
    gen = getattr(model, "generation_config", None)
    return gen is None or all(getattr(gen, name, default) in (default, None)
                              for name, default in _PROCESSOR_FIELDS.items())


def sample_seed(seed: int, key: Sequence[str], sample_index: int) -> int:
    """A stable 63-bit seed for one (request, sample): independent of batches and processes."""
    blob = "\0".join([str(seed), *key, str(sample_index)]).encode("utf-8")
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "big") >> 1


class _GrowingLayer(DynamicLayer):
    """A DynamicLayer whose keys/values live in a buffer with spare room: appending a token writes
    into it (no copy of the whole cache); the buffer doubles when full."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity
        self.length = 0
        self.key_buffer: torch.Tensor | None = None
        self.value_buffer: torch.Tensor | None = None
        self.device: torch.device | None = None

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.device = key_states.device
        batch, heads, _, _ = key_states.shape
        size = max(self.capacity, key_states.shape[2])
        self.key_buffer = key_states.new_empty((batch, heads, size, key_states.shape[3]))
        self.value_buffer = value_states.new_empty((batch, heads, size, value_states.shape[3]))
        self.is_initialized = True

    def place(self, part: DynamicLayer, rows: torch.Tensor, batch: int, start: int, capacity: int) -> None:
        """Write a prefilled group's keys/values into rows `rows` of this batch's buffer at
        positions start..; the buffer (zeros where nothing is written: masked pads must not hold NaN)
        is allocated by the first group."""
        keys, values = part.keys, part.values
        if not self.is_initialized:
            self.device = keys.device
            self.key_buffer = keys.new_zeros((batch, keys.shape[1], capacity, keys.shape[3]))
            self.value_buffer = values.new_zeros((batch, values.shape[1], capacity, values.shape[3]))
            self.is_initialized = True
        end = start + keys.shape[2]
        self.key_buffer[rows, :, start:end] = keys
        self.value_buffer[rows, :, start:end] = values
        self.length = max(self.length, end)
        self._views()

    def _grow(self, needed: int) -> None:
        size = self.key_buffer.shape[2]
        while size < needed:
            size *= 2
        self.key_buffer = self._moved(self.key_buffer, size)
        self.value_buffer = self._moved(self.value_buffer, size)

    def _moved(self, old: torch.Tensor, size: int) -> torch.Tensor:
        new = old.new_empty((old.shape[0], old.shape[1], size, old.shape[3]))
        new[:, :, :self.length] = old[:, :, :self.length]
        return new

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
               ) -> tuple[torch.Tensor, torch.Tensor]:
        del args, kwargs
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self.length + key_states.shape[2]
        if end > self.key_buffer.shape[2]:
            self._grow(end)
        self.key_buffer[:, :, self.length:end] = key_states
        self.value_buffer[:, :, self.length:end] = value_states
        self.length = end
        self.keys = self.key_buffer[:, :, :end]
        self.values = self.value_buffer[:, :, :end]
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.length

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self.is_initialized:
            self.key_buffer = self.key_buffer.repeat_interleave(repeats, dim=0)
            self.value_buffer = self.value_buffer.repeat_interleave(repeats, dim=0)
            self._views()

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self.keep_rows(indices, 0)

    def keep_rows(self, indices: torch.Tensor, drop: int) -> None:
        """Keep rows `indices` of the batch and drop the first `drop` positions (in one copy)."""
        if self.is_initialized:
            self.key_buffer = self.key_buffer[indices, :, drop:]
            self.value_buffer = self.value_buffer[indices, :, drop:]
            self.length -= drop
            self._views()

    def _views(self) -> None:
        self.keys = self.key_buffer[:, :, :self.length]
        self.values = self.value_buffer[:, :, :self.length]


class _GrowingCache(Cache):
    """One `_GrowingLayer` per decoder layer."""

    def __init__(self, layers: int, capacity: int) -> None:
        super().__init__(layers=[_GrowingLayer(capacity) for _ in range(layers)])

    def place(self, part: _GrowingCache, rows: torch.Tensor, batch: int, start: int, capacity: int) -> None:
        """Every layer's `place` (see `_GrowingLayer.place`)."""
        for mine, theirs in zip(self.layers, part.layers, strict=True):
            mine.place(theirs, rows, batch, start, capacity)

    def keep_rows(self, indices: torch.Tensor, drop: int) -> None:
        """Every layer's `keep_rows` (see `_GrowingLayer.keep_rows`)."""
        for layer in self.layers:
            layer.keep_rows(indices, drop)


class _StopWatch:
    """Finds stop strings in a row's completion without decoding every row at every step: the text of
    each token is cached, and a row's tail is decoded only when its new token could end a stop string
    (it holds a stop string's last character, or part of a multi-byte character)."""

    def __init__(self, tokenizer: Any, stops: Sequence[str], texts: dict[int, str] | None = None) -> None:
        self.tokenizer = tokenizer
        self.stops = [s for s in stops if s]
        self.last_chars = {s[-1] for s in self.stops}
        self.window = max((len(s) for s in self.stops), default=0) + 8  # a token is at least one character
        self.texts: dict[int, str] = {} if texts is None else texts  # token → text, may be shared

    def _may_end_a_stop(self, token: int) -> bool:
        text = self.texts.get(token)
        if text is None:
            text = self.texts[token] = self.tokenizer.decode([token], skip_special_tokens=True)
        return not text or "\ufffd" in text or any(c in text for c in self.last_chars)

    def hit(self, tokens: list[int]) -> bool:
        """Whether the completion `tokens` now contains a stop string."""
        if not self.stops or not self._may_end_a_stop(tokens[-1]):
            return False
        tail = self.tokenizer.decode(tokens[-self.window:], skip_special_tokens=True)
        return any(s in tail for s in self.stops)


def _next_tokens(logits: torch.Tensor, sampling: Sampling | None, generators: list[torch.Generator]) -> list[int]:
    if sampling is None:
        return logits.argmax(dim=-1).tolist()
    from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    scores = TemperatureLogitsWarper(sampling.temperature)(None, logits)
    if sampling.top_k:
        scores = TopKLogitsWarper(sampling.top_k)(None, scores)
    if sampling.top_p < 1.0:
        scores = TopPLogitsWarper(sampling.top_p)(None, scores)
    probs = torch.softmax(scores, dim=-1)
    return [int(torch.multinomial(probs[row], 1, generator=gen)) for row, gen in enumerate(generators)]


def _decoder_layers(model: Any) -> int:
    return int(model.config.get_text_config(decoder=True).num_hidden_layers)


def prefill_groups(lengths: Sequence[int], padding: float) -> list[list[int]]:
    """Rows prefilled together: longest first, a row joins the current group while the group's pad
    tokens stay within `padding` × its real tokens (0: only equal lengths share a forward)."""
    order = sorted(range(len(lengths)), key=lambda r: (-lengths[r], r))
    groups: list[list[int]] = []
    for row in order:
        if groups:
            group = groups[-1]
            width = lengths[group[0]]
            real = sum(lengths[r] for r in group) + lengths[row]
            if width * (len(group) + 1) - real <= padding * real:
                group.append(row)
                continue
        groups.append([row])
    return groups


def _prefill(model: Any, prompts: Sequence[Sequence[int]], width: int, capacity: int, padding: float,
             pad_id: int, device: torch.device) -> tuple[_GrowingCache, torch.Tensor]:
    """The batch's cache (left-padded to `width`) and each prompt's last logits, one forward per group."""
    layers = _decoder_layers(model)
    cache = _GrowingCache(layers, capacity)
    last: list[torch.Tensor | None] = [None] * len(prompts)
    for group in prefill_groups([len(p) for p in prompts], padding):
        span = max(len(prompts[r]) for r in group)
        ids = torch.full((len(group), span), pad_id, dtype=torch.long)
        attention = torch.zeros((len(group), span), dtype=torch.long)
        for slot, row in enumerate(group):
            ids[slot, span - len(prompts[row]):] = torch.tensor(list(prompts[row]), dtype=torch.long)
            attention[slot, span - len(prompts[row]):] = 1
        ids, attention = ids.to(device), attention.to(device)
        positions = (attention.cumsum(-1) - 1).masked_fill(attention == 0, 0)
        part = _GrowingCache(layers, span)
        logits = model(input_ids=ids, attention_mask=attention, position_ids=positions, cache=part,
                       use_cache=True, logits_to_keep=1).logits[:, -1].float()
        cache.place(part, torch.tensor(group, device=device), len(prompts), width - span, capacity)
        for slot, row in enumerate(group):
            last[row] = logits[slot]
    return cache, torch.stack(last)


def _per_row(value: Any, rows: int, what: str) -> list[Any]:
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != rows:
            raise ValueError(f"{what}: {len(value)} values for {rows} prompts")
        return list(value)
    return [value] * rows


def decode(model: Any, prompts: Sequence[Sequence[int]], *, max_new_tokens: int | Sequence[int],
           stop_ids: set[int], n_samples: int = 1, sampling: Sampling | None = None,
           seeds: Sequence[int] = (),
           stop_hit: Callable[[list[int]], bool] | Sequence[Callable[[list[int]], bool] | None] | None = None,
           pad_id: int = 0, prefill_padding: float | None = None, spare: int = 64) -> list[Finished]:
    """Decode a batch of prompts (token ids, no padding); row r * n_samples + k of the result is
    sample k of prompt r.

    `max_new_tokens` and `stop_hit` are one for all prompts or one per prompt. `seeds`: one per
    result row when sampling (see `sample_seed`). `stop_hit(tokens)`: whether a row's completion so
    far holds a stop string (the row then ends; the caller cuts the text). `prefill_padding`: pad
    tokens allowed per real token when prompts share a prefill forward (default: 0 on a CPU, any on
    CUDA). `spare`: room for new tokens in the first KV buffer (it doubles when full).
    """
    device = next(iter(model.parameters())).device
    limits = _per_row(max_new_tokens, len(prompts), "max_new_tokens")
    watchers = _per_row(stop_hit, len(prompts), "stop_hit")
    rows = len(prompts) * n_samples
    generators = []
    if sampling is not None:
        generators = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]
        if len(generators) != rows:
            raise ValueError(f"sampling needs one seed per row: {len(generators)} for {rows}")
    if prefill_padding is None:
        prefill_padding = float("inf") if device.type == "cuda" else 0.0
    width = max(len(p) for p in prompts)
    cache, logits = _prefill(model, prompts, width, width + min(max(limits), spare), prefill_padding,
                             pad_id, device)
    attention = torch.zeros((len(prompts), width), dtype=torch.long, device=device)
    for row, prompt in enumerate(prompts):
        attention[row, width - len(prompt):] = 1
    next_position = torch.tensor([[len(p)] for p in prompts], dtype=torch.long, device=device)
    if n_samples > 1:  # one prefill per prompt, then a copy of its cache per sample
        cache.batch_repeat_interleave(n_samples)
        logits = logits.repeat_interleave(n_samples, dim=0)
        attention = attention.repeat_interleave(n_samples, dim=0)
        next_position = next_position.repeat_interleave(n_samples, dim=0)
    active = list(range(rows))  # result row of each batch row
    produced: list[list[int]] = [[] for _ in range(rows)]
    results: list[Finished | None] = [None] * rows
    while active:
        chosen = _next_tokens(logits, sampling, [generators[r] for r in active] if generators else [])
        keep = []
        for slot, (row, token) in enumerate(zip(active, chosen, strict=True)):
            if token in stop_ids:
                results[row] = Finished(produced[row], "eos")
                continue
            produced[row].append(token)
            watcher = watchers[row // n_samples]
            if len(produced[row]) >= limits[row // n_samples] or (watcher is not None and watcher(produced[row])):
                results[row] = Finished(produced[row], "length")
                continue
            keep.append(slot)
        if not keep:
            break
        if len(keep) < len(active):  # finished rows leave the batch, with their cache
            index = torch.tensor(keep, device=device)
            attention, next_position = attention[index], next_position[index]
            # and so do the left-padding columns no remaining row attends to (a long prompt's, once
            # it has finished): every later step's attention would still read them
            drop = int(attention.any(dim=0).int().argmax())
            cache.keep_rows(index, drop)
            attention = attention[:, drop:]
            active = [active[slot] for slot in keep]
            chosen = [chosen[slot] for slot in keep]
        attention = torch.cat([attention, attention.new_ones((len(active), 1))], dim=1)
        step = torch.tensor(chosen, device=device).unsqueeze(1)
        logits = model(input_ids=step, attention_mask=attention, position_ids=next_position, cache=cache,
                       use_cache=True, logits_to_keep=1).logits[:, -1].float()
        next_position = next_position + 1
    return [r if r is not None else Finished([], "length") for r in results]


def stop_watch(tokenizer: Any, stops: Sequence[str],
               texts: dict[int, str] | None = None) -> Callable[[list[int]], bool] | None:
    """The `stop_hit` callback for `decode` (None without stop strings); `texts`: a token → text
    table to share between the callbacks of one batch."""
    return _StopWatch(tokenizer, stops, texts).hit if any(stops) else None


CPU_CEILING = 64  # rows: on a CPU a decode step streams every weight once whatever the batch; past
# ~64 rows of a small model the step is compute-bound and larger batches stop paying (bench_engine)


def auto_batch_size(model: Any, device: str, prompt_tokens: int, max_new_tokens: int, requested: int,
                    ceiling: int = 256, free_bytes: int | None = None) -> int:
    """The largest batch (in result rows, at least `requested`) whose KV cache fits half the free
    memory on CUDA, or a quarter of the available RAM and at most CPU_CEILING rows on a CPU. The
    token loop's outputs do not depend on the batch (greedy: equal to one prompt at a time;
    sampled: seeded per request and sample), so this changes speed only. A prompt's samples share
    one batch, so this counts rows of the result."""
    from engine.models.memory import free_memory_bytes

    cuda = device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        return requested
    free = free_bytes if free_bytes is not None else (
        int(torch.cuda.mem_get_info(torch.device(device))[0]) if cuda else free_memory_bytes("cpu"))
    if free is None:
        return requested
    text = model.config.get_text_config(decoder=True)
    heads = getattr(text, "num_key_value_heads", None) or text.num_attention_heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    dtype_bytes = next(model.parameters()).element_size()
    per_row = 2 * text.num_hidden_layers * heads * head_dim * dtype_bytes * (prompt_tokens + max_new_tokens)
    per_row += 4 * getattr(text, "vocab_size", 0) * 2  # float32 logits and the softmax of one position
    share, top = (0.5, ceiling) if cuda else (0.25, min(ceiling, CPU_CEILING))
    return max(requested, min(top, int(free * share) // max(per_row, 1)))
