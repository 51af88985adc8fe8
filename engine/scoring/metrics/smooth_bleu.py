"""Smoothed sentence BLEU-4 as CodeXGLUE's code-to-text evaluator computes it (reimplemented).

CodeXGLUE (Code-Text/code-to-text/evaluator) scores summaries with a NIST-style smoothed BLEU:
  1. both strings: strip, lower-case, then split words from punctuation (`[\\w]+|[^\\s\\w]`);
  2. NIST mteval-v11a normalisation (join lines, unescape XML, lower-case, tokenise punctuation);
  3. n-gram precisions for n = 1..4 with +1 added to numerator and denominator for n > 1
     (add-one smoothing; unigrams are not smoothed), geometric mean;
  4. brevity penalty exp(min(0, 1 - (r + 1) / (c + 1))) with the shortest reference length r
     (also +1 smoothed);
  5. the reported number is the mean of the per-sentence scores (x 100 there; 0-1 here).
Quirk kept on purpose: a blank prediction does not score 0. Its unigram term is log(0+tiny) -
log(0+tiny) = 0, so only the brevity penalty counts: exp(-r) for a reference of r tokens
(0.1353 for two tokens). The corpus value is the mean, as CodeXGLUE reports it.
"""

from __future__ import annotations

import math
import re
import sys
import xml.sax.saxutils
from collections import Counter

from engine.scoring.metrics.base import TEXT, Metric

_ORDER = 4
_TINY = sys.float_info.min  # CodeXGLUE adds it inside every log so log(0) never happens

# NIST mteval-v11a normalisation, as in CodeXGLUE's bleu.py (language-independent part).
_NORMALIZE1 = tuple((re.compile(pattern), repl) for pattern, repl in (
    ("<skipped>", ""),   # strip "skipped" tags
    (r"-\n", ""),        # join hyphenated line ends
    (r"\n", " "),        # join lines
))
# Language-dependent part (Western languages): tokenise punctuation, periods and commas, digit dashes.
_NORMALIZE2 = tuple((re.compile(pattern), repl) for pattern, repl in (
    (r"([\{-\~\[-\` -\&\(-\+\:-\@\/])", r" \1 "),
    (r"([^0-9])([\.,])", r"\1 \2 "),
    (r"([\.,])([^0-9])", r" \1 \2"),
    (r"([0-9])(-)", r"\1 \2 "),
))
_WORDS_AND_PUNCT = re.compile(r"[\w]+|[^\s\w]")


def split_puncts(line: str) -> str:
    """CodeXGLUE's splitPuncts: words and single punctuation characters, space separated."""
    return " ".join(_WORDS_AND_PUNCT.findall(line))


def nist_normalize(text: str) -> list[str]:
    """CodeXGLUE's normalize(): NIST mteval-v11a normalisation and tokenisation, lower-cased."""
    for pattern, repl in _NORMALIZE1:
        text = pattern.sub(repl, text)
    text = xml.sax.saxutils.unescape(text, {"&quot;": '"'})
    text = f" {text} ".lower()
    for pattern, repl in _NORMALIZE2:
        text = pattern.sub(repl, text)
    return text.split()


def _ngram_counts(words: list[str]) -> Counter[tuple[str, ...]]:
    counts: Counter[tuple[str, ...]] = Counter()
    for k in range(1, _ORDER + 1):
        for i in range(len(words) - k + 1):
            counts[tuple(words[i:i + k])] += 1
    return counts


def sentence_score(prediction: str, reference: str) -> float:
    """Smoothed BLEU-4 of one prediction against one reference, in [0, 1] (CodeXGLUE bleu()[0] / 100)."""
    hyp = nist_normalize(split_puncts(prediction.strip().lower()))
    ref = nist_normalize(split_puncts(reference.strip().lower()))
    ref_counts = _ngram_counts(ref)
    correct = [0] * _ORDER
    for ngram, count in _ngram_counts(hyp).items():
        correct[len(ngram) - 1] += min(ref_counts.get(ngram, 0), count)
    guess = [max(len(hyp) - k + 1, 0) for k in range(1, _ORDER + 1)]

    log_bleu = 0.0
    for k in range(_ORDER):
        add = 1 if k > 0 else 0
        log_bleu += math.log(correct[k] + add + _TINY) - math.log(guess[k] + add + _TINY)
    log_bleu /= _ORDER
    brevity = min(0.0, 1.0 - (len(ref) + 1) / (len(hyp) + 1))
    return math.exp(log_bleu + brevity)


def score_pairs(predictions: list[str], references: list[str]) -> list[float]:
    """Per-sample CodeXGLUE smoothed BLEU-4, in [0, 1]."""
    return [sentence_score(p, r) for p, r in zip(predictions, references, strict=True)]


def meta() -> dict[str, str]:
    """How the values were computed, recorded with every result."""
    return {"library": "CodeXGLUE code-to-text evaluator bleu.py (reimplemented)",
            "corpus": "mean of per-sample values (as CodeXGLUE reports it, /100)"}


METRICS = (
    Metric(
        name="smooth_bleu",
        applies_to=frozenset({TEXT}),
        description="CodeXGLUE code-to-text smoothed BLEU-4 (add-one on n>1), mean over samples",
        score_fn=score_pairs,
        meta_fn=meta,
    ),
)
