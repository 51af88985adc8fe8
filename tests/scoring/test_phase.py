"""The score and analyse phases on a real run directory with hand-written generations: execution
outcomes, pass@k from (n, c) per problem, metric means and corpus values, findings, and resuming
(samples already scored are not executed again)."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from engine.phases import analyse, prepare, score
from engine.phases.context import PhaseContext
from engine.phases.parts import read_rows
from engine.runs.rundir import GENERATIONS_SCHEMA, OUTCOMES_SCHEMA, RunDir, read_json, write_table_atomic
from engine.settings import load_settings
from engine.spec import parse_run_spec


def _context(tmp_path, data_dir, **eval_overrides):
    spec = parse_run_spec({"model": "a/b", "method": "none", "data_dir": str(data_dir),
                           "tasks": ["gen-python", "trans-java-cs", "sum-java"],
                           "eval": {"limit": 2, **eval_overrides}})
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.spec_path.write_text(spec.to_json())
    ctx = PhaseContext(run=run, spec=spec, settings=load_settings())
    prepare.run(ctx)
    return ctx


def _generations(ctx, choose, n_samples=1):
    rows = []
    for ex in ctx.eval_examples():
        for index in range(n_samples):
            prediction = choose(ex, index)
            rows.append({"run_id": ctx.run.run_id, "task": ex.task, "sample_id": ex.id, "sample_index": index,
                         "prompt": ex.input, "completion": prediction, "prediction": prediction,
                         "reference": ex.target, "prompt_tokens": 10, "completion_tokens": 5, "latency_s": 0.5,
                         "batch_size": 2, "finish_reason": "eos"})
    write_table_atomic(ctx.run.artifact("generations"), pa.Table.from_pylist(rows, schema=GENERATIONS_SCHEMA))
    return rows


def _choose(first_ids):
    def choose(ex, index):
        del index
        good = ex.id in first_ids
        if ex.task == "gen-python":
            return ex.target if good else ex.meta["prompt"] + "    return None\n"
        if ex.task == "sum-java":
            return ex.target if good else "completely unrelated words here"
        return ex.target if good else "int x;"
    return choose


def test_score_and_analyse_write_outcomes_metrics_and_findings(tmp_path, data_dir):
    ctx = _context(tmp_path, data_dir)
    examples = ctx.eval_examples()
    first = {next(e.id for e in examples if e.task == t) for t in ("gen-python", "trans-java-cs", "sum-java")}
    _generations(ctx, _choose(first))
    score.run(ctx)
    outcomes = {r["sample_id"]: r for r in read_rows(ctx.run.artifact("outcomes"))}
    assert len(outcomes) == 2  # only gen-python executes
    assert sorted(r["status"] for r in outcomes.values()) == ["failed", "passed"]
    metrics = read_json(ctx.run.file("metrics.json"))["tasks"]
    assert metrics["gen-python"]["pass@1"] == pytest.approx(0.5)
    assert metrics["gen-python"]["exec:passed"] == pytest.approx(0.5)
    assert metrics["trans-java-cs"]["exact_match"] == pytest.approx(0.5)
    assert "codebleu:corpus" in metrics["trans-java-cs"] and "bleu:corpus" in metrics["sum-java"]
    scores = read_rows(ctx.run.artifact("scores"))
    assert all(s["sample_index"] >= 0 for s in scores)
    per = {(s["task"], s["sample_id"], s["metric"]): s["value"] for s in scores}
    for task in ("trans-java-cs", "sum-java"):
        sid = next(e.id for e in examples if e.task == task and e.id in first)
        assert per[(task, sid, "bleu")] == pytest.approx(1.0)
    copied = next(e.id for e in examples if e.task == "trans-java-cs" and e.id in first)
    wrong = next(e.id for e in examples if e.task == "trans-java-cs" and e.id not in first)
    assert per[("trans-java-cs", copied, "codebleu")] == pytest.approx(1.0)
    assert per[("trans-java-cs", wrong, "codebleu")] < 0.5
    assert metrics["trans-java-cs"]["codebleu"] == pytest.approx(
        (per[("trans-java-cs", copied, "codebleu")] + per[("trans-java-cs", wrong, "codebleu")]) / 2)
    analyse.run(ctx)
    quality = read_rows(ctx.run.artifact("quality"))
    tools = {(q["task"], q["tool"]) for q in quality}
    assert ("gen-python", "pylint") in tools and ("trans-java-cs", "mcs") in tools
    assert not any(q["task"] == "sum-java" for q in quality)  # summaries are text, not code
    metrics = read_json(ctx.run.file("metrics.json"))["tasks"]
    assert any(k.startswith("quality:pylint:") for k in metrics["gen-python"])
    assert metrics["gen-python"]["pass@1"] == pytest.approx(0.5)  # analyse keeps the scores


def test_pass_at_k_over_several_samples(tmp_path, data_dir):
    ctx = _context(tmp_path, data_dir, n_samples=2, temperature=0.8, pass_k=[1, 2])
    examples = ctx.eval_examples()
    first = next(e.id for e in examples if e.task == "gen-python")

    def choose(ex, index):
        if ex.task == "gen-python":  # first problem: one of two samples passes; second: none
            return ex.target if (ex.id == first and index == 0) else ex.meta["prompt"] + "    return None\n"
        return ex.target
    _generations(ctx, choose, n_samples=2)
    score.run(ctx)
    metrics = read_json(ctx.run.file("metrics.json"))["tasks"]["gen-python"]
    assert metrics["pass@1"] == pytest.approx((0.5 + 0.0) / 2)
    assert metrics["pass@2"] == pytest.approx((1.0 + 0.0) / 2)


def test_scoring_resumes_without_re_executing(tmp_path, data_dir):
    ctx = _context(tmp_path, data_dir)
    examples = ctx.eval_examples()
    _generations(ctx, _choose(set()))  # everything wrong
    done = next(e for e in examples if e.task == "gen-python")
    parts = ctx.run.file("outcomes.parts")
    parts.mkdir()
    # a part left by an interrupted attempt: its sample must not be executed again
    write_table_atomic(parts / "part-00000.parquet", pa.Table.from_pylist([{
        "run_id": ctx.run.run_id, "task": "gen-python", "sample_id": done.id, "sample_index": 0,
        "status": "passed", "exit_code": 0, "duration_s": 0.1, "stdout_tail": "", "stderr_tail": "",
        "isolation": "test", "reason": "recorded before the restart"}], schema=OUTCOMES_SCHEMA))
    score.run(ctx)
    outcomes = {r["sample_id"]: r for r in read_rows(ctx.run.artifact("outcomes"))}
    assert outcomes[done.id]["reason"] == "recorded before the restart"
    assert [r["status"] for k, r in outcomes.items() if k != done.id] == ["failed"]
    assert not parts.exists()
    events = [json.loads(line) for line in ctx.run.events_path.read_text().splitlines()]
    assert any(e["type"] == "scored" for e in events)
