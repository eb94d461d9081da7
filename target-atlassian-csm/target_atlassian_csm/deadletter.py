"""The dead-letter file: one JSON line per record that did not land, with the reason.

Lines carry the stream, the source id, the CSM identity (email or name), the task that
reported the failure and the record itself, so a person can fix the source or the mapping
and replay just those records. Warnings (a record that landed without something, such as an
association to an organization that never appeared) go to the same file with
``"severity": "warning"``. The file is created owner-only and only when there is a line to
write.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
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
    ) -> None:
        """Append one line."""
        entry = {
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "severity": severity,
            "stream": stream,
            "source_id": source_id,
            "entity": entity,
            "identity": identity,
            "reason": reason,
            "task_id": task_id,
            "line": line,
            "record": record,
        }
        text = json.dumps(entry, default=_default, ensure_ascii=False)
        for char in LINE_BREAKS:  # legal in JSON strings, but line breaks to splitlines()
            text = text.replace(char, f"\\u{ord(char):04x}")
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

    def close(self) -> None:
        """Close the file if it was opened."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
