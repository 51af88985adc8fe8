"""chrF from sacrebleu: per sample `sentence_chrf`, per corpus `corpus_chrf`, both on a 0-1 scale.

sacrebleu's defaults (character 6-grams, no word n-grams, beta 2), as the paper's summarization
evaluation used (`sacrebleu.sentence_chrf(pred, [ref]).score / 100`, blank prediction = 0.0).
`word_order=2` gives chrF++. The corpus value pools the n-gram statistics (not the mean).
"""

from __future__ import annotations

import functools
from typing import Any

from engine.scoring.metrics.base import TEXT, Metric, is_blank


@functools.lru_cache(maxsize=8)
def _scorer(word_order: int) -> Any:
    from sacrebleu.metrics import CHRF

    return CHRF(word_order=word_order)


def score_pairs(predictions: list[str], references: list[str], word_order: int = 0) -> list[float]:
    """sacrebleu sentence chrF of each prediction against its reference, divided by 100."""
    scorer = _scorer(word_order)
    return [0.0 if is_blank(pred) else scorer.sentence_score(pred.strip(), [ref.strip()]).score / 100.0
            for pred, ref in zip(predictions, references, strict=True)]


def corpus(predictions: list[str], references: list[str], word_order: int = 0) -> float:
    """sacrebleu corpus chrF (pooled statistics), divided by 100."""
    result = _scorer(word_order).corpus_score([p.strip() for p in predictions],
                                              [[r.strip() for r in references]])
    return result.score / 100.0


def meta(word_order: int = 0) -> dict[str, Any]:
    """Library and settings, recorded with every result."""
    import sacrebleu

    return {"library": f"sacrebleu {sacrebleu.__version__}", "char_order": 6, "word_order": word_order,
            "beta": 2, "per_sample": "sentence_chrf, blank prediction = 0", "corpus": "corpus_chrf"}


METRICS = (
    Metric(
        name="chrf",
        applies_to=frozenset({TEXT}),
        description="chrF (sacrebleu): character n-gram F-score, beta 2",
        score_fn=score_pairs,
        corpus_fn=corpus,
        options=("word_order",),
        meta_fn=meta,
    ),
)
