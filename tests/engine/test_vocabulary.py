"""The vocabulary: the typed run status round-trips and turns bad content into `corrupt`; model sizes
(B, M, K); configuration labels; what derived metric names mean; a run's summary."""

from __future__ import annotations

import pytest

from engine import vocabulary as v


def test_run_status_round_trips_and_keeps_unknown_keys():
    data = {"state": "running", "phase": "train", "phases_done": ["prepare"], "attempts": 2,
            "progress": {"phase": "train", "done": 3, "total": 10}, "submitted_at": 1.0, "custom": "kept"}
    status = v.RunStatus.from_dict(data)
    assert status.state == v.RUNNING and status.progress == v.Progress("train", 3, 10) and status.attempts == 2
    assert status.to_dict()["custom"] == "kept" and v.RunStatus.from_dict(status.to_dict()) == status


@pytest.mark.parametrize("data", [[1, 2], "text", {"state": "exploded"}, {"state": None}])
def test_an_unreadable_status_is_corrupt(data):
    status = v.RunStatus.from_dict(data)
    assert status.state == v.CORRUPT and status.error["type"] == "CorruptRunFile"


def test_ill_typed_fields_take_their_defaults():
    status = v.RunStatus.from_dict({"state": "done", "attempts": "two", "progress": [1], "submitted_at": True})
    assert (status.attempts, status.progress, status.submitted_at) == (0, None, None)


@pytest.mark.parametrize("model, expected", [
    ("Qwen/Qwen2.5-Coder-0.5B-Instruct", ("0.5B", 0.5)),
    ("HuggingFaceTB/SmolLM2-135M-Instruct", ("135M", 0.135)),
    ("/models/tiny-500K", ("500K", 0.0005)),
    ("/models/tiny-random", ("tiny-random", None)),
    (None, (None, None)),
])
def test_model_sizes(model, expected):
    label, params = v.model_size(model)
    assert label == expected[0] and (params == pytest.approx(expected[1]) if expected[1] else params is None)


def test_config_labels_and_order():
    assert v.config_label("qlora", True) == "MT-QLoRA" and v.config_label("none", None) == "zero-shot"
    assert v.config_label("lora", None) == "LoRA"  # unknown single/multi-task: never guessed
    assert sorted(["MT-FFT", "zero-shot", "ST-QLoRA", "custom"], key=v.config_rank) == \
        ["zero-shot", "ST-QLoRA", "MT-FFT", "custom"]


def test_derived_metric_names():
    registered = {"bleu": v.MetricInfo("bleu", "sentence BLEU")}
    assert v.describe_metric("pass@1", registered).paired_test == v.MCNEMAR
    assert not v.describe_metric("pass@5", registered).per_sample
    passed, failed = v.describe_metric("exec:passed", registered), v.describe_metric("exec:failed", registered)
    assert passed.group == failed.group == "execution" and passed.higher_is_better and not failed.higher_is_better
    corpus = v.describe_metric("bleu:corpus", registered)
    assert corpus.group == "corpus" and not corpus.per_sample and corpus.high == 1.0
    findings = v.describe_metric("quality:pylint:C_per_sample", registered)
    assert findings.group == "quality" and findings.higher_is_better is False
    assert v.describe_metric("completion_tokens_mean", registered).group == "generation"
    assert v.headline_metric("generation", ["pass@k", "codebleu"], registered) == "pass@1"
    assert v.headline_metric("summarization", ["meteor", "bleu"], registered) == "bleu"
    assert v.headline_metric(None, ["nope", "bleu"], registered) == "bleu"


def test_summarise_without_a_valid_spec_names_the_method_only():
    row = v.summarise("r1", {"model": {"id": "org/M-1.5B"}, "method": "lora", "tasks": [{"name": "a"}, {"name": "b"}]},
                      None, v.RunStatus(state=v.RUNNING), owned=False)
    assert row["label"] == "LoRA" and row["families"] is None and not row["spec_valid"]
    assert row["state"] == v.STALLED and row["model_size"] == "1.5B" and row["tasks"] == ["a", "b"]
