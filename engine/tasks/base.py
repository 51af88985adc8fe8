"""The task contract: an Example, the Task base class, data errors, and the shared JSONL reader.

A task variant (gen-python, trans-java-cs, sum-java, ...) knows how to load its splits from the
data directory, build the chat messages for an example, give the training target, post-process a
completion and, for executable tasks, build the test program for the sandbox.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from engine.errors import SpecError
from engine.tasks import postprocess

Split = Literal["train", "valid", "test"]
SPLITS: tuple[Split, ...] = ("train", "valid", "test")
LANGUAGE_NAMES = {"python": "Python", "java": "Java", "csharp": "C#", "text": "text"}


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


class Task:
    """Base class of a task variant. Subclasses set the class attributes and implement `load`."""

    name: ClassVar[str]
    family: ClassVar[str]  # generation | translation | summarization
    language: ClassVar[str]  # language of the output
    source_language: ClassVar[str | None] = None
    description: ClassVar[str] = ""
    executable: ClassVar[bool] = False
    default_metrics: ClassVar[tuple[str, ...]] = ()
    test_set: ClassVar[str] = "test"  # the evaluation set's name when the task has no eval_set option
    # option name -> (allowed values, default)
    options: ClassVar[dict[str, tuple[tuple[Any, ...], Any]]] = {}

    @property
    def is_code(self) -> bool:
        """Whether the task's output is code (not natural-language text)."""
        return self.language != "text"

    @property
    def default_max_new_tokens(self) -> int:
        """Default generation budget: 512 new tokens for code, 128 for text."""
        return 512 if self.is_code else 128

    def check_options(self, options: Mapping[str, Any], path: str) -> list[SpecError]:
        """Errors for options the task does not have or values it does not allow."""
        errors = []
        for key, value in options.items():
            if key not in self.options:
                known = ", ".join(sorted(self.options)) or "none"
                errors.append(SpecError(f"{path}.{key}", value, f"task {self.name} has no option '{key}'",
                                        f"remove it (options of {self.name}: {known})"))
                continue
            allowed, _ = self.options[key]
            if value not in allowed:
                errors.append(SpecError(f"{path}.{key}", value, "not an allowed value",
                                        f"use one of {', '.join(map(str, allowed))}"))
        return errors

    def option(self, ctx: DataContext, key: str) -> Any:
        """The value of option `key`: the context's, else the task's default."""
        return ctx.options.get(key, self.options[key][1])

    def eval_set(self, ctx: DataContext) -> str:
        """Name of the evaluation set in use (for display and the store)."""
        return str(self.option(ctx, "eval_set")) if "eval_set" in self.options else self.test_set

    # --- data ------------------------------------------------------------------------------
    def load(self, split: Split, ctx: DataContext) -> list[Example]:
        """Load the examples of `split` from the data directory."""
        raise NotImplementedError

    # --- prompting -------------------------------------------------------------------------
    def messages(self, example: Example) -> list[dict[str, str]]:
        """The chat messages (system and user turns) for an example."""
        raise NotImplementedError

    def target(self, example: Example) -> str:
        """The assistant turn the model is trained to produce."""
        return example.target

    def stop_strings(self) -> list[str]:
        """Strings that end a completion (empty: stop at end of sequence only)."""
        return []

    def postprocess(self, completion: str, example: Example) -> str:
        """The completion as scored: extracted code for code tasks, stripped text otherwise."""
        del example
        return postprocess.extract_code(completion) if self.is_code else completion.strip()

    # --- execution -------------------------------------------------------------------------
    def program(self, example: Example, prediction: str) -> TestProgram | None:
        """The test program for `prediction`, or None when the task is not executable."""
        del example, prediction
