"""The answer with its uncertainty: intervals for a value and for a paired difference, and the
per-task verdict of one configuration (or run) against another that the Compare page's verdict
panel, the CLI and the report show.

- `paired_bootstrap`: the percentile interval of the mean paired difference B − A, resampling the
  pairs (seeded, vectorised: one index draw per chunk of resamples).
- `value_interval` (from the values) and `summary_interval` (from n, mean and sd): the interval of
  one column's value: Wilson's score interval for pass/fail (without continuity correction, as R's
  `prop.test(x, n, correct = FALSE)`), else the t interval mean ± t(1 − α/2, n − 1)·sd/√n.
- `verdicts`: per item (task, metric, A, B and their aligned per-sample values) the difference with
  its bootstrap interval, the paired test of engine.scoring.comparison (McNemar for pass/fail,
  Wilcoxon otherwise, R's conventions), Holm-corrected across the items, Cliff's delta of B against
  A, the change in code quality and one plain-language line. Small n is said, never hidden.

The statistics of the tests live in engine.scoring.stats / comparison; this module only combines
them and words the result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from engine.scoring import stats
from engine.scoring.comparison import paired_test
from engine.vocabulary import MetricInfo, describe_metric

# Index draws are made in chunks of at most this many elements (resamples × pairs): 2,000 × 5,000
# int64 indices would otherwise take 80 MB at once (a chunk: 16 MB).
_CHUNK_ELEMENTS = 2_000_000
_FEW_VALUES = 16  # at most this many distinct differences: resample counts, not indices
SIGNIFICANCE = 0.05
MINUS = "\u2212"  # the typographic minus, as the readings print numbers


@dataclass(frozen=True)
class Interval:
    """An estimate with its interval at `level` (e.g. 0.95), from `n` values or pairs."""

    estimate: float
    low: float
    high: float
    n: int
    level: float

    def to_dict(self) -> dict[str, Any]:
        """The interval as a plain dict."""
        return asdict(self)


def _floats(values: Sequence[float], name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name}: expected a flat sequence of numbers, got shape {array.shape}")
    if np.isnan(array).any():
        raise ValueError(f"{name}: contains NaN; drop the samples without a value before pairing")
    return array


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")


def paired_bootstrap(a: Sequence[float], b: Sequence[float], resamples: int = 2000, seed: int = 0,
                     level: float = 0.95) -> Interval:
    """Percentile bootstrap interval of mean(b) − mean(a) over aligned pairs (a[i], b[i]).

    The pair indices of all `resamples` resamples are drawn with numpy.random.default_rng(seed)
    (in chunks of resamples when resamples × n is large), so the same inputs and seed give the same
    interval. When the differences take few distinct values (pass/fail: at most 3), each
    resample's count of every value is drawn from the multinomial instead: the same distribution
    of resampled means, at a cost independent of n. n = 0 raises ValueError; n = 1 gives the
    degenerate interval (estimate, estimate).
    """
    _check_level(level)
    if resamples < 1:
        raise ValueError(f"paired_bootstrap: resamples must be at least 1, got {resamples}")
    xs, ys = _floats(a, "paired_bootstrap a"), _floats(b, "paired_bootstrap b")
    if xs.size != ys.size:
        raise ValueError(f"paired_bootstrap: a has {xs.size} values, b {ys.size}; the pairs must be aligned")
    n = int(xs.size)
    if n == 0:
        raise ValueError("paired_bootstrap: no pairs (a and b are empty); nothing to compare")
    diffs = ys - xs
    estimate = float(diffs.mean())
    if n == 1 or np.all(diffs == diffs[0]):
        return Interval(estimate, estimate, estimate, n, level)
    rng = np.random.default_rng(seed)
    values, counts = np.unique(diffs, return_counts=True)
    if values.size <= _FEW_VALUES:
        # Pass/fail differences take at most 3 values: draw how often each value is resampled
        # (multinomial, the same distribution as n index draws) instead of n indices per resample.
        means = rng.multinomial(n, counts / n, size=resamples) @ values / n
    else:
        means = np.empty(resamples)
        per_chunk = max(1, _CHUNK_ELEMENTS // n)
        for start in range(0, resamples, per_chunk):
            stop = min(resamples, start + per_chunk)
            # intp indices: a narrower type is converted to intp on every gather (5x slower).
            idx = rng.integers(0, n, (stop - start, n), dtype=np.intp)
            means[start:stop] = diffs[idx].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return Interval(estimate, float(low), float(high), n, level)


def _t_within(t: float, df: int) -> float:
    """P(|T| < t) for Student's t with integer df, by the finite series in θ = atan(t/√df)
    (Abramowitz & Stegun 26.7.3-4)."""
    theta = math.atan(t / math.sqrt(df))
    c2 = math.cos(theta) ** 2
    term = total = 1.0
    if df % 2:
        if df == 1:
            return 2.0 * theta / math.pi
        for k in range(1, (df - 3) // 2 + 1):
            term *= 2 * k / (2 * k + 1) * c2
            total += term
        return 2.0 / math.pi * (theta + math.sin(theta) * math.cos(theta) * total)
    for k in range(1, (df - 2) // 2 + 1):
        term *= (2 * k - 1) / (2 * k) * c2
        total += term
    return math.sin(theta) * total


def t_quantile(q: float, df: int) -> float:
    """Student's t quantile for q > 0.5, without scipy (whose import costs ~0.3-0.7 s on a page):
    the Cornish-Fisher expansion in 1/df from the normal quantile for df >= 30 (relative error
    < 1e-7), else bisection on the exact series of `_t_within`."""
    z = NormalDist().inv_cdf(q)
    if df >= 30:
        g1 = (z**3 + z) / 4
        g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
        g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
        g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
        return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4
    target = 2.0 * q - 1.0
    low, high = z, max(2.0 * z, 1.0)
    while _t_within(high, df) < target:
        high *= 2.0
    for _ in range(200):
        mid = (low + high) / 2.0
        if _t_within(mid, df) < target:
            low = mid
        else:
            high = mid
        if high - low < 1e-12 * high:
            break
    return (low + high) / 2.0


def value_interval(values: Sequence[float], pass_fail: bool, level: float = 0.95) -> Interval:
    """The interval of one column's value from its per-sample values.

    pass_fail: Wilson's score interval for the share of passes, WITHOUT continuity correction
    (R's `prop.test(x, n, correct = FALSE)$conf.int`); values count as passes when non-zero.
    Otherwise the t interval mean ± t(1 − α/2, n − 1)·sd/√n (sd with n − 1); n = 1 gives
    (mean, mean). No values raises ValueError.
    """
    xs = _floats(values, "value_interval")
    if xs.size == 0:
        raise ValueError("value_interval: no values; an interval needs at least one sample")
    if pass_fail:
        return summary_interval(int(xs.size), np.count_nonzero(xs) / xs.size, 0.0, True, level)
    sd = float(xs.std(ddof=1)) if xs.size > 1 else 0.0
    return summary_interval(int(xs.size), float(xs.mean()), sd, False, level)


def summary_interval(n: int, mean: float, sd: float, pass_fail: bool, level: float = 0.95) -> Interval:
    """`value_interval` from a summary: n values with this mean and sample sd (n − 1); for
    pass/fail `mean` is the share passed (successes / n) and sd is not used. The store keeps such
    summaries, so a table of many runs need not fetch every sample."""
    _check_level(level)
    if n <= 0:
        raise ValueError("value_interval: no values; an interval needs at least one sample")
    if pass_fail:
        p = float(mean)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"value_interval: a share of passes must be in [0, 1], got {p}")
        z = NormalDist().inv_cdf(1.0 - (1.0 - level) / 2.0)
        z2 = z * z
        centre = (p + z2 / (2 * n)) / (1 + z2 / n)
        half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
        return Interval(p, max(0.0, centre - half), min(1.0, centre + half), n, level)
    mean = float(mean)
    if n == 1 or not sd:
        return Interval(mean, mean, mean, n, level)
    half = t_quantile(1.0 - (1.0 - level) / 2.0, n - 1) * float(sd) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n, level)


# --- verdicts --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerdictInput:
    """One comparison: B (`label_b`) against A (`label_a`) on `task`'s `metric`, with per-sample
    values aligned by sample, and optionally each side's code-quality figures
    (e.g. {"findings per sample": 1.3, "complexity": 2.1})."""

    task: str
    metric: str
    label_a: str
    label_b: str
    values_a: Sequence[float]
    values_b: Sequence[float]
    pass_fail: bool
    quality_a: Mapping[str, float] | None = None
    quality_b: Mapping[str, float] | None = None


@dataclass(frozen=True)
class Verdict:
    """The verdict of B against A on one task and metric. diff = value_b − value_a with its
    bootstrap interval [low, high]; p_adjusted is Holm over the family; effect_size is Cliff's delta
    of B against A (> 0: B tends higher); quality_delta is B − A per quality figure both have."""

    task: str
    metric: str
    label_a: str
    label_b: str
    value_a: float | None
    value_b: float | None
    n: int
    diff: float | None
    low: float | None
    high: float | None
    p_value: float | None
    p_adjusted: float | None
    test: str
    effect_size: float | None
    effect_magnitude: str
    quality_delta: dict[str, float] = field(default_factory=dict)
    small_n: bool = False
    reading: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The verdict as a plain dict."""
        return asdict(self)


def _registered() -> dict[str, MetricInfo]:
    from engine.scoring import metrics  # its registry loads plugins on first use

    return metrics.metric_infos()


def _quality_delta(a: Mapping[str, float] | None, b: Mapping[str, float] | None) -> dict[str, float]:
    if not a or not b:
        return {}
    out = {}
    for key, value_b in b.items():
        value_a = a.get(key)
        if value_a is None or value_b is None or math.isnan(value_a) or math.isnan(value_b):
            continue
        out[key] = float(value_b) - float(value_a)
    return out


def _signed(value: float, digits: int) -> str:
    text = f"{value:+.{digits}f}"
    return text.replace("-", MINUS) if value < 0 else text


def _plain(value: float, digits: int) -> str:
    return f"{value:.{digits}f}".replace("-", MINUS)


def format_p(p: float | None) -> str:
    """A p-value as the readings print it: 'p = NA', 'p < 0.001', 'p = 0.62', 'p = 0.0031'."""
    if p is None or math.isnan(p):
        return "p = NA"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.2g}" if p < 0.1 else f"p = {p:.2f}"


def _amount(info: MetricInfo, diff: float, low: float, high: float) -> str:
    """'−1.2 pass@1 points [−4.0, 1.6]' on a 0..1 scale (×100), else the raw difference."""
    if info.low == 0.0 and info.high == 1.0:
        return f"{_signed(diff * 100, 1)} {info.name} points [{_plain(low * 100, 1)}, {_plain(high * 100, 1)}]"
    return f"{_signed(diff, 3)} {info.name} [{_plain(low, 3)}, {_plain(high, 3)}]"


def _conclusion(item: VerdictInput, info: MetricInfo, diff: float, low: float, high: float,
                p_adjusted: float | None, small: bool, n: int) -> str:
    excludes_zero = low > 0 or high < 0
    significant = excludes_zero and p_adjusted is not None and p_adjusted < SIGNIFICANCE
    if significant:
        if info.higher_is_better is None:
            word = "higher" if diff > 0 else "lower"
        else:
            word = "better" if (diff > 0) == info.higher_is_better else "worse"
        text = f"{item.label_b} {word}"
        return f"{text} (but only n = {n} samples)" if small else text
    if small:
        return f"only n = {n} samples: too few to tell"
    if excludes_zero:
        return "the interval excludes 0 but the corrected p does not: weak evidence of a difference"
    return "no evidence of a difference"


def _reading(item: VerdictInput, info: MetricInfo, verdict: dict[str, Any]) -> str:
    head = f"{item.label_b} vs {item.label_a} on {item.task}"
    n = verdict["n"]
    if n == 0:
        return f"{head}: no samples both evaluated — nothing to compare"
    amount = _amount(info, verdict["diff"], verdict["low"], verdict["high"])
    conclusion = _conclusion(item, info, verdict["diff"], verdict["low"], verdict["high"],
                             verdict["p_adjusted"], verdict["small_n"], n)
    return f"{head}: {amount}, n = {n}, {format_p(verdict['p_adjusted'])} — {conclusion}"


def _one(item: VerdictInput, resamples: int, seed: int, small_n: int) -> dict[str, Any]:
    a = _floats(item.values_a, f"{item.task} {item.metric} {item.label_a}")
    b = _floats(item.values_b, f"{item.task} {item.metric} {item.label_b}")
    if a.size != b.size:
        raise ValueError(f"verdicts: {item.task} {item.metric}: {a.size} values for {item.label_a}, "
                         f"{b.size} for {item.label_b}; the values must be aligned by sample")
    n = int(a.size)
    row: dict[str, Any] = {"task": item.task, "metric": item.metric, "label_a": item.label_a,
                           "label_b": item.label_b, "n": n, "small_n": n < small_n,
                           "quality_delta": _quality_delta(item.quality_a, item.quality_b)}
    if n == 0:
        return {**row, "value_a": None, "value_b": None, "diff": None, "low": None, "high": None,
                "p_value": None, "test": "none", "effect_size": None, "effect_magnitude": ""}
    interval = paired_bootstrap(a, b, resamples=resamples, seed=seed)
    test = paired_test(a.tolist(), b.tolist(), item.pass_fail)
    delta = stats.cliffs_delta(b, a)  # B against A, so that > 0 reads as "B tends higher"
    return {**row, "value_a": float(a.mean()), "value_b": float(b.mean()), "diff": interval.estimate,
            "low": interval.low, "high": interval.high, "p_value": test["p_value"], "test": test["test"],
            "effect_size": delta.delta, "effect_magnitude": delta.magnitude}


def verdicts(items: Sequence[VerdictInput], resamples: int = 2000, seed: int = 0, small_n: int = 30,
             registered: Mapping[str, MetricInfo] | None = None) -> list[Verdict]:
    """The verdict of each item, with p-values Holm-corrected across all items (NA stays NA).

    Each item's bootstrap uses `seed`, so a verdict does not depend on the other items. A verdict
    with n < small_n says so in its reading. `registered`: the metric metadata (default: the metric
    registry's) that gives each metric's scale and direction.
    """
    rows = [_one(item, resamples, seed, small_n) for item in items]
    adjusted = stats.holm([row["p_value"] for row in rows]).adjusted
    infos = dict(registered) if registered is not None else _registered()
    out = []
    for item, row, p_adj in zip(items, rows, adjusted, strict=True):
        row["p_adjusted"] = p_adj
        row["reading"] = _reading(item, describe_metric(item.metric, infos), row)
        out.append(Verdict(**row))
    return out
