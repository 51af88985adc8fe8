"""The Data page: the datasets found in the data directory (examples per task and split, or the
loader's problem), a preview of any split with the prompt the model would see, and the realised
training mixture of a spec before launch (a preset, or the spec being edited on the Launch page).
All through engine.api (datasets, dataset_preview, mixture_preview).
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import pandas as pd
import streamlit as st

import engine.api
from engine.spec import SpecValidationError
from ui import common, figures
from ui.launch import show_mixture
from ui.spec_defaults import default_run

SPLITS = ("train", "valid", "test")


def fingerprint(data_dir: str) -> str:
    """Changes when any file under the data directory changes (size, mtime): the counts' cache key."""
    entries = []
    for root, _, files in os.walk(data_dir):
        for name in files:
            path = os.path.join(root, name)
            try:
                stat = os.stat(path)
            except OSError:
                continue
            entries.append(f"{path}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()


@st.cache_data(show_spinner=False, ttl=24 * 3600, max_entries=8)
def _datasets(data_dir: str, version: str) -> list[dict[str, Any]]:
    del version  # the cache key: counting loads every split (seconds), so it is done once per change
    return engine.api.datasets(data_dir)


@st.cache_data(show_spinner=False, ttl=300)
def _preview(data_dir: str, task: str, split: str, limit: int, options_json: str) -> list[dict[str, Any]]:
    return engine.api.dataset_preview(task, split, limit, data_dir=data_dir, options=json.loads(options_json))


@st.cache_data(show_spinner=False, ttl=300)
def _mixture(spec_json: str, data_dir: str) -> dict[str, Any]:
    del data_dir  # part of the cache key: the same spec over another data directory differs
    return engine.api.mixture_preview(json.loads(spec_json))


def _found(data_dir: str) -> pd.DataFrame | None:
    st.subheader("Datasets found")
    with st.spinner("Counting the examples of every task…"):
        rows = _datasets(data_dir, fingerprint(data_dir))
    frame = pd.DataFrame(rows)
    if frame.empty:
        st.info("The engine knows no tasks.")
        return None
    for column in SPLITS:
        if column in frame:
            frame[column] = frame[column].astype("Int64")
    st.plotly_chart(figures.dataset_counts(frame), key="data-counts")
    common.table(
        frame[["task", "family", "language", "eval_set", *SPLITS, "problem"]],
        "data-counts",
        file_stem="datasets",
    )
    for row in frame[frame["problem"].astype(bool)].itertuples():
        st.error(f"**{row.task}**: {row.problem}")
    return frame


def _sources(data_dir: str) -> None:
    """Per task, the training data in use (the full sets when fetched, else the public sample) and its
    size against the reference study's."""
    st.subheader("Against the reference study's data")
    rows = engine.api.paper_data_sources(data_dir)
    if not rows:
        return
    frame = pd.DataFrame(rows)
    if "share" in frame:
        frame["share"] = frame["share"].map(lambda s: "–" if s is None or pd.isna(s) else f"{100 * s:.1f}%")
    st.caption("`codetune data fetch codexglue` downloads the full CodeXGLUE sets the paper trained on "
               "(needs network); the loaders use them when present.")
    common.table(frame, "data-sources", file_stem="data-sources")


def _preview_section(data_dir: str, frame: pd.DataFrame) -> None:
    st.subheader("Preview")
    ok = frame[~frame["problem"].astype(bool)]
    if ok.empty:
        st.info("No task can be loaded: fix the problems above first.")
        return
    cols = st.columns([2, 1, 1])
    task = cols[0].selectbox("task", list(ok["task"]), key="data.task")
    split = cols[1].selectbox("split", SPLITS, index=2, key="data.split")
    limit = cols[2].number_input("examples", min_value=1, max_value=50, value=3, step=1, key="data.limit")
    info = common.task_info(task)
    options = {}
    if info.get("options"):
        opt_cols = st.columns(len(info["options"]))
        for col, (name, spec) in zip(opt_cols, info["options"].items(), strict=True):
            values = list(spec["values"])
            options[name] = col.selectbox(
                name.replace("_", " "),
                values,
                index=values.index(spec["default"]),
                key=f"data.opt.{task}.{name}",
            )
    try:
        with st.spinner("Loading examples…"):
            examples = _preview(data_dir, task, split, int(limit), json.dumps(options, sort_keys=True))
    except Exception as exc:  # pylint: disable=broad-exception-caught
        st.error(f"Cannot preview {task}/{split}: {exc}")
        return
    if not examples:
        st.info(f"{task} has no {split} examples.")
        return
    source = common.task_language(task, source=True)
    target = common.task_language(task)
    for example in examples:
        with st.expander(f"{example['id']}", expanded=example is examples[0]):
            st.caption(f"system: {example['system']}")
            st.markdown("**user message (what the model sees)**")
            st.code(example["user"], language=source, wrap_lines=True)
            st.markdown("**target**")
            st.code(example["target"], language=target, wrap_lines=True)
    common.download_buttons(pd.DataFrame(examples), "data-preview", f"{task}-{split}-preview")


def _mixture_section(data_dir: str) -> None:
    st.subheader("Realised mixture of a spec")
    st.caption(
        "How many training examples each task contributes (caps, weights, over-sampling) and how many "
        "evaluation samples each has — before anything runs."
    )
    presets = [p for p in common.presets() if p.get("kind", "run") == "run"]
    sources = ["the spec on the Launch page", *[f"preset: {p['name']}" for p in presets]]
    source = st.selectbox("spec", sources, key="data.mixture_source")
    if source.startswith("preset: "):
        data = common.preset_data(source.removeprefix("preset: "))
    else:
        data = st.session_state.get("launch.run")
        if not data:
            st.caption("Nothing is being edited on the Launch page yet; this uses the form's starting spec.")
            data = default_run()
    if not st.button("Realise the mixture", key="data.mixture_go", type="primary"):
        return
    try:
        with st.spinner("Loading the training sets and drawing the mixture…"):
            mixture = _mixture(json.dumps(data, sort_keys=True, default=str), data_dir)
    except SpecValidationError as exc:
        common.show_spec_errors(exc.errors)
        return
    except Exception as exc:  # pylint: disable=broad-exception-caught
        st.error(f"The mixture could not be realised: {type(exc).__name__}: {exc}")
        return
    show_mixture(mixture)


def render() -> None:
    """Draw the Data page."""
    common.header(
        "Data",
        "The public datasets the tasks read from the data directory: how many examples each "
        "split has, what an example looks like to the model, and the mixture a spec would train on.",
    )
    settings = common.current_settings()
    data_dir = str(settings.data_dir)
    st.caption(f"Data directory: `{data_dir}` (setting CODETUNE_DATA_DIR)")
    if not settings.data_dir.is_dir():
        st.error(
            f"The data directory {data_dir} does not exist. Fix: set CODETUNE_DATA_DIR to the folder "
            "with the datasets (the repository's ../shared/data), or give a spec its own data_dir."
        )
        return
    frame = _found(data_dir)
    if frame is None:
        return
    _sources(data_dir)
    _preview_section(data_dir, frame)
    _mixture_section(data_dir)
