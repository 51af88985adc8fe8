"""Paired comparisons of runs on the same samples, as a family: McNemar for pass/fail, Wilcoxon
signed-rank + Cliff's delta for per-sample metrics, Holm-corrected across the family.

The Compare page fetches paired per-sample values from the store and hands them here (through
engine.api), so the statistics live in one place (engine.scoring.stats) and are tested once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from engine.scoring import stats


@dataclass(frozen=True)
class PairedInput:
    """Per-sample values of runs A and B for one (task, metric), aligned by sample."""

    task: str
    metric: str  # 'pass@1' for pass/fail, else a per-sample metric
    run_a: str
    run_b: str
    a: Sequence[float]
    b: Sequence[float]


@dataclass(frozen=True)
class PairedResult:
    """A paired test of runs A and B on one (task, metric), with its effect size and Holm-adjusted p-value."""

    task: str
    metric: str
    run_a: str
    run_b: str
    n: int
    test: str
    statistic: float | None
    p_value: float | None
    p_holm: float | None
    effect: float | None  # odds ratio (pass/fail) or Cliff's delta
    effect_label: str  # e.g. 'A passes 7, B passes 3' or the delta's magnitude
    mean_a: float | None
    mean_b: float | None

    def to_dict(self) -> dict[str, Any]:
        """The result as a plain dict."""
        return asdict(self)


def _one(item: PairedInput) -> dict[str, Any]:
    n = len(item.a)
    base = {"task": item.task, "metric": item.metric, "run_a": item.run_a, "run_b": item.run_b, "n": n,
            "mean_a": (sum(item.a) / n) if n else None, "mean_b": (sum(item.b) / n) if n else None}
    if n == 0:
        return {**base, "test": "none", "statistic": None, "p_value": None, "effect": None,
                "effect_label": "no paired samples"}
    if item.metric.startswith("pass@"):
        result = stats.mcnemar([bool(v) for v in item.a], [bool(v) for v in item.b])
        return {**base, "test": f"McNemar ({result.method})", "statistic": result.statistic,
                "p_value": result.p_value, "effect": result.odds_ratio,
                "effect_label": f"only A passes {result.b}, only B passes {result.c}"}
    wil = stats.wilcoxon_signed_rank(item.a, item.b)
    delta = stats.cliffs_delta(item.a, item.b)
    return {**base, "test": "Wilcoxon signed-rank", "statistic": wil.statistic, "p_value": wil.p_value,
            "effect": delta.delta, "effect_label": f"Cliff's δ {delta.magnitude}"}


def paired_family(items: Sequence[PairedInput]) -> list[PairedResult]:
    """Test every pair and Holm-correct the p-values across the whole family."""
    rows = [_one(item) for item in items]
    tested = [i for i, r in enumerate(rows) if r["p_value"] is not None]
    adjusted: dict[int, float] = {}
    if tested:
        holm = stats.holm([rows[i]["p_value"] for i in tested])
        adjusted = dict(zip(tested, holm.adjusted, strict=True))
    return [PairedResult(**{**r, "p_holm": adjusted.get(i)}) for i, r in enumerate(rows)]
