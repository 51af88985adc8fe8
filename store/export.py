"""Export of the store's tables and of any query's result to Parquet or CSV (files or bytes).

Tables are copied by DuckDB itself (`COPY … TO`, streaming, no pandas round trip) through a
read-only connection; a DataFrame (a named query's result, a comparison the page computed) is
written with pyarrow / pandas. Files are written under a temporary name and renamed, so a reader
never sees half an export. The format is the `fmt` argument or, when omitted, the file's suffix.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from store import db, queries, schema

FORMATS = ("parquet", "csv")
EXPORTABLE: tuple[str, ...] = (*schema.DATA_TABLES, *schema.VIEWS, "ingested_files")


def _format(path: Path, fmt: str | None) -> str:
    chosen = (fmt or path.suffix.lstrip(".")).lower()
    if chosen not in FORMATS:
        raise ValueError(f"unknown export format {chosen or '(none)'!r} for {path}; use one of "
                         f"{', '.join(FORMATS)} (as fmt=, or as the file's suffix)")
    return chosen


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def export_table(source: db.Source, name: str, path: str | os.PathLike, fmt: str | None = None) -> Path:
    """Write a whole table (or view) of the store to `path` as Parquet or CSV; returns the path."""
    if name not in EXPORTABLE:
        raise ValueError(f"unknown table {name!r}; exportable: {', '.join(EXPORTABLE)}")
    target = Path(path)
    kind = _format(target, fmt)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(target)
    options = "FORMAT parquet, COMPRESSION zstd" if kind == "parquet" else "FORMAT csv, HEADER true"
    literal = str(tmp).replace("'", "''")  # COPY takes no parameter for its target
    try:
        with db.connect(source, read_only=True) as conn:
            conn.execute(f"COPY (SELECT * FROM {name}) TO '{literal}' ({options})")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def frame_bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    """A DataFrame as Parquet or CSV bytes (what a page's download button serves)."""
    kind = _format(Path(f"x.{fmt}"), fmt)
    if kind == "csv":
        return frame.to_csv(index=False).encode("utf-8")
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer, compression="zstd")
    return buffer.getvalue()


def export_frame(frame: pd.DataFrame, path: str | os.PathLike, fmt: str | None = None) -> Path:
    """Write a DataFrame to `path` as Parquet or CSV; returns the path."""
    target = Path(path)
    data = frame_bytes(frame, _format(target, fmt))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(target)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def export_query(source: db.Source, query: str, path: str | os.PathLike, fmt: str | None = None,
                 **params: Any) -> Path:
    """Run the named query (store.queries.QUERIES) with `params` and write its result to `path`."""
    return export_frame(queries.run_query(source, query, **params), path, fmt)
