"""The `runs` table's row of a run: its columns derived from spec.json and status.json.

What a run is (label, model size, tasks, families, single or multi-task) is not decided here: the
store asks engine.vocabulary (`summarise`, `is_multitask`, `model_short_name`) with the spec parsed
by engine.spec.spec_or_none, exactly as the queue (and so the CLI and the dashboard) does, and reads
status.json through the tolerant `RunStatus.from_dict`. A spec that does not validate (pydantic's
ValidationError), or whose tasks the task registry cannot place in a family (its KeyError), still
gives a row: its label is the method alone (`config_label(method, None)`) and is_multitask is NULL,
never a guess.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import duckdb

from engine.spec import RunSpec, spec_or_none
from engine.vocabulary import RunStatus, is_multitask, model_short_name, summarise

RUN_COLUMNS: tuple[str, ...] = (
    "run_id", "name", "model", "model_short", "model_size", "model_params_b", "method", "label",
    "is_multitask", "tasks", "families", "n_tasks", "spec_hash", "spec_valid", "lora_r", "learning_rate",
    "epochs", "max_steps", "seed", "eval_n_samples", "eval_temperature", "spec_json", "state", "phase",
    "progress_phase", "progress_done", "progress_total", "phases_done", "attempts", "error_phase",
    "error_type", "error_message", "error_json", "submitted_at", "started_at", "finished_at",
    "updated_at", "status_json", "ingested_at",
)


def finite(value: Any) -> float | None:
    """A finite number, else None (bools, strings and NaN are not measurements)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def describes_run(spec: RunSpec) -> bool:
    """Whether the registry knows every task of the spec (a task removed since cannot be placed in a
    family, so the run's label and single/multi-task cannot be told)."""
    try:
        _ = spec.families
    except KeyError:
        return False
    return True


def spec_columns(run_id: str, spec_data: Any) -> dict[str, Any]:
    """The runs-table columns derived from spec.json (whatever of it is readable)."""
    if not isinstance(spec_data, dict):
        return {"spec_valid": False}
    parsed = spec_or_none(spec_data)
    described = parsed if parsed is not None and describes_run(parsed) else None
    summary = summarise(run_id, spec_data, described, RunStatus())
    families = summary["families"]
    out: dict[str, Any] = {
        "name": summary["name"], "model": summary["model"], "model_short": model_short_name(summary["model"]),
        "model_size": summary["model_size"], "model_params_b": summary["model_params_b"],
        "method": summary["method"], "label": summary["label"], "tasks": summary["tasks"],
        "n_tasks": len(summary["tasks"]), "families": families,
        "is_multitask": is_multitask(families) if families is not None else None,
        "spec_valid": summary["spec_valid"], "spec_json": json.dumps(spec_data, sort_keys=True),
    }
    if parsed is not None:
        out.update(
            spec_hash=parsed.spec_hash(), lora_r=parsed.lora.r, learning_rate=parsed.train.learning_rate,
            epochs=parsed.train.epochs, max_steps=parsed.train.max_steps, seed=parsed.train.seed,
            eval_n_samples=parsed.eval.n_samples, eval_temperature=parsed.eval.temperature,
        )
    return out


def status_columns(status_data: Any) -> dict[str, Any]:
    """The runs-table columns derived from status.json (none when it is not a JSON object)."""
    if not isinstance(status_data, dict):
        return {}
    status = RunStatus.from_dict(status_data)
    progress = status.progress
    error = status.error
    return {
        "state": status.state, "phase": status.phase,
        "progress_phase": progress.phase if progress else None,
        "progress_done": finite(progress.done) if progress else None,
        "progress_total": finite(progress.total) if progress else None,
        "phases_done": status.phases_done, "attempts": status.attempts,
        "error_phase": error.get("phase") if error else None,
        "error_type": error.get("type") if error else None,
        "error_message": error.get("message") if error else None,
        "error_json": json.dumps(error, sort_keys=True, default=str) if error else None,
        "submitted_at": finite(status.submitted_at), "started_at": finite(status.started_at),
        "finished_at": finite(status.finished_at), "updated_at": finite(status.updated_at),
        "status_json": json.dumps(status_data, sort_keys=True, default=str),
    }


def replace_run_row(conn: duckdb.DuckDBPyConnection, run_id: str, spec_data: Any, status_data: Any) -> None:
    """(Re)write the run's row in `runs` from the parsed contents of spec.json and status.json (None:
    the file is missing or unreadable)."""
    row = {"run_id": run_id, **spec_columns(run_id, spec_data), **status_columns(status_data),
           "ingested_at": time.time()}
    conn.execute("DELETE FROM runs WHERE run_id = ?", [run_id])
    marks = ", ".join("?" * len(RUN_COLUMNS))
    conn.execute(f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({marks})",
                 [row.get(c) for c in RUN_COLUMNS])
