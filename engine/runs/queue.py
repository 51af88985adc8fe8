"""The single-machine queue: submitting runs and studies, claiming, cancelling, resuming, deleting.

Submitting = writing a run directory with status `queued` (engine.runs.rundir). A spec's run id derives
from its hash, so submitting the same spec twice (or two studies sharing a run) queues it once.
Claiming = taking the run's flock; a `running` run whose lock is free lost its worker and is
claimed again, to resume from its last phase and checkpoint.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.data.preflight import DataReport, data_report
from engine.runs.rundir import RunDir, iter_runs, read_json, release_lock, write_json_atomic
from engine.settings import Settings
from engine.spec import RunSpec, SpecError, SpecValidationError, StudySpec, expand_study, spec_or_none
from engine.vocabulary import (
    CANCELLED,
    CLAIMABLE_STATES,
    CORRUPT,
    FAILED,
    QUEUED,
    RESUMABLE_STATES,
    RUNNING,
    TERMINAL_STATES,
    RunStatus,
    summarise,
)


@dataclass(frozen=True)
class Submitted:
    """What submitting a run did: its id, whether it was newly queued and its state."""

    run_id: str
    created: bool  # False: the same spec was already queued or run
    state: str


def preflight(spec: RunSpec, settings: Settings) -> list[SpecError]:
    """Problems that the spec alone cannot show: the data directory, the model's availability and every
    dataset the run reads (engine.data.preflight: unreadable files, refused rows or ids, an empty
    evaluation set, evaluation prompts longer than the model's context)."""
    return preflight_report(spec, settings)[0]


def preflight_report(spec: RunSpec, settings: Settings) -> tuple[list[SpecError], DataReport]:
    """`preflight`'s problems together with the data report they come from (per file and task: rows
    found and rejected, repeated ids, split sizes, prompt lengths), for `validate` and the Launch page."""
    errors = []
    data_dir = Path(spec.data_dir).expanduser() if spec.data_dir else settings.data_dir
    if not data_dir.is_dir():
        errors.append(SpecError("data_dir", str(data_dir), "the data directory does not exist",
                                "set CODETUNE_DATA_DIR or the spec's data_dir to the folder with the datasets"))
    from engine.models.load import ModelNotAvailable, resolve_source  # light: no torch import

    try:
        resolve_source(spec, settings)
    except ModelNotAvailable as exc:
        message, _, fix = str(exc).partition(" Fix: ")
        errors.append(SpecError("model.id", spec.model.id, message.rstrip("."), fix or "check model.id"))
    report = data_report(spec, settings)
    errors.extend(e for e in report.errors if e not in errors)
    return errors, report


def preflight_all(spec: RunSpec | StudySpec, settings: Settings) -> list[SpecError]:
    """`preflight` of a run, or of every run of a study, each problem once."""
    specs = [item.spec for item in expand_study(spec)] if isinstance(spec, StudySpec) else [spec]
    errors: list[SpecError] = []
    for item in specs:
        errors.extend(e for e in preflight(item, settings) if e not in errors)
    return errors


def submit_run(spec: RunSpec, settings: Settings, check: bool = True) -> Submitted:
    """Queue one run (idempotent: the same spec maps to the same run directory)."""
    if check:
        errors = preflight(spec, settings)
        if errors:
            raise SpecValidationError(errors)
    settings.ensure_dirs()
    run = RunDir(settings.runs_dir / spec.run_id())
    if run.spec_path.exists():
        return Submitted(run.run_id, False, run.read_status().state)
    # a staging folder of this call alone: concurrent submits of the same run never share one
    tmp = Path(tempfile.mkdtemp(prefix=f".{run.run_id}.", suffix=".partial", dir=settings.runs_dir))
    try:
        staged = RunDir(tmp)
        write_json_atomic(staged.spec_path, spec.model_dump(mode="json"))
        write_json_atomic(staged.status_path,
                          RunStatus(QUEUED, submitted_at=time.time(), updated_at=time.time()).to_dict())
        staged.append_event("submitted", label=spec.label, spec_hash=spec.spec_hash())
        try:
            # rename(2) of a directory onto a non-empty one fails: exactly one submit creates the run,
            # and a half-written run directory is never visible
            os.rename(tmp, run.path)
        except OSError:
            if not run.spec_path.exists():
                raise
            return Submitted(run.run_id, False, run.read_status().state)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Submitted(run.run_id, True, QUEUED)


def submit_study(study: StudySpec, settings: Settings, check: bool = True) -> dict[str, Any]:
    """Queue every run of a study and record the study (its runs and their configuration labels)."""
    runs = expand_study(study)
    if check:
        errors = preflight_all(study, settings)
        if errors:
            raise SpecValidationError(errors)
    settings.ensure_dirs()
    members = []
    for item in runs:
        result = submit_run(item.spec, settings, check=False)
        members.append({"run_id": result.run_id, "config": item.config, "model": item.model,
                        "created": result.created})
    record = {"study_id": study.study_id(), "name": study.name, "spec": study.model_dump(mode="json"),
              "runs": members, "submitted_at": time.time()}
    folder = settings.studies_dir / record["study_id"]
    folder.mkdir(parents=True, exist_ok=True)
    previous = read_json(folder / "study.json")
    if previous:
        record["submitted_at"] = previous.get("submitted_at", record["submitted_at"])
    write_json_atomic(folder / "study.json", record)
    return record


def list_studies(settings: Settings) -> list[dict[str, Any]]:
    """The recorded studies (study.json files), by folder name."""
    if not settings.studies_dir.is_dir():
        return []
    studies = [read_json(p) for p in sorted(settings.studies_dir.glob("*/study.json"))]
    return [s for s in studies if s]


def find_run(settings: Settings, run_id: str) -> RunDir:
    """The run directory of `run_id` (a unique prefix is enough)."""
    exact = RunDir(settings.runs_dir / run_id)
    if exact.spec_path.exists():
        return exact
    matches = [r for r in iter_runs(settings.runs_dir) if r.run_id.startswith(run_id)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise KeyError(f"no run '{run_id}' under {settings.runs_dir}. Fix: see `codetune status` for run ids")
    raise KeyError(f"'{run_id}' matches {len(matches)} runs; give more of the id")


def run_summary(run: RunDir) -> dict[str, Any]:
    """One row for status tables: what the run is and where it stands (engine.vocabulary.summarise)."""
    spec_data = read_json(run.spec_path, {})
    return summarise(run.run_id, spec_data, spec_or_none(spec_data), run.read_status(),
                     owned=run.is_locked(), heartbeat=run.last_heartbeat())


def list_runs(settings: Settings) -> list[dict[str, Any]]:
    """One summary row per run, oldest submission first."""
    rows = [run_summary(r) for r in iter_runs(settings.runs_dir)]
    rows.sort(key=lambda r: r.get("submitted_at") or 0)
    return rows


def claim_next(settings: Settings) -> tuple[RunDir, int] | None:
    """Lock the oldest queued (or orphaned running) run; returns it with the lock fd."""
    candidates = []
    for run in iter_runs(settings.runs_dir):
        status = run.read_status()
        if status.state in CLAIMABLE_STATES:
            candidates.append((status.submitted_at or 0, run))
    for _, run in sorted(candidates, key=lambda c: c[0]):
        fd = run.try_lock()
        if fd is None:
            continue
        status = run.read_status()  # re-read under the lock: another worker may have finished it
        if status.state not in CLAIMABLE_STATES:
            release_lock(fd)
            continue
        orphaned = status.state == RUNNING
        try:
            run.update_status(state=RUNNING, attempts=status.attempts + 1, claimed_at=time.time())
            run.append_event("claimed", resumed=orphaned, phases_done=status.phases_done)
        except OSError:  # a full disk or a vanished run: leave it as it was for a later claim
            release_lock(fd)
            raise
        return run, fd
    return None


def settle_run(run: RunDir, exit_code: int) -> str:
    """Make the run's final state true to what happened, also when the child died hard."""
    status = run.read_status()
    if status.state in TERMINAL_STATES:
        return status.state
    if run.cancel_requested():
        run.update_status(state=CANCELLED, finished_at=time.time())
        run.append_event("cancelled", phase=status.phase, message="stopped by the worker")
        return CANCELLED
    how = f"killed by signal {-exit_code}" if exit_code < 0 else f"exited with code {exit_code}"
    tail = ""
    with contextlib.suppress(OSError):
        tail = run.log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
    error = {"phase": status.phase, "type": "ProcessDied",
             "message": f"the run process {how} during phase {status.phase} "
                        "(out of memory? see log.txt)", "traceback": tail}
    run.update_status(state=FAILED, finished_at=time.time(), error=error)
    run.append_event("error", **error)
    return FAILED


def cancel_run(settings: Settings, run_id: str) -> str:
    """Request cancellation; a queued run (nobody owns it) is cancelled at once."""
    run = find_run(settings, run_id)
    state = run.read_status().state
    if state not in CLAIMABLE_STATES:
        return state
    run.request_cancel()
    fd = run.try_lock()
    if fd is not None:  # nobody is working on it: cancel it here
        try:
            status = run.update_status(state=CANCELLED, finished_at=time.time())
            run.append_event("cancelled", phase=status.phase, message="cancelled while queued")
        finally:
            release_lock(fd)
        return CANCELLED
    return "cancelling"


def resume_run(settings: Settings, run_id: str) -> str:
    """Queue a failed or cancelled run again; it continues from its last phase and checkpoint."""
    run = find_run(settings, run_id)
    fd = run.try_lock()
    if fd is None:
        return RUNNING
    try:
        state = run.read_status().state
        if state not in RESUMABLE_STATES:
            return state
        run.clear_cancel()
        fresh = {"phases_done": [], "submitted_at": time.time()} if state == CORRUPT else {}
        run.update_status(state=QUEUED, error=None, finished_at=None, **fresh)
        run.append_event("resume_requested", previous=state)
        return QUEUED
    finally:
        release_lock(fd)


def delete_run(settings: Settings, run_id: str) -> None:
    """Remove a run directory (refused while a process owns it)."""
    run = find_run(settings, run_id)
    fd = run.try_lock()
    if fd is None:
        raise RuntimeError(f"run {run.run_id} is running. Fix: cancel it first")
    try:
        trash = run.path.with_name(f".deleted-{run.run_id}-{int(time.time())}")
        run.path.rename(trash)
    finally:
        release_lock(fd)
    shutil.rmtree(trash, ignore_errors=True)
