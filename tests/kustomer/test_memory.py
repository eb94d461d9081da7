"""The tap holds a bounded number of decoded records, whatever the size of the org (issue 15).

Time pieces, a company scan and the company listing must see every record they order before
emitting the first; they hold them out of memory (``tap_kustomer.held``). Each record decoded
from an answer is tracked (weakly) from the moment the client decodes it: at no answer may
more than a few pages' worth still be alive, for a store several queries large.
"""

from __future__ import annotations

import weakref
from collections import Counter
from typing import Any

import pytest
from helpers import run_tap, tap_config

from tap_kustomer import client as client_module

PAGE = 20
#: GET /v1/companies pages (the list way)
LIST_PAGE = 100


class Tracked(dict):
    """A decoded record (a dict that can be weakly referenced)."""


@pytest.fixture
def live(monkeypatch):
    """Track every record the client decodes; ``live["max"]``: most alive at any answer."""
    seen = {"max": 0, "decoded": 0, "alive": 0}

    def gone() -> None:
        seen["alive"] -= 1

    original = client_module._read_answer

    def read_answer(response: Any) -> tuple[dict[str, Any], str | None]:
        body, problem = original(response)
        data = body.get("data") if isinstance(body, dict) else None
        if isinstance(data, list):
            body["data"] = [Tracked(r) if isinstance(r, dict) else r for r in data]
            for record in body["data"]:
                if isinstance(record, Tracked):
                    weakref.finalize(record, gone)
                    seen["alive"] += 1
            seen["decoded"] += len(body["data"])
        seen["max"] = max(seen["max"], seen["alive"])
        return body, problem

    monkeypatch.setattr(client_module, "_read_answer", read_answer)
    return seen


@pytest.mark.parametrize(
    ("pages", "companies_way"),
    [(20, "list"), (40, "scan")],
    ids=["queries-of-400-companies-listed", "queries-of-800-companies-scanned"],
)
def test_decoded_records_held_stay_a_few_pages(kustomer, live, pages, companies_way):
    """Customers by keyset, conversations and messages by pieces, companies by scan or list."""
    sb = kustomer(
        seed={
            "customers": 300,
            "companies": 1000,
            "conversations_per_customer": 1,
            "messages_per_conversation": 2,
            "notes_per_conversation": 0,
            "deleted_fraction": 0,
        },
        search_max_pages=pages,
    )
    objects = sb.state()["objects"]
    streams = {"company": "companies", "customer": "customers"}
    streams |= {"conversation": "conversations", "message": "messages"}
    config = tap_config(sb.url, page_size=PAGE, max_pages_per_query=pages)
    config["start_date"] = "2000-01-01T00:00:00Z"
    run = run_tap(config, streams=list(streams.values()))
    for kind, stream in streams.items():
        got = run.ids(stream)
        assert not [i for i, n in Counter(got).items() if n > 1], stream
        assert set(got) == {o["id"] for o in objects[kind]}, stream
    modes = run.state["bookmarks"]["companies"]["kustomer_modes"]

    assert modes["standard:updated_at"] == companies_way
    assert run.state["bookmarks"]["messages"]["kustomer_modes"]["standard:updated_at"] == "pieces"
    # pieces hold up to 90% of a query (360 or 720 records), the companies ~750:
    # far over two pages of each (a page is alive while the next is asked for)
    assert live["decoded"] > 2000
    assert live["max"] <= 2 * LIST_PAGE + 2 * PAGE, f"{live['max']} decoded records alive at once"


def test_held_records_come_back_as_decoded():
    """What a piece holds out of memory is the record as the client decoded it."""
    from tap_kustomer.held import Held

    held = Held()
    odd = {
        "id": "b",
        "attributes": {"name": "Zoë \u00e9 \ud800 \U0001f600", "n": 1.1, "big": 2**70},
        "x": [None, True, float("inf")],
    }
    plain = {"id": "a", "attributes": {}}
    held.put("2025-01-01T00:00:00.000Z", odd)
    held.put("2025-01-01T00:00:00.000Z", plain)
    held.put("2024-01-01T00:00:00.000Z", {"id": "b", "attributes": {"old": True}})
    got = list(held.records(held.ordered()))
    assert got == [
        ("2024-01-01T00:00:00.000Z", {"id": "b", "attributes": {"old": True}}),
        ("2025-01-01T00:00:00.000Z", plain),
    ]
    held.put("2025-01-01T00:00:00.001Z", odd)
    assert [r for _, r in held.records(held.ordered())][-1] == odd
    held.close()
    assert len(held) == 0
