"""radon, in-process: cyclomatic complexity, maintainability index and raw line counts (Python).

Measures (no findings):
    cc_blocks   functions, methods and nested functions (closures), each counted once
    cc_total    sum of their cyclomatic complexity as radon computes it (classes are not blocks:
                their complexity summarises their methods)
    cc_max, cc_mean (cc_mean only when there is at least one block)
    maintainability_index  radon's mi_visit(code, multi=True), 0-100
    mi_rank     radon's rank as a number: A = 1 (MI > 19), B = 2 (9 < MI <= 19), C = 3 (MI <= 9)
    loc, lloc, sloc, comments, multi, blank   radon.raw.analyze
radon parses with Python's own parser: code it cannot parse (a syntax error, Python 2) is `failed`
with the parser's message; pylint reports the syntax error itself as a finding.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from engine.scoring.quality.base import Analyser, failed, ok, require_module
from engine.scoring.quality.model import QualityConfig, Sample, ToolResult

NAME = "radon"
MI_RANK_NUMBER = {"A": 1.0, "B": 2.0, "C": 3.0}


def function_blocks(code: str) -> list[Any]:
    """Every function, method and closure in `code` (radon's ComplexityVisitor), each once.

    radon's own cc_visit list has classes (whose complexity summarises their methods) and no
    closures or inner-class methods; walking the visitor's tree counts every function exactly once.
    """
    from radon.visitors import ComplexityVisitor

    visitor = ComplexityVisitor.from_code(code)
    out: list[Any] = []
    functions: list[Any] = list(visitor.functions)
    classes: list[Any] = list(visitor.classes)
    while classes:
        cls = classes.pop()
        functions.extend(cls.methods)
        classes.extend(cls.inner_classes)
    while functions:
        function = functions.pop()
        out.append(function)
        functions.extend(function.closures)
    return sorted(out, key=lambda block: (block.lineno, block.col_offset))


def radon_measures(code: str) -> dict[str, float]:
    """All radon measures for one piece of Python code; raises SyntaxError (and friends) on bad code."""
    from radon.metrics import mi_rank, mi_visit
    from radon.raw import analyze

    blocks = function_blocks(code)
    complexities = [float(block.complexity) for block in blocks]
    measures: dict[str, float] = {
        "cc_blocks": float(len(blocks)),
        "cc_total": float(sum(complexities)),
        "cc_max": max(complexities, default=0.0),
    }
    if complexities:
        measures["cc_mean"] = sum(complexities) / len(complexities)
    mi = float(mi_visit(code, True))
    measures["maintainability_index"] = mi
    measures["mi_rank"] = MI_RANK_NUMBER[mi_rank(mi)]
    raw = analyze(code)
    for name in ("loc", "lloc", "sloc", "comments", "multi", "blank"):
        measures[name] = float(getattr(raw, name))
    return measures


class RadonAnalyser(Analyser):
    """radon complexity, maintainability and raw metrics."""

    name = NAME
    languages = ("python",)
    default_for = ("python",)
    description = "radon: cyclomatic complexity, maintainability index, raw line counts"
    # Measures only: radon reports no findings, so it has no finding categories.
    measures: ClassVar[dict[str, str]] = {
        "cc_blocks": "functions, methods and closures in the sample",
        "cc_total": "cyclomatic complexity summed over those blocks",
        "cc_max": "the most complex block's cyclomatic complexity",
        "cc_mean": "mean cyclomatic complexity per block",
        "maintainability_index": "maintainability index, 0-100, higher is easier to maintain",
        "mi_rank": "maintainability rank: 1 = A (MI > 19), 2 = B (9-19), 3 = C (MI <= 9)",
        "loc": "lines, all of them",
        "lloc": "logical lines (statements)",
        "sloc": "source lines (not blank, not comment-only)",
        "comments": "comment lines",
        "multi": "lines in multi-line strings (docstrings)",
        "blank": "blank lines",
    }

    def check_available(self, config: QualityConfig) -> str:
        return require_module("radon")

    def analyse_batch(
        self, samples: Sequence[Sample], workdir: Path, config: QualityConfig
    ) -> list[ToolResult]:
        results = []
        for sample in samples:
            try:
                measures = radon_measures(sample.code)
            except SyntaxError as exc:
                where = f" (line {exc.lineno})" if exc.lineno else ""
                results.append(failed(sample, NAME, f"radon cannot parse the code: {exc.msg}{where}"))
            except (ValueError, RecursionError, MemoryError) as exc:
                results.append(failed(sample, NAME, f"radon failed: {type(exc).__name__}: {exc}"))
            else:
                results.append(ok(sample, NAME, measures=measures))
        return results


ANALYSERS = (RadonAnalyser,)
