"""Early stopping on teacher-forced generation metrics (engine.models.teacher_forced): the package's
per-row scores, and a tiny run whose teacher-forced CodeBLEU stalls stops after `patience`
evaluations without improvement and ends on its best checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.models import load as models
from engine.models import trainer as train
from engine.models.teacher_forced import TeacherForced, guess_language, score_rows
from engine.runs.rundir import RunDir
from engine.settings import load_settings
from engine.spec import parse_run_spec

RECORDS = [
    {"prompt": [{"role": "system", "content": "You are an expert Python developer."},
                {"role": "user", "content": f"Write a function that returns {i}."}],
     "completion": [{"role": "assistant", "content": f"def f():\n    return {i}\n"}]}
    for i in range(8)
]


@pytest.mark.parametrize(("reference", "language"), [
    ("public int add(int a, int b) { return a + b; }", "java"),
    ("def add(a, b):\n    return a + b", "python"),
    ("import os", "python"),
    ("namespace X { class Y {} }", "c_sharp"),
    ("int Add(int a) { return a; }", "java"),  # the package's fallback, C# included
])
def test_the_code_language_is_guessed_as_the_package_did(reference, language):
    assert guess_language(reference) == language


def test_rows_score_as_the_package_scored_them():
    refs = ["SUMMARY: Adds two numbers . DONE", "def add(a, b):\n    return a + b"]
    perfect = score_rows(["SUMMARY: Adds two numbers . DONE", "def add(a, b):\n    return a + b"], refs)
    assert perfect == pytest.approx({"bleu": 100.0, "codebleu": 100.0, "combined": 100.0})
    partial = score_rows(["SUMMARY: Adds numbers DONE junk", "x"], refs)
    assert 0 < partial["bleu"] < 100 and partial["codebleu"] < 50
    assert partial["combined"] == pytest.approx((partial["bleu"] + partial["codebleu"]) / 2)
    assert "bleu" not in score_rows(["x"], ["def f(): pass"])


class _Tok:
    """Decodes ids as letters: enough to check which positions are compared."""

    def decode(self, ids, skip_special_tokens=True):
        del skip_special_tokens
        return "".join(chr(ord("a") + i) for i in ids)


def test_predictions_are_shifted_one_position_and_only_the_completion_counts():
    # row tokens: a b c | d e (completion at positions 3, 4); the model's argmax at position t guesses t+1
    metric = TeacherForced(_Tok(), [([0, 1, 2, 3, 4], [3, 4])])
    preds, refs = metric.decoded(np.array([[1, 2, 3, 4, 9, -100]]))
    assert (preds, refs) == (["de"], ["de"])
    preds, _ = metric.decoded(np.array([[1, 2, 7, 4, 9, -100]]))
    assert preds == ["he"]
    logits = torch.zeros(1, 3, 5)
    logits[0, :, 2] = 1.0
    assert TeacherForced.preprocess_logits(logits, None).tolist() == [[2, 2, 2]]


def _spec(model_dir, **train_overrides):
    return parse_run_spec({
        "model": {"id": str(model_dir)}, "method": "lora", "tasks": ["gen-python"],
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]},
        "quant": {"compute_dtype": "float32"},
        "train": {"max_steps": 40, "batch_size": 4, "grad_accum": 1, "max_length": 64, "scheduler": "constant",
                  "logging_steps": 1, "save_total_limit": 10, **train_overrides},
    })


def test_a_run_whose_teacher_forced_codebleu_stalls_stops_and_keeps_its_best_checkpoint(tiny_qwen, tmp_path):
    from safetensors.torch import load_file

    # a learning rate so small that no argmax token changes: the metric stalls from the first evaluation
    spec = _spec(tiny_qwen, learning_rate=1e-9, eval_steps=2, save_steps=2, early_stopping_patience=2,
                 early_stopping_metric="codebleu", early_stopping_threshold=0.001)
    settings = load_settings()
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    tokenizer = models.load_tokenizer(spec, settings)
    model = models.apply_method(models.load_base_model(spec, settings, "cpu"), spec)
    result = train.train(spec, run, model, tokenizer, RECORDS * 4, RECORDS[:4], "cpu")
    # evaluations at steps 2, 4, 6: the first sets the best, two more without improvement stop the run
    assert result.stopped_early and result.steps == 6
    assert (result.metric, result.best_step) == ("codebleu", 2)
    events = [json.loads(line) for line in run.events_path.read_text().splitlines()]
    scores = [e["codebleu"] for e in events if e["type"] == "eval"]
    assert len(scores) == 3 and len(set(scores)) == 1 and 0 <= scores[0] <= 100
    assert result.best_metric == pytest.approx(scores[0])
    # the model ends on the best checkpoint's adapter, not on the last step's
    state = {k.replace(".default", ""): v for k, v in model.state_dict().items() if "lora_B" in k}
    best = load_file(str(run.checkpoints_dir / "checkpoint-2" / "adapter_model.safetensors"))
    last = load_file(str(run.checkpoints_dir / "checkpoint-6" / "adapter_model.safetensors"))
    keys = [k for k in best if "lora_B" in k]
    assert keys and all(torch.equal(state[k], best[k]) for k in keys)
    assert any(not torch.equal(best[k], last[k]) for k in keys)


def test_only_the_argmax_leaves_the_evaluation_loop(tiny_qwen, tmp_path):
    spec = _spec(tiny_qwen, learning_rate=1e-3, max_steps=2, eval_steps=2, save_steps=2, early_stopping_patience=1,
                 early_stopping_metric="codebleu")
    settings = load_settings()
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    tokenizer = models.load_tokenizer(spec, settings)
    model = models.apply_method(models.load_base_model(spec, settings, "cpu"), spec)
    seen = []
    original = TeacherForced.__call__

    def spy(self, eval_pred):
        seen.append(np.asarray(eval_pred.predictions))
        return original(self, eval_pred)

    TeacherForced.__call__ = spy
    try:
        train.train(spec, run, model, tokenizer, RECORDS * 2, RECORDS[:3], "cpu")
    finally:
        TeacherForced.__call__ = original
    assert seen and seen[0].ndim == 2 and seen[0].shape[0] == 3  # token ids per row, no vocabulary axis
