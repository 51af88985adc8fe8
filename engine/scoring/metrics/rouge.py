"""ROUGE-L F-measure from Google's rouge-score, per sample; the corpus value is the mean.

`RougeScorer(["rougeL"], use_stemmer=True).score(reference, prediction)["rougeL"].fmeasure`, as the
paper's summarization evaluation ran it (Porter stemming on; rouge-score's tokenizer lower-cases and
keeps only [a-z0-9] tokens). Blank prediction = 0.0. ROUGE has no pooled corpus form in rouge-score
(its BootstrapAggregator reports a resampled mean), so the corpus value is the plain mean.
"""

from __future__ import annotations

import functools
from typing import Any

from engine.scoring.metrics.base import TEXT, Metric, is_blank


@functools.lru_cache(maxsize=4)
def _scorer(use_stemmer: bool) -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=use_stemmer)


def score_pairs(predictions: list[str], references: list[str], use_stemmer: bool = True) -> list[float]:
    """ROUGE-L F-measure of each prediction against its reference, in [0, 1]."""
    scorer = _scorer(use_stemmer)
    return [0.0 if is_blank(pred) else scorer.score(ref.strip(), pred.strip())["rougeL"].fmeasure
            for pred, ref in zip(predictions, references, strict=True)]


def meta(use_stemmer: bool = True) -> dict[str, Any]:
    """Library and settings, recorded with every result."""
    from importlib.metadata import version

    return {"library": f"rouge-score {version('rouge-score')}", "use_stemmer": use_stemmer,
            "measure": "rougeL fmeasure", "corpus": "mean of per-sample values"}


METRICS = (
    Metric(
        name="rouge_l",
        applies_to=frozenset({TEXT}),
        description="ROUGE-L F-measure (rouge-score, Porter stemmer), mean over samples",
        score_fn=score_pairs,
        options=("use_stemmer",),
        meta_fn=meta,
    ),
)
