"""Queries for n and intervals: per-sample score summaries (n, mean, sd) and per-sample quality
measure means, per run and task, aggregated in SQL so that a table of many runs, tasks and metrics
reads one small frame instead of every sample (the Compare page's values table and verdict panel,
ui.verdict_data)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from store import db
from store.queries.sql import fetch, id_list, optional_in


def score_summary(source: db.Source, run_ids: Sequence[str], tasks: Sequence[str] | None = None,
                  metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """n, mean and sample sd (n − 1; NULL for n = 1) of each per-sample metric per run and task.

    Only per-sample rows (sample_index >= 0) with a value count. Columns: run_id, task, metric, n,
    mean, sd.
    """
    params: list[Any] = []
    where = "run_key IN (@ids@) AND sample_index >= 0 AND value IS NOT NULL"
    where += optional_in("task", list(tasks) if tasks is not None else None, params)
    where += optional_in("metric", list(metrics) if metrics is not None else None, params)
    sql = f"""
        SELECT any_value(run_id) AS run_id, task, metric, count(*) AS n, avg(value) AS mean,
               stddev_samp(value) AS sd
        FROM scores WHERE {where}
        GROUP BY run_key, task, metric
        ORDER BY run_id, task, metric
    """
    return fetch(source, sql, params, runs={"ids": id_list(run_ids)})


def measure_means(source: db.Source, run_ids: Sequence[str], measures: Sequence[str],
                  tasks: Sequence[str] | None = None) -> pd.DataFrame:
    """The mean of each quality measure (e.g. lizard's `ccn`) per run, task and tool over the samples
    the tool analysed. Columns: run_id, task, tool, measure, n, mean."""
    params: list[Any] = []
    where = "run_key IN (@ids@) AND value IS NOT NULL"
    where += optional_in("measure", list(measures), params)
    where += optional_in("task", list(tasks) if tasks is not None else None, params)
    sql = f"""
        SELECT any_value(run_id) AS run_id, task, tool, measure, count(*) AS n, avg(value) AS mean
        FROM quality WHERE {where}
        GROUP BY run_key, task, tool, measure
        ORDER BY run_id, task, tool, measure
    """
    return fetch(source, sql, params, runs={"ids": id_list(run_ids)})


def per_sample_values(source: db.Source, run_ids: Sequence[str], task: str, metric: str) -> pd.DataFrame:
    """Every run's per-sample values of one task's metric, to pair runs sample by sample in one read:
    pass@1 as 1.0 / 0.0 from the execution outcomes (status 'passed'), any other metric from the
    per-sample scores (sample_index >= 0, with a value). Columns: run_id, sample_id, sample_index, value."""
    if metric == "pass@1":
        sql = """
            SELECT run_id, sample_id, sample_index, CAST(status = 'passed' AS DOUBLE) AS value
            FROM outcomes WHERE run_key IN (@ids@) AND task = ?
            ORDER BY run_id, sample_id, sample_index
        """
        return fetch(source, sql, [task], runs={"ids": id_list(run_ids)})
    sql = """
        SELECT run_id, sample_id, sample_index, value
        FROM scores WHERE run_key IN (@ids@) AND task = ? AND metric = ? AND sample_index >= 0
                          AND value IS NOT NULL
        ORDER BY run_id, sample_id, sample_index
    """
    return fetch(source, sql, [task, metric], runs={"ids": id_list(run_ids)})
