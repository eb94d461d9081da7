"""References between records: every association the source makes ends up in CSM.

* association streams (singer-io tap-hubspot's ``contacts_by_company``) add organizations
  to customers, whatever the order of the three streams;
* two source organizations that become one CSM organization (same name) both resolve;
* a reference to an organization no record has described yet loads the customer without it
  and makes the association when a later run loads the organization;
* an organization id CSM no longer knows (deleted by an admin) is dropped, the organization
  found again (or created) and the customer retried.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from target_atlassian_csm.presets import PRESETS
from tests.target.conftest import (
    record_msg,
    run_target,
    schema_msg,
    started_csm,
    state_msg,
    target_config,
)

ORG_PROPS = {"id": "string", "name": ["string", "null"]}
CUSTOMER_PROPS = {"id": "string", "email": "string", "org_id": ["string", "null"]}
LINK_PROPS = {"contact": "string", "company": "string"}
MAPPING = {
    "organizations": {"entity": "organization", "name": "name", "source_id": "id"},
    "customers": {
        "entity": "customer",
        "email": "email",
        "source_id": "id",
        "organization_id": "org_id",
        "organization_stream": "organizations",
    },
    "links": {
        "entity": "association",
        "customer_id": "contact",
        "customer_stream": "customers",
        "organization_id": "company",
        "organization_stream": "organizations",
    },
}


def orgs_of(csm) -> dict[str, set[str]]:
    state = csm.state()
    names = {o["id"]: o["name"] for o in state["organizations"]}
    return {c["email"]: {names[i] for i in c["organizationIds"]} for c in state["customers"]}


def stream(name, props, records):
    return [schema_msg(name, props, key=next(iter(props))), *(record_msg(name, r) for r in records)]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    order=st.permutations(["organizations", "customers", "links"]),
    links=st.sets(st.tuples(st.integers(0, 3), st.integers(0, 2)), max_size=8),
)
def test_association_streams_link_every_pair_in_any_order(order, links):
    customers = [{"id": f"c{i}", "email": f"c{i}@x.io", "org_id": "o0"} for i in range(4)]
    orgs = [{"id": f"o{j}", "name": f"Org {j}"} for j in range(3)]
    records = {
        "organizations": stream("organizations", ORG_PROPS, orgs),
        "customers": stream("customers", CUSTOMER_PROPS, customers),
        "links": stream(
            "links", LINK_PROPS, [{"contact": f"c{i}", "company": f"o{j}"} for i, j in links]
        ),
    }
    messages = [m for name in order for m in records[name]]
    messages.append(state_msg({"done": True}))
    with started_csm() as csm, tempfile.TemporaryDirectory() as tmp:
        config = target_config(csm, Path(tmp), mapping=MAPPING, batch_max_wait_seconds=0.05)
        result = run_target(config, messages)
        assert result.exit_code == 0
        assert result.states[-1] == {"done": True}
        want = {f"c{i}@x.io": {"Org 0"} for i in range(4)}
        for i, j in links:
            want[f"c{i}@x.io"].add(f"Org {j}")
        assert orgs_of(csm) == want
        # Association records are no customers: outcomes count the four customers only.
        counts = result.summary["entities"]["customer"]
        assert counts["received"] == 4
        assert sum(counts[k] for k in ("created", "updated", "unchanged", "failed")) == 4


def test_the_singer_io_hubspot_preset_reads_contacts_by_company():
    schema = {"properties": {"contact-id": {"type": "integer"}, "company-id": {"type": "integer"}}}
    rule = PRESETS["auto"].rule_for("contacts_by_company", schema)
    assert rule is not None
    assert (rule.entity, rule.customer_stream, rule.organization_stream) == (
        "association",
        "contacts",
        "companies",
    )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(customers_first=st.booleans(), refs=st.lists(st.sampled_from(["a", "b"]), min_size=1))
def test_two_source_organizations_with_one_name_both_resolve(customers_first, refs):
    orgs = stream("organizations", ORG_PROPS, [{"id": s, "name": "Acme"} for s in ("a", "b")])
    people = stream(
        "customers",
        CUSTOMER_PROPS,
        [{"id": f"c{n}", "email": f"c{n}@x.io", "org_id": ref} for n, ref in enumerate(refs)],
    )
    messages = [*people, *orgs] if customers_first else [*orgs, *people]
    with started_csm() as csm, tempfile.TemporaryDirectory() as tmp:
        config = target_config(csm, Path(tmp), mapping=MAPPING, batch_max_wait_seconds=0.05)
        result = run_target(config, [*messages, state_msg({"done": True})])
        assert result.exit_code == 0
        assert orgs_of(csm) == {f"c{n}@x.io": {"Acme"} for n in range(len(refs))}
        assert not [d for d in result.dead_letters if "never" in d["reason"]]


def test_an_organization_described_in_a_later_run_is_associated_then(csm, tmp_path):
    config = target_config(csm, tmp_path, mapping=MAPPING)
    first = run_target(
        config,
        [
            *stream(
                "customers", CUSTOMER_PROPS, [{"id": "c1", "email": "c1@x.io", "org_id": "o9"}]
            ),
            state_msg({"run": 1}),
        ],
    )
    assert first.exit_code == 0
    assert orgs_of(csm) == {"c1@x.io": set()}
    (warning,) = first.dead_letters
    assert warning["severity"] == "warning"
    assert "organizations:o9 is not known yet" in warning["reason"]
    second = run_target(
        config,
        [
            *stream("organizations", ORG_PROPS, [{"id": "o9", "name": "Late"}]),
            state_msg({"run": 2}),
        ],
    )
    assert second.exit_code == 0
    assert orgs_of(csm) == {"c1@x.io": {"Late"}}
    third = run_target(config, [state_msg({"run": 3})])  # nothing deferred any more
    assert third.summary["tasks"].get("associations_made", 0) == 0


def test_an_organization_deleted_in_csm_is_found_again_and_the_customer_retried(csm, tmp_path):
    config = target_config(csm, tmp_path, mapping=MAPPING)
    orgs = stream(
        "organizations", ORG_PROPS, [{"id": f"o{j}", "name": f"Org {j}"} for j in range(3)]
    )
    people = [{"id": f"c{i}", "email": f"c{i}@x.io", "org_id": f"o{i % 3}"} for i in range(6)]
    run_target(config, [*orgs, *stream("customers", CUSTOMER_PROPS, people), state_msg({"r": 1})])
    gone = next(o for o in csm.state()["organizations"] if o["name"] == "Org 1")
    deleted = requests.delete(
        f"{csm.url}/jsm/csm/cloudid/sandbox/api/v1/organization/{gone['id']}",
        headers={"Authorization": "Bearer sandbox-token"},
        timeout=10,
    )
    assert deleted.status_code in (200, 204)
    # An incremental run: only new customers, the ledger's cached id of Org 1 is stale.
    newcomers = [{"id": f"n{i}", "email": f"n{i}@x.io", "org_id": "o1"} for i in range(3)]
    result = run_target(config, [*stream("customers", CUSTOMER_PROPS, newcomers), state_msg({})])
    assert result.exit_code == 0
    assert not [d for d in result.dead_letters if d["severity"] == "error"]
    held = orgs_of(csm)
    assert all(held[f"n{i}@x.io"] == {"Org 1"} for i in range(3))
    assert result.summary["tasks"]["organization_ids_forgotten"] >= 1


@pytest.mark.parametrize("customers_first", [False, True])
@pytest.mark.parametrize(
    "case",
    [
        ({"id": "o1", "name": "Gone", "deleted": True}, "ignore", "is deleted in the source"),
        ({"id": "o1", "name": "Gone", "deleted": True}, "delete", "is deleted in the source"),
        ({"id": "o1", "name": None}, "ignore", "was not loaded ("),
    ],
)
def test_customers_of_an_organization_not_loaded_go_on_without_it(
    csm, tmp_path, customers_first, case
):
    """A source organization that came but is not loaded (deleted in the source, refused):
    customers naming it are loaded without it at once, told why, and the association is made
    by the run that loads it. (They waited for a record that had already come, to the bound
    of tickets held or the end of input, and were told it was "not known yet".)"""
    org, policy, said = case
    mapping = {
        **MAPPING,
        "organizations": {**MAPPING["organizations"], "deleted_when": {"deleted": True}},
    }
    config = target_config(csm, tmp_path, mapping=mapping, delete_policy=policy)
    props = {**ORG_PROPS, "deleted": ["boolean", "null"]}
    orgs = stream("organizations", props, [org, {"id": "o2", "name": "Kept"}])
    people = stream(
        "customers",
        CUSTOMER_PROPS,
        [{"id": f"c{i}", "email": f"c{i}@x.io", "org_id": f"o{1 + i % 2}"} for i in range(4)],
    )
    messages = [*people, *orgs] if customers_first else [*orgs, *people]
    first = run_target(config, [*messages, state_msg({"run": 1})])
    assert first.exit_code == 0
    assert orgs_of(csm) == {
        "c0@x.io": set(),
        "c1@x.io": {"Kept"},
        "c2@x.io": set(),
        "c3@x.io": {"Kept"},
    }
    told = sorted(
        (d["identity"], d["reason"]) for d in first.dead_letters if d["entity"] == "customer"
    )
    assert [who for who, _ in told] == ["c0@x.io", "c2@x.io"]
    assert all(f"organization organizations:o1 {said}" in why for _, why in told), told
    restored = run_target(
        config,
        [*stream("organizations", ORG_PROPS, [{"id": "o1", "name": "Back"}]), state_msg({"r": 2})],
    )
    assert restored.exit_code == 0
    assert orgs_of(csm)["c0@x.io"] == {"Back"}
    assert orgs_of(csm)["c2@x.io"] == {"Back"}


def test_a_customer_deleted_then_restored_in_one_run_keeps_its_association(csm, tmp_path):
    """An association record waits for its customer even past a record of it that is not
    loaded: a later record of the same customer in this run takes it."""
    mapping = {**MAPPING, "customers": {**MAPPING["customers"], "deleted_when": {"deleted": True}}}
    config = target_config(csm, tmp_path, mapping=mapping)
    props = {**CUSTOMER_PROPS, "deleted": ["boolean", "null"]}
    messages = [
        *stream("organizations", ORG_PROPS, [{"id": "o1", "name": "Acme"}]),
        *stream("customers", props, [{"id": "c1", "email": "c1@x.io", "deleted": True}]),
        *stream("links", LINK_PROPS, [{"contact": "c1", "company": "o1"}]),
        record_msg("customers", {"id": "c1", "email": "c1@x.io", "deleted": False}),
        state_msg({"done": True}),
    ]
    result = run_target(config, messages)
    assert result.exit_code == 0
    assert orgs_of(csm) == {"c1@x.io": {"Acme"}}


def test_an_organization_loaded_then_deleted_in_one_run_is_not_made_again(csm, tmp_path):
    """delete_policy delete: an organization whose latest record says deleted is not created
    again by the customers that name it by its source id."""
    mapping = {
        **MAPPING,
        "organizations": {**MAPPING["organizations"], "deleted_when": {"deleted": True}},
    }
    config = target_config(csm, tmp_path, mapping=mapping, delete_policy="delete")
    props = {**ORG_PROPS, "deleted": ["boolean", "null"]}
    messages = [
        *stream("organizations", props, [{"id": "o1", "name": "Acme"}]),
        record_msg("organizations", {"id": "o1", "name": "Acme", "deleted": True}),
        *stream("customers", CUSTOMER_PROPS, [{"id": "c1", "email": "c1@x.io", "org_id": "o1"}]),
        state_msg({"done": True}),
    ]
    result = run_target(config, messages)
    assert result.exit_code == 0
    assert orgs_of(csm) == {"c1@x.io": set()}
    assert not [o for o in csm.state()["organizations"] if o["name"] == "Acme"]
    (warning,) = [d for d in result.dead_letters if d["entity"] == "customer"]
    assert "organization organizations:o1 is deleted in the source" in warning["reason"]


def test_customers_naming_a_merged_organization_id_get_the_survivor(csm, tmp_path):
    """An organization id merged into another (HubSpot's hs_merged_object_ids) names the
    survivor: customers naming the old id are associated with it, not told it was deleted."""
    mapping = {
        **MAPPING,
        "organizations": {**MAPPING["organizations"], "merged_ids": "merged"},
    }
    config = target_config(csm, tmp_path, mapping=mapping, delete_policy="delete")
    props = {**ORG_PROPS, "merged": ["string", "null"]}
    messages = [
        *stream("organizations", props, [{"id": "o2", "name": "Acme", "merged": "o1"}]),
        *stream("customers", CUSTOMER_PROPS, [{"id": "c1", "email": "c1@x.io", "org_id": "o1"}]),
        state_msg({"done": True}),
    ]
    result = run_target(config, messages)
    assert result.exit_code == 0
    assert orgs_of(csm) == {"c1@x.io": {"Acme"}}
    assert not [d for d in result.dead_letters if d["entity"] == "customer"]
