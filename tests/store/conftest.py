"""Fixtures of the store tests: settings in an isolated workspace, and run directories with known answers.

`make_run` writes a complete run directory in the engine's format (store.synthetic); `KNOWN` is
the per-sample outcome table the query tests assert against.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.settings import Settings, load_settings
from store import synthetic

TASK = "gen-python"
# (sample number) -> status under run A and run B; samples 0..5 of gen-python.
KNOWN = {
    0: ("passed", "passed"),
    1: ("passed", "failed"),
    2: ("failed", "passed"),
    3: ("failed", "failed"),
    4: ("passed", "timeout"),
    5: ("error", "failed"),
}


def sid(i: int, task: str = TASK) -> str:
    return f"{task}/{i:05d}"


@pytest.fixture()
def settings(workspace: Path) -> Settings:
    """Settings of the test's own CODETUNE_HOME, folders created."""
    s = load_settings()
    s.ensure_dirs()
    return s


RunMaker = Callable[..., Path]


@pytest.fixture()
def make_run(settings: Settings) -> RunMaker:
    """make_run(model=..., method=..., tasks=..., n=..., statuses=..., **write_run options) -> run dir."""
    return lambda **kw: build_run(settings, **kw)


def build_run(settings: Settings, model: str = "org/model-0.5B", method: str = "qlora",
              tasks: tuple[str, ...] = (TASK,), n: int = 6, seed: int = 0, sum_n: int = 0,
              **options: Any) -> Path:
    texts = [synthetic.make_texts(TASK, n)]
    if sum_n:
        texts.append(synthetic.make_texts("sum-java", sum_n))
    spec = synthetic.spec_for(model, method, list(tasks), seed=42 + seed)
    return synthetic.write_run(settings.runs_dir, spec, texts, seed=seed, n_train_events=5, **options)


def known_statuses(which: int) -> dict[tuple[str, str], str]:
    return {(TASK, sid(i)): pair[which] for i, pair in KNOWN.items()}
