"""What the Kustomer -> CSM flow tells the target about each attribute (issue 12, item 4).

Enumerated attributes carry ``enum`` (multi-valued ones ``items.enum``) and KObject links
``x-link`` in the tap's schemas. These tests follow them through what a user runs: discovery,
Meltano's catalog (meltano.yml's default selection), the SCHEMA messages, and into CSM.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from helpers import discover, run_tap, select, tap_config
from singer_sdk.singerlib import Schema

from tap_kustomer.catalog import keyword_paths
from tests.e2e.conftest import Flow, FlowFactory

TAP = "tap-kustomer"
EVERYTHING = "2000-01-01T00:00:00Z"
CUSTOM = "attributes.custom"


def test_enumerations_and_links_are_in_the_schema(kustomer):
    sb = kustomer(seed={"customers": 6, "multiselect_attributes": True})
    config = tap_config(sb.url, start_date=EVERYTHING)
    customers = next(e for e in discover(config)["streams"] if e["tap_stream_id"] == "customers")
    custom = customers["schema"]["properties"]["attributes"]["properties"]["custom"]["properties"]
    assert custom["tierStr"]["enum"] == ["gold", "silver", "bronze", None]
    assert "description" not in custom["tierStr"]  # the values are no longer prose
    channels = custom["contactChannelsStr"]
    assert channels["type"] == ["array", "null"]
    assert channels["items"]["enum"] == ["email", "phone", "chat", "sms"]
    assert custom["ordersId"]["x-link"] == "kobject:order"
    assert "x-link" not in custom["tierStr"]


def test_the_sdk_drops_unknown_keywords_so_the_tap_keeps_its_own_schemas():
    """Why ``tap_kustomer.catalog`` exists: if this fails, the SDK keeps them now."""
    schema = {"type": "object", "properties": {"a": {"type": "string", "x-link": "kobject:x"}}}
    assert "x-link" not in Schema.from_dict(schema).to_dict()["properties"]["a"]


@pytest.mark.parametrize("with_catalog", [True, False])
def test_links_and_enums_survive_to_the_schema_messages(kustomer, with_catalog):
    sb = kustomer(seed={"customers": 6, "multiselect_attributes": True})
    config = tap_config(sb.url, start_date=EVERYTHING)
    if with_catalog:  # as Meltano runs it: discovery, then a sync given the catalog
        run = run_tap(config, catalog=select(discover(config), ["customers", "companies"]))
    else:
        run = run_tap(config, streams=["customers", "companies"])
    customers = run.schemas["customers"]
    assert keyword_paths(customers, "x-link") == {f"{CUSTOM}.ordersId": "kobject:order"}
    enums = keyword_paths(customers, "enum")
    assert enums[f"{CUSTOM}.tierStr"] == ["gold", "silver", "bronze", None]
    assert enums[f"{CUSTOM}.contactChannelsStr.[]"] == ["email", "phone", "chat", "sms"]
    assert keyword_paths(run.schemas["companies"], "enum")[f"{CUSTOM}.industryStr"]


# ----------------------------------------------------------------- through Meltano
class FieldsFlow(Flow):
    """The flow with the target creating the fields the data needs."""

    def env(self) -> dict[str, str]:
        """The flow's environment plus ``create_missing_fields``."""
        return {**super().env(), "TARGET_ATLASSIAN_CSM_CREATE_MISSING_FIELDS": "true"}


@pytest.fixture
def fields_flow(sandbox_factory: Any, flow_factory: FlowFactory) -> tuple[FieldsFlow, Any, Any]:
    csm = sandbox_factory("csm", seed="empty")
    kustomer = sandbox_factory("kustomer", seed={"multiselect_attributes": True})
    plain = flow_factory(TAP, {"csm": csm.url, "kustomer": kustomer.url})
    return FieldsFlow(plain.project, plain.tap, plain.work, plain.urls), csm, kustomer


@pytest.mark.e2e
@pytest.mark.slow
def test_meltano_keeps_enums_and_links_from_catalog_to_schema_messages(fields_flow):
    """meltano.yml's default selection: Meltano's catalog and the SCHEMA it runs with."""
    flow, _, _ = fields_flow
    dumped = flow.meltano("invoke", "--dump=catalog", TAP)
    assert dumped.returncode == 0, dumped.stderr[-3000:]
    catalog = {e["tap_stream_id"]: e for e in json.loads(dumped.stdout)["streams"]}
    customers = catalog["customers"]["schema"]
    assert keyword_paths(customers, "x-link") == {f"{CUSTOM}.ordersId": "kobject:order"}
    assert keyword_paths(customers, "enum")[f"{CUSTOM}.contactChannelsStr.[]"]
    selected = {
        name
        for name, entry in catalog.items()
        for meta in entry["metadata"]
        if meta["breadcrumb"] == [] and meta["metadata"].get("selected")
    }
    assert {"customers", "companies"} <= selected
    invoked = flow.meltano("invoke", TAP)
    assert invoked.returncode == 0, invoked.stderr[-3000:]
    schemas = {
        m["stream"]: m["schema"]
        for m in map(json.loads, invoked.stdout.splitlines())
        if m.get("type") == "SCHEMA"
    }
    assert keyword_paths(schemas["customers"], "x-link") == {f"{CUSTOM}.ordersId": "kobject:order"}
    assert keyword_paths(schemas["customers"], "enum")[f"{CUSTOM}.tierStr"]
    assert keyword_paths(schemas["companies"], "enum")[f"{CUSTOM}.industryStr"]


@pytest.mark.e2e
@pytest.mark.slow
def test_meltano_run_creates_select_and_multiselect_fields_and_none_for_links(fields_flow):
    """``meltano run tap-kustomer target-atlassian-csm``, default selection, fields created."""
    flow, csm, _ = fields_flow
    flow.run()
    fields = {
        entity: {f["name"]: (f["type"], sorted(o.casefold() for o in f["options"])) for f in items}
        for entity, items in csm.state()["fields"].items()
    }
    customer, organization = fields["customer"], fields["organization"]
    assert customer["Tier"] == ("SELECT", ["bronze", "gold", "silver"])
    assert customer["Contact channels"] == ("MULTISELECT", ["chat", "email", "phone", "sms"])
    assert organization["Industry"] == ("SELECT", ["retail", "saas", "travel"])
    # ordersId links to KObjects (x-link): no field; firstOrderAt is a date, not the link.
    assert not [name for name in customer if name.casefold() in ("orders", "orders id")], customer
    assert customer["First order"][0] == "DATE", customer
