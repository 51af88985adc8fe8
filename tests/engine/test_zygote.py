"""Run processes forked by the worker's zygote (engine.executors.zygote): they compute what a fresh
interpreter computes, hold the run's lock alone, die with the zygote, and a dead zygote falls back to
a fresh interpreter."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from engine.executors import local
from engine.executors.zygote import Zygote
from engine.runs import queue, worker
from engine.runs.rundir import RunDir, release_lock
from engine.settings import load_settings
from engine.spec import parse_run_spec
from tests.process_helpers import alive, wait_for

FORKED = "forked by the zygote"


def _spec(model: Path, method: str = "lora", **train):
    return parse_run_spec({
        "model": {"id": str(model)},
        "method": method,
        "tasks": [{"name": "gen-python", "cap": 16}, {"name": "sum-python", "cap": 16}],
        "lora": {"target_modules": ["q_proj", "v_proj"]},
        "train": {"max_steps": 4, "batch_size": 2, "grad_accum": 1, "max_length": 384, "save_steps": 2,
                  "learning_rate": 1e-3, "logging_steps": 1, **train},
        "eval": {"limit": 2, "max_new_tokens": 12, "batch_size": 2, "timeout_s": 20},
    })


def _run_once(home: Path, model: Path, monkeypatch, preload: str) -> RunDir:
    monkeypatch.setenv("CODETUNE_HOME", str(home))
    monkeypatch.setenv("CODETUNE_PRELOAD", preload)
    settings = load_settings()
    run = RunDir(settings.runs_dir / queue.submit_run(_spec(model), settings).run_id)
    assert worker.work(settings, once=True, stop=lambda: False, log=lambda _: None) == 1
    assert run.read_status().state == "done", run.read_status()
    return run


def test_a_forked_run_computes_what_a_fresh_interpreter_computes(workspace, tiny_model, tmp_path, monkeypatch):
    fresh = _run_once(tmp_path / "fresh", tiny_model, monkeypatch, "0")
    forked = _run_once(tmp_path / "forked", tiny_model, monkeypatch, "1")
    assert FORKED in forked.log_path.read_text() and FORKED not in fresh.log_path.read_text()

    def losses(run: RunDir) -> list[float]:
        return [e["loss"] for e in run.read_events()[0] if e["type"] == "train" and "loss" in e]

    assert len(losses(fresh)) == 4 and losses(forked) == losses(fresh)
    texts = [pq.read_table(r.artifact("generations")).column("completion").to_pylist() for r in (fresh, forked)]
    assert texts[0] and texts[0] == texts[1]
    scores = [sorted((s["task"], s["sample_id"], s["metric"], s["value"])
                     for s in pq.read_table(r.artifact("scores")).to_pylist()) for r in (fresh, forked)]
    assert {"meteor", "bleu"} <= {s[2] for s in scores[0]} and scores[0] == scores[1]  # WordNet read by the zygote


def test_the_run_process_holds_the_lock_alone_and_dies_with_the_zygote(workspace, tiny_model):
    settings = load_settings()
    run = RunDir(settings.runs_dir / queue.submit_run(_spec(tiny_model, max_steps=2000, save_steps=1000),
                                                      settings).run_id)
    claimed, fd = queue.claim_next(settings)
    assert claimed.run_id == run.run_id
    with Zygote(settings.home / "zygote.log", modules=("torch",)) as zygote:
        child = zygote.spawn(run.path, run.log_path, dict(os.environ), fd)
        assert child is not None and zygote.proc is not None
        os.close(fd)  # the test's copy (not unlocked: LOCK_UN would unlock every copy): only the run holds it
        wait_for(lambda: any(e["type"] == "train" for e in run.read_events()[0]), 180, "training to start")
        assert run.is_locked()
        assert os.getsid(child.pid) == child.pid  # its own session: the worker cancels it with killpg
        lock = str(run.path / "lock")
        held = [os.readlink(f) for f in Path(f"/proc/{zygote.proc.pid}/fd").iterdir()]
        assert lock not in held, "the zygote keeps a copy of the run's lock"
        with pytest.raises(Exception, match="run process"):
            child.wait(timeout=0.2)
    # the zygote is gone (as when its worker is killed): the run process dies, and the lock is free
    wait_for(lambda: not alive(child.pid), 30, "the run process to die with its zygote")
    wait_for(lambda: not run.is_locked(), 30, "the lock to be released")
    assert FORKED in run.log_path.read_text()


def _execute_with(zygote: Zygote, model: Path) -> RunDir:
    """Claim and execute a zero-shot run through `zygote` as the worker does; the run, done."""
    settings = load_settings()
    run = RunDir(settings.runs_dir / queue.submit_run(_spec(model, method="none"), settings).run_id)
    claimed, fd = queue.claim_next(settings)
    assert claimed.run_id == run.run_id
    try:
        assert local.execute(run, fd, poll_s=0.2, zygote=zygote) == 0
    finally:
        release_lock(fd)
    assert run.read_status().state == "done"
    return run


def test_a_dead_zygote_falls_back_to_a_fresh_interpreter(workspace, tiny_model):
    with Zygote(workspace / "zygote.log", modules=()) as zygote:
        zygote._start()  # pylint: disable=protected-access
        zygote.proc.kill()
        zygote.proc.wait()
        run = _execute_with(zygote, tiny_model)
        assert zygote.failed
    assert FORKED not in run.log_path.read_text()


def test_a_zygote_that_loaded_the_cuda_driver_does_not_fork(workspace, tiny_model, tmp_path, monkeypatch):
    """CUDA does not survive a fork: a zygote whose libraries loaded the driver refuses, and the runs
    start fresh interpreters (a library named libcuda.so.1 stands in for the driver)."""
    import _json

    library = tmp_path / "libcuda.so.1"
    shutil.copy(_json.__file__, library)
    (tmp_path / "loads_cuda.py").write_text(f"import ctypes\nctypes.CDLL({str(library)!r})\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    with Zygote(workspace / "zygote.log", modules=("loads_cuda",)) as zygote:
        run = _execute_with(zygote, tiny_model)
        assert zygote.failed
    assert "loaded the CUDA driver" in (workspace / "zygote.log").read_text()
    assert FORKED not in run.log_path.read_text()
