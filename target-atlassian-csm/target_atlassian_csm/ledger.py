"""The ledger: a local SQLite record of what this target has asked CSM to do.

For every customer and organization it keeps the source id, the CSM id where one is known,
the hash of what was last sent, the task that carried it and its status. That lets a resync
skip records whose payload has not changed, lets a restarted run find tasks still in flight
and poll them instead of resubmitting, and backs reconciliation. One ledger belongs to one
CSM site: opening it for another site is refused, so "unchanged" never means "unchanged
somewhere else".
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from target_atlassian_csm.files import private_path

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    entity TEXT NOT NULL,
    key TEXT NOT NULL,
    stream TEXT,
    source_id TEXT,
    payload_hash TEXT,
    payload TEXT,
    status TEXT NOT NULL,
    csm_id TEXT,
    task_id TEXT,
    run_id TEXT,
    reason TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (entity, key)
);
CREATE INDEX IF NOT EXISTS records_by_source ON records (entity, stream, source_id);
CREATE INDEX IF NOT EXISTS records_by_task ON records (task_id);
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY,
    entity TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    items INTEGER NOT NULL,
    status TEXT NOT NULL,
    submitted_at REAL NOT NULL,
    finished_at REAL,
    run_id TEXT
);
CREATE TABLE IF NOT EXISTS organization_ids (
    name_key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    csm_id TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    started_at REAL NOT NULL,
    finished_at REAL,
    summary TEXT
);
"""

SUBMITTED = "submitted"
CONFIRMED = "confirmed"
FAILED = "failed"


class LedgerSiteMismatch(RuntimeError):
    """The ledger file belongs to another CSM site."""


@dataclass(frozen=True)
class LedgerRow:
    """What the ledger knows of one customer or organization."""

    payload_hash: str | None
    payload: str | None
    status: str
    run_id: str | None
    task_id: str | None
    stream: str | None
    source_id: str | None

    def semantic(self) -> dict[str, Any] | None:
        """The stored semantic payload."""
        return json.loads(self.payload) if self.payload else None


@dataclass(frozen=True)
class PendingTask:
    """A task submitted by an earlier run and not known to have ended."""

    task_id: str
    entity: str
    endpoint: str
    items: dict[str, str]  # key -> payload hash


class Ledger:
    """Thread-safe access to the ledger file (one connection, one lock)."""

    def __init__(
        self,
        path: str | Path,
        *,
        site: str,
        run_id: str,
        connection: sqlite3.Connection | None = None,
    ) -> None:
        self.run_id = run_id
        self._lock = threading.RLock()
        if connection is None:
            self.path = private_path(path)
            connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
        else:
            self.path = Path(path)
        self._db = connection
        self._db.executescript(SCHEMA)
        self._check_site(site)
        self._db.execute(
            "INSERT OR REPLACE INTO runs (run_id, started_at) VALUES (?, ?)", (run_id, time.time())
        )

    @classmethod
    def in_memory_copy(cls, path: str | Path, *, site: str, run_id: str) -> Ledger:
        """A ledger in memory holding a copy of the file at ``path`` (if any): for dry runs."""
        memory = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        source = Path(path)
        if source.exists():
            disk = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
            disk.backup(memory)
            disk.close()
        return cls(source, site=site, run_id=run_id, connection=memory)

    def _check_site(self, site: str) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'site'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta (key, value) VALUES ('site', ?)", (site,))
        elif row[0] != site:
            msg = (
                f"ledger {self.path} belongs to CSM site {row[0]!r}, not {site!r}: "
                "use another `ledger_path` for this site"
            )
            raise LedgerSiteMismatch(msg)

    # ------------------------------------------------------------------------ reads
    def get(self, entity: str, key: str) -> LedgerRow | None:
        """The row for one customer (key: email) or organization (key: name), case-folded."""
        with self._lock:
            row = self._db.execute(
                "SELECT payload_hash, payload, status, run_id, task_id, stream, source_id "
                "FROM records WHERE entity = ? AND key = ?",
                (entity, key),
            ).fetchone()
        return LedgerRow(*row) if row else None

    def key_for_source(self, entity: str, stream: str, source_id: str) -> str | None:
        """The key of the record a source stream's id was loaded as."""
        with self._lock:
            row = self._db.execute(
                "SELECT key FROM records WHERE entity = ? AND stream = ? AND source_id = ? "
                "ORDER BY updated_at DESC LIMIT 1",
                (entity, stream, source_id),
            ).fetchone()
        return row[0] if row else None

    def organization_id(self, name_key: str) -> str | None:
        """The CSM id of an organization, by case-folded name."""
        with self._lock:
            row = self._db.execute(
                "SELECT csm_id FROM organization_ids WHERE name_key = ?", (name_key,)
            ).fetchone()
        return row[0] if row else None

    def pending_tasks(self) -> list[PendingTask]:
        """Tasks an earlier run submitted and did not see end."""
        with self._lock:
            tasks = self._db.execute(
                "SELECT task_id, entity, endpoint FROM tasks WHERE status = ?", (SUBMITTED,)
            ).fetchall()
            out = []
            for task_id, entity, endpoint in tasks:
                items = dict(
                    self._db.execute(
                        "SELECT key, payload_hash FROM records WHERE task_id = ? AND status = ?",
                        (task_id, SUBMITTED),
                    ).fetchall()
                )
                out.append(PendingTask(task_id, entity, endpoint, items))
        return out

    def counts(self) -> dict[str, dict[str, int]]:
        """Rows per entity and status (for reports and tests)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT entity, status, COUNT(*) FROM records GROUP BY entity, status"
            ).fetchall()
        out: dict[str, dict[str, int]] = {}
        for entity, status, count in rows:
            out.setdefault(entity, {})[status] = count
        return out

    # ----------------------------------------------------------------------- writes
    def _write(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            try:
                for sql, params in statements:
                    self._db.execute(sql, params)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def mark_submitted(
        self,
        *,
        task_id: str,
        entity: str,
        endpoint: str,
        idempotency_key: str,
        ops: Sequence[Any],
    ) -> None:
        """Record a task and the records it carries, before its outcome is known."""
        now = time.time()
        statements: list[tuple[str, Sequence[Any]]] = [
            (
                "INSERT OR REPLACE INTO tasks (task_id, entity, endpoint, idempotency_key, items, "
                "status, submitted_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (task_id, entity, endpoint, idempotency_key, len(ops), SUBMITTED, now, self.run_id),
            )
        ]
        for op in ops:
            statements.append(self._upsert(op, SUBMITTED, task_id, None, now))
        self._write(statements)

    def _upsert(
        self, op: Any, status: str, task_id: str | None, reason: str | None, now: float
    ) -> tuple[str, Sequence[Any]]:
        semantic = op.semantic_text
        return (
            "INSERT INTO records (entity, key, stream, source_id, payload_hash, payload, status, "
            "task_id, run_id, reason, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (entity, key) DO UPDATE SET stream = excluded.stream, "
            "source_id = COALESCE(excluded.source_id, records.source_id), "
            "payload_hash = excluded.payload_hash, payload = excluded.payload, "
            "status = excluded.status, task_id = excluded.task_id, run_id = excluded.run_id, "
            "reason = excluded.reason, updated_at = excluded.updated_at",
            (
                op.entity,
                op.key,
                op.stream,
                op.source_id,
                op.payload_hash,
                semantic,
                status,
                task_id,
                self.run_id,
                reason,
                now,
            ),
        )

    def mark_outcome(
        self,
        *,
        task_id: str | None,
        task_status: str | None,
        confirmed: Sequence[Any],
        failed: Sequence[tuple[Any, str]],
    ) -> None:
        """Record what became of a task's records."""
        now = time.time()
        statements: list[tuple[str, Sequence[Any]]]
        if task_id is not None:
            # mark_submitted wrote these rows with their payload: only the outcome changes.
            statements = [
                (
                    "UPDATE records SET status = ?, run_id = ?, reason = NULL, updated_at = ? "
                    "WHERE entity = ? AND key = ? AND task_id = ?",
                    (CONFIRMED, self.run_id, now, op.entity, op.key, task_id),
                )
                for op in confirmed
            ]
        else:
            statements = [self._upsert(op, CONFIRMED, task_id, None, now) for op in confirmed]
        statements += [self._upsert(op, FAILED, task_id, reason, now) for op, reason in failed]
        if task_id is not None and task_status is not None:
            statements.append(
                (
                    "UPDATE tasks SET status = ?, finished_at = ? WHERE task_id = ?",
                    (task_status, now, task_id),
                )
            )
        self._write(statements)

    def set_status(self, entity: str, key: str, status: str, reason: str | None = None) -> None:
        """Change one record's status (records of a task an earlier run left in flight)."""
        self._write(
            [
                (
                    "UPDATE records SET status = ?, reason = ?, updated_at = ? "
                    "WHERE entity = ? AND key = ?",
                    (status, reason, time.time(), entity, key),
                )
            ]
        )

    def close_task(self, task_id: str, status: str) -> None:
        """Mark a task ended without touching its records (they were resubmitted)."""
        self._write(
            [
                (
                    "UPDATE tasks SET status = ?, finished_at = ? WHERE task_id = ?",
                    (status, time.time(), task_id),
                )
            ]
        )

    def set_organization_ids(self, found: Iterable[tuple[str, str]]) -> None:
        """Cache CSM organization ids by name."""
        now = time.time()
        self._write(
            [
                (
                    "INSERT OR REPLACE INTO organization_ids (name_key, name, csm_id, updated_at) "
                    "VALUES (?, ?, ?, ?)",
                    (name.casefold(), name, str(csm_id), now),
                )
                for name, csm_id in found
            ]
        )

    def finish_run(self, summary: dict[str, Any]) -> None:
        """Store the run's summary."""
        self._write(
            [
                (
                    "UPDATE runs SET finished_at = ?, summary = ? WHERE run_id = ?",
                    (time.time(), json.dumps(summary), self.run_id),
                )
            ]
        )

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()
