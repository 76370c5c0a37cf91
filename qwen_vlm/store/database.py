"""The durable result store: one SQLite file in WAL mode, one row per finished result.

Why SQLite (the standard library's ``sqlite3``): nothing to install, one file a user can copy, atomic
commits that survive a killed process (a result is committed before the call moves on, so ``kill -9``
loses at most the requests in flight, never a finished result), and in WAL mode readers never block the
writer while several processes may write one file (each write waits for the lock, up to a timeout). With
``synchronous=NORMAL`` a power cut can lose the last commits but never corrupt the file.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError

__all__ = ["APPLICATION_ID", "ResultStore", "StoreError"]

#: Written in the file's header (``PRAGMA application_id``): tells our stores from other SQLite files.
APPLICATION_ID = 0x51564C4D  # "QVLM"
SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    model TEXT NOT NULL,
    result TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS results_by_task ON results (task, model);
"""


class StoreError(ConfigurationError):
    """The file given as a result store is not one (another program's file, or damaged); never overwritten."""


class ResultStore:
    """A durable map from request key to encoded result, safe for threads and processes.

    Args:
        path: The file; created (with its folder) when it does not exist.
        timeout: Seconds a write waits for another process holding the lock.

    Raises:
        StoreError: When the file exists but is not a qwen-vlm result store, or is damaged.
    """

    def __init__(self, path: str | os.PathLike[str], timeout: float = 30.0) -> None:
        self.path = Path(path).expanduser()
        self._timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._check()

    def __repr__(self) -> str:
        return f"ResultStore({str(self.path)!r})"

    def _connect(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
            connection.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
            # Per connection: in WAL mode a commit then writes the log without waiting for the disk; the
            # file survives a killed process whole, and a power cut loses at most the last commits.
            connection.execute("PRAGMA synchronous = NORMAL")
            self._local.connection = connection
        return connection

    def _check(self) -> None:
        """Open (or create) the file and make sure it is ours, before anything is read or written."""
        exists = self.path.exists()
        if exists and not self.path.is_file():
            raise StoreError(f"{self.path} is a folder, not a result store file")
        if exists and self.path.stat().st_size > 0:
            with open(self.path, "rb") as handle:
                header = handle.read(16)
            if header != b"SQLite format 3\x00":
                raise StoreError(
                    f"{self.path} is not a qwen-vlm result store (not an SQLite file); it was left as is"
                )
        if not exists:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = self._connect()
            application = db.execute("PRAGMA application_id").fetchone()[0]
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if application == 0 and not tables:
                self._create(db)
            elif application != APPLICATION_ID or "results" not in tables:
                raise StoreError(
                    f"{self.path} is another program's SQLite file, not a qwen-vlm result store; "
                    "it was left as is"
                )
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} is a result store of format {version}; this qwen-vlm reads {SCHEMA_VERSION}"
                )
            db.execute("SELECT count(*) FROM results").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{self.path} cannot be read as a result store ({exc}); it was left as is"
            ) from None

    def _create(self, db: sqlite3.Connection) -> None:
        with self._lock:
            db.execute("BEGIN IMMEDIATE")
            try:
                if db.execute("PRAGMA application_id").fetchone()[0] == 0:  # no other process won the race
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            db.execute(statement)
                    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("PRAGMA journal_mode = WAL")

    def get_many(self, keys: Sequence[str]) -> dict[str, str]:
        """The stored results of those keys that have one (``key -> encoded result``)."""
        found: dict[str, str] = {}
        db = self._connect()
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for key, value in db.execute(f"SELECT key, result FROM results WHERE key IN ({marks})", chunk):
                found[key] = value
        return found

    def put_many(self, rows: Iterable[tuple[str, str, str, str]]) -> None:
        """Store ``(key, task, model, encoded result)`` rows in one durable transaction."""
        rows = list(rows)
        if not rows:
            return
        now = time.time()
        db = self._connect()
        with self._lock:  # this process's threads queue here, not in SQLite's sleeping busy handler
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    "INSERT OR REPLACE INTO results (key, task, model, result, created) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [(key, task, model, value, now) for key, task, model, value in rows],
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def holds(self, task: str, model: str) -> bool:
        """Whether any result of this task and model is stored (one indexed query)."""
        query = "SELECT 1 FROM results WHERE task = ? AND model = ? LIMIT 1"
        return self._connect().execute(query, (task, model)).fetchone() is not None

    def __len__(self) -> int:
        return int(self._connect().execute("SELECT count(*) FROM results").fetchone()[0])

    def info(self) -> dict[str, Any]:
        """How many results the store holds, by task."""
        rows = self._connect().execute("SELECT task, count(*) FROM results GROUP BY task").fetchall()
        return {"path": str(self.path), "results": sum(n for _, n in rows), "by_task": dict(rows)}

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None
