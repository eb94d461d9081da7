"""Run the tap in-process and collect what it emits."""

from __future__ import annotations

import contextlib
import io
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from tap_kustomer.tap import TapKustomer

API_KEY = "sandbox-kustomer-key"


def tap_config(url: str, **overrides: Any) -> dict[str, Any]:
    """A config for a sandbox at ``url`` with budgets wide open and no index lag."""
    config = {
        "api_key": API_KEY,
        "base_url": url,
        "index_lag_seconds": 0,
        "rate_limit_per_minute": 100_000,
        "search_rate_limit_per_minute": 100_000,
        "rate_limit_share": 1.0,
        "max_retry_wait_seconds": 0.01,
    }
    config.update(overrides)
    return config


@dataclass
class Run:
    """What one tap run emitted."""

    records: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    states: list[dict[str, Any]] = field(default_factory=list)
    tap: TapKustomer | None = None

    @property
    def state(self) -> dict[str, Any]:
        """The last STATE value."""
        return self.states[-1] if self.states else {}

    def ids(self, stream: str) -> list[str]:
        """Record ids of a stream, in emitted order."""
        return [r["id"] for r in self.records.get(stream, [])]


def parse(lines: str, run: Run) -> Run:
    """Read Singer messages."""
    for line in lines.splitlines():
        if not line.strip():
            continue
        msg = json.loads(line)
        if msg["type"] == "RECORD":
            run.records[msg["stream"]].append(msg["record"])
        elif msg["type"] == "SCHEMA":
            run.schemas[msg["stream"]] = msg["schema"]
        elif msg["type"] == "STATE":
            run.states.append(msg["value"])
    return run


def run_tap(
    config: dict[str, Any],
    state: dict[str, Any] | None = None,
    *,
    streams: list[str] | None = None,
    stop_after: int | None = None,
    catalog: dict[str, Any] | None = None,
    validate_config: bool = True,
) -> Run:
    """Sync in-process; ``streams`` selects; ``stop_after`` kills the run after N records.

    ``catalog`` is passed as ``--catalog`` would be (a sync under Meltano);
    ``validate_config=False`` lets a test give a setting the schema refuses.
    """
    tap = TapKustomer(
        config=config,
        state=state,
        catalog=catalog,
        setup_mapper=True,
        validate_config=validate_config,
    )
    if streams is not None:
        for name, stream in tap.streams.items():
            stream.selected = name in streams
    out = io.StringIO()
    run = Run(tap=tap)
    if stop_after is not None:
        writer = tap.message_writer if hasattr(tap, "message_writer") else None
        _limit_records(tap, stop_after, writer)
    with contextlib.redirect_stdout(out), contextlib.suppress(_Killed):
        tap.sync_all()
    return parse(out.getvalue(), run)


class _Killed(Exception):
    """Stands for the process being killed mid-stream."""


def _limit_records(tap: TapKustomer, limit: int, _writer: Any) -> None:
    count = {"n": 0}
    for stream in tap.streams.values():
        original = stream._write_record_message

        def write(record: dict[str, Any], original=original) -> None:
            if count["n"] >= limit:
                raise _Killed
            count["n"] += 1
            original(record)

        stream._write_record_message = write  # type: ignore[method-assign]


def discover(config: dict[str, Any]) -> dict[str, Any]:
    """What ``--discover`` prints: the catalog, every stream unselected as Meltano leaves it."""
    return TapKustomer(config=config).catalog_dict


def select(catalog: dict[str, Any], streams: list[str]) -> dict[str, Any]:
    """A copy of ``catalog`` with only ``streams`` selected (as meltano.yml's ``select``)."""
    out = json.loads(json.dumps(catalog))
    for entry in out["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return out


def put(app: Any, kind: str, stamps: list[tuple[str, str]], **attributes: Any) -> list[str]:
    """Store bare objects of ``kind`` with these (updatedAt, createdAt); return their ids."""
    from sandbox.kustomer.store import collection

    ids = []
    with app.lock:
        for updated, created in stamps:
            oid = app.store.new_id(kind)
            app.store.add(
                kind,
                {
                    "type": kind,
                    "id": oid,
                    "attributes": {
                        "createdAt": created,
                        "updatedAt": updated,
                        "modifiedAt": updated,
                        "rev": 1,
                        "deleted": False,
                        "name": f"{kind} {oid}",
                        **attributes,
                    },
                    "relationships": {},
                    "links": {"self": f"/v1/{collection(kind)}/{oid}"},
                },
            )
            ids.append(oid)
    return ids
