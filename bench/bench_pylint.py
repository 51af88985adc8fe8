"""Benchmark: pylint over 164 Python files, our in-process batch vs one pylint process per file.

The 164 "generated" files are HumanEval's prompt + canonical_solution. Both sides use the same pylint
options (engine.scoring.quality.builtin.pylint_analyser.pylint_args: pylint's default checks) and the
same file names, so besides the times the benchmark checks that both report the same findings
(rule id and line per file) and the same per-file score.

    python bench/bench_pylint.py [--data-dir DIR] [--out FILE.json] [--limit N]

Prints both times and their ratio (the goal is >= 20x); --out writes the numbers as JSON.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))


def default_data_dir() -> Path:
    """$CODETUNE_DATA_DIR, else ../shared/data next to the project (as the tests use)."""
    env = os.environ.get("CODETUNE_DATA_DIR")
    return Path(env) if env else (PROJECT_ROOT.parent / "shared" / "data").resolve()


def load_humaneval(data_dir: Path, limit: int | None = None) -> list[tuple[str, str]]:
    """(task_id, prompt + canonical_solution) for HumanEval's tasks."""
    path = data_dir / "humaneval" / "HumanEval.jsonl.gz"
    if not path.is_file():
        raise SystemExit(f"error: {path} not found (pass --data-dir pointing at the shared data directory)")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return [(row["task_id"], row["prompt"] + row["canonical_solution"]) for row in rows[:limit]]


def run_batch(codes: list[tuple[str, str]]) -> tuple[float, list[Any]]:
    """Seconds and results of one analyse() call with pylint only (the production path)."""
    from engine.scoring.quality import Sample, analyse

    samples = [Sample(key=task_id, code=code, language="python") for task_id, code in codes]
    start = time.perf_counter()
    results = analyse(samples, analysers=["pylint"])
    return time.perf_counter() - start, results


def run_per_file(codes: list[tuple[str, str]], workdir: Path) -> tuple[float, list[dict[str, Any]]]:
    """Seconds and parsed JSON reports of `python -m pylint <file>`, one process per file."""
    from engine.scoring.quality.builtin.pylint_analyser import pylint_args

    rcfile = workdir / "pylintrc"
    rcfile.write_text("[MAIN]\n", encoding="utf-8")
    # The batch names its files cts_sample_<index>.py; the same names keep messages comparable.
    paths = []
    for index, (_, code) in enumerate(codes):
        path = workdir / f"cts_sample_{index:05d}.py"
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(code)
        paths.append(path)
    reports = []
    start = time.perf_counter()
    for path in paths:
        argv = [
            sys.executable,
            "-m",
            "pylint",
            *pylint_args([str(path)], str(rcfile)),
            "--output-format=json2",
        ]
        proc = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, check=False)
        reports.append(json.loads(proc.stdout or "{}"))
    return time.perf_counter() - start, reports


def compare(results: list[Any], reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Files whose findings (rule id, line) or score differ between the two ways."""
    finding_mismatch, score_mismatch = [], []
    for result, report in zip(results, reports, strict=True):
        ours = Counter((f.rule_id, f.line) for f in result.findings)
        theirs = Counter((m["messageId"], m["line"]) for m in report.get("messages", []))
        if ours != theirs:
            finding_mismatch.append(
                {
                    "key": result.key,
                    "batch_only": sorted((ours - theirs).elements()),
                    "per_file_only": sorted((theirs - ours).elements()),
                }
            )
        score = result.measures.get("pylint_score")
        their_score = report.get("statistics", {}).get("score")
        if score is not None and (
            not isinstance(their_score, int | float) or abs(score - their_score) > 1e-9
        ):
            score_mismatch.append({"key": result.key, "batch": score, "per_file": their_score})
    return {"finding_mismatches": finding_mismatch, "score_mismatches": score_mismatch}


def main(argv: list[str] | None = None) -> int:
    """Run both sides, print the comparison, optionally write it as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--out", type=Path, default=None, help="write the numbers to this JSON file")
    parser.add_argument("--limit", type=int, default=None, help="only the first N tasks (quick check)")
    args = parser.parse_args(argv)

    codes = load_humaneval(args.data_dir, args.limit)
    batch_s, results = run_batch(codes)  # first call: includes importing pylint
    warm_s, _ = run_batch(codes)
    with tempfile.TemporaryDirectory(prefix="bench-pylint-") as tmp:
        per_file_s, reports = run_per_file(codes, Path(tmp))
    diff = compare(results, reports)
    statuses = Counter(result.status for result in results)
    summary = {
        "files": len(codes),
        "batch_in_process_s": round(batch_s, 3),
        "batch_in_process_warm_s": round(warm_s, 3),
        "per_file_processes_s": round(per_file_s, 3),
        "per_file_mean_s": round(per_file_s / max(1, len(codes)), 4),
        "speedup": round(per_file_s / batch_s, 1),
        "speedup_warm": round(per_file_s / warm_s, 1),
        "statuses": dict(statuses),
        "findings": sum(len(result.findings) for result in results),
        "finding_mismatches": len(diff["finding_mismatches"]),
        "score_mismatches": len(diff["score_mismatches"]),
        "mismatch_examples": (diff["finding_mismatches"] + diff["score_mismatches"])[:5],
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }
    print(f"pylint on {len(codes)} HumanEval files")
    print(f"  in-process batch (one Run):   {batch_s:8.2f} s  (second call, warm: {warm_s:.2f} s)")
    print(f"  one process per file:         {per_file_s:8.2f} s  ({summary['per_file_mean_s']:.3f} s/file)")
    print(
        f"  speedup:                      {summary['speedup']:8.1f}x  "
        f"(warm: {summary['speedup_warm']}x; goal >= 20x)"
    )
    print(
        f"  findings {summary['findings']}; files whose findings differ: {summary['finding_mismatches']}; "
        f"scores that differ: {summary['score_mismatches']}; statuses {dict(statuses)}"
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
        print(f"  written to {args.out}")
    return 0 if not diff["finding_mismatches"] and not diff["score_mismatches"] else 1


if __name__ == "__main__":
    sys.exit(main())
