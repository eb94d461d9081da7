"""``meltano run tap-zendesk target-atlassian-csm`` with the target creating the detail fields.

singer-io tap-zendesk 2.8.2, unmodified, through the proxy into a CSM site seeded ``empty``,
with ``TARGET_ATLASSIAN_CSM_CREATE_MISSING_FIELDS=true`` (the README's command). The tap has no
``user_fields`` / ``organization_fields`` streams, and singer-python drops ``enum`` from the
SCHEMA it writes, so the only description the target gets is each field's JSON type: the
target holds the records to the end of input, then provisions from the schema
(docs/target-atlassian-csm.md, "schema fallback"). What that gives for each Zendesk type is
asserted here against the Zendesk sandbox's own definitions and values.

With ``field_definitions`` (the README's second command) the target also gets Zendesk's own
definitions, saved from ``/api/v2/user_fields.json`` and ``/api/v2/organization_fields.json``
as a user saves them with curl: dropdowns then land as SELECT fields of the option names,
multiselects as MULTISELECT, each named by its title, and the tag values are translated.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from target_atlassian_csm.metadata import regexp_type
from tests.e2e.conftest import Flow
from tests.peers.conftest import csm_by_email, csm_by_name

pytestmark = pytest.mark.e2e

#: Zendesk custom field type -> what the target creates from tap-zendesk 2.8.2's schema
#: (dropdown: string, no options; multiselect: string holding the list's Python repr;
#: date: ``format: datetime``; regexp: string).
SCHEMA_TYPE = {
    "dropdown": ("TEXT", []),
    "tagger": ("TEXT", []),
    "multiselect": ("TEXT", []),
    "checkbox": ("SELECT", ["true", "false"]),
    "integer": ("NUMBER", []),
    "decimal": ("NUMBER", []),
    "date": ("DATE", []),
    "regexp": ("TEXT", []),
    "text": ("TEXT", []),
}
#: Standard columns the schema fallback also turns into fields (values not checked here).
STANDARD = {
    "customer": {
        "Tags",
        "Phone",
        "Details",
        "External Id",
        "Time Zone",
        "Alias",
        "Notes",
        "Locale",
    },
    "organization": {"Tags", "Notes", "Domain Names", "Details", "External Id"},
}


class FieldsFlow(Flow):
    """The peer flow with the README's extra setting: the target creates missing fields."""

    def env(self) -> dict[str, str]:
        """The flow's environment plus ``TARGET_ATLASSIAN_CSM_CREATE_MISSING_FIELDS=true``."""
        return {**super().env(), "TARGET_ATLASSIAN_CSM_CREATE_MISSING_FIELDS": "true"}


def readable(key: str) -> str:
    """The field name the target derives from a schema key (``nps_score`` -> ``Nps Score``)."""
    return " ".join(part.capitalize() for part in key.split("_"))


def number(value: float | int) -> str:
    """A Zendesk number as CSM stores it (plain decimal, no trailing ``.0``)."""
    text = f"{value}"
    return text[:-2] if text.endswith(".0") else text


def expected_value(kind: str, value: Any) -> list[str] | None:
    """What CSM must hold for one Zendesk custom field value, None when nothing is sent."""
    if value is None or value == []:
        return None
    if kind == "multiselect":
        return [", ".join(value)]  # the tag values, read back from the tap's repr
    if kind == "checkbox":
        return ["true" if value else "false"]
    if kind in ("integer", "decimal"):
        return [number(value)]
    if kind == "date":
        return [value[:10]]
    return [str(value)]


def expected_details(definitions: list[dict[str, Any]], values: dict[str, Any]) -> dict:
    """The custom-field part of a CSM profile for one Zendesk user or organization."""
    out = {}
    for d in definitions:
        got = expected_value(d["type"], values.get(d["key"]))
        if got is not None:
            out[readable(d["key"])] = got
    return out


@pytest.fixture
def fields_flow(sandbox_factory, meltano_proxy, peer_project, tmp_path) -> dict[str, Any]:
    """Seeded Zendesk (every custom type), an empty CSM site, the proxy and the flow."""
    zendesk = sandbox_factory("zendesk", seed="default", incremental_rate_per_minute=0)
    csm = sandbox_factory("csm", seed="empty", rate_limit_requests=0)
    meltano_proxy(zendesk=zendesk)
    flow = FieldsFlow(peer_project, "tap-zendesk", tmp_path, {"csm": csm.url})
    return {"zendesk": zendesk, "csm": csm, "flow": flow}


def test_every_zendesk_field_type_becomes_a_csm_field_with_the_users_values(fields_flow) -> None:
    """One ``meltano run``: a field per Zendesk user and organization field, of the type the
    schema fallback gives it, and every loadable user's and organization's values in it."""
    zendesk, csm, flow = fields_flow["zendesk"], fields_flow["csm"], fields_flow["flow"]
    zd = zendesk.state()
    kinds = {d["type"] for d in zd["user_fields"] + zd["organization_fields"]}
    assert {"dropdown", "multiselect", "checkbox", "integer", "decimal", "date", "regexp"} <= kinds

    run = flow.run()

    site = csm.state()["fields"]
    for entity, definitions in (
        ("customer", zd["user_fields"]),
        ("organization", zd["organization_fields"]),
    ):
        got = {f["name"]: (f["type"], f["options"]) for f in site[entity]}
        want = {readable(d["key"]): SCHEMA_TYPE[d["type"]] for d in definitions}
        assert {n: got.get(n) for n in want} == want, entity
        assert set(got) == set(want) | STANDARD[entity], entity

    users = [u for u in zd["users"].values() if u["email"] and u["active"]]
    loadable = [u for u in users if u["role"] == "end-user"]
    customers = csm_by_email(csm)
    assert set(customers) == {u["email"] for u in loadable}
    for user in loadable:
        details = customers[user["email"]]["details"]
        custom = {k: v for k, v in details.items() if k not in STANDARD["customer"]}
        assert custom == expected_details(zd["user_fields"], user["user_fields"]), user["email"]
        assert details["Phone"] == [user["phone"]]
    # the multiselect really arrived as the tap's Python repr, and landed as its items
    assert any(len(u["user_fields"]["interests"] or []) == 2 for u in loadable)
    assert all("[" not in v for c in customers.values() for v in c["details"].get("Interests", []))

    orgs = csm_by_name(csm)
    live = [o for o in zd["organizations"].values() if not o["deleted_at"]]
    assert set(orgs) == {o["name"] for o in live}
    for org in live:
        details = orgs[org["name"]]["details"]
        custom = {k: v for k, v in details.items() if k not in STANDARD["organization"]}
        want = expected_details(zd["organization_fields"], org["organization_fields"])
        assert custom == want, org["name"]
    # the only one dead-lettered: the user without email, which CSM cannot hold
    assert run.entity("customer")["failed"] == 0
    assert run.entity("customer")["rejected"] == len(
        [u for u in zd["users"].values() if not u["email"]]
    )
    assert run.entity("organization")["failed"] == 0


def test_a_second_run_creates_no_field(fields_flow) -> None:
    """Fields are decided once: the second run finds them all and posts no definition."""
    csm, flow = fields_flow["csm"], fields_flow["flow"]
    flow.run()
    before = csm.state()["fields"]
    csm.app.journal.clear()
    assert flow.meltano("state", "clear", "--force", flow.state_id).returncode == 0
    flow.run()
    posts = [
        r for r in csm.requests() if r["method"] == "POST" and "/details/definitions" in r["path"]
    ]
    assert posts == []
    assert csm.state()["fields"] == before


# ------------------------------------------------------------------ field_definitions
class DefinitionsFlow(FieldsFlow):
    """The README's second command: the definitions saved from Zendesk passed to the target."""

    def __init__(self, *args: Any, files: list[Path], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.files = files

    def env(self) -> dict[str, str]:
        """``TARGET_ATLASSIAN_CSM_FIELD_DEFINITIONS``: an array setting, as JSON text."""
        value = json.dumps([str(p) for p in self.files])
        return {**super().env(), "TARGET_ATLASSIAN_CSM_FIELD_DEFINITIONS": value}


def save_answer(base_url: str, resource: str, folder: Path) -> Path:
    """``curl -H "Authorization: Bearer ..." https://<sub>.zendesk.com/api/v2/<resource>.json``."""
    request = urllib.request.Request(  # noqa: S310 (the sandbox's http URL)
        f"{base_url}/api/v2/{resource}.json",
        headers={"Authorization": "Bearer sandbox-token"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        body = answer.read()
    path = folder / f"{resource}.json"
    path.write_bytes(body)
    assert json.loads(body)["next_page"] is None  # one page holds every definition
    return path


def defined_type(d: dict[str, Any]) -> tuple[str, list[str]] | None:
    """The CSM field a Zendesk definition gives (docs/target-atlassian-csm.md), None: left out."""
    names = [
        o["name"] for o in sorted(d.get("custom_field_options") or [], key=lambda o: o["position"])
    ]
    if not d["active"] or d["type"] == "lookup":
        return None
    return {
        "dropdown": ("SELECT", names),
        "tagger": ("SELECT", names),
        "multiselect": ("MULTISELECT", names),
        "checkbox": ("SELECT", ["true", "false"]),
        "integer": ("NUMBER", []),
        "decimal": ("NUMBER", []),
        "date": ("DATE", []),
        "regexp": (regexp_type(d.get("regexp_for_validation")), []),
    }.get(d["type"], ("TEXT", []))


def named_values(definitions: list[dict[str, Any]], values: dict[str, Any]) -> dict:
    """The custom part of a CSM profile: fields by title, option tags turned into names."""
    out = {}
    for d in definitions:
        if defined_type(d) is None:
            continue
        names = {o["value"]: o["name"] for o in d.get("custom_field_options") or []}
        value = values.get(d["key"])
        if d["type"] in ("dropdown", "tagger", "multiselect") and value not in (None, []):
            got = [names[v] for v in (value if isinstance(value, list) else [value])]
        else:
            got = expected_value(d["type"], value)
        if got is not None:
            out[d["title"]] = got
    return out


def test_saved_definitions_land_dropdowns_as_select_with_names(
    sandbox_factory, meltano_proxy, peer_project, tmp_path
) -> None:
    """``field_definitions`` from the sandbox's own answers: typed fields named by title,
    option names instead of tags, MULTISELECT for multiselects, every value translated."""
    zendesk = sandbox_factory("zendesk", seed="default", incremental_rate_per_minute=0)
    csm = sandbox_factory("csm", seed="empty", rate_limit_requests=0)
    meltano_proxy(zendesk=zendesk)
    files = [save_answer(zendesk.url, r, tmp_path) for r in ("user_fields", "organization_fields")]
    flow = DefinitionsFlow(peer_project, "tap-zendesk", tmp_path, {"csm": csm.url}, files=files)
    zd = zendesk.state()

    run = flow.run()

    site = csm.state()["fields"]
    for entity, definitions in (
        ("customer", zd["user_fields"]),
        ("organization", zd["organization_fields"]),
    ):
        got = {f["name"]: (f["type"], f["options"]) for f in site[entity]}
        want = {d["title"]: t for d in definitions if (t := defined_type(d)) is not None}
        assert got == want, entity  # no standard column: the definitions describe the source
    assert {"SELECT", "MULTISELECT"} <= {f["type"] for f in site["customer"]}

    customers = csm_by_email(csm)
    loadable = [
        u for u in zd["users"].values() if u["email"] and u["active"] and u["role"] == "end-user"
    ]
    assert set(customers) == {u["email"] for u in loadable}
    for user in loadable:
        want = named_values(zd["user_fields"], user["user_fields"])
        assert customers[user["email"]]["details"] == want, user["email"]
    assert any(len(u["user_fields"]["interests"] or []) == 2 for u in loadable)
    orgs = csm_by_name(csm)
    for org in (o for o in zd["organizations"].values() if not o["deleted_at"]):
        want = named_values(zd["organization_fields"], org["organization_fields"])
        assert orgs[org["name"]]["details"] == want, org["name"]
    assert run.entity("organization")["failed"] == 0
    assert run.entity("customer")["rejected"] == len(
        [u for u in zd["users"].values() if not u["email"]]
    )
