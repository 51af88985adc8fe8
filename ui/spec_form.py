"""A run / study form generated from the spec's pydantic models, and its YAML round trip.

Every field of RunSpec (and of a StudySpec's base) gets a widget chosen from its type: Literal →
selectbox, bool → checkbox, int / float → number_input (optional ones may stay empty = default),
str → text_input, list[str] → multiselect (known values plus your own), list[int] → text,
dict → YAML text, lists of models (custom tasks, study models and configurations) → an editable
table. Labels come from field names, help texts from the fields' descriptions and constraints.

The widgets do not clamp values: whatever is typed goes to engine validation, whose errors (path,
value, message, fix) the page lists all at once. Widget keys carry a version number: loading a
preset or applying YAML bumps it, so every widget starts again from the loaded data.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import pandas as pd
import streamlit as st
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from engine.spec import (
    PAPER_TARGET_MODULES,
    CustomTaskSpec,
    EvalSpec,
    LoraSpec,
    MixtureSpec,
    ModelSpec,
    QuantSpec,
    ResourceSpec,
    RunSpec,
    StudyConfig,
    TrainSpec,
)
from engine.vocabulary import METHOD_LABELS
from ui.formatting import humanise, is_missing

# (title, field of RunSpec, model, what it is for)
RUN_SECTIONS: list[tuple[str, str, type[BaseModel], str]] = [
    ("LoRA adapter", "lora", LoraSpec, "used by methods qlora and lora"),
    ("Quantisation", "quant", QuantSpec, "4-bit base model; used by method qlora"),
    ("Training", "train", TrainSpec, "ignored by method none (zero-shot)"),
    ("Evaluation", "eval", EvalSpec, "generation and scoring of every run"),
    ("Resources", "resources", ResourceSpec, "where the run executes"),
]
STEPS = {
    "learning_rate": 1e-5,
    "dropout": 0.05,
    "warmup_ratio": 0.01,
    "temperature": 0.1,
    "top_p": 0.05,
    "weight_decay": 0.01,
    "max_grad_norm": 0.1,
    "epochs": 0.5,
    "timeout_s": 1.0,
    "valid_fraction": 0.05,
    "eval_fraction": 0.05,
    "weight": 0.1,
}
MIXTURE_HELP = "proportional: natural sizes; temperature: p ∝ n^(1/T) (T > 1 flattens); explicit: the tasks' weights"


# --- data helpers -------------------------------------------------------------------------------


def normalise(data: Mapping[str, Any]) -> dict[str, Any]:
    """Expand the spec shorthands (`model: id`, `tasks: [name]`, `models: [id]`) to mappings.

    The form needs the long form, and validation checks long-form task names more thoroughly.
    """
    out = dict(data)
    if isinstance(out.get("model"), str):
        out["model"] = {"id": out["model"]}
    for key, field in (("tasks", "name"), ("models", "id")):
        if isinstance(out.get(key), list):
            out[key] = [{field: v} if isinstance(v, str) else v for v in out[key]]
    return out


def compact(value: Any) -> Any:
    """Drop None values from mappings, recursively (what YAML should show)."""
    if isinstance(value, Mapping):
        return {k: compact(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [compact(v) for v in value]
    return value


def to_yaml(data: Mapping[str, Any]) -> str:
    """The spec as block YAML, keys in the models' order."""
    return yaml.safe_dump(compact(dict(data)), sort_keys=False, allow_unicode=True, width=100)


def from_yaml(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """Parse the YAML editor's text: (data, None) or (None, what is wrong and where)."""
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        return None, f"not valid YAML{where}: {problem}. Fix the syntax (indent with spaces, `key: value`)."
    if not isinstance(data, Mapping):
        return (
            None,
            "the YAML must be a mapping of fields (e.g. `model: ...`, `tasks: [...]`), not a list or text.",
        )
    return normalise(data), None


def default_run() -> dict[str, Any]:
    """A small, valid starting point: LoRA on Qwen2.5-Coder-0.5B-Instruct, Python generation."""
    return {
        "kind": "run",
        "model": {"id": "Qwen/Qwen2.5-Coder-0.5B-Instruct"},
        "method": "lora",
        "tasks": [{"name": "gen-python"}],
    }


def default_study() -> dict[str, Any]:
    """A two-configuration study to start from (ST-QLoRA vs MT-QLoRA on one model)."""
    return {
        "kind": "study",
        "name": "my-study",
        "description": "",
        "models": [{"id": "Qwen/Qwen2.5-Coder-0.5B-Instruct"}],
        "tasks": [{"name": "gen-python"}, {"name": "sum-python"}],
        "configurations": [
            {"name": "ST-QLoRA", "method": "qlora", "mode": "single"},
            {"name": "MT-QLoRA", "method": "qlora", "mode": "multi"},
        ],
        "baseline": True,
        "base": {},
    }


# --- type inspection ----------------------------------------------------------------------------


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(inner type, optional?) for `X | None`."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not types.NoneType]
        optional = len(args) < len(typing.get_args(annotation))
        if len(args) == 1:
            return args[0], optional
        return annotation, optional
    return annotation, False


def field_kind(info: FieldInfo) -> tuple[str, Any, bool]:
    """(kind, detail, optional): kind is literal, bool, int, float, str, list_str, list_int, dict,
    model_list, model or other; detail the Literal's values or the listed model."""
    inner, optional = _unwrap(info.annotation)
    origin = typing.get_origin(inner)
    if origin is Literal:
        return "literal", list(typing.get_args(inner)), optional
    if inner is bool:
        return "bool", None, optional
    if inner is int:
        return "int", None, optional
    if inner is float:
        return "float", None, optional
    if inner is str:
        return "str", None, optional
    if origin is list:
        (elem,) = typing.get_args(inner) or (str,)
        if isinstance(elem, type) and issubclass(elem, BaseModel):
            return "model_list", elem, optional
        return ("list_int" if elem is int else "list_str"), None, optional
    if origin is dict or inner is dict:
        return "dict", None, optional
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return "model", inner, optional
    return "other", None, optional


def constraints(info: FieldInfo) -> str:
    """'> 0, ≤ 200' from the field's metadata."""
    words = []
    for item in info.metadata:
        for attr, sign in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤"), ("min_length", "at least")):
            bound = getattr(item, attr, None)
            if bound is not None:
                words.append(f"{sign} {bound}" + (" entries" if attr == "min_length" else ""))
    return ", ".join(words)


def field_help(info: FieldInfo, extra: str = "") -> str | None:
    """The widget's help: the field's description and its allowed range."""
    parts = [p for p in (info.description, constraints(info) and f"allowed: {constraints(info)}", extra) if p]
    return "; ".join(parts) or None


def default_of(info: FieldInfo) -> Any:
    """The field's default (None for a required field)."""
    if info.is_required():
        return None
    return info.get_default(call_default_factory=True)


def _fields(model: type[BaseModel]) -> dict[str, FieldInfo]:
    """A model's fields (a plain dict: pylint cannot see through pydantic's class property)."""
    return dict(model.model_fields)


def _option_label(value: Any) -> str:
    return "(default)" if value is None else str(value)


def _method_label(value: Any) -> str:
    return f"{value} — {METHOD_LABELS.get(value, '?')}" if value else "(default)"


# --- single field ------------------------------------------------------------------------------


class FormResets:
    """Values that could not be shown in a widget (wrong type) and were replaced by the default."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, value: Any) -> None:
        """Remember that `path` held `value`, which no widget could show."""
        self.items.append(f"{path} = {value!r}")


def _number(value: Any, kind: str) -> int | float | None:
    if is_missing(value):
        return None
    if isinstance(value, bool):
        raise TypeError("a bool is not a number here")
    number = float(value)
    if math.isinf(number):
        raise ValueError("infinite")
    return int(number) if kind == "int" else number


def field_widget(
    name: str,
    info: FieldInfo,
    value: Any,
    key: str,
    path: str,
    resets: FormResets | None = None,
    known: Sequence[str] | None = None,
    label: str | None = None,
) -> Any:
    """One widget for one field, initialised with `value`; returns the value the user chose."""
    kind, detail, optional = field_kind(info)
    label = label or humanise(name)
    default = default_of(info)
    helptext = field_help(info)
    if kind == "literal":
        options: list[Any] = ([None] if optional else []) + list(detail)
        if value not in options:
            options.append(value)  # an invalid value stays visible; validation names it
        fmt: Callable[[Any], str] = _method_label if name == "method" else _option_label
        return st.selectbox(label, options, index=options.index(value), key=key, help=helptext, format_func=fmt)
    if kind == "bool":
        return st.checkbox(
            label, value=bool(value) if isinstance(value, bool) else bool(default), key=key, help=helptext
        )
    if kind in ("int", "float"):
        try:
            number = _number(value, kind)
        except (TypeError, ValueError):
            if resets is not None:
                resets.add(path, value)
            number = _number(default, kind)
        if number is None and not optional:
            number = _number(default, kind) if default is not None else (0 if kind == "int" else 0.0)
        step = 1 if kind == "int" else STEPS.get(name, 0.1)
        return st.number_input(
            label,
            value=number,
            step=step,
            key=key,
            help=helptext,
            format="%d" if kind == "int" else "%g",
            placeholder="default" if optional else None,
        )
    if kind == "str":
        text = "" if value is None else str(value)
        got = st.text_input(label, value=text, key=key, help=helptext, placeholder="(default)" if optional else None)
        return (got.strip() or None) if optional else got
    if kind == "list_str":
        current = [str(v) for v in (value or [])] if isinstance(value, list) else []
        choices = list(dict.fromkeys([*(known or []), *current]))
        got = st.multiselect(
            label,
            choices,
            default=current,
            key=key,
            help=helptext,
            accept_new_options=True,
            placeholder="(default)" if optional else "choose or type",
        )
        return (list(got) or None) if optional else list(got)
    if kind == "list_int":
        text = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value or "")
        got = st.text_input(label, value=text, key=key, help=(helptext or "") + " (comma-separated)")
        return _int_list(got)
    if kind == "dict":
        text = yaml.safe_dump(value, default_flow_style=True).strip() if value else ""
        got = st.text_input(label, value=text, key=key, help=(helptext or "") + " (YAML, e.g. {a: 1})")
        parsed, _ = from_yaml(got) if got.strip() else ({}, None)
        return parsed if parsed is not None else got
    got = st.text_input(label, value="" if value is None else str(value), key=key, help=helptext)
    return got or None


def _int_list(text: str) -> list[Any]:
    """'1, 5, 10' → [1, 5, 10]; an entry that is no integer is kept as text for validation to name."""
    out: list[Any] = []
    for part in (p.strip() for p in text.replace(";", ",").split(",")):
        if not part:
            continue
        try:
            out.append(int(part))
        except ValueError:
            out.append(part)
    return out


def model_fields(
    model: type[BaseModel],
    values: Mapping[str, Any] | None,
    key: str,
    path: str,
    resets: FormResets | None = None,
    skip: Sequence[str] = (),
    columns: int = 3,
    known: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Widgets for every (scalar) field of `model`, in a grid; returns the values chosen."""
    values = values if isinstance(values, Mapping) else {}
    names = [n for n in model.model_fields if n not in skip]
    cols = st.columns(columns)
    out: dict[str, Any] = {}
    for i, name in enumerate(names):
        info = model.model_fields[name]
        value = values.get(name, default_of(info))
        with cols[i % columns]:
            out[name] = field_widget(
                name,
                info,
                value,
                f"{key}.{name}",
                f"{path}.{name}" if path else name,
                resets,
                (known or {}).get(name),
            )
    # keys the form does not know (typos from YAML) are kept so validation can name them
    out.update({k: v for k, v in values.items() if k not in model.model_fields})
    return out


# --- lists of models as an editable table ---------------------------------------------------------


def _cell(value: Any, kind: str) -> Any:
    if kind == "dict":
        return yaml.safe_dump(value, default_flow_style=True).strip() if value else ""
    return value


def model_table(
    model: type[BaseModel],
    rows: Sequence[Mapping[str, Any]],
    key: str,
    required: Sequence[str] = (),
    help_text: str | None = None,
) -> list[dict[str, Any]]:
    """An editable table (add / delete rows) with one typed column per field of `model`."""
    config: dict[str, Any] = {}
    dtypes: dict[str, str] = {}
    kinds: dict[str, str] = {}
    for name, info in model.model_fields.items():
        kind, detail, _ = field_kind(info)
        kinds[name] = kind
        label = humanise(name)
        helptext = field_help(info)
        req = name in required
        if kind == "literal":
            config[name] = st.column_config.SelectboxColumn(
                label, options=list(detail), help=helptext, required=req, default=default_of(info)
            )
            dtypes[name] = "object"
        elif kind == "bool":
            config[name] = st.column_config.CheckboxColumn(label, help=helptext, default=default_of(info))
            dtypes[name] = "boolean"
        elif kind in ("int", "float"):
            config[name] = st.column_config.NumberColumn(
                label, help=helptext, default=default_of(info), step=1 if kind == "int" else 0.01
            )
            dtypes[name] = "Float64"
        else:
            config[name] = st.column_config.TextColumn(
                label,
                help=(helptext or "") + (" (YAML, e.g. {train: {optimizer: adamw}})" if kind == "dict" else ""),
                required=req,
            )
            dtypes[name] = "object"
    frame = pd.DataFrame(
        [{n: _cell(r.get(n), kinds[n]) for n in model.model_fields} for r in rows],
        columns=list(model.model_fields),
    )
    for name, dtype in dtypes.items():
        if dtype != "object":
            frame[name] = frame[name].astype(dtype)
    if help_text:
        st.caption(help_text)
    edited = st.data_editor(frame, key=key, num_rows="dynamic", column_config=config, hide_index=True, width="stretch")
    out = []
    for record in edited.to_dict("records"):
        row: dict[str, Any] = {}
        for name, value in record.items():
            if is_missing(value) or value == "":
                continue
            kind = kinds[name]
            if kind == "dict" and isinstance(value, str):
                parsed, _ = from_yaml(value)
                value = parsed if parsed is not None else value
            elif kind == "int" and isinstance(value, float) and value.is_integer():
                value = int(value)
            elif kind == "bool":
                value = bool(value)
            row[name] = value
        if row:
            out.append(row)
    return out


# --- tasks ------------------------------------------------------------------------------------------


def task_editor(
    entries: Sequence[Mapping[str, Any]],
    key: str,
    catalogue: Mapping[str, Any],
    custom_names: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Choose the tasks (one = single-task, several families = multi-task) with weight, cap, options."""
    infos = {t["name"]: t for t in catalogue.get("tasks", [])}
    current = [str(e.get("name")) for e in entries if isinstance(e, Mapping) and e.get("name")]
    options = list(dict.fromkeys([*infos, *custom_names, *current]))

    def describe(name: str) -> str:
        info = infos.get(name)
        if info:
            return f"{name} ({info['family']}, {info['language']})"
        return f"{name} (custom)" if name in custom_names else f"{name} (unknown)"

    chosen = st.multiselect(
        "tasks",
        options,
        default=current,
        key=f"{key}.names",
        format_func=describe,
        help="one task (or one family) = single-task; several families = multi-task. "
        "Task list from the engine's catalogue.",
    )
    by_name = {str(e.get("name")): e for e in entries if isinstance(e, Mapping)}
    out = []
    for name in chosen:
        entry = dict(by_name.get(name, {"name": name}))
        info = infos.get(name, {})
        cols = st.columns([3, 2, 2, 3])
        with cols[0]:
            st.markdown(
                f"**{name}**  \n<small>{info.get('description', 'a custom task')}</small>",
                unsafe_allow_html=True,
            )
        with cols[1]:
            weight = st.number_input(
                "weight",
                value=_safe_number(entry.get("weight")),
                step=0.1,
                format="%g",
                key=f"{key}.{name}.weight",
                placeholder="auto",
                help="relative weight, used by mixture mode 'explicit' (> 0)",
            )
        with cols[2]:
            cap = st.number_input(
                "cap",
                value=_safe_int(entry.get("cap")),
                step=1,
                format="%d",
                key=f"{key}.{name}.cap",
                placeholder="all",
                help="at most this many training examples of this task (> 0)",
            )
        opts = dict(entry.get("options") or {})
        with cols[3]:
            for opt, spec in info.get("options", {}).items():
                values = list(spec["values"])
                now = opts.get(opt, spec["default"])
                if now not in values:
                    values.append(now)
                got = st.selectbox(
                    humanise(opt),
                    values,
                    index=values.index(now),
                    key=f"{key}.{name}.{opt}",
                    help=f"task option (default {spec['default']})",
                )
                if got != spec["default"] or opt in (entry.get("options") or {}):
                    opts[opt] = got
                else:
                    opts.pop(opt, None)
        item: dict[str, Any] = {"name": name}
        if weight is not None:
            item["weight"] = weight
        if cap is not None:
            item["cap"] = int(cap)
        if opts:
            item["options"] = opts
        item.update({k: v for k, v in entry.items() if k not in ("name", "weight", "cap", "options")})
        out.append(item)
    if not chosen:
        st.caption("Pick at least one task.")
    return out


def _safe_number(value: Any) -> float | None:
    try:
        return _number(value, "float")
    except (TypeError, ValueError):
        return None


def _safe_int(value: Any) -> int | None:
    try:
        return _number(value, "int")  # type: ignore[return-value]
    except (TypeError, ValueError):
        return None


# --- whole forms ------------------------------------------------------------------------------------


def run_settings(
    data: Mapping[str, Any],
    key: str,
    catalogue: Mapping[str, Any],
    resets: FormResets,
    method: str | None,
    path: str = "",
) -> dict[str, Any]:
    """The sections every run has (mixture, LoRA, quantisation, training, evaluation, resources, data,
    custom tasks): shared by the run form and a study's base settings."""
    out: dict[str, Any] = {}
    known = {
        "target_modules": PAPER_TARGET_MODULES,
        "metrics": catalogue.get("metrics", []),
        "analysers": catalogue.get("analysers", []),
    }
    prefix = f"{path}." if path else ""
    with st.expander("Mixture", expanded=False):
        st.caption(MIXTURE_HELP)
        out["mixture"] = model_fields(MixtureSpec, data.get("mixture"), f"{key}.mixture", f"{prefix}mixture", resets)
    for title, field, model, what in RUN_SECTIONS:
        relevant = (field == "lora" and method in ("qlora", "lora")) or (field == "quant" and method == "qlora")
        with st.expander(f"{title} — {what}", expanded=relevant):
            out[field] = model_fields(model, data.get(field), f"{key}.{field}", f"{prefix}{field}", resets, known=known)
    with st.expander("Data and custom tasks", expanded=False):
        data_dir = st.text_input(
            "data dir",
            value=data.get("data_dir") or "",
            key=f"{key}.data_dir",
            help=_fields(RunSpec)["data_dir"].description,
            placeholder="(the CODETUNE_DATA_DIR setting)",
        )
        out["data_dir"] = data_dir.strip() or None
        st.markdown("**Custom tasks** — your own JSONL datasets, declared as new tasks (then pick them above).")
        out["custom_tasks"] = model_table(
            CustomTaskSpec,
            data.get("custom_tasks") or [],
            f"{key}.custom_tasks",
            required=("name", "kind", "language", "path"),
        )
    return out


def run_form(data: Mapping[str, Any], key: str, catalogue: Mapping[str, Any]) -> tuple[dict[str, Any], FormResets]:
    """Every RunSpec field; returns the data the widgets hold (not validated)."""
    resets = FormResets()
    data = normalise(data)
    st.subheader("Model and method")
    top = st.columns([2, 3, 2])
    with top[0]:
        name = st.text_input(
            "name",
            value=data.get("name") or "",
            key=f"{key}.name",
            help=_fields(RunSpec)["name"].description,
            placeholder="(optional label)",
        )
    model_data = data.get("model") if isinstance(data.get("model"), Mapping) else {}
    with top[1]:
        model_id = st.text_input(
            "model id",
            value=str(model_data.get("id") or ""),
            key=f"{key}.model.id",
            help=_fields(ModelSpec)["id"].description + " (e.g. Qwen/Qwen2.5-Coder-0.5B-Instruct, or /path/to/model)",
        )
    with top[2]:
        method = field_widget(
            "method",
            _fields(RunSpec)["method"],
            data.get("method", "lora"),
            f"{key}.method",
            "method",
            resets,
        )
    with st.expander("Model details (revision, GGUF file, dtype, remote code)", expanded=False):
        model = model_fields(ModelSpec, model_data, f"{key}.model", "model", resets, skip=("id",))
    model["id"] = model_id
    st.subheader("Tasks")
    custom_names = [c.get("name") for c in data.get("custom_tasks") or [] if isinstance(c, Mapping)]
    tasks = task_editor(data.get("tasks") or [], f"{key}.tasks", catalogue, [n for n in custom_names if n])
    st.subheader("Settings")
    rest = run_settings(data, key, catalogue, resets, method)
    out: dict[str, Any] = {
        "kind": "run",
        "name": name.strip() or None,
        "model": model,
        "method": method,
        "tasks": tasks,
        **rest,
    }
    out.update({k: v for k, v in data.items() if k not in _fields(RunSpec)})
    return out, resets


def study_form(data: Mapping[str, Any], key: str, catalogue: Mapping[str, Any]) -> tuple[dict[str, Any], FormResets]:
    """A StudySpec: models × configurations over a task set, zero-shot baselines, shared base settings."""
    resets = FormResets()
    data = normalise(data)
    cols = st.columns([1, 2])
    with cols[0]:
        name = st.text_input(
            "study name",
            value=str(data.get("name") or ""),
            key=f"{key}.name",
            help="names the study (its id is the name plus a hash)",
        )
        baseline = st.checkbox(
            "zero-shot baseline per model",
            value=bool(data.get("baseline", True)),
            key=f"{key}.baseline",
            help="adds one run with method none per model",
        )
    with cols[1]:
        description = st.text_area(
            "description", value=str(data.get("description") or ""), key=f"{key}.description", height=100
        )
    st.subheader("Models")
    st.caption("One row per base model (Hugging Face id or local folder). Add rows at the bottom of the table.")
    models = model_table(ModelSpec, data.get("models") or [], f"{key}.models", required=("id",))
    st.subheader("Tasks")
    base = data.get("base") if isinstance(data.get("base"), Mapping) else {}
    custom_names = [c.get("name") for c in base.get("custom_tasks") or [] if isinstance(c, Mapping)]
    tasks = task_editor(data.get("tasks") or [], f"{key}.tasks", catalogue, [n for n in custom_names if n])
    st.subheader("Configurations")
    st.caption(
        "Each configuration runs once per model: mode 'multi' trains one model on every task; "
        "'single' trains one per family (or per task, with group by = task). Overrides are deep-merged "
        "into the base settings, e.g. {train: {optimizer: adamw_8bit}}."
    )
    configs = model_table(
        StudyConfig, data.get("configurations") or [], f"{key}.configurations", required=("name", "method")
    )
    st.subheader("Base settings shared by every run")
    base_out = run_settings(base, f"{key}.base", catalogue, resets, "qlora", path="base")
    base_out.update({k: v for k, v in base.items() if k not in base_out})
    out = {
        "kind": "study",
        "name": name.strip(),
        "description": description,
        "models": models,
        "tasks": tasks,
        "configurations": configs,
        "baseline": baseline,
        "base": prune_defaults(compact(base_out), base),
    }
    return out, resets


def prune_defaults(collected: Mapping[str, Any], original: Mapping[str, Any]) -> dict[str, Any]:
    """A study base without the defaults the form added: a value equal to its field's default is
    dropped unless the original base set it. The base stays as written (a preset loaded and
    submitted unchanged gives the same study id as from the command line), and means the same."""
    sections = {"mixture": MixtureSpec, **{field: model for _, field, model, _ in RUN_SECTIONS}}
    out: dict[str, Any] = {}
    for key, value in collected.items():
        before = original.get(key)
        model = sections.get(key)
        if model is not None and isinstance(value, Mapping):
            before = before if isinstance(before, Mapping) else {}
            fields = _fields(model)
            kept = {
                k: (before[k] if k in before and before[k] == v else v)  # 5 stays 5, not 5.0
                for k, v in value.items()
                if k in before or k not in fields or v != default_of(fields[k])
            }
            if kept or key in original:
                out[key] = kept
        elif key in original or value not in (None, [], {}):
            out[key] = value
    return out
