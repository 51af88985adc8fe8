"""The analyse phase of a run: code tasks → static quality per sample with the registered analysers
(findings.parquet, quality.parquet, resumable in chunks); per-task quality aggregates are added to
metrics.json."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import TYPE_CHECKING

from engine.phases.parts import Parts, chunks, read_rows
from engine.phases.score import CODEBLEU_LANG, sample_key
from engine.runs.rundir import FINDINGS_SCHEMA, QUALITY_SCHEMA, RunDir, read_json, write_json_atomic

if TYPE_CHECKING:  # pragma: no cover
    from engine.phases.context import PhaseContext

ANALYSE_CHUNK = 64


def run(ctx: PhaseContext) -> None:
    """The analyse phase: run the static analysers on the code generations (resumable by chunk)."""
    from engine.data import prepare as data
    from engine.scoring.quality import Sample, analysers, default_analysers
    from engine.scoring.quality import analyse as run_analysers

    generations = read_rows(ctx.run.artifact("generations"))
    tasks = data.task_objects(ctx.spec)
    code_gens = [g for g in generations if tasks[g["task"]].is_code and tasks[g["task"]].language in CODEBLEU_LANG]
    findings_parts = Parts(ctx.run, "findings", FINDINGS_SCHEMA)
    quality_parts = Parts(ctx.run, "quality", QUALITY_SCHEMA)
    findings = findings_parts.done_rows()
    quality = quality_parts.done_rows()
    done_keys = {sample_key(r) for r in quality}
    todo = [g for g in code_gens if sample_key(g) not in done_keys]
    registered = analysers()
    finished = len(code_gens) - len(todo)
    if code_gens:
        ctx.progress("analyse", finished, len(code_gens), force=True)
    for chunk in chunks(todo, ANALYSE_CHUNK):
        by_lang: dict[str, list[dict]] = defaultdict(list)
        for g in chunk:
            by_lang[tasks[g["task"]].language].append(g)
        f_rows: list[dict] = []
        q_rows: list[dict] = []
        for language, gens in by_lang.items():
            wanted = ctx.spec.eval.analysers
            names = [t for t in (wanted or default_analysers(language))
                     if t in registered and language in registered[t].languages]
            if not names:
                continue
            keyed = {f"{i}": g for i, g in enumerate(gens)}
            samples = [Sample(key=k, code=g["prediction"] or "", language=language) for k, g in keyed.items()]
            for result in run_analysers(samples, names):
                g = keyed[result.key]
                base = {"run_id": ctx.run.run_id, "task": g["task"], "sample_id": g["sample_id"],
                        "sample_index": g["sample_index"], "tool": result.tool}
                f_rows.extend({**base, "rule_id": f.rule_id, "category": f.category, "severity": f.severity,
                               "line": f.line, "message": f.message} for f in result.findings)
                q_rows.append({**base, "status": result.status, "detail": result.detail, "measure": None,
                               "value": None})
                q_rows.extend({**base, "status": result.status, "detail": None, "measure": name, "value": float(v)}
                              for name, v in result.measures.items())
        findings_parts.write(f_rows)
        quality_parts.write(q_rows)
        findings.extend(f_rows)
        quality.extend(q_rows)
        finished += len(chunk)
        ctx.progress("analyse", finished, len(code_gens))
        ctx.check_cancel()
    findings_parts.finish(findings)
    quality_parts.finish(quality)
    _add_quality_metrics(ctx.run, findings, quality)


def _add_quality_metrics(run_dir: RunDir, findings: list[dict], quality: list[dict]) -> None:
    """Per task: findings per sample by analyser and category, mean measures, analyser failures."""
    metrics = read_json(run_dir.file("metrics.json"), {}) or {"run_id": run_dir.run_id, "tasks": {}}
    samples: dict[str, set] = defaultdict(set)
    failed: dict[tuple[str, str], int] = defaultdict(int)
    measures: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for q in quality:
        samples[q["task"]].add((q["sample_id"], q["sample_index"]))
        if q["measure"] is None and q["status"] == "failed":
            failed[(q["task"], q["tool"])] += 1
        if q["measure"] is not None and q["status"] == "ok" and q["value"] is not None:
            measures[(q["task"], q["tool"], q["measure"])].append(q["value"])
    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    for f in findings:
        counts[(f["task"], f["tool"], f["category"])] += 1
    tasks = metrics.setdefault("tasks", {})
    for (task, tool, category), n in counts.items():
        tasks.setdefault(task, {})[f"quality:{tool}:{category}_per_sample"] = n / max(len(samples[task]), 1)
    for (task, tool, measure), values in measures.items():
        tasks.setdefault(task, {})[f"quality:{tool}:{measure}"] = sum(values) / len(values)
    for (task, tool), n in failed.items():
        tasks.setdefault(task, {})[f"quality:{tool}:failed_rate"] = n / max(len(samples[task]), 1)
    metrics["analysed_at"] = time.time()
    write_json_atomic(run_dir.file("metrics.json"), metrics)
