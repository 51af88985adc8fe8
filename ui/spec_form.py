"""The Launch page's run and study forms, generated from the spec's pydantic models.

A run form has the model and method, the tasks (ui.spec_form.task_editor: the engine's catalogue
with weight, cap and options per task) and one section per part of a RunSpec (mixture, LoRA,
quantisation, training, evaluation, resources, data and custom tasks); a study form has its models
and configurations as editable tables, its tasks, and the same sections as the base every run
shares. The widgets themselves come from ui.spec_widgets; the YAML round trip is ui.spec_yaml and
the starting specs ui.spec_defaults. Widget keys carry a version number: loading a preset or
applying YAML bumps it, so every widget starts again from the loaded data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st
from pydantic import BaseModel

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
from ui.formatting import humanise
from ui.spec_widgets import (
    FormResets,
    default_of,
    field_widget,
    fields_of,
    model_fields,
    model_table,
    optional_int,
    optional_number,
)
from ui.spec_yaml import compact, normalise

# (title, field of RunSpec, model, what it is for)
RUN_SECTIONS: list[tuple[str, str, type[BaseModel], str]] = [
    ("LoRA adapter", "lora", LoraSpec, "used by methods qlora and lora"),
    ("Quantisation", "quant", QuantSpec, "4-bit base model; used by method qlora"),
    ("Training", "train", TrainSpec, "ignored by method none (zero-shot)"),
    ("Evaluation", "eval", EvalSpec, "generation and scoring of every run"),
    ("Resources", "resources", ResourceSpec, "where the run executes"),
]
MIXTURE_HELP = "proportional: natural sizes; temperature: p ∝ n^(1/T) (T > 1 flattens); explicit: the tasks' weights"


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
                value=optional_number(entry.get("weight")),
                step=0.1,
                format="%g",
                key=f"{key}.{name}.weight",
                placeholder="auto",
                help="relative weight, used by mixture mode 'explicit' (> 0)",
            )
        with cols[2]:
            cap = st.number_input(
                "cap",
                value=optional_int(entry.get("cap")),
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
            help=fields_of(RunSpec)["data_dir"].description,
            placeholder="(the CODETUNE_DATA_DIR setting)",
        )
        out["data_dir"] = data_dir.strip() or None
        st.markdown("**Custom tasks** — your own JSONL datasets, declared as new tasks (then pick them above).")
        out["custom_tasks"] = model_table(
            CustomTaskSpec,
            data.get("custom_tasks") or [],
            f"{key}.custom_tasks",
            required=("name", "family", "language", "path"),
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
            help=fields_of(RunSpec)["name"].description,
            placeholder="(optional label)",
        )
    model_data = data.get("model") if isinstance(data.get("model"), Mapping) else {}
    with top[1]:
        model_id = st.text_input(
            "model id",
            value=str(model_data.get("id") or ""),
            key=f"{key}.model.id",
            help=fields_of(ModelSpec)["id"].description + " (e.g. Qwen/Qwen2.5-Coder-0.5B-Instruct, or /path/to/model)",
        )
    with top[2]:
        method = field_widget(
            "method",
            fields_of(RunSpec)["method"],
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
    out.update({k: v for k, v in data.items() if k not in fields_of(RunSpec)})
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
        "into the base settings, e.g. {train: {optimizer: adamw_8bit}}. Transfer makes a task-transfer "
        "design: multi-task runs over task subsets plus each task's single-task run, e.g. "
        "{subsets: leave_one_out, unit: family} (subsets: leave_one_out, pairs, all or [[gen-python, sum-java]])."
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
            fields = fields_of(model)
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
