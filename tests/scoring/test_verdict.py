"""Tests for engine.scoring.verdict: the paired bootstrap against closed forms and its seed
stability, Wilson's interval against R's prop.test, the t interval, and the verdicts' readings and
Holm correction; plus the engine.api wrappers."""
# pylint: disable=missing-function-docstring

from __future__ import annotations

import math

import numpy as np
import pytest

import engine.api
from engine.scoring import stats
from engine.scoring.verdict import (
    Interval,
    VerdictInput,
    format_p,
    paired_bootstrap,
    value_interval,
    verdicts,
)
from engine.vocabulary import MetricInfo

# Metric metadata given explicitly, so the readings do not depend on the registry's contents.
INFOS = {"codebleu": MetricInfo("codebleu", low=0.0, high=1.0, higher_is_better=True),
         "loss": MetricInfo("loss", low=0.0, high=None, higher_is_better=False)}


# --- paired bootstrap ------------------------------------------------------------------------------


def test_bootstrap_two_pairs_is_the_closed_form() -> None:
    # Differences {0, 1}: a resampled mean is Binomial(2, 1/2)/2 ∈ {0, 1/2, 1} with P(0) = P(1) = 1/4,
    # so both 2.5 % tails sit on the extremes: the 95 % percentile interval is exactly [0, 1].
    interval = paired_bootstrap([0.0, 0.0], [0.0, 1.0], resamples=2000, seed=0)
    assert interval == Interval(0.5, 0.0, 1.0, 2, 0.95)


def test_bootstrap_large_n_agrees_with_the_normal_interval() -> None:
    rng = np.random.default_rng(7)
    a = rng.random(2000)
    b = a + rng.normal(0.03, 0.2, a.size)
    interval = paired_bootstrap(a, b, resamples=4000, seed=1)
    d = b - a
    half = 1.96 * d.std(ddof=1) / math.sqrt(d.size)
    assert interval.estimate == pytest.approx(d.mean(), abs=1e-12)
    assert interval.low == pytest.approx(d.mean() - half, abs=0.1 * half)
    assert interval.high == pytest.approx(d.mean() + half, abs=0.1 * half)
    assert interval.n == 2000


def test_bootstrap_seed_stability() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.random(300), rng.random(300)
    first = paired_bootstrap(a, b, seed=11)
    assert paired_bootstrap(a, b, seed=11) == first  # same seed: identical
    other = paired_bootstrap(a, b, seed=12)
    assert other != first  # another seed: another draw ...
    width = first.high - first.low
    assert other.low == pytest.approx(first.low, abs=0.1 * width)  # ... but close
    assert other.high == pytest.approx(first.high, abs=0.1 * width)


def test_bootstrap_chunking_covers_every_resample(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.scoring import verdict

    rng = np.random.default_rng(5)
    a, b = rng.random(50), rng.random(50)
    whole = paired_bootstrap(a, b, resamples=999, seed=2)
    monkeypatch.setattr(verdict, "_CHUNK_ELEMENTS", 50 * 7)  # 7 resamples per chunk
    chunked = paired_bootstrap(a, b, resamples=999, seed=2)
    assert chunked.estimate == whole.estimate
    assert chunked.low == pytest.approx(whole.low, abs=0.02)
    assert chunked.high == pytest.approx(whole.high, abs=0.02)


def test_bootstrap_edge_cases() -> None:
    with pytest.raises(ValueError, match="no pairs"):
        paired_bootstrap([], [])
    with pytest.raises(ValueError, match="aligned"):
        paired_bootstrap([1.0, 2.0], [1.0])
    assert paired_bootstrap([0.2], [0.7]) == Interval(pytest.approx(0.5), pytest.approx(0.5), pytest.approx(0.5),
                                                      1, 0.95)
    constant = paired_bootstrap([0.0, 1.0, 0.0], [1.0, 2.0, 1.0])
    assert (constant.low, constant.high) == (1.0, 1.0)


# --- value intervals -------------------------------------------------------------------------------


def test_wilson_equals_r_prop_test_without_correction() -> None:
    # R: prop.test(1, 4, correct = FALSE)$conf.int -> 0.04558726 0.69935816
    interval = value_interval([1, 0, 0, 0], pass_fail=True)
    assert interval.estimate == 0.25
    assert interval.low == pytest.approx(0.04558726, abs=1e-8)
    assert interval.high == pytest.approx(0.69935816, abs=1e-8)
    # No success: Wilson's upper bound is z² / (n + z²) (R: 0.0000000 0.4898908).
    zero = value_interval([0, 0, 0, 0], pass_fail=True)
    z2 = 1.959963984540054**2
    assert zero.low == 0.0
    assert zero.high == pytest.approx(z2 / (4 + z2), abs=1e-12)


def test_t_interval_of_a_continuous_value() -> None:
    values = [0.2, 0.4, 0.3, 0.5, 0.1]
    interval = value_interval(values, pass_fail=False)
    # R: t.test(c(.2, .4, .3, .5, .1))$conf.int -> 0.1036757 0.4963243
    assert interval.low == pytest.approx(0.1036757, abs=1e-6)
    assert interval.high == pytest.approx(0.4963243, abs=1e-6)
    assert value_interval([0.3], pass_fail=False) == Interval(0.3, 0.3, 0.3, 1, 0.95)
    with pytest.raises(ValueError, match="no values"):
        value_interval([], pass_fail=False)


# --- verdicts --------------------------------------------------------------------------------------


def _item(task: str, a: list[float], b: list[float], metric: str = "codebleu", **extra: object) -> VerdictInput:
    return VerdictInput(task, metric, "ST-QLoRA", "MT-QLoRA", a, b, metric.startswith("pass@"), **extra)


def test_small_n_is_called_out() -> None:
    verdict = verdicts([_item("gen-python", [0, 0, 0, 0], [1, 0, 0, 0], metric="pass@1")], registered=INFOS)[0]
    assert verdict.n == 4 and verdict.small_n
    assert verdict.value_a == 0.0 and verdict.value_b == 0.25
    assert verdict.test.startswith("McNemar")
    assert "only n = 4 samples: too few to tell" in verdict.reading
    assert verdict.reading.startswith("MT-QLoRA vs ST-QLoRA on gen-python: +25.0 pass@1 points [")


def test_clear_win_reads_better() -> None:
    rng = np.random.default_rng(0)
    a = rng.random(200) * 0.5
    b = a + 0.1 + rng.normal(0, 0.02, a.size)
    quality = ({"findings per sample": 2.0, "complexity": 3.0}, {"findings per sample": 1.5, "complexity": 3.5})
    verdict = verdicts([_item("trans-java-cs", list(a), list(b), quality_a=quality[0], quality_b=quality[1])],
                       registered=INFOS)[0]
    assert verdict.low > 0 and verdict.p_adjusted < 0.05
    assert verdict.effect_size > 0  # B tends higher
    assert verdict.reading.endswith("— MT-QLoRA better")
    # A 0..1 metric reads in points (× 100).
    assert f"+{100 * verdict.diff:.1f} codebleu points [{100 * verdict.low:.1f}, {100 * verdict.high:.1f}]" \
        in verdict.reading
    assert verdict.quality_delta == {"findings per sample": -0.5, "complexity": 0.5}
    # On a lower-is-better metric the same difference is a loss.
    worse = verdicts([_item("trans-java-cs", list(a), list(b), metric="loss")], registered=INFOS)[0]
    assert worse.reading.endswith("— MT-QLoRA worse")


def test_no_difference_reads_no_evidence() -> None:
    rng = np.random.default_rng(1)
    a = rng.random(200)
    b = rng.permutation(a)
    verdict = verdicts([_item("sum-python", list(a), list(b))], registered=INFOS)[0]
    assert verdict.low < 0 < verdict.high
    assert verdict.reading.endswith("— no evidence of a difference")
    assert f"n = 200, {format_p(verdict.p_adjusted)}" in verdict.reading


def test_holm_across_items() -> None:
    rng = np.random.default_rng(2)
    items = []
    for i, shift in enumerate((0.0, 0.02, 0.2)):
        a = rng.random(100)
        items.append(_item(f"task-{i}", list(a), list(a + shift + rng.normal(0, 0.1, a.size))))
    found = verdicts(items, registered=INFOS)
    raw = [v.p_value for v in found]
    assert [v.p_adjusted for v in found] == list(stats.holm(raw).adjusted)
    assert found[2].p_adjusted == pytest.approx(min(1.0, 3 * min(raw)))  # the smallest p times the family size


def test_no_pairs_gives_an_empty_verdict() -> None:
    verdict = verdicts([_item("gen-java", [], [], metric="pass@1")], registered=INFOS)[0]
    assert verdict.n == 0 and verdict.diff is None and verdict.p_adjusted is None
    assert "nothing to compare" in verdict.reading


def test_api_wrappers_return_plain_dicts() -> None:
    interval = engine.api.paired_bootstrap([0.0, 0.0], [0.0, 1.0])
    assert interval == {"estimate": 0.5, "low": 0.0, "high": 1.0, "n": 2, "level": 0.95}
    assert engine.api.value_interval([1, 0, 0, 0], True)["high"] == pytest.approx(0.69935816, abs=1e-8)
    rows = engine.api.verdicts([{"task": "gen-python", "metric": "pass@1", "label_a": "A", "label_b": "B",
                                 "values_a": [1, 1, 0], "values_b": [1, 0, 0], "pass_fail": True}])
    assert rows[0]["n"] == 3 and rows[0]["small_n"] and "too few to tell" in rows[0]["reading"]


def test_summary_interval_equals_value_interval() -> None:
    values = [0.2, 0.4, 0.3, 0.5, 0.1]
    assert engine.api.summary_interval(5, float(np.mean(values)), float(np.std(values, ddof=1)), False) \
        == pytest.approx(value_interval(values, False).to_dict())
    assert engine.api.summary_interval(4, 0.25, 0.0, True) == value_interval([1, 0, 0, 0], True).to_dict()
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        engine.api.summary_interval(4, 1.5, 0.0, True)


@pytest.mark.parametrize("df", [1, 2, 3, 4, 5, 9, 10, 29, 30, 31, 100, 5000])
@pytest.mark.parametrize("q", [0.95, 0.975, 0.995])
def testt_quantile_equals_scipy(df: int, q: float) -> None:
    from scipy.special import stdtrit  # pylint: disable=no-name-in-module

    from engine.scoring.verdict import t_quantile

    assert t_quantile(q, df) == pytest.approx(float(stdtrit(df, q)), rel=2e-7)


def test_bootstrap_of_pass_fail_agrees_with_the_normal_interval() -> None:
    rng = np.random.default_rng(9)
    a = (rng.random(1500) < 0.4).astype(float)
    b = (rng.random(1500) < 0.5).astype(float)
    interval = paired_bootstrap(a, b, resamples=4000, seed=3)  # few distinct differences: multinomial draws
    d = b - a
    half = 1.96 * d.std(ddof=1) / math.sqrt(d.size)
    assert interval.low == pytest.approx(d.mean() - half, abs=0.1 * half)
    assert interval.high == pytest.approx(d.mean() + half, abs=0.1 * half)
    assert paired_bootstrap(a, b, resamples=4000, seed=3) == interval
