"""The sidebar every page shares: where the workspace and data are, the worker, and the store sync.

Each page load syncs the store first (store.ingest with wait=False: cheap when nothing changed,
skipped while another ingest runs), so the pages below always read an up-to-date index.
"""

from __future__ import annotations

import time

import streamlit as st

from ui import common
from ui.formatting import age


def _start_worker() -> None:
    try:
        result = common.ensure_worker()
    except Exception as exc:  # pylint: disable=broad-exception-caught
        st.session_state["sidebar.worker_msg"] = f"❌ could not start a worker: {exc}"
        return
    st.session_state["sidebar.worker_msg"] = (
        f"started worker (pid {result.get('pid')})"
        if result.get("started")
        else f"a worker is already alive (pid {result.get('pid')})"
    )


def _sync_now() -> None:
    common.sync()
    st.session_state["sidebar.synced_by_hand"] = True


def render() -> None:
    """Sync the store (cheap) and draw the sidebar."""
    settings = common.current_settings()
    if not st.session_state.pop("sidebar.synced_by_hand", False):
        with st.spinner("Syncing the store with the run directories…", show_time=True):
            common.sync(settings)
    with st.sidebar:
        st.markdown("### 🧪 CodeTune Studio")
        st.caption("Single-task vs multi-task fine-tuning of code models, with evidence.")
        st.markdown(f"**Workspace**  \n`{settings.home}`")
        data_ok = settings.data_dir.is_dir()
        st.markdown(f"**Data directory** {'✅' if data_ok else '❌'}  \n`{settings.data_dir}`")
        if not data_ok:
            st.caption("Not found: set CODETUNE_DATA_DIR to the folder with the datasets (see the Data page).")
        try:
            worker = common.worker_status(settings)
        except OSError as exc:
            worker = {"alive": False}
            st.caption(f"cannot read the worker registry: {exc}")
        alive = worker["alive"]
        if alive:
            doing = f", running `{worker['run']}`" if worker.get("run") else ", idle"
            pid = f"pid {worker['pid']}" if worker.get("pid") else "busy"
            st.markdown(f"**Worker** 🟢 alive ({pid}{doing})")
        else:
            st.markdown("**Worker** ⚪ none running")
            st.caption("Queued runs wait until a worker runs. Submitting from Launch starts one.")
        st.button(
            "Start worker",
            key="sidebar.start_worker",
            on_click=_start_worker,
            disabled=bool(alive),
            help="start `codetune worker` as a background process (one run at a time)",
        )
        message = st.session_state.pop("sidebar.worker_msg", None)
        if message:
            st.caption(message)
        st.divider()
        _sync_status()
        st.button(
            "Sync now",
            key="sidebar.sync",
            on_click=_sync_now,
            help="ingest what changed in the run directories into the store (also done on every page load)",
        )


def _sync_status() -> None:
    info = st.session_state.get("sync")
    if not info:
        st.caption("Store not synced yet.")
        return
    if info.get("error"):
        st.error(f"Sync failed: {info['error']}. Fix: `codetune reindex` rebuilds the store from the runs.")
        return
    if info.get("skipped"):
        st.caption(f"Store sync skipped ({info['skipped']}); the next page load retries.")
        return
    st.caption(
        f"**Store** synced {age(info['t'], time.time())}: {info['runs']} run(s), "
        f"{info['updated']} updated, {info['pruned']} removed ({info['elapsed_s'] * 1000:.0f} ms)."
    )
    warnings = info.get("warnings") or []
    if warnings:
        with st.expander(f"⚠️ {len(warnings)} file(s) could not be ingested"):
            for warning in warnings:
                st.caption(warning)
