"""Queries about the reference runs (store.reference): which there are, the files they came from,
their per-sample values in each file's row order (the reference study's own tests pair files by
row), those tests as the ingest recomputed them, their values for the overlays with the n each
rests on, and paired values of any two runs for a quality measure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from store import db
from store.queries.sql import as_lists, fetch, optional_in

PASS_CONVENTION = ("divided by the paper's n (Python 190, Java 184; a missing row counts as a failure), as "
                   "its published table; mean_rows divides by the rows present")


def reference_runs(source: db.Source) -> pd.DataFrame:
    """The reference runs, smallest model first.

    Columns: run_id, name, label, config (label without 'paper '), model, model_size,
    model_params_b, method, is_multitask, tasks (list), families (list), reference_source,
    n_files, n_values, ingested_at (when the ingest loaded them: changes whenever they change).
    """
    sql = """
        WITH v AS (SELECT run_id, count(DISTINCT file) AS n_files, count(*) AS n_values
                   FROM reference_values GROUP BY run_id)
        SELECT r.run_id, r.name, r.label, regexp_replace(r.label, '^paper ', '') AS config, r.model,
               r.model_size, r.model_params_b, r.method, r.is_multitask, r.tasks, r.families,
               r.reference_source, coalesce(v.n_files, 0) AS n_files, coalesce(v.n_values, 0) AS n_values,
               r.ingested_at
        FROM runs r LEFT JOIN v USING (run_id)
        WHERE r.is_reference
        ORDER BY r.model_params_b, r.label, r.run_id
    """
    return as_lists(fetch(source, sql), "tasks", "families")


def reference_files(source: db.Source, problems_only: bool = False) -> pd.DataFrame:
    """The files of paper_results/ as the last ingest read them.

    Columns: file, folder, run_id, task, rows, note, error (NULL: ingested; 'missing': a
    configuration the folder lacks), ingested_at.
    """
    where = "WHERE error IS NOT NULL" if problems_only else ""
    sql = f"""SELECT file, folder, run_id, task, rows, note, error, ingested_at FROM reference_files {where}
              ORDER BY error IS NULL, file"""
    return fetch(source, sql)


def reference_series(source: db.Source, tasks: Sequence[str] | None = None,
                     metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Every reference file's values, one row per (run, task, metric, file), in the file's row order.

    `metrics` filters on the metric name: a metric ('codebleu', 'pass@1') or 'tool:measure' for
    quality values ('paper-lizard:token_count'). Columns: run_id, name, size, params_b, config,
    task, tool, measure, metric, file, pass_fail, n, note, sample_ids (list; one list per file,
    shared by its metrics' rows), values (list).
    """
    params: list[Any] = []
    where = "WHERE true" + optional_in("v.task", list(tasks) if tasks is not None else None, params)
    metric = "coalesce(v.tool || ':' || v.measure, v.measure)"
    where += optional_in(metric, list(metrics) if metrics is not None else None, params)
    sql = f"""
        SELECT v.run_id, any_value(r.name) AS name, any_value(r.model_size) AS size,
               any_value(r.model_params_b) AS params_b,
               any_value(regexp_replace(r.label, '^paper ', '')) AS config, v.task, v.tool, v.measure,
               {metric} AS metric, v.file, v.measure = 'pass@1' AND v.tool IS NULL AS pass_fail,
               count(*) AS n, any_value(f.note) AS note, list(v.value ORDER BY v.row) AS "values"
        FROM reference_values v JOIN runs r USING (run_id) LEFT JOIN reference_files f USING (file)
        {where}
        GROUP BY v.run_id, v.task, v.tool, v.measure, v.file
        ORDER BY params_b, config, v.task, metric, v.run_id
    """
    # A file's sample ids once per file, not once per measure: the strings are most of the cost.
    ids_sql = f"""
        WITH one AS (SELECT run_id, file, min(measure) AS measure FROM reference_values v {where}
                     GROUP BY run_id, file)
        SELECT v.run_id, v.file, list(v.sample_id ORDER BY v.row) AS sample_ids
        FROM reference_values v JOIN one USING (run_id, file, measure)
        GROUP BY v.run_id, v.file
    """
    with db.connect(source, read_only=True) as conn:
        frame = as_lists(fetch(conn, sql, params), "values")
        ids = {(r, f): list(s) for r, f, s in fetch(conn, ids_sql, params).itertuples(index=False)}
    frame["sample_ids"] = [ids.get((r, f), []) for r, f in zip(frame["run_id"], frame["file"], strict=True)]
    return frame


def reference_tests(source: db.Source, pairing: str = "rows") -> pd.DataFrame:
    """The reference study's RQ1-RQ3 as the ingest recomputed them (store.reference), p-values raw.

    `pairing`: "rows" (the package: by row, truncated to the shorter file) or "ids". Columns: rq,
    question, size, task, metric, config_a, config_b, run_a, run_b, n_a, n_b, n, ids_agree, mean_a,
    mean_b, diff, test, statistic, p_value (NaN: NA), effect, effect_label, note.
    """
    sql = """SELECT * EXCLUDE (pairing) FROM reference_tests WHERE pairing = ?
             ORDER BY rq, size, task, metric, config_b"""
    return fetch(source, sql, [pairing])


def reference_overlay(source: db.Source, metrics: Sequence[str] | None = None,
                      tasks: Sequence[str] | None = None) -> pd.DataFrame:
    """The reference runs' value of every metric, with the n it rests on (overlays).

    `metrics` uses the run-level names of `metrics` ('pass@1', 'codebleu',
    'quality:paper-lizard:ccn'). Columns: size, params_b, config, run_id, task, metric, value
    (pass@1: divided by the paper's n), n (rows present), mean_rows (mean over the rows present),
    convention.
    """
    params: list[Any] = [PASS_CONVENTION]
    where = "WHERE r.is_reference AND m.metric <> 'n'"
    where += optional_in("m.metric", list(metrics) if metrics is not None else None, params)
    where += optional_in("m.task", list(tasks) if tasks is not None else None, params)
    sql = f"""
        WITH v AS (SELECT run_id, task, CASE WHEN tool IS NULL THEN measure
                                             ELSE 'quality:' || tool || ':' || measure END AS metric,
                          count(*) AS n, avg(value) AS mean_rows
                   FROM reference_values GROUP BY ALL)
        SELECT r.model_size AS size, r.model_params_b AS params_b,
               regexp_replace(r.label, '^paper ', '') AS config, m.run_id, m.task, m.metric, m.value,
               v.n, v.mean_rows,
               CASE WHEN m.metric = 'pass@1' THEN ? ELSE 'mean over the rows present' END AS convention
        FROM metrics m JOIN runs r USING (run_id) LEFT JOIN v USING (run_id, task, metric)
        {where}
        ORDER BY m.task, m.metric, r.model_params_b, config
    """
    return fetch(source, sql, params)


def paired_measures(source: db.Source, run_a: str, run_b: str, task: str, measure: str,
                    tool_a: str | None = None, tool_b: str | None = None) -> pd.DataFrame:
    """Per-sample values of one quality measure under two runs, on the samples both have (e.g. our
    lizard's ccn against the paper's paper-lizard ccn). Columns: task, sample_id, sample_index,
    value_a, value_b, diff (value_b − value_a)."""
    params: list[Any] = [task, measure]
    where_a = "run_key IN (@a@) AND task = ? AND measure = ? AND value IS NOT NULL"
    if tool_a is not None:
        where_a += " AND tool = ?"
        params.append(tool_a)
    params += [task, measure]
    where_b = "run_key IN (@b@) AND task = ? AND measure = ? AND value IS NOT NULL"
    if tool_b is not None:
        where_b += " AND tool = ?"
        params.append(tool_b)
    sql = f"""
        SELECT a.task, a.sample_id, a.sample_index, a.value AS value_a, b.value AS value_b,
               b.value - a.value AS diff
        FROM (SELECT task, sample_id, sample_index, any_value(value) AS value FROM quality WHERE {where_a}
              GROUP BY ALL) a
        JOIN (SELECT task, sample_id, sample_index, any_value(value) AS value FROM quality WHERE {where_b}
              GROUP BY ALL) b USING (task, sample_id, sample_index)
        ORDER BY a.sample_id, a.sample_index
    """
    return fetch(source, sql, params, runs={"a": [run_a], "b": [run_b]})
