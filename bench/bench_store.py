"""Benchmark: the store's ingest and the latency of the queries behind Compare, Samples and Quality.

Synthesises a store of N runs × M samples by writing real run directories (store.synthetic: the
engine's parquet schemas, spec.json from real RunSpecs, events, metrics, a study) and ingesting them
with store.ingest (so the ingest is measured too: first ingest, a no-change ingest, one changed run).
Then times each named query the three pages use, each opening its own read-only connection as the
app does:

* cold: the first call of each query in a fresh process, on runs no earlier query touched
  (DuckDB's cache is empty; with --drop-caches the OS page cache is dropped first too, as root);
* warm: the median of --repeat further calls in the same process (OS page cache warm; DuckDB still
  opens a fresh connection each call, as the app does);
* session: the median when a page's queries share one connection (store.db.connect passed as source);
* reader: the median through a store.db.Reader (what the app keeps per process: an in-memory DuckDB
  that attaches the file read-only for each query and detaches it after);
* min and cpu: the fastest warm call, and the median CPU time of the process (all DuckDB threads)
  per warm call: on a shared machine the wall times include waiting for a CPU.

    python bench/bench_store.py [--runs 200] [--samples 5000] [--out FILE.json] [--workdir DIR]
                                [--repeat 5] [--keep] [--drop-caches]

Prints a table and checks the goal (every query ≤ 200 ms), for queries on their own connection (warm)
and through a Reader; --out writes all numbers as JSON.
The workdir (default: a temporary folder under /tmp) is removed unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

GOAL_MS = 200.0
TASK_SHARES = {"gen-python": 0.2, "gen-java": 0.2, "trans-java-cs": 0.2, "trans-cs-java": 0.2,
               "sum-python": 0.1, "sum-java": 0.1}
MODELS = ["Qwen/Qwen2.5-Coder-0.5B-Instruct", "Qwen/Qwen2.5-Coder-1.5B-Instruct",
          "Qwen/Qwen2.5-Coder-3B-Instruct", "Qwen/Qwen2.5-Coder-7B-Instruct"]


def configs() -> list[tuple[str, list[str]]]:
    """(method, tasks) per configuration: ST-QLoRA per task, MT-QLoRA, MT-LoRA, MT-FFT, zero-shot."""
    tasks = list(TASK_SHARES)
    out: list[tuple[str, list[str]]] = [("qlora", [t]) for t in tasks]
    out += [("qlora", tasks), ("lora", tasks), ("fft", tasks), ("none", tasks)]
    return out


def synthesize(home: Path, n_runs: int, n_samples: int) -> dict[str, Any]:
    """Write n_runs run directories (and one study over the first of them); returns timings."""
    from engine.runs.rundir import write_json_atomic
    from engine.settings import load_settings
    from store import synthetic

    settings = load_settings({"CODETUNE_HOME": str(home)})
    settings.ensure_dirs()
    counts = {t: int(n_samples * s) for t, s in TASK_SHARES.items()}
    counts["gen-python"] += n_samples - sum(counts.values())
    texts = [synthetic.make_texts(t, n) for t, n in counts.items()]
    started = time.perf_counter()
    run_ids: list[str] = []
    members = []
    combos = [(m, c) for m in MODELS for c in configs()]
    for i in range(n_runs):
        model, (method, tasks) = combos[i % len(combos)]
        spec = synthetic.spec_for(model, method, tasks, seed=42 + i // len(combos))
        pass_rate = 0.2 + 0.15 * MODELS.index(model) + (0.05 if method != "none" else 0.0)
        path = synthetic.write_run(settings.runs_dir, spec, texts, pass_rate=pass_rate, seed=i,
                                   findings_per_sample=1.5 + (i % 3) * 0.5)
        run_ids.append(path.name)
        if i < len(combos):
            members.append({"run_id": path.name, "config": spec.label, "model": model, "created": True})
    study_dir = settings.studies_dir / "paper-matrix-00000000"
    study_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(study_dir / "study.json", {"study_id": study_dir.name, "name": "paper matrix",
                                                 "spec": {}, "runs": members, "submitted_at": time.time()})
    return {"write_s": time.perf_counter() - started, "run_ids": run_ids, "counts": counts,
            "bytes_run_dirs": _du(settings.runs_dir)}


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def ingest_timings(home: Path, run_ids: list[str]) -> dict[str, Any]:
    """First ingest, a no-change ingest, and one run's outcomes rewritten then ingested."""
    import pyarrow.parquet as pq

    from engine.runs.rundir import write_table_atomic
    from engine.settings import load_settings
    from store import ingest

    settings = load_settings({"CODETUNE_HOME": str(home)})
    t0 = time.perf_counter()
    first = ingest.ingest_all(settings)
    first_s = time.perf_counter() - t0
    print(first)
    t0 = time.perf_counter()
    again = ingest.ingest_all(settings)
    again_s = time.perf_counter() - t0
    print(again)
    victim = settings.runs_dir / run_ids[len(run_ids) // 2] / "outcomes.parquet"
    write_table_atomic(victim, pq.read_table(victim))
    t0 = time.perf_counter()
    one = ingest.ingest_all(settings)
    one_s = time.perf_counter() - t0
    print(one)
    return {"first_ingest_s": first_s, "first_write_sessions": first.write_sessions,
            "first_rows": first.rows, "noop_ingest_s": again_s, "noop_changed": again.changed,
            "one_changed_file_ingest_s": one_s, "db_bytes": settings.db_path.stat().st_size,
            "warnings": first.warnings[:5]}


def query_plan(run_ids: list[str]) -> list[tuple[str, str, dict[str, Any]]]:
    """(page, query, parameters): what each page asks for in one render."""
    study = run_ids[:16]
    a, b, c, d = run_ids[0], run_ids[10], run_ids[20], run_ids[30]
    four = [a, b, c, d]
    return [
        ("Compare", "runs_overview", {}),
        ("Compare", "study_runs", {"study_id": "paper-matrix-00000000"}),
        ("Compare", "compare_table", {"run_ids": study}),
        ("Compare", "compare_table", {"run_ids": run_ids, "tasks": ["gen-python"], "metrics": ["pass@1"]}),
        ("Compare", "run_metrics", {"run_ids": run_ids}),
        ("Compare", "paired_pass", {"run_a": a, "run_b": b, "task": "gen-python"}),
        ("Compare", "pass_contingency", {"run_a": a, "run_b": b, "task": "gen-python"}),
        ("Compare", "paired_scores", {"run_a": a, "run_b": b, "task": "trans-java-cs", "metric": "codebleu"}),
        ("Compare", "sample_scores", {"run_ids": four, "task": "trans-java-cs", "metric": "codebleu"}),
        ("Compare", "outcome_summary", {"run_ids": study}),
        ("Compare", "tasks_present", {"run_ids": study}),
        ("Compare", "tasks_present", {}),
        ("Samples", "sample_list", {"run_ids": four, "task": "gen-python"}),
        ("Samples", "sample_list", {"run_ids": four, "task": "gen-python", "filter": "a_pass_b_fail",
                                    "offset": 20}),
        ("Samples", "sample_list", {"run_ids": four, "task": "gen-java", "filter": "disagree",
                                    "search": "return max"}),
        ("Samples", "sample_detail", {"task": "gen-python", "sample_id": "gen-python/00123",
                                      "run_ids": four}),
        ("Quality", "findings_by_tool", {"run_ids": four}),
        ("Quality", "findings_by_tool", {"run_ids": study}),
        ("Quality", "findings_by_rule", {"run_ids": study}),
        ("Quality", "quality_measure_names", {"run_ids": four}),
        ("Quality", "quality_status", {"run_ids": four}),
        ("Quality", "quality_measures", {"run_ids": four, "measure": "ccn"}),
        ("Quality", "quality_measures", {"run_ids": study, "measure": "pylint_score", "task": "gen-python"}),
        ("Quality", "quality_vs_correctness", {"run_ids": four, "task": "gen-python"}),
        ("Quality", "generation_stats", {"run_ids": study}),
    ]


def _shift(params: dict[str, Any], run_ids: list[str], k: int) -> dict[str, Any]:
    """The same parameters on other runs (so a cold call reads data no earlier call touched)."""
    def move(rid: str) -> str:
        return run_ids[(run_ids.index(rid) + k) % len(run_ids)]

    out = dict(params)
    for key in ("run_a", "run_b"):
        if key in out:
            out[key] = move(out[key])
    if "run_ids" in out and len(out["run_ids"]) < len(run_ids):
        out["run_ids"] = [move(r) for r in out["run_ids"]]
    return out


def time_queries(db_file: Path, run_ids: list[str], repeat: int) -> list[dict[str, Any]]:
    """Cold (first call, shifted runs), warm (median of `repeat`), session (shared connection)."""
    from store import db, queries

    rows = []
    plan = query_plan(run_ids)
    for i, (page, name, params) in enumerate(plan):
        cold_params = _shift(params, run_ids, 40 + 7 * i)
        t0 = time.perf_counter()
        queries.run_query(db_file, name, **cold_params)
        cold = time.perf_counter() - t0
        warm, cpu = [], []
        result = None
        for _ in range(repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            result = queries.run_query(db_file, name, **params)
            warm.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        rows.append({"page": page, "query": name, "params": _describe(params), "rows": len(result),
                     "cold_ms": cold * 1000, "warm_ms": statistics.median(warm) * 1000,
                     "warm_min_ms": min(warm) * 1000, "warm_cpu_ms": statistics.median(cpu) * 1000})
    with db.connect(db_file, read_only=True) as conn:
        for row, (_, name, params) in zip(rows, plan, strict=True):
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                queries.run_query(conn, name, **params)
                times.append(time.perf_counter() - t0)
            row["session_ms"] = statistics.median(times) * 1000
    reader = db.Reader(db_file)
    try:
        for row, (_, name, params) in zip(rows, plan, strict=True):
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                queries.run_query(reader, name, **params)
                times.append(time.perf_counter() - t0)
            row["reader_ms"] = statistics.median(times) * 1000
    finally:
        reader.close()
    return rows


def _describe(params: dict[str, Any]) -> str:
    parts = []
    for key, value in params.items():
        if isinstance(value, list):
            parts.append(f"{key}=[{len(value)}]")
        elif key.startswith("run"):
            parts.append(f"{key}=…")
        else:
            parts.append(f"{key}={value}")
    return ", ".join(parts)


def open_cost(db_file: Path, repeat: int) -> dict[str, float]:
    """What a read-only open + close costs (paid by every query that opens its own connection)."""
    import duckdb

    times = []
    for _ in range(repeat * 4):
        t0 = time.perf_counter()
        conn = duckdb.connect(str(db_file), read_only=True)
        conn.close()
        times.append(time.perf_counter() - t0)
    return {"open_close_ms_median": statistics.median(times) * 1000}


def child(args: argparse.Namespace) -> None:
    """The query timing, in a fresh process (so 'cold' means it)."""
    run_ids = json.loads(Path(args.child_runs).read_text(encoding="utf-8"))
    db_file = Path(args.child)
    load_before = os.getloadavg()[0]
    result = {"queries": time_queries(db_file, run_ids, args.repeat), **open_cost(db_file, args.repeat),
              "load_average_1m": [load_before, os.getloadavg()[0]], "cpus": os.cpu_count()}
    Path(args.child_out).write_text(json.dumps(result), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--samples", type=int, default=5000, help="samples per run")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the workdir (run dirs and database)")
    parser.add_argument("--drop-caches", action="store_true", help="drop the OS page cache before cold calls")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-runs", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0
    if args.runs < 40:
        parser.error("--runs must be at least 40 (the query plan names runs up to #30 and a 16-run study)")

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-store-"))
    home = workdir / "home"
    try:
        print(f"synthesising {args.runs} runs × {args.samples} samples under {home} …", flush=True)
        synth = synthesize(home, args.runs, args.samples)
        size = synth["bytes_run_dirs"] / 2**20
        print(f"  wrote run directories in {synth['write_s']:.1f} s ({size:.0f} MiB)")
        ingest = ingest_timings(home, synth["run_ids"])
        db_file = home / "codetune.duckdb"
        runs_file = workdir / "run_ids.json"
        runs_file.write_text(json.dumps(synth["run_ids"]), encoding="utf-8")
        if args.drop_caches:
            subprocess.run(["sync"], check=False)
            Path("/proc/sys/vm/drop_caches").write_text("3\n", encoding="utf-8")
        out_file = workdir / "queries.json"
        subprocess.run([sys.executable, __file__, "--child", str(db_file), "--child-runs", str(runs_file),
                        "--child-out", str(out_file), "--repeat", str(args.repeat)], check=True)
        timed = json.loads(out_file.read_text(encoding="utf-8"))
        report(args, synth, ingest, timed)
        if args.out:
            payload = {"runs": args.runs, "samples_per_run": args.samples, "goal_ms": GOAL_MS,
                       "write_run_dirs_s": synth["write_s"], "run_dirs_bytes": synth["bytes_run_dirs"],
                       "ingest": ingest, **timed}
            args.out.write_text(json.dumps(payload, indent=1), encoding="utf-8")
        worst = max(max(q["warm_ms"], q["reader_ms"]) for q in timed["queries"])
        return 0 if worst <= GOAL_MS else 1
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def report(args: argparse.Namespace, synth: dict[str, Any], ingest: dict[str, Any],
           timed: dict[str, Any]) -> None:
    """Print the store's size, the ingest times and the query table with the goal check."""
    rows = ingest["first_rows"]
    print(f"\nstore: {args.runs} runs × {args.samples} samples; rows: "
          + ", ".join(f"{k} {v:,}" for k, v in sorted(rows.items())))
    print(f"run dirs {synth['bytes_run_dirs'] / 2**20:.0f} MiB, "
          f"database {ingest['db_bytes'] / 2**20:.0f} MiB")
    print(f"ingest: first {ingest['first_ingest_s']:.1f} s "
          f"({ingest['first_write_sessions']} write sessions), "
          f"no-change {ingest['noop_ingest_s'] * 1000:.0f} ms, one changed file "
          f"{ingest['one_changed_file_ingest_s'] * 1000:.0f} ms")
    print(f"read-only open+close: {timed['open_close_ms_median']:.1f} ms (inside every query's time below); "
          f"load average {timed['load_average_1m'][0]:.1f} → {timed['load_average_1m'][1]:.1f} "
          f"on {timed['cpus']} CPUs (other processes share them: wall times include waiting for a CPU)\n")
    header = (f"{'page':<8} {'query':<24} {'params':<44} {'rows':>7} {'cold':>8} {'warm':>8} "
              f"{'min':>7} {'cpu':>7} {'session':>8} {'reader':>8}  goal")
    print(header)
    print("-" * len(header))
    for q in timed["queries"]:
        ok = "ok" if max(q["warm_ms"], q["reader_ms"]) <= GOAL_MS else "SLOW"
        print(f"{q['page']:<8} {q['query']:<24} {q['params'][:44]:<44} {q['rows']:>7} {q['cold_ms']:>6.0f}ms "
              f"{q['warm_ms']:>6.0f}ms {q['warm_min_ms']:>5.0f}ms {q['warm_cpu_ms']:>5.0f}ms "
              f"{q['session_ms']:>6.0f}ms {q['reader_ms']:>6.0f}ms  {ok}")
    print()
    for key, what in (("warm_ms", "own connection, warm median"), ("reader_ms", "through a Reader, median"),
                      ("cold_ms", "own connection, cold")):
        worst = max(timed["queries"], key=lambda q, k=key: q[k])
        verdict = "met" if worst[key] <= GOAL_MS else "NOT met"
        print(f"goal ≤ {GOAL_MS:.0f} ms per query ({what}): {verdict}; slowest {worst['query']} "
              f"{worst[key]:.0f} ms")


if __name__ == "__main__":
    os.environ.setdefault("CODETUNE_OFFLINE", "1")
    sys.exit(main())
