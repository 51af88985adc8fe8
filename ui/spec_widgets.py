"""Widgets generated from pydantic models: one widget per field, chosen from the field's type, plus
grids of a model's fields and editable tables of a list of models.

Literal → selectbox, bool → checkbox, int / float → number_input (optional ones may stay empty =
default), str → text_input, list[str] → multiselect (known values plus your own), list[int] → text,
dict → YAML text, lists of models → an editable table (st.data_editor) with one typed column per
field. Labels come from field names, help texts from the fields' descriptions and constraints.

The widgets do not clamp values: whatever is typed goes to engine validation, whose errors (path,
value, message, fix) the page lists all at once. A value no widget can show (wrong type) is replaced
by the default and remembered in `FormResets`, so the page can say so.
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

from engine.vocabulary import METHOD_LABELS
from ui.formatting import humanise, is_missing
from ui.spec_yaml import from_yaml

STEPS = {  # number_input steps of float fields (by field name; others step by 0.1)
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


def fields_of(model: type[BaseModel]) -> dict[str, FieldInfo]:
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


def as_number(value: Any, kind: str) -> int | float | None:
    """`value` as an int or float (`kind`), None when missing; TypeError / ValueError when it is no
    finite number (a bool, text, infinity)."""
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
            number = as_number(value, kind)
        except (TypeError, ValueError):
            if resets is not None:
                resets.add(path, value)
            number = as_number(default, kind)
        if number is None and not optional:
            number = as_number(default, kind) if default is not None else (0 if kind == "int" else 0.0)
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
    """A field's value as a table cell: mappings (a dict, a nested model such as a configuration's
    `transfer`) as one-line YAML, lists as comma-separated text (a list cell cannot be edited)."""
    if kind in ("dict", "model"):
        return yaml.safe_dump(value, default_flow_style=True, width=1000).strip() if value else ""
    if kind in ("list_str", "list_int") and isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return value


def _from_cell(value: Any, kind: str) -> Any:
    """A table cell back to the field's value (text validation can name when it is not)."""
    if not isinstance(value, str):
        return value
    if kind in ("dict", "model"):
        parsed, _ = from_yaml(value)
        return parsed if parsed is not None else value
    if kind == "list_int":
        return _int_list(value)
    if kind == "list_str":
        return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
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
            hint = {"dict": " (YAML, e.g. {train: {optimizer: adamw}})",
                    "model": f" (YAML with {', '.join(getattr(detail, 'model_fields', {}))})",
                    "list_str": " (comma-separated)", "list_int": " (comma-separated)"}.get(kind, "")
            config[name] = st.column_config.TextColumn(label, help=(helptext or "") + hint, required=req)
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
            if kind in ("dict", "model", "list_str", "list_int"):
                value = _from_cell(value, kind)
            elif kind == "int" and isinstance(value, float) and value.is_integer():
                value = int(value)
            elif kind == "bool":
                value = bool(value)
            row[name] = value
        if row:
            out.append(row)
    return out


def optional_number(value: Any) -> float | None:
    """`value` as a float, or None when it is missing or no number (the widget then starts empty)."""
    try:
        return as_number(value, "float")
    except (TypeError, ValueError):
        return None


def optional_int(value: Any) -> int | None:
    """`value` as an int, or None when it is missing or no number (the widget then starts empty)."""
    try:
        return as_number(value, "int")  # type: ignore[return-value]
    except (TypeError, ValueError):
        return None
