"""The app side of one fork server: start it in one container, hand it Python jobs one at a time, stop it.

A fork server is one warm Python interpreter (forkserver_inside.py) in ONE bubblewrap container built
exactly as the per-program path builds one (isolation.build_launch: the same namespaces, read-only
binds, size-capped tmpfs, throw-away uid, cleared environment), with its work dir bound at /sandbox.
For each job this side writes the program into a fresh sub-directory of that work dir, sends one JSON
line, and waits for one JSON result line; the server forks a pristine child per job, which sets its
own rlimits (those the per-program path gives, see languages.recipe) and runs the same runner harness.

This side never trusts the server to be alive: EOF on its output means it died, no answer by the job's
time limit plus a grace means it is wedged (a program may SIGSTOP it); either way the whole container
is killed and run() returns None, so the caller reruns the job elsewhere. A result line is accepted
only for the job that was sent, so a job is never counted twice.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import selectors
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.scoring.sandbox import forkserver_inside
from engine.scoring.sandbox.isolation import (
    IsolationInfo,
    RLimits,
    build_launch,
    draw_uid,
    is_root,
    kill_uid,
    python_interpreter,
)
from engine.scoring.sandbox.languages import PYTHON_RUNNER, recipe
from engine.scoring.sandbox.model import Program
from engine.scoring.sandbox.process import PhaseResult
from engine.scoring.sandbox.single import remove_tree, work_root

MIB = 1 << 20
# Processes of the run's uid beside the program that the per-program path does not have: the
# supervisor and the zygote. RLIMIT_NPROC counts them, so each job's limit is raised by this much.
SERVER_PROCESSES = 2
_SERVER_CPU_S = 10_000_000  # the server itself has no CPU limit to speak of; each job sets its own
_DRAIN_S = 2.0
_CHUNK = 64 * 1024
_STDERR_KEEP = 4096


class ForkServerError(RuntimeError):
    """The fork server could not be started (the caller falls back to the per-program path)."""


@functools.lru_cache(maxsize=1)
def server_source() -> str:
    """The text the container's Python runs: forkserver_inside.py, read once per process."""
    return Path(forkserver_inside.__file__).read_text(encoding="utf-8")


def _phase_limits(program: Program) -> RLimits:
    rlimits = recipe(program).phases[0].rlimits
    return rlimits if is_root() else rlimits.clamped()


def job_rlimits(program: Program) -> dict[str, list[int]]:
    """The rlimits a job child sets on itself: the per-program path's, plus the server's processes."""
    limits = _phase_limits(program)
    return {"cpu": [limits.cpu_s, limits.cpu_s + 2], "data": [limits.data_bytes] * 2,
            "as": [limits.address_space_bytes] * 2, "fsize": [limits.file_size_bytes] * 2,
            "nproc": [limits.processes + SERVER_PROCESSES] * 2, "nofile": [limits.open_files] * 2,
            "core": [0, 0]}


@dataclass(frozen=True)
class ServerConfig:
    """What every server of a batch is started with.

    rlimits: the server's own limits, the largest of its batch's programs (a job can only lower them).
    tmp_bytes: the size of its /tmp and /dev/shm. env: its environment (the Python recipe's).
    watchdog_grace_s: how long past a job's time limit (plus output draining) a result may be late
    before the server counts as wedged.
    """

    info: IsolationInfo
    rlimits: RLimits
    tmp_bytes: int
    env: dict[str, str]
    start_timeout_s: float = 30.0
    watchdog_grace_s: float = 15.0


def server_config(info: IsolationInfo, programs: list[Program], *, watchdog_grace_s: float = 15.0) -> ServerConfig:
    """The configuration that fits every program of a batch (Python programs only)."""
    limits = [_phase_limits(program) for program in programs]
    rlimits = RLimits(cpu_s=_SERVER_CPU_S,
                      data_bytes=max(item.data_bytes for item in limits),
                      address_space_bytes=max(item.address_space_bytes for item in limits),
                      file_size_bytes=max(item.file_size_bytes for item in limits),
                      processes=max(item.processes for item in limits) + SERVER_PROCESSES,
                      open_files=max(max(item.open_files for item in limits), 64))
    tmp_bytes = max(max(16, 4 * program.effective_limits.file_size_mb) for program in programs) * MIB
    env = recipe(programs[0]).phases[0].extra_env
    return ServerConfig(info=info, rlimits=rlimits, tmp_bytes=tmp_bytes, env=dict(env),
                        watchdog_grace_s=watchdog_grace_s)


Spawner = Callable[[Callable[[], "subprocess.Popen[bytes]"]], "subprocess.Popen[bytes]"]


class ForkServer:
    """One fork server: start(), run(program) per job, close(). Not thread-safe: one user at a time.

    spawn: runs the Popen call for start(). bwrap's --die-with-parent kills the container when the
    THREAD that started it ends (PR_SET_PDEATHSIG follows the thread), so a server that outlives its
    worker thread (ForkServerPool) must be started from a thread that lives as long as the pool.
    """

    def __init__(self, config: ServerConfig, spawn: Spawner | None = None) -> None:
        self.config = config
        self._spawn = spawn
        self.uid: int | None = None
        self.root: str | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.last_error = ""
        self._jobs = 0
        self._buffer = b""
        self._stderr = b""

    @property
    def alive(self) -> bool:
        """Whether the server is started and has not died or been closed."""
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Start the container and wait for the server's ready line (raises ForkServerError)."""
        info = self.config.info
        self.uid = draw_uid() if info.per_run_uid else None
        try:
            self.root = tempfile.mkdtemp(prefix="codetune-forkserver-", dir=work_root(self.uid))
            if self.uid is not None:
                os.chown(self.root, self.uid, self.uid)
            os.chmod(self.root, stat.S_IRWXU)
            command = [python_interpreter(), "-S", "-B", "-c", server_source(),
                       json.dumps({"runner": PYTHON_RUNNER})]
            launch = build_launch(info, workdir=self.root, command=command, rlimits=self.config.rlimits,
                                  uid=self.uid, extra_env=self.config.env, tmp_bytes=self.config.tmp_bytes)

            def make() -> subprocess.Popen[bytes]:
                return subprocess.Popen(  # pylint: disable=consider-using-with  # lives until close()
                    launch.argv, cwd=launch.cwd, env=launch.env, stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True, start_new_session=True,
                    user=launch.user, group=launch.user, extra_groups=[] if launch.user is not None else None)

            self.proc = self._spawn(make) if self._spawn is not None else make()
        except (OSError, subprocess.SubprocessError) as exc:
            self.close()
            raise ForkServerError(f"could not start the fork server: {exc}") from exc
        ready = self._read_line(time.monotonic() + self.config.start_timeout_s)
        if ready is None or not ready.get("ready"):
            self.close()
            raise ForkServerError(f"the fork server did not start: {self.last_error or 'no ready line'}")

    def run(self, program: Program) -> PhaseResult | None:
        """Run one Python program; its phase result, or None when the server died or wedged (closed)."""
        if not self.alive or self.root is None:
            return None
        limits = program.effective_limits
        self._jobs += 1
        name = f"j{self._jobs}"
        job = {"id": self._jobs, "dir": name, "timeout_s": limits.timeout_s,
               "output_bytes": limits.output_bytes, "rlimits": job_rlimits(program)}
        try:
            self._write_job_dir(os.path.join(self.root, name), recipe(program).files)
            assert self.proc is not None and self.proc.stdin is not None
            self.proc.stdin.write(json.dumps(job).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError as exc:
            self.last_error = f"could not hand the job over: {exc}"
            self.close()
            return None
        deadline = time.monotonic() + limits.timeout_s + _DRAIN_S + self.config.watchdog_grace_s
        while True:
            result = self._read_line(deadline)
            if result is None:
                self.close()
                return None
            if result.get("id") == job["id"]:
                break
        if result.get("dirty"):
            self.last_error = f"fork server retired: {result['dirty']}"
            self.close()
        return _phase_result(result)

    def _write_job_dir(self, path: str, files: dict[str, bytes]) -> None:
        os.mkdir(path, 0o700)
        for file_name, content in files.items():
            with open(os.path.join(path, file_name), "wb") as handle:
                handle.write(content)
        if self.uid is not None:
            os.chown(path, self.uid, self.uid)

    def _read_line(self, deadline: float) -> dict | None:
        """The server's next output line as JSON; None on EOF, a bad line, or the deadline (wedged)."""
        proc = self.proc
        if proc is None or proc.stdout is None or proc.stderr is None:
            return None
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout.fileno(), selectors.EVENT_READ, "out")
            selector.register(proc.stderr.fileno(), selectors.EVENT_READ, "err")
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.last_error = "the fork server stopped answering (wedged)"
                    return None
                for key, _ in selector.select(timeout=min(remaining, 1.0)):
                    chunk = os.read(key.fd, _CHUNK)
                    if key.data == "err":
                        if chunk:
                            self._stderr = (self._stderr + chunk)[-_STDERR_KEEP:]
                        else:
                            selector.unregister(key.fd)
                        continue
                    if not chunk:
                        self.last_error = ("the fork server died: "
                                           + self._stderr.decode("utf-8", errors="replace").strip()[-300:])
                        return None
                    self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            value = json.loads(line)
        except ValueError:
            self.last_error = "the fork server wrote a line that is not JSON"
            return None
        return value if isinstance(value, dict) else None

    def close(self) -> None:
        """Stop the server (gracefully if it still answers) and remove everything it left."""
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None and proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()  # EOF: the supervisor ends its zygote and exits
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=1.0)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # bwrap's init dies with it, and the namespace
            proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        if self.uid is not None:
            kill_uid(self.uid)
        if self.root is not None:
            remove_tree(self.root)
            self.root = None

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _phase_result(result: dict) -> PhaseResult:
    returncode = result["returncode"]
    stderr = result["stderr"]
    spawn_error = ""
    if returncode == forkserver_inside.SETUP_FAILED and stderr.startswith("sandbox: job set-up failed"):
        spawn_error = stderr.strip().splitlines()[0][:300]
    return PhaseResult(returncode=returncode, timed_out=bool(result["timed_out"]),
                       duration_s=float(result["duration_s"]), stdout=result["stdout"], stderr=stderr,
                       stdout_bytes=int(result["stdout_bytes"]), stderr_bytes=int(result["stderr_bytes"]),
                       leftovers_killed=int(result["leftovers_killed"]), spawn_error=spawn_error)
