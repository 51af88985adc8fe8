"""The run-directory protocol: the run directory is the record, the database only indexes it.

    runs/<run_id>/
        spec.json           the validated RunSpec, written before anything starts (never rewritten)
        status.json         state, phase, progress, error; replaced atomically (write + rename)
        events.jsonl        append-only JSON lines: phase changes, training logs, progress, errors
        heartbeat.json      the owning process's pid/host/time, refreshed while it works
        lock                flock()ed by the process that owns the run (released by the kernel on death)
        cancel              present = cancellation requested
        log.txt             stdout/stderr of the run process
        mixture.json        the realised training mixture (counts per task)
        checkpoints/        trainer checkpoints (resume point)
        model/              the final adapter (PEFT) or full model, loadable with the usual libraries
        generations.parquet one row per generated sample            (GENERATIONS_SCHEMA)
        outcomes.parquet    one row per executed sample              (OUTCOMES_SCHEMA)
        scores.parquet      per-sample metric values, long format    (SCORES_SCHEMA)
        findings.parquet    one row per static-analysis finding      (FINDINGS_SCHEMA)
        quality.parquet     per-sample analyser status and measures  (QUALITY_SCHEMA)
        metrics.json        run-level aggregates per task and metric

Only the owner of a run's lock writes status.json, except `submit` (before anyone owns it) and
`resume`/`cancel` on a run nobody owns. Writers of parquet files write to a temporary name and rename.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from engine.vocabulary import Progress, RunStatus

SAMPLE_KEY = [
    ("run_id", pa.string()),
    ("task", pa.string()),
    ("sample_id", pa.string()),
    ("sample_index", pa.int32()),
]

GENERATIONS_SCHEMA = pa.schema(
    [
        *SAMPLE_KEY,
        ("prompt", pa.string()),  # the rendered prompt text the model saw
        ("completion", pa.string()),  # raw decoded completion
        ("prediction", pa.string()),  # post-processed (code block extracted, SUMMARY/DONE stripped)
        ("reference", pa.string()),
        ("prompt_tokens", pa.int32()),
        ("completion_tokens", pa.int32()),
        ("latency_s", pa.float64()),  # wall time of the batch that produced this sample
        ("batch_size", pa.int32()),
        ("finish_reason", pa.string()),  # eos | length | stop
    ]
)

OUTCOMES_SCHEMA = pa.schema(
    [
        *SAMPLE_KEY,
        ("status", pa.string()),  # passed | failed | timeout | error | compile_error | violation
        ("exit_code", pa.int32()),
        ("duration_s", pa.float64()),
        ("stdout_tail", pa.string()),
        ("stderr_tail", pa.string()),
        ("isolation", pa.string()),  # how the sandbox isolated it (e.g. bwrap+netns, or 'reduced')
        ("reason", pa.string()),  # human-readable cause for non-pass outcomes
    ]
)

SCORES_SCHEMA = pa.schema([*SAMPLE_KEY, ("metric", pa.string()), ("value", pa.float64())])

FINDINGS_SCHEMA = pa.schema(
    [
        *SAMPLE_KEY,
        ("tool", pa.string()),
        ("rule_id", pa.string()),
        ("category", pa.string()),
        ("severity", pa.string()),
        ("line", pa.int32()),
        ("message", pa.string()),
    ]
)

QUALITY_SCHEMA = pa.schema(
    [
        *SAMPLE_KEY,
        ("tool", pa.string()),
        ("status", pa.string()),  # ok | failed | skipped
        ("detail", pa.string()),  # why it failed or was skipped
        ("measure", pa.string()),  # e.g. ccn, nloc, pylint_score; null on a status-only row
        ("value", pa.float64()),
    ]
)

ARTIFACT_SCHEMAS: dict[str, pa.Schema] = {
    "generations": GENERATIONS_SCHEMA,
    "outcomes": OUTCOMES_SCHEMA,
    "scores": SCORES_SCHEMA,
    "findings": FINDINGS_SCHEMA,
    "quality": QUALITY_SCHEMA,
}


def now() -> float:
    """Wall-clock time stamp used in every file (seconds since the epoch)."""
    return time.time()


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to `path` so readers see either the old or the new file, never a torn one; a failed
    write (a full disk) leaves the old file and no temporary file behind."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True, default=str)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def read_json_checked(path: Path) -> tuple[Any, str | None]:
    """(data, None), or (None, why) when the file is missing or is not readable JSON."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh), None
    except FileNotFoundError:
        return None, f"{path.name} is missing"
    except UnicodeDecodeError as exc:
        return None, f"{path.name} is not UTF-8 text (byte {exc.start})"
    except json.JSONDecodeError as exc:
        return None, f"{path.name} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
    except OSError as exc:
        return None, f"{path.name} cannot be read ({exc.strerror or exc})"


def read_json(path: Path, default: Any = None) -> Any:
    """Read a JSON file; `default` when it is missing or unreadable (see read_json_checked for why)."""
    data, problem = read_json_checked(path)
    return default if problem else data


def write_table_atomic(path: Path, table: pa.Table) -> None:
    """Write a parquet file atomically (temporary name, then rename); a failed write (a full disk)
    leaves no temporary file behind."""
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@dataclass(frozen=True)
class RunDir:  # pylint: disable=too-many-public-methods  # one small accessor per file of a run directory
    """Paths of one run directory; every accessor is a plain path, nothing is read eagerly."""

    path: Path

    @property
    def run_id(self) -> str:
        """The run id: the directory's name."""
        return self.path.name

    def file(self, name: str) -> Path:
        """Path of a file in the run directory."""
        return self.path / name

    @property
    def spec_path(self) -> Path:
        """Path of the run's spec.json."""
        return self.path / "spec.json"

    @property
    def status_path(self) -> Path:
        """Path of the run's status.json."""
        return self.path / "status.json"

    @property
    def events_path(self) -> Path:
        """Path of the run's events.jsonl."""
        return self.path / "events.jsonl"

    @property
    def log_path(self) -> Path:
        """Path of the run's log.txt."""
        return self.path / "log.txt"

    @property
    def checkpoints_dir(self) -> Path:
        """Folder of the training checkpoints."""
        return self.path / "checkpoints"

    @property
    def model_dir(self) -> Path:
        """Folder of the trained model (or adapter)."""
        return self.path / "model"

    def artifact(self, name: str) -> Path:
        """Path of a parquet artifact by its short name (generations, outcomes, ...)."""
        if name not in ARTIFACT_SCHEMAS:
            raise KeyError(f"unknown artifact {name!r}; known: {sorted(ARTIFACT_SCHEMAS)}")
        return self.path / f"{name}.parquet"

    # --- spec and status -------------------------------------------------------------------
    def read_spec(self) -> dict[str, Any]:
        """The run's spec as saved; FileNotFoundError if it is missing or unreadable."""
        data = read_json(self.spec_path)
        if data is None:
            raise FileNotFoundError(f"{self.spec_path} is missing or unreadable")
        return data

    def read_status(self) -> RunStatus:
        """The run's status (engine.vocabulary.RunStatus): `corrupt`, with the file and why in its error,
        when status.json is missing or unreadable (a submitted run always has one)."""
        data, problem = read_json_checked(self.status_path)
        if problem:
            return RunStatus.corrupt(f"{problem} ({self.status_path})")
        status = RunStatus.from_dict(data)
        if status.error and status.error.get("type") == "CorruptRunFile" and not status.error.get("file"):
            status.error = {**status.error, "message": f"{status.error['message']} ({self.status_path})",
                            "file": str(self.status_path)}
        return status

    def update_status(self, **changes: Any) -> RunStatus:
        """Set fields of the run's status (RunStatus field names) and write it atomically; returns it.

        `progress` may be given as a mapping (phase, done, total) or a Progress.
        """
        status = self.read_status()
        for key, value in changes.items():
            if key == "progress" and isinstance(value, dict):
                value = Progress(value.get("phase"), value.get("done"), value.get("total"))
            if not hasattr(status, key) or key == "extra":
                raise AttributeError(f"status.json has no field '{key}'")
            setattr(status, key, value)
        status.updated_at = now()
        write_json_atomic(self.status_path, status.to_dict())
        return status

    # --- events ----------------------------------------------------------------------------
    def append_event(self, event_type: str, **fields: Any) -> None:
        """Append one event line; a single write() of one line keeps concurrent appends whole."""
        record = {"t": now(), "type": event_type, **fields}
        line = json.dumps(record, default=str, separators=(",", ":")) + "\n"
        with open(self.events_path, "a", encoding="utf-8") as fh:
            fh.write(line)

    def read_events(self, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Events from byte `offset`; returns them and the offset to continue from.

        A partial last line (a writer mid-append) is left for the next call; a line that is not a JSON
        object (torn, not UTF-8, scribbled over) is skipped.
        """
        try:
            with open(self.events_path, "rb") as fh:
                fh.seek(offset)
                blob = fh.read()
        except FileNotFoundError:
            return [], offset
        end = blob.rfind(b"\n") + 1
        events = []
        for raw in blob[:end].splitlines():
            with contextlib.suppress(ValueError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                event = json.loads(raw)
                if isinstance(event, dict):
                    events.append(event)
        return events, offset + end

    # --- ownership -------------------------------------------------------------------------
    def try_lock(self) -> int | None:
        """Take the run's exclusive lock without waiting; the fd, or None if someone holds it.

        The kernel releases the lock when every process holding the fd exits, however it dies,
        which is what lets another worker resume a run whose worker was killed.
        """
        try:
            fd = os.open(self.path / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # the run directory was removed
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def is_locked(self) -> bool:
        """Whether some live process owns the run right now."""
        fd = self.try_lock()
        if fd is None:
            return True
        release_lock(fd)
        return False

    def heartbeat(self, **fields: Any) -> None:
        """Write heartbeat.json: the time, pid, host and `fields` (atomic replace)."""
        write_json_atomic(
            self.path / "heartbeat.json",
            {"t": now(), "pid": os.getpid(), "host": socket.gethostname(), **fields},
        )

    def last_heartbeat(self) -> float | None:
        """Time of the last heartbeat, or None when there is none (or it is unreadable)."""
        data = read_json(self.path / "heartbeat.json")
        stamp = data.get("t") if isinstance(data, dict) else None
        return float(stamp) if isinstance(stamp, (int, float)) and not isinstance(stamp, bool) else None

    # --- cancellation ----------------------------------------------------------------------
    def request_cancel(self) -> None:
        """Ask the run to stop, by writing its cancel marker file."""
        (self.path / "cancel").write_text(str(now()), encoding="utf-8")

    def cancel_requested(self) -> bool:
        """Whether a cancel marker file is present."""
        return (self.path / "cancel").exists()

    def clear_cancel(self) -> None:
        """Remove the cancel marker file, if any."""
        with contextlib.suppress(FileNotFoundError):
            (self.path / "cancel").unlink()


def release_lock(fd: int) -> None:
    """Release and close a lock fd from `RunDir.try_lock`."""
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def iter_runs(runs_dir: Path) -> Iterator[RunDir]:
    """Every run directory under `runs_dir` (those with a spec.json), oldest first by name; staging
    and deleted folders (hidden, '.'-prefixed) are not runs."""
    if not runs_dir.is_dir():
        return
    for child in sorted(runs_dir.iterdir()):
        if not child.name.startswith(".") and child.is_dir() and (child / "spec.json").exists():
            yield RunDir(child)
