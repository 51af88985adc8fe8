"""The metric contract: the `Metric` record every metric module exposes, its errors and input checks.

A metric module defines its scoring functions and a module-level `METRICS` tuple of `Metric` records;
its import path in `engine.scoring.metrics.METRIC_MODULES` (or in CODETUNE_PLUGINS) registers them.
Every metric scores one prediction against one reference, per sample and per corpus. A metric's
scale is data (`low`, `high`, `higher_is_better`, `per_sample`), and `Metric.info` gives the
vocabulary's `MetricInfo` for it, which the dashboard reads.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.vocabulary import OUTPUT_KINDS, WILCOXON, MetricInfo

CODE, TEXT = OUTPUT_KINDS  # what a task produces: "code", "text"


class MetricError(ValueError):
    """Bad input to a metric: unknown name, unknown option, mismatched lengths, wrong types."""


class MetricUnavailableError(RuntimeError):
    """A resource a metric needs is missing (WordNet for METEOR, a tree-sitter grammar for CodeBLEU)."""


@dataclass(frozen=True)
class MetricOutput:
    """Per-sample values, the corpus value and facts worth recording (library versions, settings)."""

    per_sample: list[float]
    corpus: float
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def mean(self) -> float:
        """Mean of the per-sample values (0.0 for no samples)."""
        return math.fsum(self.per_sample) / len(self.per_sample) if self.per_sample else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The JSON-friendly form `compute()` returns: per_sample, corpus, mean, meta."""
        return {"per_sample": list(self.per_sample), "corpus": self.corpus, "mean": self.mean,
                "meta": dict(self.meta)}


ScoreFn = Callable[..., list[float]]
CorpusFn = Callable[..., float]
EvaluateFn = Callable[..., MetricOutput]


@dataclass(frozen=True)
class Metric:
    """One similarity metric.

    name: registry key (lower case, e.g. "codebleu").
    applies_to: the task outputs it scores by default (vocabulary.OUTPUT_KINDS: "code", "text").
    description: one line saying what it measures.
    score_fn(predictions, references, **opts) -> per-sample values.
    corpus_fn(predictions, references, **opts) -> corpus value; None = the mean of per-sample values.
    evaluate_fn: optional one-pass computation of both (with metadata) for metrics where computing
        them separately would do the work twice (CodeBLEU).
    options: keyword options the functions accept (anything else is an error).
    low, high: the range of a value (None = unbounded on that side); every built-in metric is in [0, 1].
    higher_is_better: the direction of improvement.
    per_sample: whether a per-sample value exists (then a paired test compares two runs sample by sample).
    meta_fn(**opts) -> facts recorded with every result (library version, tokenizer, ...).
    """

    # One field per fact about a metric; grouping them would hide the data a newcomer edits.
    # pylint: disable=too-many-instance-attributes
    name: str
    applies_to: frozenset[str]
    description: str
    score_fn: ScoreFn
    corpus_fn: CorpusFn | None = None
    evaluate_fn: EvaluateFn | None = None
    options: tuple[str, ...] = ()
    low: float | None = 0.0
    high: float | None = 1.0
    higher_is_better: bool = True
    per_sample: bool = True
    meta_fn: Callable[..., dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        unknown = set(self.applies_to) - set(OUTPUT_KINDS)
        if not self.applies_to or unknown:
            raise ValueError(f"metric {self.name}: applies_to must be a non-empty subset of {OUTPUT_KINDS}")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"metric {self.name}: low ({self.low}) is above high ({self.high})")

    @property
    def info(self) -> MetricInfo:
        """What the metric's numbers mean, in the vocabulary's terms (range, direction, paired test)."""
        return MetricInfo(self.name, self.description, self.low, self.high, self.higher_is_better,
                          self.per_sample, paired_test=WILCOXON if self.per_sample else None, group="score")

    @property
    def scale(self) -> str:
        """The scale in words, derived from the data ('[0, 1], higher is better')."""
        return self.info.scale

    def check_options(self, opts: Mapping[str, Any]) -> None:
        """Raise MetricError naming the accepted options when `opts` has others."""
        unknown = sorted(set(opts) - set(self.options))
        if unknown:
            accepted = ", ".join(self.options) or "none"
            raise MetricError(f"metric '{self.name}' has no option(s) {', '.join(unknown)} "
                              f"(accepted: {accepted})")

    def score_pairs(self, predictions: Sequence[str], references: Sequence[str], **opts: Any) -> list[float]:
        """Per-sample values, in input order."""
        self.check_options(opts)
        check_pairs(predictions, references)
        return self.score_fn(list(predictions), list(references), **opts)

    def corpus(self, predictions: Sequence[str], references: Sequence[str], **opts: Any) -> float:
        """The corpus-level value (the library's own aggregate where one exists, else the mean)."""
        if self.corpus_fn is None:
            return self.evaluate(predictions, references, **opts).corpus
        self.check_options(opts)
        check_pairs(predictions, references)
        if not predictions:
            return 0.0
        return self.corpus_fn(list(predictions), list(references), **opts)

    def evaluate(self, predictions: Sequence[str], references: Sequence[str], **opts: Any) -> MetricOutput:
        """Per-sample values, corpus value and metadata in one call."""
        self.check_options(opts)
        check_pairs(predictions, references)
        preds, refs = list(predictions), list(references)
        if self.evaluate_fn is not None:
            return self.evaluate_fn(preds, refs, **opts)
        per_sample = self.score_fn(preds, refs, **opts) if preds else []
        if self.corpus_fn is None or not preds:
            corpus = math.fsum(per_sample) / len(per_sample) if per_sample else 0.0
        else:
            corpus = self.corpus_fn(preds, refs, **opts)
        meta = self.meta_fn(**opts) if self.meta_fn is not None else {}
        meta.setdefault("corpus", "mean of per-sample values" if self.corpus_fn is None else "library corpus")
        return MetricOutput(per_sample=per_sample, corpus=corpus, meta=meta)


def check_pairs(predictions: Sequence[str], references: Sequence[str]) -> None:
    """Equal lengths, strings only; raises MetricError saying what is wrong and where."""
    if isinstance(predictions, str) or isinstance(references, str):
        raise MetricError("predictions and references must be lists of strings, not a single string")
    if len(predictions) != len(references):
        raise MetricError(f"{len(predictions)} predictions but {len(references)} references: "
                          "they must pair up one to one")
    for what, values in (("prediction", predictions), ("reference", references)):
        for i, value in enumerate(values):
            if not isinstance(value, str):
                raise MetricError(f"{what} {i} is {type(value).__name__}, not str "
                                  "(use '' for a missing prediction)")


def is_blank(text: str) -> bool:
    """An empty or whitespace-only prediction (scored 0.0 by the text metrics, like the paper)."""
    return not text.strip()
