"""Queries for the Quality page: static-analysis findings by tool and by rule, analyser outcomes, and
per-sample quality measures (alone, or next to whether the sample passed its tests)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from store import db
from store.queries.sql import fetch, id_list, key_filter, optional_eq, optional_in


def findings_by_tool(source: db.Source, run_ids: Sequence[str], task: str | None = None) -> pd.DataFrame:
    """Finding counts per run × task × tool × category, and per analysed sample (from summaries).

    n_samples is the samples the tool analysed successfully (quality status 'ok'), or, for a
    tool without quality rows, the run's generated samples of the task.
    Columns: run_id, label, model_size, method, task, tool, category, n_findings,
    n_samples_with_findings, n_samples, per_sample (n_findings / n_samples).
    """
    ids = id_list(run_ids)
    flt = "run_key IN (@ids@)"
    params: list[Any] = []
    if task is not None:
        flt += " AND task = ?"
        params = [task] * 3
    sql = f"""
        WITH f AS (SELECT * FROM finding_counts WHERE {flt}),
        d AS (SELECT run_key, task, tool, n_samples AS n_analysed FROM quality_counts
              WHERE {flt} AND status = 'ok'),
        g AS (SELECT run_key, task, n_samples AS n_generated FROM task_counts
              WHERE {flt} AND artifact = 'generations')
        SELECT f.run_id, r.label, r.model_size, r.method, f.task, f.tool, f.category, f.n_findings,
               f.n_samples AS n_samples_with_findings, coalesce(d.n_analysed, g.n_generated) AS n_samples,
               f.n_findings / nullif(coalesce(d.n_analysed, g.n_generated), 0) AS per_sample
        FROM f
        LEFT JOIN d USING (run_key, task, tool)
        LEFT JOIN g USING (run_key, task)
        LEFT JOIN runs r ON r.run_id = f.run_id
        ORDER BY f.run_id, f.task, f.tool, f.n_findings DESC, f.category
    """
    return fetch(source, sql, params, runs={"ids": ids})


def findings_by_rule(source: db.Source, run_ids: Sequence[str], task: str | None = None,
                     tool: str | None = None, limit: int = 30) -> pd.DataFrame:
    """The most frequent rules (from summaries).

    Columns: tool, rule_id, category, severity, n_findings, n_samples (samples with the rule,
    summed over runs), n_runs.
    """
    ids = id_list(run_ids)
    params: list[Any] = []
    where = "run_key IN (@ids@)" + optional_eq("task", task, params) + optional_eq("tool", tool, params)
    params.append(int(limit))
    sql = f"""
        SELECT tool, rule_id, any_value(category) AS category, any_value(severity) AS severity,
               sum(n_findings) AS n_findings, sum(n_samples) AS n_samples, count(DISTINCT run_key) AS n_runs
        FROM rule_counts WHERE {where}
        GROUP BY tool, rule_id ORDER BY n_findings DESC, tool, rule_id LIMIT ?
    """
    return fetch(source, sql, params, runs={"ids": ids})


def quality_measure_names(source: db.Source, run_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Measures available (from summaries). Columns: tool, measure, n_values, n_runs."""
    runs: dict[str, Sequence[str]] = {}
    where = key_filter("run_key", run_ids, runs)
    sql = f"""SELECT tool, measure, sum(n_values) AS n_values, count(DISTINCT run_key) AS n_runs
              FROM measure_counts WHERE true {where} GROUP BY tool, measure ORDER BY tool, measure"""
    return fetch(source, sql, (), runs)


def quality_status(source: db.Source, run_ids: Sequence[str], task: str | None = None) -> pd.DataFrame:
    """Analyser outcomes per run, task and tool: ok / failed / skipped samples (from summaries).

    Columns: run_id, task, tool, status, n_samples, example_detail.
    """
    ids = id_list(run_ids)
    params: list[Any] = []
    where = "run_key IN (@ids@)" + optional_eq("task", task, params)
    sql = f"""
        SELECT run_id, task, tool, status, n_samples, example_detail
        FROM quality_counts WHERE {where} ORDER BY run_id, task, tool, status
    """
    return fetch(source, sql, params, runs={"ids": ids})


def quality_measures(source: db.Source, run_ids: Sequence[str], measure: str, task: str | None = None,
                     tool: str | None = None) -> pd.DataFrame:
    """Per-sample values of one measure (complexity, pylint score, ...) for distributions.

    Columns: run_id, label, model_size, method, task, sample_id, sample_index, tool, measure, value.
    """
    ids = id_list(run_ids)
    params: list[Any] = [measure]
    where = "q.run_key IN (@ids@) AND q.measure = ? AND q.value IS NOT NULL"
    where += optional_eq("q.task", task, params) + optional_eq("q.tool", tool, params)
    sql = f"""
        SELECT q.run_id, r.label, r.model_size, r.method, q.task, q.sample_id, q.sample_index, q.tool,
               q.measure, q.value
        FROM quality q LEFT JOIN runs r USING (run_id)
        WHERE {where}
        ORDER BY q.run_id, q.task, q.sample_id, q.sample_index, q.tool
    """
    return fetch(source, sql, params, runs={"ids": ids})


def quality_vs_correctness(source: db.Source, run_ids: Sequence[str], task: str,
                           measures: Sequence[str] | None = None) -> pd.DataFrame:
    """Per-sample quality measures next to whether the sample passed its tests.

    Columns: run_id, label, model_size, sample_id, sample_index, tool, measure, value, status, passed
    (NULL status / passed: the sample was not executed).
    """
    ids = id_list(run_ids)
    params: list[Any] = [task]
    where = "run_key IN (@ids@) AND task = ? AND measure IS NOT NULL"
    where += optional_in("measure", list(measures) if measures is not None else None, params)
    params += [task]
    sql = f"""
        SELECT q.run_id, r.label, r.model_size, q.sample_id, q.sample_index, q.tool, q.measure, q.value,
               o.status, o.status = 'passed' AS passed
        FROM (SELECT * FROM quality WHERE {where}) q
        LEFT JOIN (SELECT run_key, sample_id, sample_index, status FROM outcomes
                   WHERE run_key IN (@ids@) AND task = ?) o USING (run_key, sample_id, sample_index)
        LEFT JOIN runs r ON r.run_id = q.run_id
        ORDER BY q.run_id, q.measure, q.sample_id, q.sample_index, q.tool
    """
    return fetch(source, sql, params, runs={"ids": ids})
