"""Studies in the index: a study folder's study.json into the `studies` and `study_runs` tables.

A study's runs are listed in the study's order whether or not they have been ingested (or even
created) yet; the queries join them to `runs` by run id.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from store import db
from store.report import IngestProblem, IngestReport
from store.runs_table import finite
from store.scan import STUDY, STUDY_PREFIX, Fingerprint, Record, read_json_file, write_records


def ingest_study(conn: duckdb.DuckDBPyConnection, folder: Path, fp: Fingerprint, report: IngestReport) -> None:
    """Replace the study's rows with its study.json (a broken file is recorded and reported)."""
    owner = STUDY_PREFIX + folder.name
    try:
        data = read_json_file(folder / STUDY)
        if not isinstance(data, dict) or not isinstance(data.get("runs", []), list):
            raise IngestProblem("is not a study record (an object with a 'runs' list)")
    except (IngestProblem, OSError) as exc:
        report.warnings.append(f"study {folder.name}: {STUDY} {exc}; skipped, retried when it changes")
        with db.transaction(conn):
            write_records(conn, owner, [Record(STUDY, fp, error=str(exc))])
        return
    study_id = str(data.get("study_id") or folder.name)
    spec = data.get("spec") if isinstance(data.get("spec"), dict) else {}
    members = [m for m in data.get("runs", []) if isinstance(m, dict) and m.get("run_id")]
    with db.transaction(conn):
        delete_study(conn, folder.name)
        delete_study(conn, study_id)
        conn.execute(
            "INSERT INTO studies (study_id, name, description, submitted_at, spec_json) "
            "VALUES (?, ?, ?, ?, ?)",
            [study_id, data.get("name") or spec.get("name"), spec.get("description"),
             finite(data.get("submitted_at")), json.dumps(spec, sort_keys=True)],
        )
        for position, member in enumerate(members):
            conn.execute(
                "INSERT INTO study_runs (study_id, position, run_id, config, model, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [study_id, position, str(member["run_id"]), member.get("config"), member.get("model"),
                 bool(member.get("created")) if member.get("created") is not None else None],
            )
        write_records(conn, owner, [Record(STUDY, fp, rows=len(members))])
    report.studies_updated.append(study_id)
    report.files_ingested += 1
    report.add_rows("study_runs", len(members))


def delete_study(conn: duckdb.DuckDBPyConnection, study_id: str) -> None:
    """Remove a study's rows (the engine names a study's folder by its id)."""
    conn.execute("DELETE FROM study_runs WHERE study_id = ?", [study_id])
    conn.execute("DELETE FROM studies WHERE study_id = ?", [study_id])
