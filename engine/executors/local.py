"""The local executor: one run in a child process (`python -m engine.phases.recipe RUN_DIR`, or a
fork of the worker's zygote with the libraries already imported: engine.executors.zygote).

The child inherits the run's lock fd, so the lock lives exactly as long as someone works on the
run; it dies with the worker (PR_SET_PDEATHSIG), so a killed worker never leaves an orphan
training behind. The worker side beats the heart, forwards cancellation (SIGTERM, then SIGKILL
after a grace period) and records a failure when the child dies without saying why.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from engine.executors.zygote import Zygote, die_with_parent
from engine.runs.rundir import RunDir

CANCEL_GRACE_S = 30.0


def child_command(run: RunDir) -> list[str]:
    """The command line of the child process that runs the recipe for `run`."""
    return [sys.executable, "-m", "engine.phases.recipe", str(run.path)]


def execute(run: RunDir, lock_fd: int, stop: Callable[[], bool] = lambda: False, poll_s: float = 1.0,
            env: dict[str, str] | None = None, beat: Callable[[], None] = lambda: None,
            zygote: Zygote | None = None) -> int:
    """Run `run` in a child process (forked by `zygote` when given and alive) and wait; returns the
    child's exit code (negative = signal)."""
    child_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    with open(run.log_path, "ab") as log:
        log.write(f"\n=== attempt started {time.ctime()} by worker pid {os.getpid()} ===\n".encode())
        log.flush()
        proc: Any = zygote.spawn(run.path, run.log_path, child_env, lock_fd) if zygote else None
        if proc is None:
            # the child outlives the log's `with` block (it is polled and waited for below), and preexec_fn
            # is the only way to set PR_SET_PDEATHSIG in the child (no other API does it)
            proc = subprocess.Popen(  # pylint: disable=consider-using-with,subprocess-popen-preexec-fn
                child_command(run),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                pass_fds=(lock_fd,),
                start_new_session=True,
                preexec_fn=die_with_parent,
                env=child_env,
            )
    cancel_seen: float | None = None
    while True:
        try:
            return proc.wait(timeout=poll_s)
        except subprocess.TimeoutExpired:
            pass
        try:
            run.heartbeat(worker_pid=os.getpid(), child_pid=proc.pid)
        except OSError:  # a full disk: the heartbeat is best effort, the run process decides what fails
            if not run.path.exists():  # the run folder was removed: stop its process, which would hold
                _kill_group(proc, signal.SIGKILL)  # the device and could write into a run resubmitted
                proc.wait()  # under the same id
                raise
        beat()  # the worker's own registry entry stays fresh during long runs
        if cancel_seen is None and (run.cancel_requested() or stop()):
            cancel_seen = time.time()
        if cancel_seen is not None and time.time() - cancel_seen > CANCEL_GRACE_S:
            _kill_group(proc, signal.SIGTERM)
            try:
                return proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _kill_group(proc, signal.SIGKILL)
                return proc.wait()


def _kill_group(proc: Any, sig: int) -> None:  # a Popen or a zygote's ForkedRun
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
