"""The Samples page: one task's samples across runs — filtered (passes under A but fails under B,
disagreements, errors, ...), searched and paged — and one sample side by side: the prompt, the
reference, each run's generated code (highlighted), its test outcome, scores and lint findings.
Data from store.queries.sample_list / sample_detail.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

import engine.api
from store.queries import SAMPLE_FILTERS
from ui import common
from ui.formatting import is_missing, number

OUTCOME_ICONS = {
    "passed": "✅",
    "failed": "❌",
    "timeout": "⏱️",
    "error": "💥",
    "compile_error": "🧱",
    "violation": "🚫",
}
PAGE_SIZES = (25, 50, 100)
PER_ROW = 3


def outcome(status: Any) -> str:
    """'✅ passed', '❌ failed', ... or '– not executed'."""
    if is_missing(status) or not status:
        return "– not executed"
    return f"{OUTCOME_ICONS.get(str(status), '•')} {status}"


def _filters(run_ids: list[str], names: dict[str, str]) -> dict[str, Any]:
    cols = st.columns([2, 2, 2])
    usable = {
        k: v for k, v in SAMPLE_FILTERS.items() if len(run_ids) >= 2 or k not in ("a_pass_b_fail", "a_fail_b_pass")
    }
    flt = cols[0].selectbox("show", list(usable), format_func=lambda k: f"{usable[k]}", key="samples.filter")
    search = cols[1].text_input(
        "search",
        key="samples.search",
        placeholder="id, prompt, reference or output",
        help="case-insensitive text in the sample id, prompt, reference or any prediction",
    )
    size = cols[2].selectbox("per page", PAGE_SIZES, key="samples.page_size")
    out: dict[str, Any] = {"filter": flt, "search": search.strip() or None, "limit": int(size)}
    if flt in ("a_pass_b_fail", "a_fail_b_pass"):
        ab = st.columns(2)
        out["run_a"] = ab[0].selectbox("A", run_ids, format_func=names.get, key="samples.a")
        rest = [r for r in run_ids if r != out["run_a"]]
        out["run_b"] = ab[1].selectbox("B", rest, format_func=names.get, key="samples.b")
    return out


def _list(run_ids: list[str], names: dict[str, str], task: str, params: dict[str, Any]) -> pd.DataFrame:
    state_key = f"samples.page:{task}:{params['filter']}:{params.get('search')}:{params['limit']}"
    page = int(st.session_state.get(state_key, 0))
    frame = common.query("sample_list", run_ids=run_ids, task=task, offset=page * params["limit"], **params)
    total = int(frame["n_total"].iloc[0]) if not frame.empty else 0
    pages = max(1, -(-total // params["limit"]))
    if page >= pages and page > 0:
        st.session_state[state_key] = 0
        st.rerun()
    shown = pd.DataFrame(
        {
            "sample": frame["sample_id"] + frame["sample_index"].map(lambda i: f" [{i}]" if i else ""),
            "passed": [f"{p}/{e}" if e else "–" for p, e in zip(frame["n_passed"], frame["n_executed"], strict=True)],
            **{names.get(r, r): frame[f"status:{r}"].map(outcome) for r in run_ids},
            "prompt": frame["prompt_head"].str.replace("\n", " ", regex=False),
            "reference": frame["reference_head"].str.replace("\n", " ", regex=False),
        }
    )
    first = page * params["limit"] + 1 if total else 0
    st.caption(
        f"{total:,} sample(s) match · showing {first:,}–{page * params['limit'] + len(frame):,} · "
        f"page {page + 1} of {pages}"
    )
    common.table(shown, "samples-list", file_stem=f"samples-{task}", download_frame=frame)
    nav = st.columns([1, 1, 6])
    if nav[0].button("◀ previous", key="samples.prev", disabled=page == 0):
        st.session_state[state_key] = page - 1
        st.rerun()
    if nav[1].button("next ▶", key="samples.next", disabled=page + 1 >= pages):
        st.session_state[state_key] = page + 1
        st.rerun()
    return frame


def _code(text: Any, language: str | None, height: int | None = None) -> None:
    st.code("" if is_missing(text) else str(text), language=language, wrap_lines=True, height=height)


def measures_table(measures: list[dict[str, Any]], words: Any) -> pd.DataFrame:
    """A sample's quality measures as rows (tool, measure, value, meaning), `words` the glossary."""
    return pd.DataFrame(
        [
            {
                "tool": str(m.get("tool", "")),
                "measure": str(m.get("measure", "")),
                "value": number(m.get("value"), 2),
                "meaning": words.help(str(m.get("measure", "")), str(m.get("tool", ""))),
            }
            for m in measures
        ],
        columns=["tool", "measure", "value", "meaning"],
    )


def findings_table(findings: list[dict[str, Any]]) -> pd.DataFrame:
    """A sample's lint findings as rows: rule (tool and id), line, severity and message."""
    return pd.DataFrame(
        [
            {
                "rule": f"{f.get('tool', '')} {f.get('rule_id', '')}".strip(),
                "line": "" if is_missing(f.get("line")) else str(int(f["line"])),
                "severity": str(f.get("severity") or ""),
                "message": str(f.get("message") or ""),
            }
            for f in findings
        ],
        columns=["rule", "line", "severity", "message"],
    )


def _run_card(row: dict[str, Any], name: str, task: str) -> None:
    st.markdown(f"**{name}**")
    st.markdown(
        f"{outcome(row.get('status'))}"
        + (f" · exit {int(row['exit_code'])}" if not is_missing(row.get("exit_code")) else "")
        + (f" · {number(row.get('duration_s'), 2)} s" if not is_missing(row.get("duration_s")) else "")
    )
    _code(row.get("prediction"), common.task_language(task), height=320)
    st.caption(
        f"finish: {row.get('finish_reason') or '–'} · {number(row.get('completion_tokens'))} tokens · "
        f"batch latency {number(row.get('latency_s'), 2)} s"
    )
    if row.get("status") not in (None, "passed") and not is_missing(row.get("status")):
        if row.get("reason"):
            st.error(str(row["reason"]))
        if row.get("stderr_tail"):
            with st.expander("stderr (tail)"):
                _code(row["stderr_tail"], None)
    words = engine.api.glossary()
    scores = row.get("scores") or []
    if scores:
        st.markdown(
            "scores: " + " · ".join(f"{s['metric']} **{number(s['value'], 3)}**" for s in scores),
            help="\n\n".join(f"**{s['metric']}**: {words.help(s['metric'])}" for s in scores),
        )
    findings = row.get("findings") or []
    if findings:
        with st.expander(f"{len(findings)} lint finding(s)", expanded=len(findings) <= 5):
            # A static table wraps its cells: in a third of the page a grid would cut the message off.
            st.table(findings_table(findings), hide_index=True)
    else:
        st.caption("no lint findings")
    measures = row.get("measures") or []
    if measures:
        with st.expander(f"{len(measures)} quality measures"):
            st.table(measures_table(measures, words), hide_index=True)
    with st.expander("raw completion"):
        _code(row.get("completion"), None)


def _detail(run_ids: list[str], names: dict[str, str], task: str, listed: pd.DataFrame) -> None:
    st.subheader("One sample across runs")
    if listed.empty:
        st.info("No sample matches: change the filter or the search.")
        return
    keys = {
        f"{sid}" + (f" [{idx}]" if idx else ""): (sid, int(idx))
        for sid, idx in zip(listed["sample_id"], listed["sample_index"], strict=True)
    }
    chosen = st.selectbox("sample", list(keys), key="samples.open", help="one of the samples listed above")
    sample_id, sample_index = keys[chosen]
    with st.spinner("Loading the sample…"):
        frame = common.query(
            "sample_detail", task=task, sample_id=sample_id, run_ids=run_ids, sample_index=int(sample_index)
        )
    if frame.empty:
        st.info("This sample has no generations in the chosen runs.")
        return
    rows = frame.to_dict("records")
    first = rows[0]
    left, right = st.columns(2)
    with left:
        st.markdown("**Prompt**")
        _code(first.get("prompt"), common.task_language(task, source=True), height=300)
    with right:
        st.markdown("**Reference**")
        _code(first.get("reference"), common.task_language(task), height=300)
    for start in range(0, len(rows), PER_ROW):
        cols = st.columns(PER_ROW)
        for col, row in zip(cols, rows[start : start + PER_ROW], strict=False):
            with col:
                _run_card(row, names.get(row["run_id"], row["run_id"]), task)
    common.download_buttons(frame, "sample-detail", f"{task}-{sample_id.replace('/', '_')}")


def render() -> None:
    """Draw the Samples page."""
    common.header(
        "Samples",
        "Read the generated code itself: filter a task's samples (e.g. passes under A but "
        "fails under B), then open one to see the prompt, the reference and every run's output, test "
        "outcome, scores and lint findings side by side.",
    )
    run_ids, names = common.run_picker("samples.runs", default_n=3, max_selections=8)
    if not names:
        common.empty_state("No finished runs yet — launch one on the Launch page.", "launch", "Go to Launch")
        return
    if not run_ids:
        st.info("Pick at least one run.")
        return
    present = common.query("tasks_present", run_ids=run_ids)
    if present.empty:
        st.info("These runs have no generated samples.")
        return
    tasks = list(present["task"])
    counts = dict(zip(present["task"], present["n_samples"], strict=True))
    task = st.selectbox("task", tasks, key="samples.task", format_func=lambda t: f"{t} ({counts[t]:,} samples)")
    params = _filters(run_ids, names)
    listed = _list(run_ids, names, task, params)
    _detail(run_ids, names, task, listed)
