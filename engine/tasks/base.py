"""The task contract's data: an Example, the facts that describe a task, the test program a task builds,
the loader context and its errors, the shared JSONL reader (UTF-8 checked line by line) and the
split hash. Other formats (JSON arrays, CSV/TSV, Parquet, saved Hugging Face datasets) are read by
engine.tasks.readers.

What a task *does* with these lives elsewhere: the prompt, target, post-processing, metrics and
execution of each family in engine.tasks.families, the Task base class in engine.tasks.task, each
variant's data loading in its family module (generation.py, translation.py, summarization.py,
custom.py).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from engine.vocabulary import FAMILIES

Split = Literal["train", "valid", "test"]
SPLITS: tuple[Split, ...] = ("train", "valid", "test")
LANGUAGE_NAMES = {"python": "Python", "java": "Java", "csharp": "C#", "text": "text"}
Options = Mapping[str, tuple[tuple[Any, ...], Any]]  # option name -> (allowed values, default)


def language_name(language: str | None) -> str:
    """Display name of a language ('csharp' → 'C#'); no language reads as 'text'."""
    language = language or "text"
    return LANGUAGE_NAMES.get(language, language)


@dataclass(frozen=True)
class Example:
    """One example: `input` is what the prompt is built from, `target` the reference output."""

    id: str
    task: str
    input: str
    target: str
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The example as a plain dict (the JSONL form)."""
        return {"id": self.id, "task": self.task, "input": self.input, "target": self.target, "meta": self.meta}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Example:
        """Build an example from its dict form."""
        return cls(data["id"], data["task"], data["input"], data["target"], dict(data.get("meta") or {}))


@dataclass(frozen=True)
class TestProgram:
    """A program for the sandbox: the source and its language."""

    source: str
    language: Literal["python", "java", "csharp"]


class DataError(ValueError):
    """A dataset problem, naming the file, line (or record, row) and field, and how to fix it."""

    def __init__(self, message: str, *, file: Path | str | None = None, line: int | None = None,
                 field_name: str | None = None, fix: str = "", unit: str = "line"):
        self.file, self.line, self.field_name, self.fix, self.unit = file, line, field_name, fix, unit
        where = ""
        if file is not None:
            where = f"{file}" + (f", {unit} {line}" if line is not None else "")
            where += f", field '{field_name}'" if field_name else ""
            where += ": "
        super().__init__(f"{where}{message}" + (f". Fix: {fix}" if fix else ""))


@dataclass(frozen=True)
class DataContext:
    """What a loader needs: the data directory and the task's options."""

    data_dir: Path
    options: Mapping[str, Any] = field(default_factory=dict)
    keep_docstrings: bool = False
    counting: bool = False  # only the number of examples matters: skip costly input rewriting

    def path(self, *parts: str, what: str) -> Path:
        """A file under the data directory, or a DataError that says what is missing and where."""
        if not self.data_dir.is_dir():
            raise DataError(
                f"the data directory {self.data_dir} does not exist",
                fix="set CODETUNE_DATA_DIR (or the spec's data_dir) to the folder holding the public "
                "datasets, e.g. ../shared/data",
            )
        full = self.data_dir.joinpath(*parts)
        if not full.exists():
            raise DataError(
                f"{what} not found at {full}",
                fix=f"put the dataset under {self.data_dir / parts[0]} as published (see the data README)",
            )
        return full


def decoded_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (line number, text) of a UTF-8 text file (.gz: gzip-compressed), line endings kept and a
    leading byte-order mark dropped; bytes that are not UTF-8 raise a DataError naming the line."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})",
                                file=path, line=lineno,
                                fix="save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8 IN > OUT`)") from exc
            if lineno == 1:
                text = text.removeprefix("\ufeff")
            yield lineno, text


def json_line(path: Path, lineno: int, line: str) -> dict[str, Any]:
    """One JSON Lines record: a JSON object, else a DataError that says what the line is instead."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        if lineno == 1 and line.lstrip().startswith("["):
            raise DataError("the file is a JSON array, not JSON Lines (one object per line)", file=path,
                            line=lineno, fix="name the file .json, or declare `format: json` in the custom "
                            "task") from exc
        raise DataError(f"not valid JSON ({exc.msg} at column {exc.colno})", file=path, line=lineno,
                        fix="each line must be one complete JSON object (a pretty-printed JSON file: name "
                        "it .json or declare `format: json`)") from exc
    if not isinstance(record, dict):
        what = "a JSON array" if isinstance(record, list) else f"a JSON {type(record).__name__}"
        raise DataError(f"the line is {what}, not a JSON object", file=path, line=lineno,
                        fix="write one {...} object per line (a JSON array of objects: name the file .json "
                        "or declare `format: json`)")
    return record


def read_jsonl(path: Path, required: Sequence[str] = ()) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, record) from a .jsonl or .jsonl.gz file; malformed lines, bytes that are
    not UTF-8 and missing or empty `required` fields raise DataError."""
    for lineno, line in decoded_lines(path):
        if not line.strip():
            continue
        record = json_line(path, lineno, line)
        for name in required:
            if name not in record:
                raise DataError(f"missing field '{name}'", file=path, line=lineno, field_name=name,
                                fix=f"add '{name}' to every line (fields present: {sorted(record)})")
            if not isinstance(record[name], (str, list, int)) or record[name] in ("", None):
                raise DataError(f"field '{name}' is empty or not text", file=path, line=lineno,
                                field_name=name, fix="give a non-empty value")
        yield lineno, record


def stable_bucket(key: str, salt: str = "codetune") -> float:
    """A number in [0, 1) from a string, the same on every machine and run (for fixed splits)."""
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class TaskFacts:
    """What a task variant is: its name, family and languages, whether its predictions are executed,
    the evaluation set's name and its options. Plain data: behaviour comes from the family."""

    name: str
    family: str  # one of engine.vocabulary.FAMILIES
    language: str  # language of the output ("text" for natural language)
    source_language: str | None = None
    description: str = ""
    executable: bool = False
    test_set: str = "test"  # the evaluation set's name when the task has no eval_set option
    options: Options = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"task {self.name!r}: unknown family {self.family!r}; known: {', '.join(FAMILIES)}")
