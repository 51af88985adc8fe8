"""The analyser contract and the helpers analysers share.

An analyser is a subclass of `Analyser` in its own module under `builtin/` (or in a plugin module named
in CODETUNE_PLUGINS), listed in that module's `ANALYSERS` tuple; a built-in module's path is one line
of api.ANALYSER_MODULES. The analyser wraps an external program or library, its *tool* (pylint, javac,
...). `analyse_batch` receives every sample of its languages at once (already
checked by prepare.input_problem) plus a private temporary directory, and returns one ToolResult per
sample, in order. It may raise: the caller then records every sample of the batch as `failed` with
the exception, so a crash never reads as "no findings".

External programs run through `run_command` (argument lists, never a shell; own process group, killed
whole on timeout). Nothing here executes the generated code.
"""

from __future__ import annotations

import abc
import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from engine.scoring.quality.model import SEVERITIES, Finding, QualityConfig, Sample, ToolResult

DETAIL_LIMIT = 600
# The prefix of every `failed` detail that means the analyser's tool is missing here (api._run_analyser
# writes it; failure_kind reads it): only that cause is fixed by installing something.
UNAVAILABLE_PREFIX = "tool unavailable:"
# Why an analysis failed, from its detail (failure_kind): what the Quality page tells the user.
FAILURE_KINDS = ("unavailable", "timeout", "unparseable", "crash", "other")
_UNPARSEABLE = re.compile(r"cannot parse|could not analyse|syntax error|parse-error|SyntaxError", re.IGNORECASE)
# The measures every finding analyser reports (severity_measures), with their meaning.
SEVERITY_MEASURES = {
    "findings": "findings in the sample (all severities)",
    **{f"findings_{s}": f"findings of severity {s} in the sample" for s in SEVERITIES},
}


class AnalyserUnavailable(RuntimeError):
    """The analyser cannot run on this machine (a program or package is missing)."""


class Analyser(abc.ABC):
    """One analyser: a static analysis tool run in a fixed way. Subclasses set the class attributes and
    implement analyse_batch.

    name: the registry key, stored in the `tool` column of the findings and quality tables.
    languages: the sample languages it analyses.
    default_for: the languages whose default analyser list includes it.
    description: one line saying what runs.
    categories: what each value of a finding's `category` means (empty for measure-only analysers).
    measures: what each per-sample measure it reports means (the glossary and the Samples page show it).
    """

    name: ClassVar[str]
    languages: ClassVar[tuple[str, ...]]
    default_for: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""
    categories: ClassVar[dict[str, str]] = {}
    measures: ClassVar[dict[str, str]] = {}

    def check_available(self, config: QualityConfig) -> str:
        """What will run (e.g. the resolved program path); raises AnalyserUnavailable with the fix."""
        del config
        return "in-process"

    @abc.abstractmethod
    def analyse_batch(
        self, samples: Sequence[Sample], workdir: Path, config: QualityConfig
    ) -> list[ToolResult]:
        """One result per sample, in the order given."""


def shorten(text: str, limit: int = DETAIL_LIMIT) -> str:
    """`text` on one line-ish and at most `limit` characters, for details and messages."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def ok(
    sample: Sample,
    tool: str,
    findings: Sequence[Finding] = (),
    measures: dict[str, float] | None = None,
    detail: str = "",
) -> ToolResult:
    """A successful analysis."""
    return ToolResult(
        key=sample.key,
        tool=tool,
        status="ok",
        detail=shorten(detail),
        findings=tuple(findings),
        measures=dict(measures or {}),
    )


def failed(sample: Sample, tool: str, detail: str) -> ToolResult:
    """The tool broke on this sample (or could not run); no findings, no measures."""
    return ToolResult(key=sample.key, tool=tool, status="failed", detail=shorten(detail))


def skipped(sample: Sample, tool: str, detail: str) -> ToolResult:
    """The input is not analysable; no findings, no measures."""
    return ToolResult(key=sample.key, tool=tool, status="skipped", detail=shorten(detail))


def failure_kind(status: str, detail: str) -> str:
    """Why a `failed` analysis failed, from its detail: one of FAILURE_KINDS ('skipped' for a skip).

    'unavailable' (the tool is missing here), 'timeout', 'unparseable' (the tool could not parse the
    generated code: a property of the code, not of the setup), 'crash' (the analyser raised), 'other'.
    """
    if status == "skipped":
        return "skipped"
    text = detail or ""
    if text.startswith(UNAVAILABLE_PREFIX):
        return "unavailable"
    if "timed out" in text:
        return "timeout"
    if _UNPARSEABLE.search(text):
        return "unparseable"
    if " crashed: " in text:
        return "crash"
    return "other"


def severity_measures(findings: Sequence[Finding]) -> dict[str, float]:
    """`findings` and `findings_<severity>` counts (always every severity, zeros included)."""
    counts = {f"findings_{severity}": 0.0 for severity in SEVERITIES}
    for finding in findings:
        counts[f"findings_{finding.severity}"] = counts.get(f"findings_{finding.severity}", 0.0) + 1
    return {"findings": float(len(findings)), **counts}


def join_details(*parts: str) -> str:
    """Non-empty parts joined with '; '."""
    return "; ".join(part for part in parts if part)


def require_module(module: str) -> str:
    """An in-process analyser's availability: 'in-process <module>', or AnalyserUnavailable with the fix."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise AnalyserUnavailable(f"the {module} package is not installed (pip install {module}; make setup)")
    return f"in-process {module}"


def resolve_program(config: QualityConfig, name: str, install_hint: str) -> str:
    """The executable for `name` (config override, else PATH); AnalyserUnavailable with a fix if none."""
    configured = config.executables.get(name)
    candidate = configured or name
    found = shutil.which(candidate)
    if found is None:
        where = f"configured path {configured!r}" if configured else f"{name!r} on PATH"
        raise AnalyserUnavailable(f"{name} not found ({where} is not an executable); {install_hint}")
    return found


@dataclass(frozen=True)
class CommandResult:
    """Outcome of one external program run."""

    returncode: int
    stdout: str
    stderr: str
    timed_out: bool
    seconds: float

    def tail(self, limit: int = 400) -> str:
        """The end of stderr (else stdout), for a failure detail."""
        text = (self.stderr.strip() or self.stdout.strip()).replace("\n", " | ")
        return text[-limit:]


def run_command(
    argv: Sequence[str], *, cwd: Path, timeout_s: float, env: dict[str, str] | None = None
) -> CommandResult:
    """Run a program (no shell) in its own process group; on timeout the whole group is killed.

    Raises AnalyserUnavailable when the program cannot be started at all.
    """
    start = time.monotonic()
    timed_out = False
    try:
        # An argument list built by our own code, never a shell.
        with subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        ) as proc:
            try:
                stdout, stderr = proc.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                # JVMs and compilers may fork helpers: kill the group, not just the direct child.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                stdout, stderr = proc.communicate()
    except OSError as exc:
        raise AnalyserUnavailable(f"cannot start {argv[0]!r}: {exc}") from exc
    return CommandResult(
        returncode=proc.returncode,
        stdout=stdout or "",
        stderr=stderr or "",
        timed_out=timed_out,
        seconds=time.monotonic() - start,
    )


def tool_env(**extra: str) -> dict[str, str]:
    """The environment for external tools: ours, minus variables that would change their behaviour."""
    env = {
        k: v for k, v in os.environ.items() if k not in {"CLASSPATH", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS"}
    }
    env.update({"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"})
    env.update(extra)
    return env
