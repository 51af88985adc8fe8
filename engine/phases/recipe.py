"""The recipe of one run: prepare → train → generate → score → analyse, resumable by phase.

`execute(run)` reads the run's spec, skips the phases already done (status.json phases_done),
and runs the rest. Training resumes from the last checkpoint; generation and scoring skip the
samples already written. Any exception marks the run failed with the phase, the error and a
traceback tail; a cancellation marks it cancelled. Run it as `python -m engine.phases.recipe RUN_DIR`
(what the worker does, in a child process) or in-process (`codetune run`).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from engine.phases import analyse, generate, prepare, score, train
from engine.phases.context import Cancelled, PhaseContext
from engine.runs.rundir import RunDir
from engine.settings import Settings, load_settings
from engine.spec import RunSpec
from engine.vocabulary import CANCELLED, DONE, FAILED, PHASES, RUNNING, Progress

# in the order of engine.vocabulary.PHASES
PHASE_FUNCTIONS: dict[str, Callable[[PhaseContext], None]] = dict(
    zip(PHASES, (prepare.run, train.run, generate.run, score.run, analyse.run), strict=True))


# --- driver ------------------------------------------------------------------------------------


def _error_record(phase: str, exc: BaseException) -> dict[str, Any]:
    tail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-4000:]
    return {"phase": phase, "type": type(exc).__name__, "message": str(exc), "traceback": tail}


def execute(run: RunDir, settings: Settings | None = None, console: bool = False) -> str:
    """Run the remaining phases of `run`; returns the final state (done | failed | cancelled).

    The caller must own the run's lock.
    """
    settings = settings or load_settings()
    status = run.read_status()
    done = list(status.phases_done)
    phase = "prepare"
    try:
        spec = RunSpec.model_validate(run.read_spec())
        from engine.models.load import pick_device

        ctx = PhaseContext(run=run, spec=spec, settings=settings, device=pick_device(spec.resources.device),
                           console=console)
        run.update_status(state=RUNNING, error=None, started_at=status.started_at or time.time())
        for phase in PHASES:
            if phase in done:
                continue
            ctx.check_cancel()
            run.update_status(phase=phase, progress=Progress(phase, 0, 0))
            run.append_event("phase", phase=phase, status="start")
            if console:
                print(f"[{run.run_id}] {phase}", file=sys.stderr, flush=True)
            started = time.time()
            PHASE_FUNCTIONS[phase](ctx)
            done.append(phase)
            run.update_status(phases_done=done)
            run.append_event("phase", phase=phase, status="end", seconds=time.time() - started)
    except Cancelled as exc:
        run.update_status(state=CANCELLED, finished_at=time.time(), error=None)
        run.append_event("cancelled", phase=phase, message=str(exc))
        return CANCELLED
    except Exception as exc:  # pylint: disable=broad-exception-caught
        # one bad run must never take down the worker: record everything and report failure
        record = _error_record(phase, exc)
        run.update_status(state=FAILED, finished_at=time.time(), error=record)
        run.append_event("error", **record)
        if console:
            print(f"\n[{run.run_id}] failed in {phase}: {exc}", file=sys.stderr)
        return FAILED
    # error=None: a status.json found unreadable during the run was rewritten with a CorruptRunFile error
    run.update_status(state=DONE, phase=None, finished_at=time.time(), progress=None, error=None)
    run.append_event("done")
    return DONE


def main(argv: list[str] | None = None) -> int:
    """Entry point of the run process the worker starts: `python -m engine.phases.recipe RUN_DIR`."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m engine.phases.recipe RUN_DIR", file=sys.stderr)
        return 2
    state = execute(RunDir(Path(args[0])))
    return {DONE: 0, CANCELLED: 3}.get(state, 1)


def exit_now(code: int) -> NoReturn:
    """End the run process with `code` as soon as its output is flushed and its exit handlers ran,
    skipping the interpreter's teardown: with torch and transformers loaded that takes ~2 s, which the
    worker would wait for before its next run."""
    atexit._run_exitfuncs()  # pylint: disable=protected-access  # what sys.exit would run first
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
