"""Running one sandboxed phase: spawn, read stdout/stderr with a cap, enforce the wall clock, kill all.

The calling thread does the waiting (run_many gives each run its own thread), multiplexing both pipes
with a selector so neither can fill up and stall the child. Only the last `cap` bytes of each stream
are kept. On the deadline the whole process group gets SIGKILL; with a pid namespace that takes the
namespace down, and with a throw-away uid every process of that uid is killed afterwards as well, so
nothing the program started (including setsid()'d grandchildren) survives the call.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass

from engine.scoring.sandbox.forkserver_inside import Tail as _Tail
from engine.scoring.sandbox.isolation import Launch, kill_uid

_CHUNK = 64 * 1024
_POLL_S = 0.05
# After the main process has exited, how long to drain output still held by its pipes.
_DRAIN_S = 2.0


@dataclass(frozen=True)
class PhaseResult:
    """How one phase ended. returncode < 0 means killed by that signal (as subprocess reports it)."""

    returncode: int | None
    timed_out: bool
    duration_s: float
    stdout: str
    stderr: str
    stdout_bytes: int
    stderr_bytes: int
    leftovers_killed: int
    spawn_error: str = ""


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def run_phase(launch: Launch, *, timeout_s: float, output_bytes: int, uid: int | None,
              stdin_path: str | None = None) -> PhaseResult:
    """Run launch.argv to completion or until timeout_s; never raises for what the program does.

    uid: the run's throw-away uid, whose every process is killed as soon as the phase ends (pass None
    where a pid namespace already guarantees that, and sweep once after the last phase).
    """
    start = time.monotonic()
    try:
        with contextlib.ExitStack() as stack:
            stdin = (stack.enter_context(open(stdin_path, "rb")) if stdin_path
                     else subprocess.DEVNULL)
            proc = stack.enter_context(subprocess.Popen(
                launch.argv, cwd=launch.cwd, env=launch.env, stdin=stdin,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True,
                start_new_session=True, user=launch.user, group=launch.user,
                extra_groups=[] if launch.user is not None else None))
            return _supervise(proc, start=start, deadline=start + timeout_s, output_bytes=output_bytes,
                              uid=uid)
    except (OSError, subprocess.SubprocessError) as exc:
        return PhaseResult(None, False, time.monotonic() - start, "", "", 0, 0, 0,
                           spawn_error=f"could not start the sandbox: {exc}")


def _supervise(proc: subprocess.Popen[bytes], *, start: float, deadline: float, output_bytes: int,
               uid: int | None) -> PhaseResult:
    """Read both pipes until the program ends or the deadline passes, then make sure all of it is gone."""
    stdout_tail, stderr_tail = _Tail(output_bytes), _Tail(output_bytes)
    assert proc.stdout is not None and proc.stderr is not None
    streams = {proc.stdout.fileno(): stdout_tail, proc.stderr.fileno(): stderr_tail}
    timed_out = False
    exited_at: float | None = None
    leftovers = 0
    with selectors.DefaultSelector() as selector:
        for fd in streams:
            selector.register(fd, selectors.EVENT_READ)
        try:
            while True:
                now = time.monotonic()
                if exited_at is None and proc.poll() is not None:
                    exited_at = now
                    # The program is done: whatever it left behind goes now, so pipes it holds close.
                    _kill_group(proc.pid)
                    if uid is not None:
                        leftovers += kill_uid(uid)
                if exited_at is None and now >= deadline:
                    timed_out = True
                    _kill_group(proc.pid)
                    proc.wait()
                    exited_at = time.monotonic()
                    if uid is not None:
                        leftovers += kill_uid(uid)
                if not selector.get_map():
                    if exited_at is not None:
                        break
                    # Both pipes closed but the program still runs: wait for it or the deadline.
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=max(0.0, min(_POLL_S, deadline - now)))
                    continue
                if exited_at is not None and now - exited_at > _DRAIN_S:
                    break  # something we cannot kill holds the pipes: stop reading
                for key, _ in selector.select(timeout=_POLL_S):
                    chunk = os.read(key.fd, _CHUNK)
                    if chunk:
                        streams[key.fd].add(chunk)
                    else:
                        selector.unregister(key.fd)
        finally:
            if proc.poll() is None:
                _kill_group(proc.pid)
            proc.wait()
            if uid is not None:
                leftovers += kill_uid(uid)
    end = exited_at if exited_at is not None else time.monotonic()
    return PhaseResult(
        returncode=proc.returncode, timed_out=timed_out, duration_s=end - start,
        stdout=stdout_tail.text(), stderr=stderr_tail.text(),
        stdout_bytes=stdout_tail.total, stderr_bytes=stderr_tail.total, leftovers_killed=leftovers,
    )
