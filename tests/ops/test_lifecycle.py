"""A migration's whole life on one site, in the order a user lives it (issue 14's "done").

Load; change and delete in the source and load again with ``delete_policy: delete``;
``reconcile`` finds nothing; corrupt CSM by hand and ``reconcile`` finds exactly that; undo the
corruption, ``rollback`` the last run and CSM is as it was before that run, field by field and
membership by membership; the same run loads again and ``reconcile`` is clean once more.
Each command runs as a user calls it (``target-atlassian-csm-ops --config ... <command>``),
against the ledger and the CSM API only.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from tests.ops.conftest import run_ops
from tests.target.conftest import record_msg, run_target, schema_msg, state_msg, target_config

STR = {"type": ["string", "null"]}
FLAG = {"type": ["boolean", "null"]}
ORG_PROPS = {"id": {"type": "string"}, "name": STR, "tier": STR, "removed": FLAG}
PEOPLE_PROPS = {
    "id": {"type": "string"}, "email": STR, "name": STR, "org": STR, "plan": STR, "removed": FLAG,
}  # fmt: skip
MAPPING = {
    "orgs": {"entity": "organization", "name": "name", "source_id": "id",
             "details": {"Tier": "tier"}, "deleted_when": {"removed": True}},
    "people": {
        "entity": "customer", "email": "email", "display_name": "name", "source_id": "id",
        "organization_id": "org", "organization_stream": "orgs", "details": {"Plan": "plan"},
        "deleted_when": {"removed": True},
    },
}  # fmt: skip


def messages(orgs: list[dict[str, Any]], people: list[dict[str, Any]], run: int) -> list[Any]:
    out = [schema_msg("orgs", ORG_PROPS), *(record_msg("orgs", o) for o in orgs)]
    out += [schema_msg("people", PEOPLE_PROPS), *(record_msg("people", p) for p in people)]
    return [*out, state_msg({"run": run})]


def person(n: int, **changes: Any) -> dict[str, Any]:
    base = {"id": f"p{n}", "email": f"p{n}@x.io", "name": f"Person {n}", "org": f"o{n % 2}"}
    return {**base, "plan": "Free", **changes}


FIRST = messages(
    [{"id": "o0", "name": "Zero", "tier": "Gold"}, {"id": "o1", "name": "One", "tier": "Silver"}],
    [person(n) for n in range(8)],
    run=0,
)
#: p1 and p2 change plan, p3 and organization "One" are deleted in the source, p8 is new.
SECOND = messages(
    [{"id": "o1", "name": "One", "removed": True}],
    [person(1, plan="Premium"), person(2, plan="Standard"), person(3, removed=True), person(8)],
    run=1,
)


def site(csm: Any) -> dict[str, Any]:
    """What CSM holds, by email and name (ids change when a record is made again)."""
    state = csm.state()
    names = {o["id"]: o["name"] for o in state["organizations"]}

    def orgs(customer: dict[str, Any]) -> list[str]:
        return sorted(names[i] for i in customer["organizationIds"])

    return {
        "customers": {
            c["email"]: (
                c["displayName"],
                c["details"],
                sorted(names[i] for i in c["organizationIds"]),
            )
            for c in state["customers"]
        },
        "organizations": {o["name"]: o["details"] for o in state["organizations"]},
    }


def reconcile(config: dict[str, Any]) -> tuple[int, set[tuple[Any, ...]]]:
    report = Path(config["ledger_path"]).with_name("reconcile.json")
    code, _ = run_ops(config, "reconcile", "--json", str(report))
    data = json.loads(report.read_text())
    return code, {(d["entity"], d["identity"], d["kind"], d["field"]) for d in data["differences"]}


def test_load_delete_reconcile_corrupt_rollback_and_load_again(sandbox_factory, tmp_path):
    csm = sandbox_factory("csm", seed="empty", rate_limit_requests=0)
    for entity, name, options in (("customer", "Plan", ["Free", "Standard", "Premium"]),
                                  ("organization", "Tier", ["Silver", "Gold"])):  # fmt: skip
        csm.app.store.add_field(entity, name, "SELECT", options)
    config = target_config(csm, tmp_path, mapping=MAPPING, delete_policy="delete")

    assert run_target(config, FIRST).exit_code == 0
    before = site(csm)
    assert len(before["customers"]) == 8
    second = run_target(config, SECOND)
    assert second.exit_code == 0, second.dead_letters
    after = site(csm)
    assert set(after["organizations"]) == {"Zero"}
    assert "p3@x.io" not in after["customers"]
    assert after["customers"]["p1@x.io"][1] == {"Plan": ["Premium"]}
    assert after["customers"]["p8@x.io"][2] == ["Zero"]

    assert reconcile(config) == (0, set())

    with csm.app.lock:
        untouched = copy.deepcopy(csm.app.store)
        store = csm.app.store
        store.delete_customer(store.customer_by_email("p4@x.io"))
        store.customer_by_email("p6@x.io").details["Plan"] = ["Premium"]
    assert reconcile(config) == (
        1,
        {("customer", "p4@x.io", "missing", None), ("customer", "p6@x.io", "value", "Plan")},
    )
    with csm.app.lock:
        csm.app.store = untouched

    assert run_ops(config, "rollback", "--run", "last", "--yes")[0] == 0
    restored = site(csm)
    assert restored["organizations"] == before["organizations"]
    for email, held in before["customers"].items():
        assert restored["customers"].get(email) == held, email
    assert restored == before

    again = run_target(config, SECOND)
    assert again.exit_code == 0, again.dead_letters
    assert site(csm) == after
    assert reconcile(config) == (0, set())
