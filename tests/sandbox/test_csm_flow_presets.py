"""The CSM sandbox's ``flows`` preset: fields that the HubSpot and Kustomer seeds' data fits.

The e2e flows rely on two promises: every CSM field of the preset is found by the target's
automatic matching for some property the source sandboxes serve, and every SELECT value the
source seeds hold is among the field's options (otherwise records would be dead-lettered).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from sandbox.core.app import ApiError
from sandbox.csm import create_app as create_csm
from sandbox.csm.presets_flows import FLOW_FIELDS
from sandbox.csm.seed import DEFAULT_FIELDS
from sandbox.hubspot import create_app as create_hubspot
from sandbox.hubspot.properties import company_properties, contact_properties
from sandbox.kustomer import create_app as create_kustomer
from sandbox.kustomer.store import CUSTOM_METADATA
from target_atlassian_csm.fields import normalize_name

#: Kustomer's type suffixes, as the target strips them (docs/target-atlassian-csm.md).
SUFFIX = re.compile(r"^(.*[a-z0-9])(Str|Txt|Num|At|Bool|Url)$")
#: HubSpot properties the target never maps to details (identity, ids, bookkeeping).
HUBSPOT_IDENTITY = {"email", "firstname", "lastname", "name", "hs_object_id", "createdate"}


def _options(entity: str, field: str) -> set[str]:
    return {o.casefold() for name, _, opts in FLOW_FIELDS[entity] if name == field for o in opts}


def _source_names(entity: str) -> set[str]:
    """Normalised names of what the source sandboxes serve for this CSM entity."""
    hubspot = contact_properties() if entity == "customer" else company_properties()
    kustomer = CUSTOM_METADATA["customer" if entity == "customer" else "company"]
    names = {p["name"] for p in hubspot if p["name"] not in HUBSPOT_IDENTITY}
    names |= {(m.group(1) if (m := SUFFIX.match(k)) else k) for k in kustomer}
    return {normalize_name(n) for n in names}


def test_flows_seed_defines_the_preset_fields_and_nothing_else() -> None:
    """Seeding ``flows`` leaves a site with exactly the preset's fields, no records."""
    app = create_csm()
    summary = app.seed("flows")
    state = app.state_snapshot()
    for entity, fields in FLOW_FIELDS.items():
        got = [(f["name"], f["type"], f["options"]) for f in state["fields"][entity]]
        assert got == [(name, kind, list(options)) for name, kind, options in fields]
    assert summary["customers"] == summary["organizations"] == 0


def test_flows_seed_is_reachable_over_http_and_pre_creates_bare_records(
    sandbox_factory: Any,
) -> None:
    """``POST /_sandbox/seed {"preset": "flows"}`` works like the other presets' params."""
    csm = sandbox_factory("csm")
    answer = requests.post(
        f"{csm.url}/_sandbox/seed",
        json={"preset": "flows", "customers": 3, "organizations": 2},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    state = csm.state()
    assert len(state["customers"]) == 3
    assert len(state["organizations"]) == 2
    assert all(not c["details"] for c in state["customers"])  # values fit only `default`


def test_default_preset_is_unchanged_and_unknown_presets_still_refused() -> None:
    """The hook adds a preset; ``default`` keeps its fields and bad names still fail."""
    app = create_csm()
    app.seed("default")
    names = [f["name"] for f in app.state_snapshot()["fields"]["customer"]]
    assert names == [name for name, _, _ in DEFAULT_FIELDS["customer"]]
    with pytest.raises(ApiError, match="flows"):
        app.seed("nope")


@pytest.mark.parametrize("entity", ["customer", "organization"])
def test_every_flow_field_matches_a_source_property(entity: str) -> None:
    """Each field is found by the target's loose name match for a HubSpot or Kustomer property."""
    served = _source_names(entity)
    unmatched = [name for name, _, _ in FLOW_FIELDS[entity] if normalize_name(name) not in served]
    assert unmatched == []


def test_hubspot_seed_values_fit_the_select_options() -> None:
    """Every enumeration value of the HubSpot ``default`` seed is an option of its field."""
    app = create_hubspot()
    app.seed("default")
    state = app.state_snapshot()
    contacts = [c["properties"] for c in state["contacts"].values()]
    companies = [c["properties"] for c in state["companies"].values()]
    assert {p["lifecyclestage"] for p in contacts} <= _options("customer", "Lifecycle Stage")
    assert {p["cf_select"] for p in contacts} <= _options("customer", "Cf Select")
    multi = {v for p in contacts if p["cf_multi"] for v in p["cf_multi"].split(";")}
    assert multi <= _options("customer", "Cf Multi")
    assert {p["industry"].casefold() for p in companies} <= _options("organization", "Industry")
    assert {p["cf_select"] for p in companies} <= _options("organization", "Cf Select")


def test_kustomer_seed_values_fit_the_select_options() -> None:
    """Every enumerated custom value of the Kustomer ``default`` seed is an option."""
    app = create_kustomer()
    app.seed("default")
    objects = app.state_snapshot()["objects"]
    tiers = {c["attributes"]["custom"]["tierStr"] for c in objects["customer"]}
    industries = {c["attributes"]["custom"]["industryStr"] for c in objects["company"]}
    assert tiers <= _options("customer", "Tier")
    assert industries <= _options("organization", "Industry")
    # and the metadata's own enumerations, which a larger seed may draw from
    assert set(CUSTOM_METADATA["customer"]["tierStr"]["enumeration"]) <= _options(
        "customer", "Tier"
    )
    assert set(CUSTOM_METADATA["company"]["industryStr"]["enumeration"]) <= _options(
        "organization", "Industry"
    )
