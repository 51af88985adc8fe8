"""The Compare page: ST vs MT vs FFT vs zero-shot, per task and metric, side by side, with deltas
against a baseline, Holm- and BH-corrected paired tests, model-size scaling and the paper's numbers,
and the "Reference study" section (ui.reference).

The reference study's runs are in the store as read-only reference runs (store.reference: labels
`paper ST-QLoRA`, …, names `paper · 0.5B MT-QLoRA`): they can be picked like any run, their
columns never merge with yours, and the scaling chart overlays every metric they report.

Columns are either runs, or configurations per model size ("0.5B ST-QLoRA"): single-task runs
each cover some tasks, so merging them by configuration gives the paper's layout (one ST column
covering every task). Values come from store.queries (compare_table / compare_pivot for runs,
run_metrics for configurations); the paired tests live in ui.paired_tests. What a metric is (its
group in the metric selector, whether it has per-sample values) comes from the metric metadata
(engine.vocabulary.describe_metric over engine.api.metric_infos), never from a list kept here.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

import engine.api
from engine.vocabulary import DONE, METRIC_GROUPS, config_rank, pass_at
from store import queries
from ui import common, figures, intervals, paired_tests, reference, verdict, verdict_data
from ui.formatting import is_missing, number, params_b, run_label, size_of

# How the metric groups of engine.vocabulary read on the page (a group without a label shows its name).
GROUP_LABELS = {
    "score": "scores (correctness and similarity)",
    "execution": "execution outcomes (exec:…)",
    "corpus": "corpus-level values (…:corpus)",
    "quality": "code quality (quality:…)",
    "generation": "generation (tokens, truncation, speed)",
}
ALL_METRICS = "all"


def group_label(group: str) -> str:
    """The label of a metric group in the 'metrics' selector."""
    return GROUP_LABELS.get(group, group)


def metric_groups() -> dict[str, str]:
    """Selector label → metric group, in the vocabulary's order, then ALL_METRICS (every metric)."""
    return {**{group_label(g): g for g in METRIC_GROUPS}, ALL_METRICS: ALL_METRICS}


def in_group(metric: str, group: str) -> bool:
    """Whether `metric` belongs to `group` (every metric belongs to ALL_METRICS)."""
    return group in (ALL_METRICS, common.metric_info(metric).group)


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
            "is_reference",
        ]
    ].copy()
    info["config"] = [(configs or {}).get(r) or lab for r, lab in zip(info["run_id"], info["label"], strict=True)]
    info["size"] = [size_of(m, s) for m, s in zip(info["model"], info["model_size"], strict=True)]
    info["params_b"] = [
        params_b(m, s, p) for m, s, p in zip(info["model"], info["model_size"], info["model_params_b"], strict=True)
    ]
    info["name"] = [run_label({**row, "config": None}, with_hash=False) for row in info.to_dict("records")]
    # A reference run goes by its own name ('paper · 0.5B ST-QLoRA (translation)').
    stored_names = dict(zip(overview["run_id"], overview["name"], strict=True))
    info.loc[info["is_reference"], "name"] = info.loc[info["is_reference"], "run_id"].map(stored_names)
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
        members = members[members["state"] == DONE]
        configs = dict(zip(members["run_id"], members["config"], strict=True))
        return _runs_info(list(members["run_id"]), configs), f"study {study_id}"
    overview = common.query("runs_overview", states=[DONE])
    if overview.empty:
        return overview, "runs"
    labels = {r["run_id"]: (r["name"] if r["is_reference"] else run_label(r)) for r in overview.to_dict("records")}
    own = overview[~overview["is_reference"]]
    if own.empty:  # nothing launched yet: the paper's smallest models
        refs = overview[overview["is_reference"]]
        recent = list(refs.loc[refs["model_params_b"] == refs["model_params_b"].min(), "run_id"])
    else:
        recent = list(own["run_id"])[-8:]
    chosen = st.multiselect(
        "runs",
        list(labels),
        default=recent,
        format_func=labels.get,
        key="compare.runs",
        help="finished runs (the most recent ones preselected) and the reference study's runs ('paper · …')",
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


def _show_table(frame: pd.DataFrame, baseline_name: str, with_n: pd.DataFrame) -> None:
    """Values (with n and 95% intervals: `with_n` is ui.verdict_data.value_table), Δ, heatmap, bars."""
    position = dict(zip(frame["column"], frame["position"], strict=True))
    values = compare_pivot(with_n.assign(position=with_n["column"].map(position)), "text") if not with_n.empty else (
        compare_pivot(frame, "value").map(number))
    deltas = compare_pivot(frame, "delta")
    tabs = st.tabs(["Values", "Δ vs baseline", "Δ heatmap", "Bars"])
    with tabs[0]:
        common.table(
            values.fillna("–"),
            "compare-values",
            hide_index=False,
            file_stem="comparison",
            download_frame=frame.merge(with_n[["task", "metric", "column", "n", "k", "low", "high"]],
                                       on=["task", "metric", "column"], how="left") if not with_n.empty else frame,
        )
        st.caption("n = samples behind each value: `0.25 (1/4)` is k of n samples passing; `0.312 ± 0.040` is the "
                   "half-width of its 95% interval (t on per-sample values; Wilson for pass/fail, in the download).")
    if frame["column"].nunique() < 2:
        for tab in tabs[1:]:
            with tab:
                st.info("Only one column is selected: there is nothing to compare it with.")
        return
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
        _meaning(metric)
        bars = intervals.metric_bars(with_n, metric) if not with_n.empty else figures.metric_bars(frame, metric)
        st.plotly_chart(bars, key="compare-bars")
        st.caption("Error bars: 95% intervals (Wilson for pass/fail, t for per-sample scores).")


def _meaning(metric: str) -> None:
    """What the chosen metric measures, its scale and direction (engine.glossary), under its selector."""
    text = engine.api.glossary().help(metric)
    if text:
        st.caption(text)


def compare_pivot(frame: pd.DataFrame, value: str) -> pd.DataFrame:
    """(task, metric) × column matrix (store.queries.compare_pivot over the column names)."""
    return queries.compare_pivot(frame, value=value, columns="column")


# --- scaling ------------------------------------------------------------------------------------------


def _show_scaling(frame: pd.DataFrame, info: pd.DataFrame) -> None:
    st.subheader("Model-size scaling")
    shown = list(dict.fromkeys(frame["metric"]))
    metrics = [m for m in shown if common.metric_info(m).per_sample] or shown
    cols = st.columns([2, 2])
    metric = cols[0].selectbox(
        "metric",
        metrics,
        index=metrics.index(pass_at(1)) if pass_at(1) in metrics else 0,
        key="compare.scaling_metric",
    )
    with cols[0]:
        _meaning(metric)
    overlay = cols[1].checkbox(
        "overlay the paper's values",
        value=False,
        key="compare.paper",
        help="Haque et al. 2026, dashed: its reference runs' value of this metric (with the n each rests on), "
        "or its published numbers when the store has no reference runs (shared/REFERENCE.md)",
    )
    params = dict(zip(info["run_id"], info["params_b"], strict=True))
    config = dict(zip(info["run_id"], info["config"], strict=True))
    size = dict(zip(info["run_id"], info["size"], strict=True))
    data = frame[frame["metric"] == metric].copy()
    data["params_b"] = data["run_id"].map(params)
    data["config"] = data["run_id"].map(config)
    data["size"] = data["run_id"].map(size)
    data = data.groupby(["task", "config", "params_b", "size"], as_index=False)["value"].mean()
    data = _with_bands(data, info, metric)
    paper = _overlay(metric, list(data["task"].unique())) if overlay else None
    st.plotly_chart(intervals.scaling_with_bands(data, metric, paper), key="compare-scaling")
    if data["params_b"].nunique() < 2:
        st.caption("One model size only: add runs of other sizes to see a scaling trend.")
    table = data.rename(columns={"value": metric})
    if paper is not None and not paper.empty:
        extra = [c for c in ("n", "convention") if c in paper]
        table = table.merge(
            paper[["task", "config", "size", "value", *extra]].rename(
                columns={"value": "paper", "n": "paper n", "convention": "paper convention"}),
            on=["task", "config", "size"],
            how="outer",
        )
    common.table(table, "compare-scaling", file_stem="scaling")


def _with_bands(data: pd.DataFrame, info: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The scaling rows with n and the 95% interval of each (task, size, configuration)."""
    by_config = _columns(info, "config")
    found = verdict_data.value_table(common.query, by_config, list(data["task"].unique()), [metric])
    if found.empty:
        return data.assign(n=float("nan"), low=float("nan"), high=float("nan"))
    data = data.assign(column=[f"{s} {c}" for s, c in zip(data["size"], data["config"], strict=True)])
    found = found[["task", "column", "n", "low", "high"]]
    return data.merge(found, on=["task", "column"], how="left").drop(columns=["column"])


def _overlay(metric: str, tasks: list[str]) -> pd.DataFrame:
    """The paper's values of `metric` for the scaling chart: its reference runs' (every metric, with
    n and the pass@1 convention), else its published numbers (pass@1, CodeBLEU, BLEU)."""
    if not reference.reference_runs().empty:
        paper = reference.overlay_rows(metric, tasks)
        if paper.empty:
            st.caption(f"The paper reports no {metric} values for these tasks.")
            return paper
        n = paper.groupby("task")["n"].agg(["min", "max"])
        counts = [f"{t} n = {lo}" + (f"–{hi}" if hi != lo else "")
                  for t, lo, hi in zip(n.index, n["min"], n["max"], strict=True)]
        st.caption(f"Paper (its per-sample files): {'; '.join(counts)}; {paper['convention'].iloc[0]}.")
        if any(t.startswith("gen-") for t in tasks):
            st.caption("Paper: generation is CoderEval (Python 190, Java 184); ours is HumanEval / HumanEval-X, "
                       "so only the trends compare.")
        return paper
    rows = pd.DataFrame(engine.api.paper_numbers())
    paper = rows[(rows["metric"] == metric) & rows["task"].isin(tasks)].copy()
    paper["params_b"] = paper["size"].map(lambda s: params_b(None, s))
    if paper.empty:
        st.caption(f"The paper published no {metric} values for these tasks.")
    else:
        for note in paper["note"].unique():
            st.caption(f"Paper: {note}")
    return paper


def render() -> None:
    """Draw the Compare page."""
    common.header(
        "Compare",
        "Single-task vs multi-task vs full fine-tuning vs zero-shot, per task and metric, "
        "side by side — with differences to a baseline, paired significance tests and model-size "
        "scaling.",
    )
    _compare_runs()
    reference.show()


def _compare_runs() -> None:
    """Everything above the "Reference study" section: the chosen runs side by side."""
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
    groups = metric_groups()
    group = cols[2].selectbox("metrics", list(groups), key="compare.group")
    metric_options = sorted({m for m in names_df["metric"] if in_group(m, groups[group])})
    with st.expander("Filter tasks and metrics", expanded=False):
        tasks = st.multiselect("tasks", all_tasks, default=all_tasks, key="compare.tasks")
        metrics = st.multiselect("metrics", metric_options, default=metric_options, key=f"compare.metrics.{group}")
    frame = comparison_frame(info, mode, baseline, tasks or None, metrics or None) if metrics else pd.DataFrame()
    if frame.empty:
        st.info("No metric values for this selection: pick other tasks or metrics, or runs that finished scoring.")
        return
    verdict.show(_columns(info, mode), baseline, tasks or None)
    st.subheader("Per task and metric")
    st.caption(
        f"{info.shape[0]} run(s); columns ordered by model size and configuration; Δ against **{baseline_name}**."
    )
    _show_table(frame, baseline_name, verdict_data.value_table(common.query, _columns(info, mode), tasks or None,
                                                               metrics or None))
    paired_tests.show(frame, info, _columns(info, mode), mode, baseline, baseline_name)
    _show_scaling(frame, info)
    from ui import transfer  # the "Task transfer" expander, when MT runs over several task subsets are chosen

    transfer.show(list(info["run_id"]), dict(zip(info["run_id"], info["name"], strict=True)))
    with st.expander("Cost and frontier", expanded=False):
        from ui import cost  # the cost table and the quality-vs-cost Pareto frontier (ui/cost.py)

        cost.show(list(info["run_id"]), dict(zip(info["run_id"], info["name"], strict=True)))
    with st.expander("The runs in this comparison"):
        shown = info.drop(columns=["rank"]).assign(tasks=info["tasks"].map(", ".join))
        common.table(shown, "compare-runs", file_stem="compared-runs")
    from ui.report import button as report_button  # the report to take away (ui/report)

    report_button.show(_columns(info, mode), baseline)
