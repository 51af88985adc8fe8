"""Where things live: the workspace, run directories, the database, the data and model folders.

Resolved each time `load_settings()` is called (no module state), in this order: the environment
variables below; else the nearest `.codetune.toml` in the working directory or one of its parents
(written by `make run`, so the command line finds the dashboard's workspace from that checkout; keys
home, runs_dir, studies_dir, db, data_dir, models_dir, paths relative to the file's folder); else the
defaults.

    CODETUNE_HOME       workspace root (default: ~/.codetune)
    CODETUNE_RUNS_DIR   run directories (default: $CODETUNE_HOME/runs)
    CODETUNE_DB         DuckDB file (default: $CODETUNE_HOME/codetune.duckdb)
    CODETUNE_DATA_DIR   the public datasets (default: $CODETUNE_HOME/data)
    CODETUNE_MODELS_DIR local models (default: $CODETUNE_HOME/models)
    CODETUNE_OFFLINE    1 = never touch the Hugging Face hub (also implied by HF_HUB_OFFLINE=1)
    CODETUNE_PRELOAD    0 = each run process starts a fresh interpreter instead of a fork of the
                        worker's zygote, which has torch & co. imported (engine.executors.zygote)
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SETTINGS_FILE = ".codetune.toml"
_FILE_KEYS = {"home": "CODETUNE_HOME", "runs_dir": "CODETUNE_RUNS_DIR", "studies_dir": "CODETUNE_STUDIES_DIR",
              "db": "CODETUNE_DB", "data_dir": "CODETUNE_DATA_DIR", "models_dir": "CODETUNE_MODELS_DIR"}


@dataclass(frozen=True)
class Settings:
    """Resolved locations and switches for one process."""

    home: Path
    runs_dir: Path
    studies_dir: Path
    db_path: Path
    data_dir: Path
    models_dir: Path
    offline: bool
    origin: str = "defaults"  # where the workspace came from: an environment variable, a settings file
    preload: bool = True  # run processes fork from a zygote with the libraries imported

    def describe(self) -> str:
        """'workspace /x/workspace (from /x/.codetune.toml), data /x/data' for messages."""
        return f"workspace {self.home} (from {self.origin}), data {self.data_dir}"

    def ensure_dirs(self) -> None:
        """Create the writable folders (never the data directory, which is read-only input)."""
        for path in (self.home, self.runs_dir, self.studies_dir, self.models_dir):
            path.mkdir(parents=True, exist_ok=True)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def find_settings_file(start: Path | None = None) -> Path | None:
    """The nearest .codetune.toml in `start` (default: the working directory) or one of its parents."""
    try:
        folder = (start or Path.cwd()).resolve()
    except OSError:  # the working directory was removed
        return None
    for candidate in (folder, *folder.parents):
        path = candidate / SETTINGS_FILE
        if path.is_file():
            return path
    return None


def _file_values(path: Path) -> dict[str, str]:
    """The file's paths as CODETUNE_* values (relative paths resolved against the file's folder)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read the settings file {path}: {exc}. Fix: correct or delete it") from exc
    unknown = sorted(set(data) - set(_FILE_KEYS))
    if unknown:
        raise ValueError(f"{path}: unknown setting(s) {unknown}. Fix: use some of {sorted(_FILE_KEYS)}")
    return {_FILE_KEYS[key]: str((path.parent / str(value)).expanduser()) for key, value in data.items()}


def load_settings(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Settings:
    """Read the settings from `env` (default: the process environment), then the nearest settings
    file from `cwd` (default: the working directory), then the defaults."""
    env = os.environ if env is None else env
    values = dict(env)
    origin = "CODETUNE_HOME" if env.get("CODETUNE_HOME") else "defaults"
    settings_file = None if env.get("CODETUNE_HOME") else find_settings_file(cwd)
    if settings_file is not None:
        values = {**_file_values(settings_file), **{k: v for k, v in env.items() if v}}
        origin = str(settings_file)
    home = Path(values.get("CODETUNE_HOME") or Path.home() / ".codetune").expanduser().resolve()
    return Settings(
        home=home,
        runs_dir=Path(values.get("CODETUNE_RUNS_DIR") or home / "runs").expanduser().resolve(),
        studies_dir=Path(values.get("CODETUNE_STUDIES_DIR") or home / "studies").expanduser().resolve(),
        db_path=Path(values.get("CODETUNE_DB") or home / "codetune.duckdb").expanduser().resolve(),
        data_dir=Path(values.get("CODETUNE_DATA_DIR") or home / "data").expanduser().resolve(),
        models_dir=Path(values.get("CODETUNE_MODELS_DIR") or home / "models").expanduser().resolve(),
        offline=_truthy(env.get("CODETUNE_OFFLINE")) or _truthy(env.get("HF_HUB_OFFLINE")),
        origin=origin,
        preload=(env.get("CODETUNE_PRELOAD") or "1").strip().lower() not in {"0", "false", "no", "off"},
    )
