"""run_program / run_many: the sandbox's entry points, choosing the fork-server or per-program path.

Mode "forkserver" (the default): Python programs run in fork servers (forkserver.py, batch.py), one
warm interpreter per container and worker that forks a pristine child per program; everything else,
and every program where a server cannot start, takes the per-program path (single.py). Mode "process":
every program gets a fresh container and interpreter, as before the fork server existed (kept for
comparison and as the fallback). The mode is a parameter, else $CODETUNE_SANDBOX_MODE, else forkserver.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from engine.scoring.sandbox.batch import SANDBOX_MODES, ForkServerPool, run_batch
from engine.scoring.sandbox.isolation import IsolationInfo, detect
from engine.scoring.sandbox.model import Outcome, Program

MODE_ENV = "CODETUNE_SANDBOX_MODE"


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


def sandbox_mode(mode: str | None = None) -> str:
    """The mode to use: the argument, else $CODETUNE_SANDBOX_MODE, else "forkserver" (ValueError if unknown)."""
    chosen = mode or os.environ.get(MODE_ENV, "").strip() or "forkserver"
    if chosen not in SANDBOX_MODES:
        raise ValueError(f"unknown sandbox mode {chosen!r} (from {'the call' if mode else MODE_ENV}); "
                         f"choose one of {', '.join(SANDBOX_MODES)}")
    return chosen


def run_program(program: Program, *, isolation: str = "auto", mode: str | None = None) -> Outcome:
    """Run one program in the sandbox and say how it ended. Never runs it in this process.

    isolation: "auto" (the strongest form that works here) or a form name (bwrap, bwrap-root, unshare,
    none) to insist on; a form that does not work here gives an "error" outcome. mode: see the module.
    """
    outcomes, _ = run_batch([program], workers=1, isolation=isolation, mode=sandbox_mode(mode))
    return outcomes[0]


def run_many(programs: Sequence[Program], max_workers: int | None = None,
             progress: Callable[[int, int], None] | None = None, *, isolation: str = "auto",
             mode: str | None = None, pool: ForkServerPool | None = None) -> list[Outcome]:
    """Run programs in parallel; outcomes in input order.

    max_workers: how many run at once (each with its own fork server), default one per usable core.
    progress(done, total) is called in the caller's thread after each one finishes; if it raises, runs
    not yet started are cancelled and the exception propagates. pool: a ForkServerPool that keeps the
    servers warm for the caller's next call (else they stop when this one returns).
    """
    outcomes, _ = run_batch(programs, workers=max_workers or default_workers(), isolation=isolation,
                            mode=sandbox_mode(mode), progress=progress, pool=pool)
    return outcomes
