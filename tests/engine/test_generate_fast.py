"""The token loop (engine.models.decode) against Hugging Face generate(): token-identical greedy
outputs one prompt at a time, on Llama- and Qwen2-style models, with finished rows leaving the
batch, a KV cache that grows past its first buffer, stop strings and n samples; per-sample seeding
of sampled outputs; the fallback to generate() for models the loop does not cover."""

from __future__ import annotations

import pytest

from engine.models import decode
from engine.models import load as models
from engine.models.generate import GenRequest
from tests.engine.generation_helpers import load
from tests.engine.generation_helpers import requests_for as _requests
from tests.engine.generation_helpers import run as _run


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on a shared 2-core machine two threads wait on each other at every small op."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def llama(tiny_model):
    return load(tiny_model)


@pytest.fixture(scope="module")
def qwen(tiny_qwen):
    return load(tiny_qwen)


def _ids(outputs):
    return {k: (o.token_ids, o.finish_reason, o.completion) for k, o in outputs.items()}


def _early_eos(model, tokenizer, requests):
    """Stop ids that end some rows early and others not (so rows leave the batch at different steps)."""
    free = _run(model, tokenizer, requests, batch_size=6, backend="generate")
    firsts = {o.token_ids[2] for o in free.values() if len(o.token_ids) > 2}
    return tuple(sorted(set(models.stop_token_ids(tokenizer, model)) | {min(firsts)}))


@pytest.mark.parametrize("which", ["llama", "qwen"])
def test_loop_greedy_is_token_identical_to_generate_one_at_a_time(which, request):
    model, tokenizer = request.getfixturevalue(which)
    assert decode.supports(model)
    requests = _requests(tokenizer, max_new=20)
    stops = _early_eos(model, tokenizer, requests)
    loop = _run(model, tokenizer, requests, batch_size=6, stop_token_ids=stops)
    single = _run(model, tokenizer, requests, batch_size=1, stop_token_ids=stops, backend="generate")
    assert _ids(loop) == _ids(single)
    reasons = {o.finish_reason for o in loop.values()}
    assert reasons == {"eos", "length"}  # some rows left the batch early, others ran to the end
    assert all(o.batch_size == 6 for o in loop.values())


def test_cache_grows_past_its_first_buffer(llama):
    """With 4 spare places after the prompt, 30 new tokens make the KV buffer grow mid-decode."""
    import torch

    model, tokenizer = llama
    requests = _requests(tokenizer, max_new=30)[:3]
    single = _run(model, tokenizer, requests, batch_size=1, stop_token_ids=(-1,), backend="generate")
    ids = [tokenizer(r.prompt, add_special_tokens=False)["input_ids"] for r in requests]
    assert len(set(map(len, ids))) == 3  # three widths: the shorter rows sit left-padded in the cache
    for padding in (0.0, float("inf")):  # one forward per prompt (CPU default), one for all (CUDA's)
        with torch.inference_mode():
            rows = decode.decode(model, ids, max_new_tokens=30, stop_ids={-1}, spare=4, prefill_padding=padding)
        assert [tuple(r.tokens) for r in rows] == [single[(r.key, 0)].token_ids for r in requests]
        assert {len(r.tokens) for r in rows} == {30} and {r.reason for r in rows} == {"length"}


def test_a_finished_long_prompt_takes_its_padding_columns_out_of_the_cache(llama):
    """When the longest prompt's row ends, the columns that were only its prompt's leave the cache
    (the later steps attend over the remaining rows' width), and every row's tokens stay
    generate()'s for it alone."""
    import torch

    model, tokenizer = llama
    short = _requests(tokenizer, max_new=12)[:3]
    long = GenRequest("long", " ".join([short[0].prompt] * 6), max_new_tokens=2)
    requests = [long, *short]
    ids = [tokenizer(r.prompt, add_special_tokens=False)["input_ids"] for r in requests]
    widths = []
    forward = model.forward

    def recording(*args, **kwargs):
        widths.append(kwargs["attention_mask"].shape[1])
        return forward(*args, **kwargs)

    model.forward = recording
    try:
        with torch.inference_mode():
            rows = decode.decode(model, ids, max_new_tokens=[2, 12, 12, 12], stop_ids={-1})
    finally:
        del model.forward
    single = _run(model, tokenizer, requests, batch_size=1, stop_token_ids=(-1,), backend="generate")
    assert [tuple(r.tokens) for r in rows] == [single[(r.key, 0)].token_ids for r in requests]
    longest, rest = len(ids[0]), max(len(i) for i in ids[1:])
    assert longest > rest + 20
    # the first step attends over the long prompt's width; once it has ended, over the rest's only
    assert widths[len(ids)] == longest + 1 and widths[-1] == rest + 11


def test_one_batch_mixes_token_limits_and_stop_strings(llama):
    """Requests of different tasks (own token limit, own stop strings) share one batch of the loop
    and each gets what generate() gives it alone."""
    model, tokenizer = llama
    free = _run(model, tokenizer, _requests(tokenizer, max_new=30), batch_size=6)
    text = next(o.completion for o in free.values() if len(o.completion.strip()) > 6)
    stop = text.strip()[3:6]
    mixed = [GenRequest(r.key, r.prompt, max_new_tokens=8 + 4 * i, stop_strings=(stop,) if i % 2 else ())
             for i, r in enumerate(_requests(tokenizer))]
    loop = _run(model, tokenizer, mixed, batch_size=6)
    reference = _run(model, tokenizer, mixed, batch_size=1, backend="generate")
    assert _ids(loop) == _ids(reference)
    assert {o.batch_size for o in loop.values()} == {6}  # one batch, though its rows differ in settings
    assert {o.completion_tokens for o in loop.values()} != {o.completion_tokens for o in free.values()}


def test_prefill_groups_share_a_forward_only_within_the_padding_allowed():
    lengths = [5, 9, 9, 3, 8]
    assert decode.prefill_groups(lengths, 0.0) == [[1, 2], [4], [0], [3]]
    assert decode.prefill_groups(lengths, float("inf")) == [[1, 2, 4, 0, 3]]
    # 9, 9, 8: one pad for 26 real tokens (<= 0.1 × 26); adding 5 makes 4 + 1 pads for 31
    assert decode.prefill_groups(lengths, 0.1) == [[1, 2, 4], [0], [3]]


def test_stop_strings_match_generate(llama):
    model, tokenizer = llama
    requests = _requests(tokenizer, max_new=30)
    free = _run(model, tokenizer, requests, batch_size=6)
    key, text = next((k, o.completion) for k, o in free.items() if len(o.completion.strip()) > 6)
    stop = text.strip()[3:6]
    stopped = _requests(tokenizer, max_new=30, stops=[stop])
    loop = _run(model, tokenizer, stopped, batch_size=6)
    reference = _run(model, tokenizer, stopped, batch_size=1, backend="generate")
    assert _ids(loop) == _ids(reference)
    assert loop[key].finish_reason == "stop" and stop not in loop[key].completion
    assert loop[key].completion_tokens < free[key].completion_tokens


def test_greedy_n_samples_share_one_prefill(llama):
    model, tokenizer = llama
    requests = _requests(tokenizer, max_new=12)[:3]
    loop = _run(model, tokenizer, requests, batch_size=3, n_samples=2)
    reference = _run(model, tokenizer, requests, batch_size=1, backend="generate")  # it refuses greedy n > 1
    assert len(loop) == 6
    assert _ids(loop) == {(key, k): ids for (key, _), ids in _ids(reference).items() for k in (0, 1)}


def test_sampling_is_seeded_per_request_and_sample(llama):
    model, tokenizer = llama
    requests = _requests(tokenizer)
    kw = {"n_samples": 3, "temperature": 1.0, "top_p": 0.95, "batch_size": 6}
    first = _run(model, tokenizer, requests, seed=1, **kw)
    again = _run(model, tokenizer, requests, seed=1, **kw)
    other = _run(model, tokenizer, requests, seed=2, **kw)
    assert _ids(first) == _ids(again) and len(first) == 18
    assert _ids(first) != _ids(other)
    assert len({o.completion for k, o in first.items() if k[0] == ("t", "0")}) > 1
    # one request alone in its batch: its samples come from the same generators
    alone = _run(model, tokenizer, requests[3:4], seed=1, **kw)
    assert all(len(o.token_ids) > 0 for o in alone.values())


def test_sample_seed_is_stable_and_distinct():
    # pinned: a seed must not depend on the process (Python's hash() would)
    assert decode.sample_seed(7, ("gen-python", "HumanEval/1"), 0) == 2030161910292077546
    seeds = {decode.sample_seed(s, ("t", i), k) for s in (0, 1) for i in ("1", "2") for k in range(3)}
    assert len(seeds) == 12 and all(0 <= s < 1 << 63 for s in seeds)


def test_models_the_loop_does_not_cover_use_generate(llama, monkeypatch):
    model, tokenizer = llama
    monkeypatch.setattr(model.generation_config, "repetition_penalty", 1.3)
    assert not decode.supports(model)
    calls = []
    original = type(model).generate

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(model), "generate", counting)
    requests = _requests(tokenizer, max_new=5)[:2]
    out = _run(model, tokenizer, requests, batch_size=2)
    assert calls and len(out) == 2


def test_unknown_backend_and_missing_vllm_are_errors(llama):
    model, tokenizer = llama
    with pytest.raises(ValueError, match="unknown generation backend"):
        _run(model, tokenizer, _requests(tokenizer)[:1], backend="nope")
    from engine.models import vllm_backend

    if vllm_backend.available():
        pytest.skip("vllm is installed here")
    with pytest.raises(ValueError, match="vllm"):
        _run(model, tokenizer, _requests(tokenizer)[:1], backend="vllm")


def test_auto_batch_size_on_cpu_grows_with_free_memory_up_to_its_ceiling(llama):
    model, _ = llama
    assert decode.auto_batch_size(model, "cpu", 500, 512, 8, free_bytes=64 << 30) == decode.CPU_CEILING
    assert decode.auto_batch_size(model, "cpu", 500, 512, 8, free_bytes=1 << 20) == 8  # never below the spec's
    assert decode.auto_batch_size(model, "cpu", 500, 512, 100, free_bytes=64 << 30) == 100
    sizes = [decode.auto_batch_size(model, "cpu", 500, 512, 1, free_bytes=1 << k) for k in range(14, 32)]
    assert sizes == sorted(sizes) and sizes[0] == 1 and sizes[-1] == decode.CPU_CEILING
    assert any(1 < size < decode.CPU_CEILING for size in sizes)  # in between, as much as a quarter of RAM holds


def test_lora_adapters_are_merged_while_the_loop_decodes_and_unmerged_after(tiny_model):
    """A LoRA model (non-zero adapters) decodes merged, gives generate()'s unmerged greedy tokens,
    and is an unmerged adapter model again afterwards."""
    import torch
    from peft import LoraConfig, get_peft_model

    model, tokenizer = load(tiny_model)
    torch.manual_seed(0)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"]))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.05)  # B starts at zero: without this the adapter changes nothing
    model.eval()
    base_weight = model.base_model.model.model.layers[0].self_attn.q_proj.base_layer.weight.clone()
    requests = _requests(tokenizer, max_new=16)
    loop = _run(model, tokenizer, requests, batch_size=6)
    single = _run(model, tokenizer, requests, batch_size=1, backend="generate")
    assert _ids(loop) == _ids(single)
    layers = [m for m in model.modules() if hasattr(m, "merged") and hasattr(m, "lora_A")]
    assert layers and not any(m.merged for m in layers)
    restored = model.base_model.model.model.layers[0].self_attn.q_proj.base_layer.weight
    torch.testing.assert_close(restored, base_weight, rtol=0, atol=1e-6)
    with torch.no_grad():
        model.base_model.merge_adapter()
        merged = {(k, o.token_ids) for k, o in _run(model, tokenizer, requests, batch_size=6,
                                                   backend="generate").items()}
        model.base_model.unmerge_adapter()
    assert merged == {(k, o.token_ids) for k, o in loop.items()}


def test_auto_batch_grows_the_batches_and_off_keeps_the_specs(workspace, tiny_model, tmp_path, monkeypatch):
    """On a CPU the generate phase decodes the three prompts in one batch; `eval.auto_batch: false`
    keeps batches of `eval.batch_size` (each a resume point). Same outputs, same run id."""
    import pyarrow.parquet as pq

    from engine.phases import recipe
    from engine.runs import queue
    from engine.runs.rundir import RunDir, release_lock
    from engine.settings import load_settings
    from engine.spec import parse_run_spec

    def run_with(auto: bool):
        monkeypatch.setenv("CODETUNE_HOME", str(tmp_path / f"auto-{auto}"))
        spec = parse_run_spec({"model": {"id": str(tiny_model)}, "method": "none",
                               "tasks": [{"name": "gen-python", "cap": 8}],
                               "eval": {"limit": 3, "max_new_tokens": 4, "batch_size": 1, "auto_batch": auto}})
        settings = load_settings()
        run = RunDir(settings.runs_dir / queue.submit_run(spec, settings).run_id)
        fd = run.try_lock()
        try:
            assert recipe.execute(run, settings) == "done", run.read_status().error
        finally:
            release_lock(fd)
        batches = [e["batch_size"] for e in run.read_events()[0] if e["type"] == "generate"]
        return spec.run_id(), batches, pq.read_table(run.artifact("generations")).column("completion").to_pylist()

    on, off = run_with(True), run_with(False)
    assert on[1] == [3] and off[1] == [1, 1, 1]
    assert on[0] == off[0] and on[2] == off[2]
