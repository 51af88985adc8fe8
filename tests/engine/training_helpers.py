"""Shared set-up of the training-path tests: one short training run on a CPU, read back as its loss
curve, the tokens it saw and the plan it trained with (the `train_path` event)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.models import load as models
from engine.models import trainer as train
from engine.runs.rundir import RunDir
from engine.settings import load_settings


def loss_curve(spec: Any, folder: Path, records: list[dict[str, Any]]) -> tuple[list[float], int, dict[str, Any]]:
    """Train `spec`'s model on `records` in a run directory at `folder`: (losses per step, tokens, plan)."""
    settings = load_settings()
    run = RunDir(folder)
    run.path.mkdir()
    tokenizer = models.load_tokenizer(spec, settings)
    model = models.apply_method(models.load_base_model(spec, settings, "cpu"), spec)
    train.train(spec, run, model, tokenizer, records, [], "cpu")
    events, _ = run.read_events()
    logs = [e for e in events if e["type"] == "train"]
    return [e["loss"] for e in logs], logs[-1]["tokens"], next(e for e in events if e["type"] == "train_path")
