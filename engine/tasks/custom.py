"""User datasets as tasks (a spec's custom_tasks): JSON Lines, a JSON array, CSV/TSV, Parquet or a saved
Hugging Face dataset, with declared fields.

This module owns what a declaration must say (CustomTaskDeclaration, which engine.spec's CustomTaskSpec
satisfies without this package importing the spec) and how its rows become examples. Everything
else (prompt, target, stop strings, post-processing, metrics, execution) is the declared family's
(engine.tasks.families), exactly as for the built-in tasks of that family.

Reading: engine.tasks.readers (the format: declared, else from the name; `eval_path` may have its
own), checking: engine.tasks.rows (rejected rows by reason, repeated ids rejected or numbered, each
file read once per process). `files()` gives that per-file report; `load()` refuses a file the policy
makes unusable (a DataError with the summary, never one message per row) and an empty evaluation set.

Without an eval_path, the file is split by a fixed hash of each row's id into train / valid / test
by the declared fractions. A generation task with a test_field executes: the field's test code is
appended after the prediction (MBPP form; a list of assert lines is accepted), or, with an
entry_point_field, it defines `check(candidate)` and is called with the entry point (HumanEval form);
see engine.tasks.programs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from engine.tasks.base import DataContext, DataError, Example, Split, TaskFacts, stable_bucket
from engine.tasks.families import family
from engine.tasks.readers import detect_format
from engine.tasks.rows import FieldMap, FileCheck, Row, RowPolicy, check_file
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
        """The dataset file or saved-dataset folder (absolute, or relative to the data directory)."""
        raise NotImplementedError

    @property
    def eval_path(self) -> str | None:
        """A separate evaluation dataset (default: a held-out split of `path`)."""
        raise NotImplementedError

    @property
    def format(self) -> str | None:
        """jsonl | json | csv | tsv | parquet | hf; None: from the file's name."""
        raise NotImplementedError

    @property
    def eval_format(self) -> str | None:
        """The format of eval_path; None: from its name, else `format`."""
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

    @property
    def duplicate_ids(self) -> str:
        """reject | number: what repeated ids do."""
        raise NotImplementedError

    @property
    def bad_rows(self) -> str:
        """skip | reject: what rejected rows (empty or non-text values) do."""
        raise NotImplementedError

    @property
    def max_bad_fraction(self) -> float:
        """bad_rows skip: the share of a file's rows that may be rejected before the file is unusable."""
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
    """A task declared in a spec from a user's dataset."""

    def __init__(self, declaration: CustomTaskDeclaration):
        super().__init__(custom_facts(declaration))
        self.declaration = declaration

    def _resolve(self, path: str, ctx: DataContext) -> Path:
        candidate = Path(path).expanduser()
        if not candidate.is_absolute():
            candidate = ctx.data_dir / candidate
        if not candidate.exists():
            raise DataError(f"dataset of custom task '{self.name}' not found", file=candidate,
                            fix="give an absolute path, or one relative to the data directory")
        return candidate

    def _format(self, path: Path, role: str) -> str:
        decl = self.declaration
        if role == "data":
            return detect_format(path, decl.format)
        if decl.eval_format:
            return detect_format(path, decl.eval_format)
        try:
            return detect_format(path)
        except DataError:
            if decl.format:
                return detect_format(path, decl.format)
            raise

    def file(self, role: str, ctx: DataContext) -> FileCheck | None:
        """The checked dataset of `role` ('data': `path`, 'eval': `eval_path`; None when not declared).
        A DataError for a file that cannot be read: missing, not UTF-8, a broken line, a missing field,
        an unknown format."""
        decl = self.declaration
        declared = decl.path if role == "data" else decl.eval_path
        if not declared:
            return None
        fields = FieldMap(decl.input_field, decl.target_field, decl.id_field, decl.test_field,
                          decl.entry_point_field)
        policy = RowPolicy(decl.duplicate_ids, decl.bad_rows, decl.max_bad_fraction)
        path = self._resolve(declared, ctx)
        return check_file(path, self._format(path, role), role, fields, policy)

    def files(self, ctx: DataContext) -> list[FileCheck]:
        """The checked dataset files: `path`, then `eval_path` if declared."""
        return [check for role in ("data", "eval") if (check := self.file(role, ctx)) is not None]

    def _usable(self, ctx: DataContext) -> tuple[list[Row], list[Row]]:
        """The rows of `path` and of `eval_path`; a DataError for a file the policy makes unusable."""
        checked = self.files(ctx)
        for check in checked:
            problems = check.problems()
            if problems:
                raise DataError("; ".join(what for what, _ in problems), file=check.path,
                                fix="; ".join(fix for _, fix in problems))
        return checked[0].kept, (checked[1].kept if len(checked) > 1 else [])

    def load(self, split: Split, ctx: DataContext) -> list[Example]:
        decl = self.declaration
        rows, eval_rows = self._usable(ctx)
        picked: list[Row] = []
        if split == "test" and decl.eval_path:
            picked = eval_rows
        else:
            test_share = 0.0 if decl.eval_path else decl.eval_fraction
            for row in rows:
                bucket = stable_bucket(row.id, salt=f"custom:{self.name}")
                where: Split = "test" if bucket < test_share else (
                    "valid" if bucket < test_share + decl.valid_fraction else "train")
                if where == split:
                    picked.append(row)
        if split == "test" and not picked:
            raise DataError(f"custom task '{self.name}' has no evaluation examples ({len(rows)} usable rows, "
                            f"eval_fraction {decl.eval_fraction:g})", file=self._resolve(decl.path, ctx),
                            fix="raise eval_fraction, add rows, or give an eval_path with the evaluation set")
        return [Example(id=row.id, task=self.name, input=row.input, target=row.target, meta=dict(row.meta))
                for row in picked]
