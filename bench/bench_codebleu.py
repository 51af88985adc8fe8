"""Benchmark: CodeBLEU over the 1,000 CodeXGLUE Java->C# translation test pairs.

    python bench/bench_codebleu.py [--data-dir DIR] [--out FILE.json] [--pairs N] [--skip-naive]

What is compared (no model involved; the "predictions" are stand-ins):
  java_as_csharp   prediction = the Java source function, scored as C# against the reference C#
                   (the identity "translation" Java->C#, a realistic mid-range score);
  perturbed_ref    prediction = the reference C# with every 5th space-separated token dropped
                   (deterministic; a high but imperfect score).
For each: our metric (engine.scoring.metrics.codebleu: PYTHONHASHSEED=0 helper processes, one pass
for per-pair and corpus values, parallel chunks) with the default workers and with one worker, against
the naive use of the package (calc_codebleu once per pair, then once over the corpus) in a
PYTHONHASHSEED=0 process; per-pair mean, corpus value, wall time, and whether the values are identical.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.scoring.metrics import codebleu  # noqa: E402  # pylint: disable=wrong-import-position

NAIVE_SCRIPT = """
import json, logging, sys, time
logging.disable(logging.WARNING)
t0 = time.perf_counter()
from codebleu import calc_codebleu
job = json.load(sys.stdin)
preds, refs, lang = job["predictions"], job["references"], job["lang"]
t1 = time.perf_counter()
per = [calc_codebleu([r], [p], lang)["codebleu"] for p, r in zip(preds, refs)]
t2 = time.perf_counter()
corpus = calc_codebleu(refs, preds, lang)["codebleu"]
t3 = time.perf_counter()
print(json.dumps({"per": per, "corpus": corpus, "import_s": t1 - t0, "per_pair_s": t2 - t1,
                  "corpus_s": t3 - t2}))
"""


def default_data_dir() -> Path:
    """$CODETUNE_DATA_DIR, else ../shared/data beside the project."""
    env = os.environ.get("CODETUNE_DATA_DIR")
    return Path(env) if env else (ROOT.parent / "shared" / "data").resolve()


def load_pairs(data_dir: Path, n: int) -> tuple[list[str], list[str]]:
    """The first n (Java, C#) test pairs; line i of .java pairs with line i of .cs."""
    folder = data_dir / "codexglue_code2code_trans"
    java = (folder / "test.java-cs.txt.java").read_text(encoding="utf-8").split("\n")[:n]
    cs = (folder / "test.java-cs.txt.cs").read_text(encoding="utf-8").split("\n")[:n]
    if len(java) != n or len(cs) != n:
        raise SystemExit(f"expected {n} pairs in {folder}, found {len(java)} / {len(cs)}")
    return java, cs


def perturb(code: str) -> str:
    """Drop every 5th space-separated token (deterministic)."""
    return " ".join(tok for i, tok in enumerate(code.split(" ")) if i % 5 != 4)


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and its finished children so far."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def run_ours(preds: list[str], refs: list[str], workers: int | None) -> dict:
    """Our metric in this process (it starts its own PYTHONHASHSEED=0 helpers): wall and CPU time."""
    cpu, start = cpu_seconds(), time.perf_counter()
    out = codebleu.evaluate(preds, refs, lang="c_sharp", workers=workers)
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    return {"seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3), "per_pair_mean": out.mean,
            "corpus": out.corpus, "per_sample": out.per_sample}


def run_naive(preds: list[str], refs: list[str]) -> dict:
    """calc_codebleu per pair, then over the corpus, in a PYTHONHASHSEED=0 process."""
    cpu, start = cpu_seconds(), time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", NAIVE_SCRIPT], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONHASHSEED="0"), check=True,
                          input=json.dumps({"predictions": preds, "references": refs, "lang": "c_sharp"}))
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    out = json.loads(proc.stdout)
    return {"seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3),
            "per_pair_calls_s": round(out["per_pair_s"], 3), "corpus_call_s": round(out["corpus_s"], 3),
            "per_pair_mean": sum(out["per"]) / len(out["per"]), "corpus": out["corpus"],
            "per_sample": out["per"]}


def main() -> None:
    """Run the scenarios, print them, optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--skip-naive", action="store_true", help="do not time the naive package calls")
    args = parser.parse_args()

    java, cs = load_pairs(args.data_dir, args.pairs)
    scenarios = {"java_as_csharp": (java, cs), "perturbed_ref": ([perturb(c) for c in cs], cs)}
    report: dict = {
        "pairs": args.pairs, "lang": "c_sharp", "cpus": os.cpu_count(), "python": platform.python_version(),
        "default_workers": min(os.cpu_count() or 1, 4), "load_average_at_start": os.getloadavg(),
        "scenarios": {},
    }
    for name, (preds, refs) in scenarios.items():
        ours = run_ours(preds, refs, workers=None)
        ours_1 = run_ours(preds, refs, workers=1)
        entry = {
            "ours": {k: v for k, v in ours.items() if k != "per_sample"},
            "ours_1_worker": {k: v for k, v in ours_1.items() if k != "per_sample"},
        }
        if not args.skip_naive:
            naive = run_naive(preds, refs)
            entry["naive_package"] = {k: v for k, v in naive.items() if k != "per_sample"}
            entry["identical_to_package"] = (ours["per_sample"] == naive["per_sample"]
                                             and ours["corpus"] == naive["corpus"])
            entry["speedup_vs_naive"] = round(naive["seconds"] / ours["seconds"], 2)
            entry["cpu_ratio_naive_over_ours"] = round(naive["cpu_seconds"] / ours["cpu_seconds"], 2)
        report["scenarios"][name] = entry
        print(f"{name}: " + json.dumps(entry, indent=2))

    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
