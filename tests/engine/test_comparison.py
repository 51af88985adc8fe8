"""Paired comparison families: the right test per metric kind, Holm across the family, and the
published numbers' table."""

from __future__ import annotations

import pytest
from scipy import stats as sps

from engine import api


def test_family_uses_mcnemar_for_pass_and_wilcoxon_for_scores_with_holm():
    a_pass = [1] * 30 + [0] * 10 + [1] * 5 + [0] * 5
    b_pass = [1] * 30 + [0] * 10 + [0] * 5 + [1] * 5
    scores_a = [0.1 * i for i in range(40)]
    scores_b = [0.1 * i + (0.3 if i % 3 else -0.1) for i in range(40)]
    out = api.paired_tests([
        {"task": "gen-python", "metric": "pass@1", "run_a": "A", "run_b": "B", "a": a_pass, "b": b_pass},
        {"task": "trans-java-cs", "metric": "codebleu", "run_a": "A", "run_b": "B", "a": scores_a, "b": scores_b},
        {"task": "sum-java", "metric": "bleu", "run_a": "A", "run_b": "B", "a": [], "b": []},
    ])
    mc, wil, empty = out
    assert mc["test"].startswith("McNemar") and mc["p_value"] == pytest.approx(1.0)  # 5 vs 5 discordant
    assert mc["mean_a"] == pytest.approx(35 / 50)
    assert wil["test"] == "Wilcoxon signed-rank"
    ref = sps.wilcoxon(scores_a, scores_b, method="approx", correction=False, zero_method="wilcox")
    assert wil["p_value"] == pytest.approx(ref.pvalue)
    assert wil["effect"] < 0 and "Cliff" in wil["effect_label"]
    # Holm over the two tested comparisons
    smaller, larger = sorted([mc["p_value"], wil["p_value"]])
    assert min(mc["p_holm"], wil["p_holm"]) == pytest.approx(min(1.0, 2 * smaller))
    assert max(mc["p_holm"], wil["p_holm"]) == pytest.approx(max(min(1.0, 2 * smaller), min(1.0, larger)))
    assert empty["p_value"] is None and empty["p_holm"] is None


def test_paper_numbers_cover_the_matrix():
    rows = api.paper_numbers()
    assert len(rows) == 3 * 6 * 3  # sizes × task variants × configurations
    mt_3b_py = next(r for r in rows if r["size"] == "3B" and r["task"] == "sum-python" and r["config"] == "MT-QLoRA")
    assert mt_3b_py["metric"] == "bleu" and mt_3b_py["value"] == pytest.approx(0.2433)
