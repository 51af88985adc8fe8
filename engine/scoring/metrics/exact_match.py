"""Exact match, per sample 1.0 or 0.0; the corpus value is the mean (the match rate).

`exact_match`: equal after whitespace normalisation (runs of whitespace -> one space, ends stripped),
so formatting-only differences still match. `exact_match_strict`: the strings are identical.
"""

from __future__ import annotations

from engine.scoring.metrics.base import CODE, Metric


def normalize_whitespace(text: str) -> str:
    """Collapse every whitespace run to one space and strip the ends."""
    return " ".join(text.split())


def score_pairs(predictions: list[str], references: list[str]) -> list[float]:
    """1.0 where prediction and reference are equal up to whitespace, else 0.0."""
    return [float(normalize_whitespace(p) == normalize_whitespace(r))
            for p, r in zip(predictions, references, strict=True)]


def score_pairs_strict(predictions: list[str], references: list[str]) -> list[float]:
    """1.0 where prediction and reference are identical strings, else 0.0."""
    return [float(p == r) for p, r in zip(predictions, references, strict=True)]


def meta() -> dict[str, str]:
    """How the values were computed, recorded with every result."""
    return {"corpus": "mean of per-sample values"}


METRICS = (
    Metric(
        name="exact_match",
        applies_to=frozenset({CODE}),
        description="exact match after whitespace normalisation (rate)",
        score_fn=score_pairs,
        meta_fn=meta,
    ),
    Metric(
        name="exact_match_strict",
        applies_to=frozenset({CODE}),
        description="exact match of the raw strings (rate)",
        score_fn=score_pairs_strict,
        meta_fn=meta,
    ),
)
