"""The Quality page: static code quality of the generated code, per run.

Findings by tool and category (per analysed sample, so runs of different sizes compare), the most
frequent rules, distributions of per-sample measures (Lizard CCN, NLOC, Pylint score, Radon
maintainability, ...), quality against correctness (does code that passes look better?), and the
analysers that failed or skipped samples (in plain words: the banner names each tool's own error),
and a searchable glossary of the codes, categories and measures. Everything from store.queries'
quality queries; the words from engine.api.glossary.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

import engine.api
from ui import common, figures
from ui.formatting import is_missing, number

ALL_TASKS = "(all tasks)"


def findings_per_sample(frame: pd.DataFrame, status: pd.DataFrame) -> pd.DataFrame:
    """Findings per analysed sample by run, tool and category, over the selected tasks.

    The denominator is every sample the tool analysed (status ok) in those tasks, including tasks
    where it found nothing of that category: summing only the tasks a category appears in would
    overstate it. Tools without status rows fall back on the findings rows' sample counts.
    Columns: run_id, tool, category, n_findings, n_samples, task, per_sample.
    """
    grouped = frame.groupby(["run_id", "tool", "category"], as_index=False).agg(
        n_findings=("n_findings", "sum"), task=("task", lambda t: ", ".join(sorted(set(t))))
    )
    fallback = frame.drop_duplicates(["run_id", "task", "tool"]).groupby(["run_id", "tool"])["n_samples"].sum()
    analysed = status[status["status"] == "ok"].groupby(["run_id", "tool"])["n_samples"].sum()
    keys = list(zip(grouped["run_id"], grouped["tool"], strict=True))
    grouped["n_samples"] = [analysed.get(k, fallback.get(k)) for k in keys]
    samples = pd.to_numeric(grouped["n_samples"], errors="coerce")
    grouped["per_sample"] = grouped["n_findings"] / samples.where(samples > 0)
    return grouped


def _findings(run_ids: list[str], names: dict[str, str], task: str | None, words: Any) -> None:
    st.subheader("Findings by tool and category")
    st.caption(
        "Findings per analysed sample (a tool's findings divided by the samples it analysed), one panel "
        "per tool: tools analyse the same code (checkstyle-sun and checkstyle-google are two rule sets "
        "over the same Java), so their counts are never added up."
    )
    frame = common.query("findings_by_tool", run_ids=run_ids, task=task)
    if frame.empty:
        st.info("No findings for these runs (no analysers ran, or the code was clean).")
        return
    grouped = findings_per_sample(frame, common.query("quality_status", run_ids=run_ids, task=task))
    grouped["run"] = grouped["run_id"].map(names)
    st.plotly_chart(figures.findings_bars(grouped), key="quality-findings")
    wide = grouped.pivot_table(index=["tool", "category"], columns="run", values="per_sample", aggfunc="first")
    shown = wide.map(number)
    shown.insert(0, "meaning", [words.help(c, t) for t, c in shown.index])
    common.table(
        shown,
        "quality-findings",
        hide_index=False,
        file_stem="findings-by-tool",
        download_frame=frame,
        column_config={
            "meaning": st.column_config.TextColumn("meaning", width="large", help="what the category means"),
            **{run: st.column_config.TextColumn(run, help="findings per analysed sample") for run in wide.columns},
        },
    )


def _rules(run_ids: list[str], task: str | None, words: Any) -> None:
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
    frame.insert(2, "meaning", [words.help(r, t) for t, r in zip(frame["tool"], frame["rule_id"], strict=True)])
    st.plotly_chart(figures.rule_bars(frame), key="quality-rules")
    common.table(
        frame,
        "quality-rules",
        file_stem="findings-by-rule",
        column_config={
            "meaning": st.column_config.TextColumn(
                "meaning", width="large", help="the rule's own message (pylint) or what the check enforces"
            )
        },
    )


def _measure_choice(run_ids: list[str], key: str) -> tuple[str, str] | None:
    names = common.query("quality_measure_names", run_ids=run_ids)
    if names.empty:
        return None
    options = list(zip(names["tool"], names["measure"], strict=True))
    preferred = next((o for o in options if o[1] == "ccn"), options[0])
    return st.selectbox(
        "measure", options, index=options.index(preferred), key=key, format_func=lambda o: f"{o[0]} · {o[1]}"
    )


def _distributions(run_ids: list[str], names: dict[str, str], task: str | None, words: Any) -> None:
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
    meaning = words.help(measure, tool)
    if meaning:
        st.caption(f"**{tool} {measure}**: {meaning}")
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


def failure_banner(frame: pd.DataFrame, words: Any) -> list[str]:
    """One plain line per tool and status that failed or skipped samples, naming the tool's own error
    (`frame`: quality_status rows; `words`: the glossary). Install advice only when a tool is missing."""
    bad = frame[frame["status"] != "ok"]
    lines = []
    for (tool, status), part in bad.groupby(["tool", "status"], sort=True):
        details = [d for d in part["example_detail"] if not is_missing(d) and d]
        lines.append(words.explain_failure(str(tool), str(status), details[0] if details else "",
                                           int(part["n_samples"].sum())))
    return lines


def _status(run_ids: list[str], names: dict[str, str], task: str | None, words: Any) -> None:
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
            f"{int(bad['n_samples'].sum())} sample analyses failed or were skipped:\n\n"
            + "\n".join(f"- {line}" for line in failure_banner(frame, words))
        )
    common.table(
        frame.drop(columns=["run_id"]).assign(  # the run label is enough; the detail needs the room
            example_detail=frame["example_detail"].map(lambda d: "" if is_missing(d) else str(d))
        ),
        "quality-status",
        download_frame=frame,
        file_stem="analyser-status",
        column_config={
            "status": st.column_config.TextColumn(
                "status", help="; ".join(f"{s}: {words.help(s)}" for s in ("ok", "failed", "skipped"))
            ),
            "example_detail": st.column_config.TextColumn("example detail", width="large"),
        },
    )


def _glossary(words: Any) -> None:
    with st.expander("Glossary — what the codes, categories, measures and metrics mean"):
        cols = st.columns([3, 1])
        text = cols[0].text_input(
            "search the glossary",
            key="quality.glossary",
            placeholder="C0116, MagicNumber, exec:compile_error, ccn, docstring …",
        )
        kind = cols[1].selectbox("kind", ["(all)", *sorted({t.kind for t in words.terms})], key="quality.gkind")
        hits = words.search(text, () if kind == "(all)" else (kind,))
        st.caption(f"{len(hits):,} of {len(words.terms):,} entries")
        st.dataframe(
            pd.DataFrame([t.row() for t in hits], columns=["term", "kind", "tool", "meaning", "scale"]),
            hide_index=True,
            height=min(36 * (len(hits) + 1) + 3, 400),
            column_config={"meaning": st.column_config.TextColumn("meaning", width="large")},
        )


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
    words = engine.api.glossary()
    _findings(run_ids, names, task, words)
    _rules(run_ids, task, words)
    _distributions(run_ids, names, task, words)
    _vs_correctness(run_ids, names, task)
    _status(run_ids, names, task, words)
    _glossary(words)
