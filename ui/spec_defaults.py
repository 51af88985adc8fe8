"""The specs the Launch page starts from when nothing is loaded: a small single run and a small study.

Both are valid as they stand; presets (engine.api.presets) are the other starting points.
"""

from __future__ import annotations

from typing import Any


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
