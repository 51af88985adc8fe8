"""The score phase of a run (called by engine.phases.recipe).

score:   executable tasks → every generated program runs in the sandbox (outcomes.parquet,
         resumable in chunks); every task → its similarity metrics per sample (scores.parquet);
         aggregates per task (pass@k, execution-status rates, metric means and corpus values,
         generation statistics) → metrics.json.
analyse: code tasks → static quality per sample (findings.parquet, quality.parquet, resumable in
         chunks); per-task quality aggregates are added to metrics.json.

Untrusted code is only ever executed by engine.scoring.sandbox, in separate processes.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from engine.phases.parts import Parts, chunks, read_rows
from engine.runs.rundir import (
    OUTCOMES_SCHEMA,
    SCORES_SCHEMA,
    write_json_atomic,
    write_table_atomic,
)
from engine.vocabulary import exec_rate_name

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from engine.phases.context import PhaseContext

EXEC_CHUNK = 32
CODEBLEU_LANG = {"python": "python", "java": "java", "csharp": "c_sharp"}
EXEC_STATUSES = ("passed", "failed", "timeout", "error", "compile_error", "violation")




def sample_key(row: dict[str, Any]) -> tuple[str, str, int]:
    """A generated sample's identity: (task, sample id, sample index)."""
    return row["task"], row["sample_id"], int(row["sample_index"])


def run(ctx: PhaseContext) -> None:
    """The score phase: execute test programs, compute similarity scores and aggregate the metrics."""
    from engine.data import prepare as data

    generations = read_rows(ctx.run.artifact("generations"))
    examples = {(ex.task, ex.id): ex for ex in ctx.eval_examples()}
    tasks = data.task_objects(ctx.spec)
    outcomes = _execute(ctx, generations, examples, tasks)
    scores, corpus = _similarity(ctx, generations, tasks)
    write_table_atomic(ctx.run.artifact("scores"), _table(scores, SCORES_SCHEMA))
    metrics = aggregate(ctx.spec, generations, outcomes, scores, corpus)
    write_json_atomic(ctx.run.file("metrics.json"), {"run_id": ctx.run.run_id, "computed_at": time.time(),
                                                     "tasks": metrics})
    ctx.run.append_event("scored", tasks=metrics)


def _table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    import pyarrow as pa

    return pa.Table.from_pylist(rows, schema=schema)


def _execute(ctx: PhaseContext, generations: list[dict[str, Any]], examples: dict, tasks: dict) -> list[dict]:
    """Run every executable sample's test program in the sandbox (resumable by chunk)."""
    from engine.scoring.sandbox import ForkServerPool, Limits, Program, run_many

    parts = Parts(ctx.run, "outcomes", OUTCOMES_SCHEMA)
    done = parts.done_rows()
    done_keys = {sample_key(r) for r in done}
    todo = [g for g in generations if tasks[g["task"]].executable and sample_key(g) not in done_keys]
    total = sum(1 for g in generations if tasks[g["task"]].executable)
    limits = Limits(timeout_s=ctx.spec.eval.timeout_s)
    finished = len(done)
    if total:
        ctx.progress("score", finished, total, force=True)
    with ForkServerPool() as pool:  # the sandbox's fork servers stay warm from one chunk to the next
        for chunk in chunks(todo, EXEC_CHUNK):
            programs = []
            for g in chunk:
                program = tasks[g["task"]].program(examples[(g["task"], g["sample_id"])], g["prediction"] or "")
                programs.append(Program(source=program.source, language=program.language, limits=limits))
            results = run_many(programs, pool=pool)
            rows = [{
                "run_id": ctx.run.run_id, "task": g["task"], "sample_id": g["sample_id"],
                "sample_index": g["sample_index"], "status": out.status, "exit_code": out.exit_code,
                "duration_s": out.duration_s, "stdout_tail": out.stdout_tail, "stderr_tail": out.stderr_tail,
                "isolation": out.isolation, "reason": out.reason,
            } for g, out in zip(chunk, results, strict=True)]
            parts.write(rows)
            done.extend(rows)
            finished += len(rows)
            ctx.progress("score", finished, total)
            ctx.check_cancel()
    parts.finish(done)
    return done


def _similarity(ctx: PhaseContext, generations: list[dict[str, Any]],
                tasks: dict) -> tuple[list[dict[str, Any]], dict[tuple[str, str], float]]:
    """Per-sample similarity metrics for every task (each task's defaults, or the spec's list)."""
    from engine.scoring.metrics import available_metrics, compute

    known = set(available_metrics())
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for g in generations:
        by_task[g["task"]].append(g)
    rows = []
    corpus: dict[tuple[str, str], float] = {}
    for name, gens in by_task.items():
        task = tasks[name]
        wanted = ctx.spec.eval.metrics or list(task.default_metrics)
        names = [m for m in wanted if m in known]
        if not names:
            continue
        lang = CODEBLEU_LANG.get(task.language)
        if "codebleu" in names and lang is None:
            names.remove("codebleu")
        options = {"meteor": {"tokenize": ctx.spec.eval.meteor_tokenize}} if "meteor" in names else {}
        results = compute(names, [g["prediction"] or "" for g in gens], [g["reference"] or "" for g in gens],
                          lang=lang, options=options)
        for metric, result in results.items():
            for g, value in zip(gens, result["per_sample"], strict=True):
                rows.append({"run_id": ctx.run.run_id, "task": name, "sample_id": g["sample_id"],
                             "sample_index": g["sample_index"], "metric": metric, "value": float(value)})
            # corpus-level values are not means of per-sample values: metrics.json keeps both
            corpus[(name, metric)] = float(result["corpus"])
    return rows, corpus


def aggregate(spec: Any, generations: list[dict], outcomes: list[dict], scores: list[dict],
              corpus: dict[tuple[str, str], float] | None = None) -> dict[str, dict]:
    """Run-level numbers per task: pass@k, execution-status rates, metric means, corpus values."""
    from engine.scoring.metrics.passk import pass_at_k

    out: dict[str, dict[str, float]] = defaultdict(dict)
    gen_by_task: dict[str, list[dict]] = defaultdict(list)
    for g in generations:
        gen_by_task[g["task"]].append(g)
    for task, gens in gen_by_task.items():
        m = out[task]
        m["n"] = float(len({g["sample_id"] for g in gens}))
        m["samples"] = float(len(gens))
        m["completion_tokens_mean"] = sum(g["completion_tokens"] for g in gens) / len(gens)
        m["truncated_rate"] = sum(g["finish_reason"] == "length" for g in gens) / len(gens)
        latency = {}
        for g in gens:  # one latency per batch, shared by its samples
            latency[(g["latency_s"], g["batch_size"])] = g
        gen_time = sum(k[0] for k in latency)
        if gen_time > 0:
            m["gen_tokens_per_s"] = sum(g["completion_tokens"] for g in gens) / gen_time
    per_problem: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    status_count: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for o in outcomes:
        per_problem[o["task"]][o["sample_id"]].append(o["status"] == "passed")
        status_count[o["task"]][o["status"]] += 1
    for task, problems in per_problem.items():
        for k in spec.eval.pass_k:
            values = [pass_at_k(len(v), sum(v), k) for v in problems.values() if len(v) >= k]
            if values:
                out[task][f"pass@{k}"] = sum(values) / len(values)
        total = sum(status_count[task].values())
        for status in EXEC_STATUSES:
            out[task][exec_rate_name(status)] = status_count[task].get(status, 0) / total
    sums: dict[tuple[str, str], list[float]] = defaultdict(list)
    for s in scores:
        if not math.isnan(s["value"]):
            sums[(s["task"], s["metric"])].append(s["value"])
    for (task, metric), value in (corpus or {}).items():
        out[task][f"{metric}:corpus"] = value
    for (task, metric), values in sums.items():
        out[task][metric] = sum(values) / len(values)
    return {task: dict(values) for task, values in out.items()}
