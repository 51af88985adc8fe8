"""The Compare page's "Reference study" section: the reference study's per-sample results, which the
store holds as read-only reference runs (store.reference: `paper · 0.5B MT-QLoRA`, …), checked,
retested and overlaid.

* What pairs with our runs, and the evidence: translation rows pair with our trans-* test samples
  by position (row i ↔ `test-<i + 1>`), checked by correlating the Lizard token and line counts
  of the paper's outputs with the lengths of our references at offset 0 and shifted; summarization
  rows pair by CoderEval id; generation rows are CoderEval tasks our runs cannot execute offline
  (ours evaluate HumanEval / HumanEval-X), shown beside ours and never paired.
* The paper's own tests, recomputed by the ingest (store.reference, engine.api.reference_study)
  and adjusted here within the chosen family: RQ1 ST-QLoRA vs MT-QLoRA, RQ2
  MT-QLoRA vs MT-FFT, RQ3 three-task vs two-task MT-QLoRA, per task, metric and size, with the
  package's conventions (pairing by row truncated to the shorter file, R's tests, Cliff's delta,
  Holm and Benjamini-Hochberg), each table downloadable.
* The reference runs' value of every metric with the n it rests on and the pass@1 convention
  (`overlay_rows`, also what the scaling chart overlays).
The heavy parts are cached per version of the reference runs, so neither a rerun nor an ingest of
your runs redoes them.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

import engine.api
from store import queries
from ui import common
from ui.formatting import is_missing, number, p_value

TRANSLATION = ("trans-java-cs", "trans-cs-java")
SUMMARIZATION = ("sum-python", "sum-java")
GENERATION = ("gen-python", "gen-java")
OFFSETS = (0, 1, -1, 5)
ALIGN_MEASURES = ("paper-lizard:token_count", "paper-lizard:nloc")
NOT_PAIRED = ("CoderEval tasks (Python 190, Java 184), which our runs cannot execute offline: our gen-* tasks "
              "evaluate HumanEval / HumanEval-X. Shown beside our results, never paired.")


def reference_runs() -> pd.DataFrame:
    """The reference runs in the store (empty when the data directory has no paper_results/)."""
    return common.query("reference_runs")


def overlay_rows(metric: str, tasks: list[str] | None = None) -> pd.DataFrame:
    """The reference runs' values of one metric (run-level name): size, params_b, config, task,
    value, n, mean_rows, convention; averaged over a configuration's runs of a size and task."""
    frame = common.query("reference_overlay", metrics=[metric], tasks=tasks)
    if frame.empty:
        return frame
    return frame.groupby(["task", "size", "params_b", "config", "convention"], as_index=False).agg(
        value=("value", "mean"), n=("n", "sum"), mean_rows=("mean_rows", "mean"))


# --- computed once per version of the reference runs --------------------------------------------------
# The pairing evidence is kept in st.cache_resource keyed on the reference runs' own version (when
# the ingest last loaded them), not the store's: ingesting runs of yours leaves it valid.


def reference_version(runs: pd.DataFrame) -> tuple[int, float]:
    """Changes whenever the ingest reloads the reference runs."""
    stamp = runs["ingested_at"].max() if not runs.empty else 0.0
    return len(runs), float(stamp) if not is_missing(stamp) else 0.0


def study(pairing: str = "rows", family: str | None = None) -> pd.DataFrame:
    """The RQ1-RQ3 table as the ingest recomputed it (store.queries.reference_tests), adjusted with
    Holm and BH within `family` (engine.api.reference_tests_adjusted)."""
    stored = common.query("reference_tests", pairing=pairing)
    if stored.empty:
        return stored
    rows = engine.api.reference_tests_adjusted(stored.to_dict("records"), family)
    return pd.DataFrame(rows)


@st.cache_data(show_spinner=False, max_entries=8)
def _our_ids(data_dir: str, task: str) -> tuple[list[dict[str, Any]], str | None]:
    del data_dir  # the cache key
    try:
        return engine.api.reference_lengths(task), None
    except (OSError, ValueError) as exc:  # the dataset is not in the data directory (DataError)
        return [], str(exc).splitlines()[0]


@st.cache_resource(show_spinner=False, max_entries=8)
def _pairing(db_path: str, version: tuple[int, float], data_dir: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    del db_path, version  # the cache key
    series = queries.run_query(common.reader(), "reference_series",
                               metrics=[*ALIGN_MEASURES, "codebleu", "bleu", "pass@1"])
    runs = queries.run_query(common.reader(), "reference_runs")
    ours: dict[str, list[dict[str, Any]]] = {}
    problems: dict[str, str | None] = {}
    for task in (*TRANSLATION, *SUMMARIZATION):  # generation never pairs: its ids are not needed
        ours[task], problems[task] = _our_ids(data_dir, task)
    lizard = series[series["metric"].isin(ALIGN_MEASURES) & series["task"].isin(TRANSLATION)]
    align = alignment(lizard, ours)
    return pairing_summary(runs, align, ours, problems, series), align


def alignment(series: pd.DataFrame, ours: dict[str, list[dict[str, Any]]]) -> pd.DataFrame:
    """Per translation task, reference run and Lizard measure: r of the paper's value in row i with
    our reference's whitespace-token count of test-<i + 1 + offset>, for each offset in OFFSETS."""
    rows = []
    for item in series.itertuples():
        mine = ours.get(item.task) or []
        if not mine:
            continue
        correlations = engine.api.alignment_correlations(list(item.values), [o["tokens"] for o in mine], OFFSETS)
        row: dict[str, Any] = {"task": item.task, "run": item.name, "measure": item.metric, "rows": item.n}
        row.update({f"r at {c['offset']:+d}": float("nan") if c["r"] is None else c["r"] for c in correlations})
        rows.append(row)
    return pd.DataFrame(rows)


def pairing_summary(runs: pd.DataFrame, align: pd.DataFrame, ours: dict[str, list[dict[str, Any]]],
                    problems: dict[str, str | None], series: pd.DataFrame) -> pd.DataFrame:
    """One row per task: how the paper's rows pair with our samples, and the evidence."""
    rows = []
    present = {t for tasks in runs["tasks"] for t in tasks}
    for task in [t for t in (*GENERATION, *TRANSLATION, *SUMMARIZATION) if t in present]:
        paper_ids = {sid for ids in series.loc[series["task"] == task, "sample_ids"] for sid in ids}
        our_ids = {o["sample_id"] for o in ours.get(task, [])}
        row = {"task": task, "paper samples": len(paper_ids), "our test samples": len(our_ids) or None}
        if task in GENERATION:
            row.update(paired="no", how=NOT_PAIRED, evidence="CoderEval task ids; ours are HumanEval's")
        elif problems.get(task):
            row.update(paired="unknown", how="our test set could not be read", evidence=problems[task])
        elif task in TRANSLATION:
            here = align[align["task"] == task] if not align.empty else align
            at0 = here["r at +0"].median() if not here.empty else None
            off = here[[c for c in here.columns if c.startswith("r at") and c != "r at +0"]].abs().max().max() \
                if not here.empty else None
            ok = at0 is not None and off is not None and at0 > 0.5 and off < 0.2
            row.update(paired="yes" if ok else "check", how="by row: the paper's row i is our test-<i + 1>",
                       evidence=f"median r at offset 0: {number(at0, 3)}; largest |r| shifted: {number(off, 3)}")
        else:
            shared = len(paper_ids & our_ids)
            row.update(paired="yes" if shared == len(paper_ids) else "partly", how="by CoderEval id",
                       evidence=f"{shared} of {len(paper_ids)} ids are our test samples")
        rows.append(row)
    return pd.DataFrame(rows)


# --- drawing ----------------------------------------------------------------------------------------


def _show_pairing(runs: pd.DataFrame) -> None:
    settings = common.current_settings()
    summary, align = _pairing(str(settings.db_path), reference_version(runs), str(settings.data_dir))
    st.markdown("**What pairs with our runs**")
    common.table(summary, "reference-pairing", file_stem="reference-pairing")
    if not align.empty:
        with st.expander("Alignment evidence: the paper's Lizard counts against our references' lengths"):
            st.caption("Pearson r of each paper row's Lizard value with the whitespace-token count of our reference "
                       "at the same position (offset +0) and shifted: strong at +0 and near zero shifted means the "
                       "rows follow our test order.")
            shown = align.copy()
            for column in [c for c in shown.columns if c.startswith("r at")]:
                shown[column] = shown[column].map(lambda v: number(v, 3))
            common.table(shown, "reference-alignment", file_stem="reference-alignment", download_frame=align)


def _show_tests() -> None:
    st.markdown("**The paper's tests, recomputed (RQ1–RQ3)**")
    families = engine.api.reference_study_families()
    cols = st.columns([3, 3])
    family = cols[0].selectbox("correction family", families, key="reference.family",
                               help="Holm and Benjamini–Hochberg adjust within each family; NA p-values "
                                    "(no discordant pair, all differences zero) are left out of its n")
    pairing_label = cols[1].radio(
        "pairing", ["by row, truncated to the shorter file (the package)", "by sample id"], horizontal=True,
        key="reference.pairing")
    pairing = "rows" if pairing_label.startswith("by row") else "ids"
    frame = study(pairing, family)
    if frame.empty:
        st.info("No configuration pairs to test in the reference files.")
        return
    st.caption(
        "R's paired Wilcoxon (exact = FALSE, correct = FALSE) with Cliff's δ for values, R's McNemar with its "
        "continuity correction (none when b = c) for pass@1 with the odds ratio (b + 0.5)/(c + 0.5); B − A is "
        "the difference of means. Java PMD of C#→Java is recomputed from the translation PMD files (the package "
        "used the generation PMD files, 184 rows). Rows whose files differ in length say how they were paired.")
    tabs = st.tabs([f"{rq} ({(frame['rq'] == rq).sum()})" for rq in dict.fromkeys(frame["rq"])])
    for tab, rq in zip(tabs, dict.fromkeys(frame["rq"]), strict=True):
        with tab:
            part = frame[frame["rq"] == rq]
            holm_ok = int((pd.to_numeric(part["p_holm"], errors="coerce") < 0.05).sum())
            bh_ok = int((pd.to_numeric(part["p_bh"], errors="coerce") < 0.05).sum())
            st.caption(f"{part['question'].iloc[0]}: {holm_ok} of {len(part)} differences survive Holm at "
                       f"α = 0.05, {bh_ok} survive Benjamini–Hochberg (NA: no test possible, left out).")
            common.table(_readable(part), f"reference-{rq}", file_stem=f"reference-{rq}", download_frame=part)
    common.download_buttons(frame, "reference-all", "reference-study-rq1-rq3")


def _readable(part: pd.DataFrame) -> pd.DataFrame:
    shown = part[["size", "task", "metric", "config_a", "config_b", "n", "mean_a", "mean_b", "diff", "test",
                  "p_value", "p_holm", "p_bh", "effect", "effect_label", "note"]].copy()
    for column in ("mean_a", "mean_b", "diff", "effect"):
        shown[column] = shown[column].map(lambda v: number(v, 4))
    for column in ("p_value", "p_holm", "p_bh"):
        shown[column] = shown[column].map(lambda v: "NA" if is_missing(v) else p_value(v))
    return shown.rename(columns={"config_a": "A", "config_b": "B", "diff": "B − A", "p_value": "p",
                                 "p_holm": "p (Holm)", "p_bh": "p (BH)"})


def _show_values() -> None:
    st.markdown("**Every metric the paper reports, with its n**")
    frame = common.query("reference_overlay")
    if frame.empty:
        return
    wide = frame.pivot_table(index=["task", "metric", "size"], columns="config", values="value", aggfunc="mean")
    counts = frame.groupby(["task", "metric", "size"])["n"].agg(["min", "max"])
    wide["n"] = [f"{lo}" if lo == hi else f"{lo}–{hi}" for lo, hi in zip(counts["min"], counts["max"], strict=True)]
    passes = frame.loc[frame["metric"] == "pass@1", "convention"]
    st.caption("Means over each file's rows" + (f"; pass@1 {passes.iloc[0]}." if not passes.empty else "."))
    common.table(wide.map(lambda v: v if isinstance(v, str) else number(v, 4)), "reference-values",
                 hide_index=False, file_stem="reference-values", download_frame=frame)


def show() -> None:
    """Draw the "Reference study" section (nothing when the store holds no reference runs)."""
    runs = reference_runs()
    if runs.empty:
        return
    st.subheader("Reference study")
    st.caption(
        f"{len(runs)} reference runs from the paper's per-sample results ({runs['reference_source'].iloc[0]}), "
        "read from the data directory's paper_results/. They are runs like yours (pick them above; paired tests "
        "against them run on the samples both have) but read-only: never queued, resumed or deleted.")
    _show_pairing(runs)
    _show_tests()
    _show_values()
    problems = common.query("reference_files", problems_only=True)
    if not problems.empty:
        with st.expander(f"{len(problems)} reference file problem(s): skipped"):
            common.table(problems[["file", "error"]], "reference-problems", file_stem="reference-problems")
