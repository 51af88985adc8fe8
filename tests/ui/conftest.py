"""Fixtures for the dashboard's AppTests: a seeded store (synthetic run directories + a study,
ingested) with known answers, and a helper that opens one page of the app.

The seeded workspace is built once per session (its own CODETUNE_HOME) and only read by the page
tests; tests that queue, cancel or delete use the fresh `workspace` fixture instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.runs.rundir import write_json_atomic
from engine.settings import load_settings
from store import ingest, synthetic

SMALL = "Qwen/Qwen2.5-Coder-0.5B-Instruct"
LARGE = "Qwen/Qwen2.5-Coder-1.5B-Instruct"
TASKS = ("gen-python", "trans-java-cs", "sum-java")


@dataclass(frozen=True)
class Seeded:
    """What the seeded store holds (the tests' known answers)."""

    home: Path
    zero: str  # 0.5B zero-shot over every task
    st_gen: str  # 0.5B ST-QLoRA gen-python
    st_trans: str  # 0.5B ST-QLoRA trans-java-cs
    st_sum: str  # 0.5B ST-QLoRA sum-java
    mt: str  # 0.5B MT-QLoRA over every task: gen-python pass@1 = 4/6
    mt_large: str  # 1.5B MT-QLoRA
    failed: str  # a failed run
    study_id: str
    mt_pass1: float = 4 / 6
    flipped: str = "gen-python/00001"  # passes under MT, fails under zero-shot


def _seed(home: Path) -> Seeded:
    settings = load_settings({"CODETUNE_HOME": str(home)})
    settings.ensure_dirs()
    texts = [
        synthetic.make_texts("gen-python", 6),
        synthetic.make_texts("trans-java-cs", 5),
        synthetic.make_texts("sum-java", 4),
    ]
    by_task = {t.task: t for t in texts}
    gen_ids = by_task["gen-python"].sample_ids
    mt_status = {("gen-python", sid): ("passed" if i < 4 else "failed") for i, sid in enumerate(gen_ids)}
    zero_status = {
        ("gen-python", sid): ("failed" if i == 1 else ("passed" if i == 0 else "failed"))
        for i, sid in enumerate(gen_ids)
    }

    def write(model: str, method: str, tasks: tuple[str, ...], seed: int, **kw) -> str:
        spec = synthetic.spec_for(model, method, list(tasks))
        path = synthetic.write_run(settings.runs_dir, spec, [by_task[t] for t in tasks], seed=seed, **kw)
        return path.name

    zero = write(SMALL, "none", TASKS, 1, statuses=zero_status, pass_rate=0.2)
    st_gen = write(SMALL, "qlora", ("gen-python",), 2, pass_rate=0.5)
    st_trans = write(SMALL, "qlora", ("trans-java-cs",), 3)
    st_sum = write(SMALL, "qlora", ("sum-java",), 4)
    mt = write(SMALL, "qlora", TASKS, 5, statuses=mt_status)
    mt_large = write(LARGE, "qlora", TASKS, 6, pass_rate=0.7)
    failed = write(LARGE, "fft", TASKS, 7, state="failed")
    members = [
        {"run_id": zero, "config": "zero-shot", "model": SMALL, "created": True},
        {"run_id": st_gen, "config": "ST-QLoRA", "model": SMALL, "created": True},
        {"run_id": st_trans, "config": "ST-QLoRA", "model": SMALL, "created": True},
        {"run_id": st_sum, "config": "ST-QLoRA", "model": SMALL, "created": True},
        {"run_id": mt, "config": "MT-QLoRA", "model": SMALL, "created": True},
        {"run_id": mt_large, "config": "MT-QLoRA", "model": LARGE, "created": True},
        {"run_id": failed, "config": "MT-FFT", "model": LARGE, "created": True},
    ]
    study_id = "seeded-study-0000abcd"
    folder = settings.studies_dir / study_id
    folder.mkdir(parents=True)
    write_json_atomic(
        folder / "study.json",
        {
            "study_id": study_id,
            "name": "seeded study",
            "spec": {},
            "runs": members,
            "submitted_at": time.time(),
        },
    )
    ingest.ingest_all(settings)
    return Seeded(home, zero, st_gen, st_trans, st_sum, mt, mt_large, failed, study_id)


@pytest.fixture(scope="session")
def seeded_home(tmp_path_factory) -> Seeded:
    """The seeded workspace, built once."""
    return _seed(tmp_path_factory.mktemp("seeded") / "home")


@pytest.fixture()
def seeded(seeded_home: Seeded, monkeypatch, data_dir) -> Seeded:
    """Point the app at the seeded workspace for one test."""
    monkeypatch.setenv("CODETUNE_HOME", str(seeded_home.home))
    monkeypatch.delenv("CODETUNE_RUNS_DIR", raising=False)
    monkeypatch.delenv("CODETUNE_DB", raising=False)
    monkeypatch.setenv("CODETUNE_DATA_DIR", str(data_dir))
    return seeded_home
