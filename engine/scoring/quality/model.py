"""The data model of static code-quality analysis: samples in, findings and per-analyser results out.

One `ToolResult` per (sample, analyser): status `ok` (the analyser's tool analysed the code; its findings
and measures are complete), `failed` (the tool broke on this sample, or is missing from the machine) or
`skipped` (the input is not analysable: empty, binary, too large). A failed or skipped result carries no
findings and no measures, only a `detail` saying why: "no findings" always means the tool ran.
The `tool` field of a Finding or ToolResult holds the analyser's name, as the stored `tool` column does.

`ToolResult.finding_rows()` / `quality_rows()` give the rows of engine.runs.rundir' FINDINGS_SCHEMA and
QUALITY_SCHEMA minus the sample key (run_id, task, sample_id, sample_index), which the caller adds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Language = Literal["python", "java", "csharp"]
LANGUAGES: tuple[str, ...] = ("python", "java", "csharp")
Status = Literal["ok", "failed", "skipped"]
# One severity scale for every analyser, so findings can be filtered across them; the tool's own
# grouping (pylint's E/W/C/R, checkstyle's check package, ...) lives in `category`.
SEVERITIES: tuple[str, ...] = ("error", "warning", "info")


@dataclass(frozen=True)
class Sample:
    """One piece of generated code to analyse; `key` is the caller's identifier, echoed back."""

    key: str
    code: str
    language: Language


@dataclass(frozen=True)
class Finding:
    """One message of one analyser about one sample; `line` is 1-based in the sample's own code."""

    tool: str
    rule_id: str
    category: str
    severity: str  # one of SEVERITIES
    line: int | None
    message: str


@dataclass(frozen=True)
class ToolResult:
    """What one analyser said about one sample (`tool` = the analyser's name)."""

    key: str
    tool: str
    status: Status
    detail: str = ""
    findings: tuple[Finding, ...] = ()
    measures: dict[str, float] = field(default_factory=dict)

    def finding_rows(self) -> list[dict[str, Any]]:
        """FINDINGS_SCHEMA rows without the sample key columns."""
        return [
            {
                "tool": f.tool,
                "rule_id": f.rule_id,
                "category": f.category,
                "severity": f.severity,
                "line": f.line,
                "message": f.message,
            }
            for f in self.findings
        ]

    def quality_rows(self) -> list[dict[str, Any]]:
        """QUALITY_SCHEMA rows without the sample key: one per measure, or one status-only row."""
        base = {"tool": self.tool, "status": self.status, "detail": self.detail}
        if self.status != "ok" or not self.measures:
            return [{**base, "measure": None, "value": None}]
        return [
            {**base, "measure": name, "value": float(value)} for name, value in sorted(self.measures.items())
        ]


def _default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class QualityConfig:
    """How the analysers run. The defaults suit the project's machines (Debian packages on PATH).

    executables: overrides for external programs by name: "java" (javac analyser), "checkstyle",
        "mcs". A value that is not an existing executable makes the results of its analysers `failed`.
    checkstyle_config_dir: where sun_checks.xml / google_checks.xml are read from (default: the
        Debian package's /usr/share/checkstyle, else the copies inside the checkstyle jar).
    timeout_s: wall-clock limit of one external tool invocation (a batch of files or one file).
    max_code_chars: longer samples are `skipped` as too large.
    workers: parallel external processes for tools that run one process per file (mcs).
    batch_size: most files handed to one JVM (checkstyle, javac), bounding what one crash costs.
    """

    executables: Mapping[str, str] = field(default_factory=dict)
    checkstyle_config_dir: str | None = None
    timeout_s: float = 300.0
    max_code_chars: int = 200_000
    workers: int = field(default_factory=_default_workers)
    batch_size: int = 400


@dataclass(frozen=True)
class AnalyserInfo:
    """A registered analyser, whether it can run on this machine, and what its finding categories mean."""

    name: str
    languages: tuple[str, ...]
    default_for: tuple[str, ...]
    description: str
    available: bool
    detail: str  # what it runs, or why it is unavailable and how to fix that
    categories: Mapping[str, str] = field(default_factory=dict)
