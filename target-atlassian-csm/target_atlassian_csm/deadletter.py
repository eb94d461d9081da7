"""The dead-letter file: one JSON line per record that did not land, with the reason.

Lines carry the stream, the source id, the CSM identity (email or name), the task that
reported the failure and the record itself, so a person can fix the source or the mapping
and replay just those records. Warnings (a record that landed without something, such as an
association to an organization that never appeared) go to the same file with
``"severity": "warning"``, naming the record without a copy of it (it landed). The file is
created owner-only and only when there is a line to write.

Lines are appended as records fail (a crash loses none), and :meth:`DeadLetters.compact`
then keeps *one current entry per record*: the latest error and the latest warning of each
record (by entity and identity, else stream and source id), dropping those that later
endings made stale (the record landed, was found unchanged, deleted or skipped; the
association a warning is about was made). A record dead-lettered in every incremental run is
one line, not one per run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from target_atlassian_csm.files import private_path

#: Characters other than \n that str.splitlines() and many JSONL readers break lines at.
LINE_BREAKS = ("\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


class DeadLetters:
    """Append-only, thread-safe writer of the dead-letter file."""

    def __init__(self, path: str | Path, *, enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self.errors = 0
        self.warnings = 0

    def write(
        self,
        *,
        reason: str,
        stream: str | None,
        record: Any = None,
        source_id: str | None = None,
        entity: str | None = None,
        identity: str | None = None,
        task_id: str | None = None,
        line: int | None = None,
        severity: str = "error",
        category: str | None = None,
    ) -> None:
        """Append one line (``category``: failed, or rejected for records that can never load)."""
        entry = {
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "severity": severity,
            "category": category or ("failed" if severity == "error" else "warning"),
            "stream": stream,
            "source_id": source_id,
            "entity": entity,
            "identity": identity,
            "reason": reason,
            "task_id": task_id,
            "line": line,
            "record": record,
        }
        text = _line(entry)
        with self._lock:
            if severity == "error":
                self.errors += 1
            else:
                self.warnings += 1
            if not self.enabled:
                return
            if self._file is None:
                self._file = private_path(self.path).open("a", encoding="utf-8")
            self._file.write(text + "\n")
            self._file.flush()

    def entries(self) -> list[dict[str, Any]]:
        """The entries in the file now (unreadable lines left out)."""
        with self._lock:
            if not self.enabled or not self.path.exists():
                return []
            out = []
            for raw in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(entry, dict):
                    out.append(entry)
            return out

    def compact(self, stale: Callable[[dict[str, Any]], bool]) -> int:
        """Keep one current entry per record (see module docstring); return lines kept.

        ``stale(entry)`` says whether a later ending of the entry's record made it obsolete.
        """
        with self._lock:
            if not self.enabled or not self.path.exists():
                return 0
            if self._file is not None:
                self._file.close()
                self._file = None
            latest: dict[tuple[Any, ...], dict[str, Any]] = {}
            for number, raw in enumerate(self.path.read_text(encoding="utf-8").splitlines()):
                try:
                    entry = json.loads(raw)
                except ValueError:
                    entry = {"severity": "error", "reason": "unreadable line", "record": raw}
                if not isinstance(entry, dict):
                    continue
                latest.pop(record_key(entry, number), None)  # re-insert: keep file order
                latest[record_key(entry, number)] = entry
            kept = [e for e in latest.values() if not stale(e)]
            temporary = self.path.with_name(self.path.name + ".compacting")
            fd = os.open(temporary, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.writelines(_line(e) + "\n" for e in kept)
            os.replace(temporary, self.path)
            return len(kept)

    def close(self) -> None:
        """Close the file if it was opened."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def _line(entry: dict[str, Any]) -> str:
    text = json.dumps(entry, default=_default, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: keep it as a JSON escape
        text = json.dumps(entry, default=_default, ensure_ascii=True)
    for char in LINE_BREAKS:  # legal in JSON strings, but line breaks to splitlines()
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


def record_key(entry: dict[str, Any], number: int) -> tuple[Any, ...]:
    """Which record an entry is about: entity and identity, else stream and source id.

    A rejected record's identity is no CSM record's (an invalid email, say, that two source
    records may share): it is told apart by its source id when it has one.
    """
    severity = entry.get("severity") or "error"
    identity = entry.get("identity")
    if entry.get("category") == "rejected" and entry.get("source_id") is not None:
        return (severity, entry.get("stream"), str(entry["source_id"]))
    if identity:
        return (severity, entry.get("entity"), str(identity).casefold())
    if entry.get("source_id") is not None:
        return (severity, entry.get("stream"), str(entry["source_id"]))
    if entry.get("record") is not None:  # the same unreadable line, run after run
        content = json.dumps(entry["record"], sort_keys=True, default=str)
        return (severity, entry.get("stream"), content, entry.get("line"))
    return (severity, "line", number)
