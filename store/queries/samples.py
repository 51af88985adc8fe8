"""Queries for the Samples page: a filtered, searchable page of a task's samples across runs
(SAMPLE_FILTERS) and one sample side by side under several runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from store import db
from store.queries.sql import as_lists, fetch, fetch_numbered, id_list

SAMPLE_FILTERS: dict[str, str] = {
    "all": "every sample",
    "a_pass_b_fail": "passes under A, fails under B",
    "a_fail_b_pass": "fails under A, passes under B",
    "all_pass": "passes under every run",
    "all_fail": "fails under every run",
    "disagree": "passes under some runs and fails under others",
    "any_error": "a timeout, error, compile error or violation under some run",
}


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
    ids = id_list(run_ids)
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
    frame = fetch_numbered(source, sql, ordered, {"ids": ids, "q": (search or "").lower()}, runs={"ids": ids})
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
    ids = id_list(run_ids)
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
    frame = fetch(source, sql, params, runs={"ids": ids})
    return as_lists(frame, "findings", "scores", "measures", "analysers")
