"""Chunked, resumable phase output: parquet parts in a folder, merged into one artifact at the end."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.runs.rundir import RunDir, write_table_atomic

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a parquet file as dicts ([] when it does not exist yet)."""
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist() if path.exists() else []


class Parts:
    """Chunked, resumable output: parquet parts in a folder, merged into one file at the end."""

    def __init__(self, run: RunDir, name: str, schema: pa.Schema):
        self.folder = run.file(f"{name}.parts")
        self.final = run.artifact(name)
        self.schema = schema

    def done_rows(self) -> list[dict[str, Any]]:
        """Rows of the parts written so far (for resuming)."""
        rows: list[dict[str, Any]] = []
        if self.folder.is_dir():
            for part in sorted(self.folder.glob("part-*.parquet")):
                rows.extend(read_rows(part))
        return rows

    def write(self, rows: list[dict[str, Any]]) -> None:
        """Write `rows` as the next numbered part."""
        import pyarrow as pa

        self.folder.mkdir(exist_ok=True)
        number = len(list(self.folder.glob("part-*.parquet")))
        write_table_atomic(self.folder / f"part-{number:05d}.parquet", pa.Table.from_pylist(rows, schema=self.schema))

    def finish(self, rows: list[dict[str, Any]]) -> None:
        """Write `rows` as the final artifact and remove the parts folder."""
        import shutil

        import pyarrow as pa

        write_table_atomic(self.final, pa.Table.from_pylist(rows, schema=self.schema))
        shutil.rmtree(self.folder, ignore_errors=True)


def chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    """`items` in consecutive slices of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start:start + size]
