"""Similarity metrics and pass@k: the metric registry and `compute()`.

Registry: every metric module exposes `METRICS`, a tuple of `Metric` records (name, task kinds,
per-sample and corpus functions, options). Adding a metric = one module + one import line below.

    from engine.scoring.metrics import compute, get_metric, available_metrics, pass_at_k
    compute(["codebleu", "bleu"], predictions, references, lang="csharp")
    -> {"codebleu": {"per_sample": [...], "corpus": 0.61, "mean": 0.63, "meta": {...}}, "bleu": {...}}

Scales: every value is in [0, 1] (sacrebleu's 0-100 divided by 100). `mean` is the mean of the
per-sample values (what the paper reports); `corpus` is the library's pooled corpus value where
one exists (BLEU, chrF, CodeBLEU), else the same mean. Importing this package loads no library,
parser or WordNet; they load on first use.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from types import MappingProxyType, ModuleType
from typing import Any

# The registry: the metric modules imported here (each exposes METRICS). A new metric = its module
# plus its name on this line.
from engine.scoring.metrics import bleu, chrf, codebleu, exact_match, meteor, rouge, smooth_bleu  # noqa: F401
from engine.scoring.metrics.base import (
    CODE,
    TASK_KINDS,
    TEXT,
    Metric,
    MetricError,
    MetricOutput,
    MetricUnavailableError,
)
from engine.scoring.metrics.passk import mean_pass_at_k, pass_at_k

__all__ = [
    "CODE",
    "TASK_KINDS",
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
    "pass_at_k",
]

@functools.lru_cache(maxsize=1)
def _registry() -> Mapping[str, Metric]:
    found: dict[str, Metric] = {}
    modules = [m for m in globals().values() if isinstance(m, ModuleType) and hasattr(m, "METRICS")]
    for module in modules:
        for metric in module.METRICS:
            if metric.name in found:
                raise RuntimeError(f"metric name {metric.name!r} defined twice ({module.__name__})")
            found[metric.name] = metric
    return MappingProxyType(dict(sorted(found.items())))


def available_metrics(kind: str | None = None) -> list[str]:
    """Names of the registered metrics, sorted; with `kind` ("code"/"text"), those that apply to it."""
    if kind is not None and kind not in TASK_KINDS:
        raise MetricError(f"unknown task kind {kind!r} (known: {', '.join(TASK_KINDS)})")
    return [name for name, m in _registry().items() if kind is None or kind in m.kinds]


def default_metrics(kind: str) -> list[str]:
    """The metrics that apply to a task kind by default ("code" or "text")."""
    return available_metrics(kind)


def get_metric(name: str) -> Metric:
    """The metric registered under `name` (case-insensitive); MetricError lists the known ones."""
    metric = _registry().get(name.strip().lower()) if isinstance(name, str) else None
    if metric is None:
        raise MetricError(f"unknown metric {name!r}; known metrics: {', '.join(available_metrics())}")
    return metric


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
