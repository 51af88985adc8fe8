"""Loading a run's files into the tables: its row in `runs` (spec.json, status.json), events.jsonl,
metrics.json and the parquet artifacts, with the per-run summaries rebuilt alongside.

All of a run's changed files go in one transaction (one commit: readers never see half a run). A
file that fails aborts the transaction, which is redone without it; the failure is recorded with the
file's fingerprint (store.scan), so it is not retried until it changes, and the rows from its last
good version stay until then. events.jsonl is append-only and is read on from the byte where the
last ingest stopped (a partial last line waits for the next ingest). Parquet artifacts are
bulk-loaded by DuckDB's own `read_parquet`, sorted by (task, sample_id, sample_index), so each
table stays clustered by run (see store.schema).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from engine.runs.rundir import ARTIFACT_SCHEMAS
from store import db, schema
from store.report import IngestProblem, IngestReport
from store.runs_table import finite, replace_run_row
from store.scan import (
    EVENTS,
    METRICS,
    RUN_FILES,
    SPEC,
    STATUS,
    Fingerprint,
    Known,
    Record,
    RunFiles,
    changed,
    read_json_file,
    write_records,
)

_PA_TO_SQL = {pa.string(): "VARCHAR", pa.int32(): "INTEGER", pa.int64(): "BIGINT", pa.float64(): "DOUBLE"}
_KEY = ("task", "sample_id", "sample_index")
_TABLE_OF = {**schema.ARTIFACT_TABLES, EVENTS: "events", METRICS: "metrics"}


def run_key(conn: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """The run's integer key, allocated on first sight (store.schema says why it exists)."""
    rows = conn.execute("SELECT run_key FROM run_keys WHERE run_id = ?", [run_id]).fetchall()
    if rows:
        return int(rows[0][0])
    key = conn.execute("SELECT coalesce(max(run_key), 0) + 1 FROM run_keys").fetchall()[0][0]
    conn.execute("INSERT INTO run_keys VALUES (?, ?)", [run_id, key])
    return int(key)


def refresh_summaries(conn: duckdb.DuckDBPyConnection, key: int, table: str) -> None:
    """Rebuild the run's rows of every summary derived from `table` (store.schema.SUMMARIES)."""
    for name, (source, select) in schema.SUMMARIES.items():
        if source != table:
            continue
        summary, _, part = name.partition("/")
        if part:  # task_counts: one slice per artifact
            conn.execute(f"DELETE FROM {summary} WHERE run_key = ? AND artifact = ?", [key, part])
        else:
            conn.execute(f"DELETE FROM {summary} WHERE run_key = ?", [key])
        conn.execute(f"INSERT INTO {summary} {select}", [key])


# --- one file at a time (inside the run's transaction) ------------------------------------------------


def _artifact_select(path: Path, table: str) -> tuple[str, list[str]]:
    """SELECT list that maps a parquet file onto `table` (absent optional columns become NULL)."""
    try:
        present = set(pq.read_schema(path).names)
    except (pa.ArrowInvalid, OSError) as exc:
        raise IngestProblem(f"not a readable parquet file ({exc})") from exc
    missing_key = [c for c in _KEY if c not in present]
    if missing_key:
        raise IngestProblem(f"lacks the sample key column(s) {', '.join(missing_key)}")
    parts, absent = ["CAST(? AS VARCHAR) AS run_id"], []
    for column in ARTIFACT_SCHEMAS[table]:
        if column.name == "run_id":
            continue
        sql_type = _PA_TO_SQL[column.type]
        if column.name in present:
            parts.append(f'TRY_CAST("{column.name}" AS {sql_type}) AS "{column.name}"')
        else:
            absent.append(column.name)
            parts.append(f'CAST(NULL AS {sql_type}) AS "{column.name}"')
    parts.append("CAST(? AS INTEGER) AS run_key")
    return ", ".join(parts), absent


def load_artifact(conn: duckdb.DuckDBPyConnection, run_id: str, key: int, path: Path, table: str,
                  fp: Fingerprint) -> tuple[Record, list[str]]:
    """Replace the run's rows of `table` with the parquet file's."""
    select, absent = _artifact_select(path, table)
    notes = [f"columns {', '.join(absent)} absent, stored as NULL"] if absent else []
    conn.execute(f"DELETE FROM {table} WHERE run_key = ?", [key])
    # The directory name is the run's identity; a run_id column that disagrees (a copied run) is
    # overridden so pruning and replacing stay consistent. Sorted: see store.schema (zonemaps).
    try:
        count = conn.execute(
            f"INSERT INTO {table} SELECT {select} FROM read_parquet(?) "
            "WHERE task IS NOT NULL AND sample_id IS NOT NULL AND sample_index IS NOT NULL "
            "ORDER BY task, sample_id, sample_index",
            [run_id, key, str(path)],
        ).fetchall()[0][0]  # fetch to the end: DuckDB 2 refuses new work on an unfinished result
    except duckdb.Error as exc:
        raise IngestProblem(f"unreadable ({str(exc).splitlines()[0]})") from exc
    refresh_summaries(conn, key, table)
    return Record(path.name, fp, rows=int(count)), notes


def _clean(value: Any) -> Any:
    """JSON-safe copy: NaN/inf become null (DuckDB's JSON functions reject them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _insert_arrow(conn: duckdb.DuckDBPyConnection, table: str, frame: pa.Table) -> None:
    if frame.num_rows == 0:
        return
    conn.register("_incoming", frame)
    try:
        conn.execute(f"INSERT INTO {table} SELECT * FROM _incoming")
    finally:
        conn.unregister("_incoming")


def load_events(conn: duckdb.DuckDBPyConnection, run_id: str, key: int, path: Path, fp: Fingerprint,
                known: Known | None) -> tuple[Record, list[str]]:
    """Append the lines written since the last ingest (or reload if the file was replaced)."""
    resume = known is not None and known.fp[2] == fp[2] and fp[0] >= known.consumed and not known.error
    offset, first_seq = (known.consumed, known.rows) if resume and known else (0, 0)
    with open(path, "rb") as fh:
        fh.seek(offset)
        blob = fh.read(max(fp[0] - offset, 0))
    end = blob.rfind(b"\n") + 1  # a partial last line (a writer mid-append) waits for next time
    lines = blob[:end].splitlines()
    cols: dict[str, list[Any]] = {k: [] for k in ("run_id", "seq", "t", "type", "step", "phase", "record")}
    bad = []
    for i, raw in enumerate(lines, start=first_seq + 1):
        try:
            record = json.loads(raw)
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError):
            if raw.strip():
                bad.append(i)
            continue
        record = _clean(record)
        step = finite(record.get("step"))
        cols["run_id"].append(run_id)
        cols["seq"].append(i)
        cols["t"].append(finite(record.get("t")))
        cols["type"].append(str(record.get("type")) if record.get("type") is not None else None)
        cols["step"].append(int(step) if step is not None else None)
        cols["phase"].append(str(record["phase"]) if record.get("phase") is not None else None)
        cols["record"].append(json.dumps(record, separators=(",", ":"), default=str))
    cols["run_key"] = [key] * len(cols["run_id"])
    types = {"seq": pa.int64(), "t": pa.float64(), "step": pa.int64(), "run_key": pa.int32()}
    frame = pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in cols.items()})
    if not resume:
        conn.execute("DELETE FROM events WHERE run_key = ?", [key])
    _insert_arrow(conn, "events", frame)
    notes = [f"{len(bad)} line(s) that are not JSON objects skipped (line {bad[0]}…)"] if bad else []
    return Record(EVENTS, fp, consumed=offset + end, rows=first_seq + len(lines)), notes


def load_metrics(conn: duckdb.DuckDBPyConnection, run_id: str, key: int, path: Path,
                 fp: Fingerprint) -> Record:
    """Replace the run's rows of `metrics` with metrics.json's numbers (task → metric → value)."""
    data = read_json_file(path)
    tasks = data.get("tasks") if isinstance(data, dict) else None
    if not isinstance(tasks, dict):
        raise IngestProblem("has no 'tasks' mapping")
    rows = [(str(task), str(metric), finite(value))
            for task, values in tasks.items() if isinstance(values, dict)
            for metric, value in values.items()
            if not isinstance(value, bool) and isinstance(value, (int, float))]
    frame = pa.table({"run_id": pa.array([run_id] * len(rows), pa.string()),
                      "task": pa.array([r[0] for r in rows], pa.string()),
                      "metric": pa.array([r[1] for r in rows], pa.string()),
                      "value": pa.array([r[2] for r in rows], pa.float64()),
                      "run_key": pa.array([key] * len(rows), pa.int32())})
    conn.execute("DELETE FROM metrics WHERE run_key = ?", [key])
    _insert_arrow(conn, "metrics", frame)
    return Record(METRICS, fp, rows=len(rows))


def load_run_row(conn: duckdb.DuckDBPyConnection, run_dir: Path, fps: RunFiles) -> tuple[list[Record], list[str]]:
    """(Re)write the run's row in `runs` from spec.json and status.json (whatever of them is readable)."""
    run_id = run_dir.name
    values: dict[str, Any] = {}
    records, warnings = [], []
    for name in (SPEC, STATUS):
        fp = fps.get(name)
        if fp is None:
            continue
        try:
            values[name] = read_json_file(run_dir / name)
            records.append(Record(name, fp, rows=1))
        except (IngestProblem, OSError) as exc:
            records.append(Record(name, fp, error=str(exc)))
            warnings.append(f"run {run_id}: {name} {exc}; skipped, retried when it changes")
    replace_run_row(conn, run_id, values.get(SPEC), values.get(STATUS))
    return records, warnings


# --- a run's changed files, in one transaction --------------------------------------------------------


class _FileFailed(Exception):
    """One file of a run failed inside the run's transaction (which is then retried without it)."""

    def __init__(self, name: str, reason: str):
        super().__init__(name, reason)
        self.name = name
        self.reason = reason


def ingest_run_files(conn: duckdb.DuckDBPyConnection, run_dir: Path, fps: RunFiles,
                     known: dict[str, Known], report: IngestReport) -> None:
    """Apply a run's changed files in one transaction (one commit, and readers never see half a run).

    A file that fails aborts the transaction, which is redone without it; the failure is recorded
    with the file's fingerprint so it is not retried until it changes.
    """
    run_id = run_dir.name
    todo = [name for name in RUN_FILES if changed(fps.get(name), known.get(name))]
    if not todo:
        return
    failed: dict[str, str] = {}
    while True:
        rows: dict[str, int] = {}
        warnings: list[str] = []
        try:
            with db.transaction(conn):
                records, gone = _apply_run_files(conn, run_dir, fps, known, todo, failed, rows, warnings)
                write_records(conn, run_id, records, gone)
            break
        except _FileFailed as exc:
            failed[exc.name] = exc.reason
    report.runs_updated.append(run_id)
    report.warnings.extend(warnings)
    report.warnings.extend(f"run {run_id}: {n} {why}; skipped, retried when it changes"
                           for n, why in failed.items())
    report.files_ingested += sum(1 for n in todo if fps.get(n) is not None and n not in failed)
    for table, count in rows.items():
        report.add_rows(table, count)


def _apply_run_files(conn: duckdb.DuckDBPyConnection, run_dir: Path, fps: RunFiles,
                     known: dict[str, Known], todo: list[str], failed: dict[str, str],
                     rows: dict[str, int], warnings: list[str]) -> tuple[list[Record], list[str]]:
    run_id = run_dir.name
    key = run_key(conn, run_id)
    records: list[Record] = []
    gone: list[str] = []
    if SPEC in todo or STATUS in todo:
        run_records, run_warnings = load_run_row(conn, run_dir, fps)
        records += run_records
        warnings += run_warnings
        rows["runs"] = 1
    for name in todo:
        if name in (SPEC, STATUS):
            if fps.get(name) is None:
                gone.append(name)
            continue
        fp = fps.get(name)
        table = _TABLE_OF[name]
        if fp is None:  # the file is gone (e.g. a phase being redone): so are its rows
            conn.execute(f"DELETE FROM {table} WHERE run_key = ?", [key])
            refresh_summaries(conn, key, table)
            gone.append(name)
            continue
        if name in failed:
            old = known.get(name)
            records.append(Record(name, fp, rows=old.rows if old else 0, error=failed[name]))
            continue
        try:
            notes: list[str] = []
            if name == EVENTS:
                record, notes = load_events(conn, run_id, key, run_dir / name, fp, known.get(name))
            elif name == METRICS:
                record = load_metrics(conn, run_id, key, run_dir / name, fp)
            else:
                record, notes = load_artifact(conn, run_id, key, run_dir / name, table, fp)
        except (IngestProblem, OSError) as exc:
            raise _FileFailed(name, str(exc)) from exc
        records.append(record)
        if name == EVENTS:
            rows[table] = record.rows - (known[name].rows if name in known and not known[name].error else 0)
        else:
            rows[table] = record.rows
        warnings.extend(f"run {run_id}: {name}: {note}" for note in notes)
    return records, gone
