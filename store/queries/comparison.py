"""Queries that compare runs: run-level metrics, the comparison table and its pivot, paired per-sample
outcomes and scores (the inputs of the paired tests), outcome and generation summaries, tasks present."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from store import db
from store.queries.sql import RUN_INFO, fetch, fetch_numbered, id_list, key_filter, optional_eq, optional_in


def run_metrics(source: db.Source, run_ids: Sequence[str] | None = None, tasks: Sequence[str] | None = None,
                metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Run-level aggregates (metrics.json) in long form, with what each run is.

    Columns: run_id, label, model, model_size, model_params_b, method, is_multitask, task, metric, value.
    """
    params: list[Any] = []
    runs: dict[str, Sequence[str]] = {}
    where = "WHERE true" + key_filter("m.run_key", run_ids, runs)
    where += optional_in("m.task", list(tasks) if tasks is not None else None, params)
    where += optional_in("m.metric", list(metrics) if metrics is not None else None, params)
    sql = f"""
        SELECT m.run_id, {RUN_INFO}, m.task, m.metric, m.value
        FROM metrics m LEFT JOIN runs r USING (run_id)
        {where}
        ORDER BY r.model_params_b NULLS LAST, r.label, m.run_id, m.task, m.metric
    """
    return fetch(source, sql, params, runs)


def metric_names(source: db.Source, run_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Which metrics exist per task. Columns: task, metric, n_runs."""
    runs: dict[str, Sequence[str]] = {}
    where = "WHERE true" + key_filter("run_key", run_ids, runs)
    sql = f"""SELECT task, metric, count(DISTINCT run_id) AS n_runs FROM metrics {where}
              GROUP BY task, metric ORDER BY task, metric"""
    return fetch(source, sql, (), runs)


def compare_table(source: db.Source, run_ids: Sequence[str], tasks: Sequence[str] | None = None,
                  metrics: Sequence[str] | None = None, baseline: str | None = None) -> pd.DataFrame:
    """Each run's value of each (task, metric) next to a baseline run's, with the difference.

    `baseline` defaults to the first of `run_ids`. Rows: task, metric, then runs in the order given.
    Columns: task, metric, run_id, position, label, model, model_size, model_params_b, method,
    is_multitask, value, baseline_run_id, baseline_value, delta (value − baseline), rel_delta
    (delta / |baseline|, NULL when the baseline is 0 or missing). Pivot with `compare_pivot`.
    """
    ids = id_list(run_ids)
    base = baseline if baseline is not None else (ids[0] if ids else None)
    params: list[Any] = []
    where = "m.run_key IN (@ids@)"
    where += optional_in("m.task", list(tasks) if tasks is not None else None, params)
    where += optional_in("m.metric", list(metrics) if metrics is not None else None, params)
    sql = f"""
        WITH m AS (SELECT * FROM metrics m WHERE {where}),
        b AS (SELECT task, metric, value FROM metrics WHERE run_key IN (@base@))
        SELECT m.task, m.metric, m.run_id, list_position($ids, m.run_id) AS position, {RUN_INFO},
               m.value, $base AS baseline_run_id, b.value AS baseline_value,
               m.value - b.value AS delta,
               CASE WHEN b.value IS NULL OR b.value = 0 THEN NULL ELSE (m.value - b.value) / abs(b.value) END
                   AS rel_delta
        FROM m LEFT JOIN b USING (task, metric) LEFT JOIN runs r ON r.run_id = m.run_id
        ORDER BY m.task, m.metric, position
    """
    return fetch_numbered(source, sql, params, {"ids": ids, "base": base},
                     runs={"ids": ids, "base": [base] if base else []})


def compare_pivot(frame: pd.DataFrame, value: str = "value", columns: str = "run_id") -> pd.DataFrame:
    """compare_table's long rows as a (task, metric) × run matrix of `value` (or delta, ...)."""
    if frame.empty:
        return pd.DataFrame()
    order = frame.drop_duplicates(columns).sort_values("position")[columns].tolist()
    wide = frame.pivot_table(index=["task", "metric"], columns=columns, values=value, aggfunc="first")
    return wide.reindex(columns=order)


def paired_pass(source: db.Source, run_a: str, run_b: str, task: str) -> pd.DataFrame:
    """Per-sample pass/fail of two runs on the samples both executed (McNemar's input).

    Columns: task, sample_id, sample_index, status_a, status_b, passed_a, passed_b.
    """
    sql = """
        SELECT a.task, a.sample_id, a.sample_index, a.status AS status_a, b.status AS status_b,
               a.status = 'passed' AS passed_a, b.status = 'passed' AS passed_b
        FROM (SELECT * FROM outcomes WHERE run_key IN (@a@) AND task = ?) a
        JOIN (SELECT * FROM outcomes WHERE run_key IN (@b@) AND task = ?) b
             USING (task, sample_id, sample_index)
        ORDER BY a.sample_id, a.sample_index
    """
    return fetch(source, sql, [task, task], runs={"a": [run_a], "b": [run_b]})


def pass_contingency(source: db.Source, run_a: str, run_b: str, task: str) -> pd.DataFrame:
    """paired_pass counted: one row with n, both, only_a, only_b, neither."""
    sql = """
        SELECT count(*) AS n,
               count(*) FILTER (WHERE a.status = 'passed' AND b.status = 'passed') AS both,
               count(*) FILTER (WHERE a.status = 'passed' AND b.status <> 'passed') AS only_a,
               count(*) FILTER (WHERE a.status <> 'passed' AND b.status = 'passed') AS only_b,
               count(*) FILTER (WHERE a.status <> 'passed' AND b.status <> 'passed') AS neither
        FROM (SELECT * FROM outcomes WHERE run_key IN (@a@) AND task = ?) a
        JOIN (SELECT * FROM outcomes WHERE run_key IN (@b@) AND task = ?) b
             USING (task, sample_id, sample_index)
    """
    return fetch(source, sql, [task, task], runs={"a": [run_a], "b": [run_b]})


def paired_scores(source: db.Source, run_a: str, run_b: str, task: str, metric: str) -> pd.DataFrame:
    """Per-sample values of one metric under two runs (Wilcoxon / Cliff's delta input).

    Columns: task, sample_id, sample_index, value_a, value_b, diff (value_b − value_a).
    """
    sql = """
        SELECT a.task, a.sample_id, a.sample_index, a.value AS value_a, b.value AS value_b,
               b.value - a.value AS diff
        FROM (SELECT * FROM scores WHERE run_key IN (@a@) AND task = ? AND metric = ?) a
        JOIN (SELECT * FROM scores WHERE run_key IN (@b@) AND task = ? AND metric = ?) b
             USING (task, sample_id, sample_index)
        ORDER BY a.sample_id, a.sample_index
    """
    return fetch(source, sql, [task, metric, task, metric], runs={"a": [run_a], "b": [run_b]})


def sample_scores(source: db.Source, run_ids: Sequence[str], task: str, metric: str) -> pd.DataFrame:
    """Per-sample values of one metric for several runs (distributions).

    Columns: run_id, label, model_size, method, task, sample_id, sample_index, metric, value.
    """
    ids = id_list(run_ids)
    sql = """
        SELECT s.run_id, r.label, r.model_size, r.method, s.task, s.sample_id, s.sample_index, s.metric,
               s.value
        FROM scores s LEFT JOIN runs r USING (run_id)
        WHERE s.run_key IN (@ids@) AND s.task = ? AND s.metric = ?
        ORDER BY s.run_id, s.sample_id, s.sample_index
    """
    return fetch(source, sql, [task, metric], runs={"ids": ids})


def outcome_summary(source: db.Source, run_ids: Sequence[str], task: str | None = None) -> pd.DataFrame:
    """How a run's samples ended, per task and status (from the ingest's summaries).

    Columns: run_id, label, model_size, task, status, n, share (of the run's samples of that task).
    """
    ids = id_list(run_ids)
    params: list[Any] = []
    where = "run_key IN (@ids@)" + optional_eq("task", task, params)
    sql = f"""
        SELECT o.run_id, r.label, r.model_size, o.task, o.status, o.n,
               o.n / sum(o.n) OVER (PARTITION BY o.run_id, o.task) AS share
        FROM (SELECT * FROM outcome_counts WHERE {where}) o
        LEFT JOIN runs r USING (run_id)
        ORDER BY o.run_id, o.task, o.n DESC, o.status
    """
    return fetch(source, sql, params, runs={"ids": ids})


def tasks_present(source: db.Source, run_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Tasks that have generated samples (from the ingest's per-run counts: no sample-table scan).

    Columns: task, n_runs, n_samples (the most samples any run has for the task), n_generations,
    n_outcomes, n_scored (samples with at least one score).
    """
    runs: dict[str, Sequence[str]] = {}
    where = "WHERE true" + key_filter("run_key", run_ids, runs)
    sql = f"""
        SELECT task,
               count(DISTINCT run_key) FILTER (WHERE artifact = 'generations') AS n_runs,
               coalesce(max(n_samples) FILTER (WHERE artifact = 'generations'), 0) AS n_samples,
               coalesce(sum(n_rows) FILTER (WHERE artifact = 'generations'), 0) AS n_generations,
               coalesce(sum(n_rows) FILTER (WHERE artifact = 'outcomes'), 0) AS n_outcomes,
               coalesce(sum(n_samples) FILTER (WHERE artifact = 'scores'), 0) AS n_scored
        FROM task_counts {where}
        GROUP BY task HAVING n_runs > 0
        ORDER BY task
    """
    return fetch(source, sql, (), runs)


def generation_stats(source: db.Source, run_ids: Sequence[str], task: str | None = None) -> pd.DataFrame:
    """Generation cost and shape per run and task (from the ingest's summaries).

    Columns: run_id, label, model_size, task, n, mean_prompt_tokens, mean_completion_tokens,
    p95_completion_tokens, truncated_rate (finish_reason 'length'), empty_rate (empty prediction),
    generation_s (sum of per-sample shares of batch time), tokens_per_s.
    """
    ids = id_list(run_ids)
    params: list[Any] = []
    where = "run_key IN (@ids@)" + optional_eq("task", task, params)
    sql = f"""
        SELECT g.run_id, r.label, r.model_size, g.task, g.n, g.mean_prompt_tokens, g.mean_completion_tokens,
               g.p95_completion_tokens, g.truncated_rate, g.empty_rate, g.generation_s,
               CASE WHEN g.generation_s > 0 THEN g.completion_tokens / g.generation_s END AS tokens_per_s
        FROM (SELECT * FROM gen_summary WHERE {where}) g LEFT JOIN runs r USING (run_id)
        ORDER BY g.run_id, g.task
    """
    return fetch(source, sql, params, runs={"ids": ids})
