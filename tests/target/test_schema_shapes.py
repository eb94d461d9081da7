"""What a stream's schema says reaches CSM: typed fields, in every shape taps send.

* ``enum`` -> SELECT with those options; an array of ``enum`` -> MULTISELECT; the text of an
  empty list (``"[]"``) is no value;
* a property marked ``x-link`` (a link to another object, tap-kustomer's KObject links)
  makes no field;
* singer-io tap-hubspot's v2 ``{value, timestamp, ...}`` company properties get fields
  typed by their value (the preset's ``details_value_key`` applies to provisioning);
* a SCHEMA that adds properties after records flowed gets fields for them;
* a schema that cannot be used (a ``$ref`` that does not resolve) fails its records, with
  the stream and line named, and not the run.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.target.conftest import (
    record_msg,
    run_target,
    schema_msg,
    started_csm,
    state_msg,
    target_config,
)

STR = {"type": ["string", "null"]}


def fields_of(csm, entity="customer"):
    return {f["name"]: f for f in csm.state()["fields"][entity]}


def customer(csm, email):
    return next(c for c in csm.state()["customers"] if c["email"] == email)


OPTION = st.text(st.characters(categories=("L", "N")), min_size=1, max_size=12)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tiers=st.lists(OPTION, min_size=1, max_size=8, unique_by=str.casefold),
    picks=st.data(),
)
def test_enums_become_selects_and_arrays_of_enums_multiselects(tiers, picks):
    tier = picks.draw(st.sampled_from(tiers))
    chosen = picks.draw(st.lists(st.sampled_from(tiers), unique=True))
    props = {
        "id": {"type": "string"},
        "email": STR,
        "tier": {"type": ["string", "null"], "enum": [*tiers, None]},
        "labels": {"type": ["array", "null"], "items": {"type": "string", "enum": tiers}},
        "owner": {"type": ["string", "null"], "x-link": "kobject:owner"},
    }
    record = {"id": "1", "email": "e@x.io", "tier": tier, "labels": chosen, "owner": "k-77"}
    with started_csm(seed="empty") as csm, tempfile.TemporaryDirectory() as tmp:
        config = target_config(csm, Path(tmp), create_missing_fields=True)
        result = run_target(
            config, [schema_msg("customers", props), record_msg("customers", record), state_msg({})]
        )
        assert result.exit_code == 0, result.dead_letters
        fields = fields_of(csm)
        assert set(fields) == {"Tier", "Labels"}  # no field for the link
        assert fields["Tier"]["type"] == "SELECT"
        assert fields["Tier"]["options"] == tiers
        assert fields["Labels"]["type"] == "MULTISELECT"
        assert fields["Labels"]["options"] == tiers
        details = customer(csm, "e@x.io")["details"]
        assert details["Tier"] == [tier]
        assert sorted(details.get("Labels", [])) == sorted(chosen)


def test_the_text_of_an_empty_list_is_no_value(sandbox_factory, tmp_path):
    csm = sandbox_factory("csm", seed="default", rate_limit_requests=0)
    props = {"id": {"type": "string"}, "email": STR, "region": STR, "plan": STR}
    result = run_target(
        target_config(csm, tmp_path),
        [
            schema_msg("customers", props),
            record_msg("customers", {"id": "1", "email": "e@x.io", "region": "[]", "plan": "Free"}),
            state_msg({}),
        ],
    )
    assert result.exit_code == 0
    assert customer(csm, "e@x.io")["details"] == {"Plan": ["Free"]}


def test_singer_io_hubspot_v2_company_properties_get_fields(sandbox_factory, tmp_path):
    csm = sandbox_factory("csm", seed="empty", rate_limit_requests=0)

    def v2(kind):
        return {
            "type": ["object", "null"],
            "properties": {"value": {"type": [kind, "null"]}, "timestamp": STR, "source": STR},
        }

    props = {
        "companyId": {"type": ["integer", "null"]},
        "portalId": {"type": ["integer", "null"]},
        "isDeleted": {"type": ["boolean", "null"]},
        "properties": {
            "type": "object",
            "properties": {
                "name": v2("string"),
                "hs_object_id": v2("number"),
                "industry": v2("string"),
                "numberofemployees": v2("number"),
            },
        },
    }
    company = {
        "companyId": 5000001,
        "portalId": 1,
        "isDeleted": False,
        "properties": {
            "name": {"value": "Acme", "timestamp": "2026-01-01T00:00:00Z"},
            "hs_object_id": {"value": 5000001.0},
            "industry": {"value": "Retail", "timestamp": "2026-01-01T00:00:00Z"},
            "numberofemployees": {"value": 40, "timestamp": "2026-01-01T00:00:00Z"},
        },
    }
    config = target_config(csm, tmp_path, create_missing_fields=True)
    result = run_target(
        config,
        [
            schema_msg("companies", props, key="companyId"),
            record_msg("companies", company),
            state_msg({}),
        ],
    )
    assert result.exit_code == 0, result.dead_letters
    fields = {n: f["type"] for n, f in fields_of(csm, "organization").items()}
    assert fields == {"Industry": "TEXT", "Numberofemployees": "NUMBER"}
    (org,) = csm.state()["organizations"]
    assert org["details"] == {"Industry": ["Retail"], "Numberofemployees": ["40"]}


def test_a_schema_that_grows_mid_stream_gets_its_new_fields(sandbox_factory, tmp_path):
    csm = sandbox_factory("csm", seed="empty", rate_limit_requests=0)
    first = {"id": {"type": "string"}, "email": STR, "tier": STR}
    grown = {**first, "seats": {"type": ["integer", "null"]}}
    messages = [
        schema_msg("customers", first),
        record_msg("customers", {"id": "1", "email": "a@x.io", "tier": "Gold"}),
        state_msg({"n": 1}),
        schema_msg("customers", grown),
        record_msg("customers", {"id": "2", "email": "b@x.io", "tier": "Silver", "seats": 4}),
        state_msg({"n": 2}),
    ]
    result = run_target(target_config(csm, tmp_path, create_missing_fields=True), messages)
    assert result.exit_code == 0, result.dead_letters
    assert set(fields_of(csm)) == {"Tier", "Seats"}
    assert customer(csm, "b@x.io")["details"] == {"Tier": ["Silver"], "Seats": ["4"]}
    assert result.states[-1] == {"n": 2}


def test_a_schema_that_cannot_be_used_fails_its_records_not_the_run(sandbox_factory, tmp_path):
    csm = sandbox_factory("csm", seed="default", rate_limit_requests=0)
    broken = {
        "type": "object",
        "properties": {"id": {"type": "string"}, "email": {"$ref": "#/definitions/missing"}},
    }
    messages = [
        {"type": "SCHEMA", "stream": "customers", "key_properties": ["id"], "schema": broken},
        record_msg("customers", {"id": "1", "email": "a@x.io"}),
        schema_msg("organizations", {"id": {"type": "string"}, "name": STR}),
        record_msg("organizations", {"id": "o", "name": "Fine Inc"}),
        state_msg({"done": True}),
    ]
    result = run_target(target_config(csm, tmp_path), messages)
    assert result.exit_code == 0
    assert [o["name"] for o in csm.state()["organizations"]] == ["Fine Inc"]
    (dead,) = result.dead_letters
    assert (dead["stream"], dead["line"], dead["source_id"]) == ("customers", 2, "1")
    assert "schema" in dead["reason"]
    assert result.states[-1] == {"done": True}
