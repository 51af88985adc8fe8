"""Shared set-up of the generation tests: a tiny model loaded for generation, chat requests over a
few mixed prompts, and a run of engine.models.generate keyed by (request, sample)."""

from __future__ import annotations

from engine.models import load as models
from engine.models.generate import DecodeSettings, GenRequest, generate, render_prompt
from engine.settings import load_settings
from engine.spec import parse_run_spec

PROMPTS = [
    "def add(a, b):",
    "Write a Java method that sums a list of integers and returns the total, handling empty lists.",
    "Translate from Java to C#:\npublic int add(int a, int b) { return a + b; }",
    "x",
    "Summarize this Python code:\nfor i in range(10):\n    print(i)",
    "public override int Add(int a, int b){return a + b;}",
]


def load(path):
    """(model, tokenizer) of the model folder `path`, as the generate phase loads a zero-shot run."""
    spec = parse_run_spec({"model": {"id": str(path)}, "method": "none", "tasks": ["gen-python"]})
    return models.load_for_generation(spec, load_settings(), "cpu", None)


def requests_for(tokenizer, max_new=24, stops=()):
    """One chat request per prompt of PROMPTS."""
    return [GenRequest(key=("t", str(i)), prompt=render_prompt(tokenizer, [{"role": "user", "content": p}]),
                       max_new_tokens=max_new, stop_strings=tuple(stops)) for i, p in enumerate(PROMPTS)]


def run(model, tokenizer, requests, **kw):
    """{(key, sample_index): GenOutput}; `kw` are DecodeSettings (stop ids default to the model's)."""
    settings = DecodeSettings(**{"stop_token_ids": tuple(models.stop_token_ids(tokenizer, model)), **kw})
    return {(o.key, o.sample_index): o for batch in generate(model, tokenizer, requests, settings) for o in batch}
