"""What every named query shares: running SQL on a short read-only connection, binding run ids to
their integer run keys (written into the SQL as literals, so DuckDB's zonemaps skip every run not
asked for), optional filters, and turning DuckDB's LIST columns into Python lists."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from store import db

RUN_INFO = "r.label, r.model, r.model_size, r.model_params_b, r.method, r.is_multitask"


def fetch(source: db.Source, sql: str, params: Sequence[Any] = (),
          runs: dict[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """Run `sql` on a read-only connection; `@name@` in it becomes the run keys of runs[name]."""
    with db.connect(source, read_only=True) as conn:
        if runs:
            sql = _bind_runs(conn, sql, runs)
        return conn.execute(sql, list(params)).df()


def _bind_runs(conn: Any, sql: str, runs: dict[str, Sequence[str]]) -> str:
    """`@name@` → the comma-separated run keys of runs[name] (NULL when none is known)."""
    wanted = sorted({r for ids in runs.values() for r in ids})
    keys: dict[str, int] = {}
    if wanted:
        sql_keys = f"SELECT run_id, run_key FROM run_keys WHERE run_id IN ({placeholders(wanted)})"
        keys = dict(conn.execute(sql_keys, wanted).fetchall())
    for name, ids in runs.items():
        found = [str(int(keys[r])) for r in ids if r in keys]  # integers only: safe as literals
        sql = sql.replace(f"@{name}@", ", ".join(found) or "NULL")
    return sql


def key_filter(column: str, run_ids: Sequence[str] | None, runs: dict[str, Sequence[str]],
               name: str = "ids") -> str:
    """` AND column IN (@name@)` when run_ids are given (None = every run)."""
    if run_ids is None:
        return ""
    runs[name] = id_list(run_ids)
    return f" AND {column} IN (@{name}@)"


def placeholders(values: Sequence[Any]) -> str:
    """Placeholders for an IN list; an empty list matches nothing (and keeps the columns)."""
    return ", ".join("?" for _ in values) if values else "NULL"


def id_list(values: str | Sequence[str] | None) -> list[str]:
    """Run ids as a list of strings (one id, a sequence of them, or None for none)."""
    if values is None:
        return []
    if isinstance(values, str):
        return [values]
    return [str(v) for v in values]


def as_lists(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
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


def optional_in(column: str, values: Sequence[Any] | None, params: list[Any]) -> str:
    """` AND column IN (...)` when values are given (None = no filter)."""
    if values is None:
        return ""
    params.extend(values)
    return f" AND {column} IN ({placeholders(values)})"


def optional_eq(column: str, value: Any, params: list[Any]) -> str:
    """` AND column = ?` when a value is given (None = no filter)."""
    if value is None:
        return ""
    params.append(value)
    return f" AND {column} = ?"


def fetch_numbered(source: db.Source, sql: str, positional: list[Any], named: dict[str, Any],
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
    return fetch(source, "".join(out), values, runs)
