"""Preloaded run processes: a zygote that imports the heavy libraries once and forks each run's process.

A run process used to start as `python -m engine.phases.recipe RUN_DIR` and spend its first 5-8 s
importing torch, transformers, peft and trl (a quarter of a small CPU run), and a run that scores
METEOR another 4-5 s importing nltk and reading WordNet. The worker now starts one
zygote (`python -m engine.executors.zygote FD`) that imports them once; each run process is a fork
of it and starts in milliseconds.

The worker and its zygote talk over a Unix SEQPACKET socket pair, one JSON message per packet:
the worker sends {run, log, env} with the run's lock fd attached (SCM_RIGHTS); the zygote forks,
closes its copy of the fd (only the run process holds the lock), answers {pid}, waits, answers
{exit} (negative = killed by that signal, as subprocess reports it). The run process behaves as
the command line one did: a session of its own (the worker cancels it with killpg), its output
in the run's log, the worker's environment as it is now, and SIGKILL when its parent dies; the
zygote dies with the worker, so a killed worker still leaves no run process behind.

Only third-party libraries are preloaded: the project's own modules are imported by each run
process afresh, so an edited engine takes effect at the next run, as before. A library upgraded
under a running worker takes effect when the worker restarts. `CODETUNE_PRELOAD=0` turns the
zygote off (each run then starts a fresh interpreter), as does a zygote that fails: one that cannot
start, dies, or finds the CUDA driver loaded after preloading (CUDA does not survive a fork; a run
process forked from it could not use the GPU).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

PR_SET_PDEATHSIG = 1
# What a run process imports before its first step, in import order (the rest are their dependencies).
# nltk: with it, WordNet is read too (METEOR's synonyms; ~4 s in every run that scores a summary).
PRELOAD = ("torch", "transformers", "transformers.modeling_utils", "transformers.trainer", "peft", "trl",
           "datasets", "accelerate", "nltk")
MAX_MESSAGE = 1 << 20  # an environment is a few KB; a packet this large is refused, not truncated


def die_with_parent() -> None:
    """SIGKILL this process when the thread that started it exits (Linux; a no-op elsewhere)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


# --- the worker's side ---------------------------------------------------------------------------


class ForkedRun:
    """A run process forked by the zygote, waited for like a `subprocess.Popen`."""

    def __init__(self, zygote: Zygote, pid: int) -> None:
        self.zygote = zygote
        self.pid = pid
        self.returncode: int | None = None

    def wait(self, timeout: float | None = None) -> int:
        """The exit code (negative = signal); raises subprocess.TimeoutExpired after `timeout` s."""
        if self.returncode is None:
            reply = self.zygote.receive(timeout)
            if reply is None:
                raise subprocess.TimeoutExpired(f"run process {self.pid}", timeout or 0.0)
            # no reply at all: the zygote died, and the run process with it (its death signal)
            self.returncode = int(reply.get("exit", -signal.SIGKILL))
        return self.returncode


class Zygote:
    """The worker's handle on its zygote: started at the first run, stopped by `close()` (or the
    worker's death). `spawn` returns None when no zygote can serve (then run the command line)."""

    def __init__(self, log_path: Path, modules: tuple[str, ...] = PRELOAD) -> None:
        self.log_path = log_path
        self.modules = modules
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.failed = False  # once a zygote failed (or refused: CUDA), this worker starts fresh interpreters

    def _start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with theirs, open(self.log_path, "ab") as log:
            # lives until close() or the worker's death (preexec_fn: the only way to set its death signal)
            self.proc = subprocess.Popen(  # pylint: disable=consider-using-with,subprocess-popen-preexec-fn
                [sys.executable, "-m", "engine.executors.zygote", str(theirs.fileno()), *self.modules],
                pass_fds=(theirs.fileno(),), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=die_with_parent,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.sock = ours

    def spawn(self, run_path: Path, log_path: Path, env: dict[str, str], lock_fd: int) -> ForkedRun | None:
        """Fork a run process for `run_path`; None if the zygote cannot be started, refused or died."""
        if self.failed:
            return None
        try:
            if self.sock is None:
                self._start()
            assert self.sock is not None
            message = json.dumps({"run": str(run_path), "log": str(log_path), "env": env}).encode()
            socket.send_fds(self.sock, [message], [lock_fd])
            reply = self.receive(None)
        except OSError:
            reply = None
        if reply is None or "pid" not in reply:
            self.close()
            self.failed = True
            return None
        return ForkedRun(self, int(reply["pid"]))

    def receive(self, timeout: float | None) -> dict[str, Any] | None:
        """The zygote's next message; None on timeout. A dead zygote reads as {} (and is closed)."""
        if self.sock is None:
            return {}
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(MAX_MESSAGE)
        except TimeoutError:
            return None
        except OSError:
            data = b""
        if not data:
            self.close()
            return {}
        return json.loads(data)

    def close(self) -> None:
        """Stop the zygote (a run process it forked dies with it)."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            self.proc.wait()
            self.proc = None

    def __enter__(self) -> Zygote:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


# --- the zygote's side ---------------------------------------------------------------------------


def serve(sock: socket.socket, modules: list[str]) -> int:
    """Preload `modules`, then fork a run process per request until the worker closes the socket.
    Returns in the zygote when the worker is gone, and in each forked child with the run's exit code."""
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # pylint: disable=broad-exception-caught
            # a library that cannot import here is imported (and its failure reported) by the run itself
            traceback.print_exc()
    if "nltk" in sys.modules:
        _read_wordnet()
    driver = cuda_driver_loaded()
    if driver:  # CUDA does not survive a fork: a run process forked from here could not use the GPU
        print(f"zygote {os.getpid()}: preloading loaded the CUDA driver ({driver}); not forking, runs start "
              "fresh interpreters", file=sys.stderr, flush=True)
        return 0
    zygote = os.getpid()
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 4)
        except OSError:
            return 0
        if not data:
            return 0
        pid = os.fork()
        if pid == 0:
            sock.close()
            return _become_run(json.loads(data), zygote)
        for fd in fds:  # the run process holds the lock now; the zygote's copy would outlive the run
            os.close(fd)
        sock.send(json.dumps({"pid": pid}).encode())
        _, status = os.waitpid(pid, 0)
        sock.send(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode())


def _read_wordnet() -> None:
    """Read WordNet's index now (nltk does it at the first lookup): each run that scores METEOR would
    spend ~4 s on it; the forks share this copy. Not installed: the runs that need it say so."""
    try:
        from nltk.corpus import wordnet

        wordnet.ensure_loaded()
    except LookupError:
        pass


def cuda_driver_loaded() -> str | None:
    """The path of the CUDA driver library if this process has it mapped (it has then been initialised,
    or may be: a forked child could not use the GPU), else None."""
    try:
        maps = Path("/proc/self/maps").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return next((line.split()[-1] for line in maps.splitlines() if "/libcuda.so" in line), None)


def _become_run(request: dict[str, Any], zygote: int) -> int:
    """In the forked child: become `python -m engine.phases.recipe RUN_DIR` and return its exit code."""
    os.setsid()
    die_with_parent()
    if os.getppid() != zygote:  # the zygote died before the death signal was armed
        return 1
    log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.environ.clear()
    os.environ.update(request["env"])
    random.seed()  # a fresh interpreter's unseeded state, not the zygote's shared by every fork
    sys.argv = [sys.argv[0], request["run"]]
    print(f"run process {os.getpid()}: forked by the zygote {zygote} (libraries preloaded)", flush=True)
    try:
        from engine.phases import recipe  # imported here, afresh for every run: edits take effect
    except Exception:  # pylint: disable=broad-exception-caught
        traceback.print_exc()
        return 1
    recipe.exit_now(recipe.main([request["run"]]))


def main(argv: list[str] | None = None) -> int:
    """`python -m engine.executors.zygote FD [MODULE ...]`: serve the worker on socket fd FD."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m engine.executors.zygote FD [MODULE ...]", file=sys.stderr)
        return 2
    with socket.socket(fileno=int(args[0])) as sock:
        return serve(sock, args[1:])


if __name__ == "__main__":
    sys.exit(main())
