"""A Singer message reader that counts lines and survives malformed ones.

A line that is not JSON is written to the dead-letter file with its line number and skipped,
instead of ending the run: one garbled line must not lose the good records around it. The
line counter also lets every dead-letter entry name the input line of its record.
"""

from __future__ import annotations

from collections.abc import Callable

from singer_sdk.singerlib.encoding.simple import SimpleSingerReader
from singer_sdk.singerlib.json import deserialize_json

MALFORMED = "_MALFORMED_LINE"


class CountingReader(SimpleSingerReader):
    """SimpleSingerReader plus a line counter and a hook for malformed lines."""

    def __init__(self) -> None:
        super().__init__()
        self.line_number = 0
        self.on_malformed: Callable[[int, str, str], None] | None = None

    def deserialize_json(self, line: str) -> dict:
        """Parse one line; a malformed one becomes a marker message."""
        self.line_number += 1
        try:
            parsed = deserialize_json(line) if line.strip() else None
        except ValueError as exc:  # JSONDecodeError, or an invalid number
            if self.on_malformed is not None:
                self.on_malformed(self.line_number, line, f"malformed JSON: {exc}")
            return {"type": MALFORMED}
        if not isinstance(parsed, dict):
            if parsed is not None and self.on_malformed is not None:
                self.on_malformed(self.line_number, line, "line is JSON but not a message object")
            return {"type": MALFORMED}
        return parsed

    def _process_unknown_message(self, message_dict: dict) -> None:
        if message_dict.get("type") == MALFORMED:
            return
        super()._process_unknown_message(message_dict)


def truncate(line: str, limit: int = 2000) -> str:
    """Keep dead-letter lines bounded."""
    line = line.rstrip("\n")
    return line if len(line) <= limit else line[:limit] + f"... ({len(line)} chars)"


__all__ = ["MALFORMED", "CountingReader", "truncate"]
