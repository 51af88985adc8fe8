"""Queries about runs and studies: the runs overview, one run's row and events, studies and their runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from store import db
from store.queries.sql import as_lists, fetch, id_list, optional_in


def runs_overview(source: db.Source, run_ids: Sequence[str] | None = None,
                  states: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per run, oldest first.

    Columns: run_id, name, label, model, model_short, model_size, model_params_b, method,
    is_multitask, tasks (list), families (list), n_tasks, state, phase, progress_phase,
    progress_done, progress_total, phases_done (list), attempts, error_phase, error_type,
    error_message, submitted_at, started_at, finished_at, updated_at, duration_s, spec_hash,
    spec_valid, n_generations, n_outcomes, n_findings, problems (files skipped, with why),
    study_ids (list), is_reference (a reference run, store.reference: no run directory; listed
    first, so "the most recent runs" are always your own).
    """
    params: list[Any] = []
    where = "WHERE true" + optional_in("r.run_id", id_list(run_ids) if run_ids is not None else None, params)
    where += optional_in("r.state", list(states) if states is not None else None, params)
    sql = f"""
        WITH files AS (
            SELECT owner AS run_id,
                   sum(rows) FILTER (WHERE artifact = 'generations.parquet') AS n_generations,
                   sum(rows) FILTER (WHERE artifact = 'outcomes.parquet') AS n_outcomes,
                   sum(rows) FILTER (WHERE artifact = 'findings.parquet') AS n_findings,
                   string_agg(artifact || ': ' || error, '; ') FILTER (WHERE error IS NOT NULL) AS problems
            FROM ingested_files GROUP BY owner
        ), member AS (
            SELECT run_id, list(DISTINCT study_id ORDER BY study_id) AS study_ids
            FROM study_runs GROUP BY run_id
        )
        SELECT r.run_id, r.name, r.label, r.model, r.model_short, r.model_size, r.model_params_b, r.method,
               r.is_multitask, r.tasks, r.families, r.n_tasks, r.state, r.phase, r.progress_phase,
               r.progress_done, r.progress_total, r.phases_done, r.attempts, r.error_phase, r.error_type,
               r.error_message, r.submitted_at, r.started_at, r.finished_at, r.updated_at,
               r.finished_at - r.started_at AS duration_s, r.spec_hash, r.spec_valid,
               coalesce(f.n_generations, 0) AS n_generations, coalesce(f.n_outcomes, 0) AS n_outcomes,
               coalesce(f.n_findings, 0) AS n_findings, f.problems, m.study_ids,
               coalesce(r.is_reference, false) AS is_reference
        FROM runs r LEFT JOIN files f USING (run_id) LEFT JOIN member m USING (run_id)
        {where}
        ORDER BY coalesce(r.is_reference, false) DESC, CASE WHEN r.is_reference THEN r.model_params_b END,
                 r.submitted_at NULLS LAST, r.run_id
    """
    return as_lists(fetch(source, sql, params), "tasks", "families", "phases_done", "study_ids")


def run_detail(source: db.Source, run_id: str) -> pd.DataFrame:
    """The run's row with every stored column, including spec_json and status_json (0 or 1 rows)."""
    return as_lists(fetch(source, "SELECT * FROM runs WHERE run_id = ?", [run_id]),
                  "tasks", "families", "phases_done")


def studies(source: db.Source) -> pd.DataFrame:
    """One row per study, newest first.

    Columns: study_id, name, description, submitted_at, n_runs, n_ingested (runs found in the
    index), n_done, n_running, n_queued, n_failed, n_cancelled, models (list), configs (list).
    """
    sql = """
        SELECT s.study_id, s.name, s.description, s.submitted_at,
               count(m.run_id) AS n_runs, count(r.run_id) AS n_ingested,
               count(*) FILTER (WHERE r.state = 'done') AS n_done,
               count(*) FILTER (WHERE r.state = 'running') AS n_running,
               count(*) FILTER (WHERE r.state = 'queued') AS n_queued,
               count(*) FILTER (WHERE r.state = 'failed') AS n_failed,
               count(*) FILTER (WHERE r.state = 'cancelled') AS n_cancelled,
               list(DISTINCT m.model ORDER BY m.model) FILTER (WHERE m.model IS NOT NULL) AS models,
               list(DISTINCT m.config ORDER BY m.config) FILTER (WHERE m.config IS NOT NULL) AS configs
        FROM studies s
        LEFT JOIN study_runs m USING (study_id)
        LEFT JOIN runs r ON r.run_id = m.run_id
        GROUP BY ALL
        ORDER BY s.submitted_at DESC NULLS LAST, s.study_id
    """
    return as_lists(fetch(source, sql), "models", "configs")


def study_runs(source: db.Source, study_id: str) -> pd.DataFrame:
    """The runs of one study in the study's order, with what the index knows of each.

    Columns: study_id, position, run_id, config, model, label, model_size, model_params_b, method,
    is_multitask, tasks (list), state, phase, progress_done, progress_total, finished_at.
    A run not ingested yet has NULL run fields.
    """
    sql = """
        SELECT m.study_id, m.position, m.run_id, m.config, m.model, r.label, r.model_size, r.model_params_b,
               r.method, r.is_multitask, r.tasks, r.state, r.phase, r.progress_done, r.progress_total,
               r.finished_at
        FROM study_runs m LEFT JOIN runs r ON r.run_id = m.run_id
        WHERE m.study_id = ?
        ORDER BY m.position
    """
    return as_lists(fetch(source, sql, [study_id]), "tasks")


def run_events(source: db.Source, run_id: str, types: Sequence[str] | None = None,
               since_seq: int = 0, limit: int | None = None) -> pd.DataFrame:
    """A run's events in order (for loss curves, throughput, logs).

    Columns: run_id, seq, t, type, step, phase, loss, lr, grad_norm, tokens_per_s, peak_mem_mb, epoch,
    done, total, status, message, record (the whole JSON line). Numeric fields a record lacks are NULL.
    `since_seq` returns only events after that line (live tails); `limit` keeps the last ones.
    """
    params: list[Any] = [since_seq]
    wanted = list(types) if types is not None else None
    where = "run_key IN (@run@) AND seq > ?" + optional_in("type", wanted, params)
    num = ", ".join(
        f"TRY_CAST(json_extract_string(record, '$.{k}') AS DOUBLE) AS {k}"
        for k in ("loss", "lr", "grad_norm", "tokens_per_s", "peak_mem_mb", "epoch", "done", "total")
    )
    inner = f"SELECT * FROM events WHERE {where} ORDER BY seq DESC"
    if limit:
        inner += f" LIMIT {int(limit)}"
    sql = f"""
        SELECT run_id, seq, t, type, step, phase, {num},
               json_extract_string(record, '$.status') AS status,
               json_extract_string(record, '$.message') AS message, record
        FROM ({inner}) ORDER BY seq
    """
    return fetch(source, sql, params, runs={"run": [run_id]})
