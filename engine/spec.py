"""RunSpec and StudySpec: the one typed, validated, serialisable contract between UI, CLI, worker and store.

A RunSpec says everything one run needs: model, method (qlora | lora | fft | none), LoRA and
quantisation settings, the task mixture, training and evaluation settings. Single-task vs
multi-task is derived from the number of tasks, never stored. `spec_hash()` identifies a spec
(its name and data directory are labels, not identity). A StudySpec expands to RunSpecs:
models x configurations (+ a zero-shot baseline per model).

Validation collects every error at once (`SpecValidationError.errors`), each with the field
path, the bad value, what is wrong and how to fix it.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engine.errors import SpecError, SpecValidationError

__all__ = ["RunSpec", "SpecError", "SpecValidationError", "StudySpec", "expand_study", "load_spec_file",
           "parse_run_spec", "parse_spec", "parse_study_spec"]

Method = Literal["qlora", "lora", "fft", "none"]
METHOD_LABELS = {"qlora": "QLoRA", "lora": "LoRA", "fft": "FFT", "none": "zero-shot"}
PAPER_TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


class _Strict(BaseModel):
    """Unknown keys are errors (typos must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class ModelSpec(_Strict):
    """The base model: a Hugging Face id or a local folder."""

    id: str = Field(min_length=1, description="Hugging Face model id or local folder")
    revision: str | None = Field(None, description="hub revision (branch, tag or commit)")
    gguf_file: str | None = Field(None, description="load this GGUF file from the folder / repo")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    trust_remote_code: bool = Field(False, description="run the model repo's own code (opt-in)")

    @property
    def short_name(self) -> str:
        """The last component of the model id or folder path."""
        return self.id.rstrip("/").split("/")[-1]


class LoraSpec(_Strict):
    """LoRA adapter settings (used by methods qlora and lora)."""

    r: int = Field(8, gt=0, le=1024)
    alpha: int = Field(16, gt=0)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    target_modules: list[str] = Field(default_factory=lambda: list(PAPER_TARGET_MODULES), min_length=1)
    bias: Literal["none", "all", "lora_only"] = "none"


class QuantSpec(_Strict):
    """4-bit quantisation of the frozen base (method qlora)."""

    quant_type: Literal["nf4", "fp4"] = "nf4"
    double_quant: bool = True
    compute_dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"


class TaskEntry(_Strict):
    """One task of the mixture, with its optional weight, cap and task-specific options."""

    name: str = Field(min_length=1)
    weight: float | None = Field(None, gt=0, description="relative weight (mixture mode 'explicit')")
    cap: int | None = Field(None, gt=0, description="at most this many training examples")
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)


class MixtureSpec(_Strict):
    """How the training sets of several tasks are combined."""

    mode: Literal["proportional", "temperature", "explicit"] = "proportional"
    temperature: float = Field(1.0, gt=0, description="mode 'temperature': p_i ∝ n_i^(1/T)")
    total: int | None = Field(None, gt=0, description="total examples (default: the natural total)")


class TrainSpec(_Strict):
    """Training settings (ignored by method 'none')."""

    learning_rate: float = Field(1e-4, gt=0, lt=1)
    scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "cosine"
    warmup_steps: int = Field(0, ge=0)
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    epochs: float = Field(1.0, gt=0)
    max_steps: int | None = Field(None, gt=0, description="stop after this many optimiser steps")
    batch_size: int = Field(2, gt=0, description="per-device batch size")
    grad_accum: int = Field(16, gt=0, description="gradient accumulation steps")
    max_length: int = Field(512, ge=16, le=131072)
    packing: bool = False
    packing_strategy: Literal["wrapped", "bfd"] = "wrapped"
    completion_only_loss: bool = True
    gradient_checkpointing: bool = False
    optimizer: Literal["adamw", "adamw_8bit", "paged_adamw_8bit", "sgd", "adafactor"] = "adamw"
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    seed: int = 42
    early_stopping_patience: int | None = Field(None, gt=0)
    eval_steps: int | None = Field(None, gt=0, description="validate every N steps (default: save_steps)")
    save_steps: int = Field(100, gt=0, description="checkpoint every N steps")
    save_total_limit: int = Field(2, gt=0)
    logging_steps: int = Field(1, gt=0)
    valid_limit: int | None = Field(None, gt=0, description="validation examples per task")
    decontaminate: bool = Field(True, description="drop training examples whose input is an evaluation input")

    @property
    def effective_batch(self) -> int:
        """Examples per optimiser step: batch size times gradient accumulation."""
        return self.batch_size * self.grad_accum


class EvalSpec(_Strict):
    """Generation and scoring settings."""

    n_samples: int = Field(1, gt=0, le=200, description="samples per prompt (pass@k needs n >= k)")
    temperature: float = Field(0.0, ge=0, description="0 = greedy")
    top_p: float = Field(1.0, gt=0, le=1)
    max_new_tokens: int | None = Field(None, gt=0, description="default: 512 for code, 128 for summaries")
    batch_size: int = Field(8, gt=0)
    limit: int | None = Field(None, gt=0, description="evaluate at most this many samples per task")
    timeout_s: float = Field(10.0, gt=0, le=600, description="time limit per executed test program")
    pass_k: list[int] = Field(default_factory=lambda: [1], min_length=1)
    metrics: list[str] | None = Field(None, description="default: each task's own metrics")
    analysers: list[str] | None = Field(None, description="default: each language's analysers")
    keep_docstrings: bool = Field(False, description="summarization: keep docstrings in inputs")
    dequantize: bool = Field(False, description="qlora: generate from the 4-bit base dequantized once "
                             "(several times faster on CPU; logits differ slightly from the 4-bit model)")

    @field_validator("pass_k")
    @classmethod
    def _positive_k(cls, value: list[int]) -> list[int]:
        if any(k <= 0 for k in value):
            raise ValueError("every k must be positive")
        return sorted(set(value))


class ResourceSpec(_Strict):
    """Where the run executes."""

    device: Literal["auto", "cpu", "cuda"] = "auto"
    gpus: int = Field(1, ge=1, le=64, description=">1 trains through accelerate on that many devices "
                      "(with device 'cpu': that many CPU processes over gloo, for testing)")
    strategy: Literal["ddp", "fsdp"] = "ddp"


class CustomTaskSpec(_Strict):
    """A user dataset (JSONL) declared as a new task."""

    name: str = Field(min_length=1)
    kind: Literal["generation", "translation", "summarization"]
    language: Literal["python", "java", "csharp", "text"] = Field(description="language of the output")
    source_language: Literal["python", "java", "csharp", "text"] | None = None
    path: str = Field(min_length=1, description="JSONL file with one example per line")
    eval_path: str | None = Field(None, description="separate evaluation JSONL (default: a held-out split)")
    input_field: str = "input"
    target_field: str = "target"
    id_field: str | None = None
    valid_fraction: float = Field(0.1, ge=0, lt=1)
    eval_fraction: float = Field(0.1, ge=0, lt=1)


def _task_shorthand(value: Any) -> Any:
    """`gen-python` is short for {name: gen-python}."""
    if isinstance(value, list):
        return [{"name": v} if isinstance(v, str) else v for v in value]
    return value


def _model_shorthand(value: Any) -> Any:
    """`Qwen/Qwen2.5-Coder-0.5B-Instruct` is short for {id: ...}."""
    if isinstance(value, str):
        return {"id": value}
    if isinstance(value, list):
        return [{"id": v} if isinstance(v, str) else v for v in value]
    return value


class RunSpec(_Strict):
    """Everything one run needs. ST vs MT is derived from `tasks`."""

    kind: Literal["run"] = "run"
    name: str | None = Field(None, description="a label; not part of the spec's identity")
    model: ModelSpec
    method: Method = "lora"
    lora: LoraSpec = Field(default_factory=LoraSpec)
    quant: QuantSpec = Field(default_factory=QuantSpec)
    tasks: list[TaskEntry] = Field(min_length=1)
    mixture: MixtureSpec = Field(default_factory=MixtureSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    resources: ResourceSpec = Field(default_factory=ResourceSpec)
    custom_tasks: list[CustomTaskSpec] = Field(default_factory=list)
    data_dir: str | None = Field(None, description="default: the CODETUNE_DATA_DIR setting")

    _tasks = field_validator("tasks", mode="before")(classmethod(lambda cls, v: _task_shorthand(v)))
    _model = field_validator("model", mode="before")(classmethod(lambda cls, v: _model_shorthand(v)))

    # --- derived ---------------------------------------------------------------------------
    @property
    def task_names(self) -> list[str]:
        """Names of the spec's tasks, in order."""
        return [t.name for t in self.tasks]

    @property
    def families(self) -> list[str]:
        """Task families covered (generation / translation / summarization / a custom kind)."""
        from engine.tasks.registry import family_of

        return sorted({family_of(t.name, self.custom_tasks) for t in self.tasks})

    @property
    def is_multitask(self) -> bool:
        """Multi-task = more than one task family (ST on gen-python + gen-java is still ST)."""
        return len(self.families) > 1

    @property
    def trains(self) -> bool:
        """Whether the run fine-tunes (any method but `none`)."""
        return self.method != "none"

    @property
    def label(self) -> str:
        """ST-QLoRA, MT-LoRA, MT-FFT, ... or zero-shot."""
        if self.method == "none":
            return "zero-shot"
        return f"{'MT' if self.is_multitask else 'ST'}-{METHOD_LABELS[self.method]}"

    def identity(self) -> dict[str, Any]:
        """The fields that define what the run computes (name and data location excluded)."""
        return self.model_dump(mode="json", exclude={"name", "data_dir"})

    def spec_hash(self) -> str:
        """Hash of the spec's identity fields (same computation → same hash)."""
        return canonical_hash(self.identity())

    def run_id(self) -> str:
        """Readable and unique: <model>-<label>-<tasks>-<hash8>. Same spec → same id."""
        tasks = self.tasks[0].name if len(self.tasks) == 1 else f"{len(self.tasks)}tasks"
        stem = slug(f"{self.model.short_name}-{self.label}-{tasks}")
        return f"{stem}-{self.spec_hash()[:8]}"

    def to_json(self) -> str:
        """The whole spec as indented, key-sorted JSON."""
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True)


class StudyConfig(_Strict):
    """One configuration of a study: a method, single- or multi-task, and overrides."""

    name: str = Field(min_length=1, description="label shown in comparisons, e.g. ST-QLoRA")
    method: Method
    mode: Literal["single", "multi"] = "multi"
    group_by: Literal["family", "task"] = Field("family", description="single mode: one run per ...")
    overrides: dict[str, Any] = Field(default_factory=dict, description="deep-merged into the base")


class StudySpec(_Strict):
    """A matrix of runs: models x configurations over a task set, plus zero-shot baselines."""

    kind: Literal["study"] = "study"
    name: str = Field(min_length=1)
    description: str = ""
    models: list[ModelSpec] = Field(min_length=1)
    tasks: list[TaskEntry] = Field(min_length=1)
    configurations: list[StudyConfig] = Field(min_length=1)
    baseline: bool = Field(True, description="add a zero-shot run per model")
    base: dict[str, Any] = Field(default_factory=dict, description="RunSpec fields shared by every run")

    _tasks = field_validator("tasks", mode="before")(classmethod(lambda cls, v: _task_shorthand(v)))
    _models = field_validator("models", mode="before")(classmethod(lambda cls, v: _model_shorthand(v)))

    def study_id(self) -> str:
        """Readable and unique: <name slug>-<hash8 of the whole study>."""
        return f"{slug(self.name)}-{canonical_hash(self.model_dump(mode='json'))[:8]}"


# --- helpers --------------------------------------------------------------------------------


def slug(text: str) -> str:
    """Lower-case, [a-z0-9-] only: safe as a folder name."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9.]+", "-", text.lower())).strip("-.")


def canonical_hash(data: Any) -> str:
    """sha256 of the canonical JSON (sorted keys, no whitespace): stable across processes."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Recursively merge mappings; lists and scalars in `override` replace those in `base`."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


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
    if kind in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
        bound = next(iter(ctx.values()), "?")
        word = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
        return f"use a number {word[kind]} {bound}"
    if kind in {"too_short", "too_long"}:
        return "give at least one entry" if kind == "too_short" else "give fewer entries"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"give a value of the right type ({err['msg'].removeprefix('Input should be ').rstrip('.')})"
    return "correct the value"


def _pydantic_errors(exc: ValidationError, model: type[BaseModel]) -> list[SpecError]:
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


def _semantic_errors(data: Mapping[str, Any], prefix: str = "") -> list[SpecError]:
    from engine.tasks import registry  # light: task modules import no ML libraries

    errors: list[SpecError] = []
    customs = data.get("custom_tasks") or []
    custom_names = [c.get("name") for c in customs if isinstance(c, Mapping)]
    known = registry.task_names()
    for i, name in enumerate(custom_names):
        if isinstance(name, str) and not _NAME_RE.match(name):
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
    tasks = _task_shorthand(data.get("tasks"))
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


def _check_names(names: Any, what: str, path: str) -> list[SpecError]:
    if not isinstance(names, list):
        return []
    known = _known_names(what)
    if known is None:
        return []
    out = []
    for i, name in enumerate(names):
        if name not in known:
            out.append(SpecError(f"{path}[{i}]", name, f"unknown {what}", f"use one of {', '.join(sorted(known))}"))
    return out


def _known_names(what: str) -> set[str] | None:
    """Registered metric / analyser names (None while that registry is not installed)."""
    try:
        if what == "metric":
            from engine.scoring.metrics import available_metrics

            return set(available_metrics()) | {"pass@k"}
        from engine.scoring.quality import registry

        return set(registry())
    except ImportError:
        return None


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
        errors.extend(_pydantic_errors(exc, RunSpec))
    errors.extend(_semantic_errors(data))
    if errors:
        raise SpecValidationError(errors, source)
    assert spec is not None
    return spec


def parse_study_spec(data: Mapping[str, Any], source: str | None = None) -> StudySpec:
    """Validate a StudySpec, including every run it expands to."""
    errors: list[SpecError] = []
    study = None
    try:
        study = StudySpec.model_validate(dict(data))
    except ValidationError as exc:
        errors.extend(_pydantic_errors(exc, StudySpec))
    raw_tasks = data.get("tasks")
    errors.extend(_semantic_errors({"tasks": raw_tasks, **(data.get("base") or {})}))
    if study is not None and not errors:
        for label, run_data in _expand_raw(study):
            try:
                parse_run_spec(run_data)
            except SpecValidationError as exc:
                errors.extend(
                    SpecError(f"configurations[{label}] → {e.path}", e.value, e.message, e.fix) for e in exc.errors
                )
    if errors:
        raise SpecValidationError(_dedupe(errors), source)
    assert study is not None
    return study


def _dedupe(errors: list[SpecError]) -> list[SpecError]:
    seen, out = set(), []
    for e in errors:
        key = (e.path, e.message)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def parse_spec(data: Mapping[str, Any], source: str | None = None) -> RunSpec | StudySpec:
    """A run or a study, by its `kind` (or by the presence of `configurations`)."""
    kind = data.get("kind") if isinstance(data, Mapping) else None
    if kind == "study" or (kind is None and isinstance(data, Mapping) and "configurations" in data):
        return parse_study_spec(data, source)
    return parse_run_spec(data, source)


def load_spec_file(path: str | Path) -> RunSpec | StudySpec:
    """Read a YAML or JSON spec file (a run or a study) and validate it."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecValidationError(
            [SpecError("", str(path), f"cannot read the spec file ({exc.strerror})", "check the path")],
            str(path),
        ) from exc
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise SpecValidationError(
            [SpecError("", str(path), f"not valid YAML/JSON{line}: {exc}", "fix the syntax")], str(path)
        ) from exc
    return parse_spec(data or {}, str(path))


# --- study expansion --------------------------------------------------------------------------


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
        for config in study.configurations:
            groups: list[list[dict[str, Any]]]
            if config.mode == "multi":
                groups = [tasks]
            elif config.group_by == "task":
                groups = [[t] for t in tasks]
            else:
                by_family: dict[str, list[dict[str, Any]]] = {}
                customs = [CustomTaskSpec.model_validate(c) for c in study.base.get("custom_tasks", [])]
                for t in tasks:
                    by_family.setdefault(registry.family_of(t["name"], customs), []).append(t)
                groups = list(by_family.values())
            for group in groups:
                data = deep_merge(study.base, config.overrides)
                data.update({"model": model_data, "method": config.method, "tasks": group})
                what = "+".join(t["name"] for t in group) if config.mode == "single" else "all tasks"
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
