"""What is on disk and what the index last saw of it: file fingerprints, the scan of the run and
study folders, the `ingested_files` bookkeeping and the plan of an ingest (what changed, what is gone).

A file's fingerprint is (size, mtime_ns, inode); the index keeps the last one it read per (owner,
file), where the owner is a run id or `study:<folder>`. A file whose fingerprint is unchanged is
not read again; a broken one keeps its error next to its fingerprint, so it is reported again at no
cost and retried as soon as it changes.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from engine.vocabulary import RunStatus
from store import schema
from store.report import IngestProblem

SPEC, STATUS, EVENTS, METRICS = "spec.json", "status.json", "events.jsonl", "metrics.json"
STUDY = "study.json"
RUN_FILES: tuple[str, ...] = (SPEC, STATUS, EVENTS, METRICS, *schema.ARTIFACT_TABLES)
STUDY_PREFIX = "study:"

Fingerprint = tuple[int, int, int]  # size, mtime_ns, inode
RunFiles = dict[str, Fingerprint | None]  # file name -> fingerprint (None: absent)


def fingerprint(path: Path) -> Fingerprint | None:
    """(size, mtime_ns, inode) of a file, or None when it does not exist."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


def run_files(run_dir: Path) -> RunFiles:
    """The fingerprints of every file of a run directory the index reads."""
    return {name: fingerprint(run_dir / name) for name in RUN_FILES}


def scan_runs(runs_dir: Path, only: Iterable[str] | None = None) -> dict[str, RunFiles]:
    """Every run directory under `runs_dir` (or those named in `only`) with its files' fingerprints.

    A folder without spec.json is not a run yet; hidden folders (a submission being staged, a
    deletion in progress) are not runs.
    """
    wanted = set(only) if only is not None else None
    runs: dict[str, RunFiles] = {}
    if not runs_dir.is_dir():
        return runs
    for child in sorted(runs_dir.iterdir()):
        if child.name.startswith(".") or (wanted is not None and child.name not in wanted):
            continue
        if fingerprint(child / SPEC) is not None:
            runs[child.name] = run_files(child)
    return runs


def scan_studies(studies_dir: Path) -> dict[str, Fingerprint]:
    """study folder name → fingerprint of its study.json."""
    out: dict[str, Fingerprint] = {}
    if not studies_dir.is_dir():
        return out
    for child in sorted(studies_dir.iterdir()):
        fp = fingerprint(child / STUDY) if not child.name.startswith(".") else None
        if fp is not None:
            out[child.name] = fp
    return out


def read_json_file(path: Path) -> Any:
    """A JSON file's contents; IngestProblem when it is not valid JSON (OSError when unreadable)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IngestProblem(f"not valid JSON ({exc})") from exc


def submitted_at(run_dir: Path) -> float:
    """When the run was submitted (status.json), +inf when unknown: the order new runs get their keys."""
    try:
        data = read_json_file(run_dir / STATUS)
    except (IngestProblem, OSError):
        return math.inf
    value = RunStatus.from_dict(data).submitted_at
    return value if value is not None and math.isfinite(value) else math.inf


# --- the ingested_files bookkeeping ------------------------------------------------------------------


@dataclass(frozen=True)
class Known:
    """A file as the index last saw it."""

    fp: Fingerprint
    consumed: int
    rows: int
    error: str | None


@dataclass(frozen=True)
class Record:
    """A file's new row in ingested_files."""

    artifact: str
    fp: Fingerprint
    consumed: int = 0
    rows: int = 0
    error: str | None = None


def changed(fp: Fingerprint | None, known: Known | None) -> bool:
    """Whether a file differs from what the index saw (new, gone, or another fingerprint)."""
    if fp is None:
        return known is not None
    return known is None or known.fp != fp


def known_files(conn: duckdb.DuckDBPyConnection, owner: str | None = None) -> dict[str, dict[str, Known]]:
    """owner → file name → what the index last saw (every owner, or just `owner`)."""
    sql = "SELECT owner, artifact, size, mtime_ns, inode, consumed, rows, error FROM ingested_files"
    rows = conn.execute(sql + " WHERE owner = ?", [owner]).fetchall() if owner else conn.execute(sql).fetchall()
    out: dict[str, dict[str, Known]] = {}
    for who, artifact, size, mtime, inode, consumed, count, error in rows:
        out.setdefault(who, {})[artifact] = Known((size, mtime, inode), consumed or 0, count or 0, error)
    return out


def write_records(conn: duckdb.DuckDBPyConnection, owner: str, records: list[Record],
                  forget: Iterable[str] = ()) -> None:
    """Replace the owner's ingested_files rows for these files (two statements, whatever the count)."""
    names = [r.artifact for r in records] + list(forget)
    if names:
        marks = ", ".join("?" * len(names))
        conn.execute(f"DELETE FROM ingested_files WHERE owner = ? AND artifact IN ({marks})", [owner, *names])
    if records:
        now = time.time()
        values = ", ".join("(?, ?, ?, ?, ?, ?, ?, ?, ?)" for _ in records)
        params: list[Any] = []
        for r in records:
            params += [owner, r.artifact, r.fp[0], r.fp[1], r.fp[2], r.consumed, r.rows, now, r.error]
        conn.execute("INSERT INTO ingested_files (owner, artifact, size, mtime_ns, inode, consumed, rows, "
                     f"ingested_at, error) VALUES {values}", params)


# --- the plan of an ingest ---------------------------------------------------------------------------


@dataclass
class Plan:
    """What an ingest has to do: the runs and studies on disk against what the index saw."""

    runs: dict[str, RunFiles]
    studies: dict[str, Fingerprint]
    known: dict[str, dict[str, Known]]
    runs_todo: list[str] = field(default_factory=list)
    runs_gone: list[str] = field(default_factory=list)
    studies_todo: list[str] = field(default_factory=list)
    studies_gone: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Nothing to write."""
        return not (self.runs_todo or self.runs_gone or self.studies_todo or self.studies_gone)

    def standing_problems(self, already: Iterable[str] = ()) -> list[str]:
        """Files still broken since an earlier ingest and unchanged since: reported again, not re-read."""
        out = []
        for owner, files in sorted(self.known.items()):
            for artifact, seen in sorted(files.items()):
                if not seen.error:
                    continue
                if owner.startswith(STUDY_PREFIX):
                    folder = owner[len(STUDY_PREFIX):]
                    still = self.studies.get(folder) == seen.fp
                    what = f"study {folder}"
                else:
                    still = (self.runs.get(owner) or {}).get(artifact) == seen.fp
                    what = f"run {owner}"
                if still:
                    out.append(f"{what}: {artifact} {seen.error}; skipped, retried when it changes")
        reported = set(already)
        return [w for w in out if w not in reported]


def plan(conn: duckdb.DuckDBPyConnection, runs_dir: Path, studies_dir: Path,
         only: list[str] | None = None) -> Plan:
    """Compare the folders with the index (read-only: a sync with nothing to do never writes).

    `only` limits the plan to those runs: no studies, nothing pruned.
    """
    known = known_files(conn)
    # Reference runs (store.reference) have no run directory: they are never pruned as deleted runs.
    db_runs = {r for (r,) in conn.execute("SELECT run_id FROM runs WHERE NOT coalesce(is_reference, false)").fetchall()}
    out = Plan(scan_runs(runs_dir, only), scan_studies(studies_dir) if only is None else {}, known)
    out.runs_todo = [r for r, fps in out.runs.items()
                     if any(changed(fps[n], known.get(r, {}).get(n)) for n in RUN_FILES)]
    # New runs get their run_key in submission order (a study's runs were submitted together), so
    # a study's rows stay close together in every table, after a reindex too.
    out.runs_todo.sort(key=lambda r: (submitted_at(runs_dir / r), r))
    out.studies_todo = [s for s, fp in out.studies.items()
                        if changed(fp, known.get(STUDY_PREFIX + s, {}).get(STUDY))]
    if only is None:
        known_runs = {o for o in known if not o.startswith(STUDY_PREFIX)} | db_runs
        out.runs_gone = sorted(known_runs - set(out.runs))
        out.studies_gone = sorted(o[len(STUDY_PREFIX):] for o in known if o.startswith(STUDY_PREFIX)
                                  and o[len(STUDY_PREFIX):] not in out.studies)
    return out
