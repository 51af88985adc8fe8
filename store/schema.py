"""The store's DuckDB schema and its versioned migrations.

The database is an index of the run directories (which are the record), so a migration may always
be replaced by `codetune reindex`; still, opening an older database migrates it in place, step by
step, each step in its own transaction with its version recorded in `schema_version`.

Physical design, for the 1M-row per-sample tables: no primary keys or ART indexes (they slow the bulk
inserts and deletes and DuckDB's scans do not use them). Rows are appended one run at a time, sorted
by (task, sample_id, sample_index) within the run, so each table is clustered by run, and every
per-run table carries `run_key`, a small integer per run (table run_keys): queries filter on it so
the min/max zonemaps of each row group skip every run not asked for. (Filtering on run_id cannot:
DuckDB's string zonemaps keep only an 8-byte prefix, and run ids share long prefixes such as
"qwen2.5-coder-…"; measured 95 ms for a 1M-row scan against 1-2 ms with the integer key.)
Per-run summaries (task_counts, gen_summary, outcome_counts, quality_counts, measure_counts,
finding_counts, rule_counts; SUMMARIES below) are computed by the ingest from a run's rows whenever
they change, so the pages' breakdowns over many runs read a few hundred summary rows instead of
aggregating millions (and count-distincts) per render. Idempotency comes from the ingest replacing
a run's rows for an artifact in one transaction (store.load), not from keys. Time stamps are epoch
seconds (DOUBLE), as the engine writes them.

Reference runs (v3, store.reference) live in the same tables, flagged `runs.is_reference`; their
files are fingerprinted in `reference_files` (not `ingested_files`, whose owners are run
directories), their values kept in file order in `reference_values` (keyed by run_key, so the
per-run deletes cover it) and the reference study's own tests, recomputed once per load, in
`reference_tests`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Migration:
    """One schema step: applied once, in order, in a transaction."""

    version: int
    description: str
    sql: str


_SAMPLE_KEY = """
    run_id VARCHAR NOT NULL,
    task VARCHAR NOT NULL,
    sample_id VARCHAR NOT NULL,
    sample_index INTEGER NOT NULL"""
_RUN_KEY = """,
    run_key INTEGER NOT NULL         -- run_keys.run_key of run_id (zonemap-friendly filter)"""

_V1 = f"""
CREATE TABLE IF NOT EXISTS ingested_files (
    owner VARCHAR NOT NULL,          -- run_id, or 'study:<folder>'
    artifact VARCHAR NOT NULL,       -- file name in the run / study directory
    size BIGINT,
    mtime_ns BIGINT,
    inode BIGINT,
    consumed BIGINT,                 -- events.jsonl: bytes read so far (append-only file)
    rows BIGINT,                     -- rows stored (events.jsonl: lines read so far)
    ingested_at DOUBLE,
    error VARCHAR                    -- why the file was skipped (NULL: ingested)
);

CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR NOT NULL,
    name VARCHAR,
    model VARCHAR,
    model_short VARCHAR,
    model_size VARCHAR,              -- display label parsed from the model id: 0.5B, 135M, ...
    model_params_b DOUBLE,           -- the same in billions (NULL when the id names no size)
    method VARCHAR,
    label VARCHAR,                   -- ST-QLoRA, MT-LoRA, MT-FFT, zero-shot, ...
    is_multitask BOOLEAN,
    tasks VARCHAR[],
    families VARCHAR[],
    n_tasks INTEGER,
    spec_hash VARCHAR,
    spec_valid BOOLEAN,              -- false: spec.json did not validate; derived fields are guesses
    lora_r INTEGER,
    learning_rate DOUBLE,
    epochs DOUBLE,
    max_steps INTEGER,
    seed INTEGER,
    eval_n_samples INTEGER,
    eval_temperature DOUBLE,
    spec_json VARCHAR,
    state VARCHAR,
    phase VARCHAR,
    progress_phase VARCHAR,
    progress_done DOUBLE,
    progress_total DOUBLE,
    phases_done VARCHAR[],
    attempts INTEGER,
    error_phase VARCHAR,
    error_type VARCHAR,
    error_message VARCHAR,
    error_json VARCHAR,
    submitted_at DOUBLE,
    started_at DOUBLE,
    finished_at DOUBLE,
    updated_at DOUBLE,
    status_json VARCHAR,
    ingested_at DOUBLE
);

CREATE TABLE IF NOT EXISTS studies (
    study_id VARCHAR NOT NULL,
    name VARCHAR,
    description VARCHAR,
    submitted_at DOUBLE,
    spec_json VARCHAR
);

CREATE TABLE IF NOT EXISTS study_runs (
    study_id VARCHAR NOT NULL,
    position INTEGER,
    run_id VARCHAR NOT NULL,
    config VARCHAR,
    model VARCHAR,
    created BOOLEAN
);

CREATE TABLE IF NOT EXISTS events (
    run_id VARCHAR NOT NULL,
    seq BIGINT NOT NULL,             -- 1-based line number in events.jsonl
    t DOUBLE,
    type VARCHAR,
    step BIGINT,
    phase VARCHAR,
    record VARCHAR,                  -- the whole JSON line
    run_key INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS metrics (
    run_id VARCHAR NOT NULL,
    task VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    value DOUBLE,
    run_key INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS run_keys (
    run_id VARCHAR NOT NULL,
    run_key INTEGER NOT NULL
);

-- per-run summaries, rebuilt from a run's rows by the ingest (SUMMARIES)
CREATE TABLE IF NOT EXISTS task_counts (
    run_id VARCHAR NOT NULL, run_key INTEGER NOT NULL, task VARCHAR NOT NULL,
    artifact VARCHAR NOT NULL,       -- generations | outcomes | scores | findings | quality
    n_rows BIGINT,
    n_samples BIGINT                 -- distinct (sample_id, sample_index)
);

CREATE TABLE IF NOT EXISTS gen_summary (
    run_id VARCHAR NOT NULL, run_key INTEGER NOT NULL, task VARCHAR NOT NULL,
    n BIGINT, mean_prompt_tokens DOUBLE, mean_completion_tokens DOUBLE, p95_completion_tokens DOUBLE,
    truncated_rate DOUBLE, empty_rate DOUBLE, generation_s DOUBLE, completion_tokens BIGINT
);

CREATE TABLE IF NOT EXISTS outcome_counts (
    run_id VARCHAR NOT NULL, run_key INTEGER NOT NULL, task VARCHAR NOT NULL, status VARCHAR, n BIGINT
);

CREATE TABLE IF NOT EXISTS quality_counts (
    run_id VARCHAR NOT NULL, run_key INTEGER NOT NULL, task VARCHAR NOT NULL, tool VARCHAR, status VARCHAR,
    n_samples BIGINT, example_detail VARCHAR
);

CREATE TABLE IF NOT EXISTS measure_counts (
    run_id VARCHAR NOT NULL, run_key INTEGER NOT NULL, task VARCHAR NOT NULL, tool VARCHAR, measure VARCHAR,
    n_values BIGINT
);

CREATE TABLE IF NOT EXISTS finding_counts (
    run_id VARCHAR NOT NULL, run_key INTEGER NOT NULL, task VARCHAR NOT NULL, tool VARCHAR, category VARCHAR,
    n_findings BIGINT, n_samples BIGINT
);

CREATE TABLE IF NOT EXISTS rule_counts (
    run_id VARCHAR NOT NULL, run_key INTEGER NOT NULL, task VARCHAR NOT NULL, tool VARCHAR, rule_id VARCHAR,
    category VARCHAR, severity VARCHAR, n_findings BIGINT, n_samples BIGINT
);

CREATE TABLE IF NOT EXISTS generations ({_SAMPLE_KEY},
    prompt VARCHAR,
    completion VARCHAR,
    prediction VARCHAR,
    reference VARCHAR,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    latency_s DOUBLE,
    batch_size INTEGER,
    finish_reason VARCHAR{_RUN_KEY}
);

CREATE TABLE IF NOT EXISTS outcomes ({_SAMPLE_KEY},
    status VARCHAR,
    exit_code INTEGER,
    duration_s DOUBLE,
    stdout_tail VARCHAR,
    stderr_tail VARCHAR,
    isolation VARCHAR,
    reason VARCHAR{_RUN_KEY}
);

CREATE TABLE IF NOT EXISTS scores ({_SAMPLE_KEY},
    metric VARCHAR,
    value DOUBLE{_RUN_KEY}
);

CREATE TABLE IF NOT EXISTS findings ({_SAMPLE_KEY},
    tool VARCHAR,
    rule_id VARCHAR,
    category VARCHAR,
    severity VARCHAR,
    line INTEGER,
    message VARCHAR{_RUN_KEY}
);

CREATE TABLE IF NOT EXISTS quality ({_SAMPLE_KEY},
    tool VARCHAR,
    status VARCHAR,
    detail VARCHAR,
    measure VARCHAR,
    value DOUBLE{_RUN_KEY}
);
"""

# v2: the per-sample outcome view every page reads (a generated sample next to its test outcome).
_V2 = """
CREATE OR REPLACE VIEW sample_results AS
SELECT g.run_id, g.run_key, g.task, g.sample_id, g.sample_index,
       o.status, coalesce(o.status = 'passed', false) AS passed, o.reason,
       g.prediction, g.reference, g.completion_tokens, g.finish_reason
FROM generations g
LEFT JOIN outcomes o USING (run_key, task, sample_id, sample_index);
"""

# v3: the reference study's per-sample results as read-only runs (store.reference): a flag on `runs`,
# the files read (fingerprints, what each holds, why one was skipped) and every value in file order.
_V3 = """
ALTER TABLE runs ADD COLUMN is_reference BOOLEAN DEFAULT false;
ALTER TABLE runs ADD COLUMN reference_source VARCHAR;

CREATE TABLE IF NOT EXISTS reference_files (
    file VARCHAR NOT NULL,           -- path under the data directory's paper_results/
    folder VARCHAR,                  -- the layout it was read as (store.reference.LAYOUTS)
    run_id VARCHAR,                  -- the reference run it belongs to (NULL: not placed)
    task VARCHAR,
    size BIGINT, mtime_ns BIGINT, inode BIGINT,
    rows BIGINT,                     -- data rows read
    note VARCHAR,                    -- what to know about the file (shown with its values)
    error VARCHAR,                   -- why it was skipped (NULL: ingested)
    ingested_at DOUBLE
);

CREATE TABLE IF NOT EXISTS reference_values (
    run_id VARCHAR NOT NULL,
    task VARCHAR NOT NULL,
    file VARCHAR NOT NULL,
    tool VARCHAR,                    -- NULL for metrics (pass@1, codebleu, bleu, ...), else paper-<tool>
    measure VARCHAR NOT NULL,
    row INTEGER NOT NULL,            -- 0-based data row in the file (the package paired by it)
    sample_id VARCHAR NOT NULL,      -- our sample id (translation: test-<instance_id + 1>)
    value DOUBLE,
    run_key INTEGER NOT NULL
);

-- the reference study's RQ1-RQ3 tests recomputed by the ingest (engine.scoring.comparison.reference_study),
-- raw p-values for both pairings; the pages adjust them (Holm, BH) within the family the user picks
CREATE TABLE IF NOT EXISTS reference_tests (
    pairing VARCHAR NOT NULL,        -- rows (the package: by row, truncated to the shorter file) | ids
    rq VARCHAR, question VARCHAR, size VARCHAR, task VARCHAR, metric VARCHAR,
    config_a VARCHAR, config_b VARCHAR, run_a VARCHAR, run_b VARCHAR,
    n_a INTEGER, n_b INTEGER, n INTEGER, ids_agree INTEGER,
    mean_a DOUBLE, mean_b DOUBLE, diff DOUBLE, test VARCHAR, statistic DOUBLE, p_value DOUBLE,
    effect DOUBLE, effect_label VARCHAR, note VARCHAR
);
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "run index: runs, studies, events, metrics and the per-sample artifact tables", _V1),
    Migration(2, "view sample_results (generation + outcome per sample)", _V2),
    Migration(3, "reference runs: runs.is_reference, reference_files, reference_values, reference_tests", _V3),
)

LATEST_VERSION = MIGRATIONS[-1].version

# Tables that hold one run's rows, by the file they come from (store.load replaces them per run).
ARTIFACT_TABLES: dict[str, str] = {
    "generations.parquet": "generations",
    "outcomes.parquet": "outcomes",
    "scores.parquet": "scores",
    "findings.parquet": "findings",
    "quality.parquet": "quality",
}
_DISTINCT = "count(DISTINCT (sample_id, sample_index))"
# Summary table -> (source table, SELECT over the source's rows of one run, `?` = its run_key).
SUMMARIES: dict[str, tuple[str, str]] = {
    **{f"task_counts/{t}": (t, f"SELECT any_value(run_id), run_key, task, '{t}', count(*), {_DISTINCT} "
                               f"FROM {t} WHERE run_key = ? GROUP BY run_key, task")
       for t in ARTIFACT_TABLES.values()},
    "gen_summary": ("generations", """
        SELECT any_value(run_id), run_key, task, count(*), avg(prompt_tokens), avg(completion_tokens),
               quantile_cont(completion_tokens, 0.95),
               avg(CASE WHEN finish_reason = 'length' THEN 1.0 ELSE 0.0 END),
               avg(CASE WHEN coalesce(trim(prediction), '') = '' THEN 1.0 ELSE 0.0 END),
               sum(latency_s / greatest(coalesce(batch_size, 1), 1)), sum(completion_tokens)
        FROM generations WHERE run_key = ? GROUP BY run_key, task"""),
    "outcome_counts": ("outcomes", "SELECT any_value(run_id), run_key, task, status, count(*) FROM outcomes "
                                   "WHERE run_key = ? GROUP BY run_key, task, status"),
    "quality_counts": ("quality", f"""
        SELECT any_value(run_id), run_key, task, tool, status, {_DISTINCT},
               min(detail) FILTER (WHERE detail <> '')
        FROM quality WHERE run_key = ? GROUP BY run_key, task, tool, status"""),
    "measure_counts": ("quality", """
        SELECT any_value(run_id), run_key, task, tool, measure, count(*) FROM quality
        WHERE run_key = ? AND measure IS NOT NULL GROUP BY run_key, task, tool, measure"""),
    "finding_counts": ("findings", f"""
        SELECT any_value(run_id), run_key, task, tool, category, count(*), {_DISTINCT}
        FROM findings WHERE run_key = ? GROUP BY run_key, task, tool, category"""),
    "rule_counts": ("findings", f"""
        SELECT any_value(run_id), run_key, task, tool, rule_id, any_value(category), any_value(severity),
               count(*), {_DISTINCT}
        FROM findings WHERE run_key = ? GROUP BY run_key, task, tool, rule_id"""),
}
SUMMARY_TABLES: tuple[str, ...] = tuple(dict.fromkeys(k.split("/")[0] for k in SUMMARIES))
KEYED_TABLES: tuple[str, ...] = ("events", "metrics", *ARTIFACT_TABLES.values(), *SUMMARY_TABLES,
                                 "reference_values")
RUN_TABLES: tuple[str, ...] = ("runs", "run_keys", *KEYED_TABLES)
STUDY_TABLES: tuple[str, ...] = ("studies", "study_runs")
DATA_TABLES: tuple[str, ...] = (*RUN_TABLES, *STUDY_TABLES)
ALL_TABLES: tuple[str, ...] = (*DATA_TABLES, "ingested_files", "reference_files", "reference_tests",
                               "schema_version")
VIEWS: tuple[str, ...] = ("sample_results",)

_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    description VARCHAR,
    applied_at TIMESTAMP DEFAULT current_timestamp
)
"""


class SchemaTooNewError(RuntimeError):
    """The database was written by a newer version of the store than this code knows."""


def current_version(conn: Any) -> int:
    """The database's schema version (0 for an empty database)."""
    exists = conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_version' AND schema_name = 'main' "
        "AND database_name = current_database()"
    ).fetchall()[0][0]
    if not exists:
        return 0
    value = conn.execute("SELECT max(version) FROM schema_version").fetchall()[0][0]
    return int(value or 0)


def migrate(conn: Any, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
    """Apply the steps newer than the database's version, in order; returns the versions applied.

    Idempotent: a database already at the latest version costs one query. Needs a read-write
    connection. Raises SchemaTooNewError for a database newer than `migrations`.
    """
    version = current_version(conn)
    latest = migrations[-1].version if migrations else 0
    if version > latest:
        raise SchemaTooNewError(
            f"the database has schema version {version} but this code knows up to {latest}. "
            "Fix: upgrade CodeTune Studio, or rebuild the index with `codetune reindex`"
        )
    applied = []
    for step in migrations:
        if step.version <= version:
            continue
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(_VERSION_TABLE)
            # Another connection of this process may have applied it meanwhile: re-check inside.
            if current_version(conn) >= step.version:
                conn.execute("ROLLBACK")
                continue
            conn.execute(step.sql)
            conn.execute(
                "INSERT INTO schema_version (version, description) VALUES (?, ?)",
                [step.version, step.description],
            )
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
        applied.append(step.version)
    return applied


def drop_all(conn: Any) -> None:
    """Drop every table and view of the store (for a rebuild); the caller re-runs `migrate`."""
    for view in VIEWS:
        conn.execute(f"DROP VIEW IF EXISTS {view}")
    for table in ALL_TABLES:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
