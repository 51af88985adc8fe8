"""The engine's facade for the dashboard: validate, submit, watch and manage runs, list presets and
datasets. Every call here is light (files and specs; no model, no scoring), so the app can call it
in-process; the work itself happens in worker processes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.runs import queue
from engine.runs.rundir import RunDir, read_json
from engine.settings import Settings, load_settings
from engine.spec import RunSpec, SpecError, SpecValidationError, StudySpec, expand_study, parse_spec


def settings() -> Settings:
    """The current settings (environment and defaults)."""
    return load_settings()


# --- specs ---------------------------------------------------------------------------------------


def validate(data: dict[str, Any], cfg: Settings | None = None,
             preflight: bool = True) -> tuple[RunSpec | StudySpec | None, list[SpecError]]:
    """Validate a run or study (and, if it is valid, the data directory and models); every error."""
    cfg = cfg or load_settings()
    try:
        spec = parse_spec(data)
    except SpecValidationError as exc:
        return None, exc.errors
    if not preflight:
        return spec, []
    specs = [r.spec for r in expand_study(spec)] if isinstance(spec, StudySpec) else [spec]
    errors: list[SpecError] = []
    for item in specs:
        errors.extend(e for e in queue.preflight(item, cfg) if e not in errors)
    return spec, errors


def submit(data: dict[str, Any], cfg: Settings | None = None) -> dict[str, Any]:
    """Queue a run or a study; raises SpecValidationError with every problem."""
    cfg = cfg or load_settings()
    spec, errors = validate(data, cfg)
    if errors or spec is None:
        raise SpecValidationError(errors)
    if isinstance(spec, StudySpec):
        record = queue.submit_study(spec, cfg, check=False)
        return {"kind": "study", "study_id": record["study_id"], "runs": record["runs"]}
    result = queue.submit_run(spec, cfg, check=False)
    return {"kind": "run", "runs": [{"run_id": result.run_id, "created": result.created, "config": spec.label}]}


def expand(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs a valid study (or run) spec expands to, for display before launch."""
    spec = parse_spec(data)
    items = expand_study(spec) if isinstance(spec, StudySpec) else None
    if items is None:
        assert isinstance(spec, RunSpec)
        return [{"run_id": spec.run_id(), "config": spec.label, "model": spec.model.id, "tasks": spec.task_names}]
    return [{"run_id": r.spec.run_id(), "config": r.config, "label": r.spec.label, "model": r.model,
             "tasks": r.spec.task_names} for r in items]


def presets() -> list[dict[str, Any]]:
    """Every preset with its description and kind (run or study)."""
    from engine.spec.presets import describe, list_presets, raw_preset

    return [{"name": name, "description": describe(name), "kind": raw_preset(name).get("kind", "run")}
            for name in list_presets()]


def preset_data(name: str) -> dict[str, Any]:
    """A preset's data as written, for editing before validation."""
    from engine.spec.presets import raw_preset

    return raw_preset(name)


def catalogue() -> dict[str, Any]:
    """Tasks (with families, descriptions, options), metrics and analysers known to the engine."""
    from engine.scoring.metrics import available_metrics
    from engine.scoring.quality import default_tools, registry
    from engine.tasks.registry import builtin_tasks

    tasks = [{"name": t.name, "family": t.family, "language": t.language, "description": t.description,
              "metrics": list(t.default_metrics),
              "options": {k: {"values": list(v[0]), "default": v[1]} for k, v in t.options.items()}}
             for t in builtin_tasks()]
    return {"tasks": tasks, "metrics": ["pass@k", *available_metrics()], "analysers": sorted(registry()),
            "default_analysers": {lang: default_tools(lang) for lang in ("python", "java", "csharp")}}


# --- runs ----------------------------------------------------------------------------------------


def list_runs(cfg: Settings | None = None) -> list[dict[str, Any]]:
    """One summary row per run, oldest submission first."""
    return queue.list_runs(cfg or load_settings())


def list_studies(cfg: Settings | None = None) -> list[dict[str, Any]]:
    """The recorded studies."""
    return queue.list_studies(cfg or load_settings())


def run_dir(run_id: str, cfg: Settings | None = None) -> RunDir:
    """The run directory of `run_id` (a unique prefix is enough)."""
    return queue.find_run(cfg or load_settings(), run_id)


def run_detail(run_id: str, cfg: Settings | None = None) -> dict[str, Any]:
    """Everything known about a run: summary, spec, status, mixture, metrics and training summary."""
    run = run_dir(run_id, cfg)
    return {**queue.run_summary(run), "spec": run.read_spec(), "status": run.read_status(),
            "mixture": read_json(run.file("mixture.json")), "metrics": read_json(run.file("metrics.json")),
            "train_summary": read_json(run.file("train_summary.json"))}


def read_events(run_id: str, offset: int = 0, cfg: Settings | None = None) -> tuple[list[dict[str, Any]], int]:
    """Events appended since `offset` (for live curves); returns them and the next offset."""
    return run_dir(run_id, cfg).read_events(offset)


def log_tail(run_id: str, lines: int = 80, cfg: Settings | None = None) -> str:
    """The last `lines` lines of a run's log (reads at most the final 200 kB)."""
    path = run_dir(run_id, cfg).log_path
    if not path.exists():
        return ""
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        fh.seek(max(0, fh.tell() - 200_000))
        text = fh.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def cancel(run_id: str, cfg: Settings | None = None) -> str:
    """Request that a run stop (a queued run is cancelled at once); returns its state."""
    return queue.cancel_run(cfg or load_settings(), run_id)


def resume(run_id: str, cfg: Settings | None = None) -> str:
    """Queue a failed or cancelled run again; returns its state."""
    return queue.resume_run(cfg or load_settings(), run_id)


def delete(run_id: str, cfg: Settings | None = None) -> None:
    """Delete a run directory (refused while it is running)."""
    queue.delete_run(cfg or load_settings(), run_id)


def ensure_worker(cfg: Settings | None = None) -> dict[str, Any]:
    """Start a background worker if none is alive; says which."""
    from engine.runs.worker import live_workers, start_background_worker

    cfg = cfg or load_settings()
    alive = live_workers(cfg)
    if alive:
        return {"started": False, "pid": alive[0].get("pid")}
    return {"started": True, "pid": start_background_worker(cfg)}


def workers(cfg: Settings | None = None) -> list[dict[str, Any]]:
    """The workers on this host that are alive (process exists, heartbeat recent)."""
    from engine.runs.worker import live_workers

    return live_workers(cfg or load_settings())


# --- data ----------------------------------------------------------------------------------------


def datasets(data_dir: str | None = None, cfg: Settings | None = None) -> list[dict[str, Any]]:
    """A summary row per task of the datasets found in the data directory."""
    from engine.data.inventory import summarise

    cfg = cfg or load_settings()
    return summarise(Path(data_dir) if data_dir else cfg.data_dir)


def dataset_preview(task: str, split: str = "test", limit: int = 5, data_dir: str | None = None,
                    options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The first `limit` examples of a task's split with their prompt messages, for display."""
    from engine.data.inventory import preview

    cfg = load_settings()
    return preview(Path(data_dir) if data_dir else cfg.data_dir, task, split, limit, options)


def mixture_preview(data: dict[str, Any], cfg: Settings | None = None) -> dict[str, Any]:
    """The realised mixture of a run spec before launch (counts per task, over-sampling)."""
    from engine.data import prepare as run_data

    cfg = cfg or load_settings()
    spec = parse_spec(data)
    if isinstance(spec, StudySpec):
        raise ValueError("give a run spec (a study has one mixture per run: see its expanded runs)")
    data_dir = Path(spec.data_dir).expanduser() if spec.data_dir else cfg.data_dir
    prepared = run_data.prepare(spec, data_dir, with_training=True)
    return prepared.mixture_record()


# --- comparison ----------------------------------------------------------------------------------


def paired_tests(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Paired tests for a family of comparisons, Holm-corrected together.

    Each item: task, metric ('pass@1' → McNemar on pass/fail; else Wilcoxon + Cliff's delta),
    run_a, run_b, a, b (per-sample values aligned by sample).
    """
    from engine.scoring.comparison import PairedInput, paired_family

    return [r.to_dict() for r in paired_family([PairedInput(**item) for item in items])]


def paper_numbers() -> list[dict[str, Any]]:
    """The reference study's published numbers (0–1 scale) for the Compare page's overlay."""
    from engine.scoring.paper_numbers import paper_rows

    return paper_rows()
