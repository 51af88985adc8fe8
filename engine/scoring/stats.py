"""Paired statistics for comparing two runs on the same samples, as the reference study ran them in R.

- `mcnemar`: paired pass/fail. Exact (binomial) test when the discordant pairs are few (b + c < 25
  by default), otherwise R's `mcnemar.test` (chi-square with continuity correction, df 1). Reports the
  odds ratio (b + 0.5) / (c + 0.5), b = A passes and B fails, c = A fails and B passes.
- `wilcoxon_signed_rank`: paired continuous values. Default = R's
  `wilcox.test(x, y, paired=TRUE, exact=FALSE, correct=FALSE)`: zero differences dropped, average
  ranks for ties, tie-corrected normal approximation without continuity correction; the statistic is
  R's V = R+ (sum of ranks of positive x - y). `method="scipy"` gives scipy.stats.wilcoxon's defaults
  instead (method 'auto': the exact null distribution for n <= 50 without ties or zeros, else the
  normal approximation; scipy's two-sided statistic is min(R+, R-), we still report V = R+).
- `cliffs_delta`: effect size P(X > Y) - P(X < Y) over all pairs, with Romano et al. (2006)
  magnitudes: |d| < 0.147 negligible, < 0.33 small, < 0.474 medium, else large.
- `holm`: Holm-Bonferroni adjustment of a family of p-values (R's p.adjust(method = "holm")).

Every function returns a small frozen dataclass; degenerate inputs (no discordant pairs, all
differences zero) give p = 1; mismatched lengths raise ValueError.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

EXACT_THRESHOLD = 25  # discordant pairs below which McNemar uses the exact binomial test
ROMANO_THRESHOLDS = ((0.147, "negligible"), (0.33, "small"), (0.474, "medium"))


def _paired(x: Sequence, y: Sequence, what: str) -> None:
    if len(x) != len(y):
        raise ValueError(f"{what}: paired samples must have the same length, got {len(x)} and {len(y)}")


def _as_pass_fail(values: Sequence, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"mcnemar: {name} must be a 1-D sequence of pass/fail values")
    if arr.size and not np.isin(arr, (0, 1)).all():
        raise ValueError(f"mcnemar: {name} must hold pass/fail values (bool or 0/1)")
    return arr.astype(bool)


def _as_floats(values: Sequence[float], name: str, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{what}: {name} must be a 1-D sequence of numbers")
    if not np.isfinite(arr).all():
        raise ValueError(f"{what}: {name} contains NaN or infinite values")
    return arr


# --- McNemar --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test on paired pass/fail outcomes of runs A and B."""

    b: int  # A passes, B fails
    c: int  # A fails, B passes
    n: int  # all pairs
    statistic: float | None  # chi-square (continuity corrected); None for the exact test
    p_value: float
    method: str  # "exact" | "chi2" | "none" (no discordant pairs)
    odds_ratio: float  # (b + 0.5) / (c + 0.5); > 1 favours A


def mcnemar_counts(b: int, c: int, n: int | None = None, method: str = "auto",
                   exact_threshold: int = EXACT_THRESHOLD) -> McNemarResult:
    """McNemar's test from the discordant counts b (A pass, B fail) and c (A fail, B pass).

    method: "auto" (exact when b + c < exact_threshold, else chi-square), "exact" (two-sided
    binomial test of b ~ Bin(b + c, 1/2)) or "chi2" (R's mcnemar.test: (|b - c| - 1)^2 / (b + c)).
    """
    if b < 0 or c < 0:
        raise ValueError(f"mcnemar: counts must be >= 0, got b={b}, c={c}")
    if method not in ("auto", "exact", "chi2"):
        raise ValueError(f"mcnemar: method must be 'auto', 'exact' or 'chi2', not {method!r}")
    b, c = int(b), int(c)
    n = b + c if n is None else int(n)
    odds_ratio = (b + 0.5) / (c + 0.5)
    discordant = b + c
    if discordant == 0:  # R returns NaN here; no evidence either way
        return McNemarResult(b, c, n, None, 1.0, "none", odds_ratio)
    if method == "exact" or (method == "auto" and discordant < exact_threshold):
        from scipy.stats import binom

        # Bin(m, 1/2) is symmetric: two-sided p = 2 P(X <= min(b, c)), capped at 1.
        p_value = min(1.0, 2.0 * float(binom.cdf(min(b, c), discordant, 0.5)))
        return McNemarResult(b, c, n, None, p_value, "exact", odds_ratio)
    statistic = (abs(b - c) - 1.0) ** 2 / discordant
    # Survival function of chi-square with 1 df: P(Z^2 > s) = erfc(sqrt(s / 2)).
    p_value = math.erfc(math.sqrt(statistic / 2.0))
    return McNemarResult(b, c, n, statistic, p_value, "chi2", odds_ratio)


def mcnemar(passed_a: Sequence[bool], passed_b: Sequence[bool], method: str = "auto",
            exact_threshold: int = EXACT_THRESHOLD) -> McNemarResult:
    """McNemar's test on paired pass/fail outcomes (same samples, same order) of runs A and B."""
    _paired(passed_a, passed_b, "mcnemar")
    a = _as_pass_fail(passed_a, "passed_a")
    b = _as_pass_fail(passed_b, "passed_b")
    return mcnemar_counts(int(np.sum(a & ~b)), int(np.sum(~a & b)), n=len(a), method=method,
                          exact_threshold=exact_threshold)


# --- Wilcoxon signed-rank -------------------------------------------------------------------------

@dataclass(frozen=True)
class WilcoxonResult:
    """Wilcoxon signed-rank test of paired x - y."""

    statistic: float  # R's V: sum of the ranks of the positive differences (R+)
    p_value: float
    n: int  # non-zero differences used
    n_zero: int  # zero differences dropped
    r_plus: float
    r_minus: float
    z: float | None  # normal-approximation z (None when not computed)
    method: str  # "normal" (R, exact=FALSE, correct=FALSE) | "scipy-auto" | "none" (all differences 0)
    median_difference: float  # median of x - y over all pairs (zeros included)


def wilcoxon_signed_rank(x: Sequence[float], y: Sequence[float], method: str = "r") -> WilcoxonResult:
    """Two-sided paired Wilcoxon signed-rank test of x against y.

    method "r" (default): R's wilcox.test(x, y, paired=TRUE, exact=FALSE, correct=FALSE).
    method "scipy": p-value from scipy.stats.wilcoxon(x, y) with scipy's defaults.
    """
    from scipy.stats import rankdata

    if method not in ("r", "scipy"):
        raise ValueError(f"wilcoxon: method must be 'r' or 'scipy', not {method!r}")
    _paired(x, y, "wilcoxon")
    xs, ys = _as_floats(x, "x", "wilcoxon"), _as_floats(y, "y", "wilcoxon")
    diff_all = xs - ys
    median_difference = float(np.median(diff_all)) if diff_all.size else 0.0
    diff = diff_all[diff_all != 0]  # R and scipy (zero_method='wilcox') drop zero differences
    n, n_zero = int(diff.size), int(diff_all.size - diff.size)
    if n == 0:
        return WilcoxonResult(0.0, 1.0, 0, n_zero, 0.0, 0.0, None, "none", median_difference)
    ranks = rankdata(np.abs(diff))  # average ranks for ties
    r_plus = float(ranks[diff > 0].sum())
    r_minus = float(ranks[diff < 0].sum())

    if method == "scipy":
        from scipy.stats import wilcoxon

        result = wilcoxon(xs, ys)
        return WilcoxonResult(r_plus, float(result.pvalue), n, n_zero, r_plus, r_minus, None,
                              "scipy-auto", median_difference)

    _, tie_counts = np.unique(ranks, return_counts=True)
    mean = n * (n + 1) / 4.0
    variance = n * (n + 1) * (2 * n + 1) / 24.0 - float(np.sum(tie_counts**3 - tie_counts)) / 48.0
    z = (r_plus - mean) / math.sqrt(variance)
    # Two-sided: 2 * min(P(Z <= z), P(Z >= z)) = erfc(|z| / sqrt(2)).
    p_value = min(1.0, math.erfc(abs(z) / math.sqrt(2.0)))
    return WilcoxonResult(r_plus, p_value, n, n_zero, r_plus, r_minus, z, "normal", median_difference)


# --- Cliff's delta --------------------------------------------------------------------------------

@dataclass(frozen=True)
class CliffsDeltaResult:
    """Cliff's delta of x against y: P(X > Y) - P(X < Y), in [-1, 1]; > 0 favours x."""

    delta: float
    magnitude: str  # negligible | small | medium | large (Romano et al. 2006)
    n_x: int
    n_y: int


def cliffs_magnitude(delta: float) -> str:
    """Romano et al. (2006) label for |delta|."""
    size = abs(delta)
    for threshold, label in ROMANO_THRESHOLDS:
        if size < threshold:
            return label
    return "large"


def cliffs_delta(x: Sequence[float], y: Sequence[float],
                 allow_unequal_lengths: bool = False) -> CliffsDeltaResult:
    """Cliff's delta over all (x_i, y_j) pairs (the usual two-sample form, as effsize::cliff.delta).

    Paired comparisons pass the two runs' per-sample values; lengths must match unless
    allow_unequal_lengths (independent samples).
    """
    if not allow_unequal_lengths:
        _paired(x, y, "cliffs_delta")
    xs, ys = _as_floats(x, "x", "cliffs_delta"), _as_floats(y, "y", "cliffs_delta")
    if xs.size == 0 or ys.size == 0:
        raise ValueError("cliffs_delta: both samples need at least one value")
    ys_sorted = np.sort(ys)
    # For each x: how many y are smaller, how many larger (O((n + m) log m) instead of n * m).
    below = np.searchsorted(ys_sorted, xs, side="left")
    above = ys_sorted.size - np.searchsorted(ys_sorted, xs, side="right")
    delta = float(np.sum(below) - np.sum(above)) / (xs.size * ys_sorted.size)
    return CliffsDeltaResult(delta, cliffs_magnitude(delta), int(xs.size), int(ys_sorted.size))


# --- Holm -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HolmResult:
    """Holm-adjusted p-values, in the input order."""

    p_values: tuple[float, ...]
    adjusted: tuple[float, ...]
    rejected: tuple[bool, ...]  # adjusted <= alpha
    alpha: float


def holm(p_values: Sequence[float], alpha: float = 0.05) -> HolmResult:
    """Holm's step-down adjustment (R's p.adjust(p, "holm")): sort ascending, multiply the i-th
    smallest (0-based) by m - i, take the running maximum, cap at 1, and return in input order."""
    ps = [float(p) for p in p_values]
    for i, p in enumerate(ps):
        if not 0.0 <= p <= 1.0:  # also rejects NaN
            raise ValueError(f"holm: p-value {i} is {p}, not in [0, 1]")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"holm: alpha must be in (0, 1), got {alpha}")
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])  # stable: ties keep input order
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * ps[index]))
        adjusted[index] = running
    return HolmResult(tuple(ps), tuple(adjusted), tuple(a <= alpha for a in adjusted), alpha)
