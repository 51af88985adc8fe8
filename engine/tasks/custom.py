"""User datasets as tasks: a JSONL file with declared fields (a spec's custom_tasks).

This module owns what a declaration must say (CustomTaskDeclaration, which engine.spec's CustomTaskSpec
satisfies without this package importing the spec) and how its rows become examples. Everything
else (prompt, target, stop strings, post-processing, metrics, execution) is the declared family's
(engine.tasks.families), exactly as for the built-in tasks of that family.

Without an eval_path, the file is split by a fixed hash of each row's id into train / valid / test
by the declared fractions. A generation task with a test_field executes: the field's test code is
appended after the prediction (MBPP form), or, with an entry_point_field, it defines
`check(candidate)` and is called with the entry point (HumanEval form); see engine.tasks.programs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from engine.tasks.base import DataContext, DataError, Example, Split, TaskFacts, read_jsonl, stable_bucket
from engine.tasks.families import family
from engine.tasks.task import Task


@runtime_checkable
class CustomTaskDeclaration(Protocol):
    """What a custom task is declared with (read-only)."""

    @property
    def name(self) -> str:
        """The task's name (not a built-in one)."""
        raise NotImplementedError

    @property
    def family(self) -> str:
        """generation | translation | summarization: gives the task's behaviour."""
        raise NotImplementedError

    @property
    def language(self) -> str:
        """Language of the output (a family may override it: summaries are text)."""
        raise NotImplementedError

    @property
    def source_language(self) -> str | None:
        """Language of the input, if any."""
        raise NotImplementedError

    @property
    def path(self) -> str:
        """The JSONL file (absolute, or relative to the data directory)."""
        raise NotImplementedError

    @property
    def eval_path(self) -> str | None:
        """A separate evaluation JSONL (default: a held-out split of `path`)."""
        raise NotImplementedError

    @property
    def input_field(self) -> str:
        """The field holding the input."""
        raise NotImplementedError

    @property
    def target_field(self) -> str:
        """The field holding the reference output."""
        raise NotImplementedError

    @property
    def id_field(self) -> str | None:
        """The field holding a row's id (default: file stem and line number)."""
        raise NotImplementedError

    @property
    def test_field(self) -> str | None:
        """Generation: the field holding test code; makes the task executable."""
        raise NotImplementedError

    @property
    def entry_point_field(self) -> str | None:
        """Generation with tests: the field naming the function `check` is called with."""
        raise NotImplementedError

    @property
    def valid_fraction(self) -> float:
        """Share of rows held out for validation."""
        raise NotImplementedError

    @property
    def eval_fraction(self) -> float:
        """Share of rows held out for evaluation (without eval_path)."""
        raise NotImplementedError


TEST_LANGUAGES = ("python",)  # a custom task's test code is Python, run after the prediction


def custom_facts(declaration: CustomTaskDeclaration) -> TaskFacts:
    """The facts of a declared task: its family decides the output language and whether it can execute;
    a test_field it cannot execute is an error (ValueError), not silently ignored."""
    behaviour = family(declaration.family)
    language = behaviour.output_language(declaration.language)
    if declaration.test_field and not (behaviour.can_execute(language) and language in TEST_LANGUAGES):
        raise ValueError(f"custom task {declaration.name!r}: test_field needs a {declaration.family} task that "
                         f"can execute {', '.join(TEST_LANGUAGES)} code (this one writes {language})")
    return TaskFacts(
        name=declaration.name,
        family=declaration.family,
        language=language,
        source_language=declaration.source_language,
        description=f"custom {declaration.family} task from {declaration.path}",
        executable=bool(declaration.test_field),
    )


class CustomTask(Task):
    """A task declared in a spec from a user's JSONL file."""

    def __init__(self, declaration: CustomTaskDeclaration):
        super().__init__(custom_facts(declaration))
        self.declaration = declaration

    def _resolve(self, path: str, ctx: DataContext) -> Path:
        candidate = Path(path).expanduser()
        if not candidate.is_absolute():
            candidate = ctx.data_dir / candidate
        if not candidate.is_file():
            raise DataError(f"dataset file of custom task '{self.name}' not found: {candidate}",
                            fix="give an absolute path, or one relative to the data directory")
        return candidate

    def _required(self, rec: dict[str, Any], field_name: str, path: Path, lineno: int, fix: str) -> str:
        if field_name not in rec:
            raise DataError(f"missing field '{field_name}'", file=path, line=lineno, field_name=field_name, fix=fix)
        return str(rec[field_name])

    def _rows(self, path: Path) -> list[tuple[str, dict[str, Any]]]:
        decl = self.declaration
        required = [decl.input_field, decl.target_field]
        if decl.test_field:
            required += [f for f in (decl.test_field, decl.entry_point_field) if f]
        rows = []
        for lineno, rec in read_jsonl(path, required=required):
            if decl.id_field:
                row_id = self._required(rec, decl.id_field, path, lineno, "add an id to every line or drop id_field")
            else:
                row_id = f"{path.stem}-{lineno}"
            rows.append((row_id, rec))
        return rows

    def _meta(self, rec: dict[str, Any]) -> dict[str, Any]:
        """What the test program needs (engine.tasks.programs): HumanEval form with an entry point,
        else MBPP form; nothing when the task does not execute."""
        decl = self.declaration
        if not decl.test_field:
            return {}
        tests = str(rec[decl.test_field])
        if decl.entry_point_field:
            return {"prompt": "", "test": tests, "entry_point": str(rec[decl.entry_point_field])}
        return {"test_setup_code": "", "test_list": [tests]}

    def load(self, split: Split, ctx: DataContext) -> list[Example]:
        decl = self.declaration
        rows = self._rows(self._resolve(decl.path, ctx))
        eval_rows = self._rows(self._resolve(decl.eval_path, ctx)) if decl.eval_path else []
        picked: list[tuple[str, dict[str, Any]]] = []
        if split == "test" and decl.eval_path:
            picked = eval_rows
        else:
            test_share = 0.0 if decl.eval_path else decl.eval_fraction
            for row_id, rec in rows:
                bucket = stable_bucket(row_id, salt=f"custom:{self.name}")
                where: Split = "test" if bucket < test_share else (
                    "valid" if bucket < test_share + decl.valid_fraction else "train")
                if where == split:
                    picked.append((row_id, rec))
        return [
            Example(id=row_id, task=self.name, input=str(rec[decl.input_field]).strip(),
                    target=str(rec[decl.target_field]).strip(), meta=self._meta(rec))
            for row_id, rec in picked
        ]
