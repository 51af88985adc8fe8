"""Connections across processes: a reader waits out a writer in another process, and gives up clearly."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from store import db, ingest

HOLDER = """
import sys, time, duckdb
path, marker, hold = sys.argv[1], sys.argv[2], float(sys.argv[3])
read_only = sys.argv[4] == "ro"
conn = duckdb.connect(path, read_only=read_only)
if not read_only:
    conn.execute("INSERT INTO metrics VALUES ('held', 't', 'm', 1, 1)")
open(marker, "w").close()
time.sleep(hold)
conn.close()
"""


def hold_lock(path: Path, tmp_path: Path, seconds: float, mode: str = "rw") -> subprocess.Popen:
    """Start a process that opens the database and keeps it for `seconds`; returns once it holds it."""
    marker = tmp_path / f"held-{time.monotonic_ns()}"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), str(marker), str(seconds), mode])
    deadline = time.monotonic() + 30
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the lock-holding process did not start")
        time.sleep(0.01)
    return proc


def test_reader_retries_while_another_process_writes_and_succeeds_after(settings, tmp_path):
    db.ensure_database(settings)
    holder = hold_lock(settings.db_path, tmp_path, 1.0)
    try:
        started = time.monotonic()
        with db.connect(settings, read_only=True, timeout_s=20) as conn:
            waited = time.monotonic() - started
            rows = conn.execute("SELECT run_id FROM metrics").fetchall()
    finally:
        holder.wait(timeout=30)
    assert rows == [("held",)]  # it read what the writer committed
    assert waited > 0.3  # it really waited for the other process's lock


def test_reader_gives_up_with_a_clear_error(settings, tmp_path):
    db.ensure_database(settings)
    holder = hold_lock(settings.db_path, tmp_path, 1.5)
    try:
        started = time.monotonic()
        with pytest.raises(db.StoreBusyError, match=r"locked by .*pid \d+"), \
                db.connect(settings, read_only=True, timeout_s=0.4):
            pass
        assert time.monotonic() - started < 2.5
    finally:
        holder.wait(timeout=30)


def test_ingest_waits_for_a_reader_in_another_process(settings, make_run, tmp_path):
    make_run()
    db.ensure_database(settings)
    reader = hold_lock(settings.db_path, tmp_path, 0.8, mode="ro")
    try:
        report = ingest.ingest_all(settings)
    finally:
        reader.wait(timeout=30)
    assert len(report.runs_updated) == 1 and not report.warnings


def test_readers_in_other_processes_share_the_file(settings, tmp_path):
    db.ensure_database(settings)
    reader = hold_lock(settings.db_path, tmp_path, 1.0, mode="ro")
    try:
        started = time.monotonic()
        with db.connect(settings, read_only=True, timeout_s=5) as conn:
            conn.execute("SELECT 1").fetchall()
        assert time.monotonic() - started < 0.9  # no waiting: read-only opens do not conflict
    finally:
        reader.wait(timeout=30)


def test_a_missing_database_is_created_by_a_reader(settings):
    assert not settings.db_path.exists()
    with db.connect(settings, read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone() == (0,)


def test_an_open_connection_is_passed_through_and_left_open(settings):
    with db.connect(settings) as outer:
        with db.connect(outer) as inner:
            assert inner is outer
        assert outer.execute("SELECT 1").fetchone() == (1,)


def test_a_file_that_is_not_a_database_is_explained(tmp_path):
    path = tmp_path / "bad.duckdb"
    path.write_bytes(b"\x00garbage" * 512)
    with pytest.raises(db.StoreError, match="codetune reindex"), db.connect(path, read_only=True):
        pass


def test_in_process_reader_waits_for_a_writer_thread(settings):
    """Inside one process DuckDB refuses a read-only open while a read-write one is open: retried too."""
    db.ensure_database(settings)
    opened = threading.Event()

    def write() -> None:
        with db.connect(settings, read_only=False) as conn:
            conn.execute("INSERT INTO metrics VALUES ('thread', 't', 'm', 1, 1)")
            opened.set()
            time.sleep(0.5)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert opened.wait(10)
        started = time.monotonic()
        with db.connect(settings, read_only=True, timeout_s=20) as conn:
            waited = time.monotonic() - started
            rows = conn.execute("SELECT run_id FROM metrics").fetchall()
    finally:
        writer.join()
    assert rows == [("thread",)]
    assert waited > 0.2  # it got in only once the writer thread closed its connection


def test_reader_attaches_only_while_a_query_runs(settings, make_run, tmp_path):
    make_run()
    ingest.ingest_all(settings)
    reader = db.Reader(settings)
    try:
        with reader.connect() as conn:
            assert conn.execute("SELECT count(*) FROM runs").fetchall() == [(1,)]
        # idle: a writer in another process gets the file at once
        holder = hold_lock(settings.db_path, tmp_path, 0.1)
        holder.wait(timeout=30)
        assert holder.returncode == 0
        # a writer in another process holds it: the reader waits, then reads what it committed
        holder = hold_lock(settings.db_path, tmp_path, 0.8)
        try:
            started = time.monotonic()
            with reader.connect() as conn:
                waited = time.monotonic() - started
                rows = conn.execute("SELECT run_id FROM metrics WHERE run_id = 'held'").fetchall()
        finally:
            holder.wait(timeout=30)
        assert rows == [("held",), ("held",)] and waited > 0.3  # both writers' rows
    finally:
        reader.close()


def test_reader_and_an_in_process_writer_take_turns(settings, make_run):
    run = make_run()
    reader = db.Reader(settings)
    with reader.connect() as conn:
        conn.execute("SELECT 1").fetchall()
        done = threading.Event()
        thread = threading.Thread(target=lambda: (ingest.ingest_all(settings), done.set()))
        thread.start()
        time.sleep(0.3)
        assert not done.is_set()  # the ingest waits: this process has the file attached
    thread.join(timeout=60)
    assert done.is_set()
    with reader.connect() as conn:
        assert conn.execute("SELECT run_id FROM runs").fetchall() == [(run.name,)]
    reader.close()


def test_reader_starts_a_fresh_instance_after_a_fork(settings):
    reader = db.Reader(settings)
    with reader.connect() as conn:
        conn.execute("SELECT 1").fetchall()
    first = reader._base  # pylint: disable=protected-access
    reader._pid = -1  # pylint: disable=protected-access  # as if this were a forked child
    with reader.connect() as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchall() == [(0,)]
    assert reader._base is not first  # pylint: disable=protected-access
    reader.close()
