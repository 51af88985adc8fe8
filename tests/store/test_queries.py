"""Named queries against a seeded store whose answers are known (tests/store/conftest.py KNOWN)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.runs.rundir import FINDINGS_SCHEMA, QUALITY_SCHEMA, write_json_atomic, write_table_atomic
from engine.settings import Settings, load_settings
from store import db, ingest, queries
from tests.store.conftest import KNOWN, TASK, build_run, known_statuses, sid


@dataclass(frozen=True)
class Seeded:
    settings: Settings
    a: str
    b: str
    c: str


def _findings_for_a(run_id: str) -> pa.Table:
    rows = [(0, "pylint", "C0116", "convention", "info", 1), (0, "pylint", "C0103", "convention", "info", 2),
            (1, "pylint", "W0612", "warning", "warning", 3), (2, "lizard", "CCN", "complexity", "warning", 1)]
    return pa.table({
        "run_id": [run_id] * len(rows), "task": [TASK] * len(rows), "sample_id": [sid(r[0]) for r in rows],
        "sample_index": pa.array([0] * len(rows), pa.int32()), "tool": [r[1] for r in rows],
        "rule_id": [r[2] for r in rows], "category": [r[3] for r in rows], "severity": [r[4] for r in rows],
        "line": pa.array([r[5] for r in rows], pa.int32()), "message": [f"m{i}" for i in range(len(rows))],
    }, schema=FINDINGS_SCHEMA)


def _quality_for_a(run_id: str) -> pa.Table:
    rows = [(i, "pylint", "ok", "pylint_score", 10.0 - i) for i in range(6)]
    rows += [(i, "lizard", "ok", "ccn", float(i + 1)) for i in range(4)]
    rows += [(i, "lizard", "skipped", None, None) for i in (4, 5)]
    return pa.table({
        "run_id": [run_id] * len(rows), "task": [TASK] * len(rows), "sample_id": [sid(r[0]) for r in rows],
        "sample_index": pa.array([0] * len(rows), pa.int32()), "tool": [r[1] for r in rows],
        "status": [r[2] for r in rows], "detail": ["" if r[2] == "ok" else "empty input" for r in rows],
        "measure": [r[3] for r in rows], "value": pa.array([r[4] for r in rows], pa.float64()),
    }, schema=QUALITY_SCHEMA)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Seeded:
    home = tmp_path_factory.mktemp("home")
    settings = load_settings({"CODETUNE_HOME": str(home)})
    settings.ensure_dirs()
    a = build_run(settings, n=6, sum_n=3, statuses=known_statuses(0), seed=0)
    b = build_run(settings, model="org/model-1.5B", method="lora", n=6, sum_n=3, statuses=known_statuses(1),
                  seed=1)
    c = build_run(settings, model="org/model-3B", method="fft", tasks=("gen-python", "sum-java"), n=4, seed=2)
    for run, values in ((a, {"pass@1": 0.25, "codebleu": 0.4}), (b, {"pass@1": 0.5, "codebleu": 0.3}),
                        (c, {"pass@1": 0.0, "codebleu": 0.2})):
        write_json_atomic(run / "metrics.json",
                          {"run_id": run.name, "tasks": {TASK: values, "sum-java": {"bleu": 1}}})
    write_table_atomic(a / "findings.parquet", _findings_for_a(a.name))
    write_table_atomic(a / "quality.parquet", _quality_for_a(a.name))
    study = settings.studies_dir / "st-1"
    study.mkdir()
    write_json_atomic(study / "study.json", {"study_id": "st-1", "name": "small", "submitted_at": 1.0,
                                             "runs": [
        {"run_id": b.name, "config": "ST-LoRA", "model": "org/model-1.5B"},
        {"run_id": a.name, "config": "ST-QLoRA", "model": "org/model-0.5B"}]})
    report = ingest.ingest_all(settings)
    assert not report.warnings, report.warnings
    return Seeded(settings, a.name, b.name, c.name)


def test_runs_overview(seeded):
    frame = queries.runs_overview(seeded.settings)
    by_id = frame.set_index("run_id")
    assert set(by_id.index) == {seeded.a, seeded.b, seeded.c}
    assert by_id.loc[seeded.a, "label"] == "ST-QLoRA" and by_id.loc[seeded.c, "label"] == "MT-FFT"
    assert by_id.loc[seeded.b, "model_size"] == "1.5B" and bool(by_id.loc[seeded.c, "is_multitask"])
    assert by_id.loc[seeded.a, "n_generations"] == 9 and by_id.loc[seeded.a, "n_findings"] == 4
    assert by_id.loc[seeded.c, "tasks"] == ["gen-python", "sum-java"]
    assert by_id.loc[seeded.a, "study_ids"] == ["st-1"] and by_id.loc[seeded.c, "study_ids"] == []
    only = queries.runs_overview(seeded.settings, run_ids=[seeded.b], states=["done"])
    assert list(only.run_id) == [seeded.b]


def test_compare_table_deltas_against_the_first_run(seeded):
    frame = queries.compare_table(seeded.settings, [seeded.a, seeded.b, seeded.c], tasks=[TASK],
                                  metrics=["pass@1"])
    assert list(frame.run_id) == [seeded.a, seeded.b, seeded.c]
    assert list(frame.value) == [0.25, 0.5, 0.0]
    assert set(frame.baseline_run_id) == {seeded.a}
    assert frame.delta.tolist() == pytest.approx([0.0, 0.25, -0.25])
    assert frame.rel_delta.tolist() == pytest.approx([0.0, 1.0, -1.0])
    assert list(frame.label) == ["ST-QLoRA", "ST-LoRA", "MT-FFT"]


def test_compare_table_with_a_zero_baseline_has_no_relative_delta(seeded):
    frame = queries.compare_table(seeded.settings, [seeded.a, seeded.c], tasks=[TASK], baseline=seeded.c)
    row = frame[(frame.run_id == seeded.a) & (frame.metric == "pass@1")].iloc[0]
    assert row.delta == pytest.approx(0.25) and pd.isna(row.rel_delta)
    codebleu = frame[(frame.run_id == seeded.a) & (frame.metric == "codebleu")].iloc[0]
    assert codebleu.rel_delta == pytest.approx(1.0)  # (0.4 - 0.2) / 0.2


def test_compare_pivot_orders_runs_as_asked(seeded):
    frame = queries.compare_table(seeded.settings, [seeded.b, seeded.a])
    wide = queries.compare_pivot(frame, value="delta")
    assert list(wide.columns) == [seeded.b, seeded.a]
    assert wide.loc[(TASK, "pass@1"), seeded.a] == pytest.approx(-0.25)
    assert ("sum-java", "bleu") in wide.index


def test_run_metrics_long_form(seeded):
    frame = queries.run_metrics(seeded.settings, [seeded.a], metrics=["codebleu"])
    assert frame[["task", "metric", "value"]].values.tolist() == [[TASK, "codebleu", 0.4]]
    assert frame.model_size.tolist() == ["0.5B"] and frame.method.tolist() == ["qlora"]


def test_paired_pass_joins_on_the_sample_key(seeded):
    frame = queries.paired_pass(seeded.settings, seeded.a, seeded.b, TASK)
    assert frame.sample_id.tolist() == [sid(i) for i in range(6)]
    for i, (status_a, status_b) in KNOWN.items():
        row = frame.iloc[i]
        assert (row.status_a, row.status_b) == (status_a, status_b)
        assert (bool(row.passed_a), bool(row.passed_b)) == (status_a == "passed", status_b == "passed")
    assert len(queries.paired_pass(seeded.settings, seeded.a, seeded.c, TASK)) == 4  # C has samples 0-3


def test_pass_contingency_counts(seeded):
    row = queries.pass_contingency(seeded.settings, seeded.a, seeded.b, TASK).iloc[0]
    assert (row.n, row.both, row.only_a, row.only_b, row.neither) == (6, 1, 2, 1, 2)


def test_paired_scores_match_the_files(seeded):
    frame = queries.paired_scores(seeded.settings, seeded.a, seeded.b, TASK, "bleu")
    scores = {}
    for run in (seeded.a, seeded.b):
        table = pq.read_table(seeded.settings.runs_dir / run / "scores.parquet").to_pandas()
        table = table[(table.task == TASK) & (table.metric == "bleu")]
        scores[run] = dict(zip(table.sample_id, table.value, strict=True))
    assert len(frame) == 6
    for row in frame.itertuples():
        assert row.value_a == pytest.approx(scores[seeded.a][row.sample_id])
        assert row.diff == pytest.approx(scores[seeded.b][row.sample_id] - scores[seeded.a][row.sample_id])


@pytest.mark.parametrize(("flt", "expected"), [
    ("all", [0, 1, 2, 3, 4, 5]),
    ("a_pass_b_fail", [1, 4]),
    ("a_fail_b_pass", [2]),
    ("all_pass", [0]),
    ("all_fail", [3, 5]),
    ("disagree", [1, 2, 4]),
    ("any_error", [4, 5]),
])
def test_sample_list_filters(seeded, flt, expected):
    frame = queries.sample_list(seeded.settings, [seeded.a, seeded.b], TASK, filter=flt)
    assert frame.sample_id.tolist() == [sid(i) for i in expected]
    assert set(frame.n_total) <= {len(expected)}


def test_sample_list_columns_paging_and_run_b(seeded):
    ids = [seeded.a, seeded.b, seeded.c]
    page = queries.sample_list(seeded.settings, ids, TASK, limit=2, offset=2)
    assert page.sample_id.tolist() == [sid(2), sid(3)]
    assert page.n_total.tolist() == [6, 6]
    assert page[f"status:{seeded.a}"].tolist() == ["failed", "failed"]
    assert page[f"status:{seeded.b}"].tolist() == ["passed", "failed"]
    assert page.prompt_head.iloc[0].startswith(f"# {sid(2)}")
    full = queries.sample_list(seeded.settings, ids, TASK).set_index("sample_id")
    assert full.loc[sid(4), "n_runs"] == 2 and full.loc[sid(0), "n_runs"] == 3
    assert pd.isna(full.loc[sid(4), f"status:{seeded.c}"])
    # A and B given explicitly, not the first two runs:
    swapped = queries.sample_list(seeded.settings, ids, TASK, filter="a_pass_b_fail", run_a=seeded.b,
                                  run_b=seeded.a)
    assert swapped.sample_id.tolist() == [sid(2)]


def test_sample_list_search(seeded):
    ids = [seeded.a, seeded.b]
    assert queries.sample_list(seeded.settings, ids, TASK, search="00003").sample_id.tolist() == [sid(3)]
    prediction = queries.sample_detail(seeded.settings, TASK, sid(4), [seeded.b]).prediction.iloc[0]
    hits = queries.sample_list(seeded.settings, ids, TASK, search=prediction.upper())
    assert hits.sample_id.tolist() == [sid(4)]
    assert queries.sample_list(seeded.settings, ids, TASK, search="100%_not there").empty


def test_sample_detail_side_by_side(seeded):
    frame = queries.sample_detail(seeded.settings, TASK, sid(1), [seeded.b, seeded.a])
    assert frame.run_id.tolist() == [seeded.b, seeded.a]
    assert frame.prompt.iloc[0] == frame.prompt.iloc[1] and frame.prompt.iloc[0].startswith(f"# {sid(1)}")
    assert frame.status.tolist() == ["failed", "passed"] and frame.passed.tolist() == [False, True]
    a = frame.iloc[1]
    assert [f["rule_id"] for f in a.findings] == ["W0612"] and a.findings[0]["line"] == 3
    assert sorted(s["metric"] for s in a.scores) == ["bleu", "codebleu"]
    assert {(m["tool"], m["measure"]) for m in a.measures} == {("pylint", "pylint_score"), ("lizard", "ccn")}
    assert isinstance(frame.iloc[0].findings, list)
    assert frame.stderr_tail.iloc[0] and frame.label.tolist() == ["ST-LoRA", "ST-QLoRA"]


def test_findings_by_tool_normalised_per_analysed_sample(seeded):
    frame = queries.findings_by_tool(seeded.settings, [seeded.a])
    got = {(r.tool, r.category): (r.n_findings, r.n_samples, r.per_sample) for r in frame.itertuples()}
    assert got == {("pylint", "convention"): (2, 6, pytest.approx(2 / 6)),
                   ("pylint", "warning"): (1, 6, pytest.approx(1 / 6)),
                   ("lizard", "complexity"): (1, 4, pytest.approx(1 / 4))}
    assert frame[frame.category == "convention"].n_samples_with_findings.tolist() == [1]


def test_findings_by_rule(seeded):
    frame = queries.findings_by_rule(seeded.settings, [seeded.a], tool="pylint")
    assert frame.rule_id.tolist()[0] in {"C0116", "C0103", "W0612"} and set(frame.tool) == {"pylint"}
    assert frame.n_findings.sum() == 3


def test_quality_measures_and_status(seeded):
    frame = queries.quality_measures(seeded.settings, [seeded.a], "pylint_score")
    assert frame.value.tolist() == [10.0, 9.0, 8.0, 7.0, 6.0, 5.0]
    assert set(frame.tool) == {"pylint"}
    status = queries.quality_status(seeded.settings, [seeded.a], TASK)
    lizard = status[status.tool == "lizard"].set_index("status")
    assert lizard.loc["ok", "n_samples"] == 4 and lizard.loc["skipped", "n_samples"] == 2
    assert lizard.loc["skipped", "example_detail"] == "empty input"
    names = queries.quality_measure_names(seeded.settings, [seeded.a])
    assert set(names.measure) == {"ccn", "pylint_score"}


def test_quality_vs_correctness(seeded):
    frame = queries.quality_vs_correctness(seeded.settings, [seeded.a], TASK, measures=["ccn"])
    assert frame.sample_id.tolist() == [sid(i) for i in range(4)]
    assert frame.value.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert frame.passed.tolist() == [KNOWN[i][0] == "passed" for i in range(4)]


def test_tasks_generation_outcome_and_score_summaries(seeded):
    tasks = queries.tasks_present(seeded.settings).set_index("task")
    assert tasks.loc[TASK, "n_runs"] == 3 and tasks.loc[TASK, "n_samples"] == 6
    assert tasks.loc[TASK, "n_generations"] == 16 and tasks.loc["sum-java", "n_generations"] == 6
    only_a = queries.tasks_present(seeded.settings, [seeded.a]).set_index("task")
    assert only_a.loc[TASK, "n_generations"] == 6
    stats = queries.generation_stats(seeded.settings, [seeded.a, seeded.b], TASK)
    assert stats.n.tolist() == [6, 6] and (stats.tokens_per_s > 0).all()
    summary = queries.outcome_summary(seeded.settings, [seeded.a], TASK).set_index("status")
    assert summary.n.to_dict() == {"passed": 3, "failed": 2, "error": 1}
    assert summary.share.sum() == pytest.approx(1.0)
    values = queries.sample_scores(seeded.settings, [seeded.a, seeded.b], TASK, "codebleu")
    assert len(values) == 12 and set(values.label) == {"ST-QLoRA", "ST-LoRA"}
    names = queries.metric_names(seeded.settings)
    assert set(zip(names.task, names.metric, strict=True)) == {(TASK, "pass@1"), (TASK, "codebleu"),
                                                               ("sum-java", "bleu")}


def test_run_events(seeded):
    train = queries.run_events(seeded.settings, seeded.a, types=["train"])
    assert train.step.tolist() == [1, 2, 3, 4, 5]
    assert train.loss.tolist() == pytest.approx([2.0, 1.0, 2 / 3, 0.5, 0.4])
    every = queries.run_events(seeded.settings, seeded.a)
    assert every.seq.tolist() == list(range(1, len(every) + 1))
    assert every[every.type == "phase"].status.tolist() == ["start", "end"]
    tail = queries.run_events(seeded.settings, seeded.a, since_seq=3, limit=2)
    assert tail.seq.tolist() == [len(every) - 1, len(every)]


def test_studies_and_their_runs(seeded):
    frame = queries.studies(seeded.settings)
    row = frame.iloc[0]
    assert (row.study_id, row.n_runs, row.n_ingested, row.n_done) == ("st-1", 2, 2, 2)
    assert row.configs == ["ST-LoRA", "ST-QLoRA"]
    members = queries.study_runs(seeded.settings, "st-1")
    assert members.run_id.tolist() == [seeded.b, seeded.a]
    assert members.label.tolist() == ["ST-LoRA", "ST-QLoRA"]


def test_queries_share_one_connection_and_run_by_name(seeded):
    with db.connect(seeded.settings) as conn:
        first = queries.run_query(conn, "runs_overview")
        second = queries.run_query(conn, "paired_pass", run_a=seeded.a, run_b=seeded.b, task=TASK)
    assert len(first) == 3 and len(second) == 6
    with pytest.raises(KeyError, match="unknown query"):
        queries.run_query(seeded.settings, "nope")
    with pytest.raises(ValueError, match="unknown sample filter"):
        queries.sample_list(seeded.settings, [seeded.a], TASK, filter="weird")
    with pytest.raises(ValueError, match="needs two runs"):
        queries.sample_list(seeded.settings, [seeded.a], TASK, filter="a_pass_b_fail")


def test_no_runs_gives_empty_frames_with_columns(seeded):
    assert list(queries.compare_table(seeded.settings, []).columns)[:3] == ["task", "metric", "run_id"]
    assert queries.compare_table(seeded.settings, []).empty
    assert queries.findings_by_tool(seeded.settings, []).empty
    empty = queries.sample_list(seeded.settings, [], TASK)
    assert empty.empty and "sample_id" in empty.columns
    assert queries.runs_overview(seeded.settings, run_ids=[]).empty


def test_a_reader_gives_the_same_answers(seeded):
    reader = db.Reader(seeded.settings)
    try:
        calls = [("runs_overview", {}), ("compare_table", {"run_ids": [seeded.a, seeded.b]}),
                 ("sample_list", {"run_ids": [seeded.a, seeded.b], "task": TASK, "filter": "disagree"}),
                 ("sample_detail", {"task": TASK, "sample_id": sid(1), "run_ids": [seeded.a, seeded.b]}),
                 ("findings_by_tool", {"run_ids": [seeded.a]})]
        for name, params in calls:
            pd.testing.assert_frame_equal(queries.run_query(reader, name, **params),
                                          queries.run_query(seeded.settings, name, **params))
    finally:
        reader.close()
