"""Ingest of run and study directories into the DuckDB index: incremental, idempotent, rebuildable.

The run directory is the record (engine.runs.rundir); this module copies it into the database.

* Incremental: every file is fingerprinted (size, mtime, inode) per (owner, file) in the
  `ingested_files` table. A file whose fingerprint is unchanged is not read again, so a second
  ingest with nothing changed reads only the fingerprints (through a read-only connection: it never
  blocks the app's readers) and writes nothing.
* Idempotent: a changed file replaces that run's rows from it (delete + insert), all of a run's
  changed files in one transaction, so re-ingesting never duplicates and readers never see half a
  run. events.jsonl is append-only and is read on from the byte where the last ingest stopped (a
  partial last line waits for the next ingest). The run's summaries (store.schema.SUMMARIES) are
  rebuilt in the same transaction.
* A corrupt or partial file is skipped with a warning in the report (the run's transaction is
  redone without it); its fingerprint is recorded with the error, so an unchanged broken file costs
  nothing and is reported again, and the file is ingested as soon as it changes. The rows from its
  last good version stay until then.
* Runs (and studies) whose directories were deleted are pruned.
* Parquet artifacts are bulk-loaded by DuckDB's own `read_parquet`, sorted by
  (task, sample_id, sample_index), so each table stays clustered by run (see store.schema); new
  runs are ingested in submission order, so a study's runs sit together.

Writes happen in short sessions (about a second each, three when there is a backlog; then the
write connection is closed for a moment) so the app's read-only queries get in between (measured
with 200 runs × 5,000 samples: a reader polling through a full reindex never failed and waited at
most 6.6 s, the session plus its checkpoint); one ingest at a time per database is ensured by a
lock file next to it (`<db>.ingest-lock`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from engine.runs.rundir import ARTIFACT_SCHEMAS
from engine.settings import Settings
from store import db, schema

SPEC, STATUS, EVENTS, METRICS = "spec.json", "status.json", "events.jsonl", "metrics.json"
STUDY = "study.json"
RUN_FILES: tuple[str, ...] = (SPEC, STATUS, EVENTS, METRICS, *schema.ARTIFACT_TABLES)
STUDY_PREFIX = "study:"
# How long one write session may hold the database, and the pause after it (lets readers in).
# A backlog (first ingest, reindex) uses longer sessions: every session ends in a checkpoint that
# rewrites each table's last, partly filled row group, so short sessions make a bulk load several
# times slower (measured: 20 runs × 5,000 samples in 10.3 s with 1 s sessions, 6.4 s in one; a
# reindex of 200 such runs: 47 s in 8 s sessions, 55 s in 3 s sessions).
SESSION_S = 1.0
BULK_SESSION_S = 3.0
BULK_RUNS = 8
SESSION_GAP_S = 0.06

_PA_TO_SQL = {pa.string(): "VARCHAR", pa.int32(): "INTEGER", pa.int64(): "BIGINT", pa.float64(): "DOUBLE"}
_KEY = ("task", "sample_id", "sample_index")
_SIZE_RE = re.compile(r"(?<![A-Za-z0-9.])(\d+(?:\.\d+)?)\s*([BbMmKk])(?![A-Za-z0-9])")
_UNIT = {"b": 1.0, "m": 1e-3, "k": 1e-6}

Fingerprint = tuple[int, int, int]  # size, mtime_ns, inode


class IngestProblem(ValueError):
    """A file that cannot be ingested as it is (corrupt, partial, wrong shape)."""


@dataclass
class IngestReport:
    """What an ingest (or reindex) did; str() is the CLI's summary."""

    db_path: Path
    rebuilt: bool = False
    runs_seen: int = 0
    runs_updated: list[str] = field(default_factory=list)
    runs_pruned: list[str] = field(default_factory=list)
    studies_seen: int = 0
    studies_updated: list[str] = field(default_factory=list)
    studies_pruned: list[str] = field(default_factory=list)
    files_ingested: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows written
    warnings: list[str] = field(default_factory=list)
    write_sessions: int = 0
    elapsed_s: float = 0.0
    skipped: str | None = None  # why nothing was done (another ingest holds the lock)

    @property
    def changed(self) -> bool:
        """Whether the database was written (anything ingested or pruned)."""
        return bool(self.runs_updated or self.runs_pruned or self.studies_updated or self.studies_pruned)

    def add_rows(self, table: str, count: int) -> None:
        """Count rows written to `table`."""
        self.rows[table] = self.rows.get(table, 0) + int(count)

    def __str__(self) -> str:
        verb = "reindex" if self.rebuilt else "ingest"
        if self.skipped:
            return f"{verb}: skipped — {self.skipped} ({self.db_path})"
        unchanged = self.runs_seen - len(self.runs_updated)
        lines = [
            f"{verb} of {self.db_path}: {self.runs_seen} run(s) found, {len(self.runs_updated)} updated, "
            f"{unchanged} unchanged, {len(self.runs_pruned)} pruned; {self.studies_seen} study(ies), "
            f"{len(self.studies_updated)} updated, {len(self.studies_pruned)} pruned; "
            f"{self.files_ingested} file(s) read in {self.elapsed_s:.2f} s"
        ]
        if self.rows:
            lines.append("  rows written: " + ", ".join(f"{t} {n:,}" for t, n in sorted(self.rows.items())))
        if self.runs_pruned:
            lines.append("  pruned runs: " + ", ".join(self.runs_pruned))
        if self.warnings:
            lines.append(f"  {len(self.warnings)} warning(s):")
            lines.extend(f"    - {w}" for w in self.warnings)
        elif not self.changed:
            lines.append("  nothing changed")
        return "\n".join(lines)


# --- derived run fields ---------------------------------------------------------------------------


def model_size(model_id: str | None) -> tuple[str | None, float | None]:
    """Display label and size in billions of parameters from a model id ('…-0.5B-…' → ('0.5B', 0.5)).

    An id that names no size gives its short name and None.
    """
    if not model_id:
        return None, None
    short = model_id.rstrip("/").split("/")[-1]
    match = _SIZE_RE.search(short)
    if not match:
        return short, None
    number, unit = match.group(1), match.group(2).lower()
    return f"{number}{unit.upper()}", float(number) * _UNIT[unit]


def _spec_fields(spec: dict[str, Any] | None) -> dict[str, Any]:
    """The runs-table columns derived from spec.json (RunSpec when it validates, else best effort)."""
    if not isinstance(spec, dict):
        return {"spec_valid": False}
    from engine.spec import RunSpec

    model_id = (spec.get("model") or {}).get("id") if isinstance(spec.get("model"), dict) else None
    tasks = [t.get("name") for t in spec.get("tasks") or [] if isinstance(t, dict)]
    out: dict[str, Any] = {"name": spec.get("name"), "model": model_id, "method": spec.get("method"),
                           "tasks": tasks, "n_tasks": len(tasks),
                           "spec_json": json.dumps(spec, sort_keys=True)}
    try:
        parsed = RunSpec.model_validate(spec)
    except Exception:  # pylint: disable=broad-exception-caught  # any bad spec: keep what we can
        out.update(spec_valid=False, label=spec.get("method"), is_multitask=len(tasks) > 1)
    else:
        try:
            families = parsed.families
            multitask = parsed.is_multitask
            label = parsed.label
        except Exception:  # pylint: disable=broad-exception-caught  # e.g. a task unknown to this version
            families, multitask = [], len(tasks) > 1
            label = "zero-shot" if parsed.method == "none" else parsed.method
        out.update(
            spec_valid=True, label=label, is_multitask=multitask, families=families,
            spec_hash=parsed.spec_hash(), model_short=parsed.model.short_name, lora_r=parsed.lora.r,
            learning_rate=parsed.train.learning_rate, epochs=parsed.train.epochs,
            max_steps=parsed.train.max_steps, seed=parsed.train.seed,
            eval_n_samples=parsed.eval.n_samples, eval_temperature=parsed.eval.temperature,
        )
    out["model_size"], out["model_params_b"] = model_size(model_id)
    out.setdefault("model_short", model_id.rstrip("/").split("/")[-1] if model_id else None)
    return out


def _status_fields(status: dict[str, Any] | None) -> dict[str, Any]:
    if not isinstance(status, dict):
        return {}
    progress = status.get("progress") if isinstance(status.get("progress"), dict) else {}
    error = status.get("error") if isinstance(status.get("error"), dict) else None
    phases = status.get("phases_done")
    return {
        "state": status.get("state"), "phase": status.get("phase"),
        "progress_phase": progress.get("phase"), "progress_done": _num(progress.get("done")),
        "progress_total": _num(progress.get("total")),
        "phases_done": [str(p) for p in phases] if isinstance(phases, list) else None,
        "attempts": _int(status.get("attempts")),
        "error_phase": error.get("phase") if error else None,
        "error_type": error.get("type") if error else None,
        "error_message": error.get("message") if error else None,
        "error_json": json.dumps(error, sort_keys=True, default=str) if error else None,
        "submitted_at": _num(status.get("submitted_at")), "started_at": _num(status.get("started_at")),
        "finished_at": _num(status.get("finished_at")), "updated_at": _num(status.get("updated_at")),
        "status_json": json.dumps(status, sort_keys=True, default=str),
    }


def _num(value: Any) -> float | None:
    """A finite number, else None (bools, strings and NaN are not measurements)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _int(value: Any) -> int | None:
    number = _num(value)
    return int(number) if number is not None else None


_RUN_COLUMNS: tuple[str, ...] = (
    "run_id", "name", "model", "model_short", "model_size", "model_params_b", "method", "label",
    "is_multitask", "tasks", "families", "n_tasks", "spec_hash", "spec_valid", "lora_r", "learning_rate",
    "epochs", "max_steps", "seed", "eval_n_samples", "eval_temperature", "spec_json", "state", "phase",
    "progress_phase", "progress_done", "progress_total", "phases_done", "attempts", "error_phase",
    "error_type", "error_message", "error_json", "submitted_at", "started_at", "finished_at",
    "updated_at", "status_json", "ingested_at",
)


# --- files and fingerprints -----------------------------------------------------------------------


def fingerprint(path: Path) -> Fingerprint | None:
    """(size, mtime_ns, inode) of a file, or None when it does not exist."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


def _read_json_file(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IngestProblem(f"not valid JSON ({exc})") from exc


def scan_runs(runs_dir: Path, only: Iterable[str] | None = None) -> dict[str, dict[str, Fingerprint | None]]:
    """Every run directory under `runs_dir` with the fingerprints of its files.

    Hidden folders (a submission being staged, a deletion in progress) are not runs.
    """
    wanted = set(only) if only is not None else None
    runs: dict[str, dict[str, Fingerprint | None]] = {}
    if not runs_dir.is_dir():
        return runs
    for child in sorted(runs_dir.iterdir()):
        if child.name.startswith(".") or (wanted is not None and child.name not in wanted):
            continue
        spec_fp = fingerprint(child / SPEC)
        if spec_fp is None:
            continue
        runs[child.name] = {name: fingerprint(child / name) for name in RUN_FILES}
    return runs


def scan_studies(studies_dir: Path) -> dict[str, Fingerprint]:
    """study folder name → fingerprint of its study.json."""
    out: dict[str, Fingerprint] = {}
    if not studies_dir.is_dir():
        return out
    for child in sorted(studies_dir.iterdir()):
        fp = fingerprint(child / STUDY) if not child.name.startswith(".") else None
        if fp is not None:
            out[child.name] = fp
    return out


@dataclass(frozen=True)
class _Known:
    """A file as the database last saw it."""

    fp: Fingerprint
    consumed: int
    rows: int
    error: str | None


def _known_files(conn: duckdb.DuckDBPyConnection) -> dict[str, dict[str, _Known]]:
    out: dict[str, dict[str, _Known]] = {}
    rows = conn.execute(
        "SELECT owner, artifact, size, mtime_ns, inode, consumed, rows, error FROM ingested_files"
    ).fetchall()
    for owner, artifact, size, mtime, inode, consumed, count, error in rows:
        out.setdefault(owner, {})[artifact] = _Known((size, mtime, inode), consumed or 0, count or 0, error)
    return out


@dataclass(frozen=True)
class _Record:
    """A file's new row in ingested_files."""

    artifact: str
    fp: Fingerprint
    consumed: int = 0
    rows: int = 0
    error: str | None = None


def _write_records(conn: duckdb.DuckDBPyConnection, owner: str, records: list[_Record],
                   forget: Iterable[str] = ()) -> None:
    """Replace the owner's ingested_files rows for these files (two statements, whatever the count)."""
    names = [r.artifact for r in records] + list(forget)
    if names:
        marks = ", ".join("?" * len(names))
        conn.execute(f"DELETE FROM ingested_files WHERE owner = ? AND artifact IN ({marks})", [owner, *names])
    if records:
        now = time.time()
        values = ", ".join("(?, ?, ?, ?, ?, ?, ?, ?, ?)" for _ in records)
        params: list[Any] = []
        for r in records:
            params += [owner, r.artifact, r.fp[0], r.fp[1], r.fp[2], r.consumed, r.rows, now, r.error]
        conn.execute("INSERT INTO ingested_files (owner, artifact, size, mtime_ns, inode, consumed, rows, "
                     f"ingested_at, error) VALUES {values}", params)


@contextlib.contextmanager
def _transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    conn.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


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
    target = ARTIFACT_SCHEMAS[table]
    parts, absent = ["CAST(? AS VARCHAR) AS run_id"], []
    for column in target:
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


def _run_key(conn: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """The run's integer key, allocated on first sight (store.schema says why it exists)."""
    rows = conn.execute("SELECT run_key FROM run_keys WHERE run_id = ?", [run_id]).fetchall()
    if rows:
        return int(rows[0][0])
    key = conn.execute("SELECT coalesce(max(run_key), 0) + 1 FROM run_keys").fetchall()[0][0]
    conn.execute("INSERT INTO run_keys VALUES (?, ?)", [run_id, key])
    return int(key)


def _refresh_summaries(conn: duckdb.DuckDBPyConnection, run_key: int, table: str) -> None:
    """Rebuild the run's rows of every summary derived from `table` (store.schema.SUMMARIES)."""
    for name, (source, select) in schema.SUMMARIES.items():
        if source != table:
            continue
        summary, _, part = name.partition("/")
        if part:  # task_counts: one slice per artifact
            conn.execute(f"DELETE FROM {summary} WHERE run_key = ? AND artifact = ?", [run_key, part])
        else:
            conn.execute(f"DELETE FROM {summary} WHERE run_key = ?", [run_key])
        conn.execute(f"INSERT INTO {summary} {select}", [run_key])


def _load_artifact(conn: duckdb.DuckDBPyConnection, run_id: str, run_key: int, path: Path, table: str,
                   fp: Fingerprint) -> tuple[_Record, list[str]]:
    """Replace the run's rows of `table` with the parquet file's."""
    select, absent = _artifact_select(path, table)
    notes = [f"columns {', '.join(absent)} absent, stored as NULL"] if absent else []
    conn.execute(f"DELETE FROM {table} WHERE run_key = ?", [run_key])
    # The directory name is the run's identity; a run_id column that disagrees (a copied run) is
    # overridden so pruning and replacing stay consistent. Sorted: see store.schema (zonemaps).
    try:
        count = conn.execute(
            f"INSERT INTO {table} SELECT {select} FROM read_parquet(?) "
            "WHERE task IS NOT NULL AND sample_id IS NOT NULL AND sample_index IS NOT NULL "
            "ORDER BY task, sample_id, sample_index",
            [run_id, run_key, str(path)],
        ).fetchall()[0][0]  # fetch to the end: DuckDB 2 refuses new work on an unfinished result
    except duckdb.Error as exc:
        raise IngestProblem(f"unreadable ({str(exc).splitlines()[0]})") from exc
    _refresh_summaries(conn, run_key, table)
    return _Record(path.name, fp, rows=int(count)), notes


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


def _load_events(conn: duckdb.DuckDBPyConnection, run_id: str, run_key: int, path: Path, fp: Fingerprint,
                 known: _Known | None) -> tuple[_Record, list[str]]:
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
        cols["run_id"].append(run_id)
        cols["seq"].append(i)
        cols["t"].append(_num(record.get("t")))
        cols["type"].append(str(record.get("type")) if record.get("type") is not None else None)
        cols["step"].append(_int(record.get("step")))
        phase = record.get("phase")
        cols["phase"].append(str(phase) if phase is not None else None)
        cols["record"].append(json.dumps(record, separators=(",", ":"), default=str))
    cols["run_key"] = [run_key] * len(cols["run_id"])
    types = {"seq": pa.int64(), "t": pa.float64(), "step": pa.int64(), "run_key": pa.int32()}
    frame = pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in cols.items()})
    if not resume:
        conn.execute("DELETE FROM events WHERE run_key = ?", [run_key])
    _insert_arrow(conn, "events", frame)
    notes = [f"{len(bad)} line(s) that are not JSON objects skipped (line {bad[0]}…)"] if bad else []
    return _Record(EVENTS, fp, consumed=offset + end, rows=first_seq + len(lines)), notes


def _load_metrics(conn: duckdb.DuckDBPyConnection, run_id: str, run_key: int, path: Path,
                  fp: Fingerprint) -> _Record:
    data = _read_json_file(path)
    tasks = data.get("tasks") if isinstance(data, dict) else None
    if not isinstance(tasks, dict):
        raise IngestProblem("has no 'tasks' mapping")
    rows = [(str(task), str(metric), _num(value))
            for task, values in tasks.items() if isinstance(values, dict)
            for metric, value in values.items()
            if not isinstance(value, bool) and isinstance(value, (int, float))]
    frame = pa.table({"run_id": pa.array([run_id] * len(rows), pa.string()),
                      "task": pa.array([r[0] for r in rows], pa.string()),
                      "metric": pa.array([r[1] for r in rows], pa.string()),
                      "value": pa.array([r[2] for r in rows], pa.float64()),
                      "run_key": pa.array([run_key] * len(rows), pa.int32())})
    conn.execute("DELETE FROM metrics WHERE run_key = ?", [run_key])
    _insert_arrow(conn, "metrics", frame)
    return _Record(METRICS, fp, rows=len(rows))


def _load_run_row(conn: duckdb.DuckDBPyConnection, run_id: str, run_dir: Path,
                  fps: dict[str, Fingerprint | None]) -> tuple[list[_Record], list[str]]:
    """(Re)write the run's row in `runs` from spec.json and status.json (whatever of them is readable)."""
    values: dict[str, Any] = {}
    records, warnings = [], []
    for name in (SPEC, STATUS):
        fp = fps.get(name)
        if fp is None:
            continue
        try:
            values[name] = _read_json_file(run_dir / name)
            records.append(_Record(name, fp, rows=1))
        except (IngestProblem, OSError) as exc:
            records.append(_Record(name, fp, error=str(exc)))
            warnings.append(f"run {run_id}: {name} {exc}; skipped, retried when it changes")
    row = {"run_id": run_id, **_spec_fields(values.get(SPEC)), **_status_fields(values.get(STATUS)),
           "ingested_at": time.time()}
    conn.execute("DELETE FROM runs WHERE run_id = ?", [run_id])
    marks = ", ".join("?" * len(_RUN_COLUMNS))
    conn.execute(f"INSERT INTO runs ({', '.join(_RUN_COLUMNS)}) VALUES ({marks})",
                 [row.get(c) for c in _RUN_COLUMNS])
    return records, warnings


def _changed(fp: Fingerprint | None, known: _Known | None) -> bool:
    if fp is None:
        return known is not None
    return known is None or known.fp != fp


def ingest_run(target: Settings | duckdb.DuckDBPyConnection, run_dir: Path,
               report: IngestReport | None = None) -> IngestReport:
    """Ingest one run directory: every file whose fingerprint changed since the last ingest.

    `target` is Settings (a write connection is opened for this call, under the ingest lock) or an
    open read-write connection. Returns the report (a fresh one unless `report` is given).
    """
    run_dir = Path(run_dir)
    if report is None:
        path = target.db_path if isinstance(target, Settings) else Path("<connection>")
        report = IngestReport(db_path=path)
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if isinstance(target, Settings):
            stack.enter_context(_ingest_lock(target.db_path, wait=True))
        conn = stack.enter_context(db.connect(target, read_only=False))
        fps = {name: fingerprint(run_dir / name) for name in RUN_FILES}
        _ingest_run_files(conn, run_dir, fps, _known_files_for(conn, run_dir.name), report)
    report.runs_seen += 1
    report.elapsed_s += time.perf_counter() - started
    return report


class _FileFailed(Exception):
    """One file of a run failed inside the run's transaction (which is then retried without it)."""

    def __init__(self, name: str, reason: str):
        super().__init__(name, reason)
        self.name = name
        self.reason = reason


def _ingest_run_files(conn: duckdb.DuckDBPyConnection, run_dir: Path, fps: dict[str, Fingerprint | None],
                      known: dict[str, _Known], report: IngestReport) -> None:
    """Apply a run's changed files in one transaction (one commit, and readers never see half a run).

    A file that fails aborts the transaction, which is redone without it; the failure is recorded
    with the file's fingerprint so it is not retried until it changes.
    """
    run_id = run_dir.name
    changed = [name for name in RUN_FILES if _changed(fps.get(name), known.get(name))]
    if not changed:
        return
    failed: dict[str, str] = {}
    while True:
        rows: dict[str, int] = {}
        warnings: list[str] = []
        try:
            with _transaction(conn):
                records, gone = _apply_run_files(conn, run_dir, fps, known, changed, failed, rows, warnings)
                _write_records(conn, run_id, records, gone)
            break
        except _FileFailed as exc:
            failed[exc.name] = exc.reason
    report.runs_updated.append(run_id)
    report.warnings.extend(warnings)
    report.warnings.extend(f"run {run_id}: {n} {why}; skipped, retried when it changes"
                           for n, why in failed.items())
    report.files_ingested += sum(1 for n in changed if fps.get(n) is not None and n not in failed)
    for table, count in rows.items():
        report.add_rows(table, count)


def _apply_run_files(conn: duckdb.DuckDBPyConnection, run_dir: Path, fps: dict[str, Fingerprint | None],
                     known: dict[str, _Known], changed: list[str], failed: dict[str, str],
                     rows: dict[str, int], warnings: list[str]) -> tuple[list[_Record], list[str]]:
    run_id = run_dir.name
    run_key = _run_key(conn, run_id)
    records: list[_Record] = []
    gone: list[str] = []
    if SPEC in changed or STATUS in changed:
        run_records, run_warnings = _load_run_row(conn, run_id, run_dir, fps)
        records += run_records
        warnings += run_warnings
        rows["runs"] = 1
    for name in changed:
        if name in (SPEC, STATUS):
            if fps.get(name) is None:
                gone.append(name)
            continue
        fp = fps.get(name)
        table = schema.ARTIFACT_TABLES.get(name) or {EVENTS: "events", METRICS: "metrics"}[name]
        if fp is None:  # the file is gone (e.g. a phase being redone): so are its rows
            conn.execute(f"DELETE FROM {table} WHERE run_key = ?", [run_key])
            _refresh_summaries(conn, run_key, table)
            gone.append(name)
            continue
        if name in failed:
            old = known.get(name)
            records.append(_Record(name, fp, rows=old.rows if old else 0, error=failed[name]))
            continue
        try:
            notes: list[str] = []
            if name == EVENTS:
                record, notes = _load_events(conn, run_id, run_key, run_dir / name, fp, known.get(name))
            elif name == METRICS:
                record = _load_metrics(conn, run_id, run_key, run_dir / name, fp)
            else:
                record, notes = _load_artifact(conn, run_id, run_key, run_dir / name, table, fp)
        except (IngestProblem, OSError) as exc:
            raise _FileFailed(name, str(exc)) from exc
        records.append(record)
        if name == EVENTS:
            rows[table] = record.rows - (known[name].rows if name in known and not known[name].error else 0)
        else:
            rows[table] = record.rows
        warnings.extend(f"run {run_id}: {name}: {note}" for note in notes)
    return records, gone


def _ingest_study(conn: duckdb.DuckDBPyConnection, folder: Path, fp: Fingerprint,
                  report: IngestReport) -> None:
    owner = STUDY_PREFIX + folder.name
    try:
        data = _read_json_file(folder / STUDY)
        if not isinstance(data, dict) or not isinstance(data.get("runs", []), list):
            raise IngestProblem("is not a study record (an object with a 'runs' list)")
    except (IngestProblem, OSError) as exc:
        report.warnings.append(f"study {folder.name}: {STUDY} {exc}; skipped, retried when it changes")
        with _transaction(conn):
            _write_records(conn, owner, [_Record(STUDY, fp, error=str(exc))])
        return
    study_id = str(data.get("study_id") or folder.name)
    spec = data.get("spec") if isinstance(data.get("spec"), dict) else {}
    members = [m for m in data.get("runs", []) if isinstance(m, dict) and m.get("run_id")]
    with _transaction(conn):
        _delete_study(conn, folder.name)
        _delete_study(conn, study_id)
        conn.execute(
            "INSERT INTO studies (study_id, name, description, submitted_at, spec_json) "
            "VALUES (?, ?, ?, ?, ?)",
            [study_id, data.get("name") or spec.get("name"), spec.get("description"),
             _num(data.get("submitted_at")), json.dumps(spec, sort_keys=True)],
        )
        for position, member in enumerate(members):
            conn.execute(
                "INSERT INTO study_runs (study_id, position, run_id, config, model, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [study_id, position, str(member["run_id"]), member.get("config"), member.get("model"),
                 bool(member.get("created")) if member.get("created") is not None else None],
            )
        _write_records(conn, owner, [_Record(STUDY, fp, rows=len(members))])
    report.studies_updated.append(study_id)
    report.files_ingested += 1
    report.add_rows("study_runs", len(members))


def _delete_study(conn: duckdb.DuckDBPyConnection, folder_name: str) -> None:
    """Remove a study's rows: by its folder (the engine names folders by study id)."""
    conn.execute("DELETE FROM study_runs WHERE study_id = ?", [folder_name])
    conn.execute("DELETE FROM studies WHERE study_id = ?", [folder_name])


def _prune_runs(conn: duckdb.DuckDBPyConnection, run_ids: list[str]) -> None:
    if not run_ids:
        return
    marks = ", ".join("?" for _ in run_ids)
    with _transaction(conn):
        keys = [k for (k,) in conn.execute(f"SELECT run_key FROM run_keys WHERE run_id IN ({marks})",
                                           run_ids).fetchall()]
        if keys:
            key_marks = ", ".join("?" for _ in keys)
            for table in schema.KEYED_TABLES:
                conn.execute(f"DELETE FROM {table} WHERE run_key IN ({key_marks})", keys)
        for table in ("runs", "run_keys", "ingested_files"):
            column = "owner" if table == "ingested_files" else "run_id"
            conn.execute(f"DELETE FROM {table} WHERE {column} IN ({marks})", run_ids)


# --- whole-store operations -------------------------------------------------------------------------


@contextlib.contextmanager
def _ingest_lock(db_file: Path, wait: bool) -> Iterator[bool]:
    """One ingest at a time per database, across processes and threads (flock on a side file)."""
    db_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(db_file.with_name(db_file.name + ".ingest-lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class _WriteSessions:
    """Hands out a write connection, closing it after SESSION_S so readers get a turn."""

    def __init__(self, path: Path, report: IngestReport, hold_s: float = SESSION_S):
        self.path = path
        self.report = report
        self.hold_s = hold_s
        self.conn: duckdb.DuckDBPyConnection | None = None
        self._cm: Any = None
        self._opened = 0.0

    def get(self) -> duckdb.DuckDBPyConnection:
        """The session's write connection (a new session when the current one is old)."""
        if self.conn is not None and time.monotonic() - self._opened > self.hold_s:
            self.close()
            time.sleep(SESSION_GAP_S)
        if self.conn is None:
            self._cm = db.connect(self.path, read_only=False)
            self.conn = self._cm.__enter__()  # pylint: disable=unnecessary-dunder-call
            # Checkpoint when the session closes, not every 16 MB of WAL in between.
            self.conn.execute("SET checkpoint_threshold = '1GB'")
            self._opened = time.monotonic()
            self.report.write_sessions += 1
        return self.conn

    def close(self) -> None:
        """End the session (DuckDB checkpoints on close)."""
        if self._cm is not None:
            self._cm.__exit__(None, None, None)
        self.conn = self._cm = None


def _ingest(settings: Settings, report: IngestReport, run_ids: Iterable[str] | None) -> IngestReport:
    started = time.perf_counter()
    only = list(run_ids) if run_ids is not None else None
    disk_runs = scan_runs(settings.runs_dir, only)
    disk_studies = scan_studies(settings.studies_dir) if only is None else {}
    report.runs_seen = len(disk_runs)
    report.studies_seen = len(disk_studies)
    # Planning reads only the fingerprints, on a read-only connection: a sync that finds nothing
    # to do never takes the write lock.
    with db.connect(settings, read_only=True) as conn:
        known = _known_files(conn)
        db_runs = {r[0] for r in conn.execute("SELECT run_id FROM runs").fetchall()}
    known_runs = {o for o in known if not o.startswith(STUDY_PREFIX)} | db_runs
    todo = [r for r, fps in disk_runs.items()
            if any(_changed(fps[n], known.get(r, {}).get(n)) for n in RUN_FILES)]
    # New runs get their run_key in submission order (a study's runs were submitted together), so
    # a study's rows stay close together in every table, after a reindex too.
    todo.sort(key=lambda r: (_submitted_at(settings.runs_dir / r), r))
    prune = sorted(known_runs - set(disk_runs)) if only is None else []
    studies_todo = [s for s, fp in disk_studies.items()
                    if _changed(fp, known.get(STUDY_PREFIX + s, {}).get(STUDY))]
    studies_gone = sorted(o[len(STUDY_PREFIX):] for o in known if o.startswith(STUDY_PREFIX)
                          and o[len(STUDY_PREFIX):] not in disk_studies) if only is None else []
    if todo or prune or studies_todo or studies_gone:
        sessions = _WriteSessions(settings.db_path, report,
                                  BULK_SESSION_S if len(todo) > BULK_RUNS else SESSION_S)
        try:
            if prune:
                _prune_runs(sessions.get(), prune)
                report.runs_pruned.extend(prune)
            for run_id in todo:
                conn = sessions.get()
                # Re-read this run's fingerprints under the write lock: the plan may be stale.
                fresh = {n: fingerprint(settings.runs_dir / run_id / n) for n in RUN_FILES}
                mine = _known_files_for(conn, run_id)
                _ingest_run_files(conn, settings.runs_dir / run_id, fresh, mine, report)
            for folder in studies_todo:
                fp = fingerprint(settings.studies_dir / folder / STUDY)
                if fp is not None:
                    _ingest_study(sessions.get(), settings.studies_dir / folder, fp, report)
            if studies_gone:
                conn = sessions.get()
                with _transaction(conn):
                    for folder in studies_gone:
                        _delete_study(conn, folder)
                        _write_records(conn, STUDY_PREFIX + folder, [], forget=[STUDY])
                report.studies_pruned.extend(studies_gone)
        finally:
            sessions.close()
    report.warnings.extend(_standing_problems(known, disk_runs, disk_studies, report))
    report.elapsed_s += time.perf_counter() - started
    return report


def _submitted_at(run_dir: Path) -> float:
    try:
        with open(run_dir / STATUS, encoding="utf-8") as fh:
            value = json.load(fh).get("submitted_at")
    except (OSError, ValueError, AttributeError):
        return math.inf
    return _num(value) if _num(value) is not None else math.inf


def _known_files_for(conn: duckdb.DuckDBPyConnection, owner: str) -> dict[str, _Known]:
    rows = conn.execute(
        "SELECT artifact, size, mtime_ns, inode, consumed, rows, error FROM ingested_files WHERE owner = ?",
        [owner],
    ).fetchall()
    return {a: _Known((s, m, i), c or 0, n or 0, e) for a, s, m, i, c, n, e in rows}


def _standing_problems(known: dict[str, dict[str, _Known]],
                       disk_runs: dict[str, dict[str, Fingerprint | None]],
                       disk_studies: dict[str, Fingerprint], report: IngestReport) -> list[str]:
    """Files still broken since an earlier ingest and unchanged since: reported again, not re-read."""
    out = []
    for owner, files in sorted(known.items()):
        for artifact, seen in sorted(files.items()):
            if not seen.error:
                continue
            if owner.startswith(STUDY_PREFIX):
                folder = owner[len(STUDY_PREFIX):]
                still = disk_studies.get(folder) == seen.fp
                what = f"study {folder}"
            else:
                still = (disk_runs.get(owner) or {}).get(artifact) == seen.fp
                what = f"run {owner}"
            if still:
                out.append(f"{what}: {artifact} {seen.error}; skipped, retried when it changes")
    return [w for w in out if w not in report.warnings]


def ingest_all(settings: Settings, run_ids: Iterable[str] | None = None, wait: bool = True) -> IngestReport:
    """Bring the database up to date with the run and study directories.

    `run_ids` limits the work to those runs (no pruning, no studies): what the worker calls after
    a run changes state. `wait=False` returns at once (report.skipped says why) when another ingest
    of the same database is running: what the app's sync on page load wants.
    """
    report = IngestReport(db_path=settings.db_path)
    with _ingest_lock(settings.db_path, wait) as locked:
        if not locked:
            report.skipped = "another ingest of this database is running"
            return report
        return _ingest(settings, report, run_ids)


def reindex(settings: Settings) -> IngestReport:
    """Drop every table and rebuild the database from the run and study directories.

    A database file that DuckDB cannot open at all is moved aside (`<name>.corrupt-<time>`) first.
    Readers see a partial index while the rebuild runs.
    """
    started = time.perf_counter()
    report = IngestReport(db_path=settings.db_path, rebuilt=True)
    with _ingest_lock(settings.db_path, wait=True):
        try:
            with db.connect(settings, read_only=False) as conn:
                schema.drop_all(conn)
                schema.migrate(conn)
        except (db.StoreError, schema.SchemaTooNewError) as exc:
            if isinstance(exc, db.StoreBusyError):
                raise
            stamp = time.strftime("%Y%m%d-%H%M%S")
            for suffix in ("", ".wal"):
                source = Path(str(settings.db_path) + suffix)
                if source.exists():
                    source.rename(Path(f"{settings.db_path}{suffix}.corrupt-{stamp}"))
            report.warnings.append(f"{settings.db_path} could not be opened ({exc}); moved aside, rebuilt")
            db.ensure_database(settings)
        with db.connect(settings, read_only=False) as conn:
            conn.execute("CHECKPOINT")
        _ingest(settings, report, None)
        with db.connect(settings, read_only=False) as conn:
            conn.execute("CHECKPOINT")
    report.elapsed_s = time.perf_counter() - started
    return report
