"""The Quality page: static code quality of the generated code, per run.

Findings by tool and category (per analysed sample, so runs of different sizes compare), the most
frequent rules, distributions of per-sample measures (Lizard CCN, NLOC, Pylint score, Radon
maintainability, ...), quality against correctness (does code that passes look better?), and the
analysers that failed or skipped samples. Everything from store.queries' quality queries.
"""

from __future__ import annotations

import streamlit as st

from ui import common, figures
from ui.formatting import is_missing, number

ALL_TASKS = "(all tasks)"


def _findings(run_ids: list[str], names: dict[str, str], task: str | None) -> None:
    st.subheader("Findings by tool and category")
    st.caption("Findings per analysed sample (a tool's findings divided by the samples it analysed).")
    frame = common.query("findings_by_tool", run_ids=run_ids, task=task)
    if frame.empty:
        st.info("No findings for these runs (no analysers ran, or the code was clean).")
        return
    frame["run"] = frame["run_id"].map(names)
    grouped = frame.groupby(["run", "tool", "category"], as_index=False).agg(
        n_findings=("n_findings", "sum"),
        n_samples=("n_samples", "sum"),
        task=("task", ", ".join),
    )
    grouped["per_sample"] = grouped["n_findings"] / grouped["n_samples"].where(grouped["n_samples"] > 0)
    st.plotly_chart(figures.findings_bars(grouped), key="quality-findings")
    wide = grouped.pivot_table(index=["tool", "category"], columns="run", values="per_sample", aggfunc="first")
    common.table(
        wide.map(number),
        "quality-findings",
        hide_index=False,
        file_stem="findings-by-tool",
        download_frame=frame,
    )


def _rules(run_ids: list[str], task: str | None) -> None:
    st.subheader("Most frequent rules")
    tools = sorted(common.query("findings_by_tool", run_ids=run_ids, task=task)["tool"].unique())
    cols = st.columns([2, 1])
    tool = cols[0].selectbox("tool", ["(all tools)", *tools], key="quality.rule_tool")
    limit = cols[1].number_input("how many", min_value=5, max_value=200, value=20, step=5, key="quality.rule_limit")
    frame = common.query(
        "findings_by_rule",
        run_ids=run_ids,
        task=task,
        tool=None if tool == "(all tools)" else tool,
        limit=int(limit),
    )
    if frame.empty:
        st.info("No findings.")
        return
    st.plotly_chart(figures.rule_bars(frame), key="quality-rules")
    common.table(frame, "quality-rules", file_stem="findings-by-rule")


def _measure_choice(run_ids: list[str], key: str) -> tuple[str, str] | None:
    names = common.query("quality_measure_names", run_ids=run_ids)
    if names.empty:
        return None
    options = list(zip(names["tool"], names["measure"], strict=True))
    preferred = next((o for o in options if o[1] == "ccn"), options[0])
    return st.selectbox(
        "measure", options, index=options.index(preferred), key=key, format_func=lambda o: f"{o[0]} · {o[1]}"
    )


def _distributions(run_ids: list[str], names: dict[str, str], task: str | None) -> None:
    st.subheader("Distributions of per-sample measures")
    cols = st.columns([3, 1])
    with cols[0]:
        choice = _measure_choice(run_ids, "quality.measure")
    if choice is None:
        st.info("No per-sample measures (complexity, scores) for these runs.")
        return
    kind = cols[1].radio("plot", ["box", "violin"], horizontal=True, key="quality.kind")
    tool, measure = choice
    frame = common.query("quality_measures", run_ids=run_ids, measure=measure, task=task, tool=tool)
    frame["run"] = frame["run_id"].map(names)
    st.plotly_chart(figures.distribution(frame, f"{tool} {measure}", kind), key="quality-dist")
    summary = frame.groupby("run", as_index=False)["value"].describe(percentiles=[0.5, 0.9])
    common.table(
        summary.map(lambda v: number(v, 3) if not isinstance(v, str) else v),
        "quality-dist",
        file_stem=f"{tool}-{measure}-summary",
        download_frame=frame,
    )


def _vs_correctness(run_ids: list[str], names: dict[str, str], task: str | None) -> None:
    st.subheader("Quality vs correctness")
    present = common.query("tasks_present", run_ids=run_ids)
    executed = [t for t, n in zip(present["task"], present["n_outcomes"], strict=True) if n > 0]
    if not executed:
        st.info("None of these runs has executed samples (only generation tasks run tests).")
        return
    cols = st.columns([1, 2])
    options = [task] if task in executed else executed
    chosen_task = cols[0].selectbox("task", options, key="quality.vs_task")
    with cols[1]:
        choice = _measure_choice(run_ids, "quality.vs_measure")
    if choice is None:
        return
    tool, measure = choice
    frame = common.query("quality_vs_correctness", run_ids=run_ids, task=chosen_task, measures=[measure])
    frame = frame[frame["tool"] == tool].copy()
    if frame.empty:
        st.info(f"No {tool} {measure} values for {chosen_task}.")
        return
    frame["run"] = frame["run_id"].map(names)
    frame["outcome"] = frame["passed"].map(lambda p: "not executed" if is_missing(p) else ("passed" if p else "failed"))
    st.plotly_chart(figures.quality_vs_correctness(frame, f"{tool} {measure}"), key="quality-vs")
    summary = frame.groupby(["run", "outcome"], as_index=False).agg(
        n=("value", "size"), mean=("value", "mean"), median=("value", "median")
    )
    common.table(
        summary.assign(mean=summary["mean"].map(number), median=summary["median"].map(number)),
        "quality-vs",
        file_stem="quality-vs-correctness",
        download_frame=frame,
    )


def _status(run_ids: list[str], names: dict[str, str], task: str | None) -> None:
    st.subheader("Analyser failures")
    frame = common.query("quality_status", run_ids=run_ids, task=task)
    if frame.empty:
        st.info("No analyser ran on these runs.")
        return
    frame.insert(0, "run", frame["run_id"].map(names))
    bad = frame[frame["status"] != "ok"]
    if bad.empty:
        st.success("Every analyser ran on every sample it was given.")
    else:
        st.warning(
            f"{int(bad['n_samples'].sum())} sample analyses failed or were skipped — see the details. "
            "A missing tool (checkstyle, mcs) is installed by `make setup`."
        )
    common.table(frame, "quality-status", file_stem="analyser-status")


def render() -> None:
    """Draw the Quality page."""
    common.header(
        "Quality",
        "Static code quality of the generated code: findings per tool and category, "
        "complexity distributions, and whether code that passes its tests is also cleaner.",
    )
    run_ids, names = common.run_picker("quality.runs")
    if not names:
        common.empty_state(
            "No finished runs yet — launch one on the Launch page; quality is analysed in a run's last phase.",
            "launch",
            "Go to Launch",
        )
        return
    if not run_ids:
        st.info("Pick at least one run.")
        return
    tasks = sorted(common.query("tasks_present", run_ids=run_ids)["task"])
    chosen = st.selectbox("task", [ALL_TASKS, *tasks], key="quality.task")
    task = None if chosen == ALL_TASKS else chosen
    _findings(run_ids, names, task)
    _rules(run_ids, task)
    _distributions(run_ids, names, task)
    _vs_correctness(run_ids, names, task)
    _status(run_ids, names, task)
