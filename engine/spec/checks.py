"""Spec validation and parsing: pydantic errors and semantic checks turned into SpecErrors, every
problem at once (field path, bad value, what is wrong, the fix); reading spec files."""
from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from engine.errors import SpecError, SpecValidationError
from engine.spec.run import NAME_RE, RunSpec, task_shorthand

# --- pydantic errors → SpecErrors ----------------------------------------------------------


def _path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class that owns the field at `loc` (for 'did you mean' hints)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return current if isinstance(current, type) and issubclass(current, BaseModel) else None
        annotation = fields[part].annotation
        args = getattr(annotation, "__args__", ()) or ()
        candidates = [annotation, *args]
        nxt = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)),
            None,
        )
        if nxt is None:
            for arg in args:
                inner = next(
                    (a for a in getattr(arg, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)),
                    None,
                )
                nxt = inner or nxt
        if nxt is None:
            return current
        current = nxt
    return current


def _fix_for(err: Mapping[str, Any], model: type[BaseModel]) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    loc = tuple(err["loc"])
    if kind == "extra_forbidden":
        owner = _model_at(model, loc[:-1])
        known = sorted(owner.model_fields) if owner else []
        guess = difflib.get_close_matches(str(loc[-1]), known, n=1)
        if guess:
            return f"did you mean '{guess[0]}'? (fields here: {', '.join(known)})"
        return f"remove it (fields here: {', '.join(known)})"
    if kind == "missing":
        return "add this field"
    if kind == "literal_error":
        return f"use one of {ctx.get('expected')}"
    if kind in {"greater_than", "less_than"} and str(loc[-1]).endswith(("_fraction", "_ratio")):
        return "give a fraction of the run strictly between 0 and 1 (e.g. 0.05 = 5% of its optimiser steps)"
    if kind in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
        bound = next(iter(ctx.values()), "?")
        word = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
        return f"use a number {word[kind]} {bound}"
    if kind in {"too_short", "too_long"}:
        return "give at least one entry" if kind == "too_short" else "give fewer entries"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"give a value of the right type ({err['msg'].removeprefix('Input should be ').rstrip('.')})"
    return "correct the value"


def pydantic_errors(exc: ValidationError, model: type[BaseModel]) -> list[SpecError]:
    """pydantic's errors as SpecErrors (path, value, message, fix), with 'did you mean' for typos."""
    out = []
    for err in exc.errors(include_url=False):
        message = err["msg"]
        if err["type"] == "value_error":
            message = message.removeprefix("Value error, ")
        out.append(
            SpecError(
                path=_path(err["loc"]),
                value=err.get("input"),
                message=message[0].lower() + message[1:] if message else message,
                fix=_fix_for(err, model),
            )
        )
    return out


# --- semantic checks (tolerant of malformed input, so they run alongside type errors) -------


def semantic_errors(data: Mapping[str, Any], prefix: str = "") -> list[SpecError]:
    """What types alone cannot catch (unknown or repeated tasks, task options, weights, pass@k above
    n_samples, unknown metrics and analysers), tolerant of malformed input so it runs beside them."""
    from engine.tasks import registry  # light: task modules import no ML libraries

    errors: list[SpecError] = []
    customs = data.get("custom_tasks") or []
    custom_names = [c.get("name") for c in customs if isinstance(c, Mapping)]
    known = registry.task_names()
    for i, name in enumerate(custom_names):
        if isinstance(name, str) and not NAME_RE.match(name):
            errors.append(
                SpecError(
                    f"{prefix}custom_tasks[{i}].name",
                    name,
                    "not a valid task name",
                    "use lower-case letters, digits, '-', '_' or '.' (e.g. 'gen-rust')",
                )
            )
        elif name in known:
            errors.append(
                SpecError(
                    f"{prefix}custom_tasks[{i}].name",
                    name,
                    "clashes with a built-in task",
                    "pick another name",
                )
            )
    allowed = set(known) | {n for n in custom_names if isinstance(n, str)}
    tasks = task_shorthand(data.get("tasks"))
    seen: set[str] = set()
    if isinstance(tasks, list):
        for i, entry in enumerate(tasks):
            if not isinstance(entry, Mapping):
                continue
            name = entry.get("name")
            path = f"{prefix}tasks[{i}]"
            if not isinstance(name, str):
                continue
            if name not in allowed:
                guess = difflib.get_close_matches(name, sorted(allowed), n=1)
                hint = f"did you mean '{guess[0]}'? " if guess else ""
                errors.append(
                    SpecError(
                        f"{path}.name",
                        name,
                        "unknown task",
                        f"{hint}use one of {', '.join(sorted(allowed))}, or declare it under custom_tasks",
                    )
                )
                continue
            if name in seen:
                errors.append(SpecError(f"{path}.name", name, "task listed twice", "list each task once"))
            seen.add(name)
            if name in known:
                errors.extend(registry.get_task(name).check_options(entry.get("options") or {}, f"{path}.options"))
        mixture = data.get("mixture") if isinstance(data.get("mixture"), Mapping) else {}
        if mixture.get("mode") == "explicit":
            for i, entry in enumerate(tasks):
                if isinstance(entry, Mapping) and entry.get("weight") is None:
                    errors.append(
                        SpecError(
                            f"{prefix}tasks[{i}].weight",
                            None,
                            "mixture mode 'explicit' needs a weight on every task",
                            "add weight: <number > 0> to this task, or use mode 'proportional'",
                        )
                    )
    errors.extend(_train_errors(data, prefix, _families(tasks, customs, known)))
    evaluation = data.get("eval") if isinstance(data.get("eval"), Mapping) else {}
    errors.extend(_check_names(evaluation.get("metrics"), "metric", f"{prefix}eval.metrics"))
    errors.extend(_check_names(evaluation.get("analysers"), "analyser", f"{prefix}eval.analysers"))
    n_samples = evaluation.get("n_samples", 1)
    pass_k = evaluation.get("pass_k", [1])
    if isinstance(n_samples, int) and isinstance(pass_k, list):
        for k in pass_k:
            if isinstance(k, int) and k > n_samples:
                errors.append(
                    SpecError(
                        f"{prefix}eval.pass_k",
                        pass_k,
                        f"pass@{k} needs at least {k} samples per prompt but eval.n_samples is {n_samples}",
                        f"raise eval.n_samples to >= {k} (with eval.temperature > 0) or drop k={k}",
                    )
                )
    temperature = evaluation.get("temperature", 0.0)
    if isinstance(n_samples, int) and n_samples > 1 and temperature == 0:
        errors.append(
            SpecError(
                f"{prefix}eval.temperature",
                temperature,
                "greedy decoding gives the same output for every one of n_samples > 1",
                "set eval.temperature > 0 (e.g. 0.8) or eval.n_samples to 1",
            )
        )
    return errors


def _families(tasks: Any, customs: Any, known: Any) -> set[str]:
    """The task families of the spec's (valid) tasks, from raw data."""
    from engine.tasks import registry

    declared = {c.get("name"): c.get("family") or c.get("kind") for c in customs if isinstance(c, Mapping)}
    out = set()
    for entry in tasks if isinstance(tasks, list) else []:
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if name in known:
            out.add(registry.get_task(name).family)
        elif isinstance(declared.get(name), str):
            out.add(declared[name])
    return out


_SCHEDULE_FIELDS = {"warmup_steps": 0, "warmup_ratio": 0.0, "eval_steps": None, "eval_fraction": None}
_METRIC_NEEDS = {"codebleu": ({"generation", "translation"}, "a generation or translation task (code rows)"),
                 "bleu": ({"summarization"}, "a summarization task (summary rows)")}


def _train_errors(data: Mapping[str, Any], prefix: str, families: set[str]) -> list[SpecError]:
    """Schedule and early stopping: settings that contradict each other or a metric the run cannot compute."""
    train = data.get("train") if isinstance(data.get("train"), Mapping) else {}
    errors = []
    schedule = train.get("schedule", "given")
    if schedule in ("paper", "paper_scaled"):
        for name, default in _SCHEDULE_FIELDS.items():
            if train.get(name, default) != default:
                errors.append(SpecError(f"{prefix}train.{name}", train[name],
                                        f"train.schedule '{schedule}' sets the warm-up and evaluation cadence",
                                        f"remove train.{name}, or set train.schedule: given"))
    if train.get("eval_steps") is not None and train.get("eval_fraction") is not None:
        errors.append(SpecError(f"{prefix}train.eval_fraction", train["eval_fraction"],
                                "eval_steps and eval_fraction both set the evaluation cadence",
                                "keep one of them"))
    metric = train.get("early_stopping_metric", "loss")
    need = _METRIC_NEEDS.get(metric)
    if need and families and not families & need[0]:
        errors.append(SpecError(f"{prefix}train.early_stopping_metric", metric,
                                f"'{metric}' needs {need[1]}; this run has only {', '.join(sorted(families))}",
                                "use 'auto', 'combined' or 'loss'"))
    return errors


def _check_names(names: Any, what: str, path: str) -> list[SpecError]:
    if not isinstance(names, list):
        return []
    known = _known_names(what)
    out = []
    for i, name in enumerate(names):
        if name not in known:
            out.append(SpecError(f"{path}[{i}]", name, f"unknown {what}", f"use one of {', '.join(sorted(known))}"))
    return out


def _known_names(what: str) -> set[str]:
    """Registered metric / analyser names (a broken plugin module raises its ImportError here,
    naming CODETUNE_PLUGINS, rather than silently turning the check off)."""
    if what == "metric":
        from engine.scoring.metrics import available_metrics

        return set(available_metrics()) | {"pass@k"}
    from engine.scoring.quality import analysers

    return set(analysers())


# --- public entry points ---------------------------------------------------------------------


def parse_run_spec(data: Mapping[str, Any], source: str | None = None) -> RunSpec:
    """Validate a RunSpec from plain data; raises SpecValidationError listing every problem."""
    if not isinstance(data, Mapping):
        raise SpecValidationError(
            [SpecError("", data, "a run spec must be a mapping of fields", "write it as YAML/JSON keys")],
            source,
        )
    errors: list[SpecError] = []
    spec = None
    try:
        spec = RunSpec.model_validate(dict(data))
    except ValidationError as exc:
        errors.extend(pydantic_errors(exc, RunSpec))
    errors.extend(semantic_errors(data))
    if errors:
        raise SpecValidationError(errors, source)
    assert spec is not None
    return spec


def dedupe(errors: list[SpecError]) -> list[SpecError]:
    """Each (path, message) once, in first-seen order."""
    seen, out = set(), []
    for e in errors:
        key = (e.path, e.message)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out
