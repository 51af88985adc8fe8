"""The sandbox for untrusted generated code (Python, Java, C#): the only place such code is run.

Public API:
    Limits, Program, Outcome              frozen value types (model.py)
    run_program(program) -> Outcome       one program, in its own temp dir, uid, namespaces, rlimits
    run_many(programs, max_workers, progress) -> list[Outcome]   parallel, results in input order
    isolation_available() -> str          what isolation this machine allows
    main(argv) -> int                     the `codetune sandbox FILE --lang L [--timeout S]` command

Layout: model.py (types), isolation.py (bwrap / unshare / uid / rlimit wrapping and clean-up),
process.py (spawn, capped output, wall clock, killing), languages.py (per-language harnesses and how
exits read), runner.py (run_program / run_many), cli.py (main).
"""

from engine.scoring.sandbox.cli import main
from engine.scoring.sandbox.isolation import IsolationInfo
from engine.scoring.sandbox.model import LANGUAGES, STATUSES, Language, Limits, Outcome, Program, Status
from engine.scoring.sandbox.runner import (
    default_workers,
    isolation_available,
    isolation_info,
    run_many,
    run_program,
)

__all__ = [
    "LANGUAGES",
    "STATUSES",
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
]
