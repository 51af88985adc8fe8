"""Paired statistics for comparing two runs on the same samples, as the reference study ran them in R.

- `mcnemar`: paired pass/fail. method "r" is R's `mcnemar.test(x, correct = TRUE)`, the reference
  study's convention for every pair: chi-square (df 1) with the continuity correction
  (|b - c| - 1)^2 / (b + c), which R applies only when the table is not symmetric, so b = c gives
  statistic 0 and p = 1, and b = c = 0 gives NA (R: NaN). method "auto" (the function's default,
  kept for callers that ask for it) uses the exact binomial test below 25 discordant pairs and the
  same chi-square above; "exact" and "chi2" force one. Reports the odds ratio (b + 0.5) / (c + 0.5),
  b = A passes and B fails, c = A fails and B passes.
- `wilcoxon_signed_rank`: paired continuous values. Default = R's
  `wilcox.test(x, y, paired=TRUE, exact=FALSE, correct=FALSE)`: zero differences dropped, average
  ranks for ties, tie-corrected normal approximation without continuity correction; the statistic is
  R's V = R+ (sum of ranks of positive x - y). NA (p None) when every difference is zero (R: NaN) or
  when both vectors are constant (the reference package's rule). `method="scipy"` gives
  scipy.stats.wilcoxon's defaults instead (method 'auto': the exact null distribution for n <= 50
  without ties or zeros, else the normal approximation; scipy's two-sided statistic is min(R+, R-),
  we still report V = R+).
- `cliffs_delta`: effect size P(X > Y) - P(X < Y) over all pairs, with Romano et al. (2006)
  magnitudes: |d| < 0.147 negligible, < 0.33 small, < 0.474 medium, else large.
- `p_adjust`, `holm`, `benjamini_hochberg`: R's `p.adjust(p, "holm" | "BH")`. NA p-values (None or
  NaN) stay NA and are left out of the family's n, as p.adjust does (its n = length(p) is evaluated
  after the NAs are dropped).

Every function returns a small frozen dataclass; mismatched lengths raise ValueError.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

EXACT_THRESHOLD = 25  # discordant pairs below which McNemar's "auto" method uses the exact binomial test
MCNEMAR_METHODS = ("r", "auto", "exact", "chi2")
ADJUST_METHODS = ("holm", "BH")
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
    statistic: float | None  # chi-square (continuity corrected unless b = c); None: exact test or NA
    p_value: float | None  # None: NA (method "r" with no discordant pair, as R's NaN)
    method: str  # "exact" | "chi2" | "none" (no discordant pairs)
    odds_ratio: float  # (b + 0.5) / (c + 0.5); > 1 favours A


def mcnemar_counts(b: int, c: int, n: int | None = None, method: str = "auto",
                   exact_threshold: int = EXACT_THRESHOLD) -> McNemarResult:
    """McNemar's test from the discordant counts b (A pass, B fail) and c (A fail, B pass).

    method: "r" (R's mcnemar.test with correct=TRUE, the reference study's convention: chi-square
    always, corrected unless b = c; NA when b = c = 0), "auto" (exact when b + c < exact_threshold,
    else the chi-square), "exact" (two-sided binomial test of b ~ Bin(b + c, 1/2)) or "chi2" (the
    chi-square; p = 1 when there is no discordant pair).
    """
    if b < 0 or c < 0:
        raise ValueError(f"mcnemar: counts must be >= 0, got b={b}, c={c}")
    if method not in MCNEMAR_METHODS:
        raise ValueError(f"mcnemar: method must be one of {', '.join(map(repr, MCNEMAR_METHODS))}, not {method!r}")
    b, c = int(b), int(c)
    n = b + c if n is None else int(n)
    odds_ratio = (b + 0.5) / (c + 0.5)
    discordant = b + c
    if discordant == 0:  # R: 0 / 0 = NaN; the other methods: no evidence either way
        return McNemarResult(b, c, n, None, None if method == "r" else 1.0, "none", odds_ratio)
    if method == "exact" or (method == "auto" and discordant < exact_threshold):
        from scipy.stats import binom

        # Bin(m, 1/2) is symmetric: two-sided p = 2 P(X <= min(b, c)), capped at 1.
        p_value = min(1.0, 2.0 * float(binom.cdf(min(b, c), discordant, 0.5)))
        return McNemarResult(b, c, n, None, p_value, "exact", odds_ratio)
    # R corrects only `if (correct && any(x - t(x) != 0))`: a symmetric table gives 0, not 1/(b + c).
    statistic = (abs(b - c) - 1.0) ** 2 / discordant if b != c else 0.0
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

def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank (scipy.stats.rankdata's 'average'), in numpy
    alone: importing scipy.stats costs most of a second, the ranks a few microseconds."""
    n = values.size
    if n == 0:
        return np.zeros(0)
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])  # first index of each tie group
    ends = np.r_[starts[1:], n]  # one past the last
    averages = (starts + ends + 1) / 2.0  # mean of the 1-based ranks start+1 .. end
    ranks = np.empty(n)
    ranks[order] = np.repeat(averages, ends - starts)
    return ranks


@dataclass(frozen=True)
class WilcoxonResult:
    """Wilcoxon signed-rank test of paired x - y."""

    statistic: float  # R's V: sum of the ranks of the positive differences (R+)
    p_value: float | None  # None: NA (every difference zero, or both vectors constant)
    n: int  # non-zero differences used
    n_zero: int  # zero differences dropped
    r_plus: float
    r_minus: float
    z: float | None  # normal-approximation z (None when not computed)
    method: str  # "normal" (R, exact=FALSE, correct=FALSE) | "scipy-auto" | "none" (NA)
    median_difference: float  # median of x - y over all pairs (zeros included)


def wilcoxon_signed_rank(x: Sequence[float], y: Sequence[float], method: str = "r") -> WilcoxonResult:
    """Two-sided paired Wilcoxon signed-rank test of x against y.

    method "r" (default): R's wilcox.test(x, y, paired=TRUE, exact=FALSE, correct=FALSE).
    method "scipy": p-value from scipy.stats.wilcoxon(x, y) with scipy's defaults.
    The p-value is NA (None) when every difference is zero (R's NaN; no pairs at all included) or
    when x and y (two values or more) are both constant (the reference package's rule), whatever
    the method.
    """
    if method not in ("r", "scipy"):
        raise ValueError(f"wilcoxon: method must be 'r' or 'scipy', not {method!r}")
    _paired(x, y, "wilcoxon")
    xs, ys = _as_floats(x, "x", "wilcoxon"), _as_floats(y, "y", "wilcoxon")
    diff_all = xs - ys
    median_difference = float(np.median(diff_all)) if diff_all.size else 0.0
    diff = diff_all[diff_all != 0]  # R and scipy (zero_method='wilcox') drop zero differences
    n, n_zero = int(diff.size), int(diff_all.size - diff.size)
    ranks = average_ranks(np.abs(diff))  # average ranks for ties
    r_plus = float(ranks[diff > 0].sum())
    r_minus = float(ranks[diff < 0].sum())
    both_constant = xs.size > 1 and bool(np.all(xs == xs[0])) and bool(np.all(ys == ys[0]))
    if n == 0 or both_constant:
        return WilcoxonResult(r_plus, None, n, n_zero, r_plus, r_minus, None, "none", median_difference)

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


# --- multiple-testing adjustment -----------------------------------------------------------------

@dataclass(frozen=True)
class AdjustedPValues:
    """Adjusted p-values in the input order (None where the input was NA), as R's p.adjust."""

    p_values: tuple[float | None, ...]
    adjusted: tuple[float | None, ...]
    rejected: tuple[bool, ...]  # adjusted <= alpha (False for NA)
    alpha: float
    method: str = "holm"  # "holm" | "BH"
    n: int = 0  # the family's size: the p-values that are not NA


HolmResult = AdjustedPValues  # the name this result had when Holm was the only adjustment


def _is_na(p: float | None) -> bool:
    return p is None or (isinstance(p, float) and math.isnan(p))


def p_adjust(p_values: Sequence[float | None], method: str = "holm", alpha: float = 0.05) -> AdjustedPValues:
    """R's p.adjust(p, method) for method "holm" or "BH" (Benjamini-Hochberg; "fdr" is an alias).

    NA p-values (None or NaN) stay NA and do not count in the family's n. Holm: sort ascending,
    multiply the i-th smallest (0-based) by n - i, running maximum, cap at 1. BH: sort descending,
    multiply the p-value of rank i (1-based, ascending) by n / i, running minimum, cap at 1.
    """
    method = "BH" if method in ("BH", "bh", "fdr") else method
    if method not in ADJUST_METHODS:
        raise ValueError(f"p_adjust: method must be 'holm' or 'BH', not {method!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"{method}: alpha must be in (0, 1), got {alpha}")
    ps: list[float | None] = []
    for i, p in enumerate(p_values):
        if _is_na(p):
            ps.append(None)
            continue
        value = float(p)  # type: ignore[arg-type]
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{method}: p-value {i} is {value}, not in [0, 1]")
        ps.append(value)
    present = [i for i, p in enumerate(ps) if p is not None]
    n = len(present)
    adjusted: list[float | None] = [None] * len(ps)
    if method == "holm":
        order = sorted(present, key=lambda i: ps[i])  # type: ignore[arg-type, return-value]
        running = 0.0
        for rank, index in enumerate(order):
            running = max(running, min(1.0, (n - rank) * ps[index]))  # type: ignore[operator]
            adjusted[index] = running
    else:
        order = sorted(present, key=lambda i: ps[i], reverse=True)  # type: ignore[arg-type, return-value]
        running = 1.0
        for position, index in enumerate(order):
            rank = n - position  # 1-based rank in ascending order
            running = min(running, n / rank * ps[index])  # type: ignore[operator]
            adjusted[index] = min(1.0, running)
    rejected = tuple(a is not None and a <= alpha for a in adjusted)
    return AdjustedPValues(tuple(ps), tuple(adjusted), rejected, alpha, method, n)


def holm(p_values: Sequence[float | None], alpha: float = 0.05) -> AdjustedPValues:
    """Holm's step-down adjustment (R's p.adjust(p, "holm")); NA p-values stay NA, outside the family."""
    return p_adjust(p_values, "holm", alpha)


def benjamini_hochberg(p_values: Sequence[float | None], alpha: float = 0.05) -> AdjustedPValues:
    """Benjamini-Hochberg false-discovery-rate adjustment (R's p.adjust(p, "BH"); scipy's
    false_discovery_control(p, method="bh")); NA p-values stay NA, outside the family."""
    return p_adjust(p_values, "BH", alpha)
