"""METEOR from nltk (`nltk.translate.meteor_score`, WordNet synonyms), per sample; corpus = mean.

Tokenisation: `nltk.word_tokenize(text, preserve_line=True)` by default (no punkt model needed);
`tokenize="split"` uses str.split(), as the paper's evaluation script did. nltk's defaults otherwise
(alpha 0.9, beta 3, gamma 0.5, lower-casing). Blank prediction = 0.0, as in the paper.
WordNet must be installed in an nltk data directory (`make setup`, or
`scripts/setup_wordnet.sh .venv/share/nltk_data`); it is never downloaded at run time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.scoring.metrics.base import TEXT, Metric, MetricError, MetricUnavailableError, is_blank

_FIX = ("install it with `make setup` (or `scripts/setup_wordnet.sh .venv/share/nltk_data` after "
        "`apt-get install wordnet-base wordnet-sense-index`), or point NLTK_DATA at a directory "
        "holding corpora/wordnet")


def require_wordnet() -> None:
    """Raise MetricUnavailableError with the fix when nltk cannot find WordNet (with its lexnames)."""
    import nltk

    try:
        nltk.data.find("corpora/wordnet/lexnames")
    except LookupError:
        searched = ", ".join(str(p) for p in nltk.data.path)
        raise MetricUnavailableError(
            f"METEOR needs WordNet, which nltk cannot find (searched: {searched}); {_FIX}") from None


def _tokenizer(tokenize: str) -> Callable[[str], list[str]]:
    if tokenize == "split":
        return str.split
    if tokenize == "word_tokenize":
        import nltk

        return lambda text: nltk.word_tokenize(text, preserve_line=True)
    raise MetricError(f"meteor: tokenize must be 'word_tokenize' or 'split', not {tokenize!r}")


def score_pairs(predictions: list[str], references: list[str],
                tokenize: str = "word_tokenize") -> list[float]:
    """nltk METEOR of each prediction against its reference, in [0, 1]."""
    split = _tokenizer(tokenize)
    require_wordnet()
    from nltk.translate.meteor_score import meteor_score

    scores = []
    for pred, ref in zip(predictions, references, strict=True):
        if is_blank(pred):
            scores.append(0.0)
            continue
        try:
            scores.append(float(meteor_score([split(ref)], split(pred))))
        except LookupError as exc:  # WordNet present but unreadable (e.g. a partial copy)
            raise MetricUnavailableError(f"METEOR could not load WordNet ({exc}); {_FIX}") from exc
    return scores


def meta(tokenize: str = "word_tokenize") -> dict[str, Any]:
    """Library and settings, recorded with every result."""
    import nltk

    return {"library": f"nltk {nltk.__version__} meteor_score (WordNet 3.0)", "tokenize": tokenize,
            "alpha": 0.9, "beta": 3.0, "gamma": 0.5, "corpus": "mean of per-sample values"}


METRICS = (
    Metric(
        name="meteor",
        applies_to=frozenset({TEXT}),
        description="METEOR (nltk, WordNet synonyms), mean over samples",
        score_fn=score_pairs,
        options=("tokenize",),
        meta_fn=meta,
    ),
)
