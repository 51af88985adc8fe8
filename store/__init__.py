"""The store: a DuckDB index of the run directories, and the only package that imports duckdb.

    store.db         short-lived connections, retried on lock conflicts (`connect`)
    store.schema     tables, per-run summaries and versioned migrations
    store.ingest     incremental, idempotent ingest of run/study directories; `reindex`
    store.queries    named, parameterised queries returning pandas DataFrames
    store.export     tables and query results to Parquet / CSV
    store.synthetic  synthetic run directories (tests, benchmark)

Nothing is imported here, so `import store` costs nothing until a submodule is used.
"""
