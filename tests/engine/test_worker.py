"""The queue and the worker, with real processes: SIGKILL of a worker mid-training resumes from the
last checkpoint; two workers never run the same run; a failing or killed run is recorded and the
queue goes on; cancel and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine.runs import queue
from engine.runs.rundir import RunDir, read_json
from engine.settings import load_settings
from engine.spec import parse_run_spec
from tests.process_helpers import wait_for


def _spec(model: Path, **overrides):
    data = {
        "model": {"id": str(model)},
        "method": "lora",
        "tasks": [{"name": "gen-python", "cap": 16}],
        "lora": {"target_modules": ["q_proj", "v_proj"]},
        "train": {"max_steps": 8, "batch_size": 2, "grad_accum": 1, "max_length": 128, "save_steps": 4,
                  "learning_rate": 1e-3},
        "eval": {"limit": 2, "max_new_tokens": 8, "batch_size": 2, "timeout_s": 20},
    }
    for key, value in overrides.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return parse_run_spec(data)


def _worker(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ui.cli", "worker", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _events(run: RunDir) -> list[dict]:
    return [json.loads(line) for line in run.events_path.read_text().splitlines() if line.strip()]


def test_worker_killed_mid_training_resumes_from_checkpoint(workspace, tiny_model):
    settings = load_settings()
    spec = _spec(tiny_model, train={"max_steps": 400, "save_steps": 5})
    run = RunDir(settings.runs_dir / queue.submit_run(spec, settings).run_id)
    worker = _worker("--once")
    wait_for(lambda: any(e["type"] == "checkpoint" and e["step"] >= 5 for e in _events(run)), 180,
             "a checkpoint")
    child = read_json(run.file("heartbeat.json"), {}).get("child_pid")
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    # the run process dies with its worker (no orphan keeps training) and frees the lock
    wait_for(lambda: not run.is_locked(), 30, "the lock to be released")
    if child:
        wait_for(lambda: not Path(f"/proc/{child}").exists() or
                 "zombie" in Path(f"/proc/{child}/status").read_text().lower(), 30, "the run process to die")
    assert run.read_status().state == "running"
    assert queue.run_summary(run)["state"] == "stalled"
    step_at_kill = max(e["step"] for e in _events(run) if e["type"] == "checkpoint")

    second = _worker("--once")
    out, _ = second.communicate(timeout=600)
    assert second.returncode == 0, out
    status = run.read_status()
    assert status.state == "done", status
    assert status.attempts == 2
    events = _events(run)
    resumes = [e for e in events if e["type"] == "resume"]
    assert resumes and resumes[-1]["checkpoint"].startswith("checkpoint-")
    begins = [e for e in events if e["type"] == "train_begin"]
    assert begins[-1]["resumed_at"] >= 5 and begins[-1]["resumed_at"] <= step_at_kill
    assert read_json(run.file("train_summary.json"))["steps"] == 400
    assert run.artifact("generations").exists() and run.file("metrics.json").exists()


def test_two_workers_claim_each_run_once(workspace, tiny_model):
    settings = load_settings()
    ids = [queue.submit_run(_spec(tiny_model, method="none", train={"seed": i}), settings).run_id
           for i in range(4)]
    assert len(set(ids)) == 4
    workers = [_worker("--once"), _worker("--once")]
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    for run_id in ids:
        run = RunDir(settings.runs_dir / run_id)
        claims = [e for e in _events(run) if e["type"] == "claimed"]
        assert len(claims) == 1, (run_id, claims)
        assert run.read_status().state == "done"
    ran = [line.split("running ")[1] for out in outputs for line in out.splitlines() if "running " in line]
    assert sorted(ran) == sorted(ids)


def test_a_failing_run_is_recorded_and_the_queue_goes_on(workspace, tiny_model, tmp_path):
    settings = load_settings()
    broken = _spec(tiny_model, method="none", data_dir=str(tmp_path / "missing-data"))
    with pytest.raises(Exception, match="data directory does not exist"):
        queue.submit_run(broken, settings)  # the preflight catches it at submit time
    bad = RunDir(settings.runs_dir / queue.submit_run(broken, settings, check=False).run_id)
    good = RunDir(settings.runs_dir / queue.submit_run(_spec(tiny_model, method="none", train={"seed": 5}),
                                                       settings).run_id)
    worker = _worker("--once")
    out, _ = worker.communicate(timeout=600)
    assert worker.returncode == 0, out
    status = bad.read_status()
    assert status.state == "failed"
    assert status.error["phase"] == "prepare"
    assert "does not exist" in status.error["message"] and "CODETUNE_DATA_DIR" in status.error["message"]
    assert good.read_status().state == "done", good.read_status()
    assert (bad.spec_path.exists() and bad.events_path.exists())  # nothing written is lost
    cli = subprocess.run([sys.executable, "-m", "ui.cli", "status", bad.run_id], capture_output=True,
                         text=True, check=True)
    assert "failed" in cli.stdout and "prepare" in cli.stdout


def test_a_run_process_killed_is_marked_failed_and_resumable(workspace, tiny_model):
    settings = load_settings()
    victim = RunDir(settings.runs_dir / queue.submit_run(
        _spec(tiny_model, train={"max_steps": 400, "save_steps": 5}), settings).run_id)
    after = RunDir(settings.runs_dir / queue.submit_run(_spec(tiny_model, method="none"), settings).run_id)
    worker = _worker("--once")
    wait_for(lambda: any(e["type"] == "train" for e in _events(victim)), 180, "training to start")
    child = wait_for(lambda: read_json(victim.file("heartbeat.json"), {}).get("child_pid"), 30, "a heartbeat")
    os.kill(child, signal.SIGKILL)  # e.g. the kernel's OOM killer
    out, _ = worker.communicate(timeout=600)
    status = victim.read_status()
    assert status.state == "failed" and status.error["type"] == "ProcessDied"
    assert "signal 9" in status.error["message"] and status.error["phase"] == "train"
    assert after.read_status().state == "done", out
    assert queue.resume_run(settings, victim.run_id) == "queued"
    assert victim.read_status().state == "queued"


def test_cancel_queued_and_running_runs(workspace, tiny_model):
    settings = load_settings()
    queued = queue.submit_run(_spec(tiny_model, method="none", train={"seed": 99}), settings).run_id
    assert queue.cancel_run(settings, queued) == "cancelled"
    assert RunDir(settings.runs_dir / queued).read_status().state == "cancelled"
    long = RunDir(settings.runs_dir / queue.submit_run(
        _spec(tiny_model, train={"max_steps": 2000, "save_steps": 5}), settings).run_id)
    worker = _worker("--once")
    wait_for(lambda: any(e["type"] == "train" for e in _events(long)), 180, "training to start")
    assert queue.cancel_run(settings, long.run_id) == "cancelling"
    worker.communicate(timeout=300)
    assert long.read_status().state == "cancelled"
    assert any(e["type"] == "checkpoint" for e in _events(long))  # a checkpoint to resume from
    assert queue.resume_run(settings, long.run_id) == "queued"
    assert not long.cancel_requested()


def test_submitting_the_same_spec_twice_queues_it_once(workspace, tiny_model):
    settings = load_settings()
    spec = _spec(tiny_model)
    first = queue.submit_run(spec, settings)
    second = queue.submit_run(spec, settings)
    assert first.created and not second.created and first.run_id == second.run_id
    assert len(queue.list_runs(settings)) == 1
