"""The cost of runs: one row per run with its parameters, saved weights, peak memory, training time,
tokens/s, GPU-hours and MFU (the cost view of Compare, the run detail of the Runs page).

Everything comes from the events the store already keeps (events.jsonl: the train phase's
`model_ready`, `train`, `train_begin` and `trained` records), so no table was added: SQL picks each
run's last `model_ready` and `trained` records, its highest peak memory and the median throughput
of its last training attempt (the first logged interval left out, as in
engine.scoring.cost.steady_tokens_per_s); engine.scoring.cost turns them into the cost figures.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from engine.scoring import cost
from store import db
from store.queries.sql import as_lists, fetch, id_list, key_filter, optional_in

COST_COLUMNS: tuple[str, ...] = (
    "trainable_params", "total_params", "trainable_fraction", "weights_bytes", "peak_mem_mb", "train_seconds",
    "tokens_seen", "tokens_per_s", "device", "device_name", "world_size", "gpu_hours", "peak_flops", "mfu",
)
_RUN_COLUMNS = ("run_id", "name", "label", "model", "model_size", "model_params_b", "method", "is_multitask",
                "tasks", "is_reference")


def run_costs(source: db.Source, run_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per run (all runs when run_ids is None), in the runs table's order of submission.

    Columns: run_id, name, label, model, model_size, model_params_b, method, is_multitask, tasks (list),
    is_reference, then trainable_params, total_params, trainable_fraction, weights_bytes (the saved
    adapter, or model for FFT), peak_mem_mb, train_seconds, tokens_seen, tokens_per_s (steady training
    throughput), device, device_name, world_size, gpu_hours (training; 0 for a run that does not
    train), peak_flops (one device's), mfu (None on a CPU or an unknown GPU). A figure the run did
    not record is NULL.
    """
    params: list[Any] = []
    runs: dict[str, Sequence[str]] = {}
    events_where = key_filter("run_key", run_ids, runs)
    where = "WHERE true" + optional_in("r.run_id", id_list(run_ids) if run_ids is not None else None, params)
    sql = f"""
        WITH ev AS (
            SELECT run_id, seq, type, record FROM events
            WHERE type IN ('model_ready', 'train_begin', 'train', 'trained') {events_where}
        ), marks AS (
            SELECT run_id,
                   coalesce(max(seq) FILTER (WHERE type = 'train_begin'), 0) AS began,
                   arg_max(record, seq) FILTER (WHERE type = 'model_ready') AS ready,
                   arg_max(record, seq) FILTER (WHERE type = 'trained') AS trained,
                   max(TRY_CAST(json_extract_string(record, '$.peak_mem_mb') AS DOUBLE)) AS peak_mem_mb
            FROM ev GROUP BY run_id
        ), rates AS (
            SELECT ev.run_id, TRY_CAST(json_extract_string(ev.record, '$.tokens_per_s') AS DOUBLE) AS rate,
                   row_number() OVER (PARTITION BY ev.run_id ORDER BY ev.seq) AS i,
                   count(*) OVER (PARTITION BY ev.run_id) AS n
            FROM ev JOIN marks m ON m.run_id = ev.run_id
            WHERE ev.type = 'train' AND ev.seq > m.began
              AND TRY_CAST(json_extract_string(ev.record, '$.tokens_per_s') AS DOUBLE) > 0
        ), steady AS (
            SELECT run_id, median(rate) FILTER (WHERE i > 1 OR n = 1) AS tokens_per_s FROM rates GROUP BY run_id
        )
        SELECT r.run_id, r.name, r.label, r.model, r.model_size, r.model_params_b, r.method, r.is_multitask,
               r.tasks, coalesce(r.is_reference, false) AS is_reference,
               m.ready, m.trained, m.peak_mem_mb, s.tokens_per_s
        FROM runs r LEFT JOIN marks m USING (run_id) LEFT JOIN steady s USING (run_id)
        {where}
        ORDER BY r.submitted_at NULLS LAST, r.run_id
    """
    raw = as_lists(fetch(source, sql, params, runs), "tasks")
    rows = []
    for row in raw.to_dict("records"):
        records = [_record(row["ready"]), _record(row["trained"])]
        facts = cost.training_facts(r for r in records if r)
        facts["tokens_per_s"] = _value(row["tokens_per_s"])
        facts["peak_mem_mb"] = _value(row["peak_mem_mb"])
        figures = cost.cost_from_facts(row["method"], facts).to_dict()
        rows.append({**{c: row[c] for c in _RUN_COLUMNS}, **{c: figures[c] for c in COST_COLUMNS}})
    return pd.DataFrame(rows, columns=[*_RUN_COLUMNS, *COST_COLUMNS])


def mark_frontier(frame: pd.DataFrame, cost_column: str, value_column: str = "value", by: str = "task",
                  higher_is_better: Mapping[str, bool | None] | None = None) -> pd.DataFrame:
    """`frame` with `on_frontier` added: within each `by` group, whether the row is on the Pareto frontier
    of `value_column` (maximised, or minimised where higher_is_better[group] is False) against
    `cost_column` (minimised), by engine.scoring.cost.pareto_frontier. A DataFrame helper like
    compare_pivot: the pages reach the engine's frontier through it."""
    out = frame.copy()
    out["on_frontier"] = False
    for group, part in out.groupby(by, sort=False):
        direction = (higher_is_better or {}).get(str(group), True)
        mask = cost.pareto_frontier(part[cost_column].tolist(), part[value_column].tolist(), direction)
        out.loc[part.index, "on_frontier"] = mask
    return out


def _record(text: Any) -> dict[str, Any] | None:
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _value(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)
