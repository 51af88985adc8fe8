"""Where things live: the workspace, run directories, the database, the data and model folders.

Resolved from environment variables each time `load_settings()` is called (no module state):

    CODETUNE_HOME       workspace root (default: ~/.codetune)
    CODETUNE_RUNS_DIR   run directories (default: $CODETUNE_HOME/runs)
    CODETUNE_DB         DuckDB file (default: $CODETUNE_HOME/codetune.duckdb)
    CODETUNE_DATA_DIR   the public datasets (default: $CODETUNE_HOME/data)
    CODETUNE_MODELS_DIR local models (default: $CODETUNE_HOME/models)
    CODETUNE_OFFLINE    1 = never touch the Hugging Face hub (also implied by HF_HUB_OFFLINE=1)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


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

    def ensure_dirs(self) -> None:
        """Create the writable folders (never the data directory, which is read-only input)."""
        for path in (self.home, self.runs_dir, self.studies_dir, self.models_dir):
            path.mkdir(parents=True, exist_ok=True)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from `env` (default: the process environment)."""
    env = os.environ if env is None else env
    home = Path(env.get("CODETUNE_HOME") or Path.home() / ".codetune").expanduser().resolve()
    return Settings(
        home=home,
        runs_dir=Path(env.get("CODETUNE_RUNS_DIR") or home / "runs").expanduser().resolve(),
        studies_dir=Path(env.get("CODETUNE_STUDIES_DIR") or home / "studies").expanduser().resolve(),
        db_path=Path(env.get("CODETUNE_DB") or home / "codetune.duckdb").expanduser().resolve(),
        data_dir=Path(env.get("CODETUNE_DATA_DIR") or home / "data").expanduser().resolve(),
        models_dir=Path(env.get("CODETUNE_MODELS_DIR") or home / "models").expanduser().resolve(),
        offline=_truthy(env.get("CODETUNE_OFFLINE")) or _truthy(env.get("HF_HUB_OFFLINE")),
    )
