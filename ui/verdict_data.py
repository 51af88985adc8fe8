"""The data behind the Compare page's verdict panel and its values with n and intervals, as
DataFrames, without Streamlit: the page (ui.verdict, ui.compare), the paired tests
(ui.paired_tests), the CLI and the report (ui.report) all call these with their own `query`
callable (`query(name, **params) -> DataFrame`, e.g. ui.common.query or a store.db.Reader bound to
store.queries.run_query).

Columns are given as run_id → column label, as Compare builds them: one run per column, or the runs
of one configuration and model size merged ('0.5B ST-QLoRA' covering the single-task runs of each
task). For a task, a column's run is the first of its runs that has the task (Compare's pairing).
The baseline is a column label, a run id, or a configuration ('zero-shot': each column is compared
with the baseline column of its own model size, '0.5B zero-shot' for '0.5B MT-QLoRA').

- `verdict_plan`: the comparisons a verdict table would make (cheap: no sample read), so a page can
  ask before bootstrapping hundreds of them.
- `verdict_table`: per task × compared column, the headline metric's verdict against the baseline
  (engine.api.verdicts: paired bootstrap interval, McNemar / Wilcoxon Holm-corrected, Cliff's delta,
  change in findings per sample per analyser and in complexity, a plain-language reading).
- `value_table`: per task × metric × column, the value with n, its 95% interval (Wilson for pass/fail
  and execution rates, t otherwise) and, for pass/fail, the passing count k: `0.25 (1/4)`.
- `paired_values`: two runs' per-sample values of a task's metric, aligned (the paired tests' input).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

import engine.api
from engine.vocabulary import MCNEMAR, MetricInfo, describe_metric, headline_metric, pass_at

QueryFn = Callable[..., pd.DataFrame]

COMPLEXITY_MEASURE = ("lizard", "ccn")  # the one complexity every language has (Python, Java, C#)
FINDINGS_KEY = "findings per sample ({tool})"
COMPLEXITY_KEY = "complexity (lizard ccn)"
VERDICT_COLUMNS = ("task", "metric", "column", "baseline", "run_a", "run_b", "label_a", "label_b", "value_a",
                   "value_b", "n", "diff", "low", "high", "p_value", "p_adjusted", "test", "effect_size",
                   "effect_magnitude", "quality_delta", "small_n", "reading")
VALUE_COLUMNS = ("task", "metric", "column", "value", "n", "k", "low", "high", "pass_fail", "text")


# --- columns, baseline and runs ---------------------------------------------------------------------


def baseline_pairs(columns: Mapping[str, str], baseline: str) -> dict[str, str]:
    """Compared column label → its baseline column label. `baseline`: a run id, a column label, or a
    configuration compared within each model size (columns labelled '<size> <configuration>')."""
    labels = list(dict.fromkeys(columns.values()))
    if baseline in columns or baseline in labels:
        base = columns.get(baseline, baseline)
        return {label: base for label in labels if label != base}
    suffix = f" {baseline}"
    bases = {label[: -len(suffix)]: label for label in labels if label.endswith(suffix)}
    out = {}
    for label in labels:
        if label in bases.values():
            continue
        size = next((s for s in bases if label.startswith(f"{s} ")), None)
        if size is not None:
            out[label] = bases[size]
    return out


def _runs_by_task(query: QueryFn, columns: Mapping[str, str]) -> dict[tuple[str, str], str]:
    """(task, column label) → the column's first run (in `columns` order) that reports the task."""
    frame = query("run_metrics", run_ids=list(columns))
    out: dict[tuple[str, str], str] = {}
    if frame.empty:
        return out
    tasks_of = frame.groupby("run_id")["task"].unique().to_dict()
    for run_id, label in columns.items():
        for task in tasks_of.get(run_id, ()):
            out.setdefault((str(task), label), run_id)
    return out


def headline(task: str, reported: Sequence[str], catalogue: Mapping[str, Any],
             infos: Mapping[str, MetricInfo]) -> str | None:
    """A task's headline metric: its family's (engine.vocabulary.headline_metric over the catalogue's
    metrics), else pass@1 or the first per-sample metric the runs report (custom tasks)."""
    entry = next((t for t in catalogue.get("tasks", []) if t["name"] == task), {})
    found = headline_metric(entry.get("family"), entry.get("metrics", []), infos) if entry else None
    if found is None:
        found = headline_metric(None, list(reported), infos)
    return found


# --- paired values -----------------------------------------------------------------------------------


def paired_values(query: QueryFn, run_a: str, run_b: str, task: str, metric: str) -> tuple[list[float], list[float]]:
    """Two runs' per-sample values of `task`'s `metric` on the samples both have, aligned: pass@1 as
    1.0 / 0.0 from the execution outcomes, other metrics from the per-sample scores."""
    if metric == pass_at(1):
        data = query("paired_pass", run_a=run_a, run_b=run_b, task=task)
        return data["passed_a"].astype(float).tolist(), data["passed_b"].astype(float).tolist()
    data = query("paired_scores", run_a=run_a, run_b=run_b, task=task, metric=metric)
    data = data[data["sample_index"] >= 0].dropna(subset=["value_a", "value_b"])  # per-sample rows only
    return data["value_a"].tolist(), data["value_b"].tolist()


def align(values: pd.DataFrame, run_a: str, run_b: str) -> tuple[list[float], list[float]]:
    """Pair two runs' rows of a per_sample_values frame on (sample_id, sample_index)."""
    key = ["sample_id", "sample_index"]
    a = values[values["run_id"] == run_a][[*key, "value"]]
    b = values[values["run_id"] == run_b][[*key, "value"]]
    both = a.merge(b, on=key, suffixes=("_a", "_b")).sort_values(key)
    return both["value_a"].tolist(), both["value_b"].tolist()


# --- quality ---------------------------------------------------------------------------------------


def quality_figures(query: QueryFn, run_ids: Sequence[str]) -> dict[tuple[str, str], dict[str, float]]:
    """(run_id, task) → {'findings per sample (<tool>)': x per analyser that reported findings for
    the task, 'complexity (lizard ccn)': mean}. Each analyser separately: two analysers of the same
    code (checkstyle sun and google) are never added up."""
    out: dict[tuple[str, str], dict[str, float]] = {}
    findings = query("findings_by_tool", run_ids=list(run_ids))
    status = query("quality_status", run_ids=list(run_ids))
    if not findings.empty:
        analysed = status[status["status"] == "ok"].groupby(["run_id", "task", "tool"])["n_samples"].sum()
        counted = findings.groupby(["run_id", "task", "tool"]).agg(
            n_findings=("n_findings", "sum"), n_samples=("n_samples", "max"))
        tools_of_task = findings.groupby("task")["tool"].unique().to_dict()
        for (run_id, task), _ in analysed.groupby(level=[0, 1]):
            for tool in tools_of_task.get(task, ()):
                n_ok = analysed.get((run_id, task, tool))
                if n_ok is None or not n_ok:
                    continue
                found = counted["n_findings"].get((run_id, task, tool), 0)
                out.setdefault((run_id, task), {})[FINDINGS_KEY.format(tool=tool)] = float(found) / float(n_ok)
    tool, measure = COMPLEXITY_MEASURE
    means = query("measure_means", run_ids=list(run_ids), measures=[measure])
    for row in means[means["tool"] == tool].itertuples() if not means.empty else ():
        out.setdefault((row.run_id, row.task), {})[COMPLEXITY_KEY] = float(row.mean)
    return out


# --- the verdicts ----------------------------------------------------------------------------------


def _never_paired(task_family: str | None, run_a: str, run_b: str, reference: set[str]) -> bool:
    # A reference run's generation rows are CoderEval tasks, which no run of ours evaluates.
    return task_family == "generation" and (run_a in reference) != (run_b in reference)


def verdict_plan(query: QueryFn, columns: Mapping[str, str], baseline: str) -> list[dict[str, Any]]:
    """The comparisons a verdict table makes, without fetching a sample: one dict per task × compared
    column with task, metric (the task's headline), column, baseline, run_a, run_b, unpaired (a
    reference run's CoderEval generation rows against ours: never paired). Cheap (summary queries)."""
    pairs = baseline_pairs(columns, baseline)
    runs = _runs_by_task(query, columns)
    if not pairs or not runs:
        return []
    catalogue, infos = engine.api.catalogue(), engine.api.metric_infos()
    names = query("metric_names", run_ids=list(columns))
    overview = query("runs_overview", run_ids=list(columns))
    reference = set(overview.loc[overview["is_reference"].astype(bool), "run_id"]) if not overview.empty else set()
    families = {t["name"]: t.get("family") for t in catalogue.get("tasks", [])}
    plan = []
    for task in sorted({t for t, _ in runs}):
        metric = headline(task, list(names.loc[names["task"] == task, "metric"]), catalogue, infos)
        if metric is None:
            continue
        for label, base in pairs.items():
            run_a, run_b = runs.get((task, base)), runs.get((task, label))
            if run_a is None or run_b is None:
                continue
            plan.append({"task": task, "metric": metric, "column": label, "baseline": base, "run_a": run_a,
                         "run_b": run_b, "unpaired": _never_paired(families.get(task), run_a, run_b, reference)})
    return plan


def verdict_table(query: QueryFn, columns: dict[str, str], baseline: str, resamples: int = 2000,
                  seed: int = 0, plan: list[dict[str, Any]] | None = None) -> pd.DataFrame:
    """One row per task × compared column: the headline metric's verdict against the baseline column
    (every engine.scoring.verdict.Verdict field, plus column, baseline, run_a, run_b and one
    'Δ <quality figure>' column per quality figure). Empty (with the columns) when nothing pairs.
    `plan`: verdict_plan's result when the caller has it already."""
    plan = verdict_plan(query, columns, baseline) if plan is None else plan
    if not plan:
        return pd.DataFrame(columns=list(VERDICT_COLUMNS))
    infos = engine.api.metric_infos()
    quality = quality_figures(query, list(columns))
    items = []
    for (task, metric), part in pd.DataFrame(plan).groupby(["task", "metric"], sort=False):
        used = sorted(set(part["run_a"]) | set(part["run_b"]))
        values = query("per_sample_values", run_ids=used, task=task, metric=metric)
        for row in part.itertuples():
            a, b = ([], []) if row.unpaired else align(values, row.run_a, row.run_b)
            items.append({"task": task, "metric": metric, "label_a": row.baseline, "label_b": row.column,
                          "values_a": a, "values_b": b,
                          "pass_fail": describe_metric(metric, infos).paired_test == MCNEMAR,
                          "quality_a": quality.get((row.run_a, task)), "quality_b": quality.get((row.run_b, task))})
    found = engine.api.verdicts(items, resamples=resamples, seed=seed)
    where = [{k: p[k] for k in ("column", "baseline", "run_a", "run_b")}
             for _, part in pd.DataFrame(plan).groupby(["task", "metric"], sort=False)
             for p in part.to_dict("records")]
    frame = pd.DataFrame([{**w, **v} for w, v in zip(where, found, strict=True)])
    keys = sorted({k for q in frame["quality_delta"] for k in q})
    for key in keys:
        frame[f"Δ {key}"] = [q.get(key, math.nan) for q in frame["quality_delta"]]
    return frame[[*VERDICT_COLUMNS, *(f"Δ {k}" for k in keys)]]


# --- values with n and intervals ---------------------------------------------------------------------


def value_text(value: float, n: Any, k: Any, low: Any, high: Any, pass_fail: bool) -> str:
    """'0.25 (1/4)' for pass/fail, '0.312 ± 0.040 (n = 164)' otherwise, the value alone without n."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    shown = (f"{value:.3f}".rstrip("0").rstrip(".") or "0") if abs(value) < 1e4 else f"{value:,.0f}"
    if _missing(n) or not n:
        return shown
    if pass_fail and not _missing(k):
        return f"{shown} ({int(k)}/{int(n)})"
    if _missing(low) or _missing(high):
        return f"{shown} (n = {int(n)})"
    return f"{value:.3f} ± {(high - low) / 2:.3f} (n = {int(n)})"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _pass_counts(query: QueryFn, run_ids: list[str]) -> pd.DataFrame:
    """run_id, task, status, n from the outcome summaries (k of n per status)."""
    frame = query("outcome_summary", run_ids=run_ids)
    return frame[["run_id", "task", "status", "n"]] if not frame.empty else frame


def _shares(metric: str) -> str | None:
    """The outcome status whose share a metric is (pass@1 → passed, exec:<status> → status), else None."""
    if metric == pass_at(1):
        return "passed"
    return metric[len("exec:"):] if metric.startswith("exec:") else None


def value_table(query: QueryFn, columns: dict[str, str], tasks: Sequence[str] | None = None,
                metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per task × metric × column: the value (runs of a column averaged, as Compare shows it),
    n (samples), k (passing samples, pass/fail and execution rates only), the 95% interval [low, high]
    (Wilson for shares of samples, t for per-sample scores; NaN where the metric has no per-sample
    values) and `text` ('0.25 (1/4)', '0.312 ± 0.040 (n = 164)')."""
    run_ids = list(columns)
    values = query("run_metrics", run_ids=run_ids, tasks=list(tasks) if tasks else None,
                   metrics=list(metrics) if metrics else None)
    if values.empty:
        return pd.DataFrame(columns=list(VALUE_COLUMNS))
    values = values.assign(column=values["run_id"].map(columns))
    merged = values.groupby(["task", "metric", "column"], as_index=False, sort=False)["value"].mean()
    infos = engine.api.metric_infos()
    score_metrics = sorted(m for m in merged["metric"].unique()
                           if _shares(m) is None and describe_metric(m, infos).per_sample)
    summary = (query("score_summary", run_ids=run_ids, tasks=list(merged["task"].unique()), metrics=score_metrics)
               if score_metrics else pd.DataFrame(columns=["run_id", "task", "metric", "n", "mean", "sd"]))
    counts = _pass_counts(query, run_ids)
    stats_of = _score_stats(summary, columns)
    shares_of = _share_counts(counts, columns)
    rows = []
    for row in merged.itertuples():
        status = _shares(row.metric)
        n = k = low = high = math.nan
        if status is not None:
            total = shares_of.get((row.task, row.column))
            if total:
                n, k = total["n"], total["by_status"].get(status, 0)
                interval = engine.api.summary_interval(int(n), k / n, 0.0, True)
                low, high = interval["low"], interval["high"]
        elif (row.task, row.metric, row.column) in stats_of:
            n, mean, sd = stats_of[(row.task, row.metric, row.column)]
            interval = engine.api.summary_interval(int(n), mean, sd, False)
            half = (interval["high"] - interval["low"]) / 2
            info = describe_metric(row.metric, infos)  # centred on the value shown, within the metric's range
            low = row.value - half if info.low is None else max(info.low, row.value - half)
            high = row.value + half if info.high is None else min(info.high, row.value + half)
        rows.append({"task": row.task, "metric": row.metric, "column": row.column, "value": row.value, "n": n,
                     "k": k, "low": low, "high": high, "pass_fail": status is not None,
                     "text": value_text(row.value, n, k, low, high, status is not None)})
    return pd.DataFrame(rows, columns=list(VALUE_COLUMNS))


def _score_stats(summary: pd.DataFrame, columns: Mapping[str, str]) -> dict[tuple[str, str, str], tuple]:
    """(task, metric, column) → (n, mean, sd) pooled over the column's runs."""
    out: dict[tuple[str, str, str], tuple] = {}
    if summary.empty:
        return out
    frame = summary.assign(column=summary["run_id"].map(columns), sd=summary["sd"].fillna(0.0))
    frame["total"] = frame["n"] * frame["mean"]
    frame["squares"] = (frame["n"] - 1) * frame["sd"] ** 2 + frame["n"] * frame["mean"] ** 2
    for (task, metric, column), group in frame.groupby(["task", "metric", "column"]):
        n = float(group["n"].sum())
        mean = float(group["total"].sum()) / n
        var = (float(group["squares"].sum()) - n * mean * mean) / (n - 1) if n > 1 else 0.0
        out[(task, metric, column)] = (n, mean, math.sqrt(max(var, 0.0)))
    return out


def _share_counts(counts: pd.DataFrame, columns: Mapping[str, str]) -> dict[tuple[str, str], dict[str, Any]]:
    """(task, column) → {'n': samples executed, 'by_status': {status: count}} over the column's runs."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    if counts.empty:
        return out
    for row in counts.itertuples():
        column = columns.get(row.run_id)
        if column is None:
            continue
        entry = out.setdefault((row.task, column), {"n": 0, "by_status": {}})
        entry["n"] += int(row.n)
        entry["by_status"][row.status] = entry["by_status"].get(row.status, 0) + int(row.n)
    return out
