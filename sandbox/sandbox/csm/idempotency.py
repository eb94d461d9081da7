"""Idempotency keys of bulk requests (reference §6).

A key remembers the request it first came with (endpoint and body) and its outcome: the
task it created, or the whole-request 400 it got. The same key with the same request
replays that outcome; with another request it is refused. Refusals that create no task
(401, 412, 429, a full task cap) are never remembered, so a retry after them is a new try.

Bodies are compared as parsed JSON (key order and whitespace do not matter); a body that
is not JSON is compared byte for byte. A key longer than :data:`MAX_KEY_LENGTH` is refused
(the docs give no limit; a SHA-256 hex or a UUID fits easily).

Retention (undocumented, §6): a key is kept for ``idempotency_retention_seconds`` of the
sandbox clock from its first request (default 24 h); replays do not extend it. Within the
window the same key and body get the stored outcome, even after the task finished; after it
the key is forgotten and the same request makes a new task. Expired keys are dropped in
creation order, so pruning costs only what expired.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

MAX_KEY_LENGTH = 255
CLASH_MESSAGE = (
    "Idempotency-Key {key} was used with different request data: "
    "a key can only be retried with the same request data"
)


def fingerprint(endpoint: str, raw: bytes) -> str:
    """What makes two requests "the same": the endpoint and the canonical body."""
    try:
        body = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"))
    except ValueError:
        body = raw.decode("utf-8", errors="replace")
    return f"{endpoint}\n{body}"


@dataclass(frozen=True)
class Outcome:
    """What a key's first request produced: a task id or a 400 message."""

    fingerprint: str
    task_id: str | None = None
    error: str | None = None
    at: float = 0.0


class IdempotencyStore:
    """Key → outcome, for a retention window."""

    def __init__(self) -> None:
        self._outcomes: dict[str, Outcome] = {}
        self.expired = 0

    def prune(self, now: float, retention: float) -> None:
        """Forget the keys first used ``retention`` seconds or more before ``now``."""
        while self._outcomes:
            key, oldest = next(iter(self._outcomes.items()))
            if now - oldest.at < retention:
                return
            del self._outcomes[key]
            self.expired += 1

    def get(self, key: str) -> Outcome | None:
        """The remembered outcome of ``key`` (call :meth:`prune` first)."""
        return self._outcomes.get(key)

    def remember(self, key: str, outcome: Outcome) -> None:
        """Keep ``outcome`` under ``key`` (``outcome.at`` never goes back in time)."""
        self._outcomes[key] = outcome

    def __len__(self) -> int:
        return len(self._outcomes)
