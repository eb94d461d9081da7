"""``field_definitions``: Zendesk's saved field definitions stand in for the streams the tap lacks.

singer-io tap-zendesk 2.8.2 sends ``users`` / ``organizations`` with their custom values under
``user_fields`` / ``organization_fields`` (dropdowns as the option tag, multiselects as the
Python repr of the tag list), and no definition stream. The messages here have that shape;
the definitions come from files shaped like Zendesk's answers to
``GET /api/v2/user_fields.json`` / ``GET /api/v2/organization_fields.json``. Against a CSM
sandbox seeded "empty": SELECT / MULTISELECT fields of the option names, values translated
from the tags, and no record held for metadata that will never come.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from target_atlassian_csm.definition_files import FieldDefinitionsError, read_definition_files
from target_atlassian_csm.target import TargetAtlassianCSM
from tests.target.conftest import FAST, record_msg, run_target, state_msg, target_config

STR = {"type": ["string", "null"]}


def option(oid: int, name: str, value: str) -> dict[str, Any]:
    """A Zendesk ``custom_field_options`` entry."""
    return {"id": oid, "name": name, "raw_name": name, "value": value, "position": oid % 10}


def definition(fid: int, key: str, kind: str, title: str, **extra: Any) -> dict[str, Any]:
    """A Zendesk user/organization field as the API returns it."""
    return {
        "id": fid,
        "url": f"https://acme.zendesk.com/api/v2/user_fields/{fid}.json",
        "key": key,
        "type": kind,
        "title": title,
        "raw_title": title,
        "description": "",
        "position": fid % 100,
        "active": True,
        "system": False,
        "regexp_for_validation": None,
        "custom_field_options": None,
        **extra,
    }


USER_FIELDS = [
    definition(
        1,
        "plan",
        "dropdown",
        "Plan",
        custom_field_options=[option(11, "Free", "plan_free"), option(12, "Pro", "plan_pro")],
    ),
    definition(
        2,
        "interests",
        "multiselect",
        "Interests",
        custom_field_options=[
            option(21, "Billing", "interest_billing"),
            option(22, "API", "interest_api"),
            option(23, "Reporting", "interest_reporting"),
        ],
    ),
    definition(3, "seats", "integer", "Seats"),
    definition(4, "vip", "checkbox", "VIP"),
]
ORGANIZATION_FIELDS = [
    definition(
        5,
        "tier",
        "dropdown",
        "Tier",
        custom_field_options=[option(51, "Gold", "tier_gold"), option(52, "Silver", "tier_sil")],
    ),
    definition(
        6,
        "regions",
        "multiselect",
        "Regions",
        custom_field_options=[option(61, "EMEA", "region_emea"), option(62, "APAC", "region_apac")],
    ),
]


def save(tmp_path: Path, name: str, body: dict[str, Any]) -> str:
    """A definitions file as ``curl .../api/v2/<name>.json > <name>.json`` leaves it."""
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(body))
    return str(path)


def zendesk_answer(key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Zendesk's offset-paged list answer, last page."""
    return {key: items, "next_page": None, "previous_page": None, "count": len(items)}


def tap_zendesk_messages(users: int = 3) -> list[dict[str, Any]]:
    """organizations then users, shaped as tap-zendesk 2.8.2 writes them; no definitions."""
    org_schema = {
        "id": {"type": ["integer"]},
        "name": STR,
        "domain_names": {"type": ["array", "null"], "items": STR},
        "deleted_at": {"type": ["string", "null"], "format": "datetime"},
        "organization_fields": {
            "type": ["object", "null"],
            "properties": {"tier": STR, "regions": STR},
        },
    }
    user_schema = {
        "id": {"type": ["integer"]},
        "email": STR,
        "name": STR,
        "role": STR,
        "active": {"type": ["boolean", "null"]},
        "organization_id": {"type": ["integer", "null"]},
        "user_fields": {
            "type": ["object", "null"],
            "properties": {
                "plan": STR,
                "interests": STR,  # the tap types multiselects as strings
                "seats": {"type": ["integer", "null"]},
                "vip": {"type": ["boolean", "null"]},
            },
        },
    }
    msgs: list[dict[str, Any]] = [
        {"type": "SCHEMA", "stream": "organizations", "schema": {"properties": org_schema},
         "key_properties": ["id"]},
        record_msg(
            "organizations",
            {
                "id": 90,
                "name": "Acme",
                "domain_names": ["acme.example"],
                "deleted_at": None,
                "organization_fields": {
                    "tier": "tier_gold",
                    "regions": "['region_emea', 'region_apac']",
                },
            },
        ),
        state_msg({"bookmarks": {"organizations": {"updated_at": "2025-01-01"}}}),
        {"type": "SCHEMA", "stream": "users", "schema": {"properties": user_schema},
         "key_properties": ["id"]},
    ]  # fmt: skip
    for i in range(users):
        msgs.append(
            record_msg(
                "users",
                {
                    "id": 500 + i,
                    "email": f"zd{i}@example.com",
                    "name": f"Zen {i}",
                    "role": "end-user",
                    "active": True,
                    "organization_id": 90,
                    "user_fields": {
                        "plan": ["plan_pro", "plan_free"][i % 2],
                        "interests": "['interest_billing', 'interest_api']" if i != 1 else None,
                        "seats": 10 + i,
                        "vip": i == 0,
                    },
                },
            )
        )
    msgs.append(state_msg({"bookmarks": {"users": {"updated_at": "2025-01-02"}}}))
    return msgs


def fields_of(sandbox: Any, entity: str) -> dict[str, tuple[str, list[str]]]:
    return {f["name"]: (f["type"], f["options"]) for f in sandbox.state()["fields"][entity]}


@pytest.fixture
def empty_csm(sandbox_factory):
    return sandbox_factory("csm", seed="empty", **FAST)


@pytest.fixture
def definition_files(tmp_path) -> list[str]:
    return [
        save(tmp_path, "user_fields", zendesk_answer("user_fields", USER_FIELDS)),
        save(
            tmp_path,
            "organization_fields",
            zendesk_answer("organization_fields", ORGANIZATION_FIELDS),
        ),
    ]


def test_saved_definitions_make_selects_of_option_names_and_translate_tags(
    empty_csm, tmp_path, definition_files
):
    # One record may wait at most: the definitions are known before the first record, so
    # nothing is held (without them the three users are held and the run stops, see below).
    config = target_config(
        empty_csm,
        tmp_path,
        create_missing_fields=True,
        field_definitions=definition_files,
        field_metadata_buffer_records=1,
    )
    result = run_target(config, tap_zendesk_messages())
    assert result.exit_code == 0, result.dead_letters
    assert result.dead_letters == []

    assert fields_of(empty_csm, "customer") == {
        "Plan": ("SELECT", ["Free", "Pro"]),
        "Interests": ("MULTISELECT", ["Billing", "API", "Reporting"]),
        "Seats": ("NUMBER", []),
        "VIP": ("SELECT", ["true", "false"]),
    }
    assert fields_of(empty_csm, "organization") == {
        "Tier": ("SELECT", ["Gold", "Silver"]),
        "Regions": ("MULTISELECT", ["EMEA", "APAC"]),
    }
    zd0 = empty_csm.app.customer_by_email("zd0@example.com")["details"]
    assert zd0 == {
        "Plan": ["Pro"],  # tag plan_pro → option name
        "Interests": ["Billing", "API"],  # the tap's list text, item by item
        "Seats": ["10"],
        "VIP": ["true"],
    }
    zd1 = empty_csm.app.customer_by_email("zd1@example.com")["details"]
    assert zd1 == {"Plan": ["Free"], "Seats": ["11"], "VIP": ["false"]}
    (org,) = empty_csm.state()["organizations"]
    assert org["details"] == {"Tier": ["Gold"], "Regions": ["EMEA", "APAC"]}
    assert result.states[-1] == {"bookmarks": {"users": {"updated_at": "2025-01-02"}}}


def test_without_the_files_the_records_are_held_for_metadata_that_never_comes(empty_csm, tmp_path):
    config = target_config(
        empty_csm, tmp_path, create_missing_fields=True, field_metadata_buffer_records=1
    )
    assert run_target(config, tap_zendesk_messages()).exit_code == 2


def test_an_empty_answer_means_no_custom_fields(empty_csm, tmp_path):
    files = [save(tmp_path, "user_fields", zendesk_answer("user_fields", []))]
    config = target_config(empty_csm, tmp_path, create_missing_fields=True, field_definitions=files)
    assert run_target(config, tap_zendesk_messages()).exit_code == 0
    assert fields_of(empty_csm, "customer") == {}


def test_the_files_are_ignored_without_create_missing_fields(empty_csm, tmp_path, caplog):
    config = target_config(empty_csm, tmp_path, field_definitions=["/nowhere.json"])
    with caplog.at_level(logging.WARNING):
        TargetAtlassianCSM(config=config)
    assert "only read with create_missing_fields" in caplog.text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"results": [{"name": "hs_lead_status"}]}, "HubSpot properties answer"),
        ({"ticket_fields": []}, "exactly one of the keys"),
        ({"user_fields": [], "organization_fields": []}, "exactly one of the keys"),
        ({"user_fields": {"key": "plan"}}, "must be a list"),
        ([], "exactly one of the keys"),
    ],
)
def test_files_that_do_not_say_what_they_hold_are_refused(tmp_path, body, message):
    path = tmp_path / "defs.json"
    path.write_text(json.dumps(body))
    with pytest.raises(FieldDefinitionsError, match=message):
        read_definition_files([path], logging.getLogger("test"))


def test_missing_or_broken_files_are_refused_at_start(empty_csm, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    for path, message in ((tmp_path / "absent.json", "cannot read"), (broken, "is not JSON")):
        config = target_config(
            empty_csm, tmp_path, create_missing_fields=True, field_definitions=[str(path)]
        )
        with pytest.raises(FieldDefinitionsError, match=message):
            TargetAtlassianCSM(config=config)


def test_a_first_page_alone_is_reported_and_every_page_is_read(tmp_path, caplog):
    page1 = {**zendesk_answer("user_fields", USER_FIELDS[:2]), "next_page": "https://x/2"}
    page2 = zendesk_answer("user_fields", USER_FIELDS[2:])
    first = save(tmp_path, "page1", page1)
    with caplog.at_level(logging.WARNING):
        read_definition_files([first], logging.getLogger("test"))
    assert "more pages" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        files = read_definition_files(
            [first, save(tmp_path, "page2", page2)], logging.getLogger("t")
        )
    assert "more pages" not in caplog.text
    assert [len(f.records) for f in files] == [2, 2]
    assert {f.stream for f in files} == {"user_fields"}
