"""Tests for engine.scoring.stats against scipy, R's documented examples and hand-computed values."""
# pylint: disable=missing-function-docstring

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from engine.scoring.stats import (
    cliffs_delta,
    cliffs_magnitude,
    holm,
    mcnemar,
    mcnemar_counts,
    wilcoxon_signed_rank,
)

# --- McNemar --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("b", "c"), [(0, 1), (1, 0), (3, 9), (10, 4), (12, 12), (0, 24), (7, 16)])
def test_mcnemar_exact_equals_scipy_binomtest(b: int, c: int) -> None:
    result = mcnemar_counts(b, c)
    assert result.method == "exact"  # b + c < 25
    assert result.statistic is None
    assert result.p_value == pytest.approx(sps.binomtest(b, b + c, 0.5).pvalue, rel=1e-12)
    assert result.odds_ratio == pytest.approx((b + 0.5) / (c + 0.5))


@pytest.mark.parametrize(("b", "c"), [(150, 86), (20, 5), (13, 12), (40, 40), (100, 3)])
def test_mcnemar_chi2_equals_hand_computation(b: int, c: int) -> None:
    result = mcnemar_counts(b, c)
    assert result.method == "chi2"  # b + c >= 25
    # R's mcnemar.test corrects only an asymmetric table: b = c gives statistic 0, p = 1
    statistic = (abs(b - c) - 1) ** 2 / (b + c) if b != c else 0.0
    assert result.statistic == pytest.approx(statistic, rel=1e-12)
    assert result.p_value == pytest.approx(sps.chi2.sf(statistic, df=1), rel=1e-9)


def test_mcnemar_r_documentation_example() -> None:
    # R: mcnemar.test(matrix(c(794, 86, 150, 570), nrow = 2)):
    #    McNemar's chi-squared = 16.818, df = 1, p-value = 4.115e-05
    result = mcnemar_counts(150, 86, n=1600)
    assert result.statistic == pytest.approx(16.818, abs=5e-4)
    assert result.p_value == pytest.approx(4.115e-05, rel=1e-3)
    assert result.n == 1600


def test_mcnemar_threshold_and_forced_methods() -> None:
    assert mcnemar_counts(12, 12).method == "exact"  # 24 discordant
    assert mcnemar_counts(13, 12).method == "chi2"  # 25 discordant
    assert mcnemar_counts(3, 9, method="chi2").method == "chi2"
    assert mcnemar_counts(150, 86, method="exact").p_value == pytest.approx(
        sps.binomtest(150, 236, 0.5).pvalue, rel=1e-9)
    assert mcnemar_counts(3, 9, exact_threshold=5).method == "chi2"
    with pytest.raises(ValueError, match="method must be one of"):
        mcnemar_counts(1, 2, method="fisher")
    with pytest.raises(ValueError, match="counts must be >= 0"):
        mcnemar_counts(-1, 2)


def test_mcnemar_from_outcomes() -> None:
    a = [True, True, False, False, True, False, True, True]
    b = [True, False, True, False, False, False, False, True]
    result = mcnemar(a, b)
    assert (result.b, result.c, result.n) == (3, 1, 8)
    assert result.p_value == pytest.approx(sps.binomtest(3, 4, 0.5).pvalue)
    assert result.odds_ratio == pytest.approx(3.5 / 1.5)
    assert mcnemar([1, 0, 1], [0, 0, 1]).b == 1  # 0/1 accepted


def test_mcnemar_degenerate_and_bad_input() -> None:
    same = mcnemar([True, False, True], [True, False, True])
    assert (same.p_value, same.method, same.odds_ratio) == (1.0, "none", 1.0)
    assert mcnemar([], []).p_value == 1.0
    with pytest.raises(ValueError, match="same length, got 3 and 2"):
        mcnemar([True, False, True], [True, False])
    with pytest.raises(ValueError, match="pass/fail"):
        mcnemar([0.5, 1.0], [1.0, 0.0])


# --- Wilcoxon signed-rank -------------------------------------------------------------------------

def random_pairs(seed: int, n: int, decimals: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, n).round(decimals)
    y = (x + rng.normal(0.03, 0.1, n)).round(decimals)
    y[: n // 10] = x[: n // 10]  # some zero differences
    return x, y


@pytest.mark.parametrize(("seed", "n", "decimals"), [(0, 30, 1), (1, 200, 2), (2, 1000, 3), (3, 12, 6)])
def test_wilcoxon_equals_scipy_normal_approximation(seed: int, n: int, decimals: int) -> None:
    x, y = random_pairs(seed, n, decimals)
    ours = wilcoxon_signed_rank(x, y)
    ref = sps.wilcoxon(x, y, method="approx", correction=False, zero_method="wilcox")
    assert ours.method == "normal"
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    # scipy's two-sided statistic is min(R+, R-); ours is R's V = R+
    assert min(ours.r_plus, ours.r_minus) == pytest.approx(ref.statistic)
    assert ours.statistic == ours.r_plus
    diffs = x - y
    assert ours.n == int(np.sum(diffs != 0)) and ours.n_zero == int(np.sum(diffs == 0))
    assert ours.r_plus + ours.r_minus == pytest.approx(ours.n * (ours.n + 1) / 2)
    assert abs(ours.z) == pytest.approx(abs(ref.zstatistic), rel=1e-9)


def test_wilcoxon_r_documentation_example() -> None:
    # R's ?wilcox.test depression example: V = 40 (R+); two-sided normal approximation by hand.
    x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
    y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]
    result = wilcoxon_signed_rank(x, y)
    assert result.statistic == 40.0
    z = (40 - 9 * 10 / 4) / math.sqrt(9 * 10 * 19 / 24)
    assert result.z == pytest.approx(z)
    assert result.p_value == pytest.approx(2 * sps.norm.sf(z), rel=1e-12)
    # the direction follows x - y: swapping the runs flips V to R- and the sign of z
    swapped = wilcoxon_signed_rank(y, x)
    assert swapped.statistic == 5.0 and swapped.z == pytest.approx(-z)
    assert swapped.p_value == pytest.approx(result.p_value)


def test_wilcoxon_ties_use_the_tie_correction() -> None:
    # |d| = 1, 1, 2, 2, 2, 3 -> ranks 1.5, 1.5, 4, 4, 4, 6; ties (2, 3): correction (8-2 + 27-3)/48
    x, y = [1, 2, 3, 4, 5, 6], [0, 3, 1, 2, 7, 3]  # d = 1, -1, 2, 2, -2, 3
    result = wilcoxon_signed_rank(x, y)
    assert (result.r_plus, result.r_minus) == (1.5 + 4 + 4 + 6, 1.5 + 4)
    variance = 6 * 7 * 13 / 24 - ((2**3 - 2) + (3**3 - 3)) / 48
    z = (result.r_plus - 6 * 7 / 4) / math.sqrt(variance)
    assert result.z == pytest.approx(z)
    assert result.p_value == pytest.approx(math.erfc(abs(z) / math.sqrt(2)))


def test_wilcoxon_scipy_default_method() -> None:
    x, y = random_pairs(5, 20, 6)  # zeros present -> scipy falls back to the approximation
    ours = wilcoxon_signed_rank(x, y, method="scipy")
    assert ours.p_value == pytest.approx(sps.wilcoxon(x, y).pvalue, rel=1e-12)
    assert ours.method == "scipy-auto" and ours.statistic == ours.r_plus
    x2 = [0.1, 0.5, 0.35, 0.9, 0.27, 0.62, 0.44]
    y2 = [0.2, 0.3, 0.31, 0.7, 0.3, 0.5, 0.4]  # no ties, small n: scipy's exact distribution
    exact = wilcoxon_signed_rank(x2, y2, method="scipy")
    assert exact.p_value == pytest.approx(sps.wilcoxon(x2, y2, method="exact").pvalue)
    assert exact.p_value != pytest.approx(wilcoxon_signed_rank(x2, y2).p_value)


def test_wilcoxon_degenerate_and_bad_input() -> None:
    same = wilcoxon_signed_rank([0.5, 0.25, 1.0], [0.5, 0.25, 1.0])  # R: V = 0, p-value = NA
    assert (same.p_value, same.statistic, same.n, same.n_zero, same.method) == (None, 0.0, 0, 3, "none")
    assert wilcoxon_signed_rank([], []).p_value is None
    single = wilcoxon_signed_rank([1.0], [0.0])
    assert single.n == 1 and 0 < single.p_value <= 1
    with pytest.raises(ValueError, match="same length"):
        wilcoxon_signed_rank([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="NaN"):
        wilcoxon_signed_rank([1, float("nan")], [1, 2])
    with pytest.raises(ValueError, match="method must be"):
        wilcoxon_signed_rank([1, 2], [2, 1], method="exact")


# --- Cliff's delta --------------------------------------------------------------------------------

def brute_force_delta(x: list[float], y: list[float]) -> float:
    greater = sum(1 for a in x for b in y if a > b)
    less = sum(1 for a in x for b in y if a < b)
    return (greater - less) / (len(x) * len(y))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cliffs_delta_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 10, 60).astype(float).tolist()  # many ties
    y = (rng.integers(0, 10, 60) + seed).astype(float).tolist()
    result = cliffs_delta(x, y)
    assert result.delta == pytest.approx(brute_force_delta(x, y), abs=1e-15)
    assert result.magnitude == cliffs_magnitude(result.delta)
    assert cliffs_delta(y, x).delta == pytest.approx(-result.delta)


def test_cliffs_delta_extremes_and_magnitudes() -> None:
    assert cliffs_delta([1, 2, 3], [1, 2, 3]) == cliffs_delta([3, 2, 1], [1, 2, 3])
    assert cliffs_delta([1, 2, 3], [1, 2, 3]).delta == 0.0
    top = cliffs_delta([5, 6, 7], [1, 2, 3])
    assert (top.delta, top.magnitude) == (1.0, "large")
    assert cliffs_delta([0, 0], [1, 1]).delta == -1.0
    assert [cliffs_magnitude(d) for d in (0.0, 0.146, -0.147, 0.329, 0.33, -0.473, 0.474, 1.0)] == [
        "negligible", "negligible", "small", "small", "medium", "medium", "large", "large"]


def test_cliffs_delta_input_checks() -> None:
    with pytest.raises(ValueError, match="same length"):
        cliffs_delta([1, 2, 3], [1, 2])
    assert cliffs_delta([1, 2, 3], [0, 5], allow_unequal_lengths=True).delta == pytest.approx(
        brute_force_delta([1, 2, 3], [0, 5]))
    with pytest.raises(ValueError, match="at least one value"):
        cliffs_delta([], [])


# --- Holm -----------------------------------------------------------------------------------------

def test_holm_hand_computed_table() -> None:
    # p sorted: 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> running max 0.06)
    result = holm([0.01, 0.04, 0.03, 0.005])
    assert result.adjusted == pytest.approx((0.03, 0.06, 0.06, 0.02))
    assert result.rejected == (True, False, False, True)
    assert result.p_values == (0.01, 0.04, 0.03, 0.005)
    # capped at 1
    assert holm([0.5, 0.6, 0.9]).adjusted == (1.0, 1.0, 1.0)
    # ties: 0.02 x3 = 0.06, 0.02 x2 = 0.04 -> 0.06, 0.5 x1
    assert holm([0.02, 0.5, 0.02]).adjusted == pytest.approx((0.06, 0.5, 0.06))
    # one test: unchanged
    assert holm([0.037]).adjusted == (0.037,)
    assert not holm([]).adjusted


def test_holm_properties_and_not_bh() -> None:
    rng = np.random.default_rng(7)
    ps = rng.uniform(0, 0.2, 12).tolist()
    adjusted = holm(ps).adjusted
    order = np.argsort(ps, kind="stable")
    assert all(adjusted[i] >= p for i, p in enumerate(ps))
    assert all(a <= 1.0 for a in adjusted)
    assert all(adjusted[i] <= adjusted[j] for i, j in itertools.pairwise(order))  # monotone in p
    bh = sps.false_discovery_control(ps, method="bh")
    assert not np.allclose(adjusted, bh)  # Holm is stricter than Benjamini-Hochberg
    assert all(a >= b - 1e-15 for a, b in zip(adjusted, bh, strict=True))


def test_holm_bad_input() -> None:
    with pytest.raises(ValueError, match=r"p-value 1 is 1\.5"):
        holm([0.1, 1.5])
    assert holm([float("nan")]).adjusted == (None,)  # NA stays NA (tests/scoring/test_r_conventions.py)
    with pytest.raises(ValueError, match="alpha"):
        holm([0.1], alpha=0)


# --- R's conventions, as the reference study ran its tests (issue 11) --------------------------------

def test_mcnemar_r_convention_b_equals_c_gives_statistic_0_and_p_1() -> None:
    # R: mcnemar.test(matrix(c(20, 8, 8, 30), 2)) -> McNemar's chi-squared = 0, df = 1, p-value = 1
    # (R corrects only `if (any(x - t(x) != 0))`; correcting anyway gives (0 - 1)^2 / 16 and p = 0.80)
    for method in ("r", "chi2"):
        result = mcnemar_counts(8, 8, n=66, method=method)
        assert (result.statistic, result.p_value, result.method) == (0.0, 1.0, "chi2")
    assert mcnemar_counts(40, 40).statistic == 0.0  # "auto" above 25 discordant pairs too


def test_mcnemar_r_convention_is_always_the_corrected_chi_square() -> None:
    for b, c in [(3, 9), (0, 1), (10, 4), (150, 86), (5, 4)]:
        result = mcnemar_counts(b, c, method="r")
        statistic = (abs(b - c) - 1) ** 2 / (b + c)
        assert result.method == "chi2" and result.statistic == pytest.approx(statistic)
        assert result.p_value == pytest.approx(sps.chi2.sf(statistic, df=1), rel=1e-9)
    # no discordant pair: R's 0 / 0 is NaN -> NA here (the other methods keep p = 1)
    none = mcnemar_counts(0, 0, n=10, method="r")
    assert none.p_value is None and none.statistic is None
    assert mcnemar([True, False], [True, False], method="r").p_value is None
    assert mcnemar_counts(0, 0, method="auto").p_value == 1.0


def test_wilcoxon_na_when_all_differences_are_zero_or_both_vectors_constant() -> None:
    assert wilcoxon_signed_rank([0.2, 0.4, 0.4], [0.2, 0.4, 0.4]).p_value is None
    constant = wilcoxon_signed_rank([0.5] * 6, [0.3] * 6)  # both constant: NA (the package's rule)
    assert constant.p_value is None and constant.method == "none" and constant.n == 6
    one_constant = wilcoxon_signed_rank([0.5] * 6, [0.1, 0.2, 0.3, 0.2, 0.6, 0.7])
    assert one_constant.p_value is not None and one_constant.method == "normal"
    assert wilcoxon_signed_rank([1.0], [0.0]).p_value is not None  # one pair is not "constant"


def test_average_ranks_equal_scipy_rankdata() -> None:
    from engine.scoring.stats import average_ranks

    rng = np.random.default_rng(11)
    for _ in range(100):
        values = rng.integers(0, 6, rng.integers(0, 30)).astype(float)
        assert np.allclose(average_ranks(values), sps.rankdata(values))


def test_bh_equals_scipy_false_discovery_control() -> None:
    from engine.scoring.stats import benjamini_hochberg

    rng = np.random.default_rng(3)
    for size in (1, 2, 7, 40):
        ps = rng.uniform(0, 0.3, size).round(3).tolist()  # rounded: ties included
        ours = benjamini_hochberg(ps)
        assert np.allclose(ours.adjusted, sps.false_discovery_control(ps, method="bh"), rtol=1e-12)
        assert ours.method == "BH" and ours.n == size
    # R: p.adjust(c(0.01, 0.02, 0.03, 0.04, 0.05), "BH") -> all 0.05
    assert benjamini_hochberg([0.01, 0.02, 0.03, 0.04, 0.05]).adjusted == pytest.approx((0.05,) * 5)


def test_adjustments_leave_na_out_of_the_family_as_p_adjust_does() -> None:
    from engine.scoring.stats import benjamini_hochberg, p_adjust

    ps = [0.01, None, 0.04, float("nan"), 0.03]
    present = [0.01, 0.04, 0.03]
    for method, reference in (("holm", holm(present).adjusted),
                              ("BH", sps.false_discovery_control(present, method="bh"))):
        result = p_adjust(ps, method)
        assert result.adjusted[1] is None and result.adjusted[3] is None and result.n == 3
        assert [result.adjusted[i] for i in (0, 2, 4)] == pytest.approx(list(reference))
        assert result.rejected[1] is False
    # R: p.adjust(c(0.01, NA, 0.04), "holm") -> 0.02 NA 0.04 (n = 2, not 3)
    assert holm([0.01, None, 0.04]).adjusted == pytest.approx((0.02, None, 0.04))
    assert benjamini_hochberg([None, None]).adjusted == (None, None)
    with pytest.raises(ValueError, match="method must be"):
        p_adjust([0.1], "bonferroni")


def test_paired_family_leaves_na_out_and_reports_holm_and_bh() -> None:
    from engine.scoring.comparison import PairedInput, paired_family

    same = [0.5, 0.6, 0.7, 0.8]
    rng = np.random.default_rng(5)
    a = rng.uniform(0, 1, 60)
    items = [PairedInput("t", "codebleu", "A", "B", same, same),  # all differences zero: NA
             PairedInput("t", "bleu", "A", "B", a.tolist(), (a + 0.05).tolist()),
             PairedInput("t", "chrf", "A", "B", a.tolist(), (a + rng.normal(0, 0.1, 60)).tolist()),
             PairedInput("g", "pass@1", "A", "B", [1] * 8 + [0] * 8, [0] * 8 + [1] * 8)]  # b = c = 8
    out = paired_family(items)
    assert out[0].p_value is None and out[0].p_holm is None and out[0].p_bh is None
    mc = out[3]
    assert mc.test == "McNemar (chi2)" and mc.statistic == 0.0 and mc.p_value == 1.0
    tested = [r.p_value for r in out[1:]]
    assert [r.p_holm for r in out[1:]] == pytest.approx(list(holm(tested).adjusted))
    assert [r.p_bh for r in out[1:]] == pytest.approx(list(sps.false_discovery_control(tested, method="bh")))
    exact = paired_family(items[3:], mcnemar_method="auto")[0]
    assert exact.test == "McNemar (exact)"


def test_alignment_correlations_find_the_right_offset() -> None:
    from engine.scoring.comparison import alignment_correlations

    rng = np.random.default_rng(9)
    ours = rng.integers(5, 200, 500).astype(float)
    paper = (ours * 1.1 + rng.normal(0, 15, 500)).tolist()
    found = {row["offset"]: row["r"] for row in alignment_correlations(paper, ours.tolist())}
    assert found[0] > 0.9 and all(abs(found[o]) < 0.15 for o in (1, -1, 5))
    shifted = {row["offset"]: row["r"] for row in alignment_correlations(paper[1:], ours.tolist())}
    assert shifted[1] > 0.9 and abs(shifted[0]) < 0.15  # a file that lost its first row
