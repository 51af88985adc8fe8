"""Pruning: removing from the index the runs and studies whose folders were deleted (a run's rows
in every per-run table, its key and its file records; a study's rows and its file record), each
batch in one transaction."""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from store import db, schema
from store.scan import STUDY, STUDY_PREFIX, write_records
from store.studies import delete_study


def prune_runs(conn: duckdb.DuckDBPyConnection, run_ids: list[str]) -> None:
    """Delete every row of these runs (run ids)."""
    if not run_ids:
        return
    marks = ", ".join("?" for _ in run_ids)
    with db.transaction(conn):
        keys = [k for (k,) in conn.execute(f"SELECT run_key FROM run_keys WHERE run_id IN ({marks})",
                                           run_ids).fetchall()]
        if keys:
            key_marks = ", ".join("?" for _ in keys)
            for table in schema.KEYED_TABLES:
                conn.execute(f"DELETE FROM {table} WHERE run_key IN ({key_marks})", keys)
        for table in ("runs", "run_keys", "ingested_files"):
            column = "owner" if table == "ingested_files" else "run_id"
            conn.execute(f"DELETE FROM {table} WHERE {column} IN ({marks})", run_ids)


def prune_studies(conn: duckdb.DuckDBPyConnection, folders: Iterable[str]) -> None:
    """Forget the studies whose folders were deleted: their rows and their file records."""
    with db.transaction(conn):
        for folder in folders:
            delete_study(conn, folder)
            write_records(conn, STUDY_PREFIX + folder, [], forget=[STUDY])
