"""The Ray executor: a worker that sends each claimed run to an existing Ray cluster as a task.

`codetune worker --executor ray --address ray://head:10001` (or `auto`, or none for a local Ray
instance) claims queued runs as the local worker does (the run's flock is held by this driver for
the task's lifetime), and submits `python -m engine.phases.recipe RUN_DIR` as a Ray task that asks for
the run's GPUs (resources.gpus when it runs on CUDA, else one CPU). Run directories must live on
storage every node sees; ingest then works as on one machine. Several runs execute at once, up to
`max_in_flight` (default: as many as the cluster has GPUs, or CPUs when it has none). A run whose
task fails is recorded as failed and the loop goes on; cancellation cancels the task.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

from engine.runs.queue import claim_next, settle_run
from engine.runs.rundir import RunDir, release_lock
from engine.settings import Settings
from engine.spec import RunSpec


def _run_remote(run_path: str, env: dict[str, str]) -> int:
    """Body of the Ray task: the run's recipe in a child process on whichever node Ray picked."""
    import subprocess

    with open(os.path.join(run_path, "log.txt"), "ab") as log:
        proc = subprocess.run(
            [sys.executable, "-m", "engine.phases.recipe", run_path],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"}, check=False,
        )
    return proc.returncode


def task_resources(spec: RunSpec, num_gpus: float | None = None) -> dict[str, float]:
    """What a run asks of the cluster: its GPUs on CUDA (or the --gpus-per-run override), else a CPU."""
    if num_gpus is not None:
        return {"num_gpus": num_gpus, "num_cpus": 1}
    if spec.resources.device == "cpu":
        return {"num_gpus": 0, "num_cpus": 1}
    return {"num_gpus": float(spec.resources.gpus), "num_cpus": 1}


def work(settings: Settings, once: bool = False, max_runs: int | None = None, stop: Callable[[], bool] = lambda: False,
         log: Callable[[str], None] = print, beat: Callable[[str | None], None] = lambda _: None,
         address: str | None = None, num_gpus: float | None = None, max_in_flight: int | None = None,
         ray_init: dict[str, Any] | None = None) -> int:
    """Claim runs and execute them as Ray tasks; returns how many runs finished."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False, **(ray_init or {}))
    resources = ray.cluster_resources()
    capacity = max_in_flight or int(resources.get("GPU", 0)) or int(resources.get("CPU", 1))
    remote = ray.remote(_run_remote)
    env = {k: v for k, v in os.environ.items() if k.startswith(("CODETUNE_", "HF_", "TRANSFORMERS_"))}
    log(f"ray worker {os.getpid()}: cluster {resources}, up to {capacity} runs at once")
    pending: dict[Any, tuple[RunDir, int]] = {}
    finished = 0
    submitted = 0
    try:
        while not stop():
            while len(pending) < capacity and (max_runs is None or submitted < max_runs):
                claimed = claim_next(settings)
                if claimed is None:
                    break
                run, fd = claimed
                spec = RunSpec.model_validate(run.read_spec())
                ref = remote.options(**task_resources(spec, num_gpus), name=run.run_id).remote(str(run.path), env)
                pending[ref] = (run, fd)
                submitted += 1
                run.append_event("ray_submitted", resources=task_resources(spec, num_gpus))
                log(f"ray worker: submitted {run.run_id}")
            beat(",".join(r.run_id for r, _ in pending.values()) or None)
            if not pending:
                if once or (max_runs is not None and submitted >= max_runs):
                    break
                time.sleep(2.0)
                continue
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref, (run, _) in list(pending.items()):
                if ref not in ready:
                    run.heartbeat(executor="ray")
                    if run.cancel_requested():
                        ray.cancel(ref, force=True)
            for ref in ready:
                run, fd = pending.pop(ref)
                try:
                    code = int(ray.get(ref))
                except (ray.exceptions.RayTaskError, ray.exceptions.TaskCancelledError,
                        ray.exceptions.WorkerCrashedError) as exc:
                    log(f"ray worker: {run.run_id}: {type(exc).__name__}")
                    code = -9
                try:
                    state = settle_run(run, code)
                finally:
                    release_lock(fd)
                finished += 1
                log(f"ray worker: {run.run_id} → {state}")
    finally:
        for ref, (_, fd) in pending.items():
            ray.cancel(ref, force=True)
            release_lock(fd)
    return finished
