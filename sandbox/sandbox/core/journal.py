"""The request journal: every request a sandbox received, for tests to read back.

Secrets are redacted on the way in, so a journal dump can be scanned for leaked tokens
without itself being a leak.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

REDACTED_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})


@dataclass
class JournalEntry:
    """One request as the sandbox saw it, and what it answered."""

    seq: int
    at: float
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any = None
    status: int | None = None
    fault: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable copy."""
        return asdict(self)


class RequestJournal:
    """A thread-safe, optionally bounded log of requests.

    ``keep_bodies`` can be switched off for benchmarks that send hundreds of thousands of
    requests, where storing every body would measure the journal instead of the client.
    """

    def __init__(self, *, keep_bodies: bool = True, max_entries: int | None = None) -> None:
        self.keep_bodies = keep_bodies
        self._entries: deque[JournalEntry] = deque(maxlen=max_entries)
        self._lock = threading.Lock()
        self._seq = 0
        self.total = 0

    def record(
        self,
        *,
        at: float,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        raw_body: bytes,
    ) -> JournalEntry:
        """Add a request and return its entry (status is filled in later)."""
        clean = {
            k: ("<redacted>" if k.lower() in REDACTED_HEADERS else v) for k, v in headers.items()
        }
        body: Any = None
        if self.keep_bodies and raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                body = raw_body.decode("utf-8", errors="replace")
        with self._lock:
            self._seq += 1
            self.total += 1
            entry = JournalEntry(
                seq=self._seq,
                at=at,
                method=method,
                path=path,
                query=query,
                headers=clean,
                body=body,
            )
            self._entries.append(entry)
            return entry

    def entries(self) -> list[JournalEntry]:
        """Return a snapshot of the entries, oldest first."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        """Forget every entry (the running total is kept)."""
        with self._lock:
            self._entries.clear()
