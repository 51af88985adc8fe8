"""A batch of programs through fork servers: one server per worker thread, reruns, per-program fallback.

Each worker thread owns at most one fork server (forkserver.py) and takes programs from a shared queue
until it is empty. A Python program goes to the thread's server; Java, C#, programs with stdin text,
empty sources and machines without bubblewrap take the per-program path (single.py), as does every
program in mode "process". When a server dies or wedges while holding a job, the job is rerun in a fresh
server; a job that brought down `strikes` servers (default 2: it is then almost surely its own doing,
say it killed its server) is run on the per-program path, whose outcome is recorded. Each input gets
exactly one outcome: a slot is filled once, and a second fill is a bug that raises.

Outcomes of the two paths agree on status, exit code, reason and output (tested on HumanEval); the
durations differ, since a fork costs less than a container and an interpreter start.
"""

from __future__ import annotations

import queue
import subprocess
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields

from engine.scoring.sandbox.forkserver import ForkServer, ForkServerError, ServerConfig, server_config
from engine.scoring.sandbox.isolation import IsolationInfo, IsolationProbeError, detect
from engine.scoring.sandbox.languages import recipe, signal_of, verdict
from engine.scoring.sandbox.model import Outcome, Program
from engine.scoring.sandbox.process import PhaseResult
from engine.scoring.sandbox.single import error_outcome, notes, run_single

SANDBOX_MODES: tuple[str, ...] = ("forkserver", "process")
_STRIKES = 2


@dataclass
class BatchStats:
    """What happened to the servers of one batch (for tests and benchmarks; not stored)."""

    servers_started: int = 0
    start_failures: int = 0
    server_failures: int = 0  # servers that died or wedged while holding a job
    reruns: int = 0  # jobs handed to a fresh server after their server failed
    fallbacks: int = 0  # jobs run on the per-program path after `strikes` failed servers
    per_program: int = 0  # programs that took the per-program path from the start

    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
        return {field.name: getattr(self, field.name) for field in fields(self)}


def fits_fork_server(program: Program, info: IsolationInfo | None) -> bool:
    """Whether a program runs through a fork server: Python, no stdin, non-empty, bwrap isolation."""
    return (info is not None and info.mode in ("bwrap", "bwrap-root") and program.language == "python"
            and not program.stdin and bool(program.source.strip()))


def outcome_of(program: Program, result: PhaseResult, isolation: str) -> Outcome:
    """A fork server's phase result read exactly as the per-program path reads its own."""
    phase = recipe(program).phases[0]
    found = verdict(program, phase, result, through_bwrap=False)  # the server reports exact statuses
    if found is None:  # pragma: no cover - a run phase always has a verdict
        return error_outcome("no phase produced a verdict", isolation, result.duration_s)
    sig = signal_of(result.returncode, through_bwrap=False)
    return Outcome(status=found.status, exit_code=-sig if sig is not None else result.returncode,
                   duration_s=round(result.duration_s, 4), stdout_tail=result.stdout,
                   stderr_tail=result.stderr, isolation=isolation,
                   reason=found.reason + notes(result, program.effective_limits.output_bytes))


class ForkServerPool:
    """Fork servers kept warm from one batch to the next (score.py runs its programs in resumable chunks).

    Use as a context manager and pass it to run_many / run_batch as `pool`: a worker takes an idle
    server started with the same configuration (same isolation, limits and environment) and gives it
    back when the batch ends; servers that died are never kept. close() stops the idle ones. Servers
    are started from the pool's own thread, which lives until close() (see ForkServer: a container
    dies with the thread that started it).
    """

    def __init__(self) -> None:
        self._idle: list[ForkServer] = []
        self._lock = threading.Lock()
        self._spawner: ThreadPoolExecutor | None = None

    def new_server(self, config: ServerConfig) -> ForkServer:
        """A server (not yet started) whose container is spawned from the pool's thread."""
        return ForkServer(config, spawn=self._spawn)

    def _spawn(self, make: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._spawner is None:
                self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="codetune-forkserver")
            spawner = self._spawner
        return spawner.submit(make).result()

    def take(self, config: ServerConfig) -> ForkServer | None:
        """An idle, live server with this configuration, or None."""
        with self._lock:
            for index, server in enumerate(self._idle):
                if server.config == config and server.alive:
                    return self._idle.pop(index)
        return None

    def give(self, server: ForkServer) -> None:
        """Keep a server for a later batch (a dead one is closed instead)."""
        if not server.alive:
            server.close()
            return
        with self._lock:
            self._idle.append(server)

    def close(self) -> None:
        """Stop every idle server."""
        with self._lock:
            idle, self._idle = self._idle, []
            spawner, self._spawner = self._spawner, None
        for server in idle:
            server.close()
        if spawner is not None:
            spawner.shutdown(wait=True)

    def __enter__(self) -> ForkServerPool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class _Batch:
    """The shared state of one batch's worker threads."""

    def __init__(self, programs: list[Program], isolation: str, config: ServerConfig | None,
                 strikes: int, pool: ForkServerPool) -> None:
        self.pool = pool
        self.programs = programs
        self.isolation = isolation
        self.config = config
        self.strikes = strikes
        self.stats = BatchStats()
        self.todo: queue.SimpleQueue[int] = queue.SimpleQueue()
        self.done: queue.SimpleQueue[tuple[int, Outcome | BaseException]] = queue.SimpleQueue()
        self.stop = threading.Event()
        self.no_server = threading.Event()  # a start failed: the rest of the batch goes per program
        self._lock = threading.Lock()

    def count(self, name: str) -> None:
        """Add one to a counter of stats (threads share them)."""
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + 1)

    def work(self) -> None:
        """One worker thread: take programs until none is left or the batch is stopped."""
        server: ForkServer | None = None
        try:
            while not self.stop.is_set():
                try:
                    index = self.todo.get_nowait()
                except queue.Empty:
                    return
                program = self.programs[index]
                if self.config is None or not fits_fork_server(program, self.config.info):
                    self.count("per_program")
                    outcome = run_single(program, isolation=self.isolation)
                else:
                    outcome, server = self._through_server(program, server)
                self.done.put((index, outcome))
        except BaseException as exc:  # pylint: disable=broad-exception-caught  # re-raised by the caller
            self.done.put((-1, exc))
        finally:
            if server is not None:
                self.pool.give(server)

    def _through_server(self, program: Program, server: ForkServer | None) -> tuple[Outcome, ForkServer | None]:
        assert self.config is not None
        for attempt in range(self.strikes):
            if server is not None and not server.alive:
                server.close()
                server = None
            if server is None:
                server = self.pool.take(self.config)
            if server is None:
                if self.no_server.is_set():
                    self.count("per_program")
                    return run_single(program, isolation=self.isolation), None
                server = self.pool.new_server(self.config)
                try:
                    server.start()
                except ForkServerError:
                    self.count("start_failures")
                    self.no_server.set()
                    return run_single(program, isolation=self.isolation), None
                self.count("servers_started")
            result = server.run(program)
            if result is not None:
                outcome = outcome_of(program, result, self.config.info.describe())
                return outcome, server if server.alive else None
            self.count("server_failures")
            server = None
            if attempt + 1 < self.strikes:
                self.count("reruns")
        self.count("fallbacks")
        return run_single(program, isolation=self.isolation), server


def _config(programs: list[Program], isolation: str, mode: str, watchdog_grace_s: float) -> ServerConfig | None:
    if mode == "process":
        return None
    try:
        info = detect(isolation)
    except (ValueError, IsolationProbeError):
        return None  # run_single turns the same failure into an "error" outcome per program
    fitting = [program for program in programs if fits_fork_server(program, info)]
    return server_config(info, fitting, watchdog_grace_s=watchdog_grace_s) if fitting else None


def run_batch(programs: Sequence[Program], *, workers: int, isolation: str = "auto", mode: str = "forkserver",
              progress: Callable[[int, int], None] | None = None, watchdog_grace_s: float = 15.0,
              strikes: int = _STRIKES, pool: ForkServerPool | None = None) -> tuple[list[Outcome], BatchStats]:
    """Run programs on `workers` threads; outcomes in input order, and what the servers went through.

    progress(done, total) is called in the caller's thread after each one finishes; if it raises,
    programs not yet started are dropped and the exception propagates. pool: servers to reuse and to
    leave warm for the next batch; without one, the batch's servers are stopped when it ends.
    """
    if mode not in SANDBOX_MODES:
        raise ValueError(f"unknown sandbox mode {mode!r}; choose one of {', '.join(SANDBOX_MODES)}")
    items = list(programs)
    total = len(items)
    if total == 0:
        return [], BatchStats()
    own_pool = pool is None
    batch = _Batch(items, isolation, _config(items, isolation, mode, watchdog_grace_s), max(1, strikes),
                   pool if pool is not None else ForkServerPool())
    for index in range(total):
        batch.todo.put(index)
    threads = [threading.Thread(target=batch.work, name=f"codetune-sandbox-{number}", daemon=True)
               for number in range(max(1, min(workers, total)))]
    for thread in threads:
        thread.start()
    results: list[Outcome | None] = [None] * total
    try:
        for finished in range(1, total + 1):
            index, outcome = batch.done.get()
            if isinstance(outcome, BaseException):
                raise outcome
            if results[index] is not None:  # pragma: no cover - would be a bug in the reruns
                raise RuntimeError(f"program {index} got two outcomes")
            results[index] = outcome
            if progress is not None:
                progress(finished, total)
    finally:
        batch.stop.set()
        for thread in threads:
            thread.join()
        if own_pool:
            batch.pool.close()
    return [outcome for outcome in results if outcome is not None], batch.stats
