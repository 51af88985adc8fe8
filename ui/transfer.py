"""Compare's "Task transfer" view: what each evaluated task gains or loses when it is trained together
with other tasks, against its own single-task run.

Rows are the chosen multi-task runs (task subsets: a transfer study's leave-one-out, pairs and
all-tasks runs, the paper's two-task ablations), columns the tasks they evaluate. A cell is the
change of the task's headline metric (pass@1 for generation, ...: ui.paired_tests.primary_metric)
from the task's reference, the single-task run of the same model and method with the fewest tasks,
to the row's run: the mean paired difference over the samples both evaluated, with its 95% paired
bootstrap interval (engine.api.paired_bootstrap: 2,000 resamples, seed 0) and n. The view appears
only when the selection holds multi-task runs over at least two different task subsets.

`layout` (which runs are rows, which are references, how rows are named) is plain computation on
store.queries.runs_overview rows, tested without a page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import engine.api
from engine.vocabulary import pass_at
from ui import common, paired_tests

RESAMPLES, SEED, LEVEL = 2000, 0, 0.95
NOT_EVALUATED = "#d9d9d9"


@dataclass
class TransferRow:
    """One multi-task run and, per task it evaluates, the single-task run it is compared against."""

    run_id: str
    name: str  # the row's label: its subset ('without summarization', 'gen-python+sum-java', ...)
    tasks: list[str]
    references: dict[str, str] = field(default_factory=dict)  # task → reference run id


def _key(run: Mapping[str, Any]) -> tuple[str, str]:
    return str(run.get("model")), str(run.get("method"))


def _references(trained: list[Mapping[str, Any]]) -> dict[tuple[str, str, str], str]:
    """(model, method, task) → its single-task run with the fewest tasks (the first such run on a tie)."""
    refs: dict[tuple[str, str, str], tuple[int, str]] = {}
    for run in trained:
        if run.get("is_multitask"):
            continue
        for task in run["tasks"]:
            key = (*_key(run), task)
            if key not in refs or len(run["tasks"]) < refs[key][0]:
                refs[key] = (len(run["tasks"]), run["run_id"])
    return {k: v[1] for k, v in refs.items()}


def subset_name(tasks: Sequence[str], every: Sequence[str], families: Mapping[str, str]) -> str:
    """A subset by what it holds or by what it leaves out of `every`, whichever is shorter; a left-out
    whole family goes by its name ('without summarization')."""
    if set(tasks) >= set(every):
        return f"all {len(every)} tasks"
    missing = [t for t in every if t not in tasks]
    gone = [f for f in dict.fromkeys(families.get(t, t) for t in missing)
            if all(x in missing for x in every if families.get(x, x) == f)]
    parts = gone + [t for t in missing if families.get(t, t) not in gone]
    without, holding = "without " + ", ".join(parts), "+".join(tasks)
    return without if len(without) <= len(holding) else holding


def layout(runs: Sequence[Mapping[str, Any]], families: Mapping[str, str],
           labels: Mapping[str, str] | None = None) -> list[TransferRow]:
    """The transfer rows of a selection (runs_overview rows: run_id, model, method, tasks,
    is_multitask, label, model_short): every trained run over two tasks or more that is nobody's
    reference, with the reference of each of its tasks that has one. Rows are named by their subset
    within their model and method (prefixed with the label, and the model when there are several)."""
    trained = [r for r in runs if r.get("method") != "none" and r.get("tasks")]
    refs = _references(trained)
    chosen = set(refs.values())
    rows = []
    models = {str(r.get("model")) for r in trained}
    for run in trained:
        if run["run_id"] in chosen or len(run["tasks"]) < 2:
            continue
        found = {t: refs[(*_key(run), t)] for t in run["tasks"] if (*_key(run), t) in refs}
        if not found:
            continue
        every = list(dict.fromkeys(t for r in trained if _key(r) == _key(run) for t in r["tasks"]))
        name = f"{run.get('label')} · {subset_name(run['tasks'], every, families)}"
        if len(models) > 1:
            name = f"{run.get('model_short') or run.get('model')} {name}"
        rows.append(TransferRow(run["run_id"], name, list(run["tasks"]), found))
    duplicated = pd.Series([r.name for r in rows]).duplicated(keep=False).tolist()
    for row, twice in zip(rows, duplicated, strict=True):
        if twice:  # the same subset trained twice (other settings): tell them apart by run
            row.name = f"{row.name} ({(labels or {}).get(row.run_id) or row.run_id[-8:]})"
    return rows


def applies(rows: Sequence[TransferRow]) -> bool:
    """Whether the view has something to show: multi-task runs over at least two task subsets."""
    return len({frozenset(r.tasks) for r in rows}) >= 2


def _aligned(task: str, metric: str, reference: str, run_id: str) -> tuple[list[float], list[float]]:
    """Per-sample values of `metric` on `task` under the reference and the run, on the samples both have."""
    if metric == pass_at(1):  # pass/fail per sample comes from the execution outcomes
        data = common.query("paired_pass", run_a=reference, run_b=run_id, task=task)
        return data["passed_a"].astype(float).tolist(), data["passed_b"].astype(float).tolist()
    data = common.query("paired_scores", run_a=reference, run_b=run_id, task=task, metric=metric)
    data = data[data["sample_index"] >= 0].dropna(subset=["value_a", "value_b"])
    return data["value_a"].tolist(), data["value_b"].tolist()


def cells(rows: Sequence[TransferRow]) -> pd.DataFrame:
    """One row per (transfer row, task): metric, delta with its interval, n and the two runs."""
    out = []
    for row in rows:
        for task, reference in row.references.items():
            metric = paired_tests.primary_metric(task)
            if metric is None:
                continue
            a, b = _aligned(task, metric, reference, row.run_id)
            item = {"subset": row.name, "task": task, "metric": metric, "delta": None, "low": None,
                    "high": None, "n": len(a), "run": row.run_id, "reference": reference}
            if a:
                found = engine.api.paired_bootstrap(a, b, resamples=RESAMPLES, seed=SEED, level=LEVEL)
                item.update(delta=found["estimate"], low=found["low"], high=found["high"], n=found["n"])
            out.append(item)
    return pd.DataFrame(out, columns=["subset", "task", "metric", "delta", "low", "high", "n", "run", "reference"])


def _cell_text(row: Mapping[str, Any]) -> str:
    if row["delta"] is None or pd.isna(row["delta"]):
        return f"no paired samples<br>n = {row['n']}"
    clear = row["low"] > 0 or row["high"] < 0  # the interval excludes no change
    delta = f"<b>{row['delta']:+.3f}</b>" if clear else f"{row['delta']:+.3f}"
    return f"{delta}<br>[{row['low']:+.3f}, {row['high']:+.3f}]<br>n = {int(row['n'])}"


def heatmap(frame: pd.DataFrame) -> go.Figure:
    """Rows: subsets; columns: evaluated tasks (with their metric); colour: the change against the
    task's single-task run (red: lower, blue: higher, white: none); text: Δ, 95% interval, n."""
    columns = list(dict.fromkeys(frame["task"]))
    metric_of = dict(zip(frame["task"], frame["metric"], strict=True))
    x = [f"{t}<br>{metric_of[t]}" for t in columns]
    subsets = list(dict.fromkeys(frame["subset"]))
    z = [[None] * len(columns) for _ in subsets]
    text = [[""] * len(columns) for _ in subsets]
    for row in frame.to_dict("records"):
        i, j = subsets.index(row["subset"]), columns.index(row["task"])
        z[i][j] = None if row["delta"] is None or pd.isna(row["delta"]) else row["delta"]
        text[i][j] = _cell_text(row)
    span = max([abs(v) for line in z for v in line if v is not None] + [1e-9])
    figure = go.Figure(go.Heatmap(
        z=z, x=x, y=subsets, text=text, texttemplate="%{text}", colorscale="RdBu", zmid=0, zmin=-span,
        zmax=span, xgap=2, ygap=2, hovertemplate="%{y}<br>%{x}<br>%{text}<extra></extra>",
        colorbar={"title": {"text": "Δ vs ST"}}))
    figure.update_layout(
        title="Change against each task's single-task run (95% paired bootstrap interval, n samples)",
        height=160 + 90 * len(subsets), margin={"l": 10, "r": 10, "t": 50, "b": 10},
        yaxis={"autorange": "reversed", "automargin": True, "showgrid": False},
        xaxis={"automargin": True, "showgrid": False},
        plot_bgcolor=NOT_EVALUATED)  # the gaps: tasks a run does not evaluate (white is "no change")
    return figure


def show(run_ids: list[str], labels: Mapping[str, str]) -> None:
    """The "Task transfer" expander of Compare, when the chosen runs hold multi-task runs over at least
    two task subsets; nothing otherwise."""
    overview = common.query("runs_overview", run_ids=list(run_ids))
    if overview.empty:
        return
    families = {t: str(common.task_info(t).get("family") or t) for ts in overview["tasks"] for t in ts}
    rows = layout(overview.to_dict("records"), families, labels)
    if not applies(rows):
        return
    with st.expander("Task transfer", expanded=True):
        st.caption(
            "Each evaluated task's headline metric under a multi-task run minus the same task under its "
            "single-task run (same model and method), sample by sample: the mean difference, its 95% "
            f"paired bootstrap interval ({RESAMPLES:,} resamples, seed {SEED}) and n, the samples both "
            "evaluated. Bold: the interval excludes no change; grey: a task the run does not train on. "
            "Small n gives wide intervals: read them first.")
        frame = cells(rows)
        if frame.empty or frame["delta"].isna().all():
            st.info("These runs share no evaluated samples with their single-task runs yet.")
            return
        st.plotly_chart(heatmap(frame), key="compare-transfer")
        shown = frame.assign(run=frame["run"].map(lambda r: labels.get(r, r)),
                             reference=frame["reference"].map(lambda r: labels.get(r, r)))
        common.table(shown, "compare-transfer-table", file_stem="task-transfer")
