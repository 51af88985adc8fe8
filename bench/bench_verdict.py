"""Benchmark: the Compare page's verdict panel (ui.verdict_data.verdict_table) on a synthetic store.

Builds (or reuses, with --home) a workspace of N runs × M samples the way bench/bench_store.py does
(its first 10 runs are the 0.5B model's ten configurations: six ST-QLoRA runs, MT-QLoRA, MT-LoRA,
MT-FFT and zero-shot), then computes the verdicts of every run against the zero-shot run, per run
(columns = runs), on every task they share: 2,000 bootstrap resamples per row, McNemar / Wilcoxon,
Holm, Cliff's delta, quality deltas. Times, side by side in one process:

* panel:     verdict_table end to end (store reads + statistics), median of --repeat calls;
* bootstrap: engine.api.verdicts alone on the same per-sample inputs (the statistics only).

    python bench/bench_verdict.py [--runs 10] [--samples 5000] [--home DIR] [--repeat 3] [--out FILE.json]

Prints wall and CPU seconds of both and checks the goal on the bootstrap's CPU time (≤ 1 s; on a
machine whose cores are shared the wall time mostly measures the wait); the panel is reported
next to it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
for entry in (PROJECT_ROOT, PROJECT_ROOT / "bench"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

GOAL_S = 1.0
RESAMPLES = 2000


def _median_time(action: Any, repeat: int) -> tuple[float, float, Any]:
    """Median wall and CPU seconds of `repeat` calls (CPU: this process's, all threads; on a shared
    machine the wall time includes waiting for a core), and the last result."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        result = action()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def run(home: Path, n_runs: int, n_samples: int, repeat: int) -> dict[str, Any]:
    """Prepare the store, time the panel and the bootstrap alone; returns the numbers."""
    from bench_pages import prepare

    import engine.api
    from engine.settings import load_settings
    from store import queries
    from ui import verdict_data

    info = prepare(home, n_runs, n_samples)
    settings = load_settings({"CODETUNE_HOME": str(home)})
    reader_query = queries.run_query

    def query(name: str, **params: Any) -> Any:
        return reader_query(settings, name, **params)

    overview = query("runs_overview").sort_values("run_id")
    overview = overview[~overview["is_reference"].astype(bool)]
    chosen = overview.head(n_runs)
    columns = {r: f"{lab} #{i}" for i, (r, lab) in enumerate(zip(chosen["run_id"], chosen["label"], strict=True))}
    zero = next(r for r, m in zip(chosen["run_id"], chosen["method"], strict=True) if m == "none")
    engine.api.catalogue()  # the registries load once per process (the page has them already)
    panel_s, panel_cpu, frame = _median_time(
        lambda: verdict_data.verdict_table(query, columns, zero, RESAMPLES, 0), repeat)
    items = []
    for row in frame.itertuples():
        values = query("per_sample_values", run_ids=[row.run_a, row.run_b], task=row.task, metric=row.metric)
        a, b = verdict_data.align(values, row.run_a, row.run_b)
        items.append({"task": row.task, "metric": row.metric, "label_a": row.label_a, "label_b": row.label_b,
                      "values_a": a, "values_b": b, "pass_fail": row.metric == "pass@1"})
    boot_s, boot_cpu, _ = _median_time(lambda: engine.api.verdicts(items, resamples=RESAMPLES, seed=0), repeat)
    return {**info, "rows": len(frame), "pairs": int(frame["n"].sum()), "runs_compared": len(columns),
            "panel_s": panel_s, "panel_cpu_s": panel_cpu, "bootstrap_s": boot_s, "bootstrap_cpu_s": boot_cpu,
            "resamples": RESAMPLES}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when the bootstrap meets the goal."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--home", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    home = args.home or Path(tempfile.mkdtemp(prefix="bench-verdict-"))
    try:
        result = run(home, args.runs, args.samples, args.repeat)
    finally:
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)
    print(f"{result['runs_compared']} runs, {result['rows']} verdict rows over {result['pairs']:,} paired samples, "
          f"{RESAMPLES} resamples each")
    print(f"  panel (store reads + statistics): {result['panel_s']:.3f} s wall, {result['panel_cpu_s']:.3f} s CPU")
    print(f"  bootstrap + tests alone:          {result['bootstrap_s']:.3f} s wall, "
          f"{result['bootstrap_cpu_s']:.3f} s CPU   goal ≤ {GOAL_S:.1f} s")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2, default=str))
    return 0 if result["bootstrap_cpu_s"] <= GOAL_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
