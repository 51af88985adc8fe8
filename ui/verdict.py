"""The verdict panel at the top of the Compare page: per task, each column's headline metric against
the baseline, the difference with its 95% paired-bootstrap interval, n, the Holm-corrected p-value,
Cliff's delta, the change in code quality (findings per sample per analyser, lizard complexity) and
one plain-language reading. Small n is called out above the tables, never hidden.

The numbers come from ui.verdict_data.verdict_table (which the CLI report shares), cached per store
version, columns and baseline, since the bootstrap draws 2,000 resamples per row.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd
import streamlit as st

from ui import common, verdict_data

RESAMPLES = 2000
SEED = 0
# Up to this many comparisons the panel computes without a click (about 0.3 s of bootstrap and 0.3 s
# of sample reads on one core at 1,000 samples each, so the page stays within its 2 s); a study of
# many sizes and configurations asks first.
AUTO_VERDICT_LIMIT = 24
CLICKED_KEY = "compare.verdict_clicked"


@st.cache_data(show_spinner=False, max_entries=32, ttl=3600)
def _table(version: tuple[int, ...], columns_json: str, baseline: str) -> pd.DataFrame:
    del version  # part of the cache key only
    return verdict_data.verdict_table(common.query, json.loads(columns_json), baseline, RESAMPLES, SEED)


def verdict_frame(columns: dict[str, str], baseline: str) -> pd.DataFrame:
    """verdict_data.verdict_table for the page's columns and baseline (cached until the store changes)."""
    return _table(common.store_version(), json.dumps(columns), baseline)


def _scaled(metric: str) -> bool:
    info = common.metric_info(metric)
    return info.low == 0.0 and info.high == 1.0


def _signed(value: float, digits: int) -> str:
    return f"{value:+.{digits}f}".replace("-", "−")


def diff_text(row: Any) -> str:
    """'+50.0 [16.7, 83.3] pts' (a 0..1 metric, ×100) or '+0.123 [0.010, 0.240]'; '–' without pairs."""
    if row.n == 0 or row.diff is None or (isinstance(row.diff, float) and math.isnan(row.diff)):
        return "–"
    if _scaled(row.metric):
        return f"{_signed(row.diff * 100, 1)} [{row.low * 100:.1f}, {row.high * 100:.1f}] pts".replace("-", "−")
    return f"{_signed(row.diff, 3)} [{row.low:.3f}, {row.high:.3f}]".replace("-", "−")


def _value(value: Any, n: int, metric: str) -> str:
    pass_fail = metric.startswith("pass@")
    k = round(value * n) if pass_fail and value is not None and not math.isnan(value) else None
    return verdict_data.value_text(value, n, k, None, None, pass_fail) if k is not None else (
        "–" if value is None or math.isnan(value) else f"{value:.3f}")


def _p(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NA"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def shown_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The panel's table for one task: column, baseline, both values, Δ with its interval, n, p, effect,
    small-n flag. The quality changes are not columns here (one per analyser would push the table past
    the page's width): `quality_line` says them under each reading, and the download has them."""
    rows = []
    for row in frame.itertuples():
        entry = {
            "column": row.column, "vs": row.baseline,
            row.metric: _value(row.value_b, row.n, row.metric),
            f"{row.metric} (baseline)": _value(row.value_a, row.n, row.metric),
            "Δ [95% CI]": diff_text(row), "n": row.n, "p (Holm-corrected)": _p(row.p_adjusted),
            "Cliff's δ": "–" if row.effect_size is None or math.isnan(row.effect_size)
            else f"{row.effect_size:+.2f} {row.effect_magnitude}".replace("-", "−"),
        }
        entry["small n"] = "⚠ too few" if row.small_n else ""
        rows.append(entry)
    return pd.DataFrame(rows)


def quality_line(frame: pd.DataFrame, index: Any) -> str:
    """'code quality (B − A): findings per sample (pylint) −0.12 · complexity (lizard ccn) +0.30', or ''."""
    parts = []
    for column in (c for c in frame.columns if str(c).startswith("Δ ")):
        value = frame.loc[index, column]
        if value is not None and not math.isnan(value):
            parts.append(f"{column[2:]} {_signed(float(value), 2)}")
    return "code quality (B − A): " + " · ".join(parts) if parts else ""


def show(columns: dict[str, str], baseline: str, tasks: list[str] | None = None) -> None:
    """Draw the verdict panel for `columns` (run_id → column label) against `baseline` (a run id or a
    configuration, as the page's baseline selector gives it); `tasks` limits the tasks shown."""
    st.subheader("Verdict")
    if len(set(columns.values())) < 2:
        st.info("Only one column is selected: there is nothing to compare it with. Pick a second run or "
                "configuration (e.g. a zero-shot baseline) to get a verdict per task.")
        return
    plan = verdict_data.verdict_plan(common.query, columns, baseline)
    key = json.dumps([common.store_version(), columns, baseline], default=str)
    if len(plan) > AUTO_VERDICT_LIMIT and st.session_state.get(CLICKED_KEY) != key:
        if not st.button(f"Compute {len(plan)} verdicts", key="compare.run_verdicts", type="primary",
                         help=f"{RESAMPLES:,} bootstrap resamples per task and column: a few seconds"):
            st.caption(f"{len(plan)} comparisons (every task × column against the baseline): click to compute "
                       "them, or narrow the runs or tasks.")
            return
        st.session_state[CLICKED_KEY] = key
    with st.spinner(f"Bootstrapping the differences ({RESAMPLES:,} resamples per task)…"):
        frame = verdict_frame(columns, baseline)
    if tasks:
        frame = frame[frame["task"].isin(tasks)]
    if frame.empty:
        st.info("No verdict: no column shares a task and samples with the baseline (pick a baseline that "
                "evaluated the same tasks).")
        return
    st.caption(
        "Per task, each column's headline metric against the baseline on the samples both evaluated: the "
        f"difference B − A with its 95% paired-bootstrap interval ({RESAMPLES:,} resamples, seed {SEED}; "
        "pts = ×100 on a 0–1 metric), n paired samples, p (McNemar for pass/fail, Wilcoxon otherwise) "
        "Holm-corrected across every row, Cliff's δ (> 0: B tends higher) and the change in code quality "
        "(findings per sample per analyser — never added across analysers — and lizard's cyclomatic complexity)."
    )
    small = frame[frame["small_n"]]
    if not small.empty:
        listed = ", ".join(sorted({f"{t} (n = {n})" for t, n in zip(small["task"], small["n"], strict=True)}))
        st.warning(f"Small samples — too few to tell a difference reliably: {listed}. "
                   "Evaluate more samples (eval.limit) before reading these verdicts.", icon="⚠️")
    for task, part in frame.groupby("task", sort=False):
        st.markdown(f"**{task}** · headline metric `{part['metric'].iloc[0]}`")
        common.table(shown_rows(part), f"verdict-{task}", file_stem=f"verdict-{task}", download_frame=part)
        for index, reading, is_small in zip(part.index, part["reading"], part["small_n"], strict=True):
            quality = quality_line(part, index)
            st.markdown(f"- {'⚠️ ' if is_small else ''}{reading}" + (f"  \n  {quality}" if quality else ""))
