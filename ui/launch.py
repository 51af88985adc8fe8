"""The Launch page: a single run or a study, from a preset or from scratch, validated in full, queued.

State (st.session_state, per browser session):
    launch.kind         'single run' | 'study' (a study on first open: the quick-compare preset)
    launch.editor       'Form' | 'YAML (advanced)'
    launch.preset.run / launch.preset.study   the preset box of each kind: choosing a preset applies it
                        to the form at once, so the form always starts from the preset shown
                        (BLANK: the starting specs of ui.spec_defaults)
    launch.ver          bumps when a preset or YAML is loaded (form widgets start again from the data)
    launch.run / launch.study   the spec data the form holds (updated on every render)
    launch.yaml.run / launch.yaml.study   the YAML editors' text
    launch.result       the last validation / submission, shown until the spec changes
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

import engine.api
from engine.spec import SpecError, SpecValidationError
from ui import common, figures, spec_form
from ui.spec_defaults import default_run, default_study
from ui.spec_yaml import from_yaml, normalise, to_yaml

KINDS = ("single run", "study")
EDITORS = ("Form", "YAML (advanced)")
BLANK = "(blank form)"
# What a first visit shows: one click on Submit queues a comparison that finishes in minutes on a CPU.
FIRST_KIND = "study"
FIRST_PRESETS = {"study": "quick-compare", "single run": "demo-run"}


def _preset_key(kind: str) -> str:
    return "launch.preset.study" if kind == "study" else "launch.preset.run"


def _preset_names(kind: str) -> dict[str, str]:
    """The presets of this kind: name → description."""
    wanted = "study" if kind == "study" else "run"
    return {p["name"]: p.get("description") or "" for p in common.presets() if p.get("kind", "run") == wanted}


def _preset_spec(kind: str, name: str) -> dict[str, Any]:
    """The spec a preset box entry stands for (BLANK: the kind's starting spec)."""
    if name == BLANK:
        return default_study() if kind == "study" else default_run()
    return common.preset_data(name)


def _state_key(kind: str) -> str:
    return "launch.run" if kind == "single run" else "launch.study"


def _yaml_key(kind: str) -> str:
    return "launch.yaml.run" if kind == "single run" else "launch.yaml.study"


def _init() -> None:
    """First visit: each kind's form holds the preset its box shows (quick-compare for a study)."""
    state = st.session_state
    state.setdefault("launch.kind", FIRST_KIND)
    state.setdefault("launch.editor", EDITORS[0])
    state.setdefault("launch.ver", 0)
    for kind in KINDS:
        if _preset_key(kind) not in state:
            first = FIRST_PRESETS[kind]
            state[_preset_key(kind)] = first if first in _preset_names(kind) else BLANK
        if _state_key(kind) not in state:
            try:
                data = _preset_spec(kind, state[_preset_key(kind)])
            except Exception:  # pylint: disable=broad-exception-caught  # an unreadable preset: start blank
                state[_preset_key(kind)] = BLANK
                data = _preset_spec(kind, BLANK)
            state[_state_key(kind)] = normalise(data)
        state.setdefault(_yaml_key(kind), to_yaml(state[_state_key(kind)]))


def _load(kind: str, data: dict[str, Any]) -> None:
    """Put `data` into the form and the YAML editor (widgets start again from it)."""
    st.session_state[_state_key(kind)] = normalise(data)
    st.session_state[_yaml_key(kind)] = to_yaml(data)
    st.session_state["launch.ver"] += 1
    st.session_state.pop("launch.result", None)


def _on_editor_change() -> None:
    """Switching editors carries the spec across: form → YAML text, YAML → form widgets."""
    state = st.session_state
    kind = state["launch.kind"]
    if state["launch.editor"] == EDITORS[1]:
        state[_yaml_key(kind)] = to_yaml(state[_state_key(kind)])
        return
    data, problem = from_yaml(state.get(_yaml_key(kind), ""))
    if problem:
        state["launch.editor"] = EDITORS[1]
        state["launch.yaml_problem"] = problem
        return
    assert data is not None
    _load(kind, data)


def _on_kind_change() -> None:
    st.session_state.pop("launch.result", None)


def _apply_preset(kind: str) -> None:
    """Put the preset chosen in the kind's box into its form and YAML editor."""
    name = st.session_state.get(_preset_key(kind)) or BLANK
    try:
        data = _preset_spec(kind, name)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        st.session_state["launch.yaml_problem"] = f"preset {name!r} cannot be read: {exc}"
        return
    _load(kind, data)


def _preset_picker() -> None:
    """The preset box of the current kind: choosing an entry applies it (no separate click)."""
    kind = st.session_state["launch.kind"]
    descriptions = _preset_names(kind)
    options = [*descriptions, BLANK]
    key = _preset_key(kind)
    if st.session_state.get(key) not in options:  # a preset file went away: show what the form holds
        st.session_state[key] = BLANK
    cols = st.columns([5, 1], vertical_alignment="bottom")
    with cols[0]:
        st.selectbox(
            "preset",
            options,
            key=key,
            on_change=_apply_preset,
            args=(kind,),
            format_func=lambda n: f"{n} — {descriptions[n]}" if descriptions.get(n) else n,
            help="shipped specs (presets/*.yaml): choosing one fills the form with it (the paper's study and "
            "runs, the CPU demos); edit the form afterwards as you like",
        )
    with cols[1]:
        st.button(
            "Reset to preset",
            key="launch.reset_preset",
            on_click=_apply_preset,
            args=(kind,),
            help="discard your edits: the form holds the chosen preset again",
            width="stretch",
        )


def _current_data(kind: str, catalogue: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """Draw the chosen editor and return the spec data it holds (or why it cannot be read)."""
    state = st.session_state
    ver = state["launch.ver"]
    if state["launch.editor"] == EDITORS[1]:
        st.caption(
            "The whole spec as YAML: every field the form has, plus anything the form cannot show. "
            "Validate or submit use this text directly; switching back to the form loads it there."
        )
        text = st.text_area("spec (YAML)", key=_yaml_key(kind), height=460)
        data, problem = from_yaml(text)
        if data is not None:
            state[_state_key(kind)] = data
        return data, problem
    if kind == "single run":
        data, resets = spec_form.run_form(state["launch.run"], f"run{ver}", catalogue)
    else:
        data, resets = spec_form.study_form(state["launch.study"], f"study{ver}", catalogue)
    if resets.items:
        st.warning(
            "These values could not be shown in the form (wrong type) and were reset to their "
            "defaults: " + "; ".join(resets.items) + ". Use the YAML editor to see the original."
        )
    state[_state_key(kind)] = data
    with st.expander("This spec as YAML (read-only here; switch the editor to YAML to edit)"):
        st.code(to_yaml(data), language="yaml")
    return data, None


def _validate(data: dict[str, Any]) -> dict[str, Any]:
    with st.spinner("Validating the spec, the model and every dataset it names…"):
        report = engine.api.data_report(data)
    errors = report["errors"]
    result: dict[str, Any] = {
        "action": "validate",
        "errors": errors,
        "runs": [],
        "mixture": None,
        "mixture_error": None,
        "data_report": report,
    }
    if errors or not report["ok"]:
        return result
    result["runs"] = engine.api.expand(data)
    result["fidelity"] = engine.api.fidelity(data)
    try:
        with st.spinner("Planning the schedule of every run (counts the optimiser steps)…"):
            plan = engine.api.plan_details(data)
        result["schedules"] = [{"run": r.get("run_id"), "schedule": r.get("schedule"),
                                "warnings": "; ".join(r.get("warnings") or [])} for r in plan.get("runs", [])]
    except Exception as exc:  # pylint: disable=broad-exception-caught  # shown, never fatal to validation
        result["schedules_error"] = f"{type(exc).__name__}: {exc}"
    if data.get("kind", "run") == "run":
        try:
            with st.spinner("Realising the training mixture (loads the datasets)…"):
                result["mixture"] = engine.api.mixture_preview(data)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            result["mixture_error"] = f"{type(exc).__name__}: {exc}"
    return result


def _submit(data: dict[str, Any]) -> dict[str, Any]:
    try:
        with st.spinner("Validating and queuing…"):
            record = engine.api.submit(data)
    except SpecValidationError as exc:
        return {"action": "submit", "errors": exc.errors}
    with st.spinner("Making sure a worker is running…"):
        try:
            worker = common.ensure_worker()
        except Exception as exc:  # pylint: disable=broad-exception-caught
            worker = {"error": f"{type(exc).__name__}: {exc}"}
    return {"action": "submit", "errors": [], "record": record, "worker": worker}


def show_data_report(report: dict[str, Any]) -> None:
    """The data preflight (engine.api.data_report): per task its split sizes, what is evaluated and
    the longest prompt against the model's context; per custom file its rows kept and rejected (by
    reason, first lines) and repeated ids; warnings."""
    for group in report.get("reports") or []:
        runs = group.get("runs") or []
        st.markdown(f"**Data for {len(runs)} run(s)** · model `{group.get('model')}` · "
                    f"context {group.get('context') or 'unknown'} tokens")
        notes = [n for n in (group.get("context_note"), group.get("token_note")) if n]
        if notes:
            st.caption(" ".join(notes))
        tasks = group.get("tasks") or []
        rows = [{"task": t["task"], "kind": t.get("kind"), "eval set": t.get("eval_set"),
                 **{split: (t.get("splits") or {}).get(split) for split in ("train", "valid", "test")},
                 "evaluated": t.get("evaluated"), "longest prompt (tokens)": t.get("longest_prompt_tokens"),
                 "too long": sum((t.get("too_long") or {}).values())} for t in tasks]
        if rows:
            common.table(pd.DataFrame(rows), f"launch-data-{runs[0]['run_id'] if runs else 'x'}",
                         file_stem="data-preflight")
        for task in tasks:
            for file in task.get("files") or []:
                dup = file.get("duplicate_ids") or {}
                st.caption(f"{task['task']} · {file.get('role')} `{file.get('path')}` ({file.get('format')}): "
                           f"{file.get('rows')} {file.get('unit') or 'rows'} found, {file.get('kept')} kept, "
                           f"{file.get('rejected')} rejected"
                           + (f", {dup.get('ids')} repeated id(s)" + (" numbered" if dup.get("numbered") else "")
                              if dup.get("ids") else ""))
                for reason, info in (file.get("rejected_by_reason") or {}).items():
                    first = ", ".join(map(str, info.get("first") or []))
                    st.caption(f"  – {reason}: {info.get('count')} (first at {first})")
            for warning in task.get("warnings") or []:
                st.warning(f"{task['task']}: {warning}")


def _show_result(result: dict[str, Any]) -> None:
    errors: list[SpecError] = result.get("errors") or []
    if errors:
        common.show_spec_errors(errors)
        if result.get("data_report"):
            show_data_report(result["data_report"])
        return
    if result["action"] == "validate":
        runs = result.get("runs") or []
        st.success(f"Valid — {len(runs)} run(s) would be queued. Submit to queue them.")
        if result.get("data_report"):
            show_data_report(result["data_report"])
        if result.get("schedules"):
            st.markdown("**Schedule of each run** (warm-up and evaluation cadence in optimiser steps)")
            common.table(pd.DataFrame(result["schedules"]), "launch-schedules", file_stem="schedules")
        elif result.get("schedules_error"):
            st.warning(f"The schedule could not be planned: {result['schedules_error']}")
        if "fidelity" in result:
            with st.expander("Against the reference study's recipe (fidelity)", expanded=False):
                common.show_fidelity(result["fidelity"], "launch-fidelity")
        if runs:
            frame = pd.DataFrame(runs)
            if "tasks" in frame:
                frame["tasks"] = frame["tasks"].map(", ".join)
            st.markdown("**Runs this spec expands to**")
            common.table(frame, "launch-expanded", file_stem="expanded-runs")
        mixture = result.get("mixture")
        if mixture:
            show_mixture(mixture)
        elif result.get("mixture_error"):
            st.warning(f"The mixture could not be realised: {result['mixture_error']}")
        return
    record = result["record"]
    runs = record.get("runs", [])
    new = [r for r in runs if r.get("created", True)]
    st.success(
        f"Queued {len(new)} new run(s)"
        + (f" ({len(runs) - len(new)} already existed)" if len(new) < len(runs) else "")
        + (f" in study **{record['study_id']}**" if record.get("study_id") else "")
        + "."
    )
    st.markdown(
        "\n".join(
            f"- `{r['run_id']}` — {r.get('config', '')}"
            f"{'' if r.get('created', True) else ' (already queued or run: not re-queued)'}"
            for r in runs
        )
    )
    worker = result.get("worker") or {}
    if worker.get("error"):
        st.error(f"Could not start a worker: {worker['error']}. Start one with `codetune worker`.")
    elif worker.get("started"):
        st.info(f"Started a background worker (pid {worker.get('pid')}); it runs the queue one run at a time.")
    else:
        st.info(f"A worker is already running (pid {worker.get('pid')}); it will pick these up.")
    st.page_link(common.PAGES["runs"], label="Watch them on the Runs page", icon="➡️")


def show_mixture(mixture: dict[str, Any]) -> None:
    """The realised mixture of a run: examples per task, over-sampling, evaluation sizes."""
    st.markdown("**Realised training mixture**")
    shares = pd.DataFrame(mixture.get("shares") or [])
    if not shares.empty:
        st.plotly_chart(figures.mixture_shares(shares), key=f"mix-{id(mixture)}")
        common.table(shares, "mixture", file_stem="mixture")
    cols = st.columns(3)
    cols[0].metric("training examples", f"{mixture.get('train_total', 0):,}")
    cols[1].metric("validation examples", f"{mixture.get('valid_total', 0):,}")
    cols[2].metric("evaluation samples", f"{sum((mixture.get('evaluation') or {}).values()):,}")
    evaluation = mixture.get("evaluation") or {}
    if evaluation:
        st.caption(
            "Evaluation: "
            + ", ".join(
                f"{task} {n} ({(mixture.get('eval_sets') or {}).get(task, '?')})" for task, n in evaluation.items()
            )
            + "; dropped as overlapping the evaluation: "
            + ", ".join(f"{task} {n}" for task, n in (mixture.get("decontaminated") or {}).items())
        )


def _summary(data: dict[str, Any] | None) -> None:
    """One line on what the spec is (ST or MT, how many runs), cheap: no data or model checks."""
    if data is None:
        return
    try:
        runs = engine.api.expand(data)
    except SpecValidationError as exc:
        st.caption(f"Not valid yet ({len(exc.errors)} problem(s)): Validate lists them all.")
        return
    except Exception:  # pylint: disable=broad-exception-caught
        return
    if data.get("kind") == "study":
        configs = sorted({r.get("config", "") for r in runs})
        st.caption(f"This study expands to **{len(runs)} run(s)**: {', '.join(configs)}.")
    elif runs:
        run = runs[0]
        st.caption(f"This is a **{run['config']}** run over {len(run['tasks'])} task(s) · run id `{run['run_id']}`.")


def render() -> None:
    """Draw the Launch page."""
    _init()
    common.header(
        "Launch",
        "Fine-tune a code model on one task (single-task) or several (multi-task) — or launch "
        "a whole study (models × configurations) at once. Everything is validated in full before "
        "anything is queued; a background worker then runs the queue.",
    )
    catalogue = common.catalogue()
    cols = st.columns(2)
    with cols[0]:
        st.radio(
            "What to launch",
            KINDS,
            key="launch.kind",
            horizontal=True,
            on_change=_on_kind_change,
            help="a study expands to one run per model × configuration (+ a zero-shot baseline)",
        )
    with cols[1]:
        st.radio(
            "Edit with",
            EDITORS,
            key="launch.editor",
            horizontal=True,
            on_change=_on_editor_change,
            help="the YAML editor round-trips the same data as the form",
        )
    _preset_picker()
    problem = st.session_state.pop("launch.yaml_problem", None)
    if problem:
        st.error(problem)
    kind = st.session_state["launch.kind"]
    data, problem = _current_data(kind, catalogue)
    st.divider()
    _summary(data)
    buttons = st.columns([1, 1, 4])
    validate = buttons[0].button("Validate", key="launch.validate", help="check everything; queues nothing")
    submit = buttons[1].button(
        "Submit",
        key="launch.submit",
        type="primary",
        help="validate, queue the run(s) and start a worker if none is alive",
    )
    if (validate or submit) and problem:
        st.error(problem)
        st.session_state.pop("launch.result", None)
        return
    if validate and data is not None:
        st.session_state["launch.result"] = {**_validate(data), "data": data}
    elif submit and data is not None:
        st.session_state["launch.result"] = {**_submit(data), "data": data}
    result = st.session_state.get("launch.result")
    if result and result.get("data") == data:  # an older result for another spec is not shown
        _show_result(result)
