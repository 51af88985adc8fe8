"""QLoRA, LoRA and full fine-tuning on a tiny model: the loss falls, only the intended parameters
train, and what is saved reloads (PEFT adapter / full model) to identical logits."""

from __future__ import annotations

import json

import pytest
import torch

from engine.models import load as models
from engine.models import trainer as train
from engine.runs.rundir import RunDir
from engine.settings import load_settings
from engine.spec import parse_run_spec

RECORDS = [
    {"prompt": [{"role": "system", "content": "You are an expert Python developer."},
                {"role": "user", "content": f"Write a function that returns {i}."}],
     "completion": [{"role": "assistant", "content": f"def f():\n    return {i}\n"}]}
    for i in range(8)
]


def _spec(model_dir, method, **train_overrides):
    return parse_run_spec({
        "model": {"id": str(model_dir)},
        "method": method,
        "tasks": ["gen-python"],
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": ["q_proj", "v_proj", "up_proj"]},
        "quant": {"compute_dtype": "float32"},
        "train": {"max_steps": 30, "batch_size": 4, "grad_accum": 1, "learning_rate": 1e-2, "max_length": 64,
                  "save_steps": 100, "scheduler": "constant", "logging_steps": 1, **train_overrides},
    })


def _train(spec, tmp_path):
    settings = load_settings()
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    tokenizer = models.load_tokenizer(spec, settings)
    model = models.apply_method(models.load_base_model(spec, settings, "cpu"), spec)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    result = train.train(spec, run, model, tokenizer, RECORDS * 4, [], "cpu")
    events = [json.loads(line) for line in run.events_path.read_text().splitlines()]
    losses = [e["loss"] for e in events if e["type"] == "train"]
    return run, model, tokenizer, before, result, losses


def _changed(before, model):
    after = model.state_dict()
    return {k for k, v in before.items() if v.dtype.is_floating_point and not torch.equal(v, after[k])}


def _logits(model, tokenizer):
    ids = tokenizer("def f():\n    return", return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        return model(**ids).logits


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_adapter_methods_train_only_the_adapter(tiny_qwen, tmp_path, method):
    spec = _spec(tiny_qwen, method)
    run, model, tokenizer, before, result, losses = _train(spec, tmp_path)
    assert result.steps == 30
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5, losses
    changed = _changed(before, model)
    assert changed and all("lora_" in k for k in changed), sorted(changed)[:5]
    lora_keys = {k for k in before if "lora_B" in k}
    assert lora_keys <= changed  # every adapter matrix moved (B starts at zero)
    if method == "qlora":
        quantised = [k for k, v in model.state_dict().items() if v.dtype == torch.uint8]
        assert quantised, "the base should be stored in 4 bits"
        assert all(torch.equal(before[k], model.state_dict()[k]) for k in quantised)
    # saved in PEFT format, reloaded on the base: identical logits
    model.eval()
    expected = _logits(model, tokenizer)
    models.save_trained(model, tokenizer, run.model_dir, spec, str(tiny_qwen))
    assert (run.model_dir / "adapter_config.json").exists()
    assert (run.model_dir / "adapter_model.safetensors").exists()
    reloaded, tok2 = models.load_for_generation(spec, load_settings(), "cpu", run.model_dir)
    assert torch.equal(_logits(reloaded, tok2), expected)
    # and with the usual libraries alone
    from peft import AutoPeftModelForCausalLM

    if method == "lora":
        plain = AutoPeftModelForCausalLM.from_pretrained(run.model_dir).eval()
        assert torch.allclose(_logits(plain, tok2), expected, atol=1e-6)


def test_full_fine_tuning_trains_everything_and_reloads(tiny_model, tmp_path):
    spec = _spec(tiny_model, "fft", learning_rate=1e-3)
    run, model, tokenizer, before, _, losses = _train(spec, tmp_path)
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5, losses
    changed = _changed(before, model)
    weights = {k for k in before if k.endswith(".weight") and "norm" not in k}
    assert weights <= changed
    model.eval()
    expected = _logits(model, tokenizer)
    models.save_trained(model, tokenizer, run.model_dir, spec, str(tiny_model))
    from transformers import AutoModelForCausalLM

    plain = AutoModelForCausalLM.from_pretrained(run.model_dir).eval()
    assert torch.equal(_logits(plain, tokenizer), expected)


def test_zero_shot_freezes_everything(tiny_model):
    spec = _spec(tiny_model, "none")
    model = models.apply_method(models.load_base_model(spec, load_settings(), "cpu"), spec)
    assert models.count_parameters(model)["trainable"] == 0


def test_wrong_target_modules_are_named(tiny_model):
    spec = parse_run_spec({"model": {"id": str(tiny_model)}, "method": "lora", "tasks": ["gen-python"],
                           "lora": {"target_modules": ["q_proj", "query_key_value"]}})
    model = models.load_base_model(spec, load_settings(), "cpu")
    with pytest.raises(ValueError, match="query_key_value"):
        models.apply_method(model, spec)


def test_offline_hub_id_that_is_not_cached_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CODETUNE_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    spec = parse_run_spec({"model": "nobody/not-a-cached-model", "tasks": ["gen-python"]})
    with pytest.raises(models.ModelNotAvailable, match=r"not in the Hugging Face cache.*Fix"):
        models.resolve_source(spec, load_settings())
    missing = parse_run_spec({"model": str(tmp_path / "no-such-folder"), "tasks": ["gen-python"]})
    with pytest.raises(models.ModelNotAvailable, match="does not exist"):
        models.resolve_source(missing, load_settings())


def test_early_stopping_and_checkpoint_resume(tiny_model, tmp_path):
    spec = _spec(tiny_model, "lora", max_steps=12, save_steps=4, eval_steps=2, early_stopping_patience=1,
                 learning_rate=0.5)  # diverges: the validation loss rises and stops the run
    settings = load_settings()
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    tokenizer = models.load_tokenizer(spec, settings)
    model = models.apply_method(models.load_base_model(spec, settings, "cpu"), spec)
    result = train.train(spec, run, model, tokenizer, RECORDS * 4, RECORDS[:4], "cpu")
    events = [json.loads(line) for line in run.events_path.read_text().splitlines()]
    assert any(e["type"] == "eval" for e in events)
    assert result.steps <= 12
    assert train.last_checkpoint(run) is not None


@pytest.mark.parametrize("strategy", ["wrapped", "bfd"])
def test_packing_packs_several_examples_per_sequence(tiny_model, tmp_path, strategy):
    from datasets import Dataset
    from trl import SFTTrainer

    records = RECORDS * 4
    sizes = {}
    for packing in (False, True):
        spec = _spec(tiny_model, "lora", max_length=256, packing=packing, packing_strategy=strategy,
                     completion_only_loss=strategy == "bfd")
        model = models.apply_method(models.load_base_model(spec, load_settings(), "cpu"), spec)
        config = train.sft_config(spec, RunDir(tmp_path / f"run-{packing}"), "cpu", has_valid=False)
        trainer = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(records),
                             processing_class=models.load_tokenizer(spec, load_settings()))
        sizes[packing] = len(trainer.train_dataset)
        if packing:
            lengths = [len(ids) for ids in trainer.train_dataset["input_ids"]]
            assert max(lengths) <= 256 and sum(lengths) > 256
    assert sizes[False] == len(records)
    assert sizes[True] < len(records) / 3  # ~40-token examples, 256-token sequences


def test_lora_adapters_start_from_the_spec_seed(tiny_model):
    """The same spec and seed give the same initial adapters, whatever the global RNG did before."""
    spec = _spec(tiny_model, "lora")
    settings = load_settings()
    adapters = []
    for noise in (1, 2):
        torch.manual_seed(noise)  # what happened in the process before must not matter
        model = models.apply_method(models.load_base_model(spec, settings, "cpu"), spec)
        adapters.append({k: v.detach().clone() for k, v in model.state_dict().items() if "lora_A" in k})
    assert adapters[0] and adapters[0].keys() == adapters[1].keys()
    assert all(torch.equal(adapters[0][k], adapters[1][k]) for k in adapters[0])


def test_train_loss_after_a_resume_covers_the_whole_run(tiny_model, tmp_path):
    """A run resumed from its step-8 checkpoint reports the train loss of all 16 steps, as the
    uninterrupted run does (not only the 8 steps after the resume)."""
    import shutil

    spec = _spec(tiny_model, "lora", max_steps=16, save_steps=8, save_total_limit=4)
    settings = load_settings()
    results = []
    for name, resume_from in (("whole", None), ("resumed", "whole")):
        run = RunDir(tmp_path / name)
        run.path.mkdir()
        if resume_from:
            shutil.copytree(tmp_path / resume_from / "checkpoints" / "checkpoint-8",
                            run.checkpoints_dir / "checkpoint-8")
        tokenizer = models.load_tokenizer(spec, settings)
        model = models.apply_method(models.load_base_model(spec, settings, "cpu"), spec)
        results.append(train.train(spec, run, model, tokenizer, RECORDS * 4, [], "cpu"))
    whole, resumed = results
    assert whole.steps == resumed.steps == 16
    assert resumed.train_loss == pytest.approx(whole.train_loss, rel=1e-4)
    assert train.logged_mean_loss([{"loss": 2.0, "step": 4}, {"loss": 1.0, "step": 12}]) == pytest.approx(16 / 12)


def _resumed_pair(spec, tmp_path, checkpoint: str, damage=None):
    """Train `spec` whole, then again from a copy of the whole run's `checkpoint` (after `damage`
    to the copied run's checkpoints); returns (whole model, resumed model, resumed run)."""
    import shutil

    settings = load_settings()
    out = []
    for name, resume_from in (("whole", None), ("resumed", "whole")):
        run = RunDir(tmp_path / name)
        run.path.mkdir()
        if resume_from:
            shutil.copytree(tmp_path / resume_from / "checkpoints", run.checkpoints_dir)
            for later in run.checkpoints_dir.glob("checkpoint-*"):
                if int(later.name.split("-")[1]) > int(checkpoint.split("-")[1]):
                    shutil.rmtree(later)
            if damage:
                damage(run)
        tokenizer = models.load_tokenizer(spec, settings)
        model = models.apply_method(models.load_base_model(spec, settings, "cpu"), spec)
        train.train(spec, run, model, tokenizer, RECORDS * 4, [], "cpu")
        out.append((model, run))
    return out[0][0], out[1][0], out[1][1]


def _adapters(model):
    return {k: v.detach().clone() for k, v in model.named_parameters() if "lora_" in k}


def test_a_resumed_qlora_run_keeps_training_its_bf16_adapters(tiny_model, tmp_path):
    """TRL trains QLoRA adapters in bf16; the trainer resumes them through PEFT's load_adapter, which
    upcast them to fp32, so the resumed steps ran in another precision (weights off by ~1e-3)."""
    spec = _spec(tiny_model, "qlora", max_steps=8, save_steps=4, save_total_limit=4)
    whole, resumed, _ = _resumed_pair(spec, tmp_path, "checkpoint-4")
    a, b = _adapters(whole), _adapters(resumed)
    assert {v.dtype for v in b.values()} == {v.dtype for v in a.values()} == {torch.bfloat16}
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_checkpoint_cut_short_by_a_kill_is_not_resumed_from(tiny_model, tmp_path):
    """A worker killed while the trainer writes a checkpoint leaves its folder without (or with a
    torn) trainer_state.json, the file written last; resuming must use the last complete one."""
    spec = _spec(tiny_model, "lora", max_steps=8, save_steps=2, save_total_limit=4)

    def cut_short(run):
        (run.checkpoints_dir / "checkpoint-6" / "trainer_state.json").unlink()
        (run.checkpoints_dir / "checkpoint-6" / "optimizer.pt").write_bytes(b"")
        (run.checkpoints_dir / "checkpoint-4" / "trainer_state.json").write_text('{"global_step": 4, "log_hi')

    assert train.last_checkpoint(RunDir(tmp_path)) is None
    whole, resumed, run = _resumed_pair(spec, tmp_path, "checkpoint-6", damage=cut_short)
    assert [e["checkpoint"] for e in map(json.loads, run.events_path.read_text().splitlines())
            if e["type"] == "resume"] == ["checkpoint-2"]
    a, b = _adapters(whole), _adapters(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_last_step_writes_no_checkpoint_the_model_is_saved_instead(tiny_model, tmp_path):
    """Checkpoints at every save_steps, but none at the last step (it would never be read; for full
    fine-tuning it is the weights and both AdamW moments); with a best-checkpoint selection it stays."""
    run, *_ = _train(_spec(tiny_model, "fft", max_steps=6, save_steps=2, save_total_limit=5), tmp_path)
    assert sorted(p.name for p in run.checkpoints_dir.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    events = [json.loads(line) for line in run.events_path.read_text().splitlines()]
    assert [e["step"] for e in events if e["type"] == "checkpoint"] == [2, 4]
