"""Shipped presets (YAML files in the project's presets/ folder): the paper's study and runs, the
CPU demo. A preset is referred to by its file stem (`paper`, `demo`, ...) or used as a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from engine.spec import RunSpec, StudySpec, load_spec_file


def presets_dir() -> Path:
    """The project's presets/ folder."""
    return Path(__file__).resolve().parents[2] / "presets"


def list_presets() -> dict[str, Path]:
    """Preset name → file, sorted by name."""
    folder = presets_dir()
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def preset_path(name_or_path: str) -> Path:
    """A preset name or a spec file path → the file."""
    candidate = Path(name_or_path).expanduser()
    if candidate.exists():
        return candidate
    presets = list_presets()
    key = name_or_path.removeprefix("preset:")
    if key in presets:
        return presets[key]
    raise FileNotFoundError(f"'{name_or_path}' is neither a file nor a preset. Fix: give a YAML/JSON spec "
                            f"file, or one of the presets: {', '.join(presets) or '(none)'}")


def load_preset(name_or_path: str) -> RunSpec | StudySpec:
    """Load and validate a preset (or spec file) by name or path."""
    return load_spec_file(preset_path(name_or_path))


def raw_preset(name_or_path: str) -> dict[str, Any]:
    """The preset's data as written (for editing in the UI before validation)."""
    return yaml.safe_load(preset_path(name_or_path).read_text(encoding="utf-8")) or {}


def describe(name: str) -> str:
    """The first comment line of a preset file (its one-line description)."""
    for line in list_presets()[name].read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""
