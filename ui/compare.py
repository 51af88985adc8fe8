"""The Compare page: ST vs MT vs FFT vs zero-shot, per task and metric, side by side, with deltas
against a baseline, Holm-corrected paired tests, model-size scaling and the paper's numbers.

Columns are either runs, or configurations per model size ("0.5B ST-QLoRA"): single-task runs
each cover some tasks, so merging them by configuration gives the paper's layout (one ST column
covering every task). Values come from store.queries (compare_table / compare_pivot for runs,
run_metrics for configurations); paired per-sample inputs from paired_pass / paired_scores, and
the statistics from engine.api.paired_tests (McNemar for pass@1, Wilcoxon + Cliff's delta for
metrics, Holm across the whole family).
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

import engine.api
from store import queries
from ui import common, figures
from ui.formatting import config_rank, is_missing, number, p_value, params_b, run_label, size_of

SCORE_METRICS = (
    "pass@1",
    "pass@5",
    "pass@10",
    "codebleu",
    "bleu",
    "smooth_bleu",
    "meteor",
    "rouge_l",
    "chrf",
    "exact_match",
    "exact_match_strict",
)
GENERATION = ("n", "samples", "completion_tokens_mean", "truncated_rate", "gen_tokens_per_s")
GROUPS = {
    "scores (correctness and similarity)": lambda m: m in SCORE_METRICS or (m.startswith("pass@") and ":" not in m),
    "execution outcomes (exec:…)": lambda m: m.startswith("exec:"),
    "corpus-level values (…:corpus)": lambda m: m.endswith(":corpus"),
    "code quality (quality:…)": lambda m: m.startswith("quality:"),
    "generation (tokens, truncation, speed)": lambda m: m in GENERATION,
    "all": lambda m: True,
}
AUTO_TEST_LIMIT = 24  # paired tests run without a click up to this many comparisons


def primary_metric(task: str) -> str | None:
    """A task's headline per-sample metric: the first of its catalogue metrics (pass@k → pass@1)."""
    for metric in common.task_info(task).get("metrics", []):
        name = "pass@1" if metric == "pass@k" else metric
        if _per_sample(name):
            return name
    return None


def _per_sample(metric: str) -> bool:
    """Whether a metric has per-sample values (pass@1 from outcomes; plain metric names from scores)."""
    return metric == "pass@1" or (metric in SCORE_METRICS and not metric.startswith("pass@"))


# --- selection ----------------------------------------------------------------------------------


def _runs_info(run_ids: list[str], configs: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per run: label, size, params, config (study configuration or label), tasks."""
    overview = common.query("runs_overview", run_ids=run_ids)
    if overview.empty:
        return overview
    info = overview[
        [
            "run_id",
            "label",
            "model",
            "model_short",
            "model_size",
            "model_params_b",
            "method",
            "tasks",
            "state",
        ]
    ].copy()
    info["config"] = [(configs or {}).get(r) or lab for r, lab in zip(info["run_id"], info["label"], strict=True)]
    info["size"] = [size_of(m, s) for m, s in zip(info["model"], info["model_size"], strict=True)]
    info["params_b"] = [
        params_b(m, s, p) for m, s, p in zip(info["model"], info["model_size"], info["model_params_b"], strict=True)
    ]
    info["name"] = [run_label({**row, "config": None}, with_hash=False) for row in info.to_dict("records")]
    duplicated = info["name"].duplicated(keep=False)
    info.loc[duplicated, "name"] = [
        f"{n} #{r.rsplit('-', 1)[-1]}"
        for n, r in zip(info.loc[duplicated, "name"], info.loc[duplicated, "run_id"], strict=True)
    ]
    info["rank"] = [
        (p if p is not None else 1e9, config_rank(c), n)
        for p, c, n in zip(info["params_b"], info["config"], info["name"], strict=True)
    ]
    return info.sort_values("rank").reset_index(drop=True)


def _pick_runs() -> tuple[pd.DataFrame, str]:
    """The runs to compare (from a study or chosen freely) and where they came from."""
    studies = common.query("studies")
    sources = ["a study", "any runs"] if not studies.empty else ["any runs"]
    source = (
        "any runs"
        if len(sources) == 1
        else st.radio(
            "Compare",
            sources,
            horizontal=True,
            key="compare.source",
            help="a study's runs (its configurations as labels), or any finished runs",
        )
    )
    if source == "a study":
        names = {r.study_id: f"{r.name} — {r.n_done}/{r.n_runs} done · {r.study_id}" for r in studies.itertuples()}
        study_id = st.selectbox("study", list(names), format_func=names.get, key="compare.study")
        members = common.query("study_runs", study_id=study_id)
        members = members[members["state"] == "done"]
        configs = dict(zip(members["run_id"], members["config"], strict=True))
        return _runs_info(list(members["run_id"]), configs), f"study {study_id}"
    overview = common.query("runs_overview", states=["done"])
    if overview.empty:
        return overview, "runs"
    labels = {r["run_id"]: run_label(r) for r in overview.to_dict("records")}
    recent = list(overview["run_id"])[-8:]
    chosen = st.multiselect(
        "runs",
        list(labels),
        default=recent,
        format_func=labels.get,
        key="compare.runs",
        help="finished runs; the most recent ones are preselected",
    )
    return _runs_info(list(chosen)), "runs"


# --- the comparison table -----------------------------------------------------------------------


def _columns(info: pd.DataFrame, mode: str) -> dict[str, str]:
    """run_id → column name."""
    if mode == "run":
        return dict(zip(info["run_id"], info["name"], strict=True))
    return {r: f"{s} {c}" for r, s, c in zip(info["run_id"], info["size"], info["config"], strict=True)}


def comparison_frame(
    info: pd.DataFrame, mode: str, baseline: str, tasks: list[str] | None, metrics: list[str] | None
) -> pd.DataFrame:
    """Long rows: task, metric, column, position, run_id, value, baseline_value, delta, rel_delta.

    mode 'run': compare_table against the baseline run. mode 'config': run_metrics merged per
    (size, configuration), the baseline being a configuration of the same size.
    """
    run_ids = list(info["run_id"])
    cols = _columns(info, mode)
    order = list(dict.fromkeys(cols[r] for r in run_ids))
    if mode == "run":
        frame = common.query("compare_table", run_ids=run_ids, tasks=tasks, metrics=metrics, baseline=baseline)
        if frame.empty:
            return frame
        frame["column"] = frame["run_id"].map(cols)
        frame["position"] = frame["column"].map(order.index)
        return frame
    frame = common.query("run_metrics", run_ids=run_ids, tasks=tasks, metrics=metrics)
    if frame.empty:
        return frame
    frame["column"] = frame["run_id"].map(cols)
    frame["size"] = frame["run_id"].map(dict(zip(info["run_id"], info["size"], strict=True)))
    frame["config"] = frame["run_id"].map(dict(zip(info["run_id"], info["config"], strict=True)))
    merged = frame.groupby(["task", "metric", "column", "size", "config"], as_index=False).agg(
        value=("value", "mean"), run_id=("run_id", "first"), n_runs=("run_id", "nunique")
    )
    base = merged[merged["config"] == baseline][["task", "metric", "size", "value", "run_id"]].rename(
        columns={"value": "baseline_value", "run_id": "baseline_run_id"}
    )
    out = merged.merge(base, on=["task", "metric", "size"], how="left")
    out["delta"] = out["value"] - out["baseline_value"]
    out["rel_delta"] = out["delta"] / out["baseline_value"].abs().where(out["baseline_value"] != 0)
    out["position"] = out["column"].map(order.index)
    return out.sort_values(["task", "metric", "position"]).reset_index(drop=True)


def _show_table(frame: pd.DataFrame, baseline_name: str) -> None:
    values = compare_pivot(frame, "value")
    deltas = compare_pivot(frame, "delta")
    tabs = st.tabs(["Values", "Δ vs baseline", "Δ heatmap", "Bars"])
    with tabs[0]:
        common.table(
            values.map(number),
            "compare-values",
            hide_index=False,
            file_stem="comparison",
            download_frame=frame,
        )
    with tabs[1]:
        missing = [c for c in deltas.columns if deltas[c].isna().all()]
        if missing:
            st.caption(
                f"No Δ for {', '.join(map(str, missing))}: the baseline has no values there "
                "(per configuration, the baseline is taken within the same model size)."
            )
        common.table(
            deltas.map(lambda v: number(v) if is_missing(v) else f"{v:+.4f}"),
            "compare-deltas",
            hide_index=False,
            file_stem="comparison-deltas",
            download_frame=deltas,
        )
    with tabs[2]:
        st.plotly_chart(figures.delta_heatmap(deltas, baseline_name), key="compare-heatmap")
    with tabs[3]:
        metric_list = list(dict.fromkeys(frame["metric"]))
        metric = st.selectbox("metric", metric_list, key="compare.bar_metric")
        st.plotly_chart(figures.metric_bars(frame, metric), key="compare-bars")


def compare_pivot(frame: pd.DataFrame, value: str) -> pd.DataFrame:
    """(task, metric) × column matrix (store.queries.compare_pivot over the column names)."""
    return queries.compare_pivot(frame, value=value, columns="column")


# --- paired tests ----------------------------------------------------------------------------------


def _pairs(frame: pd.DataFrame, info: pd.DataFrame, mode: str, baseline: str) -> list[dict[str, Any]]:
    """(task, metric, column A, column B, run_a, run_b) for every per-sample comparison vs the baseline."""
    cols = _columns(info, mode)
    size = dict(zip(info["run_id"], info["size"], strict=True))
    out = []
    per_task: dict[tuple[str, str], str] = {}  # (task, column) → a run of that column with the task
    for row in frame.itertuples():
        per_task.setdefault((row.task, row.column), row.run_id)
    for row in frame.drop_duplicates(["task", "metric", "column"]).itertuples():
        if not _per_sample(row.metric):
            continue
        if mode == "run":
            base_run = baseline
            base_col = cols.get(baseline)
        else:
            base_col = f"{size[row.run_id]} {baseline}"
            base_run = per_task.get((row.task, base_col))
        if base_run is None or row.column == base_col:
            continue
        base_run = per_task.get((row.task, base_col), base_run)
        out.append(
            {
                "task": row.task,
                "metric": row.metric,
                "A": base_col,
                "B": row.column,
                "run_a": base_run,
                "run_b": row.run_id,
            }
        )
    return out


def _paired_inputs(pair: dict[str, Any]) -> dict[str, Any] | None:
    if pair["metric"] == "pass@1":
        data = common.query("paired_pass", run_a=pair["run_a"], run_b=pair["run_b"], task=pair["task"])
        a, b = data["passed_a"].astype(float).tolist(), data["passed_b"].astype(float).tolist()
    else:
        data = common.query(
            "paired_scores",
            run_a=pair["run_a"],
            run_b=pair["run_b"],
            task=pair["task"],
            metric=pair["metric"],
        )
        data = data[data["sample_index"] >= 0].dropna(subset=["value_a", "value_b"])  # per-sample rows only
        a, b = data["value_a"].tolist(), data["value_b"].tolist()
    if not a:
        return None
    return {
        "task": pair["task"],
        "metric": pair["metric"],
        "run_a": pair["run_a"],
        "run_b": pair["run_b"],
        "a": a,
        "b": b,
    }


def paired_results(pairs: list[dict[str, Any]]) -> pd.DataFrame:
    """Fetch each pair's per-sample values (with a progress bar) and test the family, Holm-corrected."""
    inputs = common.progress_steps(pairs, "Fetching paired per-sample values", _paired_inputs)
    items = [i for i in inputs if i is not None]
    if not items:
        return pd.DataFrame()
    with st.spinner("Testing (McNemar / Wilcoxon, Holm-corrected)…"):
        results = engine.api.paired_tests(items)
    names = {(p["run_a"], p["run_b"], p["task"], p["metric"]): (p["A"], p["B"]) for p in pairs}
    frame = pd.DataFrame(results)
    frame["A"] = [names[(r.run_a, r.run_b, r.task, r.metric)][0] for r in frame.itertuples()]
    frame["B"] = [names[(r.run_a, r.run_b, r.task, r.metric)][1] for r in frame.itertuples()]
    frame["Δ mean (B − A)"] = frame["mean_b"] - frame["mean_a"]
    frame["significant (Holm, α=0.05)"] = frame["p_holm"].map(lambda p: "✓" if not is_missing(p) and p < 0.05 else "")
    return frame


def _show_paired(frame: pd.DataFrame, info: pd.DataFrame, mode: str, baseline: str, baseline_name: str) -> None:
    st.subheader("Paired tests")
    st.caption(
        f"Each column against the baseline **{baseline_name}** on the samples both evaluated: McNemar "
        "on pass/fail for pass@1, Wilcoxon signed-rank with Cliff's δ for per-sample metrics; p-values "
        "Holm-corrected across the whole family shown."
    )
    scope = st.radio(
        "test",
        ["each task's primary metric", "every per-sample metric shown"],
        horizontal=True,
        key="compare.test_scope",
        help="primary: pass@1 for generation, CodeBLEU for translation, BLEU for summarization",
    )
    pairs = _pairs(frame, info, mode, baseline)
    if scope.startswith("each"):
        pairs = [p for p in pairs if p["metric"] == primary_metric(p["task"])]
    if not pairs:
        st.info("Nothing to test: pick at least two columns with per-sample metrics (pass@1, codebleu, bleu, …).")
        return
    key = json.dumps([common.store_version(), pairs], default=str)
    cached = st.session_state.get("compare.paired")
    if cached and cached["key"] == key:
        results = cached["frame"]
    elif len(pairs) <= AUTO_TEST_LIMIT or st.button(
        f"Run {len(pairs)} paired tests", key="compare.run_tests", type="primary"
    ):
        results = paired_results(pairs)
        st.session_state["compare.paired"] = {"key": key, "frame": results}
    else:
        st.caption(f"{len(pairs)} comparisons: click to fetch their per-sample values and test them.")
        return
    if results.empty:
        st.info("No paired per-sample values for these runs (were they scored on the same samples?).")
        return
    shown = results[
        [
            "task",
            "metric",
            "A",
            "B",
            "n",
            "mean_a",
            "mean_b",
            "Δ mean (B − A)",
            "test",
            "p_value",
            "p_holm",
            "effect",
            "effect_label",
            "significant (Holm, α=0.05)",
        ]
    ].copy()
    for column in ("mean_a", "mean_b", "Δ mean (B − A)", "effect"):
        shown[column] = shown[column].map(number)
    for column in ("p_value", "p_holm"):
        shown[column] = shown[column].map(p_value)
    common.table(
        shown.rename(columns={"p_value": "p", "p_holm": "p (Holm)"}),
        "compare-paired",
        file_stem="paired-tests",
        download_frame=results,
    )
    n_sig = int((results["significant (Holm, α=0.05)"] == "✓").sum())
    st.caption(f"{n_sig} of {len(results)} differences survive the Holm correction at α = 0.05.")


# --- scaling ------------------------------------------------------------------------------------------


def _show_scaling(frame: pd.DataFrame, info: pd.DataFrame) -> None:
    st.subheader("Model-size scaling")
    metrics = [m for m in dict.fromkeys(frame["metric"]) if _per_sample(m)] or list(dict.fromkeys(frame["metric"]))
    cols = st.columns([2, 2])
    metric = cols[0].selectbox(
        "metric", metrics, index=metrics.index("pass@1") if "pass@1" in metrics else 0, key="compare.scaling_metric"
    )
    overlay = cols[1].checkbox(
        "overlay the paper's published numbers",
        value=False,
        key="compare.paper",
        help="Haque et al. 2026 (shared/REFERENCE.md), dashed",
    )
    params = dict(zip(info["run_id"], info["params_b"], strict=True))
    config = dict(zip(info["run_id"], info["config"], strict=True))
    size = dict(zip(info["run_id"], info["size"], strict=True))
    data = frame[frame["metric"] == metric].copy()
    data["params_b"] = data["run_id"].map(params)
    data["config"] = data["run_id"].map(config)
    data["size"] = data["run_id"].map(size)
    data = data.groupby(["task", "config", "params_b", "size"], as_index=False)["value"].mean()
    paper = None
    if overlay:
        rows = pd.DataFrame(engine.api.paper_numbers())
        paper = rows[(rows["metric"] == metric) & rows["task"].isin(data["task"].unique())].copy()
        paper["params_b"] = paper["size"].map(lambda s: params_b(None, s))
        if paper.empty:
            st.caption(f"The paper published no {metric} values for these tasks.")
        else:
            for note in paper["note"].unique():
                st.caption(f"Paper: {note}")
    st.plotly_chart(figures.scaling_lines(data, metric, paper), key="compare-scaling")
    if data["params_b"].nunique() < 2:
        st.caption("One model size only: add runs of other sizes to see a scaling trend.")
    table = data.rename(columns={"value": metric})
    if paper is not None and not paper.empty:
        table = table.merge(
            paper[["task", "config", "size", "value"]].rename(columns={"value": "paper"}),
            on=["task", "config", "size"],
            how="outer",
        )
    common.table(table, "compare-scaling", file_stem="scaling")


def render() -> None:
    """Draw the Compare page."""
    common.header(
        "Compare",
        "Single-task vs multi-task vs full fine-tuning vs zero-shot, per task and metric, "
        "side by side — with differences to a baseline, paired significance tests and model-size "
        "scaling.",
    )
    info, _ = _pick_runs()
    if info.empty:
        common.empty_state(
            "No finished runs to compare yet — launch runs (or a study) on the Launch page and "
            "watch them finish on the Runs page.",
            "launch",
            "Go to Launch",
        )
        return
    cols = st.columns([2, 2, 3])
    mode_label = cols[0].radio(
        "Columns",
        ["per configuration", "per run"],
        horizontal=True,
        key="compare.mode",
        help="per configuration merges the single-task runs of one model size into one column (the paper's layout)",
    )
    mode = "config" if mode_label == "per configuration" else "run"
    if mode == "run":
        names = dict(zip(info["run_id"], info["name"], strict=True))
        zero = [r for r, m in zip(info["run_id"], info["method"], strict=True) if m == "none"]
        options = list(names)
        baseline = cols[1].selectbox(
            "baseline run",
            options,
            index=options.index(zero[0]) if zero else 0,
            format_func=names.get,
            key="compare.baseline_run",
        )
        baseline_name = names[baseline]
    else:
        configs = sorted(info["config"].unique(), key=config_rank)
        baseline = cols[1].selectbox(
            "baseline configuration",
            configs,
            key="compare.baseline_config",
            help="compared within each model size",
        )
        baseline_name = baseline
    names_df = common.query("metric_names", run_ids=list(info["run_id"]))
    all_tasks = sorted(names_df["task"].unique())
    group = cols[2].selectbox("metrics", list(GROUPS), key="compare.group")
    metric_options = sorted({m for m in names_df["metric"] if GROUPS[group](m)})
    with st.expander("Filter tasks and metrics", expanded=False):
        tasks = st.multiselect("tasks", all_tasks, default=all_tasks, key="compare.tasks")
        metrics = st.multiselect("metrics", metric_options, default=metric_options, key=f"compare.metrics.{group}")
    frame = comparison_frame(info, mode, baseline, tasks or None, metrics or None) if metrics else pd.DataFrame()
    if frame.empty:
        st.info("No metric values for this selection: pick other tasks or metrics, or runs that finished scoring.")
        return
    st.subheader("Per task and metric")
    st.caption(
        f"{info.shape[0]} run(s); columns ordered by model size and configuration; Δ against **{baseline_name}**."
    )
    _show_table(frame, baseline_name)
    _show_paired(frame, info, mode, baseline, baseline_name)
    _show_scaling(frame, info)
    with st.expander("The runs in this comparison"):
        shown = info.drop(columns=["rank"]).assign(tasks=info["tasks"].map(", ".join))
        common.table(shown, "compare-runs", file_stem="compared-runs")
