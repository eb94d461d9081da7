"""The taps meet malformed, truncated and unexpected answers in the middle of a stream.

The sandbox's ``garble_*`` knobs corrupt one successful page after a few good ones. A body
cut short, an HTML page or an empty body is retried (it is what a flaky proxy produces) and
the run completes; JSON of the wrong shape stops the run with an error naming the request,
and a rerun from the last STATE emitted reads everything. What must never happen is a run
that ends quietly without the rest of the stream.
"""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import pytest
from singer_sdk.exceptions import FatalAPIError

from tap_hubspot_contacts import client as hubspot_client
from tests.reliability.harness import hubspot_tap_config, kustomer_tap_config

KINDS = ["truncated", "not_json", "empty", "wrong_shape"]
HUBSPOT_CONTACTS = r"/crm/objects/2026-03/contacts$"
KUSTOMER_SEARCH = r"/v1/customers/search$"


def _sync(tap: Any) -> tuple[list[dict[str, Any]], BaseException | None]:
    out = io.StringIO()
    error: BaseException | None = None
    with contextlib.redirect_stdout(out):
        try:
            tap.sync_all()
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            error = exc
    return [json.loads(x) for x in out.getvalue().splitlines() if x.strip()], error


def _ids(messages: list[dict[str, Any]], stream: str) -> set[str]:
    return {
        str(m["record"]["id"]) for m in messages if m["type"] == "RECORD" and m["stream"] == stream
    }


def _last_state(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    return states[-1] if states else None


@pytest.mark.parametrize("kind", KINDS)
def test_hubspot_garbled_page(sandbox_factory, monkeypatch, kind):
    from tap_hubspot_contacts.tap import TapHubSpotContacts

    monkeypatch.setattr(hubspot_client, "SLEEP", lambda _s: None)
    sb = sandbox_factory(
        "hubspot", seed={"contacts": 600, "companies": 10}, burst_limit=0, search_rate_per_second=0
    )
    sb.knobs(garble_next=[kind], garble_paths=HUBSPOT_CONTACTS, garble_skip=2)
    config = hubspot_tap_config(sb.url, checkpoint_records=100)
    expected = {str(o.id) for o in sb.app.stores["contacts"].objects.values()}
    first, error = _sync(TapHubSpotContacts(config=config, setup_mapper=True))
    assert sb.app.garbler.injected[kind] == 1, "the page was not garbled: the test proves nothing"
    if error is None:
        assert _ids(first, "contacts") == expected  # retried, nothing skipped
        return
    assert kind == "wrong_shape", f"{kind} should have been retried: {error}"
    assert isinstance(error, FatalAPIError)
    assert "/contacts" in str(error)
    assert "rerun" in str(error)
    seen = _ids(first, "contacts")
    assert seen < expected  # it stopped: not a silent, complete-looking end
    second, error2 = _sync(
        TapHubSpotContacts(config=config, state=_last_state(first), setup_mapper=True)
    )
    assert error2 is None
    assert seen | _ids(second, "contacts") == expected


@pytest.mark.parametrize("kind", KINDS)
def test_kustomer_garbled_page(sandbox_factory, kind):
    from tap_kustomer.tap import TapKustomer

    sb = sandbox_factory(
        "kustomer",
        seed={"customers": 300, "companies": 5, "conversations_per_customer": 0},
        rate_limit_per_minute=1_000_000,
        search_rate_limit_per_minute=1_000_000,
    )
    sb.knobs(garble_next=[kind], garble_paths=KUSTOMER_SEARCH, garble_skip=2)
    config = kustomer_tap_config(sb.url, page_size=50)

    def tap(state: dict[str, Any] | None = None) -> Any:
        instance = TapKustomer(config=config, state=state, setup_mapper=True)
        for name, stream in instance.streams.items():
            stream.selected = name == "customers"
        return instance

    expected = {o["id"] for o in sb.state()["objects"]["customer"]}
    first, error = _sync(tap())
    assert sb.app.garbler.injected[kind] == 1
    if error is None:
        assert _ids(first, "customers") == expected
        return
    assert kind == "wrong_shape", f"{kind} should have been retried: {error}"
    assert isinstance(error, FatalAPIError)
    assert "/v1/customers/search" in str(error)
    seen = _ids(first, "customers")
    assert seen < expected
    second, error2 = _sync(tap(_last_state(first)))
    assert error2 is None
    assert seen | _ids(second, "customers") == expected


def test_garble_knob_refuses_unknown_kinds(sandbox_factory):
    sb = sandbox_factory("csm")
    with pytest.raises(ValueError, match="garble"):
        sb.knobs(garble_next=["gibberish"])
