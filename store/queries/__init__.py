"""Named, parameterised read queries over the store, each returning a pandas DataFrame.

Every query takes a `source` first (engine Settings, a database path, a store.db.Reader, or an open
connection from `store.db.connect` to run several queries on one connection) and opens a short
read-only connection when it is not given one: the app keeps no connection between page renders,
so the ingest can always write. Values are bound as parameters, never formatted into the SQL. Runs
are selected by their integer run_key (store.schema says why): a query's run ids are first looked
up in run_keys and the keys written into the SQL as integer literals (`run_key IN (3, 17)`), which
DuckDB checks against each row group's zonemap, skipping every run not asked for; an unknown run id
simply matches nothing.

`QUERIES` maps each query's name to its function and `run_query(source, name, **params)` calls one
by name (what the pages and their download buttons use). Lists stored in the database (tasks,
findings of a sample, ...) come back as Python lists.

A page that runs several queries per render should run them on one connection and close it before
drawing (`with store.db.connect(settings) as conn: a = queries.x(conn, ...); b = queries.y(conn, ...)`):
on the benchmark store (bench/bench_store.py) a query on its own connection costs 20-100 ms more
than on a shared one (DuckDB's open, and re-reading table metadata and blocks that a connection
caches). Breakdowns over many runs read the per-run summaries the ingest keeps (store.schema).

    runs.py        runs and studies: overview, one run, events, studies and their runs
    comparison.py  metrics, the comparison table, paired outcomes and scores, summaries
    cost.py        the cost of runs: parameters, memory, training time, tokens/s, GPU-hours, MFU
    intervals.py   n, mean and sd of per-sample scores and quality-measure means (values with intervals)
    samples.py     the Samples page: a filtered page of samples, one sample across runs
    quality.py     the Quality page: findings, analyser outcomes, quality measures
    reference.py   the reference runs (store.reference): runs, files, per-sample series, overlays
    sql.py         what they share: read-only execution, run-key binding, filters
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from store import db
from store.queries.comparison import (
    compare_pivot,
    compare_table,
    generation_stats,
    metric_names,
    outcome_summary,
    paired_pass,
    paired_scores,
    pass_contingency,
    run_metrics,
    sample_scores,
    tasks_present,
)
from store.queries.cost import run_costs
from store.queries.intervals import measure_means, per_sample_values, score_summary
from store.queries.quality import (
    findings_by_rule,
    findings_by_tool,
    quality_measure_names,
    quality_measures,
    quality_status,
    quality_vs_correctness,
)
from store.queries.reference import (
    paired_measures,
    reference_files,
    reference_overlay,
    reference_runs,
    reference_series,
    reference_tests,
)
from store.queries.runs import run_detail, run_events, runs_overview, studies, study_runs
from store.queries.samples import SAMPLE_FILTERS, sample_detail, sample_list

QUERIES: dict[str, Callable[..., pd.DataFrame]] = {
    f.__name__: f
    for f in (
        runs_overview, run_detail, studies, study_runs, run_events, run_metrics, metric_names, compare_table,
        paired_pass, pass_contingency, paired_scores, sample_scores, outcome_summary, tasks_present,
        generation_stats, sample_list, sample_detail, findings_by_tool, findings_by_rule,
        quality_measure_names, quality_status, quality_measures, quality_vs_correctness,
        reference_runs, reference_files, reference_series, reference_tests, reference_overlay, paired_measures,
        run_costs, score_summary, measure_means, per_sample_values,
    )
}


def run_query(source: db.Source, name: str, **params: Any) -> pd.DataFrame:
    """Call the named query with keyword parameters."""
    try:
        query = QUERIES[name]
    except KeyError:
        raise KeyError(f"unknown query {name!r}; known: {', '.join(sorted(QUERIES))}") from None
    return query(source, **params)


__all__ = [
    "QUERIES",
    "SAMPLE_FILTERS",
    "compare_pivot",
    "compare_table",
    "findings_by_rule",
    "findings_by_tool",
    "generation_stats",
    "metric_names",
    "outcome_summary",
    "paired_measures",
    "paired_pass",
    "paired_scores",
    "pass_contingency",
    "quality_measure_names",
    "quality_measures",
    "quality_status",
    "quality_vs_correctness",
    "reference_files",
    "reference_overlay",
    "reference_runs",
    "reference_series",
    "reference_tests",
    "run_costs",
    "run_detail",
    "run_events",
    "run_metrics",
    "run_query",
    "runs_overview",
    "sample_detail",
    "sample_list",
    "sample_scores",
    "studies",
    "study_runs",
    "tasks_present",
]
