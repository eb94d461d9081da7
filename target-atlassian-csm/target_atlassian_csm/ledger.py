"""The ledger: a local SQLite record of what this target has asked CSM to do.

For every customer and organization it keeps the source id, the CSM id where one is known,
what was last sent (its semantic form and hash) and what CSM last confirmed, the submission
that carried it and its status. That lets a resync skip records whose payload has not
changed, tells which fields CSM holds so that a field emptied in the source is cleared, and
backs reconciliation and rollback (the run that created each record).

**Submissions.** Every bulk request is a *submission*, named by its own Idempotency-Key (a
random id, never derived from the body). The submission, its body and its records are written
here *before* the request goes out; its task id once CSM answers; its end when the task ends.
A run that dies anywhere in between leaves a submission that is not ended: the next run
settles it first (replays the key with the same body, which yields the same task, or polls
the task it knows) before anything newer for the same records is sent. Bodies are dropped
once a submission has ended, so the file does not grow with the load.

One ledger belongs to one CSM site, keyed by its cloud id (not by the URL spelling, which a
proxy or a trailing slash changes): opening it for another site is refused in one line, so
"unchanged" never means "unchanged somewhere else".
"""

from __future__ import annotations

import itertools
import json
import operator
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
    submission TEXT,
    confirmed_payload TEXT,
    created_run TEXT,
    PRIMARY KEY (entity, key)
);
CREATE INDEX IF NOT EXISTS records_by_source ON records (entity, stream, source_id);
CREATE TABLE IF NOT EXISTS submissions (
    key TEXT PRIMARY KEY,
    entity TEXT NOT NULL,
    phase TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    body BLOB,
    items TEXT NOT NULL,
    task_id TEXT,
    status TEXT NOT NULL,
    run_id TEXT,
    created_at REAL NOT NULL,
    ended_at REAL
);
CREATE INDEX IF NOT EXISTS submissions_open ON submissions (status);
CREATE TABLE IF NOT EXISTS organization_ids (
    name_key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    csm_id TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deferred_associations (
    customer_key TEXT NOT NULL,
    org_token TEXT NOT NULL,
    run_id TEXT,
    PRIMARY KEY (customer_key, org_token)
);
CREATE TABLE IF NOT EXISTS history (
    run_id TEXT NOT NULL,
    entity TEXT NOT NULL,
    key TEXT NOT NULL,
    action TEXT NOT NULL,
    before TEXT,
    after TEXT,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS history_by_run ON history (run_id);
CREATE TABLE IF NOT EXISTS schemas (
    stream TEXT PRIMARY KEY,
    schema TEXT NOT NULL,
    key_properties TEXT,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sources (
    entity TEXT NOT NULL,
    stream TEXT NOT NULL,
    source_id TEXT NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (entity, stream, source_id)
);
CREATE INDEX IF NOT EXISTS sources_by_key ON sources (entity, key);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    started_at REAL NOT NULL,
    finished_at REAL,
    summary TEXT
);
"""

#: Columns added since the first layout, with their type: ``ALTER TABLE`` adds them to old files.
ADDED_COLUMNS = {"submission": "TEXT", "confirmed_payload": "TEXT", "created_run": "TEXT"}

SUBMITTED = "submitted"
CONFIRMED = "confirmed"
FAILED = "failed"
DELETED = "deleted"  # deleted in CSM by this target (delete_policy, rollback)
#: Submission states: written before the request; CSM answered with a task; the task ended.
PREPARED, SENT, ENDED = "prepared", "sent", "ended"


class LedgerSiteMismatch(RuntimeError):
    """The ledger file belongs to another CSM site."""


@dataclass(frozen=True)
class LedgerRow:
    """What the ledger knows of one customer or organization."""

    payload_hash: str | None
    payload: str | None
    status: str
    run_id: str | None
    submission: str | None
    stream: str | None
    source_id: str | None
    confirmed_payload: str | None = None
    csm_id: str | None = None
    updated_at: float | None = None
    created_run: str | None = None

    def semantic(self) -> dict[str, Any] | None:
        """The last semantic payload sent."""
        return json.loads(self.payload) if self.payload else None

    def held_fields(self) -> set[str]:
        """Detail fields CSM may hold a value for: in what was confirmed or last sent."""
        out: set[str] = set()
        for text in (self.payload, self.confirmed_payload):
            if text:
                out.update((json.loads(text).get("details") or {}).keys())
        return out


def _source_rows(ops: Sequence[Any]) -> list[tuple[str, Sequence[Any]]]:
    """Statements recording which source records load into each operation's CSM record."""
    return [
        (
            "INSERT OR REPLACE INTO sources (entity, stream, source_id, key) VALUES (?, ?, ?, ?)",
            (op.entity, stream, source_id, op.key),
        )
        for op in ops
        for stream, source_id in op.sources
    ]


@dataclass(frozen=True)
class OpenSubmission:
    """A submission an earlier run did not see end (see module docstring)."""

    key: str
    entity: str
    phase: str
    endpoint: str
    body: bytes | None
    keys: list[str]  # the records' keys, in the order of the body's items
    task_id: str | None
    rows: dict[str, LedgerRow]


_ROW_COLUMNS = (
    "payload_hash, payload, status, run_id, submission, stream, source_id, confirmed_payload, "
    "csm_id, updated_at, created_run"
)


class Ledger:
    """Thread-safe access to the ledger file (one connection, one lock)."""

    def __init__(
        self,
        path: str | Path,
        *,
        site: str,
        run_id: str,
        connection: sqlite3.Connection | None = None,
        record_run: bool = True,
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
        self._migrate()
        self._check_site(site)
        if record_run:  # the operations commands read the ledger without being a run
            self._db.execute(
                "INSERT OR REPLACE INTO runs (run_id, started_at) VALUES (?, ?)",
                (run_id, time.time()),
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

    def _migrate(self) -> None:
        """Bring a ledger written by an earlier version up to this layout."""
        have = {row[1] for row in self._db.execute("PRAGMA table_info(records)")}
        for column, kind in ADDED_COLUMNS.items():
            if column not in have:
                self._db.execute(f"ALTER TABLE records ADD COLUMN {column} {kind}")
        old_tasks = self._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'tasks'"
        ).fetchone()
        if old_tasks:
            # Tasks of the first layout still in flight become submissions that can be polled
            # (their body was not kept: they cannot be replayed, only followed).
            for task_id, entity, endpoint, key, submitted_at, run_id in self._db.execute(
                "SELECT task_id, entity, endpoint, idempotency_key, submitted_at, run_id "
                "FROM tasks WHERE status = ?",
                (SUBMITTED,),
            ).fetchall():
                keys = [
                    r[0]
                    for r in self._db.execute(
                        "SELECT key FROM records WHERE task_id = ? AND status = ?",
                        (task_id, SUBMITTED),
                    )
                ]
                self._db.execute(
                    "INSERT OR IGNORE INTO submissions (key, entity, phase, endpoint, items, "
                    "task_id, status, run_id, created_at) "
                    "VALUES (?, ?, 'upsert', ?, ?, ?, ?, ?, ?)",
                    (key, entity, endpoint, json.dumps(keys), task_id, SENT, run_id, submitted_at),
                )
                self._db.execute(
                    "UPDATE records SET submission = ? WHERE task_id = ? AND status = ?",
                    (key, task_id, SUBMITTED),
                )
            self._db.execute("DROP TABLE tasks")

    def _check_site(self, site: str) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'site'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta (key, value) VALUES ('site', ?)", (site,))
            return
        stored = row[0]
        if "|" in stored and stored.rsplit("|", 1)[1] == site:
            # The first layout keyed the site on "<base_url>|<cloud id>": keep the cloud id.
            self._db.execute("UPDATE meta SET value = ? WHERE key = 'site'", (site,))
        elif stored != site:
            shown = stored.rsplit("|", 1)[-1]
            msg = (
                f"The ledger {self.path} belongs to CSM site (cloud id) {shown!r}, not {site!r}: "
                "set ledger_path to another file for this site."
            )
            raise LedgerSiteMismatch(msg)

    # ------------------------------------------------------------------------ reads
    def get(self, entity: str, key: str) -> LedgerRow | None:
        """The row for one customer (key: email) or organization (key: name), case-folded."""
        return self.rows(entity, [key]).get(key)

    def rows(self, entity: str, keys: Iterable[str]) -> dict[str, LedgerRow]:
        """The rows of many keys of one entity (one query per 500 keys)."""
        wanted = list(dict.fromkeys(keys))
        out: dict[str, LedgerRow] = {}
        with self._lock:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for row in self._db.execute(
                    f"SELECT key, {_ROW_COLUMNS} FROM records "  # noqa: S608 (placeholders only)
                    f"WHERE entity = ? AND key IN ({marks})",
                    (entity, *chunk),
                ):
                    out[row[0]] = LedgerRow(*row[1:])
        return out

    def key_for_source(self, entity: str, stream: str, source_id: str) -> str | None:
        """The key of the record a source stream's id was loaded as."""
        key = self.source_key(entity, stream, source_id)
        if key is not None:
            return key
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

    def open_submissions(self) -> list[OpenSubmission]:
        """Submissions an earlier run did not see end, oldest first."""
        with self._lock:
            found = self._db.execute(
                "SELECT key, entity, phase, endpoint, body, items, task_id FROM submissions "
                "WHERE status != ? ORDER BY created_at",
                (ENDED,),
            ).fetchall()
        out = []
        for key, entity, phase, endpoint, body, items, task_id in found:
            keys = json.loads(items)
            rows = self.rows(entity, keys)
            out.append(OpenSubmission(key, entity, phase, endpoint, body, keys, task_id, rows))
        return out

    def all_records(self) -> list[tuple[str, str, str, str | None, str | None]]:
        """(entity, key, status, confirmed semantic JSON, CSM id) of every record, in order."""
        with self._lock:
            return self._db.execute(
                "SELECT entity, key, status, confirmed_payload, csm_id FROM records "
                "ORDER BY entity, key"
            ).fetchall()

    def deferred_associations(self) -> list[tuple[str, str]]:
        """(customer key, organization token) pairs waiting for their organization."""
        with self._lock:
            return [
                (r[0], r[1])
                for r in self._db.execute(
                    "SELECT customer_key, org_token FROM deferred_associations"
                )
            ]

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
                # Runs of one statement (a row per record) go as one executemany, in order.
                for sql, run in itertools.groupby(statements, key=operator.itemgetter(0)):
                    self._db.executemany(sql, [params for _, params in run])
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def prepare(
        self,
        *,
        key: str,
        entity: str,
        phase: str,
        endpoint: str,
        body: bytes,
        ops: Sequence[Any],
    ) -> None:
        """Record a submission and its records before the request goes out."""
        now = time.time()
        statements: list[tuple[str, Sequence[Any]]] = [
            (
                "INSERT INTO submissions (key, entity, phase, endpoint, body, items, status, "
                "run_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    entity,
                    phase,
                    endpoint,
                    body,
                    json.dumps([op.key for op in ops]),
                    PREPARED,
                    self.run_id,
                    now,
                ),
            )
        ]
        statements += [
            (
                "INSERT INTO records (entity, key, stream, source_id, payload_hash, payload, "
                "status, run_id, updated_at, submission) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (entity, key) DO UPDATE SET stream = excluded.stream, "
                "source_id = COALESCE(excluded.source_id, records.source_id), "
                "payload_hash = excluded.payload_hash, payload = excluded.payload, "
                "status = excluded.status, run_id = excluded.run_id, reason = NULL, "
                "updated_at = excluded.updated_at, submission = excluded.submission",
                (
                    op.entity,
                    op.key,
                    op.stream,
                    op.source_id,
                    op.payload_hash,
                    op.semantic_text,
                    SUBMITTED,
                    self.run_id,
                    now,
                    key,
                ),
            )
            for op in ops
        ]
        statements += _source_rows(ops)
        self._write(statements)

    def rekeyed(self, old: str, new: str) -> None:
        """The submission goes out under a new key (the old one created no task)."""
        self._write(
            [
                ("UPDATE submissions SET key = ? WHERE key = ?", (new, old)),
                ("UPDATE records SET submission = ? WHERE submission = ?", (new, old)),
            ]
        )

    def submitted(self, key: str, task_id: str) -> None:
        """CSM answered the submission with a task."""
        self._write(
            [
                (
                    "UPDATE submissions SET task_id = ?, status = ? WHERE key = ?",
                    (task_id, SENT, key),
                )
            ]
        )

    def settle(
        self,
        key: str | None,
        *,
        confirmed: Sequence[Any] = (),
        failed: Sequence[tuple[Any, str]] = (),
        ended: bool = False,
        history: Sequence[tuple[Any, str, str | None]] = (),
        created: Sequence[Any] = (),
    ) -> None:
        """Record the outcome of records (of submission ``key``, or settled without one).

        Confirmed records keep what was sent as what CSM holds. With ``ended`` the submission
        is over: its records that are neither confirmed nor failed here go out again in
        another submission. ``history`` (operation, ``created``/``updated``, what CSM held
        before as far as the ledger knows) is what this run did, for rollback.
        ``created`` records were looked up in CSM before this target first wrote them and were
        not there: only they are marked as created by it (so only they may be deleted by it,
        by ``delete_policy: delete`` or a rollback). A record first written without looking
        is not: CSM may have held it.
        """
        ours = {id(op) for op in created}
        now = time.time()
        statements: list[tuple[str, Sequence[Any]]] = [
            (
                "INSERT INTO history (run_id, entity, key, action, before, after, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (self.run_id, op.entity, op.key, action, before, op.semantic_text, now),
            )
            for op, action, before in history
        ]
        for op in confirmed:
            statements.append(
                (
                    "INSERT INTO records (entity, key, stream, source_id, payload_hash, payload, "
                    "status, run_id, updated_at, confirmed_payload, created_run) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (entity, key) DO UPDATE SET stream = excluded.stream, "
                    "source_id = COALESCE(excluded.source_id, records.source_id), "
                    "payload_hash = excluded.payload_hash, payload = excluded.payload, "
                    "status = excluded.status, run_id = excluded.run_id, reason = NULL, "
                    "updated_at = excluded.updated_at, submission = NULL, "
                    "confirmed_payload = excluded.payload, "
                    "created_run = COALESCE(records.created_run, excluded.created_run)",
                    (
                        op.entity,
                        op.key,
                        op.stream,
                        op.source_id,
                        op.payload_hash,
                        op.semantic_text,
                        CONFIRMED,
                        self.run_id,
                        now,
                        op.semantic_text,
                        self.run_id if id(op) in ours else None,
                    ),
                )
            )
        for op, reason in failed:
            statements.append(
                (
                    "INSERT INTO records (entity, key, stream, source_id, payload_hash, payload, "
                    "status, run_id, reason, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (entity, key) DO UPDATE SET stream = excluded.stream, "
                    "source_id = COALESCE(excluded.source_id, records.source_id), "
                    "payload_hash = excluded.payload_hash, payload = excluded.payload, "
                    "status = excluded.status, run_id = excluded.run_id, "
                    "reason = excluded.reason, updated_at = excluded.updated_at, "
                    "submission = NULL",
                    (
                        op.entity,
                        op.key,
                        op.stream,
                        op.source_id,
                        op.payload_hash,
                        op.semantic_text,
                        FAILED,
                        self.run_id,
                        reason,
                        now,
                    ),
                )
            )
        if key is not None and ended:
            statements.append(
                (
                    "UPDATE submissions SET status = ?, ended_at = ?, body = NULL WHERE key = ?",
                    (ENDED, now, key),
                )
            )
        self._write(statements)

    def mark_deleted(self, ops: Sequence[tuple[Any, str | None]]) -> None:
        """Records deleted in CSM (operation, what CSM held before as the ledger knows it)."""
        now = time.time()
        statements: list[tuple[str, Sequence[Any]]] = []
        for op, before in ops:
            statements += [
                (
                    "UPDATE records SET status = ?, run_id = ?, reason = NULL, updated_at = ?, "
                    "submission = NULL, confirmed_payload = NULL, csm_id = NULL "
                    "WHERE entity = ? AND key = ?",
                    (DELETED, self.run_id, now, op.entity, op.key),
                ),
                (
                    "INSERT INTO history (run_id, entity, key, action, before, after, at) "
                    "VALUES (?, ?, ?, 'deleted', ?, NULL, ?)",
                    (self.run_id, op.entity, op.key, before, now),
                ),
            ]
            if op.entity == "organization":
                statements.append(("DELETE FROM organization_ids WHERE name_key = ?", (op.key,)))
            statements.append(
                ("DELETE FROM sources WHERE entity = ? AND key = ?", (op.entity, op.key))
            )
        self._write(statements)

    def other_sources(self, entity: str, key: str, stream: str, source_id: str) -> list[str]:
        """Source records besides ``stream/source_id`` that loaded into ``key`` (``stream/id``)."""
        with self._lock:
            found = self._db.execute(
                "SELECT stream, source_id FROM sources WHERE entity = ? AND key = ? "
                "AND NOT (stream = ? AND source_id = ?) ORDER BY stream, source_id",
                (entity, key, stream, source_id),
            ).fetchall()
        return [f"{s}/{i}" for s, i in found]

    def has_sources(self) -> bool:
        """Whether any source record was written before (a first load has none)."""
        with self._lock:
            return self._db.execute("SELECT 1 FROM sources LIMIT 1").fetchone() is not None

    def source_key(self, entity: str, stream: str, source_id: str) -> str | None:
        """The key a source record loaded into last (None: never loaded, or deleted)."""
        with self._lock:
            row = self._db.execute(
                "SELECT key FROM sources WHERE entity = ? AND stream = ? AND source_id = ?",
                (entity, stream, source_id),
            ).fetchone()
        return row[0] if row else None

    def drop_source(self, entity: str, stream: str, source_id: str) -> None:
        """A source record deleted in the source no longer loads into its CSM record."""
        self._write(
            [
                (
                    "DELETE FROM sources WHERE entity = ? AND stream = ? AND source_id = ?",
                    (entity, stream, source_id),
                )
            ]
        )

    def end_submission(self, key: str) -> None:
        """The submission is over (its records were settled or resubmitted elsewhere)."""
        self._write(
            [
                (
                    "UPDATE submissions SET status = ?, ended_at = ?, body = NULL WHERE key = ?",
                    (ENDED, time.time(), key),
                )
            ]
        )

    def mark_unknown(self, entity: str, keys: Iterable[str], reason: str) -> None:
        """Records whose outcome cannot be known: resent when they are read again."""
        now = time.time()
        self._write(
            [
                (
                    "UPDATE records SET status = ?, reason = ?, updated_at = ?, submission = NULL "
                    "WHERE entity = ? AND key = ?",
                    (FAILED, reason, now, entity, key),
                )
                for key in keys
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

    def forget_organization_id(self, csm_id: str) -> list[str]:
        """CSM no longer knows this id: drop it; return the names it stood for."""
        with self._lock:
            names = [
                r[0]
                for r in self._db.execute(
                    "SELECT name_key FROM organization_ids WHERE csm_id = ?", (csm_id,)
                )
            ]
        self._write([("DELETE FROM organization_ids WHERE csm_id = ?", (csm_id,))])
        return names

    def set_customer_ids(self, found: Iterable[tuple[str, str]]) -> None:
        """Remember CSM customer ids by case-folded email."""
        self._write(
            [
                (
                    "UPDATE records SET csm_id = ? WHERE entity = 'customer' AND key = ?",
                    (csm_id, key),
                )
                for key, csm_id in found
            ]
        )

    def defer_associations(self, pairs: Iterable[tuple[str, str]]) -> None:
        """A customer was loaded without an organization nobody has described yet."""
        self._write(
            [
                (
                    "INSERT OR IGNORE INTO deferred_associations (customer_key, org_token, "
                    "run_id) VALUES (?, ?, ?)",
                    (customer, token, self.run_id),
                )
                for customer, token in pairs
            ]
        )

    def drop_deferred(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Deferred associations that have been sent (or given up)."""
        self._write(
            [
                (
                    "DELETE FROM deferred_associations WHERE customer_key = ? AND org_token = ?",
                    pair,
                )
                for pair in pairs
            ]
        )

    def save_schema(self, stream: str, schema: dict[str, Any], key_properties: Any) -> None:
        """A stream's latest SCHEMA, so that dead letters can be retried without the tap."""
        self._write(
            [
                (
                    "INSERT OR REPLACE INTO schemas (stream, schema, key_properties, updated_at) "
                    "VALUES (?, ?, ?, ?)",
                    (stream, json.dumps(schema), json.dumps(key_properties), time.time()),
                )
            ]
        )

    def schema(self, stream: str) -> tuple[dict[str, Any], list[str] | None] | None:
        """The saved SCHEMA of a stream: (schema, key properties)."""
        with self._lock:
            row = self._db.execute(
                "SELECT schema, key_properties FROM schemas WHERE stream = ?", (stream,)
            ).fetchone()
        return (json.loads(row[0]), json.loads(row[1]) if row[1] else None) if row else None

    def runs(self) -> list[dict[str, Any]]:
        """Every run, oldest first: id, start, end and its summary."""
        with self._lock:
            found = self._db.execute(
                "SELECT run_id, started_at, finished_at, summary FROM runs ORDER BY started_at"
            ).fetchall()
        return [
            {
                "run_id": run_id,
                "started_at": started,
                "finished_at": finished,
                "summary": json.loads(summary) if summary else None,
            }
            for run_id, started, finished, summary in found
        ]

    def run_history(self, run_id: str) -> list[dict[str, Any]]:
        """What a run did to each record: action, and the semantic form before and after."""
        with self._lock:
            found = self._db.execute(
                "SELECT entity, key, action, before, after, at FROM history WHERE run_id = ? "
                "ORDER BY at",
                (run_id,),
            ).fetchall()
        return [
            {
                "entity": entity,
                "key": key,
                "action": action,
                "before": json.loads(before) if before else None,
                "after": json.loads(after) if after else None,
                "at": at,
            }
            for entity, key, action, before, after, at in found
        ]

    def finish_run(self, summary: dict[str, Any]) -> None:
        """Store the run's summary."""
        self._write(
            [
                (
                    "UPDATE runs SET finished_at = ?, summary = ? WHERE run_id = ?",
                    (time.time(), json.dumps(summary, default=str), self.run_id),
                )
            ]
        )

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()
