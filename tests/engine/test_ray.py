"""The Ray executor against a local Ray instance on CPU with the tiny model: queued runs become Ray
tasks, finish, and are settled like local ones (a failing one too)."""

from __future__ import annotations

import pytest

from engine.runs import queue
from engine.runs.rundir import RunDir
from engine.settings import load_settings
from engine.spec import parse_run_spec

ray = pytest.importorskip("ray")


def _spec(model, seed, data_dir=None):
    return parse_run_spec({
        "model": {"id": str(model)}, "method": "none", "tasks": [{"name": "gen-python"}],
        "train": {"seed": seed}, "eval": {"limit": 2, "max_new_tokens": 8, "batch_size": 2},
        "resources": {"device": "cpu"}, **({"data_dir": data_dir} if data_dir else {}),
    })


def test_ray_executor_runs_the_queue(workspace, tiny_model, tmp_path):
    from engine.executors import ray_executor

    settings = load_settings()
    good = [queue.submit_run(_spec(tiny_model, seed), settings).run_id for seed in (1, 2)]
    bad = queue.submit_run(_spec(tiny_model, 3, data_dir=str(tmp_path / "nowhere")), settings, check=False).run_id
    messages: list[str] = []
    try:
        count = ray_executor.work(settings, once=True, log=messages.append,
                                  ray_init={"num_cpus": 2, "include_dashboard": False})
    finally:
        ray.shutdown()
    assert count == 3, messages
    for run_id in good:
        run = RunDir(settings.runs_dir / run_id)
        assert run.read_status().state == "done", run.read_status()
        assert run.artifact("generations").exists()
        assert any('"ray_submitted"' in line for line in run.events_path.read_text().splitlines())
    failed = RunDir(settings.runs_dir / bad).read_status()
    assert failed.state == "failed" and failed.error["phase"] == "prepare"


def test_task_resources_follow_the_spec(tiny_model):
    from engine.executors.ray_executor import task_resources

    gpu = parse_run_spec({"model": str(tiny_model), "tasks": ["gen-python"], "resources": {"gpus": 2}})
    assert task_resources(gpu) == {"num_gpus": 2.0, "num_cpus": 1}
    assert task_resources(_spec(tiny_model, 1)) == {"num_gpus": 0, "num_cpus": 1}
    assert task_resources(gpu, num_gpus=0.5)["num_gpus"] == 0.5
