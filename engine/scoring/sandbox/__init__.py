"""The sandbox for untrusted generated code (Python, Java, C#): the only place such code is run.

Public API:
    Limits, Program, Outcome              frozen value types (model.py)
    run_program(program) -> Outcome       one program, in its own temp dir, namespaces, rlimits
    run_many(programs, max_workers, progress) -> list[Outcome]   parallel, results in input order
    ForkServerPool()                      keeps fork servers warm across run_many calls (pool=...)
    sandbox_mode(mode) -> str             "forkserver" (default) or "process" ($CODETUNE_SANDBOX_MODE)
    isolation_available() -> str          what isolation this machine allows
    main(argv) -> int                     the `codetune sandbox FILE --lang L [--timeout S]` command

Layout: model.py (types), isolation.py (bwrap / unshare / uid / rlimit wrapping and clean-up),
process.py (spawn, capped output, wall clock, killing), languages.py (per-language harnesses and how
exits read), single.py (the per-program path), forkserver.py + forkserver_inside.py (a warm Python
interpreter per container that forks a pristine child per program), batch.py (worker threads, reruns,
fallback), runner.py (run_program / run_many and the mode), cli.py (main).
"""

from engine.scoring.sandbox.batch import ForkServerPool
from engine.scoring.sandbox.cli import main
from engine.scoring.sandbox.isolation import IsolationInfo
from engine.scoring.sandbox.model import LANGUAGES, STATUSES, Language, Limits, Outcome, Program, Status
from engine.scoring.sandbox.runner import (
    default_workers,
    isolation_available,
    isolation_info,
    run_many,
    run_program,
    sandbox_mode,
)

__all__ = [
    "LANGUAGES",
    "STATUSES",
    "ForkServerPool",
    "IsolationInfo",
    "Language",
    "Limits",
    "Outcome",
    "Program",
    "Status",
    "default_workers",
    "isolation_available",
    "isolation_info",
    "main",
    "run_many",
    "run_program",
    "sandbox_mode",
]
