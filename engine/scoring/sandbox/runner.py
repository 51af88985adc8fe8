"""run_program / run_many: one untrusted program per fresh temp dir, uid and namespaces; outcomes back.

A run: detect the isolation form (cached), write the program's files into a new temp dir owned by a
throw-away uid, run each phase (compile, run) through process.run_phase, read the last phase's exit
through languages.verdict, then kill whatever that uid still has running and delete the temp dir.
Nothing the program does raises here: bad input, crashes and sandbox set-up failures all come back as
an Outcome with a reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from engine.scoring.sandbox.isolation import (
    IsolationInfo,
    IsolationProbeError,
    build_launch,
    detect,
    draw_uid,
    kill_uid,
)
from engine.scoring.sandbox.languages import recipe, signal_of, verdict
from engine.scoring.sandbox.model import Outcome, Program
from engine.scoring.sandbox.process import PhaseResult, run_phase

MIB = 1 << 20


def isolation_available() -> str:
    """A one-line description of the strongest isolation this machine allows (probed once per process)."""
    return detect("auto").describe()


def isolation_info(isolation: str = "auto") -> IsolationInfo:
    """The structured form of isolation_available(): which namespaces, uid switching, rlimit tool."""
    return detect(isolation)


def default_workers() -> int:
    """One run per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _remove_tree(path: str) -> None:
    def make_writable(_func: object, failed: str, _exc: object) -> None:
        # A program may leave read-only directories behind; only matters when we are not root.
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(failed), stat.S_IRWXU)
            if os.path.isdir(failed) and not os.path.islink(failed):
                os.chmod(failed, stat.S_IRWXU)
                shutil.rmtree(failed, ignore_errors=True)
            else:
                os.unlink(failed)

    shutil.rmtree(path, onerror=make_writable)
    shutil.rmtree(path, ignore_errors=True)


def _work_root(uid: int | None) -> str | None:
    """Where run dirs go: the temp dir, unless the run's uid could not pass through it (then /tmp)."""
    base = tempfile.gettempdir()
    if uid is None:
        return base
    path = os.path.realpath(base)
    while True:
        if not os.stat(path).st_mode & stat.S_IXOTH:
            return "/tmp"
        if path == "/":
            return base
        path = os.path.dirname(path)


def _notes(result: PhaseResult, cap: int) -> str:
    notes = []
    for name, size in (("stdout", result.stdout_bytes), ("stderr", result.stderr_bytes)):
        if size > cap:
            notes.append(f"{name} was {size} bytes, only the last {cap} kept")
    return f" ({'; '.join(notes)})" if notes else ""


def _error(reason: str, isolation: str, duration_s: float = 0.0) -> Outcome:
    return Outcome(status="error", exit_code=None, duration_s=duration_s, stdout_tail="", stderr_tail="",
                   isolation=isolation, reason=reason)


def run_program(program: Program, *, isolation: str = "auto") -> Outcome:
    """Run one program in the sandbox and say how it ended. Never runs it in this process.

    isolation: "auto" (the strongest form that works here) or a form name (bwrap, bwrap-root, unshare,
    none) to insist on; a form that does not work here gives an "error" outcome.
    """
    limits = program.effective_limits
    try:
        info = detect(isolation)
    except (ValueError, IsolationProbeError) as exc:
        return _error(f"sandbox unavailable: {exc}", "unavailable")
    described = info.describe()
    if not program.source.strip():
        return _error("empty program: there is nothing to run", described)
    try:
        steps = recipe(program)
    except LookupError as exc:
        return _error(f"toolchain missing: {exc}", described)

    uid = draw_uid() if info.per_run_uid else None
    through_bwrap = info.mode in ("bwrap", "bwrap-root")
    tmp_bytes = max(16, 4 * limits.file_size_mb) * MIB
    try:
        workdir = tempfile.mkdtemp(prefix="codetune-sandbox-", dir=_work_root(uid))
    except OSError as exc:
        return _error(f"sandbox set-up failed: cannot create a work dir: {exc}", described)
    stdin_path: str | None = None
    duration = 0.0
    try:
        for name, content in steps.files.items():
            with open(os.path.join(workdir, name), "wb") as handle:
                handle.write(content)
        if program.stdin:
            fd, stdin_path = tempfile.mkstemp(prefix="codetune-sandbox-stdin-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(program.stdin.encode("utf-8", errors="surrogatepass"))
        if uid is not None:
            os.chown(workdir, uid, uid)
        os.chmod(workdir, stat.S_IRWXU)
        for phase in steps.phases:
            launch = build_launch(info, workdir=workdir, command=phase.command, rlimits=phase.rlimits,
                                  uid=uid, extra_env=phase.extra_env, tmp_bytes=tmp_bytes)
            # With a pid namespace the kernel kills everything left when the sandbox ends, so sweeping
            # the uid once, at the end, is enough; without one, each phase sweeps as soon as it ends.
            result = run_phase(launch, timeout_s=phase.timeout_s, output_bytes=limits.output_bytes,
                               uid=None if info.pid_namespace else uid,
                               stdin_path=stdin_path if phase.name == "run" else None)
            duration += result.duration_s
            found = verdict(program, phase, result, through_bwrap=through_bwrap)
            if found is None:
                continue
            sig = signal_of(result.returncode, through_bwrap=through_bwrap)
            return Outcome(status=found.status, exit_code=-sig if sig is not None else result.returncode,
                           duration_s=round(duration, 4), stdout_tail=result.stdout,
                           stderr_tail=result.stderr, isolation=described,
                           reason=found.reason + _notes(result, limits.output_bytes))
        return _error("no phase produced a verdict", described, duration)  # pragma: no cover
    except OSError as exc:
        return _error(f"sandbox set-up failed: {exc}", described, duration)
    finally:
        if uid is not None:
            kill_uid(uid)
        _remove_tree(workdir)
        if stdin_path is not None:
            with contextlib.suppress(OSError):
                os.unlink(stdin_path)


def run_many(programs: Sequence[Program], max_workers: int | None = None,
             progress: Callable[[int, int], None] | None = None, *, isolation: str = "auto") -> list[Outcome]:
    """Run programs in parallel (one waiting thread per running sandbox); outcomes in input order.

    max_workers: how many run at once, default one per usable core. progress(done, total) is called
    in the caller's thread after each one finishes; if it raises, runs not yet started are cancelled
    and the exception propagates.
    """
    items = list(programs)
    total = len(items)
    if total == 0:
        return []
    workers = max(1, min(max_workers or default_workers(), total))
    results: list[Outcome | None] = [None] * total
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="codetune-sandbox")
    try:
        pending: dict[Future[Outcome], int] = {
            pool.submit(run_program, item, isolation=isolation): index for index, item in enumerate(items)
        }
        done_count = 0
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                results[pending.pop(future)] = future.result()
                done_count += 1
                if progress is not None:
                    progress(done_count, total)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return [outcome for outcome in results if outcome is not None]
