"""The ingest: bringing the DuckDB index up to date with the run and study directories
(`ingest_all`), or rebuilding it (`reindex`); one ingest at a time per database, writing in short
sessions. The run directory is the record (engine.runs.rundir); this module only orchestrates.

* Incremental: every file is fingerprinted (store.scan). A file whose fingerprint is unchanged is
  not read again, so an ingest with nothing changed reads only the fingerprints (through a
  read-only connection: it never blocks the app's readers) and writes nothing.
* Idempotent: a changed file replaces that run's rows from it, all of a run's changed files in one
  transaction (store.load), so re-ingesting never duplicates and readers never see half a run.
* A corrupt or partial file is skipped with a warning in the report and ingested as soon as it
  changes; an unchanged broken file costs nothing and is reported again.
* Runs and studies whose folders were deleted are pruned (store.prune).

Writes happen in short sessions (about a second each, three when there is a backlog; then the
write connection is closed for a moment) so the app's read-only queries get in between (measured
with 200 runs × 5,000 samples: a reader polling through a full reindex never failed and waited at
most 6.6 s, the session plus its checkpoint); one ingest at a time per database is ensured by a
lock file next to it (`<db>.ingest-lock`).

    store.report      IngestReport (what an ingest did), IngestProblem
    store.scan        fingerprints, scanning the folders, the ingested_files bookkeeping, the plan
    store.runs_table  the `runs` row of a run, derived through engine.vocabulary
    store.load        a run's files into the tables, in one transaction
    store.studies     study.json into `studies` / `study_runs`
    store.prune       removing deleted runs and studies
    store.reference   the reference study's per-sample results as read-only runs (whole-folder
                      ingest, skipped when only some runs are asked for)
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType

import duckdb

from engine.settings import Settings
from store import db, reference, scan, schema
from store.load import ingest_run_files
from store.prune import prune_runs, prune_studies
from store.report import IngestProblem, IngestReport
from store.studies import ingest_study

__all__ = ["IngestProblem", "IngestReport", "ingest_all", "reindex"]

# How long one write session may hold the database, and the pause after it (lets readers in).
# A backlog (first ingest, reindex) uses longer sessions: every session ends in a checkpoint that
# rewrites each table's last, partly filled row group, so short sessions make a bulk load several
# times slower (measured: 20 runs × 5,000 samples in 10.3 s with 1 s sessions, 6.4 s in one; a
# reindex of 200 such runs: 47 s in 8 s sessions, 55 s in 3 s sessions).
SESSION_S = 1.0
BULK_SESSION_S = 3.0
BULK_RUNS = 8
SESSION_GAP_S = 0.06


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
    """Hands out a write connection, closing it after `hold_s` so readers get a turn."""

    def __init__(self, path: Path, report: IngestReport, hold_s: float = SESSION_S):
        self.path = path
        self.report = report
        self.hold_s = hold_s
        self.conn: duckdb.DuckDBPyConnection | None = None
        self._cm: contextlib.AbstractContextManager[duckdb.DuckDBPyConnection] | None = None
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

    def __enter__(self) -> _WriteSessions:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


def _ingest(settings: Settings, report: IngestReport, run_ids: Iterable[str] | None) -> IngestReport:
    started = time.perf_counter()
    # Planning reads only the fingerprints, on a read-only connection: a sync that finds nothing
    # to do never takes the write lock.
    with db.connect(settings, read_only=True) as conn:
        plan = scan.plan(conn, settings.runs_dir, settings.studies_dir,
                         list(run_ids) if run_ids is not None else None)
        ref_plan = reference.plan(conn, settings.data_dir, reference.enabled()) if run_ids is None else None
    report.runs_seen = len(plan.runs)
    report.studies_seen = len(plan.studies)
    ref_todo = ref_plan is not None and ref_plan.changed
    if not plan.empty or ref_todo:
        hold = BULK_SESSION_S if len(plan.runs_todo) > BULK_RUNS else SESSION_S
        with _WriteSessions(settings.db_path, report, hold) as sessions:
            if plan.runs_gone:
                prune_runs(sessions.get(), plan.runs_gone)
                report.runs_pruned.extend(plan.runs_gone)
            for run_id in plan.runs_todo:
                conn = sessions.get()
                # Re-read this run's fingerprints under the write lock: the plan may be stale.
                run_dir = settings.runs_dir / run_id
                mine = scan.known_files(conn, run_id).get(run_id, {})
                ingest_run_files(conn, run_dir, scan.run_files(run_dir), mine, report)
            for folder in plan.studies_todo:
                fp = scan.fingerprint(settings.studies_dir / folder / scan.STUDY)
                if fp is not None:
                    ingest_study(sessions.get(), settings.studies_dir / folder, fp, report)
            if plan.studies_gone:
                prune_studies(sessions.get(), plan.studies_gone)
                report.studies_pruned.extend(plan.studies_gone)
            if ref_todo and ref_plan is not None:
                reference.apply(sessions.get(), ref_plan, report)
    report.warnings.extend(plan.standing_problems(report.warnings))
    if ref_plan is not None:
        report.warnings.extend(ref_plan.standing)
    report.elapsed_s += time.perf_counter() - started
    return report


def ingest_all(settings: Settings, run_ids: Iterable[str] | None = None, wait: bool = True) -> IngestReport:
    """Bring the database up to date with the run and study directories, and the reference runs with
    `<data_dir>/paper_results` (store.reference).

    `run_ids` limits the work to those runs (no pruning, no studies, no reference runs): what the worker calls after
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
