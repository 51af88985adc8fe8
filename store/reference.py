"""Reference runs: the reference study's published per-sample results as read-only runs in the store.

`<data dir>/paper_results/` (shared/REFERENCE.md; read where the data directory is configured,
never copied) holds one CSV per (metric family, task, size, configuration); store.reference_files
says how each is read. The ingest (store.ingest, and so `codetune ingest` / `reindex` and the app's
sync) turns them into one run per model the paper trained: per size MT-QLoRA and MT-FFT
(`paper · 0.5B MT-QLoRA`) and single-task QLoRA per task family (`paper · 0.5B ST-QLoRA
(translation)`), and the 3B two-task ablations (`paper · 3B MT-QLoRA (gen+trans)`): 18 runs from
the 179 published files, with

* a `runs` row marked `is_reference` (label `paper ST-QLoRA`, state done, no run directory: never
  queued, resumed or deleted; the pruning of deleted run directories leaves them alone);
* per task, a `generations` row per sample (no text: the package published values, not outputs) so
  the Samples page lists them, `outcomes` from pass@1, `scores` (codebleu, bleu, meteor, rouge_l,
  chrf, bertscore, side), `quality` rows under the paper's own tool names (paper-pylint,
  paper-lizard, paper-pmd, paper-roslyn, paper-sonarcloud, paper-llm-judge) and run-level `metrics`
  (means; pass@1 divided by the paper's n, 190 / 184, counting a missing row as a failure);
* every value again in `reference_values` in its file's row order (the package's R scripts paired
  two files by row, truncated to the shorter), each file in `reference_files` with its
  fingerprint, rows, note and, when skipped, why, and the paper's RQ1-RQ3 recomputed from them
  (engine.scoring.comparison.reference_study, R's conventions; by row as the package and by sample
  id) in `reference_tests`, once per load, so the Compare page only adjusts and shows them.

Idempotent: the folder is fingerprinted file by file; nothing changed → nothing written. Any change
reloads every reference run in one transaction (about 3 s for the 179 files). A malformed CSV is reported by
name with the reason and skipped (the rest loads), and reported again while it stays unchanged; a
configuration missing from a folder is reported too. A folder that disappears takes its runs with
it. `CODETUNE_REFERENCE_RUNS=0` leaves the reference runs out of the store.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from engine.scoring.comparison import reference_study
from engine.vocabulary import DONE, model_short_name, model_size
from store import db, schema
from store.load import run_key
from store.reference_files import (
    CONFIGS,
    EXPECTED_CONFIGS,
    LAYOUT_OF,
    PAPER_DIR,
    PASS_AT_1,
    SIZES,
    SOURCE,
    TASK_ORDER,
    FileValues,
    RunRef,
    family_of,
    parse_name,
    read_file,
)
from store.report import IngestProblem, IngestReport
from store.runs_table import RUN_COLUMNS
from store.scan import Fingerprint, fingerprint

ENV_SWITCH = "CODETUNE_REFERENCE_RUNS"


def enabled() -> bool:
    """Whether the ingest loads the reference runs (CODETUNE_REFERENCE_RUNS=0 turns them off)."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def reference_root(data_dir: Path) -> Path:
    """Where the reference results are read from."""
    return Path(data_dir) / PAPER_DIR


@dataclass
class ReferencePlan:
    """The reference folder against what the store holds (read-only; cheap when nothing changed)."""

    root: Path
    files: dict[str, Fingerprint]  # relative path → fingerprint, every CSV on disk
    known: dict[str, tuple[Fingerprint | None, str | None]]  # relative path → (fingerprint, error)
    loaded: bool  # reference runs are in the store
    standing: list[str] = field(default_factory=list)  # problems to report again (nothing changed)

    @property
    def changed(self) -> bool:
        """Whether the store must be rewritten (files added, changed, removed; runs to drop)."""
        on_record = {f: fp for f, (fp, _) in self.known.items() if fp is not None}
        return on_record != self.files or (not self.files and self.loaded)


def plan(conn: duckdb.DuckDBPyConnection, data_dir: Path, active: bool = True) -> ReferencePlan:
    """Compare `<data_dir>/paper_results` with the store; `active=False` plans their removal."""
    root = reference_root(data_dir)
    files: dict[str, Fingerprint] = {}
    if active and root.is_dir():
        for path in sorted(root.rglob("*.csv")):
            fp = fingerprint(path)
            if fp is not None:
                files[path.relative_to(root).as_posix()] = fp
    known: dict[str, tuple[Fingerprint | None, str | None]] = {}
    for file, size, mtime, inode, error in conn.execute(
            "SELECT file, size, mtime_ns, inode, error FROM reference_files").fetchall():
        known[file] = ((size, mtime, inode) if size is not None else None, error)
    loaded = bool(conn.execute("SELECT count(*) FROM runs WHERE is_reference").fetchall()[0][0])
    out = ReferencePlan(root, files, known, loaded)
    if not out.changed:
        out.standing = [_problem(f, e) for f, (_, e) in sorted(known.items()) if e]
    return out


def _problem(file: str, error: str) -> str:
    return f"reference {PAPER_DIR}/{file}: {error}; skipped"


# --- reading the folder -------------------------------------------------------------------------------


@dataclass
class _Read:
    """Everything read from the folder."""

    files: list[FileValues] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)  # reference_files rows
    problems: list[str] = field(default_factory=list)


def read_all(ref_plan: ReferencePlan) -> _Read:
    """Read every CSV of the plan: good files in `files`, one record per file, problems by name."""
    out = _Read()
    seen: dict[str, set[tuple[str, str]]] = defaultdict(set)  # folder → (size, config key)
    now = time.time()
    for relpath, fp in ref_plan.files.items():
        folder, _, name = relpath.rpartition("/")
        layout = LAYOUT_OF.get(folder)
        run = parse_name(name)
        record = {"file": relpath, "folder": folder, "run_id": None, "task": layout.task if layout else None,
                  "size": fp[0], "mtime_ns": fp[1], "inode": fp[2], "rows": 0,
                  "note": layout.note if layout else None, "error": None, "ingested_at": now}
        try:
            if layout is None:
                raise IngestProblem("is in a folder the package's layout does not have")
            if run is None:
                raise IngestProblem("names no model size and configuration the paper has")
            record["run_id"] = run.for_task(layout.task).run_id
            seen[folder].add((run.size, run.config_key))
            values = read_file(ref_plan.root / relpath, layout, run, relpath)
        except (IngestProblem, OSError) as exc:
            record["error"] = str(exc)
            out.problems.append(_problem(relpath, str(exc)))
        else:
            record["rows"] = len(values.sample_ids)
            out.files.append(values)
        out.records.append(record)
    for folder in sorted({f.rpartition("/")[0] for f in ref_plan.files} & set(LAYOUT_OF)):
        for size in SIZES.values():
            for key in EXPECTED_CONFIGS:
                if (size, key) not in seen[folder]:
                    what = f"{folder}/ (no CSV for {size} {CONFIGS[key].label})"
                    task = LAYOUT_OF[folder].task
                    out.records.append({"file": what, "folder": folder, "task": task,
                                        "run_id": RunRef(size, key).for_task(task).run_id, "size": None,
                                        "mtime_ns": None,
                                        "inode": None, "rows": 0, "note": None, "error": "missing",
                                        "ingested_at": now})
                    out.problems.append(_problem(what, "missing"))
    return out


# --- writing the tables -------------------------------------------------------------------------------


def _insert(conn: duckdb.DuckDBPyConnection, table: str, frame: pa.Table) -> int:
    if frame.num_rows == 0:
        return 0
    names = ", ".join(f'"{c}"' for c in frame.column_names)
    conn.register("_reference_rows", frame)
    try:
        conn.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM _reference_rows")
    finally:
        conn.unregister("_reference_rows")
    return frame.num_rows


def _run_row(run: RunRef, tasks: list[str], files: list[str]) -> dict[str, Any]:
    families = list(run.config.families or dict.fromkeys(family_of(t) for t in tasks))
    size, params = model_size(run.model)
    spec = {"reference": SOURCE, "model": run.model, "size": run.size, "configuration": run.config.label,
            "tasks": tasks, "files": files,
            "note": f"single-task QLoRA: the paper's {run.family} model" if run.family else "one multi-task model"}
    return {"run_id": run.run_id, "name": run.name, "model": run.model, "model_short": model_short_name(run.model),
            "model_size": size, "model_params_b": params, "method": run.config.method, "label": run.label,
            "is_multitask": run.config.multitask, "tasks": tasks, "families": families, "n_tasks": len(tasks),
            "spec_valid": None, "spec_json": json.dumps(spec, sort_keys=True), "state": DONE,
            "phases_done": [], "attempts": 0, "ingested_at": time.time(),
            "is_reference": True, "reference_source": SOURCE}


def _values_frame(item: FileValues, key: int) -> pa.Table:
    """The file's values in long form (reference_values' columns), in row order per measure."""
    n = len(item.sample_ids)
    parts = []
    for measure, values in item.values.items():
        parts.append(pa.table({
            "run_id": pa.array([item.run.run_id] * n, pa.string()), "task": pa.array([item.layout.task] * n),
            "file": pa.array([item.relpath] * n), "tool": pa.array([item.layout.tool] * n, pa.string()),
            "measure": pa.array([measure] * n), "row": pa.array(range(n), pa.int32()),
            "sample_id": pa.array(item.sample_ids, pa.string()), "value": pa.array(values, pa.float64()),
            "run_key": pa.array([key] * n, pa.int32())}))
    return pa.concat_tables(parts)


def _means(item: FileValues) -> list[tuple[str, str, str, float]]:
    """(run_id, task, metric, value) rows of `metrics` from one file: means; pass@1 divided by the
    paper's n (a missing row counts as a failure) and the rows present as `n`."""
    out = []
    for measure, values in item.values.items():
        if item.layout.pass_fail:
            n = item.layout.expected_rows or len(values)
            out += [(item.run.run_id, item.layout.task, PASS_AT_1, sum(values) / max(n, len(values))),
                    (item.run.run_id, item.layout.task, "n", float(len(values)))]
        elif item.layout.tool is None:
            out.append((item.run.run_id, item.layout.task, measure, sum(values) / len(values)))
        else:
            out.append((item.run.run_id, item.layout.task, f"quality:{item.layout.tool}:{measure}",
                        sum(values) / len(values)))
    return out


# Every per-sample table of the reference runs, derived from reference_values (@keys@: their run keys).
_DERIVED = {
    "generations": """
        INSERT INTO generations (run_id, task, sample_id, sample_index, run_key)
        SELECT DISTINCT run_id, task, sample_id, 0, run_key FROM reference_values WHERE run_key IN (@keys@)
        ORDER BY run_key, task, sample_id""",
    "outcomes": f"""
        INSERT INTO outcomes (run_id, task, sample_id, sample_index, status, reason, run_key)
        SELECT run_id, task, sample_id, 0, CASE WHEN value = 1 THEN 'passed' ELSE 'failed' END,
               'the paper''s pass@1 (' || file || ')', run_key
        FROM reference_values WHERE run_key IN (@keys@) AND tool IS NULL AND measure = '{PASS_AT_1}'
        ORDER BY run_key, task, sample_id""",
    "scores": f"""
        INSERT INTO scores (run_id, task, sample_id, sample_index, metric, value, run_key)
        SELECT run_id, task, sample_id, 0, measure, value, run_key
        FROM reference_values WHERE run_key IN (@keys@) AND tool IS NULL AND measure <> '{PASS_AT_1}'
        ORDER BY run_key, task, sample_id""",
    "quality": """
        INSERT INTO quality (run_id, task, sample_id, sample_index, tool, status, detail, measure, value, run_key)
        SELECT run_id, task, sample_id, 0, tool, 'ok', detail, measure, value, run_key FROM (
            SELECT DISTINCT run_id, task, sample_id, tool, 'the paper''s per-sample file ' || file AS detail,
                   NULL AS measure, NULL AS value, run_key
            FROM reference_values WHERE run_key IN (@keys@) AND tool IS NOT NULL
            UNION ALL
            SELECT run_id, task, sample_id, tool, NULL, measure, value, run_key
            FROM reference_values WHERE run_key IN (@keys@) AND tool IS NOT NULL)
        ORDER BY run_key, task, sample_id, tool, measure NULLS FIRST""",
}


def _derive(conn: duckdb.DuckDBPyConnection, keys: list[int], report: IngestReport) -> None:
    """Fill the per-sample tables and their summaries for the reference runs (one statement each)."""
    literal = ", ".join(str(int(k)) for k in keys)  # integers only: safe as literals
    for table, sql in _DERIVED.items():
        count = conn.execute(sql.replace("@keys@", literal)).fetchall()[0][0]
        report.add_rows(table, int(count))
    for name, (source, select) in schema.SUMMARIES.items():
        if source not in _DERIVED:
            continue
        summary, _, part = name.partition("/")
        if part:
            conn.execute(f"DELETE FROM {summary} WHERE run_key IN ({literal}) AND artifact = ?", [part])
        else:
            conn.execute(f"DELETE FROM {summary} WHERE run_key IN ({literal})")
        conn.execute(f"INSERT INTO {summary} {select.replace('run_key = ?', f'run_key IN ({literal})')}")
    conn.execute(f"DELETE FROM gen_summary WHERE run_key IN ({literal})")  # no generated text to summarise


TEST_COLUMNS = ("rq", "question", "size", "task", "metric", "config_a", "config_b", "run_a", "run_b", "n_a", "n_b",
                "n", "ids_agree", "mean_a", "mean_b", "diff", "test", "statistic", "p_value", "effect",
                "effect_label", "note")
_INT_COLUMNS = ("n_a", "n_b", "n", "ids_agree")
_FLOAT_COLUMNS = ("mean_a", "mean_b", "diff", "statistic", "p_value", "effect")


def _tests_frame(files: list[FileValues]) -> pa.Table:
    """The reference study's RQ1-RQ3 recomputed from the files just read (engine.scoring.comparison:
    R's conventions), for both pairings; p-values unadjusted (the pages adjust per chosen family)."""
    series = [{"run_id": f.run.run_id, "size": f.run.size, "config": f.run.config.label, "task": f.layout.task,
               "metric": f"{f.layout.tool}:{measure}" if f.layout.tool else measure,
               "pass_fail": f.layout.pass_fail, "note": f.layout.note or None,
               "sample_ids": f.sample_ids, "values": values}
              for f in files for measure, values in f.values.items()]
    rows = [{**row, "pairing": pairing} for pairing in ("rows", "ids") for row in reference_study(series, pairing)]
    columns = {"pairing": pa.array([r["pairing"] for r in rows], pa.string())}
    for column in TEST_COLUMNS:
        kind = pa.int32() if column in _INT_COLUMNS else pa.float64() if column in _FLOAT_COLUMNS else pa.string()
        columns[column] = pa.array([r[column] for r in rows], kind)
    return pa.table(columns)


def _drop_reference_runs(conn: duckdb.DuckDBPyConnection, keep: set[str]) -> None:
    """Delete every reference run's rows (and the keys of those not in `keep`)."""
    rows = conn.execute("SELECT k.run_id, k.run_key FROM run_keys k JOIN runs r USING (run_id) "
                        "WHERE r.is_reference").fetchall()
    keys = [k for _, k in rows]
    if keys:
        marks = ", ".join("?" * len(keys))
        for table in schema.KEYED_TABLES:
            conn.execute(f"DELETE FROM {table} WHERE run_key IN ({marks})", keys)
    conn.execute("DELETE FROM runs WHERE is_reference")
    gone = [r for r, _ in rows if r not in keep]
    if gone:
        conn.execute(f"DELETE FROM run_keys WHERE run_id IN ({', '.join('?' * len(gone))})", gone)
    conn.execute("DELETE FROM reference_files")
    conn.execute("DELETE FROM reference_tests")


def _files_frame(records: list[dict[str, Any]]) -> pa.Table:
    ints, floats = ("size", "mtime_ns", "inode", "rows"), ("ingested_at",)
    return pa.table({c: pa.array([r[c] for r in records], pa.int64() if c in ints
                                 else pa.float64() if c in floats else pa.string()) for c in records[0]})


def apply(conn: duckdb.DuckDBPyConnection, ref_plan: ReferencePlan, report: IngestReport) -> None:
    """Reload every reference run from the folder, in one transaction; problems go to the report."""
    read = read_all(ref_plan)
    runs: dict[str, list[FileValues]] = defaultdict(list)
    for item in read.files:
        runs[item.run.run_id].append(item)
    columns = [*RUN_COLUMNS, "is_reference", "reference_source"]
    with db.transaction(conn):
        _drop_reference_runs(conn, set(runs))
        keys: dict[str, int] = {}
        frames, means = [], []
        for run_id in sorted(runs):
            files = runs[run_id]
            keys[run_id] = run_key(conn, run_id)
            tasks = sorted({f.layout.task for f in files}, key=TASK_ORDER.index)
            row = _run_row(files[0].run, tasks, sorted(f.relpath for f in files))
            conn.execute(f"INSERT INTO runs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                         [row.get(c) for c in columns])
            frames += [_values_frame(f, keys[run_id]) for f in sorted(files, key=lambda f: f.relpath)]
            means += [m for f in files for m in _means(f)]
        if frames:
            report.add_rows("reference_values", _insert(conn, "reference_values", pa.concat_tables(frames)))
            report.add_rows("metrics", _insert(conn, "metrics", pa.table({
                "run_id": pa.array([m[0] for m in means]), "task": pa.array([m[1] for m in means]),
                "metric": pa.array([m[2] for m in means]), "value": pa.array([m[3] for m in means], pa.float64()),
                "run_key": pa.array([keys[m[0]] for m in means], pa.int32())})))
            _derive(conn, list(keys.values()), report)
            report.add_rows("reference_tests", _insert(conn, "reference_tests", _tests_frame(read.files)))
        if read.records:
            _insert(conn, "reference_files", _files_frame(read.records))
    report.add_rows("runs", len(runs))
    report.reference_runs = sorted(runs)
    report.reference_files = len(read.files)
    report.warnings.extend(read.problems)
