"""singer-io tap-hubspot 4.5.0 and MeltanoLabs tap-hubspot 0.10.1, unmodified, into CSM."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.peers.conftest import (
    add_csm_fields,
    csm_by_email,
    csm_by_name,
    discover,
    peer_executable,
    profile_items,
    run_pipe,
    target_config,
    write_json,
)

pytestmark = pytest.mark.e2e

CSM_FIELDS = {
    "customer": [("Job Title", "TEXT", []), ("Lifecycle Stage", "TEXT", [])],
    "organization": [("Domain", "TEXT", []), ("Industry", "TEXT", [])],
}
#: venv -> (catalog flag, config, preset, company details the preset loads)
TAPS = {
    "tap-hubspot": (
        "--properties",
        {"api_key": "sandbox-token", "start_date": "2020-01-01T00:00:00Z"},
        "tap-hubspot",
        False,  # v2 {value, ...} objects: the target cannot unwrap them yet
    ),
    "meltano-tap-hubspot": (
        "--catalog",
        {"access_token": "sandbox-token", "start_date": "2020-01-01T00:00:00Z"},
        "meltano-tap-hubspot",
        True,
    ),
}


def select_all(catalog: dict[str, Any], streams: set[str]) -> dict[str, Any]:
    """Select ``streams`` and every field in them (what ``meltano select <s> '*'`` does)."""
    for stream in catalog["streams"]:
        chosen = stream["tap_stream_id"] in streams
        for entry in stream.get("metadata", []):
            entry["metadata"]["selected"] = chosen
    return catalog


@pytest.fixture(params=list(TAPS))
def hubspot_setup(request, sandbox_factory, proxy_factory, tmp_path: Path) -> dict[str, Any]:
    venv = request.param
    flag, tap_config, preset, company_details = TAPS[venv]
    tap = peer_executable(venv)
    hubspot = sandbox_factory(
        "hubspot",
        seed={"preset": "default", "contacts": 12, "companies": 4},
        burst_limit=0,
        search_rate_per_second=0,
    )
    csm = sandbox_factory("csm", seed="empty", rate_limit_requests=0)
    add_csm_fields(csm, CSM_FIELDS)
    proxy = proxy_factory(hubspot=hubspot)
    config = write_json(tmp_path / "tap.json", tap_config)
    catalog = select_all(discover(tap, config, proxy.env()), {"contacts", "companies"})
    return {
        "tap": tap,
        "flag": flag,
        "hubspot": hubspot,
        "csm": csm,
        "proxy": proxy,
        "config": config,
        "catalog": write_json(tmp_path / "catalog.json", catalog),
        "target": target_config(csm, tmp_path, mapping_preset=preset),
        "company_details": company_details,
        "workdir": tmp_path,
    }


def _run(setup: dict[str, Any], state: dict[str, Any] | None = None):
    command = [str(setup["tap"]), "--config", str(setup["config"])]
    command += [setup["flag"], str(setup["catalog"])]
    if state is not None:
        command += ["--state", str(write_json(setup["workdir"] / "state.json", state))]
    return run_pipe(command, setup["proxy"].env(), setup["target"], setup["workdir"]).check()


def test_full_load_lands_every_contact_company_and_association(hubspot_setup) -> None:
    hubspot, csm = hubspot_setup["hubspot"], hubspot_setup["csm"]
    _run(hubspot_setup)
    state = hubspot.state()
    companies = {k: v for k, v in state["companies"].items() if not v["archived"]}
    orgs = csm_by_name(csm)
    assert set(orgs) == {c["properties"]["name"] for c in companies.values()}
    for company in companies.values():
        details = orgs[company["properties"]["name"]]["details"]
        if hubspot_setup["company_details"]:
            assert details == {
                "Domain": [company["properties"]["domain"]],
                "Industry": [company["properties"]["industry"]],
            }
        else:
            assert details == {}
    org_id_by_company = {
        k: orgs[v["properties"]["name"]]["id"] for k, v in companies.items()
    }  # fmt: skip
    customers = csm_by_email(csm)
    contacts = [c for c in state["contacts"].values() if not c["archived"]]
    assert set(customers) == {c["properties"]["email"] for c in contacts}
    for contact in contacts:
        props = contact["properties"]
        got = customers[props["email"]]
        assert got["displayName"] == f"{props['firstname']} {props['lastname']}"
        assert got["details"]["Job Title"] == [props["jobtitle"]]
        assert got["details"]["Lifecycle Stage"] == [props["lifecyclestage"]]
        primary = props.get("associatedcompanyid")
        assert got["organizationIds"] == ([org_id_by_company[primary]] if primary else [])


def test_rerun_with_state_moves_only_the_changed_contact(hubspot_setup) -> None:
    hubspot, csm = hubspot_setup["hubspot"], hubspot_setup["csm"]
    first = _run(hubspot_setup)
    contacts = hubspot.state()["contacts"]
    contact_id = sorted(int(k) for k, c in contacts.items() if c["properties"].get("email"))[3]
    hubspot.app.modify("contacts", ids=[contact_id], property="jobtitle", value="Chief Tester")
    csm.app.journal.clear()
    _run(hubspot_setup, first.last_state())
    email = hubspot.state()["contacts"][str(contact_id)]["properties"]["email"]
    assert [p["email"] for p in profile_items(csm, "customer")] == [email]
    assert profile_items(csm, "organization") == []
    assert csm_by_email(csm)[email]["details"]["Job Title"] == ["Chief Tester"]
