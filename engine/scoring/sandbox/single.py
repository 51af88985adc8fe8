"""The per-program path: one untrusted program per fresh temp dir, uid, container and interpreter.

A run: detect the isolation form (cached), write the program's files into a new temp dir owned by a
throw-away uid, run each phase (compile, run) through process.run_phase, read the last phase's exit
through languages.verdict, then kill whatever that uid still has running and delete the temp dir.
Nothing the program does raises here: bad input, crashes and sandbox set-up failures all come back as
an Outcome with a reason. Java and C# always take this path; Python takes it in mode "process", where
the fork server cannot start, and for a program that brought its fork server down twice (batch.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile

from engine.scoring.sandbox.isolation import IsolationProbeError, build_launch, detect, draw_uid, kill_uid
from engine.scoring.sandbox.languages import recipe, signal_of, verdict
from engine.scoring.sandbox.model import Outcome, Program
from engine.scoring.sandbox.process import PhaseResult, run_phase

MIB = 1 << 20


def remove_tree(path: str) -> None:
    """Delete a run's work dir, whatever modes the program left inside it."""

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


def work_root(uid: int | None) -> str | None:
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


def notes(result: PhaseResult, cap: int) -> str:
    """The reason's note on output cut to its last `cap` bytes ("" when nothing was cut)."""
    cut = [f"{name} was {size} bytes, only the last {cap} kept"
           for name, size in (("stdout", result.stdout_bytes), ("stderr", result.stderr_bytes)) if size > cap]
    return f" ({'; '.join(cut)})" if cut else ""


def error_outcome(reason: str, isolation: str, duration_s: float = 0.0) -> Outcome:
    """An "error" outcome where nothing ran to a verdict."""
    return Outcome(status="error", exit_code=None, duration_s=duration_s, stdout_tail="", stderr_tail="",
                   isolation=isolation, reason=reason)


def run_single(program: Program, *, isolation: str = "auto") -> Outcome:
    """Run one program in a container of its own and say how it ended. Never runs it in this process.

    isolation: "auto" (the strongest form that works here) or a form name (bwrap, bwrap-root, unshare,
    none) to insist on; a form that does not work here gives an "error" outcome.
    """
    limits = program.effective_limits
    try:
        info = detect(isolation)
    except (ValueError, IsolationProbeError) as exc:
        return error_outcome(f"sandbox unavailable: {exc}", "unavailable")
    described = info.describe()
    if not program.source.strip():
        return error_outcome("empty program: there is nothing to run", described)
    try:
        steps = recipe(program)
    except LookupError as exc:
        return error_outcome(f"toolchain missing: {exc}", described)

    uid = draw_uid() if info.per_run_uid else None
    through_bwrap = info.mode in ("bwrap", "bwrap-root")
    tmp_bytes = max(16, 4 * limits.file_size_mb) * MIB
    try:
        workdir = tempfile.mkdtemp(prefix="codetune-sandbox-", dir=work_root(uid))
    except OSError as exc:
        return error_outcome(f"sandbox set-up failed: cannot create a work dir: {exc}", described)
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
                           reason=found.reason + notes(result, limits.output_bytes))
        return error_outcome("no phase produced a verdict", described, duration)  # pragma: no cover
    except OSError as exc:
        return error_outcome(f"sandbox set-up failed: {exc}", described, duration)
    finally:
        if uid is not None:
            kill_uid(uid)
        remove_tree(workdir)
        if stdin_path is not None:
            with contextlib.suppress(OSError):
                os.unlink(stdin_path)
