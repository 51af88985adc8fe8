"""The task contract's data: an Example, the facts that describe a task, the test program a task builds,
the loader context and its errors, and the shared JSONL reader and split hash.

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
    """A dataset problem, naming the file, line and field, and how to fix it."""

    def __init__(self, message: str, *, file: Path | str | None = None, line: int | None = None,
                 field_name: str | None = None, fix: str = ""):
        self.file, self.line, self.field_name, self.fix = file, line, field_name, fix
        where = ""
        if file is not None:
            where = f"{file}" + (f", line {line}" if line is not None else "")
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


def read_jsonl(path: Path, required: Sequence[str] = ()) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, record) from a .jsonl or .jsonl.gz file; malformed lines raise DataError."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"not valid JSON ({exc.msg} at column {exc.colno})", file=path, line=lineno,
                                fix="each line must be one JSON object") from exc
            if not isinstance(record, dict):
                raise DataError("a line must be a JSON object", file=path, line=lineno,
                                fix="write one {...} object per line")
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
