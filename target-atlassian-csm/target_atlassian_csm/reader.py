"""A Singer message reader that counts lines and survives malformed ones.

A line that is not JSON, is not a message object, lacks the keys its type needs, has an
unknown type, or is a RECORD of a stream whose SCHEMA has not come yet, is written to the
dead-letter file with its line number and skipped, instead of ending the run: one garbled
line must not lose the good records around it, and the SDK would otherwise stop on it with
a message that names neither the line nor the record. The line counter also lets every
dead-letter entry name the input line of its record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from singer_sdk.singerlib.encoding.simple import SimpleSingerReader
from singer_sdk.singerlib.json import deserialize_json

MALFORMED = "_MALFORMED_LINE"
KNOWN_TYPES = frozenset({"RECORD", "SCHEMA", "STATE", "ACTIVATE_VERSION", "BATCH"})


class CountingReader(SimpleSingerReader):
    """SimpleSingerReader plus a line counter and a hook for malformed lines."""

    def __init__(self) -> None:
        super().__init__()
        self.line_number = 0
        self.on_malformed: Callable[[int, str, str], None] | None = None
        self._streams_with_schema: set[str] = set()

    def deserialize_json(self, line: str) -> dict:
        """Parse one line; a malformed one becomes a marker message."""
        self.line_number += 1
        try:
            parsed = deserialize_json(line) if line.strip() else None
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, an invalid number
            self._report(line, f"malformed JSON: {exc}")
            return {"type": MALFORMED}
        if not isinstance(parsed, dict):
            if parsed is not None:
                self._report(line, "line is JSON but not a message object")
            return {"type": MALFORMED}
        problem = self._problem(parsed)
        if problem is not None:
            self._report(line, problem)
            return {"type": MALFORMED}
        return parsed

    def _problem(self, message: dict[str, Any]) -> str | None:
        """What makes a parsed message unusable, or None (also learns SCHEMA'd streams)."""
        kind = message.get("type")
        if kind not in KNOWN_TYPES:
            return f"unknown Singer message type {kind!r}"
        stream = message.get("stream")
        if kind == "SCHEMA":
            schema = message.get("schema")
            if not isinstance(stream, str) or not isinstance(schema, dict):
                return "SCHEMA message without a stream name or a schema object"
            if not isinstance(schema.get("properties", {}), dict):
                return f"SCHEMA of stream {stream!r} has no properties object"
            self._streams_with_schema.add(stream)
        elif kind == "RECORD":
            if not isinstance(stream, str) or not isinstance(message.get("record"), dict):
                return "RECORD message without a stream name or a record object"
            if stream not in self._streams_with_schema:
                return f"RECORD of stream {stream!r} before any SCHEMA for it"
        elif kind == "STATE" and not isinstance(message.get("value"), dict):
            return "STATE message without a value object"
        return None

    def _report(self, line: str, reason: str) -> None:
        if self.on_malformed is not None:
            self.on_malformed(self.line_number, line, reason)

    def _process_unknown_message(self, message_dict: dict) -> None:
        if message_dict.get("type") == MALFORMED:
            return
        super()._process_unknown_message(message_dict)


def truncate(line: str, limit: int = 2000) -> str:
    """Keep dead-letter lines bounded."""
    line = line.rstrip("\n")
    return line if len(line) <= limit else line[:limit] + f"... ({len(line)} chars)"


__all__ = ["MALFORMED", "CountingReader", "truncate"]
