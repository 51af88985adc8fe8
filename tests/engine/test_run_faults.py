"""Faults around the queue: concurrent submits of the same runs, unreadable run files, a run folder
removed while it runs, a full disk at claim time. Nothing is lost, nothing stops the queue, and every
problem names the file."""

from __future__ import annotations

import errno
import json
import multiprocessing
import shutil

import pytest

from engine.runs import queue, worker
from engine.runs.rundir import RunDir, iter_runs
from engine.settings import load_settings
from engine.spec import parse_study_spec
from engine.vocabulary import CORRUPT, DONE, QUEUED


def _study(name: str, models: list[str]):
    return parse_study_spec({"name": name, "models": models, "tasks": ["gen-python", "sum-java"],
                             "configurations": [{"name": "ST-LoRA", "method": "lora", "mode": "single"},
                                                {"name": "MT-LoRA", "method": "lora"}]})


def _submit_in_child(name, models, home, barrier, results):
    import os

    os.environ["CODETUNE_HOME"] = home
    barrier.wait()
    try:
        record = queue.submit_study(_study(name, models), load_settings(), check=False)
        results.put((name, len(record["runs"]), None))
    except Exception as exc:  # pylint: disable=broad-exception-caught  # reported to the parent
        results.put((name, 0, repr(exc)))


def test_concurrent_submits_of_shared_runs_lose_nothing(tmp_path, monkeypatch):
    """Two studies sharing most of their runs, submitted at the same instant by two processes, both
    succeed, and every run directory is complete (spec.json and status.json, state queued)."""
    ctx = multiprocessing.get_context("fork")
    shared = [f"org/model-{i}" for i in range(6)]
    for trial in range(3):
        home = tmp_path / f"home{trial}"
        monkeypatch.setenv("CODETUNE_HOME", str(home))
        barrier, results = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_submit_in_child, args=(name, models, str(home), barrier, results))
                 for name, models in (("a", shared), ("b", [*shared, "org/other"]))]
        for proc in procs:
            proc.start()
        outcomes = [results.get(timeout=60) for _ in procs]
        for proc in procs:
            proc.join(timeout=60)
            assert proc.exitcode == 0
        assert all(error is None for _, _, error in outcomes), outcomes
        settings = load_settings()
        folders = [p for p in settings.runs_dir.iterdir()]
        assert not [p.name for p in folders if p.name.startswith(".")], "staging folders left behind"
        runs = list(iter_runs(settings.runs_dir))
        assert len(runs) == len(folders) == 7 * 4  # (zero-shot + 2 ST + 1 MT) per model, 7 models
        assert all(r.status_path.exists() and r.read_status().state == QUEUED for r in runs)
        studies = {s["name"]: s for s in queue.list_studies(settings)}
        assert set(studies) == {"a", "b"} and len(studies["b"]["runs"]) == 28


@pytest.mark.parametrize("content, why", [
    (b"\xff\xfe{not utf-8", "not UTF-8"),
    (b"[1, 2]", "holds list"),
    (b'{"state": "done", "phases_do', "not valid JSON"),
    (b'{"state": "exploded"}', "no valid state"),
    (None, "missing"),
])
def test_an_unreadable_status_marks_the_run_corrupt_and_the_queue_goes_on(tmp_path, monkeypatch, content, why):
    monkeypatch.setenv("CODETUNE_HOME", str(tmp_path))
    settings = load_settings()
    record = queue.submit_study(_study("s", ["org/m"]), settings, check=False)
    bad = RunDir(settings.runs_dir / record["runs"][0]["run_id"])
    if content is None:
        bad.status_path.unlink()
    else:
        bad.status_path.write_bytes(content)
    (bad.path / "heartbeat.json").write_text('"a json string"', encoding="utf-8")
    rows = {r["run_id"]: r for r in queue.list_runs(settings)}
    row = rows[bad.run_id]
    assert row["state"] == CORRUPT and row["heartbeat"] is None
    assert why in row["error"]["message"] and str(bad.status_path) in row["error"]["message"]
    assert all(r["state"] == QUEUED for rid, r in rows.items() if rid != bad.run_id)
    claimed = []
    while (got := queue.claim_next(settings)) is not None:
        run, fd = got
        claimed.append(run.run_id)
        run.update_status(state=DONE)
        worker.release_lock(fd)
    assert bad.run_id not in claimed and len(claimed) == len(rows) - 1
    assert queue.resume_run(settings, bad.run_id) == QUEUED  # resuming starts its status afresh
    assert bad.read_status().state == QUEUED and bad.read_status().phases_done == []


def test_the_cli_names_the_corrupt_file(tmp_path, monkeypatch, capsys):
    from ui import cli

    monkeypatch.setenv("CODETUNE_HOME", str(tmp_path))
    settings = load_settings()
    record = queue.submit_study(_study("s", ["org/m"]), settings, check=False)
    bad = RunDir(settings.runs_dir / record["runs"][0]["run_id"])
    bad.status_path.write_bytes(b"\xff\xfe")
    assert cli.main(["status"]) == 0
    assert cli.main(["status", bad.run_id]) == 0
    out = capsys.readouterr().out
    assert CORRUPT in out and "status.json is not UTF-8" in out


def test_a_run_removed_while_running_does_not_stop_the_worker(tmp_path, monkeypatch):
    monkeypatch.setenv("CODETUNE_HOME", str(tmp_path))
    settings = load_settings()
    record = queue.submit_study(_study("s", ["org/m"]), settings, check=False)
    ids = [r["run_id"] for r in record["runs"]][:2]
    for other in [r["run_id"] for r in record["runs"]][2:]:
        queue.cancel_run(settings, other)

    def fake_execute(run, fd, **_):
        del fd
        if run.run_id == ids[0]:
            shutil.rmtree(run.path)  # `rm -rf` of the running run's folder
            return -9
        run.update_status(state=DONE)
        return 0

    monkeypatch.setattr("engine.executors.local.execute", fake_execute)
    messages: list[str] = []
    assert worker.work(settings, once=True, stop=lambda: False, log=messages.append) == 2
    assert any("removed while running" in m for m in messages)
    assert RunDir(settings.runs_dir / ids[1]).read_status().state == DONE


def test_a_full_disk_at_claim_time_leaves_the_run_queued_and_no_temp_file(tmp_path, monkeypatch):
    monkeypatch.setenv("CODETUNE_HOME", str(tmp_path))
    settings = load_settings()
    record = queue.submit_study(_study("s", ["org/m"]), settings, check=False)

    def full_disk(data, fh, **_):
        fh.write(json.dumps(data)[:10])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("engine.runs.rundir.json.dump", full_disk)
    with pytest.raises(OSError):
        queue.claim_next(settings)
    messages: list[str] = []
    assert worker.work(settings, once=True, stop=lambda: False, log=messages.append) == 0
    assert any("No space left" in m for m in messages)
    monkeypatch.undo()
    runs = [RunDir(settings.runs_dir / r["run_id"]) for r in record["runs"]]
    assert all(r.read_status().state == QUEUED and not r.is_locked() for r in runs)
    assert not list(settings.runs_dir.glob("*/.*.tmp"))


def test_a_failed_parquet_write_leaves_no_temp_file(tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from engine.runs.rundir import write_table_atomic

    def full_disk(table, where, **_):
        del table
        with open(where, "wb") as fh:
            fh.write(b"PAR1")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq, "write_table", full_disk)
    with pytest.raises(OSError):
        write_table_atomic(tmp_path / "generations.parquet", pa.table({"a": [1]}))
    assert list(tmp_path.iterdir()) == []


def test_the_process_of_a_removed_run_is_stopped(tmp_path, monkeypatch):
    """`rm -rf` of a running run: the worker stops its process at once (it would keep the device and
    could write into a run resubmitted under the same id) instead of leaving it to run on."""
    import subprocess
    import sys
    import threading

    from engine.executors import local

    monkeypatch.setenv("CODETUNE_HOME", str(tmp_path))
    settings = load_settings()
    record = queue.submit_study(_study("s", ["org/m"]), settings, check=False)
    run, fd = queue.claim_next(settings)
    assert run.run_id == record["runs"][0]["run_id"]
    started = []
    real_popen = subprocess.Popen

    def popen(*args, **kwargs):
        proc = real_popen(*args, **kwargs)
        started.append(proc)
        return proc

    monkeypatch.setattr(local, "child_command", lambda _: [sys.executable, "-c", "import time; time.sleep(120)"])
    monkeypatch.setattr(local.subprocess, "Popen", popen)
    remover = threading.Timer(0.5, shutil.rmtree, args=(run.path,))
    remover.start()
    try:
        with pytest.raises(OSError):
            local.execute(run, fd, poll_s=0.1)
    finally:
        remover.cancel()
        worker.release_lock(fd)
    assert started and started[0].poll() is not None  # killed and reaped, not left running


def test_a_run_that_cannot_be_recorded_on_a_full_disk_does_not_stop_the_worker(tmp_path, monkeypatch):
    """The run process fails on a full disk and the worker cannot write the outcome either: the worker
    says so and goes on; the run keeps `running` with a free lock and is resumed by the next claim."""
    monkeypatch.setenv("CODETUNE_HOME", str(tmp_path))
    settings = load_settings()
    record = queue.submit_study(_study("s", ["org/m"]), settings, check=False)
    first = record["runs"][0]["run_id"]
    for other in [r["run_id"] for r in record["runs"]][1:]:
        queue.cancel_run(settings, other)
    real_dump = json.dump

    def full_disk(data, fh, **kwargs):
        if data.get("state") == "failed":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_dump(data, fh, **kwargs)

    monkeypatch.setattr("engine.executors.local.execute", lambda run, fd, **_: 1)
    monkeypatch.setattr("engine.runs.rundir.json.dump", full_disk)
    monkeypatch.setattr(worker, "IDLE_POLL_S", 0.01)
    messages: list[str] = []
    assert worker.work(settings, max_runs=1, stop=lambda: False, log=messages.append) == 1
    assert any("cannot record" in m and "No space left" in m for m in messages), messages
    run = RunDir(settings.runs_dir / first)
    assert run.read_status().state == "running" and not run.is_locked()
    assert not list(run.path.glob(".*.tmp"))
    monkeypatch.undo()
    claimed, fd = queue.claim_next(settings)
    worker.release_lock(fd)
    assert claimed.run_id == first and claimed.read_status().attempts == 2


def test_a_status_scribbled_over_while_the_run_runs_ends_done_without_an_error(tmp_path, monkeypatch):
    """status.json overwritten with garbage mid-run: the run shows `corrupt` (never claimed twice) until
    its owner finishes it; then it is done, with every phase and no stale CorruptRunFile error."""
    from engine.phases import recipe
    from engine.vocabulary import PHASES

    monkeypatch.setenv("CODETUNE_HOME", str(tmp_path))
    settings = load_settings()
    queue.submit_study(_study("s", ["org/m"]), settings, check=False)
    run, fd = queue.claim_next(settings)

    def scribble(ctx):
        ctx.run.status_path.write_bytes(b"\x00garbage")
        ctx.progress("generate", 1, 1, force=True)
        assert queue.run_summary(ctx.run)["state"] == CORRUPT

    phases = {name: (lambda ctx: None) for name in PHASES}
    phases["generate"] = scribble
    monkeypatch.setattr(recipe, "PHASE_FUNCTIONS", phases)
    try:
        assert recipe.execute(run, settings) == DONE
    finally:
        worker.release_lock(fd)
    status = run.read_status()
    assert status.state == DONE and status.error is None and status.phases_done == list(PHASES)


def test_events_that_are_not_json_objects_are_skipped(tmp_path):
    """A torn, non-UTF-8 or non-object line in events.jsonl is skipped, not raised (it stopped
    anything that follows a run's events)."""
    run = RunDir(tmp_path)
    run.append_event("claimed", resumed=False)
    with open(run.events_path, "ab") as fh:
        fh.write(b'{"t": 1, "type": "tor\xff\n[1, 2]\n"text"\n{"t": 2, "type": "half\n')
    run.append_event("done")
    events, offset = run.read_events()
    assert [e["type"] for e in events] == ["claimed", "done"]
    assert offset == run.events_path.stat().st_size


def test_the_cli_reports_a_full_disk_as_an_error_not_a_traceback(tmp_path, monkeypatch, capsys):
    from ui import cli

    monkeypatch.setenv("CODETUNE_HOME", str(tmp_path))

    def full_disk(*_, **__):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("engine.api.submit", full_disk)
    assert cli.main(["submit", "demo-run", "--no-check"]) == 1
    err = capsys.readouterr().err
    assert "error: [Errno 28] No space left on device" in err and "Traceback" not in err
