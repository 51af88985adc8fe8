"""The store: a DuckDB index of the run directories, and the only package that imports duckdb.

    store.db          short-lived connections, retried on lock conflicts (`connect`, `Reader`)
    store.schema      tables, per-run summaries and versioned migrations
    store.ingest      the ingest: `ingest_all`, `reindex`, its lock and write sessions
    store.report      IngestReport (what an ingest did), IngestProblem
    store.scan        fingerprints, scanning run/study folders, the ingested_files bookkeeping, the plan
    store.runs_table  a run's row in `runs`, derived through engine.vocabulary
    store.load        a run's files (events, metrics, parquet artifacts) into the tables
    store.studies     study.json into the study tables
    store.prune       removing the runs and studies whose folders were deleted
    store.reference   the reference study's per-sample results as read-only reference runs
                      (store.reference_files: the package's CSV layouts and reading one file)
    store.queries     named, parameterised queries returning pandas DataFrames (a package by subject)
    store.export      query results as Parquet / CSV bytes for the download buttons
    store.synthetic   synthetic run directories (tests, benchmark)

The store may import engine.vocabulary, engine.settings, engine.spec and engine.runs.rundir (and
store.reference engine.scoring.comparison, to recompute the reference study's tests once per load);
the engine never imports the store. Nothing is imported here, so `import store` costs nothing until a
submodule is used.
"""
