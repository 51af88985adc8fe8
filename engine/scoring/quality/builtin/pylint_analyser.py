"""pylint, in-process: one `pylint.lint.Run` over every Python sample of a batch.

Each sample becomes `cts_sample_<n>.py` in a fresh directory; pylint runs with pylint's default
checks (an empty rcfile, so the project's own pylint configuration never applies), one job, no
persistent stats. Checks that only exist because many files are linted together (duplicate-code,
cyclic-import) are disabled, so a sample's findings are what `pylint <that file>` reports.

Findings: rule_id = message id (W0612), category = its letter (E/W/C/R/I; F = fatal), severity
error (E) / warning (W) / info (C, R, I). A syntax error is pylint's finding E0001, status ok. A fatal
message (F0001 fatal, F0002 astroid-error, F0010 parse-error) means pylint broke on the file: failed.

Measures: findings, findings_<severity>, count_E/W/C/R/I, statements, and pylint_score, the score
pylint itself would give the file alone (its default evaluation, from the file's own counts):
    max(0, 0 if fatal else 10 - (5 * error + warning + refactor + convention) / statement * 10)
pylint gives no score to a file without statements (e.g. a syntax error), so neither do we.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from engine.scoring.quality.base import (
    SEVERITY_MEASURES,
    Analyser,
    failed,
    join_details,
    ok,
    require_module,
    severity_measures,
)
from engine.scoring.quality.model import Finding, QualityConfig, Sample, ToolResult

NAME = "pylint"
CATEGORY_SEVERITY = {"E": "error", "F": "error", "W": "warning", "C": "info", "R": "info", "I": "info"}
# Checks that compare files with each other: meaningless for independent samples.
BATCH_ONLY_CHECKS = "duplicate-code,cyclic-import"


def pylint_args(files: Sequence[str], rcfile: str) -> list[str]:
    """The pylint command-line arguments used for a batch (also used by the benchmark's per-file runs)."""
    return [*files, "--rcfile", rcfile, "--jobs=1", "--persistent=n", f"--disable={BATCH_ONLY_CHECKS}"]


def file_score(counts: dict[str, int]) -> float | None:
    """pylint's default evaluation for one file's message counts; None when it has no statements."""
    statements = counts.get("statement", 0)
    if statements <= 0:
        return None
    if counts.get("fatal", 0):
        return 0.0
    penalty = 5 * counts.get("error", 0) + counts.get("warning", 0)
    penalty += counts.get("refactor", 0) + counts.get("convention", 0)
    return max(0.0, 10.0 - (float(penalty) / statements) * 10)


class PylintAnalyser(Analyser):
    """pylint's default checks, in-process over the whole batch."""

    name = NAME
    languages = ("python",)
    default_for = ("python",)
    description = "pylint (default checks), one in-process Run over all samples"
    categories: ClassVar[dict[str, str]] = {
        "E": "error: probable bug (undefined name, wrong call, syntax error E0001); severity error",
        "W": "warning: suspicious code (unused variable, redefined name, broad except); severity warning",
        "C": "convention: style and naming (PEP 8, missing docstring); severity info",
        "R": "refactor: design smell (too many branches, duplicated code paths); severity info",
        "I": "informational (e.g. a suppressed message); severity info",
        "F": "fatal: pylint could not analyse the file (the sample is `failed`, not a finding)",
    }

    measures: ClassVar[dict[str, str]] = {
        **SEVERITY_MEASURES,
        **{f"count_{letter}": f"pylint messages of category {letter}" for letter in "EWCRI"},
        "statements": "statements pylint counted",
        "pylint_score": "the score pylint gives the file alone, 0-10, higher is better",
    }

    def check_available(self, config: QualityConfig) -> str:
        return require_module("pylint")

    def analyse_batch(
        self, samples: Sequence[Sample], workdir: Path, config: QualityConfig
    ) -> list[ToolResult]:
        from pylint.lint import Run
        from pylint.reporters import JSON2Reporter

        rcfile = workdir / "pylintrc"
        rcfile.write_text("[MAIN]\n", encoding="utf-8")
        paths: list[Path] = []
        for index, sample in enumerate(samples):
            path = workdir / f"cts_sample_{index:05d}.py"
            # newline="" keeps the sample's own line endings, so pylint sees the exact text.
            with open(path, "w", encoding="utf-8", newline="") as fh:
                fh.write(sample.code)
            paths.append(path)

        buf = io.StringIO()
        modnames = [path.stem for path in paths]
        try:
            run = Run(
                pylint_args([str(p) for p in paths], str(rcfile)), reporter=JSON2Reporter(buf), exit=False
            )
        except SystemExit as exc:  # pylint exits on option errors even with exit=False
            detail = f"pylint exited with code {exc.code} before linting"
            return [failed(sample, NAME, detail) for sample in samples]
        finally:
            _forget_modules(modnames)
        report = json.loads(buf.getvalue() or "{}")
        by_module = run.linter.stats.by_module

        per_file: dict[str, list[dict]] = {str(p.resolve()): [] for p in paths}
        for message in report.get("messages", []):
            target = per_file.get(str(Path(message.get("absolutePath") or message.get("path", "")).resolve()))
            if target is not None:
                target.append(message)

        results = []
        for sample, path in zip(samples, paths, strict=True):
            messages = per_file[str(path.resolve())]
            counts = dict(by_module.get(path.stem, {}))
            results.append(_result(sample, messages, counts, path.stem))
        return results


def _result(sample: Sample, messages: list[dict], counts: dict[str, int], modname: str) -> ToolResult:
    fatal = [m for m in messages if str(m.get("messageId", "")).startswith("F")]
    if fatal:
        first = fatal[0]
        text = str(first.get("message", "")).replace(modname, "sample")
        return failed(sample, NAME, f"pylint could not analyse the file: {first['messageId']} {text}")
    findings = []
    for message in messages:
        msg_id = str(message["messageId"])
        letter = msg_id[:1]
        line = message.get("line")
        findings.append(
            Finding(
                tool=NAME,
                rule_id=msg_id,
                category=letter,
                severity=CATEGORY_SEVERITY.get(letter, "info"),
                line=int(line) if isinstance(line, int) and line > 0 else None,
                # The temporary module name depends on the sample's position in the batch: hide it.
                message=f"{message.get('symbol', '')}: {message.get('message', '')}".replace(
                    modname, "sample"
                ),
            )
        )
    measures = severity_measures(findings)
    for letter in "EWCRI":
        measures[f"count_{letter}"] = float(sum(1 for f in findings if f.category == letter))
    statements = counts.get("statement", 0)
    measures["statements"] = float(statements)
    score = file_score(counts)
    detail = ""
    if score is None:
        detail = "no statements (empty module or syntax error): pylint gives no score"
    else:
        measures["pylint_score"] = score
    if not counts:
        detail = join_details(detail, "pylint reported no statistics for this file")
    return ok(sample, NAME, findings, measures, detail)


def _forget_modules(modnames: Sequence[str]) -> None:
    """Drop our temporary modules from astroid's process-wide cache (it would otherwise only grow)."""
    try:
        from astroid import MANAGER
    except ImportError:
        return
    for name in modnames:
        MANAGER.astroid_cache.pop(name, None)


ANALYSERS = (PylintAnalyser,)
