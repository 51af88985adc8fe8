"""Reading a user's dataset as published: JSON Lines, a JSON array, CSV/TSV with a header row, Parquet,
or a folder written by Hugging Face `datasets` (`Dataset.save_to_disk`).

`detect_format` picks the format from a declared one, else from the file's extension (`.gz` allowed
after the text formats) or, for a folder, from what `save_to_disk` writes. `read_records` yields
(position, record) pairs, the position counted the way a user finds the row again: the line of a
JSONL/CSV/TSV file, the record of a JSON array, the row of a Parquet file or a saved dataset
(`Records.unit` says which). Values keep their types (a number stays a number); deciding what is a
usable value is engine.tasks.rows' job. Whatever is wrong with the file itself (missing, not UTF-8, a
broken line, a ragged CSV row, a missing column, an unreadable Parquet file) is a DataError naming
the file, the position and the fix.

A saved dataset is read with pyarrow from the Arrow files `state.json` lists (no `datasets` import in
the app process); only a dataset saved with an indices mapping falls back to `datasets.load_from_disk`.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.tasks.base import DataError, decoded_lines, json_line

FORMATS = ("jsonl", "json", "csv", "tsv", "parquet", "hf")
EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
              ".tab": "tsv", ".parquet": "parquet", ".pq": "parquet"}
UNITS = {"jsonl": "line", "json": "record", "csv": "line", "tsv": "line", "parquet": "row", "hf": "row"}
TEXT_FORMATS = ("jsonl", "json", "csv", "tsv")  # may be gzip-compressed (.gz)
FORMAT_FIX = "declare the format in the custom task: `format: jsonl|json|csv|tsv|parquet|hf`"


@dataclass
class Records:
    """A dataset being read: its format, how positions are counted, its columns when the format has a
    schema (CSV header, Parquet, saved dataset; None for JSON) and the (position, record) pairs."""

    path: Path
    format: str
    unit: str
    columns: list[str] | None
    rows: Iterator[tuple[int, dict[str, Any]]]


def detect_format(path: Path, declared: str | None = None) -> str:
    """The format of `path`: `declared` if given, else by extension, else a saved-dataset folder."""
    if declared:
        if declared not in FORMATS:
            raise DataError(f"unknown dataset format '{declared}'", file=path,
                            fix=f"use one of {', '.join(FORMATS)}")
        return declared
    if path.is_dir():
        return "hf"
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    if suffixes and suffixes[-1] == ".gz":
        inner = EXTENSIONS.get(suffixes[0]) if len(suffixes) == 2 else None
        if inner in TEXT_FORMATS:
            return inner
    elif suffixes and suffixes[-1] in EXTENSIONS:
        return EXTENSIONS[suffixes[-1]]
    raise DataError(f"cannot tell the dataset format from the name '{path.name}'", file=path,
                    fix=f"{FORMAT_FIX} (extensions known: {', '.join(sorted(EXTENSIONS))}, and .gz after a "
                    "text format)")


def read_records(path: Path, fmt: str, needed: Sequence[str] = ()) -> Records:
    """Open `path` as `fmt`; `needed` are the fields the caller reads (a columnar format checks its
    columns up front and reads only those)."""
    if fmt == "hf":
        if not path.is_dir():
            raise DataError("a saved Hugging Face dataset is a folder, but this is a file", file=path,
                            fix=f"point at the folder written by save_to_disk, or {FORMAT_FIX}")
    elif not path.is_file():
        raise DataError("is a folder, not a data file" if path.is_dir() else "the file does not exist", file=path,
                        fix="give an absolute path, or one relative to the data directory")
    readers = {"jsonl": _jsonl, "json": _json, "csv": _delimited, "tsv": _delimited, "parquet": _parquet,
               "hf": _saved_dataset}
    return readers[fmt](path, fmt, list(needed))


def _check_columns(path: Path, columns: list[str], needed: list[str], what: str) -> None:
    for name in needed:
        if name not in columns:
            raise DataError(f"no column '{name}' in the {what}", file=path, field_name=name,
                            fix=f"map the field to one of the columns: {', '.join(columns) or '(none)'}")


# --- text formats --------------------------------------------------------------------------------


def _jsonl(path: Path, fmt: str, needed: list[str]) -> Records:
    del needed

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        for lineno, line in decoded_lines(path):
            if line.strip():
                yield lineno, json_line(path, lineno, line)

    return Records(path, fmt, UNITS[fmt], None, rows())


def _json(path: Path, fmt: str, needed: list[str]) -> Records:
    text = "".join(line for _, line in decoded_lines(path))
    if not text.strip():
        return Records(path, fmt, UNITS[fmt], None, iter(()))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data" and text.lstrip().startswith("{"):
            return _jsonl(path, "jsonl", needed)  # JSON Lines saved as .json (datasets' to_json does this)
        raise DataError(f"not valid JSON ({exc.msg} at column {exc.colno})", file=path, line=exc.lineno,
                        fix="repair the JSON (a file with one object per line: name it .jsonl or declare "
                        "`format: jsonl`)") from exc
    if isinstance(data, dict):
        lists = [key for key, value in data.items() if isinstance(value, list)]
        raise DataError("the file holds one JSON object, not an array of records", file=path,
                        fix=(f"save the records under '{lists[0]}' as a JSON array of objects" if lists else
                             "save the examples as a JSON array of objects, one per example"))
    if not isinstance(data, list):
        raise DataError(f"the file holds a JSON {type(data).__name__}, not an array of records", file=path,
                        fix="save the examples as a JSON array of objects, one per example")

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        for number, record in enumerate(data, start=1):
            if not isinstance(record, dict):
                raise DataError(f"the record is a JSON {type(record).__name__}, not an object", file=path,
                                line=number, unit="record", fix="make every element of the array an {...} object")
            yield number, record

    return Records(path, fmt, UNITS[fmt], None, rows())


def _delimited(path: Path, fmt: str, needed: list[str]) -> Records:
    delimiter = "\t" if fmt == "tsv" else ","
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # long prompts are the preflight's to report
    lines = decoded_lines(path)
    positions: list[int] = []  # the line each physical line read by csv came from

    def source() -> Iterator[str]:
        for lineno, line in lines:
            positions.append(lineno)
            yield line

    reader = csv.reader(source(), delimiter=delimiter)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise DataError(f"the header row is not valid {fmt.upper()} ({exc})", file=path, line=1,
                        fix="the first line must name the columns") from exc
    columns = [name.strip() for name in header] if header else []
    if header:
        _check_columns(path, columns, needed, "header row")

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        while True:
            start = len(positions) + 1
            try:
                values = next(reader, None)
            except csv.Error as exc:
                raise DataError(f"not valid {fmt.upper()} ({exc})", file=path, line=positions[-1] if positions
                                else start, fix="quote values that hold the delimiter, quotes or line breaks") from exc
            if values is None:
                return
            if not values:  # a blank line
                continue
            if len(values) != len(columns):
                raise DataError(f"{len(values)} values, but the header names {len(columns)} columns", file=path,
                                line=positions[start - 1],
                                fix=f"quote values that contain the delimiter ({delimiter!r}) or line breaks")
            yield positions[start - 1], dict(zip(columns, values, strict=True))

    return Records(path, fmt, UNITS[fmt], columns, rows())


# --- columnar formats ----------------------------------------------------------------------------


def _parquet(path: Path, fmt: str, needed: list[str]) -> Records:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pylint: disable=broad-exception-caught  # pyarrow raises several kinds
        raise DataError(f"not a readable Parquet file ({exc})", file=path,
                        fix=f"write it with pandas/pyarrow `to_parquet`, or {FORMAT_FIX}") from exc
    columns = list(parquet.schema_arrow.names)
    _check_columns(path, columns, needed, "Parquet schema")

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        number = 0
        for batch in parquet.iter_batches(batch_size=1024, columns=needed or None):
            for record in batch.to_pylist():
                number += 1
                yield number, record

    return Records(path, fmt, UNITS[fmt], columns, rows())


def _saved_dataset(path: Path, fmt: str, needed: list[str]) -> Records:
    if (path / "dataset_dict.json").is_file():
        splits = _json_file(path / "dataset_dict.json").get("splits") or sorted(
            p.name for p in path.iterdir() if (p / "state.json").is_file())
        first = splits[0] if splits else "train"
        raise DataError(f"a DatasetDict with splits {', '.join(map(str, splits))}, not one dataset", file=path,
                        fix=f"set path to one split's folder (e.g. {path / first}) and eval_path to another")
    state_path = path / "state.json"
    if not state_path.is_file():
        raise DataError("not a saved Hugging Face dataset (no state.json)", file=path,
                        fix=f"save it with Dataset.save_to_disk(folder), or point at a data file, or {FORMAT_FIX}")
    state = _json_file(state_path)
    if state.get("_indices_data_files"):
        return _via_datasets(path, fmt, needed)
    files = [path / item["filename"] for item in state.get("_data_files") or []]
    missing = [f.name for f in files if not f.is_file()]
    if missing or not files:
        raise DataError(f"the saved dataset's Arrow files are missing ({', '.join(missing) or 'none listed'})",
                        file=path, fix="save the dataset again with save_to_disk")
    import pyarrow as pa

    try:
        schema = pa.ipc.open_stream(files[0]).schema
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"unreadable Arrow file {files[0].name} ({exc})", file=path,
                        fix="save the dataset again with save_to_disk") from exc
    columns = list(schema.names)
    _check_columns(path, columns, needed, "dataset's features")

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        number = 0
        for arrow_file in files:
            with pa.ipc.open_stream(arrow_file) as stream:
                for batch in stream:
                    selected = batch.select(needed) if needed else batch
                    for record in selected.to_pylist():
                        number += 1
                        yield number, record

    return Records(path, fmt, UNITS[fmt], columns, rows())


def _via_datasets(path: Path, fmt: str, needed: list[str]) -> Records:
    """A saved dataset with an indices mapping (saved after select/shuffle without flattening)."""
    from datasets import load_from_disk  # pylint: disable=import-outside-toplevel

    dataset = load_from_disk(str(path))
    columns = list(dataset.column_names)
    _check_columns(path, columns, needed, "dataset's features")

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        for number, record in enumerate(dataset.select_columns(needed) if needed else dataset, start=1):
            yield number, dict(record)

    return Records(path, fmt, UNITS[fmt], columns, rows())


def _json_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"unreadable ({exc})", file=path, fix="save the dataset again with save_to_disk") from exc
    return data if isinstance(data, dict) else {}
