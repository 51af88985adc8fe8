"""Shared plumbing of the pages: settings, the store Reader, sync, cached queries, tables, errors.

* `current_settings()` resolves the workspace from the environment on every call
  (engine.api.current_settings).
* `reader()` is one store.db.Reader per database file, kept in st.cache_resource: it attaches the
  DuckDB file read-only only while a query runs, so the app never holds the file's lock.
* `query(name, **params)` runs a named query of store.queries through the Reader and caches the
  DataFrame in st.cache_data, keyed on the database file's version (size and mtime of the file and
  its WAL): a rerun of a page after nothing changed costs no query at all, and an ingest that
  writes invalidates every cached result at once.
* `sync()` is the cheap "bring the store up to date" each page load performs (store.ingest with
  wait=False: ~50 ms when nothing changed, returns at once when another ingest is running).
* `table()` shows a DataFrame with CSV and Parquet download buttons (every table is downloadable).
* `show_spec_errors()` lists every SpecError with its path, value, message and fix.
* `NAVIGATION` lists the app's pages once (file, title, icon): ui.shell builds st.navigation from
  it, and `PAGES` (name → file) derived from it is what links to a page use.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any, NamedTuple

import pandas as pd
import streamlit as st

import engine.api
from engine.settings import Settings
from engine.spec import SpecError
from engine.vocabulary import DONE, RUNNING, MetricInfo, describe_metric
from store import db, export, ingest, queries
from ui.formatting import run_label, short_hash


class Page(NamedTuple):
    """One page of the app: its file under pages/, its title and its icon in the navigation."""

    path: str
    title: str
    icon: str

    @property
    def name(self) -> str:
        """The page's short name ('compare' for pages/compare.py)."""
        return PurePosixPath(self.path).stem


METRIC_INFOS_KEY = "common.metric_infos"

# The app's pages in navigation order (the first is the default), listed once.
NAVIGATION: tuple[Page, ...] = (
    Page("pages/launch.py", "Launch", ":material/rocket_launch:"),
    Page("pages/runs.py", "Runs", ":material/monitoring:"),
    Page("pages/compare.py", "Compare", ":material/compare_arrows:"),
    Page("pages/quality.py", "Quality", ":material/rule:"),
    Page("pages/samples.py", "Samples", ":material/code:"),
    Page("pages/data.py", "Data", ":material/dataset:"),
)
PAGES: dict[str, str] = {page.name: page.path for page in NAVIGATION}  # name → file, for links


# --- settings and the store -------------------------------------------------------------------


def current_settings() -> Settings:
    """The workspace's settings (from CODETUNE_HOME, CODETUNE_DATA_DIR, ...), resolved now."""
    return engine.api.current_settings()


@st.cache_resource(show_spinner=False, max_entries=8)
def _reader(db_path: str) -> db.Reader:
    return db.Reader(db_path)


def reader(settings: Settings | None = None) -> db.Reader:
    """The process's read-only Reader of the workspace's database."""
    return _reader(str((settings or current_settings()).db_path))


def store_version(settings: Settings | None = None) -> tuple[int, ...]:
    """Changes whenever the database file (or its WAL) is written: the query cache's key."""
    path = (settings or current_settings()).db_path
    out: list[int] = []
    for candidate in (path, path.with_name(path.name + ".wal")):
        try:
            stat = os.stat(candidate)
            out += [stat.st_mtime_ns, stat.st_size]
        except OSError:
            out += [0, 0]
    return tuple(out)


@st.cache_data(show_spinner=False, max_entries=256, ttl=3600)
def _cached_query(db_path: str, version: tuple[int, ...], name: str, params_json: str) -> pd.DataFrame:
    del version  # part of the cache key only
    return queries.run_query(_reader(db_path), name, **json.loads(params_json))


def query(name: str, **params: Any) -> pd.DataFrame:
    """A named store query's DataFrame (cached until the database changes).

    A store that cannot be read stops the page with an error that says why and what to do.
    """
    settings = current_settings()
    key = json.dumps(params, sort_keys=True, default=list)
    try:
        return _cached_query(str(settings.db_path), store_version(settings), name, key)
    except db.StoreBusyError as exc:
        st.warning(f"The store is busy: {exc}")
        st.button("Retry", key=f"retry-{name}")
        st.stop()
    except db.StoreError as exc:
        st.error(f"The store cannot be read: {exc}")
        st.stop()
    raise AssertionError("unreachable")


def sync(settings: Settings | None = None) -> ingest.IngestReport | None:
    """Ingest what changed in the run directories (cheap when nothing did); never raises.

    The outcome is kept in st.session_state['sync'] for the sidebar.
    """
    settings = settings or current_settings()
    started = time.perf_counter()
    try:
        report = ingest.ingest_all(settings, wait=False)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        # a broken store must not take the pages down: the sidebar says what happened
        st.session_state["sync"] = {"t": time.time(), "error": f"{type(exc).__name__}: {exc}"}
        return None
    st.session_state["sync"] = {
        "t": time.time(),
        "error": None,
        "skipped": report.skipped,
        "updated": len(report.runs_updated),
        "pruned": len(report.runs_pruned),
        "runs": report.runs_seen,
        "warnings": list(report.warnings),
        "elapsed_s": time.perf_counter() - started,
    }
    return report


# --- cached engine calls ---------------------------------------------------------------------


@st.cache_data(show_spinner=False, ttl=600)
def catalogue() -> dict[str, Any]:
    """Tasks, metrics and analysers known to the engine (engine.api.catalogue)."""
    return engine.api.catalogue()


def metric_infos() -> dict[str, MetricInfo]:
    """What each registered metric's numbers mean (engine.api.metric_infos), read once per session
    (a session started after a plugin metric was registered sees it)."""
    infos = st.session_state.get(METRIC_INFOS_KEY)
    if infos is None:
        infos = st.session_state[METRIC_INFOS_KEY] = engine.api.metric_infos()
    return infos


def metric_info(name: str) -> MetricInfo:
    """What any metric name a run reports means: group, range, per-sample values, paired test
    (engine.vocabulary.describe_metric over the registered metrics)."""
    return describe_metric(name, metric_infos())


def task_info(name: str) -> dict[str, Any]:
    """The catalogue entry of a task ({} for an unknown / custom one)."""
    return next((t for t in catalogue()["tasks"] if t["name"] == name), {})


def task_language(task: str, source: bool = False) -> str | None:
    """Highlighting language for a task's outputs (or, with source=True, its inputs)."""
    sources = {"trans-java-cs": "java", "trans-cs-java": "csharp", "sum-python": "python", "sum-java": "java"}
    if source:
        return sources.get(task)
    language = task_info(task).get("language")
    return {"text": None, "csharp": "csharp"}.get(language, language) if language else None


@st.cache_data(show_spinner=False, ttl=60)
def presets() -> list[dict[str, Any]]:
    """The shipped presets: name, description, kind (engine.api.presets)."""
    try:
        return engine.api.presets()
    except Exception:  # pylint: disable=broad-exception-caught
        return []


@st.cache_data(show_spinner=False, ttl=60)
def preset_data(name: str) -> dict[str, Any]:
    """A preset's data as written (for the form)."""
    return engine.api.preset_data(name)


# --- page furniture -----------------------------------------------------------------------------


def header(title: str, intro: str) -> None:
    """The page's title and a one-paragraph explanation."""
    st.title(title)
    st.caption(intro)


def empty_state(message: str, page: str | None = None, label: str | None = None) -> None:
    """An info box that says what to do, with a link to the page that does it."""
    st.info(message)
    if page:
        st.page_link(PAGES[page], label=label or f"Go to {page.title()}", icon="➡️")


def table(
    frame: pd.DataFrame,
    key: str,
    *,
    file_stem: str | None = None,
    column_config: Mapping[str, Any] | None = None,
    height: int | str | None = "auto",
    hide_index: bool = True,
    caption: str | None = None,
    download_frame: pd.DataFrame | None = None,
    **kwargs: Any,
) -> Any:
    """st.dataframe plus 'CSV' and 'Parquet' download buttons (of `download_frame` or the shown frame)."""
    event = st.dataframe(
        frame,
        hide_index=hide_index,
        column_config=column_config,
        height=height,
        key=f"df-{key}" if kwargs.get("on_select") else None,
        **kwargs,
    )
    if caption:
        st.caption(caption)
    download_buttons(download_frame if download_frame is not None else frame, key, file_stem or key)
    return event


def _downloadable(frame: pd.DataFrame) -> pd.DataFrame:
    """Lists and dicts as JSON text, so CSV and Parquet both take the frame."""
    out = frame.reset_index() if not isinstance(frame.index, pd.RangeIndex) else frame.copy()
    out.columns = [" / ".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in out.columns]
    for column in out.columns:
        if out[column].dtype == object and out[column].map(lambda v: isinstance(v, (list, dict))).any():
            out[column] = out[column].map(lambda v: json.dumps(v, default=str) if isinstance(v, (list, dict)) else v)
    return out


def _bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    return export.frame_bytes(_downloadable(frame), fmt)


def download_buttons(frame: pd.DataFrame, key: str, file_stem: str) -> None:
    """Two small download buttons; the file is produced only when clicked."""
    formats = (("csv", "CSV", "text/csv"), ("parquet", "Parquet", "application/octet-stream"))
    for column, (fmt, label, mime) in zip(st.columns([1, 1, 6]), formats, strict=False):  # 3rd: spacer
        with column:
            st.download_button(
                f"⬇ {label}",
                data=functools.partial(_bytes, frame, fmt),
                file_name=f"{file_stem}.{fmt}",
                mime=mime,
                key=f"dl-{fmt}-{key}",
                on_click="ignore",
                disabled=frame.empty,
                help=f"download this table as {label}",
            )


def show_spec_errors(errors: Sequence[SpecError], what: str = "the spec") -> None:
    """Every problem at once: path, value, what is wrong and how to fix it."""
    st.error(f"**{len(errors)} problem(s) in {what}** — fix them and validate again. Nothing was queued.")
    for err in errors:
        value = json.dumps(err.value, default=str)
        if len(value) > 80:
            value = value[:77] + "..."
        where = err.path or "(the spec)"
        st.error(f"**{where}** = `{value}`: {err.message}.  \n**Fix:** {err.fix}")


def progress_steps(items: Sequence[Any], label: str, action: Callable[[Any], Any]) -> list[Any]:
    """Call `action` on each item under a progress bar; returns the results."""
    progress_bar = st.progress(0.0, text=label)
    out = []
    for i, item in enumerate(items):
        out.append(action(item))
        progress_bar.progress((i + 1) / max(len(items), 1), text=f"{label} ({i + 1}/{len(items)})")
    progress_bar.empty()
    return out


def run_names(overview: pd.DataFrame) -> dict[str, str]:
    """run_id → a short unique display name ('0.5B MT-QLoRA', '#hash' added where names repeat)."""
    names = {r["run_id"]: run_label(r, with_hash=False) for r in overview.to_dict("records")}
    counts: dict[str, int] = {}
    for name in names.values():
        counts[name] = counts.get(name, 0) + 1
    return {rid: (f"{name} #{short_hash(rid)}" if counts[name] > 1 else name) for rid, name in names.items()}


def run_picker(
    key: str, default_n: int = 4, help_text: str | None = None, max_selections: int | None = None
) -> tuple[list[str], dict[str, str]]:
    """Choose finished runs (the most recent `default_n` preselected); returns (run ids, names)."""
    overview = query("runs_overview", states=[DONE])
    if overview.empty:
        return [], {}
    names = run_names(overview)
    ids = list(overview["run_id"])
    labels = {r["run_id"]: run_label(r) for r in overview.to_dict("records")}
    default = ids[-default_n:]
    chosen = st.multiselect(
        "runs",
        ids,
        default=default,
        format_func=labels.get,
        key=key,
        help=help_text or "finished runs; the most recent are preselected",
        max_selections=max_selections,
    )
    return list(chosen), names


def worker_status(settings: Settings | None = None) -> dict[str, Any]:
    """Whether a worker is alive: a registered one, or a run whose process holds its lock.

    (engine.api.workers() alone misses a worker that is busy with a run longer than the registry's
    30-second staleness window: the worker refreshes its registry entry only between runs.)
    """
    settings = settings or current_settings()
    alive = engine.api.workers(settings)
    if alive:
        info = alive[0]
        return {"alive": True, "pid": info.get("pid"), "run": info.get("run")}
    running = [r for r in engine.api.list_runs(settings) if r.get("state") == RUNNING]
    if running:
        return {"alive": True, "pid": None, "run": running[0]["run_id"]}
    return {"alive": False, "pid": None, "run": None}


def ensure_worker(settings: Settings | None = None) -> dict[str, Any]:
    """engine.api.ensure_worker, unless a worker is visibly busy with a run (then nothing is started,
    so two runs never compete for the CPUs)."""
    status = worker_status(settings)
    if status["alive"]:
        return {"started": False, "pid": status["pid"], "run": status["run"]}
    return engine.api.ensure_worker(settings)


def show_fidelity(differences: list[dict[str, Any]], key: str) -> None:
    """A spec's differences from the reference study's recipe (engine.api.fidelity): field, the
    paper's value, this value and what it is known to change; those forced by the data or harness
    available here are listed apart."""
    if not differences:
        st.success("Matches the reference study's recipe in every setting we track.")
        return
    frame = pd.DataFrame([{"field": d.get("field"), "paper": str(d.get("paper")), "this": str(d.get("this")),
                           "what it changes": d.get("effect"),
                           "why": "necessary here" if d.get("necessary") else "chosen"} for d in differences])
    chosen = int((frame["why"] == "chosen").sum())
    st.caption(f"{len(frame)} difference(s) from the reference recipe: {chosen} chosen, "
               f"{len(frame) - chosen} necessary here (data or harness not available).")
    table(frame.sort_values("why"), key, file_stem="fidelity")
