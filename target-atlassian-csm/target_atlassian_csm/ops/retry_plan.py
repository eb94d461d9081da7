"""What ``retry`` would re-feed: pure decisions over the dead-letter file's entries.

An entry can be retried when it is an error (warnings are about records that landed), it
carries the record as an object, and the ledger kept its stream's SCHEMA. Entries that cannot
be retried say why: a malformed input line (only its text was kept), an entry the target made
itself rather than read (an organization created for a reference, an association made late:
no record), a stream whose schema was never saved. The Singer messages built for a retry are
each stream's saved SCHEMA followed by its records, organization streams first (customers may
reference them), and never a STATE: a retry is not a tap run and must not move bookmarks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from target_atlassian_csm.deadletter import record_key
from target_atlassian_csm.operations import ORGANIZATION

Schema = tuple[dict[str, Any], list[str] | None]

MALFORMED = "malformed input line: only its text was kept, fix the source and rerun the tap"
NO_RECORD = "no record: the target made this entry itself (rerun the load of its records)"
NO_STREAM = "no stream named"


def no_schema(stream: str) -> str:
    """Why a stream's entries cannot be retried."""
    return f"no saved schema for stream {stream!r} (run the load once with this version)"


@dataclass(frozen=True)
class Entry:
    """One line of the dead-letter file, with its position (which :func:`record_key` uses)."""

    data: dict[str, Any]
    number: int

    @property
    def key(self) -> tuple[Any, ...]:
        """Which record the entry is about."""
        return record_key(self.data, self.number)

    @property
    def stream(self) -> str | None:
        """The stream of the record."""
        stream = self.data.get("stream")
        return str(stream) if stream else None

    @property
    def reason(self) -> str:
        """Why it did not land."""
        return str(self.data.get("reason") or "")

    def label(self) -> str:
        """The record, as a person finds it: stream and source id, else email or name."""
        who = self.data.get("source_id") or self.data.get("identity")
        if who is None and self.data.get("line") is not None:
            who = f"input line {self.data['line']}"
        return f"{self.stream or '(no stream)'}/{who if who is not None else '?'}"


@dataclass
class Plan:
    """Entries to retry, and those that cannot be, with why."""

    retry: list[Entry] = field(default_factory=list)
    cannot: list[tuple[Entry, str]] = field(default_factory=list)

    def groups(self) -> dict[tuple[str, str], list[Entry]]:
        """Entries to retry by (stream, reason), in file order."""
        out: dict[tuple[str, str], list[Entry]] = {}
        for entry in self.retry:
            out.setdefault((entry.stream or "", entry.reason), []).append(entry)
        return out


def read_entries(path: Path) -> list[Entry]:
    """Every entry of the dead-letter file (an unreadable line is an error entry of its own)."""
    if not path.exists():
        return []
    entries = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            data = {"severity": "error", "reason": "unreadable line", "record": raw}
        if isinstance(data, dict):
            entries.append(Entry(data, number))
    return entries


def select(
    entries: Iterable[Entry], *, streams: Sequence[str] = (), reason_contains: str | None = None
) -> list[Entry]:
    """The current error entries (one per record: the last), filtered by stream and reason."""
    wanted = (reason_contains or "").casefold()
    latest: dict[tuple[Any, ...], Entry] = {}
    for entry in entries:
        if (entry.data.get("severity") or "error") != "error":
            continue
        if streams and entry.stream not in streams:
            continue
        if wanted and wanted not in entry.reason.casefold():
            continue
        latest.pop(entry.key, None)
        latest[entry.key] = entry
    return list(latest.values())


def plan(entries: Iterable[Entry], schema_of: Callable[[str], Schema | None]) -> Plan:
    """Which entries can be retried, and why the others cannot."""
    out = Plan()
    for entry in entries:
        record = entry.data.get("record")
        if record is None:
            out.cannot.append((entry, NO_RECORD))
        elif not isinstance(record, dict):
            out.cannot.append((entry, MALFORMED))
        elif entry.stream is None:
            out.cannot.append((entry, NO_STREAM))
        elif schema_of(entry.stream) is None:
            out.cannot.append((entry, no_schema(entry.stream)))
        else:
            out.retry.append(entry)
    return out


def messages(entries: Sequence[Entry], schema_of: Callable[[str], Schema | None]) -> list[dict]:
    """SCHEMA and RECORD messages re-feeding ``entries`` (see module docstring)."""
    streams: dict[str, list[Entry]] = {}
    for entry in entries:
        streams.setdefault(entry.stream or "", []).append(entry)

    def organizations_first(stream: str) -> int:
        return 0 if any(e.data.get("entity") == ORGANIZATION for e in streams[stream]) else 1

    out: list[dict] = []
    for stream in sorted(streams, key=organizations_first):
        schema = schema_of(stream)
        if schema is None:
            continue
        out.append(
            {
                "type": "SCHEMA",
                "stream": stream,
                "schema": schema[0],
                "key_properties": schema[1] or [],
            }
        )
        out += [
            {"type": "RECORD", "stream": stream, "record": e.data["record"]}
            for e in streams[stream]
        ]
    return out


def remaining(retried: Iterable[Entry], after: Iterable[Entry]) -> dict[tuple[Any, ...], Entry]:
    """The current error entry of each retried record that is still dead-lettered."""
    current = {entry.key: entry for entry in select(after)}
    return {entry.key: current[entry.key] for entry in retried if entry.key in current}
