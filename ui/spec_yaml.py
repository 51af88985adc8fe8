"""The spec's YAML round trip for the Launch page's YAML editor: shorthands expanded to the long form
the form widgets read, None values dropped, text ↔ data with errors that say where and how to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml


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
