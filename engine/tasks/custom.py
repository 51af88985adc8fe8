"""User datasets as tasks: a JSONL file with declared input/target fields (spec.custom_tasks).

The kind (generation | translation | summarization) gives the prompt, post-processing and
default metrics. Without an eval_path, the file is split by a fixed hash of each row's id into
train / valid / test by the declared fractions.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.tasks import generation, summarization, translation
from engine.tasks.base import (
    LANGUAGE_NAMES,
    DataContext,
    DataError,
    Example,
    Split,
    Task,
    read_jsonl,
    stable_bucket,
)

if TYPE_CHECKING:  # pragma: no cover
    from engine.spec import CustomTaskSpec

_METRICS = {
    "generation": ("codebleu", "bleu", "exact_match"),
    "translation": ("codebleu", "bleu", "exact_match"),
    "summarization": ("bleu", "smooth_bleu", "meteor", "rouge_l", "chrf"),
}


class CustomTask(Task):
    """A task declared in a spec from a user's JSONL file."""

    def __init__(self, spec: CustomTaskSpec):
        self.spec = spec
        self.name = spec.name  # type: ignore[misc]
        self.family = spec.kind  # type: ignore[misc]
        self.language = spec.language if spec.kind != "summarization" else "text"  # type: ignore[misc]
        self.source_language = spec.source_language  # type: ignore[misc]
        self.description = f"custom {spec.kind} task from {spec.path}"  # type: ignore[misc]
        self.default_metrics = _METRICS[spec.kind]  # type: ignore[misc]
        if spec.kind == "generation" and self.language == "text":
            self.language = "python"  # type: ignore[misc]

    def _resolve(self, path: str, ctx: DataContext) -> Path:
        candidate = Path(path).expanduser()
        if not candidate.is_absolute():
            candidate = ctx.data_dir / candidate
        if not candidate.is_file():
            raise DataError(f"dataset file of custom task '{self.name}' not found: {candidate}",
                            fix="give an absolute path, or one relative to the data directory")
        return candidate

    def _rows(self, path: Path) -> list[tuple[str, dict[str, Any]]]:
        fields = (self.spec.input_field, self.spec.target_field)
        rows = []
        for lineno, rec in read_jsonl(path, required=fields):
            if self.spec.id_field:
                if self.spec.id_field not in rec:
                    raise DataError(f"missing field '{self.spec.id_field}'", file=path, line=lineno,
                                    field_name=self.spec.id_field, fix="add an id to every line or drop id_field")
                row_id = str(rec[self.spec.id_field])
            else:
                row_id = f"{path.stem}-{lineno}"
            rows.append((row_id, rec))
        return rows

    def load(self, split: Split, ctx: DataContext) -> list[Example]:
        spec = self.spec
        rows = self._rows(self._resolve(spec.path, ctx))
        eval_rows: list[tuple[str, dict[str, Any]]] = []
        if spec.eval_path:
            eval_rows = self._rows(self._resolve(spec.eval_path, ctx))
        picked = []
        if split == "test" and spec.eval_path:
            picked = eval_rows
        else:
            test_share = 0.0 if spec.eval_path else spec.eval_fraction
            for row_id, rec in rows:
                bucket = stable_bucket(row_id, salt=f"custom:{self.name}")
                where: Split = "test" if bucket < test_share else (
                    "valid" if bucket < test_share + spec.valid_fraction else "train")
                if where == split:
                    picked.append((row_id, rec))
        return [
            Example(id=row_id, task=self.name, input=str(rec[spec.input_field]).strip(),
                    target=str(rec[spec.target_field]).strip())
            for row_id, rec in picked
        ]

    def messages(self, example: Example) -> list[dict[str, str]]:
        lang = LANGUAGE_NAMES.get(self.language, self.language)
        src = LANGUAGE_NAMES.get(self.source_language or "text", "text")
        if self.family == "generation":
            system, user = generation.SYSTEM.format(lang=lang), example.input
        elif self.family == "translation":
            system, user = translation.SYSTEM, f"Translate from {src} to {lang}:\n{example.input}"
        else:
            system = summarization.SYSTEM.format(lang=src)
            user = f"Summarize this {src} code:\n{example.input}"
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def target(self, example: Example) -> str:
        return f"SUMMARY: {example.target} DONE" if self.family == "summarization" else example.target

    def stop_strings(self) -> list[str]:
        return ["DONE"] if self.family == "summarization" else []

    def postprocess(self, completion: str, example: Example) -> str:
        if self.family == "summarization":
            from engine.tasks.postprocess import strip_summary

            return strip_summary(completion)
        return super().postprocess(completion, example)
