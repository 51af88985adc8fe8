"""BLEU from sacrebleu: per sample `sentence_bleu`, per corpus `corpus_bleu`, both on a 0-1 scale.

Per sample we use exactly what the paper's summarization evaluation used
(`sacrebleu.sentence_bleu(pred, [ref]).score / 100` on stripped strings, blank prediction = 0.0):
sacrebleu's sentence defaults, i.e. tokenizer '13a', case-sensitive, smoothing 'exp' and effective
order on. The paper's "BLEU" is the mean of these per-sample values (`mean` in the results).
The corpus value is sacrebleu's `corpus_bleu` with its corpus defaults ('exp' smoothing, no effective
order): one BLEU over pooled n-gram counts, which is not the mean of the per-sample values.
"""

from __future__ import annotations

import functools
from typing import Any

from engine.scoring.metrics.base import CODE, TEXT, Metric, is_blank

_DEFAULT_TOKENIZE = "13a"


@functools.lru_cache(maxsize=8)
def _sentence_scorer(tokenize: str, lowercase: bool) -> Any:
    # One BLEU object reused for every sentence: the same computation as sacrebleu.sentence_bleu,
    # which builds a new object (and tokenizer) per call.
    from sacrebleu.metrics import BLEU

    return BLEU(tokenize=tokenize, lowercase=lowercase, smooth_method="exp", effective_order=True)


def score_pairs(predictions: list[str], references: list[str], tokenize: str = _DEFAULT_TOKENIZE,
                lowercase: bool = False) -> list[float]:
    """sacrebleu sentence BLEU of each prediction against its reference, divided by 100."""
    scorer = _sentence_scorer(tokenize, lowercase)
    return [0.0 if is_blank(pred) else scorer.sentence_score(pred.strip(), [ref.strip()]).score / 100.0
            for pred, ref in zip(predictions, references, strict=True)]


def corpus(predictions: list[str], references: list[str], tokenize: str = _DEFAULT_TOKENIZE,
           lowercase: bool = False) -> float:
    """sacrebleu corpus BLEU (pooled n-gram statistics), divided by 100."""
    import sacrebleu

    result = sacrebleu.corpus_bleu([p.strip() for p in predictions], [[r.strip() for r in references]],
                                   tokenize=tokenize, lowercase=lowercase)
    return result.score / 100.0


def meta(tokenize: str = _DEFAULT_TOKENIZE, lowercase: bool = False) -> dict[str, Any]:
    """Library and settings, recorded with every result."""
    import sacrebleu

    return {"library": f"sacrebleu {sacrebleu.__version__}", "tokenize": tokenize, "lowercase": lowercase,
            "per_sample": "sentence_bleu (smooth exp, effective order), blank prediction = 0",
            "corpus": "corpus_bleu (smooth exp)"}


METRICS = (
    Metric(
        name="bleu",
        applies_to=frozenset({CODE, TEXT}),
        description="BLEU-4 (sacrebleu): sentence BLEU per sample, corpus BLEU per corpus",
        score_fn=score_pairs,
        corpus_fn=corpus,
        options=("tokenize", "lowercase"),
        meta_fn=meta,
    ),
)
