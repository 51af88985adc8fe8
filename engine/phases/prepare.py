"""The prepare phase: load the data, realise the mixture, snapshot the evaluation samples into the
run directory (mixture.json, eval_examples.jsonl)."""

from __future__ import annotations

import json

from engine.phases.context import EVAL_FILE, PhaseContext
from engine.runs.rundir import write_json_atomic


def run(ctx: PhaseContext) -> None:
    """Load the data, realise the mixture, snapshot the evaluation samples into the run dir."""
    from engine.data import prepare as data

    prepared = data.prepare(ctx.spec, ctx.data_dir)
    write_json_atomic(ctx.run.file("mixture.json"), prepared.mixture_record())
    lines = [json.dumps(ex.to_dict()) for exs in prepared.evaluation.values() for ex in exs]
    tmp = ctx.run.file(EVAL_FILE + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(ctx.run.file(EVAL_FILE))
    ctx.run.append_event("prepared", **prepared.mixture_record())
