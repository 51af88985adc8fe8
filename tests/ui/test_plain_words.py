"""Plain language and correct charts: axis ranges fitted to the data, the events timeline, the log
and curve placeholders, the overall progress before the first step, the Quality failure banner and
the Samples measures table (pure functions; no app)."""

from __future__ import annotations

import pandas as pd
import pytest

from engine import api
from engine.scoring.quality.base import UNAVAILABLE_PREFIX
from engine.vocabulary import DONE, PHASES, QUEUED, RUNNING, overall_progress
from ui import figures
from ui.formatting import curves_waiting, events_timeline, progress_text, train_path_text
from ui.quality import failure_banner, findings_per_sample
from ui.samples import findings_table, measures_table

T0 = 1_790_000_000.0


def _train_events(n: int, lr: float = 2e-4) -> list[dict]:
    return [
        {"t": T0 + i, "type": "train", "step": i + 1, "loss": 2.0 / (i + 1), "lr": lr, "tokens_per_s": 100.0 + i,
         "peak_mem_mb": 512.0}
        for i in range(n)
    ]


def test_a_constant_learning_rate_is_drawn_around_its_value():
    fig = figures.training_curves(_train_events(5))
    low, high = fig.layout.yaxis2.range  # the learning-rate panel
    assert low < 2e-4 < high and high - low < 1e-3  # not 0 on −1..1
    assert low > 0
    loss_low, loss_high = fig.layout.yaxis.range
    assert loss_low < 0.4 and 2.0 < loss_high < 2.5


def test_padded_range_spans_the_data():
    assert figures.padded_range([1.0, 3.0]) == pytest.approx([0.84, 3.16])
    assert figures.padded_range([0.0, 0.0]) == [-1.0, 1.0]
    assert figures.padded_range([None, float("nan")]) is None


def test_one_generation_batch_is_a_number_not_an_axis():
    events = [{"t": T0, "type": "generate", "done": 164, "total": 164}]
    fig = figures.generation_progress(events)
    assert fig is not None and fig.data[0].type == "indicator" and fig.data[0].value == 164
    two = figures.generation_progress([*events[:0], {"t": T0, "type": "generate", "done": 4, "total": 8},
                                       {"t": T0 + 3, "type": "generate", "done": 8, "total": 8}])
    assert two.data[0].type == "scatter"


def test_the_mixture_shows_small_draws_on_their_own_scale():
    shares = pd.DataFrame({"task": ["gen-python", "sum-java"], "unique": [32, 32], "repeats": [0, 8],
                           "available": [374, 10_300]})
    fig = figures.mixture_shares(shares)
    assert {t.yaxis for t in fig.data} == {"y", "y2"}  # drawn and "share of available" in two panels
    share = next(t for t in fig.data if t.yaxis == "y2")
    assert list(share.y) == pytest.approx([32 / 374, 32 / 10_300])
    assert "32 of 10,300" in list(share.text)


def test_single_sizes_do_not_make_a_scaling_panel():
    frame = pd.DataFrame({"task": ["gen-python"] * 2, "config": ["ST-LoRA", "MT-LoRA"], "params_b": [0.5, 0.5],
                          "size": ["0.5B"] * 2, "value": [0.1, 0.2]})
    fig = figures.scaling_lines(frame, "pass@1")
    assert not fig.data and "one model size" in fig.layout.annotations[0].text


def test_a_baseline_alone_is_not_a_heatmap_of_zeros():
    index = pd.MultiIndex.from_tuples([("gen-python", "pass@1"), ("sum-java", "bleu")])
    alone = figures.delta_heatmap(pd.DataFrame({"ST-LoRA": [0.0, 0.0]}, index=index), "ST-LoRA")
    assert not alone.data and "every Δ is 0" in alone.layout.annotations[0].text
    two = figures.delta_heatmap(pd.DataFrame({"ST-LoRA": [0.0, 0.0], "MT-LoRA": [0.1, -0.2]}, index=index), "ST-LoRA")
    assert two.data[0].type == "heatmap"


def test_findings_of_different_tools_are_never_stacked_together():
    frame = pd.DataFrame({"run": ["a", "a", "a"], "tool": ["checkstyle-sun", "checkstyle-google", "pylint"],
                          "category": ["naming", "naming", "C"], "per_sample": [1.0, 2.0, 3.0], "task": ["t"] * 3,
                          "n_findings": [1, 2, 3], "n_samples": [1, 1, 1]})
    fig = figures.findings_bars(frame)
    axes = {(t.xaxis, t.yaxis) for t in fig.data}
    panels = {}
    for trace in fig.data:
        for y in trace.y:
            panels.setdefault(trace.yaxis, []).append(y)
    assert len(panels) == 3 and sorted(sum(v) for v in panels.values()) == [1.0, 2.0, 3.0]
    assert len(axes) == 3
    assert sorted(a.text for a in fig.layout.annotations) == ["checkstyle-google", "checkstyle-sun", "pylint"]


def test_progress_does_not_jump_before_the_first_training_step():
    at_train_start = overall_progress(RUNNING, "train", 0, 100)
    assert at_train_start < 0.1
    assert overall_progress(RUNNING, "train", None, None) == at_train_start
    assert overall_progress(RUNNING, "train", 50, 100) > at_train_start
    values = [overall_progress(RUNNING, p, d, 10) for p in PHASES for d in (0, 5, 10)]
    assert values == sorted(values) and values[-1] == pytest.approx(1.0)
    assert overall_progress(DONE, "analyse", 0, 0) == 1.0
    # a zero-shot run has no training share: generating does not start at 60%
    zero_shot = overall_progress(RUNNING, "generate", 0, 10, trains=False)
    assert zero_shot < 0.1 and overall_progress(RUNNING, "train", None, None, trains=False) == zero_shot
    assert overall_progress(RUNNING, "generate", 0, 10) == pytest.approx(0.6)


def test_the_events_timeline_is_readable():
    events = [
        {"t": T0, "type": "phase", "phase": "prepare", "status": "start"},
        {"t": T0 + 2, "type": "prepared", "tasks": ["gen-python", "sum-java"], "note": None, "counts": {"a": 1}},
        {"t": T0 + 3, "type": "phase", "phase": "prepare", "status": "end", "seconds": 3.0},
        *_train_events(20),
        {"t": T0 + 200, "type": "done"},
    ]
    frame = events_timeline(events)
    cells = frame.to_numpy().ravel().tolist()
    assert all(isinstance(c, str) for c in cells)
    assert not any(c in ("None", "nan", "<NA>") or c.startswith("[") for c in cells)
    assert "gen-python, sum-java" in frame.loc[1, "details"] and "note" not in frame.loc[1, "details"]
    assert frame.loc[2, "event"] == "prepare phase end" and "3 s" in frame.loc[2, "details"]
    steps = frame[frame["event"] == "training steps"]
    assert len(steps) == 1 and "steps 1–20" in steps["details"].iloc[0] and "(20 reports)" in steps["details"].iloc[0]
    assert frame["since start"].iloc[-1] == "3 min 20 s" and ":" in frame["time"].iloc[0]
    assert len(events_timeline(events, every_step=True)) == len(events)


def test_the_training_path_is_said_in_words():
    """The Spec tab says how a run trained (its last `train_path` event: a resume may re-plan)."""
    assert train_path_text([{"type": "train", "step": 1}]) is None
    reference = {"type": "train_path", "speed": "reference", "micro_batch": 2, "grad_accum": 16,
                 "gradient_checkpointing": True, "padding_free": False, "chunked_loss": False, "loss_backend": "trl"}
    assert train_path_text([reference]) == ("Trained on the reference path (TRL's SFTTrainer as configured): "
                                           "micro-batch 2 × 16 accumulation, gradient checkpointing on.")
    fast = {**reference, "speed": "fast", "micro_batch": 8, "grad_accum": 4, "gradient_checkpointing": False,
            "padding_free": True, "chunked_loss": True, "loss_backend": "chunked", "packed_linears": True,
            "fast_dropout": True}
    text = train_path_text([reference, fast])
    assert text.startswith("Trained on the fast path: micro-batch 8 × 4 accumulation, gradient checkpointing off")
    for said in ("padding-free rows", "the loss in chunks (chunked)", "packed weights", "PCG64"):
        assert said in text
    assert "PCG64" not in train_path_text([{**fast, "fast_dropout": False}])  # runs from before the option


def test_placeholders_say_what_the_run_is_doing():
    mt = {"state": RUNNING, "phase": "train", "method": "lora", "overall": 0.04}
    assert "waiting for the first training step" in curves_waiting(mt, [])
    assert "zero-shot" not in curves_waiting(mt, [])
    assert "zero-shot" in curves_waiting({"state": RUNNING, "phase": "generate", "method": "none"}, [])
    assert "queued" in curves_waiting({"state": QUEUED, "phase": None, "method": "lora"}, [])
    assert "waiting for the first step" in progress_text(mt, [])
    text = progress_text({**mt, "progress_done": 3, "progress_total": 40, "overall": 0.08}, [])
    assert text == "overall 8% · train 3/40"
    assert progress_text({"state": QUEUED, "phase": None, "overall": 0.0}, []).endswith("waiting for a worker")


def test_the_failure_banner_names_the_tools_own_error():
    words = api.glossary()
    frame = pd.DataFrame(
        [
            {"tool": "checkstyle-sun", "status": "failed", "n_samples": 3,
             "example_detail": "checkstyle cannot parse this file at line 2: unexpected token: class (a syntax error)"},
            {"tool": "checkstyle-sun", "status": "ok", "n_samples": 5, "example_detail": ""},
            {"tool": "mcs", "status": "failed", "n_samples": 2,
             "example_detail": f"{UNAVAILABLE_PREFIX} mcs not found"},
        ]
    )
    lines = failure_banner(frame, words)
    assert len(lines) == 2
    parse, missing = lines[0], lines[1]
    assert "checkstyle-sun failed on 3 sample(s)" in parse and "could not parse" in parse
    assert "unexpected token: class" in parse and "make setup" not in parse
    assert "mcs failed on 2 sample(s)" in missing and "make setup" in missing


def test_sample_measures_are_a_table_with_meanings():
    words = api.glossary()
    measures = [{"tool": "lizard", "measure": "ccn", "value": 3.0},
                {"tool": "radon", "measure": "mi_rank", "value": 1.0}]
    table = measures_table(measures, words)
    assert list(table.columns) == ["tool", "measure", "value", "meaning"]
    assert table.loc[0, "value"] == "3" and "cyclomatic" in table.loc[0, "meaning"]
    assert "rank" in table.loc[1, "meaning"]


def test_findings_per_sample_divide_by_every_analysed_sample():
    # pylint analysed 10 gen-python and 5 sum-python samples; E findings only in gen-python
    frame = pd.DataFrame({"run_id": ["r"] * 3, "task": ["gen-python", "gen-python", "sum-python"],
                          "tool": ["pylint"] * 3, "category": ["E", "C", "C"], "n_findings": [3, 10, 5],
                          "n_samples": [10, 10, 5]})
    status = pd.DataFrame({"run_id": ["r", "r", "r"], "task": ["gen-python", "sum-python", "sum-python"],
                           "tool": ["pylint"] * 3, "status": ["ok", "ok", "failed"], "n_samples": [10, 5, 2]})
    out = findings_per_sample(frame, status).set_index("category")
    assert out.loc["E", "n_samples"] == 15 and out.loc["E", "per_sample"] == pytest.approx(3 / 15)
    assert out.loc["C", "per_sample"] == pytest.approx(1.0)
    no_status = findings_per_sample(frame, status.iloc[0:0]).set_index("category")
    assert no_status.loc["E", "n_samples"] == 15


def test_a_constant_measure_is_said_not_drawn_on_an_empty_axis():
    frame = pd.DataFrame({"run": ["a", "a"], "value": [0.0, 0.0], "task": ["t", "t"], "outcome": ["failed"] * 2})
    fig = figures.distribution(frame, "lizard ccn")
    assert not fig.data and "every sample has lizard ccn = 0" in fig.layout.annotations[0].text
    assert not figures.quality_vs_correctness(frame, "lizard ccn").data
    varied = frame.assign(value=[1.0, 3.0])
    assert figures.distribution(varied, "lizard ccn").data


def test_sample_findings_keep_their_message_whole():
    table = findings_table([{"tool": "pylint", "rule_id": "E0001", "category": "E", "severity": "error",
                             "line": None, "message": "syntax-error: invalid character"}])
    assert table.to_dict("records") == [
        {"rule": "pylint E0001", "line": "", "severity": "error", "message": "syntax-error: invalid character"}
    ]
