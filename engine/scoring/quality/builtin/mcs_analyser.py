"""mcs -warn:4 (C#, Mono's compiler): compiler errors and warnings per sample.

Each sample is compiled on its own as a library (`-target:library`, so no Main is needed), in its
own directory; samples cannot share one call because they declare the same type names, and one
sample's syntax error stops mcs before it checks any other file. mcs starts in ~0.3 s, so the
samples are compiled by `QualityConfig.workers` processes in parallel.

Findings: rule_id = the CS code (CS0168), category "compile-error" or "compiler-warning", severity
error/warning. A syntax error is a finding (status ok); mcs crashing or timing out is `failed`.
Findings on lines a wrapper added (bare methods are wrapped in `class Wrapper`) are dropped unless
errors. Measures: findings, findings_<severity>, compiled (1 when mcs produced the assembly).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar

from engine.scoring.quality.base import (
    SEVERITY_MEASURES,
    Analyser,
    failed,
    join_details,
    ok,
    resolve_program,
    run_command,
    severity_measures,
    tool_env,
)
from engine.scoring.quality.model import Finding, QualityConfig, Sample, ToolResult
from engine.scoring.quality.prepare import SourceUnit, csharp_unit

NAME = "mcs"
INSTALL_HINT = "install it with `apt-get install --no-install-recommends mono-mcs mono-runtime` (make system)"
_DIAGNOSTIC = re.compile(
    r"^(?:(?P<file>.+?)\((?P<line>\d+),(?P<col>\d+)\)\s*:\s*)?"
    r"(?P<kind>error|warning)\s+(?P<code>CS\d+)\s*:\s*(?P<msg>.*)$"
)
_KIND = {"error": ("compile-error", "error"), "warning": ("compiler-warning", "warning")}


class McsAnalyser(Analyser):
    """Mono's C# compiler with all warnings."""

    name = NAME
    languages = ("csharp",)
    default_for = ("csharp",)
    description = "mcs -warn:4 -target:library, one process per sample (parallel)"
    categories: ClassVar[dict[str, str]] = {
        "compile-error": "the code does not compile (rule = the CS error code); severity error",
        "compiler-warning": "a compiler warning at level 4 (rule = the CS warning code); severity warning",
    }

    measures: ClassVar[dict[str, str]] = {
        **SEVERITY_MEASURES,
        "compiled": "1 when the compiler produced output for the sample, else 0",
    }

    def check_available(self, config: QualityConfig) -> str:
        return resolve_program(config, "mcs", INSTALL_HINT)

    def analyse_batch(
        self, samples: Sequence[Sample], workdir: Path, config: QualityConfig
    ) -> list[ToolResult]:
        program = resolve_program(config, "mcs", INSTALL_HINT)
        jobs = []
        for index, sample in enumerate(samples):
            unit = csharp_unit(sample.code)
            directory = workdir / f"s{index:05d}"
            directory.mkdir()
            with open(directory / unit.filename, "w", encoding="utf-8", newline="") as fh:
                fh.write(unit.text)
            jobs.append((sample, unit, directory))
        with ThreadPoolExecutor(max_workers=max(1, config.workers)) as pool:
            return list(pool.map(lambda job: _compile(program, *job, config), jobs))


def _compile(
    program: str, sample: Sample, unit: SourceUnit, directory: Path, config: QualityConfig
) -> ToolResult:
    argv = [program, "-target:library", "-warn:4", "-out:Sample.dll", unit.filename]
    outcome = run_command(argv, cwd=directory, timeout_s=config.timeout_s, env=tool_env())
    if outcome.timed_out:
        return failed(sample, NAME, f"mcs timed out after {config.timeout_s:.0f} s")
    findings: list[Finding] = []
    dropped = 0
    errors = 0
    for raw in (outcome.stdout + "\n" + outcome.stderr).splitlines():
        match = _DIAGNOSTIC.match(raw.strip())
        if match is None:
            continue
        category, severity = _KIND[match["kind"]]
        errors += severity == "error"
        line, synthetic = unit.map_line(int(match["line"]) if match["line"] else None)
        if synthetic and severity != "error":
            dropped += 1
            continue
        findings.append(Finding(NAME, match["code"], category, severity, line, match["msg"].strip()))
    compiled = (directory / "Sample.dll").is_file()
    if outcome.returncode != 0 and errors == 0:
        # mcs failed without saying what is wrong with the code: the compiler broke, not the sample.
        return failed(sample, NAME, f"mcs exited {outcome.returncode} without a diagnostic: {outcome.tail()}")
    measures = severity_measures(findings)
    measures["compiled"] = 1.0 if compiled else 0.0
    detail = unit.note
    if dropped:
        detail = join_details(detail, f"{dropped} finding(s) about the added wrapper lines dropped")
    return ok(sample, NAME, findings, measures, detail)


ANALYSERS = (McsAnalyser,)
