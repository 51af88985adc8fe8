"""store.queries.run_costs and mark_frontier: a tiny real LoRA run yields a cost row (trainable <
total parameters, tokens/s > 0, the adapter's size on disk) equal to what engine.scoring.cost reads
from its events; synthetic runs give each method's figures; the frontier is marked per task."""

from __future__ import annotations

import pandas as pd
import pytest

from engine.phases import train as train_phase
from engine.phases.context import PhaseContext
from engine.runs import queue
from engine.runs.rundir import RunDir
from engine.scoring import cost
from engine.spec import parse_run_spec
from store import ingest, queries
from store.queries.cost import mark_frontier


def test_a_tiny_lora_run_yields_a_cost_row(settings, tiny_model):
    spec = parse_run_spec({
        "model": {"id": str(tiny_model)},
        "method": "lora",
        "tasks": [{"name": "gen-python", "cap": 16}],
        "lora": {"target_modules": ["q_proj", "v_proj"]},
        "train": {"max_steps": 3, "batch_size": 2, "grad_accum": 1, "max_length": 128, "save_steps": 100,
                  "learning_rate": 1e-3, "logging_steps": 1},
    })
    run = RunDir(settings.runs_dir / queue.submit_run(spec, settings).run_id)
    train_phase.run(PhaseContext(run=run, spec=spec, settings=settings, device="cpu"))
    ingest.ingest_all(settings)

    rows = queries.run_costs(settings, [run.run_id])
    assert len(rows) == 1
    row = rows.iloc[0]
    assert 0 < row.trainable_params < row.total_params
    assert row.tokens_per_s > 0 and row.train_seconds > 0 and row.peak_mem_mb > 0 and row.tokens_seen > 0
    assert row.weights_bytes == (run.model_dir / "adapter_model.safetensors").stat().st_size
    assert row.device == "cpu" and row.world_size == 1
    assert pd.isna(row.mfu) and pd.isna(row.gpu_hours)  # a CPU: tokens/s only
    # the store's SQL agrees with the engine's reading of the same events
    direct = cost.run_cost(run.read_events(0)[0], "lora")
    assert row.tokens_per_s == pytest.approx(direct.tokens_per_s)
    assert row.peak_mem_mb == pytest.approx(direct.peak_mem_mb)
    assert row.trainable_params == direct.trainable_params and row.total_params == direct.total_params
    assert queries.run_query(settings, "run_costs", run_ids=[run.run_id]).equals(rows)


def test_synthetic_runs_give_each_method_its_figures(settings, make_run):
    zero = make_run(model="org/model-0.5B", method="none").name
    lora = make_run(model="org/model-0.5B", method="lora", seed=1).name
    fft = make_run(model="org/model-0.5B", method="fft", seed=2).name
    ingest.ingest_all(settings)
    rows = queries.run_costs(settings, [zero, lora, fft]).set_index("run_id")
    assert rows.loc[zero, "train_seconds"] == 0 and rows.loc[zero, "gpu_hours"] == 0
    assert rows.loc[zero, "trainable_params"] == 0 and pd.isna(rows.loc[zero, "mfu"])
    assert rows.loc[lora, "trainable_params"] < rows.loc[lora, "total_params"] == rows.loc[fft, "trainable_params"]
    assert 0 < rows.loc[lora, "mfu"] < 1 and 0 < rows.loc[fft, "mfu"] < 1
    assert rows.loc[fft, "weights_bytes"] > rows.loc[lora, "weights_bytes"]
    assert len(queries.run_costs(settings)) == 3 and queries.run_costs(settings, []).empty


def test_mark_frontier_per_task_and_direction():
    frame = pd.DataFrame({
        "task": ["a", "a", "a", "b", "b"],
        "cost": [1.0, 2.0, 3.0, 1.0, 2.0],
        "value": [0.1, 0.5, 0.4, 0.9, 0.3],
    })
    marked = mark_frontier(frame, "cost", higher_is_better={"b": False})
    assert marked["on_frontier"].tolist() == [True, True, False, True, True]
    assert mark_frontier(frame, "cost")["on_frontier"].tolist() == [True, True, False, True, False]
