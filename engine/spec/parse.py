"""Reading specs: a run or a study from plain data (by its `kind`) or from a YAML/JSON file."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from engine.errors import SpecError, SpecValidationError
from engine.spec.checks import parse_run_spec
from engine.spec.run import RunSpec
from engine.spec.study import StudySpec, parse_study_spec


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


def spec_or_none(data: Any) -> RunSpec | None:
    """The RunSpec in `data` (a saved spec.json), or None when it does not validate (a spec written by
    another version, or a damaged file): callers show what they can instead of failing."""
    if not isinstance(data, Mapping):
        return None
    try:
        return RunSpec.model_validate(dict(data))
    except ValidationError:
        return None
