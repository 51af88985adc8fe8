"""Query results as downloadable files: a DataFrame (a named query's result, a comparison the page
computed) as Parquet or CSV bytes, what the pages' download buttons serve."""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

FORMATS = ("parquet", "csv")


def frame_bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    """A DataFrame as Parquet or CSV bytes (what a page's download button serves)."""
    kind = fmt.lower()
    if kind not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    if kind == "csv":
        return frame.to_csv(index=False).encode("utf-8")
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer, compression="zstd")
    return buffer.getvalue()
