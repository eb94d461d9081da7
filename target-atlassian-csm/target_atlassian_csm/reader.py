r"""A Singer message reader that counts lines and survives malformed ones.

A line that is not UTF-8, not JSON, not a message object (``null`` included), lacks the keys
its type needs, has an unknown type, or is a RECORD of a stream whose SCHEMA has not come
yet, is written to the dead-letter file with its line number and skipped, instead of ending
the run: one garbled line must not lose the good records around it, and the SDK would
otherwise stop on it with a message that names neither the line nor the record. A UTF-8
byte-order mark before the first line is ignored.

**Repair rule.** JSON may escape a lone UTF-16 surrogate (``"\\ud800"``): it parses, but no
UTF-8 text can carry it, so the request body could never be built. Each lone surrogate in a
message is replaced by U+FFFD (the replacement character) and the record is loaded with a
warning naming the fields repaired (:attr:`CountingReader.repairs`).
"""

from __future__ import annotations

import decimal
import io
import json
import re
import sys
from collections.abc import Callable
from typing import IO, Any

from singer_sdk.singerlib.encoding.simple import SimpleSingerReader

MALFORMED = "_MALFORMED_LINE"
KNOWN_TYPES = frozenset({"RECORD", "SCHEMA", "STATE", "ACTIVATE_VERSION", "BATCH"})
BOM = "\ufeff"
#: The SDK's reading of a line (floats as Decimal), with one decoder for the run instead of
#: one per line (``json.loads`` with ``parse_float`` builds a decoder each call).
_DECODER = json.JSONDecoder(parse_float=decimal.Decimal)
#: Bytes that are not UTF-8 arrive as lone surrogates U+DC80..U+DCFF (``surrogateescape``).
_UNDECODABLE = re.compile("[\udc80-\udcff]")
#: A JSON escape of a surrogate: only then can a parsed string hold a lone one.
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def _repair(value: Any, path: str, repaired: list[str]) -> Any:
    """``value`` with lone surrogates replaced; the paths changed are added to ``repaired``."""
    if isinstance(value, str):
        if _LONE_SURROGATE.search(value):
            repaired.append(path or "(value)")
            return _LONE_SURROGATE.sub(REPLACEMENT, value)
        return value
    if isinstance(value, dict):
        return {
            _repair(k, path, repaired) if isinstance(k, str) else k: _repair(
                v, f"{path}.{k}" if path else str(k), repaired
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_repair(v, f"{path}[{i}]", repaired) for i, v in enumerate(value)]
    return value


class CountingReader(SimpleSingerReader):
    """SimpleSingerReader plus a line counter, a hook for malformed lines, and repairs."""

    def __init__(self) -> None:
        super().__init__()
        self.line_number = 0
        self.on_malformed: Callable[[int, str, str], None] | None = None
        #: Fields of the last message whose lone surrogates were replaced (see module doc).
        self.repairs: list[str] = []
        self._streams_with_schema: set[str] = set()

    @property
    def default_input(self) -> IO[str]:  # type: ignore[override]
        """Standard input decoded leniently: undecodable bytes are reported, not fatal."""
        return io.TextIOWrapper(
            sys.stdin.buffer, encoding="utf-8", errors="surrogateescape", newline="\n"
        )

    def deserialize_json(self, line: str) -> dict:
        """Parse one line; a malformed one becomes a marker message."""
        self.line_number += 1
        self.repairs = []
        if line.startswith(BOM):
            line = line[1:]
        bad = _UNDECODABLE.search(line)
        if bad is not None:
            self._report(
                line, f"the line is not UTF-8 (undecodable byte at character {bad.start()})"
            )
            return {"type": MALFORMED}
        try:
            parsed = _DECODER.decode(line) if line.strip() else None
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, an invalid number
            self._report(line, f"malformed JSON: {exc}")
            return {"type": MALFORMED}
        if not isinstance(parsed, dict):
            if line.strip():
                self._report(line, "line is JSON but not a message object")
            return {"type": MALFORMED}
        if _ESCAPED_SURROGATE.search(line):
            parsed = _repair(parsed, "", self.repairs)
            self.repairs = [p.removeprefix("record.") for p in self.repairs]
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
    """Keep dead-letter lines bounded, and writable (undecodable bytes as escapes)."""
    line = line.rstrip("\n").encode("utf-8", "backslashreplace").decode("utf-8")
    return line if len(line) <= limit else line[:limit] + f"... ({len(line)} chars)"


__all__ = ["MALFORMED", "CountingReader", "truncate"]
