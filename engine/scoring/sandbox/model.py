"""Value types of the sandbox: the limits a run gets, the program to run, and the outcome it had.

This module owns only plain frozen data (no processes, no I/O), so every other part of the sandbox and
its callers can share these types without side effects.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal, get_args

Language = Literal["python", "java", "csharp"]
Status = Literal["passed", "failed", "timeout", "error", "compile_error", "violation"]

LANGUAGES: tuple[str, ...] = get_args(Language)
STATUSES: tuple[str, ...] = get_args(Status)


@dataclass(frozen=True)
class Limits:
    """Resource limits for one sandboxed program.

    timeout_s: wall-clock limit of the run phase (the compile phase of Java / C# has compile_timeout_s).
    cpu_s: CPU-time limit per process (RLIMIT_CPU); None derives it as 2 × timeout_s + 1, because the
        JVM and mono run JIT / GC threads beside the program and the wall clock is the real limit.
    memory_mb: memory the program may write to (RLIMIT_DATA; RLIMIT_AS as well for Python). Java gets
        it as its heap (-Xmx) and mono as its GC heap cap; the runtime's own reservations are added on
        top (see languages.py), since a JVM cannot even start under a 1 GiB address-space limit.
    file_size_mb: largest file the program may write (RLIMIT_FSIZE).
    max_processes: processes + threads of the run (RLIMIT_NPROC, enforced because every run gets its
        own unprivileged uid; see isolation.py). The JVM alone needs ~20 threads.
    max_open_files: RLIMIT_NOFILE.
    output_bytes: how much of the end of stdout and of stderr each is kept (the rest is read and
        dropped, so a flood cannot exhaust the caller's memory).
    compile_timeout_s: wall-clock limit of javac / mcs.
    """

    timeout_s: float = 10.0
    cpu_s: float | None = None
    memory_mb: int = 1024
    file_size_mb: int = 16
    max_processes: int = 64
    max_open_files: int = 256
    output_bytes: int = 64 * 1024
    compile_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        for name in ("timeout_s", "memory_mb", "file_size_mb", "max_processes", "max_open_files",
                     "output_bytes", "compile_timeout_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"Limits.{name} must be a positive finite number, got {value!r}")
        if self.cpu_s is not None and (not math.isfinite(self.cpu_s) or self.cpu_s <= 0):
            raise ValueError(f"Limits.cpu_s must be a positive number or None, got {self.cpu_s!r}")

    def effective_cpu_s(self, wall_s: float | None = None) -> int:
        """The RLIMIT_CPU soft limit in whole seconds for a phase whose wall limit is wall_s."""
        if self.cpu_s is not None:
            return max(1, math.ceil(self.cpu_s))
        wall = self.timeout_s if wall_s is None else wall_s
        return max(1, math.ceil(2 * wall + 1))


@dataclass(frozen=True)
class Program:
    """One untrusted program: its complete source, its language, optional limits and stdin text.

    Python: the source runs as a script (HumanEval: prompt + completion + test + check(entry_point)).
    Java: the source is written to <public class>.java (Main.java for HumanEval-X), compiled with javac
    and run with `java -ea <that class>`.
    C#: MultiPL-E style, a class with `static void Main` that uses Debug.Assert; compiled with
    `mcs -d:DEBUG` so the asserts are live, and a failed assert ends the run as failed.
    """

    source: str
    language: Language
    limits: Limits | None = None
    stdin: str = ""

    def __post_init__(self) -> None:
        if self.language not in LANGUAGES:
            raise ValueError(f"Program.language must be one of {', '.join(LANGUAGES)}, got {self.language!r}")
        if not isinstance(self.source, str):
            raise TypeError(f"Program.source must be str, got {type(self.source).__name__}")

    @property
    def effective_limits(self) -> Limits:
        """The limits this program runs under (the defaults when none were given)."""
        return self.limits if self.limits is not None else Limits()


@dataclass(frozen=True)
class Outcome:
    """What happened to one program.

    status: passed | failed | timeout | error | compile_error | violation (a sandbox limit other than
        time stopped it: memory or file size).
    exit_code: the exit status of the last phase that ran (negative: killed by that signal); None when
        nothing ran (empty program, sandbox set-up failure).
    duration_s: wall time of all phases together.
    stdout_tail / stderr_tail: the last Limits.output_bytes of each stream, decoded as UTF-8 with
        replacement; a truncated stream starts with a "[... N bytes dropped ...]" line.
    isolation: what isolation this run had (isolation.py describes the forms).
    reason: one human-readable line saying why the status is what it is.
    """

    status: Status
    exit_code: int | None
    duration_s: float
    stdout_tail: str
    stderr_tail: str
    isolation: str
    reason: str

    @property
    def passed(self) -> bool:
        """True when status is "passed"."""
        return self.status == "passed"

    def to_dict(self) -> dict[str, object]:
        """The outcome as a JSON-ready dict (field name -> value)."""
        return asdict(self)
