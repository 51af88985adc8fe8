"""The Compare page's paired tests: each column against the baseline, sample by sample, on the
samples both evaluated, Holm- and Benjamini-Hochberg-corrected across the whole family shown (the
reference study reported both); the chosen correction decides what counts as significant.

Reference runs (store.reference) pair like any run, on the samples both have: translation by test
pair, summarization by CoderEval id. Their generation rows are CoderEval tasks, ours HumanEval /
HumanEval-X: such pairs are listed as not paired instead of being tested on nothing.

Which metrics get a paired test is the metric metadata's call (engine.vocabulary.describe_metric over
engine.api.metric_infos: a metric with per-sample values and a `paired_test`), so a newly registered
metric gets one without a change here. Per-sample inputs come from ui.verdict_data.paired_values
(store.queries' paired_pass for pass@1 from the execution outcomes, paired_scores for scored
metrics; the verdict panel pairs the same way), the statistics from
engine.api.paired_tests (R's McNemar with its continuity correction on pass/fail, the paper's
convention; Wilcoxon signed-rank with Cliff's delta otherwise; NA p-values stay out of the family).
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

import engine.api
from engine.vocabulary import headline_metric
from ui import common, verdict_data
from ui.formatting import is_missing, number, p_value

AUTO_TEST_LIMIT = 24  # paired tests run without a click up to this many comparisons


def paired(metric: str) -> bool:
    """Whether two runs' values of `metric` can be tested sample by sample: the metric has
    per-sample values and a paired test."""
    info = common.metric_info(metric)
    return info.per_sample and info.paired_test is not None


def primary_metric(task: str) -> str | None:
    """A task's headline per-sample metric (engine.vocabulary.headline_metric for its family and
    its catalogue metrics)."""
    info = common.task_info(task)
    return headline_metric(info.get("family"), info.get("metrics", []), common.metric_infos())


def never_paired(task: str, run_a: str, run_b: str, reference_runs: set[str]) -> bool:
    """Whether two runs' samples of `task` can never pair: a reference run's generation rows are
    CoderEval tasks, which no run of ours evaluates (ours: HumanEval / HumanEval-X)."""
    return common.task_info(task).get("family") == "generation" and (run_a in reference_runs) != (
        run_b in reference_runs)


def pairs(
    frame: pd.DataFrame, info: pd.DataFrame, cols: dict[str, str], mode: str, baseline: str
) -> list[dict[str, Any]]:
    """(task, metric, column A, column B, run_a, run_b) for every comparison with the baseline of a
    metric that has a paired test. `cols`: run_id → column name; mode 'run' or 'config'. A pair that
    can never be paired (`never_paired`) carries unpaired=True."""
    size = dict(zip(info["run_id"], info["size"], strict=True))
    refs = set(info.loc[info["is_reference"], "run_id"]) if "is_reference" in info else set()
    out = []
    per_task: dict[tuple[str, str], str] = {}  # (task, column) → a run of that column with the task
    for row in frame.itertuples():
        per_task.setdefault((row.task, row.column), row.run_id)
    for row in frame.drop_duplicates(["task", "metric", "column"]).itertuples():
        if not paired(row.metric):
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
                "unpaired": never_paired(row.task, base_run, row.run_id, refs),
            }
        )
    return out


def _paired_inputs(pair: dict[str, Any]) -> dict[str, Any] | None:
    a, b = verdict_data.paired_values(common.query, pair["run_a"], pair["run_b"], pair["task"], pair["metric"])
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


def paired_results(todo: list[dict[str, Any]]) -> pd.DataFrame:
    """Fetch each pair's per-sample values (with a progress bar) and test the family, Holm-corrected."""
    inputs = common.progress_steps(todo, "Fetching paired per-sample values", _paired_inputs)
    items = [i for i in inputs if i is not None]
    if not items:
        return pd.DataFrame()
    with st.spinner("Testing (McNemar / Wilcoxon, Holm- and BH-corrected)…"):
        results = engine.api.paired_tests(items)
    names = {(p["run_a"], p["run_b"], p["task"], p["metric"]): (p["A"], p["B"]) for p in todo}
    frame = pd.DataFrame(results)
    frame["A"] = [names[(r.run_a, r.run_b, r.task, r.metric)][0] for r in frame.itertuples()]
    frame["B"] = [names[(r.run_a, r.run_b, r.task, r.metric)][1] for r in frame.itertuples()]
    frame["Δ mean (B − A)"] = frame["mean_b"] - frame["mean_a"]
    frame["significant (Holm, α=0.05)"] = frame["p_holm"].map(lambda p: "✓" if not is_missing(p) and p < 0.05 else "")
    frame["significant (BH, α=0.05)"] = frame["p_bh"].map(lambda p: "✓" if not is_missing(p) and p < 0.05 else "")
    return frame


def show(
    frame: pd.DataFrame, info: pd.DataFrame, cols: dict[str, str], mode: str, baseline: str, baseline_name: str
) -> None:
    """The 'Paired tests' section of the Compare page for the comparison `frame` (see `pairs`)."""
    st.subheader("Paired tests")
    st.caption(
        f"Each column against the baseline **{baseline_name}** on the samples both evaluated: McNemar "
        "on pass/fail for pass@1 (R's, with its continuity correction, as the reference study), Wilcoxon "
        "signed-rank with Cliff's δ for per-sample metrics; p-values Holm- and Benjamini–Hochberg-corrected "
        "across the whole family shown (NA p-values left out). Reference runs pair on the samples both have."
    )
    cols_top = st.columns([3, 2])
    scope = cols_top[0].radio(
        "test",
        ["each task's primary metric", "every per-sample metric shown"],
        horizontal=True,
        key="compare.test_scope",
        help="primary: pass@1 for generation, CodeBLEU for translation, BLEU for summarization",
    )
    correction = cols_top[1].radio(
        "significant after", ["Holm", "Benjamini–Hochberg"], horizontal=True, key="compare.correction",
        help="Holm controls the family-wise error rate, Benjamini–Hochberg the false discovery rate",
    )
    todo = pairs(frame, info, cols, mode, baseline)
    if scope.startswith("each"):
        todo = [p for p in todo if p["metric"] == primary_metric(p["task"])]
    unpaired = [p for p in todo if p.get("unpaired")]
    todo = [p for p in todo if not p.get("unpaired")]
    if unpaired:
        st.caption("Not paired (the paper's generation rows are CoderEval tasks; ours evaluate HumanEval / "
                   "HumanEval-X): " + ", ".join(sorted({f"{p['task']} {p['A']} vs {p['B']}" for p in unpaired})))
    if not todo:
        st.info("Nothing to test: pick at least two columns with per-sample metrics (pass@1, codebleu, bleu, …).")
        return
    key = json.dumps([common.store_version(), todo], default=str)
    cached = st.session_state.get("compare.paired")
    if cached and cached["key"] == key:
        results = cached["frame"]
    elif len(todo) <= AUTO_TEST_LIMIT or st.button(
        f"Run {len(todo)} paired tests", key="compare.run_tests", type="primary"
    ):
        results = paired_results(todo)
        st.session_state["compare.paired"] = {"key": key, "frame": results}
    else:
        st.caption(f"{len(todo)} comparisons: click to fetch their per-sample values and test them.")
        return
    if results.empty:
        st.info("No paired per-sample values for these runs (were they scored on the same samples?).")
        return
    chosen = "significant (Holm, α=0.05)" if correction == "Holm" else "significant (BH, α=0.05)"
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
            "p_bh",
            "effect",
            "effect_label",
            chosen,
        ]
    ].copy()
    for column in ("mean_a", "mean_b", "Δ mean (B − A)", "effect"):
        shown[column] = shown[column].map(number)
    for column in ("p_value", "p_holm", "p_bh"):
        shown[column] = shown[column].map(p_value)
    common.table(
        shown.rename(columns={"p_value": "p", "p_holm": "p (Holm)", "p_bh": "p (BH)"}),
        "compare-paired",
        file_stem="paired-tests",
        download_frame=results,
        column_config={"test": st.column_config.TextColumn("test", width="medium")},  # no "Wilcoxon signed-ra"
    )
    n_sig = int((results[chosen] == "✓").sum())
    st.caption(f"{n_sig} of {len(results)} differences survive the {correction} correction at α = 0.05.")
