"""The study spec: a matrix of runs (models x configurations over a task set, plus a zero-shot baseline
per model), and its expansion into validated RunSpecs.

A configuration with `transfer` is a task-transfer design: its method trained on subsets of the
study's tasks (or task families: `unit`) — every one but one (`leave_one_out`), every pair
(`pairs`), all of them (`all`) or listed subsets — plus one single-task run per task (or family) as
the reference each evaluated task is compared against. Whether a run is ST or MT is never written
here: each run's label derives from its tasks' families (engine.vocabulary), as everywhere else.
"""
from __future__ import annotations

import difflib
import itertools
from collections.abc import Callable, Mapping
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
from engine.vocabulary import config_label, is_multitask

TRANSFER_KEYWORDS = ("leave_one_out", "pairs", "all")


def _subsets_shape(value: Any) -> Any:
    """One clean error for a `subsets` of the wrong shape (pydantic's union errors would list every
    branch); keywords and members are checked with the study's tasks in view (transfer_errors)."""
    if isinstance(value, str) or (isinstance(value, list) and all(
            isinstance(v, str) or (isinstance(v, list) and all(isinstance(m, str) for m in v)) for v in value)):
        return value
    raise ValueError("subsets must be leave_one_out, pairs, all, or a list of them and of task lists "
                     "such as [[gen-python, sum-java]]")


class TransferSpec(StrictModel):
    """A task-transfer design: multi-task runs over subsets of the study's tasks, each task's
    single-task run as the reference."""

    subsets: str | list[str | list[str]] = Field(
        "leave_one_out",
        description="leave_one_out (every unit but one), pairs, all, or listed subsets "
        "[[gen-python, sum-java], ...]; a list may mix keywords and subsets")
    unit: Literal["task", "family"] = Field(
        "task", description="what a subset is made of: task variants, or task families (the paper's ablation)")
    include_all: bool = Field(True, description="also train over every unit (what leave-one-out removes from)")
    single: bool = Field(True, description="also train one single-task run per unit: each task's reference")

    _subsets = field_validator("subsets", mode="before")(classmethod(lambda cls, v: _subsets_shape(v)))


class StudyConfig(StrictModel):
    """One configuration of a study: a method, single- or multi-task, and overrides."""

    name: str = Field(min_length=1, description="label shown in comparisons, e.g. ST-QLoRA")
    method: Method
    mode: Literal["single", "multi"] = "multi"
    group_by: Literal["family", "task"] = Field("family", description="single mode: one run per ...")
    families: list[Literal["generation", "translation", "summarization"]] | None = Field(
        None, description="only the study's tasks of these families (e.g. the paper's two-task ablations)")
    overrides: dict[str, Any] = Field(default_factory=dict, description="deep-merged into the base")
    transfer: TransferSpec | None = Field(
        None, description="task transfer: runs over task subsets + each task's ST run (mode multi)")


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


# --- task transfer ------------------------------------------------------------------------------


def transfer_units(tasks: list[dict[str, Any]], unit: str,
                   family: Callable[[str], str]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(unit name, its task entries) in the study's order: one per task, or one per task family.
    `family` maps a task name to its family."""
    if unit == "task":
        return [(str(t["name"]), [t]) for t in tasks]
    groups: dict[str, list[dict[str, Any]]] = {}
    for t in tasks:
        groups.setdefault(family(t["name"]), []).append(t)
    return list(groups.items())


def transfer_subsets(transfer: TransferSpec, units: list[str]) -> list[tuple[str, ...]]:
    """The design's multi-unit subsets (each in the units' order, each once): every unit first when
    `include_all`, then each choice of `subsets` in turn. Assumes a validated design."""
    choices = [transfer.subsets] if isinstance(transfer.subsets, str) else list(transfer.subsets)
    found: list[tuple[str, ...]] = [tuple(units)] if transfer.include_all else []
    for choice in choices:
        if choice == "all":
            found.append(tuple(units))
        elif choice == "leave_one_out":
            found.extend(tuple(u for u in units if u != left) for left in units)
        elif choice == "pairs":
            found.extend(itertools.combinations(units, 2))
        else:
            found.append(tuple(u for u in units if u in set(choice)))
    return list(dict.fromkeys(s for s in found if len(s) > 1))


def _transfer_runs(study: StudySpec, config: StudyConfig, model_data: dict[str, Any], short: str,
                   chosen: list[dict[str, Any]], family: Callable[[str], str]) -> list[tuple[str, dict[str, Any]]]:
    """A transfer configuration's runs: one per subset, then the single-task reference of each unit.
    Each run's configuration label names its subset; ST or MT comes from its tasks' families."""
    assert config.transfer is not None
    units = transfer_units(chosen, config.transfer.unit, family)
    members = dict(units)
    groups = [(subset, [t for u in subset for t in members[u]]) for subset in
              transfer_subsets(config.transfer, [u for u, _ in units])]
    if config.transfer.single:
        groups += [((name,), tasks) for name, tasks in units]
    out = []
    for subset, group in groups:
        multi = is_multitask([family(t["name"]) for t in group])
        label = config.name if multi else config_label(config.method, False)
        if len(subset) > 1 and len(subset) < len(units):
            label = f"{label} {'+'.join(subset)}"
        data = deep_merge(study.base, config.overrides)
        data.update({"model": model_data, "method": config.method, "tasks": group})
        every = len(subset) == len(units) and config.families is None
        what = "all tasks" if every else "+".join(t["name"] for t in group)
        data["name"] = f"{short} {label} {what}"
        out.append((label, data))
    return out


def _close(name: Any, known: list[str]) -> str:
    guess = difflib.get_close_matches(str(name), known, n=1)
    return f"did you mean '{guess[0]}'? " if guess else ""


def transfer_errors(data: Mapping[str, Any]) -> list[SpecError]:
    """Every problem of the study's transfer designs, from raw data (tolerant of malformed input, so it
    runs beside the type checks): a design in single mode, too few tasks, unknown keywords or
    subset members, subsets of one unit, repeated members."""
    from engine.tasks import registry

    configs = data.get("configurations")
    tasks = task_shorthand(data.get("tasks"))
    if not isinstance(configs, list) or not isinstance(tasks, list):
        return []
    base = data.get("base") if isinstance(data.get("base"), Mapping) else {}
    declared = {c.get("name"): c.get("family") for c in base.get("custom_tasks") or [] if isinstance(c, Mapping)}

    def family(name: str) -> str:
        return str(declared.get(name) or registry.family_of(name))

    entries = [t for t in tasks if isinstance(t, Mapping) and isinstance(t.get("name"), str)]
    errors: list[SpecError] = []
    for i, config in enumerate(configs):
        transfer = config.get("transfer") if isinstance(config, Mapping) else None
        if not isinstance(transfer, Mapping):
            continue
        path = f"configurations[{i}]"
        if config.get("mode") == "single":
            errors.append(SpecError(f"{path}.mode", "single", "a transfer design trains multi-task runs",
                                    "set mode: multi (the design adds each task's single-task run itself)"))
        families = config.get("families")
        chosen = [dict(t) for t in entries if not isinstance(families, list) or family(t["name"]) in families]
        unit = transfer.get("unit", "task")
        if unit not in ("task", "family"):
            continue  # the type check reports it
        names = [u for u, _ in transfer_units(chosen, unit, family)]
        errors.extend(_subset_errors(transfer.get("subsets", "leave_one_out"), names, unit,
                                     f"{path}.transfer"))
    return errors


def _subset_errors(subsets: Any, units: list[str], unit: str, path: str) -> list[SpecError]:
    word = "tasks" if unit == "task" else "task families"
    if len(units) < 2:
        return [SpecError(path, units, f"a transfer design needs at least two {word}; this one has {len(units)}",
                          f"add {word} to the study (or drop `families`), or use unit: task")]
    errors = []
    choices = [subsets] if isinstance(subsets, str) else subsets if isinstance(subsets, list) else []
    for j, choice in enumerate(choices):
        where = f"{path}.subsets" if isinstance(subsets, str) else f"{path}.subsets[{j}]"
        if isinstance(choice, str):
            if choice in units:
                errors.append(SpecError(where, choice, "a subset is a list of " + word,
                                        f"write the subset as its own list, e.g. [[{', '.join(units[:2])}]]"))
            elif choice not in TRANSFER_KEYWORDS:
                errors.append(SpecError(where, choice, "unknown subset keyword",
                                        f"{_close(choice, list(TRANSFER_KEYWORDS))}use one of "
                                        f"{', '.join(TRANSFER_KEYWORDS)}, or a list of {word}"))
            elif choice == "leave_one_out" and len(units) < 3:
                errors.append(SpecError(where, choice, f"leaving one of {len(units)} {word} out leaves single "
                                        f"{word}: those are the reference runs", "use 'all' or 'pairs'"))
            continue
        if not isinstance(choice, list):
            continue  # the type check reports it
        for k, member in enumerate(choice):
            if member not in units:
                errors.append(SpecError(f"{where}[{k}]", member, f"not one of the study's {word}",
                                        f"{_close(member, units)}use one of {', '.join(units)}"))
            elif choice.index(member) < k:
                errors.append(SpecError(f"{where}[{k}]", member, "listed twice in this subset", "list it once"))
        if len(set(map(str, choice))) < 2:
            errors.append(SpecError(where, choice, f"a subset needs at least two {word}",
                                    f"add {word} to it (single {word} are the design's reference runs)"))
    return errors


# --- expansion --------------------------------------------------------------------------------


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

        def family(name: str, customs: list[CustomTaskSpec] = customs) -> str:
            return registry.family_of(name, customs)

        for config in study.configurations:
            chosen = [t for t in tasks if config.families is None or family(t["name"]) in config.families]
            if config.transfer is not None:
                out.extend(_transfer_runs(study, config, model_data, model.short_name, chosen, family))
                continue
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
    errors.extend(transfer_errors(data))
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
