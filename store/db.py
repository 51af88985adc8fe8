"""Connections to the store's DuckDB file: short-lived, retried on lock conflicts, never shared.

DuckDB allows one read-write process per file, or many read-only processes, never both: while
the ingest writes, every other process's open fails with "Could not set lock". So nobody keeps a
connection: `connect()` opens one for a `with` block and closes it, and an open that hits a lock
(or, inside one process, an open whose read-only / read-write mode differs from a connection
another thread holds) is retried with exponential backoff until `timeout_s`, then raises
StoreBusyError saying who holds it. A connection must never cross a fork (open it in the child).

`Reader` is the cheaper read path for a long-running process (the app): it keeps an in-memory
DuckDB, which holds no file, and attaches the database file read-only only while a query runs, so
no lock outlives a query but DuckDB's start-up (~20 ms of CPU: registering its functions) is paid
once per process instead of once per query. The app creates one (e.g. in st.cache_resource) and
passes it as the source; it is thread-safe, and re-creates its instance after a fork.

Every function takes a `Source`: engine Settings (uses settings.db_path), a path to the file, a
Reader, or an open connection (used as is and left open: lets a caller run several queries on one
connection).
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar, Union

import duckdb

from engine.settings import Settings
from store import schema

READ_TIMEOUT_S = 10.0  # outlasts an ingest's write session (store.ingest.BULK_SESSION_S)
WRITE_TIMEOUT_S = 60.0
# Readers poll quickly (a write holds the lock for tens of ms); the ceiling keeps a reader from
# sleeping through the gaps the ingest leaves between its write sessions (store.ingest).
_FIRST_DELAY_S = 0.002
_MAX_DELAY_S = 0.05

# Other processes: "Could not set lock"; this process, another mode: "different configuration";
# this process, the file attached by a Reader (or vice versa): "Unique file handle conflict".
_RETRYABLE = ("Could not set lock", "Conflicting lock", "different configuration",
              "Unique file handle conflict")
_ALIAS = "codetune_store"

T = TypeVar("T")


class StoreError(RuntimeError):
    """The database cannot be used; the message says why and how to fix it."""


class StoreBusyError(StoreError):
    """Another connection kept the database locked for longer than the timeout."""


def db_path(source: Source) -> Path:
    """The database file a source refers to."""
    if isinstance(source, Settings):
        return source.db_path
    if isinstance(source, Reader):
        return source.path
    if isinstance(source, duckdb.DuckDBPyConnection):
        raise TypeError("an open connection has no path here; pass Settings or a path")
    return Path(source).expanduser()


def is_lock_conflict(exc: BaseException) -> bool:
    """Whether a DuckDB error means 'someone else holds the file' (worth retrying)."""
    return isinstance(exc, duckdb.Error) and any(m in str(exc) for m in _RETRYABLE)


def _holder(message: str) -> str:
    match = re.search(r"held in (.+?) \(PID (\d+)\)", message)
    return f"{match.group(1)} (pid {match.group(2)})" if match else "another connection"


def _retry(attempt: Callable[[], T], path: Path, mode: str, timeout_s: float) -> T:
    """Call `attempt` until it stops failing on a lock conflict, with jittered exponential backoff."""
    deadline = time.monotonic() + timeout_s
    delay = _FIRST_DELAY_S
    while True:
        try:
            return attempt()
        except duckdb.Error as exc:
            if not is_lock_conflict(exc):
                raise _explain(exc, path) from exc
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StoreBusyError(
                    f"could not open {path} {mode} within {timeout_s:.1f} s: it is locked by "
                    f"{_holder(str(exc))}. Fix: wait for the ingest to finish and retry; a process that "
                    "keeps a DuckDB connection to this file open (a notebook, the duckdb CLI) must close it"
                ) from exc
            # Jitter keeps several waiting processes from retrying in lock-step.
            time.sleep(min(delay * (0.5 + random.random()), remaining))
            delay = min(delay * 2, _MAX_DELAY_S)


def _open(path: Path, read_only: bool, timeout_s: float) -> duckdb.DuckDBPyConnection:
    mode = "read-only" if read_only else "read-write"
    return _retry(lambda: duckdb.connect(str(path), read_only=read_only), path, mode, timeout_s)


def _explain(exc: duckdb.Error, path: Path) -> StoreError:
    text = str(exc)
    if "not a valid DuckDB database" in text or "Corrupt" in text or "corrupt" in text:
        return StoreError(
            f"{path} is not a readable DuckDB database ({text.splitlines()[0]}). "
            "Fix: `codetune reindex` rebuilds it from the run directories"
        )
    return StoreError(f"cannot open {path}: {text.splitlines()[0] if text else type(exc).__name__}")


def _too_new(path: Path, version: int) -> schema.SchemaTooNewError:
    return schema.SchemaTooNewError(
        f"{path} has schema version {version}; this code knows up to {schema.LATEST_VERSION}. "
        "Fix: upgrade, or `codetune reindex`"
    )


def ensure_database(source: Source, timeout_s: float = WRITE_TIMEOUT_S) -> Path:
    """Create the database file, or migrate it to the latest schema; cheap when already current."""
    path = db_path(source)
    with connect(path, read_only=False, timeout_s=timeout_s):
        pass  # a read-write open migrates
    return path


@contextlib.contextmanager
def connect(
    source: Source, read_only: bool = True, timeout_s: float | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection for one `with` block, closed at its end.

    Read-write: creates the file if needed and migrates it to the latest schema. Read-only:
    creates / migrates first when the file is missing or older than this code (a brief write).
    An open connection passed as `source` is yielded as is and not closed; a Reader serves
    read-only blocks from its in-memory instance.
    """
    if isinstance(source, duckdb.DuckDBPyConnection):
        yield source
        return
    if isinstance(source, Reader) and read_only:
        with source.connect(timeout_s) as conn:
            yield conn
        return
    path = db_path(source)
    timeout = timeout_s if timeout_s is not None else (READ_TIMEOUT_S if read_only else WRITE_TIMEOUT_S)
    if read_only and not path.exists():
        ensure_database(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    conn = _open(path, read_only, timeout)
    try:
        if read_only:
            version = schema.current_version(conn)
            if version != schema.LATEST_VERSION:
                conn.close()
                if version > schema.LATEST_VERSION:
                    raise _too_new(path, version)
                ensure_database(path)
                conn = _open(path, read_only, timeout)
        else:
            schema.migrate(conn)
        yield conn
    finally:
        conn.close()



@contextlib.contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction for a `with` block: committed at its end, rolled back when it raises."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class Reader:
    """Read-only access for a long-running process: one in-memory DuckDB, the file attached per query.

    While any thread is inside `connect()` the file is attached (read-only; concurrent readers of
    this process share the attachment); when the last one leaves it is detached, releasing the
    file's lock, so the ingest of any process can write between queries.
    """

    def __init__(self, source: Settings | str | os.PathLike, timeout_s: float = READ_TIMEOUT_S):
        self.path = db_path(source)
        self.timeout_s = timeout_s
        self._guard = threading.Lock()
        self._base: duckdb.DuckDBPyConnection | None = None
        self._pid = 0
        self._users = 0

    def _instance(self) -> duckdb.DuckDBPyConnection:
        if self._base is None or self._pid != os.getpid():
            # After a fork the inherited instance is unusable (its threads did not survive): leave
            # it alone and start a fresh one.
            self._base = duckdb.connect(":memory:")
            self._pid = os.getpid()
            self._users = 0
        return self._base

    def _attach(self, base: duckdb.DuckDBPyConnection, timeout_s: float) -> None:
        literal = str(self.path).replace("'", "''")
        _retry(lambda: base.execute(f"ATTACH '{literal}' AS {_ALIAS} (READ_ONLY)"), self.path,
               "read-only", timeout_s)
        probe = base.cursor()
        try:
            probe.execute(f"USE {_ALIAS}")
            version = schema.current_version(probe)
        except BaseException:
            base.execute(f"DETACH {_ALIAS}")
            raise
        finally:
            probe.close()
        if version != schema.LATEST_VERSION:
            base.execute(f"DETACH {_ALIAS}")
            if version > schema.LATEST_VERSION:
                raise _too_new(self.path, version)
            ensure_database(self.path)
            _retry(lambda: base.execute(f"ATTACH '{literal}' AS {_ALIAS} (READ_ONLY)"), self.path,
                   "read-only", timeout_s)

    @contextlib.contextmanager
    def connect(self, timeout_s: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor whose default database is the store, for one `with` block."""
        if not self.path.exists():
            ensure_database(self.path)
        with self._guard:
            base = self._instance()
            if self._users == 0:
                self._attach(base, self.timeout_s if timeout_s is None else timeout_s)
            self._users += 1
        cursor = base.cursor()
        try:
            cursor.execute(f"USE {_ALIAS}")
            yield cursor
        finally:
            cursor.close()
            with self._guard:
                self._users -= 1
                if self._users == 0 and self._base is base:
                    base.execute(f"DETACH {_ALIAS}")

    def close(self) -> None:
        """Drop the in-memory instance (the file is attached only inside `connect`)."""
        with self._guard:
            if self._base is not None and self._pid == os.getpid() and self._users == 0:
                self._base.close()
            self._base = None


Source = Union[Settings, str, os.PathLike, Reader, duckdb.DuckDBPyConnection]  # noqa: UP007
