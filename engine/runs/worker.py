"""The background worker: claims queued runs one at a time and executes them.

`work()` loops: claim the oldest queued (or orphaned) run, execute it through an executor,
settle its final state, repeat. One bad run never stops the queue: whatever happens in the run
process is recorded in that run's status and the loop goes on. Each worker registers itself in
$CODETUNE_HOME/workers/ so the app can tell whether one is alive.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.runs.queue import claim_next, settle_run
from engine.runs.rundir import read_json, release_lock, write_json_atomic
from engine.settings import Settings, load_settings
from engine.vocabulary import CANCELLED

IDLE_POLL_S = 2.0
WORKER_STALE_S = 30.0


def _registry(settings: Settings) -> Path:
    path = settings.home / "workers"
    path.mkdir(parents=True, exist_ok=True)
    return path


def live_workers(settings: Settings) -> list[dict[str, Any]]:
    """Workers on this host whose process exists and whose heartbeat is recent."""
    alive = []
    for file in _registry(settings).glob("*.json"):
        info = read_json(file) or {}
        pid = info.get("pid")
        fresh = time.time() - float(info.get("t", 0)) < WORKER_STALE_S
        same_host = info.get("host") == socket.gethostname()
        exists = False
        if isinstance(pid, int):
            try:
                os.kill(pid, 0)
                exists = True
            except (ProcessLookupError, PermissionError):
                exists = False
        if fresh and (exists or not same_host):
            alive.append(info)
        elif same_host and not exists:
            file.unlink(missing_ok=True)
    return alive


def work(settings: Settings | None = None, once: bool = False, max_runs: int | None = None,
         executor: str = "local", stop: Callable[[], bool] | None = None,
         log: Callable[[str], None] = print, **executor_options: Any) -> int:
    """The worker loop; returns the number of runs it executed."""
    settings = settings or load_settings()
    settings.ensure_dirs()
    stopping = {"flag": False}

    def _stop(*_: Any) -> None:
        stopping["flag"] = True

    def _stopping() -> bool:
        return stopping["flag"]

    if stop is None:
        signal.signal(signal.SIGTERM, _stop)
        stop = _stopping
    me = _registry(settings) / f"{socket.gethostname()}-{os.getpid()}.json"

    def beat(current: str | None) -> None:
        try:
            write_json_atomic(me, {"pid": os.getpid(), "host": socket.gethostname(), "t": time.time(),
                                   "run": current, "executor": executor})
        except OSError as exc:  # the registry entry is best effort: a full disk must not stop the queue
            log(f"worker {os.getpid()}: cannot write {me}: {exc}")

    if executor == "ray":
        from engine.executors import ray_executor

        return ray_executor.work(settings, once=once, max_runs=max_runs, stop=stop, log=log,
                                 beat=beat, **executor_options)
    from engine.executors import local
    from engine.executors.zygote import Zygote

    executed = 0
    zygote = Zygote(settings.home / "zygote.log") if settings.preload else None
    try:
        while not stop() and (max_runs is None or executed < max_runs):
            beat(None)
            try:
                claimed = claim_next(settings)
            except OSError as exc:  # e.g. a full disk: say so and try again later, never stop the queue
                log(f"worker {os.getpid()}: cannot claim a run: {exc}")
                if once:
                    break
                time.sleep(IDLE_POLL_S)
                continue
            if claimed is None:
                if once:
                    break
                time.sleep(IDLE_POLL_S)
                continue
            run, fd = claimed
            unrecorded = False
            beat(run.run_id)
            log(f"worker {os.getpid()}: running {run.run_id}")
            try:
                code = local.execute(run, fd, stop=stop, beat=lambda current=run.run_id: beat(current), zygote=zygote)
                state = settle_run(run, code)
            except OSError as exc:
                if run.path.exists():  # e.g. a full disk: its outcome cannot be written now. The lock is
                    # released below, so the run, still `running`, is claimed and resumed once it can be
                    state, unrecorded = f"not recorded ({exc})", True
                    log(f"worker {os.getpid()}: cannot record {run.run_id}: {exc}; it will be resumed")
                else:
                    state = CANCELLED  # its folder was removed while it ran: nothing left to record
                    log(f"worker {os.getpid()}: {run.run_id} was removed while running; treated as cancelled")
            finally:
                release_lock(fd)
            if unrecorded:
                time.sleep(IDLE_POLL_S)  # not at once: what failed (the disk) is likely still failing
            executed += 1
            log(f"worker {os.getpid()}: {run.run_id} → {state}")
    finally:
        if zygote is not None:
            zygote.close()
        me.unlink(missing_ok=True)
    return executed


def start_background_worker(settings: Settings, log_file: Path | None = None) -> int:
    """Start a worker (`python -m engine.runs.worker`) as a detached process (used by the app); returns its pid."""
    settings.ensure_dirs()
    log_path = log_file or settings.home / "worker.log"
    with open(log_path, "ab") as log:
        # the worker is detached and must outlive this call: no `with`, it is never waited for here
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-m", "engine.runs.worker"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives the app's restarts
            env={**os.environ, "CODETUNE_HOME": str(settings.home), "PYTHONUNBUFFERED": "1"},
        )
    return proc.pid


def main() -> int:
    """Entry point of the background worker the app starts: work the queue until stopped."""
    count = work(load_settings(), log=lambda message: print(message, flush=True))
    print(f"worker finished: {count} run(s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
