"""Versioned migrations: recorded versions, idempotence, upgrading an old database, refusing a newer one."""

from __future__ import annotations

import duckdb
import pytest

from engine.runs.rundir import ARTIFACT_SCHEMAS
from store import db, schema


def versions(path) -> list[int]:
    conn = duckdb.connect(str(path), read_only=True)
    try:
        return [v for (v,) in conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall()]
    finally:
        conn.close()


def test_a_new_database_gets_every_migration_once(settings):
    db.ensure_database(settings)
    assert versions(settings.db_path) == [m.version for m in schema.MIGRATIONS]
    with db.connect(settings, read_only=False) as conn:
        assert schema.migrate(conn) == []  # idempotent: nothing left to apply
    db.ensure_database(settings)
    assert versions(settings.db_path) == [m.version for m in schema.MIGRATIONS]


def test_versions_are_strictly_increasing():
    numbers = [m.version for m in schema.MIGRATIONS]
    assert numbers == sorted(set(numbers)) and numbers[0] == 1
    assert numbers[-1] == schema.LATEST_VERSION


def test_an_old_database_is_migrated_on_open_and_keeps_its_rows(settings):
    conn = duckdb.connect(str(settings.db_path))
    assert schema.migrate(conn, schema.MIGRATIONS[:1]) == [1]
    conn.execute("INSERT INTO metrics VALUES ('r1', 't', 'pass@1', 0.5, 1)")
    conn.close()
    assert versions(settings.db_path) == [1]

    with db.connect(settings, read_only=True) as conn:  # a reader triggers the upgrade
        assert schema.current_version(conn) == schema.LATEST_VERSION
        assert conn.execute("SELECT * FROM metrics").fetchall() == [("r1", "t", "pass@1", 0.5, 1)]
        conn.execute("SELECT * FROM sample_results").fetchall()  # the v2 view exists
    assert versions(settings.db_path) == [m.version for m in schema.MIGRATIONS]


def test_a_failing_migration_leaves_the_previous_version(settings):
    broken = (*schema.MIGRATIONS, schema.Migration(schema.LATEST_VERSION + 1, "broken", "CREATE TABLE x (;"))
    conn = duckdb.connect(str(settings.db_path))
    try:
        with pytest.raises(duckdb.Error):
            schema.migrate(conn, broken)
        assert schema.current_version(conn) == schema.LATEST_VERSION
    finally:
        conn.close()


def test_a_newer_database_is_refused_with_a_fix(settings):
    db.ensure_database(settings)
    conn = duckdb.connect(str(settings.db_path))
    conn.execute("INSERT INTO schema_version (version, description) VALUES (999, 'from the future')")
    conn.close()
    with pytest.raises(schema.SchemaTooNewError, match="reindex"), db.connect(settings, read_only=True):
        pass
    with pytest.raises(schema.SchemaTooNewError), db.connect(settings, read_only=False):
        pass


def test_artifact_tables_match_the_engine_schemas(settings):
    db.ensure_database(settings)
    with db.connect(settings) as conn:
        for file_name, table in schema.ARTIFACT_TABLES.items():
            columns = [c for (c,) in conn.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index", [table]
            ).fetchall()]
            # the engine's columns in the engine's order, then the store's integer run key
            assert columns == [*ARTIFACT_SCHEMAS[file_name.removesuffix(".parquet")].names, "run_key"], table


def test_drop_all_then_migrate_gives_an_empty_current_database(settings):
    db.ensure_database(settings)
    with db.connect(settings, read_only=False) as conn:
        conn.execute("INSERT INTO metrics VALUES ('r', 't', 'm', 1, 1)")
        schema.drop_all(conn)
        assert schema.current_version(conn) == 0
        schema.migrate(conn)
        assert conn.execute("SELECT count(*) FROM metrics").fetchone()[0] == 0
        assert schema.current_version(conn) == schema.LATEST_VERSION
