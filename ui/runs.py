"""The Runs page: the queue with live state and progress, one run's live curves, spec, mixture,
error and log, its actions (cancel / resume / delete), and a study's progress over its matrix.

Live state comes from the run directories (engine.api.list_runs / run_detail / read_events: a
worker writes them as it goes); history (durations, sample counts) from the store. The queue and
the selected run refresh themselves every few seconds (st.fragment) while something is active.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import streamlit as st

import engine.api
from engine.vocabulary import (
    ACTIVE_STATES,
    DONE,
    FAILED,
    PHASES,
    RESUMABLE_STATES,
    RUNNING,
    STALLED,
    STATE_STYLES,
    STORED_STATES,
)
from ui import common, figures
from ui.formatting import (
    age,
    curves_waiting,
    duration,
    events_timeline,
    number,
    progress_text,
    run_label,
    state_badge,
    timestamp,
    train_path_text,
)
from ui.launch import show_mixture

REFRESH_S = 2.0
MAX_EVENTS = 50_000
LOG_LINES = (30, 200, 1000)
MISSING = "missing"  # a study member whose run directory is gone (not a run state)


def live_runs(max_age_s: float = 1.0) -> list[dict[str, Any]]:
    """Every run directory's summary (newest first; engine.vocabulary.summarise rows, which carry
    the overall progress).

    Reused for `max_age_s` within a session (one render asks twice: the page and its fragment).
    """
    cached = st.session_state.get("runs.live")
    if cached and time.time() - cached[0] < max_age_s:
        return cached[1]
    rows = sorted(engine.api.list_runs(), key=lambda r: r.get("submitted_at") or 0, reverse=True)
    st.session_state["runs.live"] = (time.time(), rows)
    return rows


def _queue_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    now = time.time()
    return pd.DataFrame(
        [
            {
                "state": state_badge(r.get("state")),
                "run": run_label(r, with_hash=False),
                "phase": "finished" if r.get("state") == DONE else (r.get("phase") or "–"),
                "phase progress": (
                    f"{r['progress_done']}/{r['progress_total']}"
                    if r.get("progress_total") and r.get("state") != DONE
                    else "–"
                ),
                "progress": r["overall"],
                "model": r.get("model"),
                "tasks": ", ".join(t for t in r.get("tasks") or [] if t),
                "attempts": r.get("attempts") or 0,
                "submitted": timestamp(r.get("submitted_at")),
                "last update": age(r.get("updated_at"), now),
                "run_id": r["run_id"],
            }
            for r in rows
        ]
    )


def _queue_section(active_before: bool) -> None:
    rows = live_runs()
    active = [r for r in rows if r.get("state") in ACTIVE_STATES]
    if active_before and not active:
        st.rerun()  # everything finished: a full rerun syncs the store and stops polling
    counts = pd.Series([r.get("state") for r in rows]).value_counts()
    cols = st.columns(len(STORED_STATES))
    for col, state in zip(cols, STORED_STATES, strict=True):
        col.metric(state_badge(state), int(counts.get(state, 0)), help=STATE_STYLES[state].meaning)
    if any(r.get("state") == STALLED for r in rows):
        st.warning(
            "Some runs lost their worker (⚠️ stalled): a worker resumes them from their last phase and "
            "checkpoint — start one in the sidebar if none is alive."
        )
    frame = _queue_table(rows)
    common.table(
        frame,
        "runs-queue",
        file_stem="runs",
        column_config={
            "progress": st.column_config.ProgressColumn(
                "progress",
                help=f"over the {len(PHASES)} phases, weighted by their usual cost: {', '.join(PHASES)}",
                min_value=0.0,
                max_value=1.0,
                format="percent",
            ),
            # Wide enough for the longest words ("✖️ cancelled", "finished"): no cut-off chips.
            "state": st.column_config.TextColumn("state", width=120),
            "phase": st.column_config.TextColumn("phase", width=90),
            "run": st.column_config.TextColumn("run", width="medium"),
            "tasks": st.column_config.TextColumn("tasks", width="medium"),
            "submitted": st.column_config.TextColumn("submitted", width=150),
        },
        download_frame=_history(rows),
    )
    if active:
        st.caption(f"Refreshing every {REFRESH_S:.0f} s while {len(active)} run(s) are queued or running.")


def _history(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The live rows joined with the store's record (durations, sample counts) for download."""
    live = pd.DataFrame(rows).drop(columns=["error"], errors="ignore")
    stored = common.query("runs_overview")
    if stored.empty or live.empty:
        return live
    keep = ["run_id", "model_size", "duration_s", "n_generations", "n_outcomes", "n_findings", "study_ids"]
    return live.merge(stored[[c for c in keep if c in stored]], on="run_id", how="left")


# --- one run ------------------------------------------------------------------------------------


def _events(run_id: str) -> list[dict[str, Any]]:
    """The run's events, read incrementally (only what was appended since the last refresh)."""
    key = f"runs.events.{run_id}"
    cached = st.session_state.get(key) or {"offset": 0, "events": []}
    try:
        new, offset = engine.api.read_events(run_id, cached["offset"])
    except KeyError:
        return []
    if new:
        events = (cached["events"] + new)[-MAX_EVENTS:]
        cached = {"offset": offset, "events": events}
        st.session_state[key] = cached
    return cached["events"]


def _eta(events: list[dict[str, Any]], row: dict[str, Any]) -> str | None:
    done, total = row.get("progress_done"), row.get("progress_total")
    if not done or not total or row.get("state") != RUNNING:
        return None
    starts = [
        e
        for e in events
        if e.get("type") == "phase" and e.get("phase") == row.get("phase") and e.get("status") == "start"
    ]
    if not starts:
        return None
    elapsed = time.time() - float(starts[-1]["t"])
    return duration(elapsed / float(done) * (float(total) - float(done)))


def _detail_section(run_id: str) -> None:
    try:
        detail = engine.api.run_detail(run_id)
    except KeyError:
        st.info("This run no longer exists (deleted?).")
        return
    events = _events(run_id)
    state = detail.get("state")
    st.subheader(run_label(detail))
    st.caption(f"`{run_id}` · model `{detail.get('model')}` · tasks {', '.join(detail.get('tasks') or [])}")
    cols = st.columns(5)
    cols[0].metric("state", state_badge(state))
    cols[1].metric("phase", "finished" if state == DONE else (detail.get("phase") or "–"))
    status = detail.get("status") or {}
    started, finished = status.get("started_at"), status.get("finished_at")
    elapsed = (finished or time.time()) - started if started else None
    cols[2].metric("elapsed", duration(elapsed))
    cols[3].metric("attempts", detail.get("attempts") or 0)
    eta = _eta(events, detail)
    cols[4].metric("phase ETA", eta or "–")
    st.progress(detail["overall"], text=progress_text(detail, events))
    if state == FAILED:
        error = detail.get("error") or status.get("error") or {}
        st.error(
            f"**Failed in phase {error.get('phase', '?')}** — {error.get('type', 'error')}: "
            f"{error.get('message', '(no message)')}"
        )
        if error.get("traceback"):
            with st.expander("traceback"):
                st.code(error["traceback"], language="python")
        st.caption("Fix the cause, then Resume: the run continues from its last finished phase and checkpoint.")
    _actions(run_id, state)
    tabs = st.tabs(["Curves", "Metrics", "Spec", "Mixture", "Log", "Events"])
    with tabs[0]:
        st.plotly_chart(figures.training_curves(events, curves_waiting(detail, events)), key=f"curves-{run_id}")
        gen = figures.generation_progress(events)
        if gen is not None:
            st.plotly_chart(gen, key=f"gen-{run_id}")
    with tabs[1]:
        metrics = (detail.get("metrics") or {}).get("tasks") or {}
        if metrics:
            frame = pd.DataFrame(
                [{"task": t, "metric": m, "value": v} for t, vals in metrics.items() for m, v in vals.items()]
            )
            wide = frame.pivot_table(index="metric", columns="task", values="value", aggfunc="first")
            common.table(
                wide.map(number),
                f"run-metrics-{run_id}",
                file_stem=f"{run_id}-metrics",
                hide_index=False,
                download_frame=frame,
            )
            st.page_link(common.PAGES["compare"], label="Compare it with other runs", icon="➡️")
        else:
            st.info("No metrics yet: they appear after the score phase.")
        from ui import cost  # tokens/s and (on a GPU) MFU of the run (ui/cost.py)

        cost.show_run(run_id)
        summary = detail.get("train_summary")
        if summary:
            st.markdown("**Training summary**")
            st.json(summary, expanded=False)
    with tabs[2]:
        path = train_path_text(events)
        if path:  # how it trained, above the spec it trained from
            st.caption(path)
        st.json(detail.get("spec") or {}, expanded=2)
        st.markdown("**Against the reference study's recipe**")
        try:
            common.show_fidelity(engine.api.run_fidelity(run_id), f"fidelity-{run_id}")
        except (ValueError, KeyError) as exc:  # a spec this version cannot read
            st.warning(f"The fidelity view is not available for this run: {exc}")
    with tabs[3]:
        mixture = detail.get("mixture")
        if mixture:
            show_mixture(mixture)
        else:
            st.info("The mixture is realised in the prepare phase.")
    with tabs[4]:
        _log(run_id)
    with tabs[5]:
        _timeline(run_id, events)


def _log(run_id: str) -> None:
    """The log's tail, newest line at the bottom, shown whole (no inner scroll box to scroll down)."""
    lines = st.columns([1, 5])[0].selectbox(
        "last lines", LOG_LINES, key=f"runs.log_lines.{run_id}", help="the newest line is last"
    )
    log = engine.api.log_tail(run_id, lines=int(lines))
    st.code(log or "(no log output yet)", language=None, wrap_lines=True)
    if log:
        st.caption(f"The last {len(log.splitlines())} line(s) of the log, newest at the bottom.")


def _timeline(run_id: str, events: list[dict[str, Any]]) -> None:
    """The events as a timeline: local times, what happened, its details in words."""
    if not events:
        st.caption("No events yet.")
        return
    every = st.toggle("every training step and generation batch", key=f"runs.every.{run_id}")
    frame = events_timeline(events[-2000:] if every else events, every_step=every)
    if not every:  # a few dozen rows: a static table wraps long details instead of cutting them off
        st.table(frame, hide_index=True)
        st.caption("Oldest first, newest at the bottom; times are local. Consecutive training steps and "
                   "generation batches are collapsed into one row each.")
        common.download_buttons(pd.DataFrame(events).astype(str), f"events-{run_id}", f"{run_id}-events")
        return
    common.table(
        frame,
        f"events-{run_id}",
        file_stem=f"{run_id}-events",
        height=min(36 * (len(frame) + 1) + 3, 36 * 26),  # the whole timeline when it is short
        caption="Oldest first, newest at the bottom; times are local. Consecutive step and batch reports are "
        "collapsed unless shown one by one.",
        download_frame=pd.DataFrame(events).astype(str),
        column_config={
            "time": st.column_config.TextColumn("time", width=80),
            "since start": st.column_config.TextColumn("since start", width=90),
            "event": st.column_config.TextColumn("event", width=170),
            "details": st.column_config.TextColumn("details", width="large"),
        },
    )


def _actions(run_id: str, state: str | None) -> None:
    pending = st.session_state.get("runs.confirm")
    cols = st.columns([1, 1, 1, 5])
    if cols[0].button(
        "Cancel",
        key=f"cancel-{run_id}",
        disabled=state not in ACTIVE_STATES,
        help="stop it (a running run saves a checkpoint first)",
    ):
        st.session_state["runs.confirm"] = ("cancel", run_id)
        pending = ("cancel", run_id)
    if cols[1].button(
        "Resume",
        key=f"resume-{run_id}",
        disabled=state not in RESUMABLE_STATES,
        help="queue it again; it continues from its last phase and checkpoint",
    ):
        outcome = engine.api.resume(run_id)
        common.ensure_worker()
        st.session_state["runs.message"] = f"resume → {outcome}"
        st.session_state.pop("runs.live", None)
    if cols[2].button(
        "Delete",
        key=f"delete-{run_id}",
        disabled=state == RUNNING,
        help="remove the run directory (refused while it runs)",
    ):
        st.session_state["runs.confirm"] = ("delete", run_id)
        pending = ("delete", run_id)
    message = st.session_state.pop("runs.message", None)
    if message:
        st.toast(message)
        st.caption(message)
    if pending and pending[1] == run_id:
        action = pending[0]
        what = (
            "cancel this run"
            if action == "cancel"
            else "delete this run's directory and everything in it (spec, checkpoints, results)"
        )
        st.warning(f"Really {what}? `{run_id}`")
        yes, no, _ = st.columns([1, 1, 5])
        if yes.button(f"Yes, {action}", key=f"confirm-{action}-{run_id}", type="primary"):
            st.session_state.pop("runs.confirm", None)
            try:
                if action == "cancel":
                    st.session_state["runs.message"] = f"cancel → {engine.api.cancel(run_id)}"
                else:
                    engine.api.delete(run_id)
                    st.session_state["runs.message"] = f"deleted {run_id}"
                    st.session_state.pop("runs.selected", None)
            except (RuntimeError, KeyError) as exc:
                st.session_state["runs.message"] = f"{action} refused: {exc}"
            st.session_state.pop("runs.live", None)
            st.rerun(scope="app")
        if no.button("No, keep it", key=f"confirm-no-{run_id}"):
            st.session_state.pop("runs.confirm", None)
            st.session_state.pop("runs.live", None)
            st.rerun(scope="app")


# --- studies ------------------------------------------------------------------------------------


def study_cells(study: dict[str, Any], live: dict[str, dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(grid cells, member rows) of a study: models × configurations with states and progress."""
    members = []
    for member in study.get("runs", []):
        row = live.get(member["run_id"], {})
        members.append(
            {
                "model": str(member.get("model", "?")).rsplit("/", maxsplit=1)[-1],
                "config": member.get("config"),
                "state": row.get("state", MISSING),
                "progress": row.get("overall", 0.0),
                "tasks": ", ".join(row.get("tasks") or []),
                "phase": row.get("phase"),
                "run_id": member["run_id"],
            }
        )
    frame = pd.DataFrame(members, columns=["model", "config", "state", "progress", "tasks", "phase", "run_id"])
    if frame.empty:
        return frame, frame
    cells = []
    for (model, config), part in frame.groupby(["model", "config"], sort=False):
        n_done = int((part["state"] == DONE).sum())
        states = " ".join(sorted({state_badge(s).split(" ")[0] for s in part["state"]}))
        cells.append(
            {
                "model": model,
                "config": config,
                "n_runs": len(part),
                "n_done": n_done,
                "progress": float(part["progress"].mean()),
                "text": f"{n_done}/{len(part)} {states}",
            }
        )
    return pd.DataFrame(cells), frame


def _studies_section(live: dict[str, dict[str, Any]]) -> None:
    studies = engine.api.list_studies()
    if not studies:
        st.caption("No studies yet — launch one on the Launch page (What to launch: study).")
        return
    names = {
        s["study_id"]: f"{s.get('name')} ({len(s.get('runs', []))} runs) · {s['study_id']}"
        for s in sorted(studies, key=lambda s: s.get("submitted_at") or 0, reverse=True)
    }
    chosen = st.selectbox("study", list(names), format_func=names.get, key="runs.study")
    study = next(s for s in studies if s["study_id"] == chosen)
    cells, members = study_cells(study, live)
    if members.empty:
        st.info("This study has no runs.")
        return
    done = int((members["state"] == DONE).sum())
    st.progress(float(members["progress"].mean()), text=f"{done} of {len(members)} runs done")
    st.plotly_chart(figures.study_grid(cells), key=f"grid-{chosen}")
    common.table(
        members.assign(state=members["state"].map(state_badge)),
        f"study-{chosen}",
        file_stem=f"{chosen}-runs",
        column_config={
            "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent"),
            "state": st.column_config.TextColumn("state", width=120),
            "phase": st.column_config.TextColumn("phase", width=90),
        },
    )


def render() -> None:
    """Draw the Runs page."""
    common.header(
        "Runs",
        "The queue, live. Pick a run to watch its loss and throughput, read its log and "
        "spec, or cancel, resume and delete it. The study view shows a whole matrix's progress.",
    )
    rows = live_runs()
    if not rows:
        common.empty_state("No runs yet — launch one on the Launch page.", "launch", "Go to Launch")
        return
    active = any(r.get("state") in ACTIVE_STATES for r in rows)
    st.subheader("Queue")
    st.fragment(_queue_section, run_every=REFRESH_S if active else None)(active)
    st.subheader("Run")
    ids = [r["run_id"] for r in rows]
    # (no state in the label: Streamlit's selectbox keeps showing a selected option's old label)
    labels = {r["run_id"]: run_label(r) for r in rows}
    default = next((r["run_id"] for r in rows if r.get("state") == RUNNING), ids[0])
    if st.session_state.get("runs.selected") not in ids:
        st.session_state["runs.selected"] = default
    selected = st.selectbox("run", ids, format_func=labels.get, key="runs.selected")
    selected_active = next(r for r in rows if r["run_id"] == selected).get("state") in ACTIVE_STATES
    st.fragment(_detail_section, run_every=REFRESH_S if selected_active else None)(selected)
    st.subheader("Studies")
    _studies_section({r["run_id"]: r for r in rows})
