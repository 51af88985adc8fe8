"""lizard, in-process: per-function complexity and size for Python, Java and C#.

Runs on the sample's code as generated (lizard's parsers are tolerant: a bare Java/C# method needs
no wrapper class, and broken code still yields numbers). Module-level code outside functions counts
towards nloc/token_count but not towards the function measures. Measures (no findings):
    function_count
    ccn                     sum of the functions' cyclomatic complexity (the paper sums CCN per output)
    ccn_max, ccn_mean
    nloc, token_count       of the whole file
    function_nloc           sum over functions
    parameter_count         sum over functions; parameter_count_max, parameter_count_mean
The *_mean measures are present only when there is at least one function.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from engine.scoring.quality.base import Analyser, failed, ok, require_module
from engine.scoring.quality.model import QualityConfig, Sample, ToolResult

NAME = "lizard"
EXTENSION = {"python": "py", "java": "java", "csharp": "cs"}


def lizard_measures(code: str, language: str) -> dict[str, float]:
    """lizard's measures for one piece of code in `language` (python, java, csharp)."""
    from lizard import analyze_file

    info = analyze_file.analyze_source_code(f"sample.{EXTENSION[language]}", code)
    functions = info.function_list
    ccn = [float(fn.cyclomatic_complexity) for fn in functions]
    params = [float(fn.parameter_count) for fn in functions]
    measures = {
        "function_count": float(len(functions)),
        "ccn": float(sum(ccn)),
        "ccn_max": max(ccn, default=0.0),
        "nloc": float(info.nloc),
        "token_count": float(info.token_count),
        "function_nloc": float(sum(fn.nloc for fn in functions)),
        "parameter_count": float(sum(params)),
        "parameter_count_max": max(params, default=0.0),
    }
    if functions:
        measures["ccn_mean"] = sum(ccn) / len(ccn)
        measures["parameter_count_mean"] = sum(params) / len(params)
    return measures


class LizardAnalyser(Analyser):
    """lizard CCN / NLOC / tokens / parameters."""

    name = NAME
    languages = ("python", "java", "csharp")
    default_for = ("python", "java", "csharp")
    description = "lizard: CCN, NLOC, token and parameter counts per function"
    # Measures only: lizard reports no findings, so it has no finding categories.
    measures: ClassVar[dict[str, str]] = {
        "function_count": "functions and methods in the sample",
        "ccn": "cyclomatic complexity (independent paths), summed over the functions",
        "ccn_max": "the most complex function's cyclomatic complexity",
        "ccn_mean": "mean cyclomatic complexity per function",
        "nloc": "lines of code without comments and blank lines (whole sample)",
        "token_count": "tokens in the whole sample",
        "function_nloc": "lines of code inside functions",
        "parameter_count": "parameters, summed over the functions",
        "parameter_count_max": "the most parameters of one function",
        "parameter_count_mean": "mean parameters per function",
    }

    def check_available(self, config: QualityConfig) -> str:
        return require_module("lizard")

    def analyse_batch(
        self, samples: Sequence[Sample], workdir: Path, config: QualityConfig
    ) -> list[ToolResult]:
        results = []
        for sample in samples:
            try:
                measures = lizard_measures(sample.code, sample.language)
            except Exception as exc:  # pylint: disable=broad-exception-caught
                # lizard is a heuristic parser; whatever it raises on one sample must not sink the rest.
                results.append(failed(sample, NAME, f"lizard failed: {type(exc).__name__}: {exc}"))
            else:
                results.append(ok(sample, NAME, measures=measures))
        return results


ANALYSERS = (LizardAnalyser,)
