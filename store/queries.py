"""Named, parameterised read queries over the store, each returning a pandas DataFrame.

Every query takes a `source` first (engine Settings, a database path, or an open connection from
`store.db.connect` to run several queries on one connection) and opens a short read-only
connection when it is not given one: the app keeps no connection between page renders, so the
ingest can always write. Values are bound as parameters, never formatted into the SQL. Runs are
selected by their integer run_key (store.schema says why): a query's run ids are first looked up
in run_keys and the keys written into the SQL as integer literals (`run_key IN (3, 17)`), which
DuckDB checks against each row group's zonemap, skipping every run not asked for; an unknown run id
simply matches nothing.

`QUERIES` maps each query's name to its function and `run_query(source, name, **params)` calls one
by name (what export and the pages' download buttons use). Lists stored in the database (tasks,
findings of a sample, ...) come back as Python lists.

A page that runs several queries per render should run them on one connection and close it before
drawing (`with store.db.connect(settings) as conn: a = queries.x(conn, ...); b = queries.y(conn, ...)`):
on the benchmark store (bench/bench_store.py) a query on its own connection costs 20-100 ms more
than on a shared one (DuckDB's open, and re-reading table metadata and blocks that a connection
caches). Breakdowns over many runs read the per-run summaries the ingest keeps (store.schema).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from store import db

SAMPLE_FILTERS: dict[str, str] = {
    "all": "every sample",
    "a_pass_b_fail": "passes under A, fails under B",
    "a_fail_b_pass": "fails under A, passes under B",
    "all_pass": "passes under every run",
    "all_fail": "fails under every run",
    "disagree": "passes under some runs and fails under others",
    "any_error": "a timeout, error, compile error or violation under some run",
}

_RUN_INFO = "r.label, r.model, r.model_size, r.model_params_b, r.method, r.is_multitask"


def _frame(source: db.Source, sql: str, params: Sequence[Any] = (),
           runs: dict[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """Run `sql` on a read-only connection; `@name@` in it becomes the run keys of runs[name]."""
    with db.connect(source, read_only=True) as conn:
        if runs:
            sql = _bind_runs(conn, sql, runs)
        return conn.execute(sql, list(params)).df()


def _bind_runs(conn: Any, sql: str, runs: dict[str, Sequence[str]]) -> str:
    wanted = sorted({r for ids in runs.values() for r in ids})
    keys: dict[str, int] = {}
    if wanted:
        keys = dict(conn.execute(f"SELECT run_id, run_key FROM run_keys WHERE run_id IN ({_marks(wanted)})",
                                 wanted).fetchall())
    for name, ids in runs.items():
        found = [str(int(keys[r])) for r in ids if r in keys]  # integers only: safe as literals
        sql = sql.replace(f"@{name}@", ", ".join(found) or "NULL")
    return sql


def _key_filter(column: str, run_ids: Sequence[str] | None, runs: dict[str, Sequence[str]],
                name: str = "ids") -> str:
    """` AND column IN (@name@)` when run_ids are given (None = every run)."""
    if run_ids is None:
        return ""
    runs[name] = _ids(run_ids)
    return f" AND {column} IN (@{name}@)"


def _marks(values: Sequence[Any]) -> str:
    """Placeholders for an IN list; an empty list matches nothing (and keeps the columns)."""
    return ", ".join("?" for _ in values) if values else "NULL"


def _ids(values: str | Sequence[str] | None) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        return [values]
    return [str(v) for v in values]


def _lists(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """DuckDB LIST columns arrive as numpy arrays; the pages want plain lists."""
    for column in columns:
        if column in frame:
            frame[column] = [list(v) if v is not None and not _is_na(v) else [] for v in frame[column]]
    return frame


def _is_na(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _optional_in(column: str, values: Sequence[Any] | None, params: list[Any]) -> str:
    """` AND column IN (...)` when values are given (None = no filter)."""
    if values is None:
        return ""
    params.extend(values)
    return f" AND {column} IN ({_marks(values)})"


def _optional_eq(column: str, value: Any, params: list[Any]) -> str:
    if value is None:
        return ""
    params.append(value)
    return f" AND {column} = ?"


# --- runs and studies --------------------------------------------------------------------------------


def runs_overview(source: db.Source, run_ids: Sequence[str] | None = None,
                  states: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per run, oldest first.

    Columns: run_id, name, label, model, model_short, model_size, model_params_b, method,
    is_multitask, tasks (list), families (list), n_tasks, state, phase, progress_phase,
    progress_done, progress_total, phases_done (list), attempts, error_phase, error_type,
    error_message, submitted_at, started_at, finished_at, updated_at, duration_s, spec_hash,
    spec_valid, n_generations, n_outcomes, n_findings, problems (files skipped, with why),
    study_ids (list).
    """
    params: list[Any] = []
    where = "WHERE true" + _optional_in("r.run_id", _ids(run_ids) if run_ids is not None else None, params)
    where += _optional_in("r.state", list(states) if states is not None else None, params)
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
               coalesce(f.n_findings, 0) AS n_findings, f.problems, m.study_ids
        FROM runs r LEFT JOIN files f USING (run_id) LEFT JOIN member m USING (run_id)
        {where}
        ORDER BY r.submitted_at NULLS LAST, r.run_id
    """
    return _lists(_frame(source, sql, params), "tasks", "families", "phases_done", "study_ids")


def run_detail(source: db.Source, run_id: str) -> pd.DataFrame:
    """The run's row with every stored column, including spec_json and status_json (0 or 1 rows)."""
    return _lists(_frame(source, "SELECT * FROM runs WHERE run_id = ?", [run_id]),
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
    return _lists(_frame(source, sql), "models", "configs")


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
    return _lists(_frame(source, sql, [study_id]), "tasks")


def run_events(source: db.Source, run_id: str, types: Sequence[str] | None = None,
               since_seq: int = 0, limit: int | None = None) -> pd.DataFrame:
    """A run's events in order (for loss curves, throughput, logs).

    Columns: run_id, seq, t, type, step, phase, loss, lr, grad_norm, tokens_per_s, peak_mem_mb, epoch,
    done, total, status, message, record (the whole JSON line). Numeric fields a record lacks are NULL.
    `since_seq` returns only events after that line (live tails); `limit` keeps the last ones.
    """
    params: list[Any] = [since_seq]
    wanted = list(types) if types is not None else None
    where = "run_key IN (@run@) AND seq > ?" + _optional_in("type", wanted, params)
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
    return _frame(source, sql, params, runs={"run": [run_id]})


# --- metrics and comparisons --------------------------------------------------------------------------


def run_metrics(source: db.Source, run_ids: Sequence[str] | None = None, tasks: Sequence[str] | None = None,
                metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Run-level aggregates (metrics.json) in long form, with what each run is.

    Columns: run_id, label, model, model_size, model_params_b, method, is_multitask, task, metric, value.
    """
    params: list[Any] = []
    runs: dict[str, Sequence[str]] = {}
    where = "WHERE true" + _key_filter("m.run_key", run_ids, runs)
    where += _optional_in("m.task", list(tasks) if tasks is not None else None, params)
    where += _optional_in("m.metric", list(metrics) if metrics is not None else None, params)
    sql = f"""
        SELECT m.run_id, {_RUN_INFO}, m.task, m.metric, m.value
        FROM metrics m LEFT JOIN runs r USING (run_id)
        {where}
        ORDER BY r.model_params_b NULLS LAST, r.label, m.run_id, m.task, m.metric
    """
    return _frame(source, sql, params, runs)


def metric_names(source: db.Source, run_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Which metrics exist per task. Columns: task, metric, n_runs."""
    runs: dict[str, Sequence[str]] = {}
    where = "WHERE true" + _key_filter("run_key", run_ids, runs)
    sql = f"""SELECT task, metric, count(DISTINCT run_id) AS n_runs FROM metrics {where}
              GROUP BY task, metric ORDER BY task, metric"""
    return _frame(source, sql, (), runs)


def compare_table(source: db.Source, run_ids: Sequence[str], tasks: Sequence[str] | None = None,
                  metrics: Sequence[str] | None = None, baseline: str | None = None) -> pd.DataFrame:
    """Each run's value of each (task, metric) next to a baseline run's, with the difference.

    `baseline` defaults to the first of `run_ids`. Rows: task, metric, then runs in the order given.
    Columns: task, metric, run_id, position, label, model, model_size, model_params_b, method,
    is_multitask, value, baseline_run_id, baseline_value, delta (value − baseline), rel_delta
    (delta / |baseline|, NULL when the baseline is 0 or missing). Pivot with `compare_pivot`.
    """
    ids = _ids(run_ids)
    base = baseline if baseline is not None else (ids[0] if ids else None)
    params: list[Any] = []
    where = "m.run_key IN (@ids@)"
    where += _optional_in("m.task", list(tasks) if tasks is not None else None, params)
    where += _optional_in("m.metric", list(metrics) if metrics is not None else None, params)
    sql = f"""
        WITH m AS (SELECT * FROM metrics m WHERE {where}),
        b AS (SELECT task, metric, value FROM metrics WHERE run_key IN (@base@))
        SELECT m.task, m.metric, m.run_id, list_position($ids, m.run_id) AS position, {_RUN_INFO},
               m.value, $base AS baseline_run_id, b.value AS baseline_value,
               m.value - b.value AS delta,
               CASE WHEN b.value IS NULL OR b.value = 0 THEN NULL ELSE (m.value - b.value) / abs(b.value) END
                   AS rel_delta
        FROM m LEFT JOIN b USING (task, metric) LEFT JOIN runs r ON r.run_id = m.run_id
        ORDER BY m.task, m.metric, position
    """
    return _numbered(source, sql, params, {"ids": ids, "base": base},
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
    return _frame(source, sql, [task, task], runs={"a": [run_a], "b": [run_b]})


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
    return _frame(source, sql, [task, task], runs={"a": [run_a], "b": [run_b]})


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
    return _frame(source, sql, [task, metric, task, metric], runs={"a": [run_a], "b": [run_b]})


def sample_scores(source: db.Source, run_ids: Sequence[str], task: str, metric: str) -> pd.DataFrame:
    """Per-sample values of one metric for several runs (distributions).

    Columns: run_id, label, model_size, method, task, sample_id, sample_index, metric, value.
    """
    ids = _ids(run_ids)
    sql = """
        SELECT s.run_id, r.label, r.model_size, r.method, s.task, s.sample_id, s.sample_index, s.metric,
               s.value
        FROM scores s LEFT JOIN runs r USING (run_id)
        WHERE s.run_key IN (@ids@) AND s.task = ? AND s.metric = ?
        ORDER BY s.run_id, s.sample_id, s.sample_index
    """
    return _frame(source, sql, [task, metric], runs={"ids": ids})


def outcome_summary(source: db.Source, run_ids: Sequence[str], task: str | None = None) -> pd.DataFrame:
    """How a run's samples ended, per task and status (from the ingest's summaries).

    Columns: run_id, label, model_size, task, status, n, share (of the run's samples of that task).
    """
    ids = _ids(run_ids)
    params: list[Any] = []
    where = "run_key IN (@ids@)" + _optional_eq("task", task, params)
    sql = f"""
        SELECT o.run_id, r.label, r.model_size, o.task, o.status, o.n,
               o.n / sum(o.n) OVER (PARTITION BY o.run_id, o.task) AS share
        FROM (SELECT * FROM outcome_counts WHERE {where}) o
        LEFT JOIN runs r USING (run_id)
        ORDER BY o.run_id, o.task, o.n DESC, o.status
    """
    return _frame(source, sql, params, runs={"ids": ids})


def tasks_present(source: db.Source, run_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Tasks that have generated samples (from the ingest's per-run counts: no sample-table scan).

    Columns: task, n_runs, n_samples (the most samples any run has for the task), n_generations,
    n_outcomes, n_scored (samples with at least one score).
    """
    runs: dict[str, Sequence[str]] = {}
    where = "WHERE true" + _key_filter("run_key", run_ids, runs)
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
    return _frame(source, sql, (), runs)


def generation_stats(source: db.Source, run_ids: Sequence[str], task: str | None = None) -> pd.DataFrame:
    """Generation cost and shape per run and task (from the ingest's summaries).

    Columns: run_id, label, model_size, task, n, mean_prompt_tokens, mean_completion_tokens,
    p95_completion_tokens, truncated_rate (finish_reason 'length'), empty_rate (empty prediction),
    generation_s (sum of per-sample shares of batch time), tokens_per_s.
    """
    ids = _ids(run_ids)
    params: list[Any] = []
    where = "run_key IN (@ids@)" + _optional_eq("task", task, params)
    sql = f"""
        SELECT g.run_id, r.label, r.model_size, g.task, g.n, g.mean_prompt_tokens, g.mean_completion_tokens,
               g.p95_completion_tokens, g.truncated_rate, g.empty_rate, g.generation_s,
               CASE WHEN g.generation_s > 0 THEN g.completion_tokens / g.generation_s END AS tokens_per_s
        FROM (SELECT * FROM gen_summary WHERE {where}) g LEFT JOIN runs r USING (run_id)
        ORDER BY g.run_id, g.task
    """
    return _frame(source, sql, params, runs={"ids": ids})


# --- samples ------------------------------------------------------------------------------------------


def sample_list(source: db.Source, run_ids: Sequence[str], task: str, filter: str = "all",
                search: str | None = None, limit: int = 50, offset: int = 0, run_a: str | None = None,
                run_b: str | None = None) -> pd.DataFrame:
    """A page of the task's samples across runs, filtered, for the Samples page.

    `filter` is one of SAMPLE_FILTERS; A and B (for the *_pass_*_fail filters) default to the first
    two runs. `search` (case-insensitive substring) matches the sample id, prompt, reference or any
    run's prediction. Columns: task, sample_id, sample_index, prompt_head, reference_head (first 200
    characters), n_runs (runs with this sample), n_passed, n_executed, one `status:<run_id>` column
    per run (NULL: not executed), and n_total (matching samples, for paging).
    """
    # pylint: disable=redefined-builtin
    if filter not in SAMPLE_FILTERS:
        raise ValueError(f"unknown sample filter {filter!r}; use one of {', '.join(SAMPLE_FILTERS)}")
    ids = _ids(run_ids)
    a = run_a or (ids[0] if ids else None)
    b = run_b or (ids[1] if len(ids) > 1 else None)
    if filter in ("a_pass_b_fail", "a_fail_b_pass") and (a is None or b is None):
        raise ValueError(f"filter {filter!r} needs two runs (run_a and run_b, or two run_ids)")
    status_cols = ", ".join(f"max(status) FILTER (WHERE run_id = ?) AS s{i}" for i in range(len(ids)))
    conditions = {
        "all": "true",
        "a_pass_b_fail": "sa = 'passed' AND sb IS NOT NULL AND sb <> 'passed'",
        "a_fail_b_pass": "sa IS NOT NULL AND sa <> 'passed' AND sb = 'passed'",
        "all_pass": "n_executed > 0 AND n_passed = n_executed",
        "all_fail": "n_executed > 0 AND n_passed = 0",
        "disagree": "n_passed > 0 AND n_passed < n_executed",
        "any_error": "n_errors > 0",
    }
    search_sql = "true"
    if search:
        # contains() rather than ILIKE: the user's % and _ are text, not wildcards.
        search_sql = """(contains(lower(k.sample_id), $q) OR EXISTS (
            SELECT 1 FROM generations g WHERE g.task = k.task AND g.sample_id = k.sample_id
              AND g.sample_index = k.sample_index AND g.run_key IN (@ids@)
              AND (contains(lower(g.prediction), $q) OR contains(lower(g.prompt), $q)
                   OR contains(lower(g.reference), $q))))"""
    sql = f"""
        WITH k AS (
            SELECT task, sample_id, sample_index, count(DISTINCT run_id) AS n_runs
            FROM generations WHERE run_key IN (@ids@) AND task = ?
            GROUP BY task, sample_id, sample_index
        ), o AS (
            SELECT sample_id, sample_index, {status_cols + "," if status_cols else ""}
                   max(status) FILTER (WHERE run_id = ?) AS sa, max(status) FILTER (WHERE run_id = ?) AS sb,
                   count(*) FILTER (WHERE status = 'passed') AS n_passed, count(status) AS n_executed,
                   count(*) FILTER (WHERE status NOT IN ('passed', 'failed')) AS n_errors
            FROM outcomes WHERE run_key IN (@ids@) AND task = ?
            GROUP BY sample_id, sample_index
        ), page AS (
            SELECT k.*, o.* EXCLUDE (sample_id, sample_index, sa, sb), count(*) OVER () AS n_total
            FROM k LEFT JOIN o USING (sample_id, sample_index)
            WHERE ({conditions[filter]})
              AND {search_sql}
            ORDER BY k.sample_id, k.sample_index
            LIMIT ? OFFSET ?
        )
        SELECT p.*, left(g.prompt, 200) AS prompt_head, left(g.reference, 200) AS reference_head
        FROM page p
        LEFT JOIN (SELECT task, sample_id, sample_index, prompt, reference,
                          row_number() OVER (PARTITION BY sample_id, sample_index
                                             ORDER BY list_position($ids, run_id)) AS pick
                   FROM generations
                   WHERE run_key IN (@ids@) AND task = ?
                     AND sample_id >= (SELECT min(sample_id) FROM page)
                     AND sample_id <= (SELECT max(sample_id) FROM page)) g
               ON g.sample_id = p.sample_id AND g.sample_index = p.sample_index AND g.pick = 1
        ORDER BY p.sample_id, p.sample_index
    """
    ordered: list[Any] = [task, *ids, a, b, task, int(limit), int(offset), task]
    frame = _numbered(source, sql, ordered, {"ids": ids, "q": (search or "").lower()}, runs={"ids": ids})
    frame = frame.rename(columns={f"s{i}": f"status:{rid}" for i, rid in enumerate(ids)})
    for rid in ids:
        if f"status:{rid}" not in frame:
            frame[f"status:{rid}"] = None
    for column in ("n_passed", "n_executed", "n_errors"):
        if column in frame:
            frame[column] = frame[column].fillna(0).astype("int64")
    lead = ["task", "sample_id", "sample_index", "prompt_head", "reference_head", "n_runs", "n_passed",
            "n_executed"]
    rest = [f"status:{rid}" for rid in ids]
    return frame[[*lead, *rest, "n_total"]]


def _numbered(source: db.Source, sql: str, positional: list[Any], named: dict[str, Any],
              runs: dict[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """Run SQL that mixes `?` and `$name` parameters (DuckDB binds one style at a time)."""
    values: list[Any] = []
    for name, value in named.items():
        if f"${name}" not in sql:
            continue
        values.append(value)
        sql = sql.replace(f"${name}", f"${len(values)}")
    out = []
    parts = sql.split("?")
    for i, part in enumerate(parts[:-1]):
        values.append(positional[i])
        out.append(part + f"${len(values)}")
    out.append(parts[-1])
    if len(parts) - 1 != len(positional):
        raise AssertionError(f"{len(parts) - 1} placeholders for {len(positional)} values")
    return _frame(source, "".join(out), values, runs)


def sample_detail(source: db.Source, task: str, sample_id: str, run_ids: Sequence[str],
                  sample_index: int | None = None) -> pd.DataFrame:
    """One sample across runs, side by side: one row per run (and sample_index), in run order.

    Columns: run_id, label, model, model_size, method, task, sample_id, sample_index, prompt,
    reference, completion, prediction, finish_reason, prompt_tokens, completion_tokens, latency_s,
    status, passed, exit_code, duration_s, reason, stdout_tail, stderr_tail, isolation,
    findings (list of {tool, rule_id, category, severity, line, message}),
    scores (list of {metric, value}), measures (list of {tool, measure, value}),
    analysers (list of {tool, status, detail}).
    """
    ids = _ids(run_ids)
    key = "run_key IN (@ids@) AND task = ? AND sample_id = ?"
    key_params: list[Any] = [task, sample_id]
    if sample_index is not None:
        key += " AND sample_index = ?"
        key_params.append(int(sample_index))
    sql = f"""
        WITH g AS (SELECT * FROM generations WHERE {key}),
        o AS (SELECT * FROM outcomes WHERE {key}),
        f AS (SELECT run_id, sample_index,
                     list({{'tool': tool, 'rule_id': rule_id, 'category': category, 'severity': severity,
                           'line': line, 'message': message}}
                          ORDER BY tool, line, rule_id, message) AS findings
              FROM findings WHERE {key} GROUP BY run_id, sample_index),
        s AS (SELECT run_id, sample_index,
                     list({{'metric': metric, 'value': value}} ORDER BY metric) AS scores
              FROM scores WHERE {key} GROUP BY run_id, sample_index),
        q AS (SELECT run_id, sample_index,
                     list({{'tool': tool, 'measure': measure, 'value': value}} ORDER BY tool, measure)
                         FILTER (WHERE measure IS NOT NULL) AS measures,
                     list_sort(list(DISTINCT {{'tool': tool, 'status': status, 'detail': detail}}))
                         AS analysers
              FROM quality WHERE {key} GROUP BY run_id, sample_index)
        SELECT g.run_id, r.label, r.model, r.model_size, r.method, g.task, g.sample_id, g.sample_index,
               g.prompt, g.reference, g.completion, g.prediction, g.finish_reason, g.prompt_tokens,
               g.completion_tokens, g.latency_s, o.status, o.status = 'passed' AS passed, o.exit_code,
               o.duration_s, o.reason, o.stdout_tail, o.stderr_tail, o.isolation,
               f.findings, s.scores, q.measures, q.analysers
        FROM g
        LEFT JOIN o USING (run_id, sample_index)
        LEFT JOIN f USING (run_id, sample_index)
        LEFT JOIN s USING (run_id, sample_index)
        LEFT JOIN q USING (run_id, sample_index)
        LEFT JOIN runs r ON r.run_id = g.run_id
        ORDER BY list_position(?, g.run_id), g.sample_index
    """
    params = key_params * 5 + [ids]
    frame = _frame(source, sql, params, runs={"ids": ids})
    return _lists(frame, "findings", "scores", "measures", "analysers")


# --- quality ----------------------------------------------------------------------------------------


def findings_by_tool(source: db.Source, run_ids: Sequence[str], task: str | None = None) -> pd.DataFrame:
    """Finding counts per run × task × tool × category, and per analysed sample (from summaries).

    n_samples is the samples the tool analysed successfully (quality status 'ok'), or, for a
    tool without quality rows, the run's generated samples of the task.
    Columns: run_id, label, model_size, method, task, tool, category, n_findings,
    n_samples_with_findings, n_samples, per_sample (n_findings / n_samples).
    """
    ids = _ids(run_ids)
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
    return _frame(source, sql, params, runs={"ids": ids})


def findings_by_rule(source: db.Source, run_ids: Sequence[str], task: str | None = None,
                     tool: str | None = None, limit: int = 30) -> pd.DataFrame:
    """The most frequent rules (from summaries).

    Columns: tool, rule_id, category, severity, n_findings, n_samples (samples with the rule,
    summed over runs), n_runs.
    """
    ids = _ids(run_ids)
    params: list[Any] = []
    where = "run_key IN (@ids@)" + _optional_eq("task", task, params) + _optional_eq("tool", tool, params)
    params.append(int(limit))
    sql = f"""
        SELECT tool, rule_id, any_value(category) AS category, any_value(severity) AS severity,
               sum(n_findings) AS n_findings, sum(n_samples) AS n_samples, count(DISTINCT run_key) AS n_runs
        FROM rule_counts WHERE {where}
        GROUP BY tool, rule_id ORDER BY n_findings DESC, tool, rule_id LIMIT ?
    """
    return _frame(source, sql, params, runs={"ids": ids})


def quality_measure_names(source: db.Source, run_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Measures available (from summaries). Columns: tool, measure, n_values, n_runs."""
    runs: dict[str, Sequence[str]] = {}
    where = _key_filter("run_key", run_ids, runs)
    sql = f"""SELECT tool, measure, sum(n_values) AS n_values, count(DISTINCT run_key) AS n_runs
              FROM measure_counts WHERE true {where} GROUP BY tool, measure ORDER BY tool, measure"""
    return _frame(source, sql, (), runs)


def quality_status(source: db.Source, run_ids: Sequence[str], task: str | None = None) -> pd.DataFrame:
    """Analyser outcomes per run, task and tool: ok / failed / skipped samples (from summaries).

    Columns: run_id, task, tool, status, n_samples, example_detail.
    """
    ids = _ids(run_ids)
    params: list[Any] = []
    where = "run_key IN (@ids@)" + _optional_eq("task", task, params)
    sql = f"""
        SELECT run_id, task, tool, status, n_samples, example_detail
        FROM quality_counts WHERE {where} ORDER BY run_id, task, tool, status
    """
    return _frame(source, sql, params, runs={"ids": ids})


def quality_measures(source: db.Source, run_ids: Sequence[str], measure: str, task: str | None = None,
                     tool: str | None = None) -> pd.DataFrame:
    """Per-sample values of one measure (complexity, pylint score, ...) for distributions.

    Columns: run_id, label, model_size, method, task, sample_id, sample_index, tool, measure, value.
    """
    ids = _ids(run_ids)
    params: list[Any] = [measure]
    where = "q.run_key IN (@ids@) AND q.measure = ? AND q.value IS NOT NULL"
    where += _optional_eq("q.task", task, params) + _optional_eq("q.tool", tool, params)
    sql = f"""
        SELECT q.run_id, r.label, r.model_size, r.method, q.task, q.sample_id, q.sample_index, q.tool,
               q.measure, q.value
        FROM quality q LEFT JOIN runs r USING (run_id)
        WHERE {where}
        ORDER BY q.run_id, q.task, q.sample_id, q.sample_index, q.tool
    """
    return _frame(source, sql, params, runs={"ids": ids})


def quality_vs_correctness(source: db.Source, run_ids: Sequence[str], task: str,
                           measures: Sequence[str] | None = None) -> pd.DataFrame:
    """Per-sample quality measures next to whether the sample passed its tests.

    Columns: run_id, label, model_size, sample_id, sample_index, tool, measure, value, status, passed
    (NULL status / passed: the sample was not executed).
    """
    ids = _ids(run_ids)
    params: list[Any] = [task]
    where = "run_key IN (@ids@) AND task = ? AND measure IS NOT NULL"
    where += _optional_in("measure", list(measures) if measures is not None else None, params)
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
    return _frame(source, sql, params, runs={"ids": ids})


# --- by name ------------------------------------------------------------------------------------------

QUERIES: dict[str, Callable[..., pd.DataFrame]] = {
    f.__name__: f
    for f in (
        runs_overview, run_detail, studies, study_runs, run_events, run_metrics, metric_names, compare_table,
        paired_pass, pass_contingency, paired_scores, sample_scores, outcome_summary, tasks_present,
        generation_stats, sample_list, sample_detail, findings_by_tool, findings_by_rule,
        quality_measure_names, quality_status, quality_measures, quality_vs_correctness,
    )
}


def run_query(source: db.Source, name: str, **params: Any) -> pd.DataFrame:
    """Call the named query with keyword parameters."""
    try:
        query = QUERIES[name]
    except KeyError:
        raise KeyError(f"unknown query {name!r}; known: {', '.join(sorted(QUERIES))}") from None
    return query(source, **params)
