"""Ingest of run directories: rows, idempotent re-ingest, replacement, corrupt files, reindex, pruning."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.runs.queue import run_summary
from engine.runs.rundir import OUTCOMES_SCHEMA, RunDir, write_json_atomic, write_table_atomic
from engine.vocabulary import config_label, is_multitask, model_size
from store import db, ingest, schema
from tests.store.conftest import TASK, known_statuses, sid

PER_RUN_TABLES = ("runs", "events", "metrics", "generations", "outcomes", "scores", "findings", "quality")


def count(settings, table: str, run_id: str | None = None) -> int:
    with db.connect(settings) as conn:
        if run_id is None:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        return conn.execute(f"SELECT count(*) FROM {table} WHERE run_id = ?", [run_id]).fetchone()[0]


def snapshot(settings) -> dict[str, list[tuple]]:
    """Every data table's rows, sorted, without the ingest time stamps."""
    out = {}
    with db.connect(settings) as conn:
        for table in schema.DATA_TABLES:
            cols = [c for (c,) in conn.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index", [table]
            ).fetchall() if c != "ingested_at"]
            rows = conn.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall()
            out[table] = sorted(rows, key=repr)
    return out


def parquet_rows(path: Path) -> int:
    return pq.read_metadata(path).num_rows


def test_ingest_creates_rows_for_every_artifact(settings, make_run):
    run = make_run(n=6, sum_n=4, statuses=known_statuses(0))
    other = make_run(model="org/model-1.5B", method="lora", seed=1)
    report = ingest.ingest_all(settings)

    assert sorted(report.runs_updated) == sorted([run.name, other.name])
    assert not report.warnings
    for name in ("generations", "outcomes", "scores", "findings", "quality"):
        assert count(settings, name, run.name) == parquet_rows(run / f"{name}.parquet")
    lines = (run / "events.jsonl").read_text().splitlines()
    assert count(settings, "events", run.name) == len(lines)
    metrics = json.loads((run / "metrics.json").read_text())["tasks"]
    assert count(settings, "metrics", run.name) == sum(len(v) for v in metrics.values())
    with db.connect(settings) as conn:
        row = conn.execute(
            "SELECT label, model, model_size, model_params_b, method, is_multitask, tasks, families, state, "
            "spec_valid, spec_hash FROM runs WHERE run_id = ?", [run.name]).fetchone()
        statuses = dict(conn.execute(
            "SELECT sample_id, status FROM outcomes WHERE run_id = ? AND task = ?", [run.name, TASK]
        ).fetchall())
    assert row[:6] == ("ST-QLoRA", "org/model-0.5B", "0.5B", 0.5, "qlora", False)
    assert list(row[6]) == [TASK] and list(row[7]) == ["generation"]
    assert row[8] == "done" and row[9] is True and len(row[10]) == 64
    assert statuses[sid(1)] == "passed" and statuses[sid(5)] == "error"


def test_multitask_and_zero_shot_labels(settings, make_run):
    mt = make_run(method="fft", tasks=("gen-python", "sum-java"))
    zs = make_run(method="none", seed=2, model="HuggingFaceTB/SmolLM2-135M-Instruct")
    ingest.ingest_all(settings)
    with db.connect(settings) as conn:
        rows = dict((r[0], r[1:]) for r in conn.execute(
            "SELECT run_id, label, is_multitask, model_size, model_params_b FROM runs").fetchall())
    assert rows[mt.name] == ("MT-FFT", True, "0.5B", 0.5)
    assert rows[zs.name][:3] == ("zero-shot", False, "135M")
    assert rows[zs.name][3] == pytest.approx(0.135)


def test_reingest_with_nothing_changed_adds_nothing_and_never_writes(settings, make_run):
    make_run()
    make_run(seed=1, model="org/model-3B")
    ingest.ingest_all(settings)
    before = snapshot(settings)
    report = ingest.ingest_all(settings)
    assert not report.changed
    assert report.write_sessions == 0  # planned on a read-only connection: no write lock taken
    assert report.files_ingested == 0
    assert snapshot(settings) == before
    assert "nothing changed" in str(report)


def test_modified_artifact_is_replaced_not_duplicated(settings, make_run):
    run = make_run(n=6)
    ingest.ingest_all(settings)
    table = pq.read_table(run / "outcomes.parquet")
    smaller = table.slice(0, 4).set_column(
        table.schema.get_field_index("status"), "status", pa.array(["violation"] * 4))
    write_table_atomic(run / "outcomes.parquet", smaller.cast(OUTCOMES_SCHEMA))
    write_json_atomic(run / "metrics.json",
                      {"run_id": run.name, "tasks": {TASK: {"pass@1": 0.75, "note": "x"}}})

    report = ingest.ingest_all(settings)
    assert report.runs_updated == [run.name]
    assert report.files_ingested == 2
    with db.connect(settings) as conn:
        statuses = conn.execute("SELECT DISTINCT status FROM outcomes WHERE run_id = ?",
                                [run.name]).fetchall()
        metrics = conn.execute("SELECT task, metric, value FROM metrics WHERE run_id = ?",
                               [run.name]).fetchall()
    assert count(settings, "outcomes", run.name) == 4
    assert statuses == [("violation",)]
    assert metrics == [(TASK, "pass@1", 0.75)]  # the non-numeric value is not a metric
    assert count(settings, "generations", run.name) == 6  # untouched artifacts keep their rows


def test_status_change_updates_the_run_row(settings, make_run):
    run = make_run(state="running")
    ingest.ingest_all(settings)
    status = json.loads((run / "status.json").read_text())
    status.update(state="failed", error={"phase": "generate", "type": "OOM", "message": "out of memory"})
    write_json_atomic(run / "status.json", status)
    ingest.ingest_all(settings)
    with db.connect(settings) as conn:
        rows = conn.execute("SELECT state, error_phase, error_type, error_message FROM runs").fetchall()
    assert rows == [("failed", "generate", "OOM", "out of memory")]


def test_events_are_appended_incrementally_and_partial_lines_wait(settings, make_run):
    run = make_run()
    ingest.ingest_all(settings)
    first = count(settings, "events", run.name)
    with open(run / "events.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"t": 1.0, "type": "train", "step": 99, "loss": 0.1}) + "\n")
        fh.write('{"t": 2.0, "type": "train", "st')  # a writer mid-append
    ingest.ingest_all(settings)
    assert count(settings, "events", run.name) == first + 1
    with open(run / "events.jsonl", "a", encoding="utf-8") as fh:
        fh.write('ep": 100, "loss": NaN}\nnot json\n')
    report = ingest.ingest_all(settings)
    assert any("not JSON" in w for w in report.warnings)
    with db.connect(settings) as conn:
        rows = conn.execute("SELECT seq, step, record FROM events WHERE run_id = ? ORDER BY seq",
                            [run.name]).fetchall()
    assert [r[0] for r in rows] == list(range(1, first + 3))  # seq = line number, no gaps, no duplicates
    assert rows[-1][1] == 100 and json.loads(rows[-1][2])["loss"] is None  # NaN stored as null


def test_corrupt_parquet_is_skipped_with_a_warning_and_ingested_once_fixed(settings, make_run):
    run = make_run(n=6)
    good = (run / "findings.parquet").read_bytes()
    (run / "findings.parquet").write_bytes(b"PAR1 this is not parquet")
    report = ingest.ingest_all(settings)
    assert any("findings.parquet" in w and run.name in w for w in report.warnings), report.warnings
    assert count(settings, "findings", run.name) == 0
    assert count(settings, "generations", run.name) == 6  # the run's other files went in

    again = ingest.ingest_all(settings)  # unchanged broken file: reported again, not retried
    assert again.write_sessions == 0
    assert any("findings.parquet" in w for w in again.warnings)

    tmp = run / ".findings.tmp"
    tmp.write_bytes(good)
    tmp.replace(run / "findings.parquet")
    fixed = ingest.ingest_all(settings)
    assert not fixed.warnings
    assert count(settings, "findings", run.name) == parquet_rows(run / "findings.parquet") > 0


def test_truncated_parquet_keeps_the_previous_rows_until_complete(settings, make_run):
    run = make_run(n=6)
    ingest.ingest_all(settings)
    data = (run / "scores.parquet").read_bytes()
    (run / "scores.parquet").write_bytes(data[: len(data) // 2])  # a partial copy on a foreign FS
    report = ingest.ingest_all(settings)
    assert any("scores.parquet" in w for w in report.warnings)
    assert count(settings, "scores", run.name) == 12  # the last good version's rows stay
    (run / "scores.parquet").write_bytes(data)
    assert not ingest.ingest_all(settings).warnings
    assert count(settings, "scores", run.name) == 12


def test_corrupt_json_files_are_reported_and_the_run_still_listed(settings, make_run):
    run = make_run()
    (run / "status.json").write_text("{not json", encoding="utf-8")
    (run / "metrics.json").write_text("[1, 2", encoding="utf-8")
    report = ingest.ingest_all(settings)
    text = "\n".join(report.warnings)
    assert "status.json" in text and "metrics.json" in text
    with db.connect(settings) as conn:
        assert conn.execute("SELECT label, state FROM runs").fetchall() == [("ST-QLoRA", None)]
    write_json_atomic(run / "status.json", {"state": "done"})
    write_json_atomic(run / "metrics.json", {"tasks": {TASK: {"pass@1": 0.5}}})
    assert not ingest.ingest_all(settings).warnings
    with db.connect(settings) as conn:
        assert conn.execute("SELECT state FROM runs").fetchall() == [("done",)]
    assert count(settings, "metrics") == 1


def test_spec_that_no_longer_validates_is_kept_with_its_method_as_label(settings, make_run):
    run = make_run()
    spec = json.loads((run / "spec.json").read_text())
    spec["tasks"] = [{"name": "a-task-removed-since"}, {"name": "another"}]
    spec["surprise"] = 1
    write_json_atomic(run / "spec.json", spec)
    ingest.ingest_all(settings)
    with db.connect(settings) as conn:
        row = conn.execute("SELECT spec_valid, label, is_multitask, model_size, n_tasks FROM runs").fetchone()
    # engine.vocabulary.summarise: the method alone, never a guess at ST/MT from a count of tasks
    assert row == (False, config_label("qlora", None), None, "0.5B", 2)


@pytest.mark.parametrize("tasks", [
    [{"name": "gen-python"}],  # ST
    [{"name": "gen-python"}, {"name": "sum-java"}],  # MT
    [{"name": "gen-python"}, {"name": "a-task-removed-since"}],  # a task this version does not know
    [{"name": "gen-python"}, {"bad": 1}],  # does not validate
])
def test_the_runs_row_says_what_the_queue_says(settings, make_run, tasks):
    run = make_run()
    spec = json.loads((run / "spec.json").read_text())
    spec["tasks"] = tasks
    write_json_atomic(run / "spec.json", spec)
    ingest.ingest_all(settings)
    with db.connect(settings) as conn:
        row = conn.execute("SELECT label, families, is_multitask, model_size, model_params_b, spec_valid "
                           "FROM runs").fetchone()
    summary = run_summary(RunDir(run))  # engine.vocabulary.summarise, as the CLI and the UI show it
    assert row[0] == summary["label"]
    assert (list(row[1]) if row[1] is not None else None) == summary["families"]
    assert row[2] == (is_multitask(summary["families"]) if summary["families"] is not None else None)
    assert row[3:] == (summary["model_size"], summary["model_params_b"], summary["spec_valid"])


def test_two_tasks_of_one_family_are_single_task(settings, make_run):
    run = make_run(method="lora", tasks=("gen-python", "gen-java"))
    ingest.ingest_all(settings)
    with db.connect(settings) as conn:
        row = conn.execute("SELECT label, is_multitask, families, n_tasks FROM runs WHERE run_id = ?",
                           [run.name]).fetchone()
    assert row[:2] == ("ST-LoRA", False)
    assert list(row[2]) == ["generation"] and row[3] == 2


def test_reindex_rebuilds_identical_content(settings, make_run):
    make_run(n=6, sum_n=3)
    make_run(seed=1, method="lora")
    study = settings.studies_dir / "s-1"
    study.mkdir()
    write_json_atomic(study / "study.json", {"study_id": "s-1", "name": "S", "spec": {},
                                             "runs": [{"run_id": "x", "config": "ST-QLoRA", "model": "m"}]})
    ingest.ingest_all(settings)
    before = snapshot(settings)
    report = ingest.reindex(settings)
    assert report.rebuilt and "reindex" in str(report)
    assert snapshot(settings) == before
    assert before["generations"] and before["study_runs"]


def test_reindex_replaces_an_unreadable_database(settings, make_run):
    make_run()
    settings.db_path.write_bytes(b"this is no duckdb file" * 100)
    with pytest.raises(db.StoreError, match="reindex"), db.connect(settings):
        pass
    report = ingest.reindex(settings)
    assert any("moved aside" in w for w in report.warnings)
    assert count(settings, "runs") == 1
    assert list(settings.db_path.parent.glob("codetune.duckdb.corrupt-*"))


def test_deleted_run_directories_and_studies_are_pruned(settings, make_run):
    keep = make_run()
    gone = make_run(seed=1, model="org/model-3B")
    study = settings.studies_dir / "s-2"
    study.mkdir()
    write_json_atomic(study / "study.json", {"study_id": "s-2", "name": "S", "runs": [{"run_id": gone.name}]})
    ingest.ingest_all(settings)
    shutil.rmtree(gone)
    shutil.rmtree(study)
    report = ingest.ingest_all(settings)
    assert report.runs_pruned == [gone.name] and report.studies_pruned == ["s-2"]
    for table in PER_RUN_TABLES:
        assert count(settings, table, gone.name) == 0, table
    assert count(settings, "generations", keep.name) == 6
    assert count(settings, "studies") == count(settings, "study_runs") == 0
    with db.connect(settings) as conn:
        owners = {o for (o,) in conn.execute("SELECT DISTINCT owner FROM ingested_files").fetchall()}
    assert owners == {keep.name}


def test_a_removed_artifact_removes_its_rows(settings, make_run):
    run = make_run()
    ingest.ingest_all(settings)
    (run / "quality.parquet").unlink()
    ingest.ingest_all(settings)
    assert count(settings, "quality", run.name) == 0
    assert count(settings, "generations", run.name) == 6


def test_hidden_folders_are_not_runs(settings, make_run):
    run = make_run()
    shutil.copytree(run, settings.runs_dir / f".{run.name}.partial")
    assert ingest.ingest_all(settings).runs_seen == 1


def test_ingest_of_one_run_and_limited_ingest(settings, make_run):
    a = make_run()
    b = make_run(seed=1, model="org/model-3B")
    report = ingest.ingest_all(settings, run_ids=[a.name])
    assert report.runs_updated == [a.name] and report.runs_seen == 1
    assert count(settings, "runs") == 1
    limited = ingest.ingest_all(settings, run_ids=[b.name])
    assert limited.runs_updated == [b.name] and not limited.runs_pruned
    assert count(settings, "runs") == 2


def test_ingest_without_waiting_skips_when_another_ingest_runs(settings, make_run):
    make_run()
    with ingest._ingest_lock(settings.db_path, wait=True):  # pylint: disable=protected-access
        report = ingest.ingest_all(settings, wait=False)
    assert report.skipped and "skipped" in str(report)
    assert ingest.ingest_all(settings, wait=False).runs_updated


def test_studies_are_ingested_with_their_runs(settings, make_run):
    run = make_run()
    study = settings.studies_dir / "paper-abc"
    study.mkdir()
    write_json_atomic(study / "study.json", {
        "study_id": "paper-abc", "name": "Paper", "spec": {"description": "d"}, "submitted_at": 5.0,
        "runs": [{"run_id": run.name, "config": "ST-QLoRA", "model": "org/model-0.5B", "created": True},
                 {"run_id": "not-yet", "config": "MT-FFT", "model": "org/model-0.5B", "created": True}]})
    report = ingest.ingest_all(settings)
    assert report.studies_updated == ["paper-abc"]
    with db.connect(settings) as conn:
        assert conn.execute("SELECT study_id, name, description, submitted_at FROM studies").fetchall() == [
            ("paper-abc", "Paper", "d", 5.0)]
        members = conn.execute("SELECT position, run_id, config FROM study_runs ORDER BY position").fetchall()
    assert members == [(0, run.name, "ST-QLoRA"), (1, "not-yet", "MT-FFT")]


@pytest.mark.parametrize(("model", "label", "billions"), [
    ("Qwen/Qwen2.5-Coder-0.5B-Instruct", "0.5B", 0.5),
    ("Qwen/Qwen2.5-Coder-1.5B-Instruct", "1.5B", 1.5),
    ("Qwen/Qwen2.5-Coder-3B-Instruct", "3B", 3.0),
    ("HuggingFaceTB/SmolLM2-135M-Instruct", "135M", 0.135),
    ("deepseek-ai/deepseek-coder-6.7b-instruct", "6.7B", 6.7),
    ("/models/tiny-qwen/", "tiny-qwen", None),
    ("some/model-0.5B", "0.5B", 0.5),
])
def test_model_size_from_the_model_id(model, label, billions):  # the store asks engine.vocabulary
    shown, size = model_size(model)
    assert shown == label
    assert size == (pytest.approx(billions) if billions is not None else None)


def test_report_reads_well(settings, make_run):
    run = make_run()
    (run / "findings.parquet").write_bytes(b"junk")
    text = str(ingest.ingest_all(settings))
    assert "1 run(s) found, 1 updated" in text
    assert "rows written:" in text and "generations 6" in text
    assert "1 warning(s)" in text and "findings.parquet" in text


def summaries_from_scratch(settings) -> dict[str, list[tuple]]:
    """Every summary table recomputed from the sample tables, next to what the ingest stored."""
    out = {}
    with db.connect(settings) as conn:
        keys = [k for (k,) in conn.execute("SELECT run_key FROM run_keys").fetchall()]
        for name in schema.SUMMARY_TABLES:
            stored = conn.execute(f"SELECT * FROM {name}").fetchall()
            fresh = []
            for key in keys:
                for summary, (_, select) in schema.SUMMARIES.items():
                    if summary.split("/")[0] == name:
                        fresh += conn.execute(select, [key]).fetchall()
            out[name] = (sorted(stored, key=repr), sorted(fresh, key=repr))
    return out


def test_summaries_follow_every_change(settings, make_run):
    run = make_run(n=6, sum_n=3)
    other = make_run(seed=1, model="org/model-3B")
    ingest.ingest_all(settings)
    table = pq.read_table(run / "outcomes.parquet")
    write_table_atomic(run / "outcomes.parquet", table.slice(0, 2))
    (run / "findings.parquet").unlink()
    shutil.rmtree(other)
    ingest.ingest_all(settings)
    for name, (stored, fresh) in summaries_from_scratch(settings).items():
        assert stored == fresh, name
    with db.connect(settings) as conn:
        assert conn.execute("SELECT sum(n) FROM outcome_counts").fetchone() == (2,)
        assert conn.execute("SELECT count(*) FROM finding_counts").fetchone() == (0,)
        assert conn.execute("SELECT count(DISTINCT run_id) FROM gen_summary").fetchone() == (1,)
