"""Similarity metrics and pass@k: the metric registry, `compute()` and the metrics' metadata.

Registry (engine.registry.Registry): every module in METRIC_MODULES, and every plugin module named in
CODETUNE_PLUGINS, may expose `METRICS`, a tuple of `Metric` records (name, the outputs it applies to,
per-sample and corpus functions, options, scale as data). Adding a metric = one module + its path in
METRIC_MODULES. The registry reads the modules on first use, once.

    from engine.scoring.metrics import compute, get_metric, available_metrics, metric_infos, pass_at_k
    compute(["codebleu", "bleu"], predictions, references, lang="csharp")
    -> {"codebleu": {"per_sample": [...], "corpus": 0.61, "mean": 0.63, "meta": {...}}, "bleu": {...}}

Scales: every built-in value is in [0, 1] (sacrebleu's 0-100 divided by 100), higher is better, and
exists per sample. `mean` is the mean of the per-sample values (what the paper reports); `corpus` is
the library's pooled corpus value where one exists (BLEU, chrF, CodeBLEU), else the same mean.
Importing this package loads no library, parser or WordNet; they load on first use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.registry import Registry
from engine.scoring.metrics.base import (
    CODE,
    TEXT,
    Metric,
    MetricError,
    MetricOutput,
    MetricUnavailableError,
)
from engine.scoring.metrics.passk import mean_pass_at_k, pass_at_k
from engine.vocabulary import OUTPUT_KINDS, MetricInfo

__all__ = [
    "CODE",
    "METRIC_MODULES",
    "TEXT",
    "Metric",
    "MetricError",
    "MetricOutput",
    "MetricUnavailableError",
    "available_metrics",
    "compute",
    "default_metrics",
    "get_metric",
    "mean_pass_at_k",
    "metric_infos",
    "pass_at_k",
]

# The built-in metric modules, each exposing METRICS. A new metric = its module plus its path here.
METRIC_MODULES = (
    "engine.scoring.metrics.bleu",
    "engine.scoring.metrics.chrf",
    "engine.scoring.metrics.codebleu",
    "engine.scoring.metrics.exact_match",
    "engine.scoring.metrics.meteor",
    "engine.scoring.metrics.rouge",
    "engine.scoring.metrics.smooth_bleu",
)


def _checked(item: object) -> Metric:
    if not isinstance(item, Metric):
        raise TypeError(f"METRICS entries must be engine.scoring.metrics.Metric records, got {item!r}")
    return item


_REGISTRY: Registry[Metric] = Registry("metric", "METRICS", METRIC_MODULES, make=_checked)


def _sorted_metrics() -> dict[str, Metric]:
    return dict(sorted(_REGISTRY.items()))


def available_metrics(kind: str | None = None) -> list[str]:
    """Names of the registered metrics, sorted; with `kind` ("code"/"text"), those that apply to it."""
    if kind is not None and kind not in OUTPUT_KINDS:
        raise MetricError(f"unknown task kind {kind!r} (known: {', '.join(OUTPUT_KINDS)})")
    return [name for name, m in _sorted_metrics().items() if kind is None or kind in m.applies_to]


def default_metrics(kind: str) -> list[str]:
    """The metrics that apply to a task kind by default ("code" or "text")."""
    return available_metrics(kind)


def get_metric(name: str) -> Metric:
    """The metric registered under `name` (case-insensitive); MetricError lists the known ones."""
    if isinstance(name, str):
        for candidate in (name, name.strip().lower()):
            if candidate in _REGISTRY:
                return _REGISTRY.get(candidate)
    raise MetricError(f"unknown metric {name!r}; known metrics: {', '.join(available_metrics())}")


def metric_infos() -> dict[str, MetricInfo]:
    """What each registered metric's numbers mean (range, direction, per-sample, paired test), by name."""
    return {name: metric.info for name, metric in _sorted_metrics().items()}


def compute(names: Sequence[str], predictions: Sequence[str], references: Sequence[str],
            lang: str | None = None,
            options: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """Score predictions against references with each named metric.

    lang: the code language, passed to the metrics that take one (CodeBLEU); others ignore it.
    options: per-metric keyword options, e.g. {"rouge_l": {"use_stemmer": False}}.
    Returns {name: {"per_sample": [...], "corpus": float, "mean": float, "meta": {...}}}.
    All names are checked before any scoring starts.
    """
    if isinstance(names, str):
        names = [names]
    metrics = [get_metric(name) for name in names]
    options = dict(options or {})
    for key in options:
        get_metric(key)
    results: dict[str, dict[str, Any]] = {}
    for metric in metrics:
        opts = dict(options.get(metric.name, {}))
        if lang is not None and "lang" in metric.options:
            opts.setdefault("lang", lang)
        results[metric.name] = metric.evaluate(predictions, references, **opts).to_dict()
    return results
