"""The study spec: a matrix of runs (models x configurations over a task set, plus a zero-shot baseline
per model), and its expansion into validated RunSpecs."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from engine.errors import SpecError, SpecValidationError
from engine.spec.checks import dedupe, parse_run_spec, pydantic_errors, semantic_errors
from engine.spec.run import (
    CustomTaskSpec,
    Method,
    ModelSpec,
    RunSpec,
    StrictModel,
    TaskEntry,
    canonical_hash,
    deep_merge,
    model_shorthand,
    slug,
    task_shorthand,
)


class StudyConfig(StrictModel):
    """One configuration of a study: a method, single- or multi-task, and overrides."""

    name: str = Field(min_length=1, description="label shown in comparisons, e.g. ST-QLoRA")
    method: Method
    mode: Literal["single", "multi"] = "multi"
    group_by: Literal["family", "task"] = Field("family", description="single mode: one run per ...")
    families: list[Literal["generation", "translation", "summarization"]] | None = Field(
        None, description="only the study's tasks of these families (e.g. the paper's two-task ablations)")
    overrides: dict[str, Any] = Field(default_factory=dict, description="deep-merged into the base")


class StudySpec(StrictModel):
    """A matrix of runs: models x configurations over a task set, plus zero-shot baselines."""

    kind: Literal["study"] = "study"
    name: str = Field(min_length=1)
    description: str = ""
    models: list[ModelSpec] = Field(min_length=1)
    tasks: list[TaskEntry] = Field(min_length=1)
    configurations: list[StudyConfig] = Field(min_length=1)
    baseline: bool = Field(True, description="add a zero-shot run per model")
    base: dict[str, Any] = Field(default_factory=dict, description="RunSpec fields shared by every run")

    _tasks = field_validator("tasks", mode="before")(classmethod(lambda cls, v: task_shorthand(v)))
    _models = field_validator("models", mode="before")(classmethod(lambda cls, v: model_shorthand(v)))

    def study_id(self) -> str:
        """Readable and unique: <name slug>-<hash8 of the whole study>."""
        return f"{slug(self.name)}-{canonical_hash(self.model_dump(mode='json'))[:8]}"


# --- helpers --------------------------------------------------------------------------------





@dataclass(frozen=True)
class StudyRun:
    """One run of a study: its configuration label, its model and the validated RunSpec."""

    config: str
    model: str
    spec: RunSpec


def _expand_raw(study: StudySpec) -> list[tuple[str, dict[str, Any]]]:
    from engine.tasks import registry

    out: list[tuple[str, dict[str, Any]]] = []
    tasks = [t.model_dump(mode="json", exclude_none=True) for t in study.tasks]
    for model in study.models:
        model_data = model.model_dump(mode="json", exclude_none=True)
        if study.baseline:
            data = deep_merge(study.base, {"model": model_data, "method": "none", "tasks": tasks})
            data["name"] = f"{model.short_name} zero-shot"
            out.append(("zero-shot", data))
        customs = [CustomTaskSpec.model_validate(c) for c in study.base.get("custom_tasks", [])]
        for config in study.configurations:
            chosen = [t for t in tasks if config.families is None
                      or registry.family_of(t["name"], customs) in config.families]
            groups: list[list[dict[str, Any]]]
            if config.mode == "multi":
                groups = [chosen]
            elif config.group_by == "task":
                groups = [[t] for t in chosen]
            else:
                by_family: dict[str, list[dict[str, Any]]] = {}
                for t in chosen:
                    by_family.setdefault(registry.family_of(t["name"], customs), []).append(t)
                groups = list(by_family.values())
            for group in groups:
                data = deep_merge(study.base, config.overrides)
                data.update({"model": model_data, "method": config.method, "tasks": group})
                subset = config.mode == "single" or config.families
                what = "+".join(t["name"] for t in group) if subset else "all tasks"
                data["name"] = f"{model.short_name} {config.name} {what}"
                out.append((config.name, data))
    return out


def expand_study(study: StudySpec) -> list[StudyRun]:
    """The study's runs, in a stable order (model, baseline first, then configurations)."""
    runs = []
    for label, data in _expand_raw(study):
        spec = parse_run_spec(data)
        runs.append(StudyRun(config=label, model=spec.model.id, spec=spec))
    return runs


def parse_study_spec(data: Mapping[str, Any], source: str | None = None) -> StudySpec:
    """Validate a StudySpec, including every run it expands to."""
    errors: list[SpecError] = []
    study = None
    try:
        study = StudySpec.model_validate(dict(data))
    except ValidationError as exc:
        errors.extend(pydantic_errors(exc, StudySpec))
    raw_tasks = data.get("tasks")
    errors.extend(semantic_errors({"tasks": raw_tasks, **(data.get("base") or {})}))
    if study is not None and not errors:
        for label, run_data in _expand_raw(study):
            try:
                parse_run_spec(run_data)
            except SpecValidationError as exc:
                errors.extend(
                    SpecError(f"configurations[{label}] → {e.path}", e.value, e.message, e.fix) for e in exc.errors
                )
    if errors:
        raise SpecValidationError(dedupe(errors), source)
    assert study is not None
    return study
