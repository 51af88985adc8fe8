"""The recipe of one run: prepare → train → generate → score → analyse, resumable by phase.

`execute(run)` reads the run's spec, skips the phases already done (status.json phases_done),
and runs the rest. Training resumes from the last checkpoint; generation and scoring skip the
samples already written. Any exception marks the run failed with the phase, the error and a
traceback tail; a cancellation marks it cancelled. Run it as `python -m engine.recipe RUN_DIR`
(what the worker does, in a child process) or in-process (`codetune run`).
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.runs import PHASES, RunDir, read_json, write_json_atomic
from engine.settings import Settings, load_settings
from engine.spec import RunSpec
from engine.tasks.base import Example
from engine.train import Cancelled

EVAL_FILE = "eval_examples.jsonl"


@dataclass
class PhaseContext:
    """What every phase gets: the run, its spec, the settings, the device, a progress reporter."""

    run: RunDir
    spec: RunSpec
    settings: Settings
    device: str = "cpu"
    console: bool = False
    _last_report: float = field(default=0.0, repr=False)

    @property
    def data_dir(self) -> Path:
        """The data directory: the spec's, else the settings' default."""
        return Path(self.spec.data_dir).expanduser() if self.spec.data_dir else self.settings.data_dir

    def progress(self, phase: str, done: int, total: int, force: bool = False) -> None:
        """Record progress (throttled to one status write per second) and beat the heart."""
        now = time.time()
        if force or done >= total or now - self._last_report >= 1.0:
            self._last_report = now
            self.run.update_status(progress={"phase": phase, "done": done, "total": total})
            self.run.heartbeat(phase=phase)
            if self.console:
                width = 30
                filled = int(width * done / total) if total else width
                print(f"\r  {phase:<9} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="",
                      file=sys.stderr, flush=True)
                if done >= total:
                    print(file=sys.stderr)

    def check_cancel(self) -> None:
        """Raise Cancelled if a cancel was requested for the run."""
        if self.run.cancel_requested():
            raise Cancelled("cancelled on request")

    def eval_examples(self) -> list[Example]:
        """The run's saved evaluation examples (from its eval_examples.jsonl)."""
        path = self.run.file(EVAL_FILE)
        with open(path, encoding="utf-8") as fh:
            return [Example.from_dict(json.loads(line)) for line in fh if line.strip()]


# --- phases ------------------------------------------------------------------------------------


def phase_prepare(ctx: PhaseContext) -> None:
    """Load the data, realise the mixture, snapshot the evaluation samples into the run dir."""
    from engine import data

    prepared = data.prepare(ctx.spec, ctx.data_dir)
    write_json_atomic(ctx.run.file("mixture.json"), prepared.mixture_record())
    lines = [json.dumps(ex.to_dict()) for exs in prepared.evaluation.values() for ex in exs]
    tmp = ctx.run.file(EVAL_FILE + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(ctx.run.file(EVAL_FILE))
    ctx.run.append_event("prepared", **prepared.mixture_record())


def phase_train(ctx: PhaseContext) -> None:
    """Fine-tune with the spec's method (skipped for zero-shot) and save the adapter / model."""
    if not ctx.spec.trains:
        return
    from engine import data, models, train

    spec = ctx.spec
    if spec.resources.gpus > 1:
        from engine import distributed

        distributed.launch(ctx.run, spec, ctx.device)
        ctx.run.append_event("trained", **(read_json(ctx.run.file("train_summary.json")) or {}))
        return
    prepared = data.prepare(spec, ctx.data_dir)
    tasks = data.task_objects(spec)
    source = models.resolve_source(spec, ctx.settings)
    tokenizer = models.load_tokenizer(spec, ctx.settings, source)
    model = models.apply_method(models.load_base_model(spec, ctx.settings, ctx.device, source), spec)
    params = models.count_parameters(model)
    ctx.run.append_event("model_ready", **params, device=ctx.device)
    result = train.train(spec, ctx.run, model, tokenizer, data.chat_records(prepared.train, tasks),
                         data.chat_records(prepared.valid, tasks), ctx.device)
    models.save_trained(model, tokenizer, ctx.run.model_dir, spec, source.location)
    summary = {**result.__dict__, **params}
    write_json_atomic(ctx.run.file("train_summary.json"), summary)
    ctx.run.append_event("trained", **summary)


def phase_generate(ctx: PhaseContext) -> None:
    """Generate completions for every evaluation sample, resumable by batch."""
    from engine import generation_phase

    generation_phase.run(ctx)


def phase_score(ctx: PhaseContext) -> None:
    """Execute tests and compute the similarity metrics (engine.scoring.phase)."""
    from engine.scoring import phase

    phase.score(ctx)


def phase_analyse(ctx: PhaseContext) -> None:
    """Static code quality of every generated sample (engine.scoring.phase)."""
    from engine.scoring import phase

    phase.analyse(ctx)


PHASE_FUNCTIONS: dict[str, Callable[[PhaseContext], None]] = {
    "prepare": phase_prepare,
    "train": phase_train,
    "generate": phase_generate,
    "score": phase_score,
    "analyse": phase_analyse,
}
assert tuple(PHASE_FUNCTIONS) == PHASES


# --- driver ------------------------------------------------------------------------------------


def _error_record(phase: str, exc: BaseException) -> dict[str, Any]:
    tail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-4000:]
    return {"phase": phase, "type": type(exc).__name__, "message": str(exc), "traceback": tail}


def execute(run: RunDir, settings: Settings | None = None, console: bool = False) -> str:
    """Run the remaining phases of `run`; returns the final state (done | failed | cancelled).

    The caller must own the run's lock.
    """
    settings = settings or load_settings()
    status = run.read_status()
    done = list(status.get("phases_done", []))
    phase = "prepare"
    try:
        spec = RunSpec.model_validate(run.read_spec())
        from engine.models import pick_device

        ctx = PhaseContext(run=run, spec=spec, settings=settings, device=pick_device(spec.resources.device),
                           console=console)
        run.update_status(state="running", error=None, started_at=status.get("started_at") or time.time())
        for phase in PHASES:
            if phase in done:
                continue
            ctx.check_cancel()
            run.update_status(phase=phase, progress={"phase": phase, "done": 0, "total": 0})
            run.append_event("phase", phase=phase, status="start")
            if console:
                print(f"[{run.run_id}] {phase}", file=sys.stderr, flush=True)
            started = time.time()
            PHASE_FUNCTIONS[phase](ctx)
            done.append(phase)
            run.update_status(phases_done=done)
            run.append_event("phase", phase=phase, status="end", seconds=time.time() - started)
    except Cancelled as exc:
        run.update_status(state="cancelled", finished_at=time.time(), error=None)
        run.append_event("cancelled", phase=phase, message=str(exc))
        return "cancelled"
    except Exception as exc:  # pylint: disable=broad-exception-caught
        # one bad run must never take down the worker: record everything and report failure
        record = _error_record(phase, exc)
        run.update_status(state="failed", finished_at=time.time(), error=record)
        run.append_event("error", **record)
        if console:
            print(f"\n[{run.run_id}] failed in {phase}: {exc}", file=sys.stderr)
        return "failed"
    run.update_status(state="done", phase=None, finished_at=time.time(), progress=None)
    run.append_event("done")
    return "done"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the run process the worker starts: `python -m engine.recipe RUN_DIR`."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m engine.recipe RUN_DIR", file=sys.stderr)
        return 2
    state = execute(RunDir(Path(args[0])))
    return {"done": 0, "cancelled": 3}.get(state, 1)


if __name__ == "__main__":
    sys.exit(main())
