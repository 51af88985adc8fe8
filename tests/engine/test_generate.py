"""Batched generation: left padding, length-sorted batches, greedy equality with one-at-a-time
decoding, n samples per prompt, stop strings, finish reasons and token counts."""

from __future__ import annotations

import pytest

from engine.models import load as models
from engine.models.generate import DecodeSettings, generate, plan_batches
from tests.engine.generation_helpers import load
from tests.engine.generation_helpers import requests_for as _requests
from tests.engine.generation_helpers import run as _run


@pytest.fixture(scope="module")
def loaded(tiny_model):
    return load(tiny_model)


def test_batched_greedy_equals_one_at_a_time(loaded):
    model, tokenizer = loaded
    requests = _requests(tokenizer)
    batched = _run(model, tokenizer, requests, batch_size=6)
    single = _run(model, tokenizer, requests, batch_size=1)
    assert {k: o.completion for k, o in batched.items()} == {k: o.completion for k, o in single.items()}
    assert all(o.batch_size == 6 for o in batched.values())
    assert {o.completion_tokens for o in batched.values()} != {0}


def test_batches_are_length_sorted_and_left_padded(loaded):
    _, tokenizer = loaded
    batches = plan_batches(_requests(tokenizer), tokenizer, batch_size=2)
    lengths = [len(ids) for batch in batches for _, ids in batch]
    assert lengths == sorted(lengths, reverse=True)
    assert [len(b) for b in batches] == [2, 2, 2]


def test_n_samples_with_sampling_are_seeded(loaded):
    model, tokenizer = loaded
    requests = _requests(tokenizer)[:2]
    first = _run(model, tokenizer, requests, n_samples=3, temperature=1.0, seed=1)
    again = _run(model, tokenizer, requests, n_samples=3, temperature=1.0, seed=1)
    assert sorted(first) == sorted(again) and len(first) == 6
    assert {k: o.completion for k, o in first.items()} == {k: o.completion for k, o in again.items()}
    texts = {o.completion for k, o in first.items() if k[0] == ("t", "0")}
    assert len(texts) > 1  # three samples of one prompt differ


def test_stop_strings_cut_the_completion(loaded):
    model, tokenizer = loaded
    requests = _requests(tokenizer, max_new=30)
    free = _run(model, tokenizer, requests, batch_size=3)
    # choose a stop string that occurs in one free completion, then check it is honoured
    key, text = next((k, o.completion) for k, o in free.items() if len(o.completion.strip()) > 6)
    stop = text.strip()[3:6]
    stopped = _run(model, tokenizer, _requests(tokenizer, max_new=30, stops=[stop]), batch_size=3)
    assert stopped[key].finish_reason == "stop"
    assert stop not in stopped[key].completion
    assert text.startswith(stopped[key].completion)
    assert stopped[key].completion_tokens < free[key].completion_tokens


def test_finish_reason_length_and_token_counts(loaded):
    model, tokenizer = loaded
    out = _run(model, tokenizer, _requests(tokenizer, max_new=5), batch_size=6)
    for o in out.values():
        assert o.completion_tokens <= 5
        assert o.finish_reason in ("length", "eos")
        assert (o.finish_reason == "length") == (o.completion_tokens == 5)
        assert o.prompt_tokens > 0 and o.latency_s > 0


def test_sampled_generation_resumed_equals_uninterrupted(loaded):
    """A resumed generate phase skips the batches already written; every other batch keeps the seed
    and the contents it has in the uninterrupted plan, so sampled completions are the same."""
    model, tokenizer = loaded
    requests = _requests(tokenizer)
    settings = DecodeSettings(n_samples=2, temperature=0.9, batch_size=2, seed=7,
                              stop_token_ids=tuple(models.stop_token_ids(tokenizer, model)))
    batches = list(generate(model, tokenizer, requests, settings))
    whole = {(o.key, o.sample_index): o.completion for batch in batches for o in batch}
    first = {o.key for o in batches[0]}
    resumed = {(o.key, o.sample_index): o.completion
               for batch in generate(model, tokenizer, requests, settings, done=first) for o in batch}
    assert set(resumed) == {k for k in whole if k[0] not in first}
    assert resumed == {k: v for k, v in whole.items() if k[0] not in first}
