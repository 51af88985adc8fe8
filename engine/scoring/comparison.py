"""Paired comparisons of runs on the same samples, as a family: McNemar for pass/fail, Wilcoxon
signed-rank + Cliff's delta for per-sample metrics, Holm- and Benjamini-Hochberg-corrected across
the family; and the reference study's own tests (RQ1-RQ3) recomputed from its per-sample files.

The conventions are the reference study's, which ran its tests in R (engine.scoring.stats):
McNemar is R's `mcnemar.test` with its continuity correction (none when b = c), Wilcoxon is
`wilcox.test(paired = TRUE, exact = FALSE, correct = FALSE)`, NA p-values (no discordant pair, all
differences zero, both vectors constant) stay NA and are left out of the family's n, as
`p.adjust` does. `mcnemar_method="auto"` asks for the exact binomial test below 25 discordant pairs
instead.

The Compare page fetches paired per-sample values from the store and hands them here (through
engine.api), so the statistics live in one place (engine.scoring.stats) and are tested once.

`reference_study` recomputes the paper's comparisons: RQ1 ST-QLoRA vs MT-QLoRA, RQ2 MT-QLoRA vs
MT-FFT, RQ3 the 3-task MT-QLoRA vs each two-task MT-QLoRA (3B), per task, metric and size, pairing
two per-sample files by row order and truncating to the shorter one, as the package's R scripts
did (`pairing="ids"` pairs by sample id instead). `alignment_correlations` is the evidence that
a file's rows follow our samples' order (Pearson r of two length measures at several offsets).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

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
class PairedResult:  # pylint: disable=too-many-instance-attributes  # one field per column shown
    """A paired test of runs A and B on one (task, metric), with its effect size and adjusted p-values."""

    task: str
    metric: str
    run_a: str
    run_b: str
    n: int
    test: str
    statistic: float | None
    p_value: float | None  # None: NA (no test possible, or R's NaN)
    p_holm: float | None
    effect: float | None  # odds ratio (pass/fail) or Cliff's delta
    effect_label: str  # e.g. 'A passes 7, B passes 3' or the delta's magnitude
    mean_a: float | None
    mean_b: float | None
    p_bh: float | None = None  # Benjamini-Hochberg over the same family

    def to_dict(self) -> dict[str, Any]:
        """The result as a plain dict."""
        return asdict(self)


def is_pass_fail(metric: str) -> bool:
    """Whether a metric's per-sample values are pass/fail (McNemar) rather than scores (Wilcoxon)."""
    return metric.startswith("pass@")


def paired_test(a: Sequence[float], b: Sequence[float], pass_fail: bool,
                mcnemar_method: str = "r") -> dict[str, Any]:
    """One paired test of A against B: test, statistic, p_value (None: NA), effect, effect_label."""
    if len(a) == 0:
        return {"test": "none", "statistic": None, "p_value": None, "effect": None,
                "effect_label": "no paired samples"}
    if pass_fail:
        result = stats.mcnemar([bool(v) for v in a], [bool(v) for v in b], method=mcnemar_method)
        return {"test": f"McNemar ({result.method})", "statistic": result.statistic,
                "p_value": result.p_value, "effect": result.odds_ratio,
                "effect_label": f"only A passes {result.b}, only B passes {result.c}"}
    wil = stats.wilcoxon_signed_rank(a, b)
    delta = stats.cliffs_delta(a, b)
    return {"test": "Wilcoxon signed-rank", "statistic": wil.statistic, "p_value": wil.p_value,
            "effect": delta.delta, "effect_label": f"Cliff's δ {delta.magnitude}"}


def _one(item: PairedInput, mcnemar_method: str) -> dict[str, Any]:
    n = len(item.a)
    base = {"task": item.task, "metric": item.metric, "run_a": item.run_a, "run_b": item.run_b, "n": n,
            "mean_a": (sum(item.a) / n) if n else None, "mean_b": (sum(item.b) / n) if n else None}
    return {**base, **paired_test(item.a, item.b, is_pass_fail(item.metric), mcnemar_method)}


def adjust_rows(rows: list[dict[str, Any]], family: Callable[[dict[str, Any]], Any] | None = None) -> None:
    """Add p_holm and p_bh to every row (in place), adjusting within each family (`family(row)` is
    its key; None: all rows are one family). NA p-values stay NA and do not count."""
    groups: dict[Any, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(family(row) if family else None, []).append(i)
    for members in groups.values():
        ps = [rows[i]["p_value"] for i in members]
        holm = stats.holm(ps)
        bh = stats.benjamini_hochberg(ps)
        for i, p_holm, p_bh in zip(members, holm.adjusted, bh.adjusted, strict=True):
            rows[i]["p_holm"], rows[i]["p_bh"] = p_holm, p_bh


def paired_family(items: Sequence[PairedInput], mcnemar_method: str = "r") -> list[PairedResult]:
    """Test every pair and correct the p-values across the whole family (Holm and BH)."""
    rows = [_one(item, mcnemar_method) for item in items]
    adjust_rows(rows)
    return [PairedResult(**r) for r in rows]


# --- the reference study's comparisons ------------------------------------------------------------

QUESTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("RQ1", "single-task vs multi-task QLoRA", "ST-QLoRA", "MT-QLoRA"),
    ("RQ2", "multi-task QLoRA vs multi-task full fine-tuning", "MT-QLoRA", "MT-FFT"),
    ("RQ3", "three-task vs two-task multi-task QLoRA", "MT-QLoRA", "MT-QLoRA ("),  # B: any two-task model
)
ADJUSTMENT_FAMILIES: dict[str, tuple[str, ...]] = {
    "each question and metric": ("rq", "metric"),
    "each question": ("rq",),
    "each question and task": ("rq", "task"),
    "each question, task and size": ("rq", "task", "size"),
}
DEFAULT_FAMILY = "each question and metric"


def _matches(config: str, wanted: str) -> bool:
    return config.startswith(wanted) if wanted.endswith("(") else config == wanted


def _pair_values(a: Mapping[str, Any], b: Mapping[str, Any], pairing: str) -> tuple[list, list, int]:
    """(values A, values B, rows whose sample ids agree) by row order truncated to the shorter file
    (the package's way) or by sample id (`pairing="ids"`, in A's order)."""
    if pairing == "ids":
        where = {sid: i for i, sid in enumerate(b["sample_ids"])}
        pairs = [(va, b["values"][where[sid]]) for sid, va in zip(a["sample_ids"], a["values"], strict=True)
                 if sid in where]
        return [p[0] for p in pairs], [p[1] for p in pairs], len(pairs)
    n = min(len(a["values"]), len(b["values"]))
    agree = sum(1 for x, y in zip(a["sample_ids"][:n], b["sample_ids"][:n], strict=True) if x == y)
    return list(a["values"][:n]), list(b["values"][:n]), agree


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _rq_row(rq: tuple[str, str, str, str], a: Mapping[str, Any], b: Mapping[str, Any],
            pairing: str) -> dict[str, Any]:
    xs, ys, agree = _pair_values(a, b, pairing)
    notes = [n for n in dict.fromkeys((a.get("note"), b.get("note"))) if n]
    if len(a["values"]) != len(b["values"]):
        how = "truncated to the shorter file" if pairing == "rows" else "paired by sample id"
        notes.append(f"{len(a['values'])} vs {len(b['values'])} rows: {how}")
    if pairing == "rows" and agree < len(xs):
        notes.append(f"{len(xs) - agree} of {len(xs)} row pairs carry different sample ids")
    test = paired_test(xs, ys, bool(a.get("pass_fail")), "r")
    mean_a, mean_b = _mean(xs), _mean(ys)
    return {
        "rq": rq[0], "question": rq[1], "size": a["size"], "task": a["task"], "metric": a["metric"],
        "config_a": a["config"], "config_b": b["config"], "run_a": a["run_id"], "run_b": b["run_id"],
        "n_a": len(a["values"]), "n_b": len(b["values"]), "n": len(xs), "ids_agree": agree,
        "mean_a": mean_a, "mean_b": mean_b,
        "diff": (mean_b - mean_a) if mean_a is not None and mean_b is not None else None,
        **test, "p_holm": None, "p_bh": None, "note": "; ".join(notes),
    }


def reference_study(series: Iterable[Mapping[str, Any]], pairing: str = "rows",
                    family: str | Sequence[str] = DEFAULT_FAMILY) -> list[dict[str, Any]]:
    """The reference study's RQ1-RQ3 comparisons, one row per (question, size, task, metric, pair).

    `series`: one mapping per (run, task, metric) with run_id, size, config (ST-QLoRA, MT-QLoRA,
    MT-FFT, 'MT-QLoRA (gen+trans)', ...), task, metric, pass_fail (McNemar instead of Wilcoxon),
    sample_ids and values in the file's row order, and an optional note. `pairing`: "rows" (the
    package: row i with row i, truncated to the shorter file) or "ids". `family`: a key of
    ADJUSTMENT_FAMILIES or the row keys whose values define a family; p_holm and p_bh adjust within
    each family.
    Columns: rq, question, size, task, metric, config_a, config_b, run_a, run_b, n_a, n_b, n,
    ids_agree, mean_a, mean_b, diff (B - A), test, statistic, p_value, effect (Cliff's δ, or the
    odds ratio (b + 0.5) / (c + 0.5) for pass/fail), effect_label, p_holm, p_bh, note.
    """
    if pairing not in ("rows", "ids"):
        raise ValueError(f"pairing must be 'rows' or 'ids', not {pairing!r}")
    keys = ADJUSTMENT_FAMILIES[family] if isinstance(family, str) else tuple(family)
    index: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for item in series:
        index.setdefault((item["size"], item["task"], item["metric"]), []).append(item)
    rows = []
    for rq in QUESTIONS:
        for (_size, _task, _metric), group in sorted(index.items()):
            for a in (s for s in group if _matches(s["config"], rq[2])):
                for b in sorted((s for s in group if _matches(s["config"], rq[3]) and s is not a),
                                key=lambda s: s["config"]):
                    rows.append(_rq_row(rq, a, b, pairing))
    adjust_rows(rows, lambda row: tuple(row[k] for k in keys))
    return rows


def adjust_family(rows: Iterable[Mapping[str, Any]],
                  family: str | Sequence[str] = DEFAULT_FAMILY) -> list[dict[str, Any]]:
    """Copies of `reference_study` rows (e.g. as stored) with p_holm and p_bh redone within each
    family (a key of ADJUSTMENT_FAMILIES or the row keys that define one)."""
    keys = ADJUSTMENT_FAMILIES[family] if isinstance(family, str) else tuple(family)
    out = [{**row, "p_value": None if _na(row.get("p_value")) else row["p_value"]} for row in rows]
    adjust_rows(out, lambda row: tuple(row[k] for k in keys))
    return out


def _na(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# --- alignment evidence ---------------------------------------------------------------------------

def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson's r of two equally long sequences (None when fewer than 3 pairs or one is constant)."""
    if len(x) != len(y):
        raise ValueError(f"pearson: {len(x)} and {len(y)} values")
    if len(x) < 3:
        return None
    xs = np.asarray(x, dtype=float) - np.mean(x)
    ys = np.asarray(y, dtype=float) - np.mean(y)
    sxx, syy = float(xs @ xs), float(ys @ ys)
    return float(xs @ ys) / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else None


def alignment_correlations(paper: Sequence[float], ours: Sequence[float],
                           offsets: Sequence[int] = (0, 1, -1, 5)) -> list[dict[str, Any]]:
    """Pearson r of paper[i] against ours[i + offset] for each offset: a file whose rows follow our
    order correlates at offset 0 and not at the others. Rows: offset, n, r (None: undefined)."""
    a, b = np.asarray(paper, dtype=float), np.asarray(ours, dtype=float)
    out = []
    for offset in offsets:
        start, stop = max(0, -offset), min(len(a), len(b) - offset)  # rows i with 0 <= i + offset < len(b)
        n = max(0, stop - start)
        r = pearson(a[start:stop], b[start + offset:stop + offset]) if n else None
        out.append({"offset": offset, "n": n, "r": r})
    return out
