"""Readings of the CSM sandbox where the reference is open, and strict rules it implies.

* associations (§9 q2): ``additive`` by default, ``replace`` as a knob; the FIELD report that
  a live site silently made no association (S18) as ``profile_associations_ignored``;
* organization names: CSM organizations are JSM organizations, named with 1 to 200
  characters (§7), so a longer name cannot be created;
* knobs with a fixed set of readings refuse any other value.
"""

from __future__ import annotations

import pytest

from sandbox.core import ManualClock
from sandbox.csm import create_app
from sandbox.csm.calls import CsmCalls, customers, organization, organizations, profile


@pytest.fixture
def csm(sandbox_factory):
    clock = ManualClock()
    running = sandbox_factory("csm", clock=clock, seed="default")
    calls = CsmCalls(running.url, clock)
    calls.app = running.app
    calls.run("organization/profile/bulk", organizations(*map(organization, ("A", "B", "C"))))
    return calls


def member(email, *org_ids):
    return customers(profile(email, associateOrganizations={"organizationIds": list(org_ids)}))


def orgs_of(csm, email):
    return csm.app.customer_by_email(email)["organizationIds"]


def test_associations_are_additive_by_default(csm):
    csm.run("customer/profile/bulk", member("a@x.io", "1", "2"))
    csm.run("customer/profile/bulk", member("a@x.io", "3"))
    csm.run("customer/profile/bulk", customers(profile("a@x.io")))  # no key: no change
    assert orgs_of(csm, "a@x.io") == ["1", "2", "3"]


def test_associations_replace_the_membership_under_the_replace_reading(csm):
    csm.app.set_knobs(association_mode="replace")
    csm.run("customer/profile/bulk", member("a@x.io", "1", "2"))
    csm.run("customer/profile/bulk", member("b@x.io", "1"))
    csm.run("customer/profile/bulk", member("a@x.io", "3", "2"))
    assert orgs_of(csm, "a@x.io") == ["2", "3"]
    assert csm.app.organization_by_name("A")["customerIds"] == [
        csm.app.customer_by_email("b@x.io")["id"]
    ]
    csm.run("customer/profile/bulk", customers(profile("a@x.io")))  # no key: no change
    assert orgs_of(csm, "a@x.io") == ["2", "3"]
    csm.run("customer/profile/bulk", member("a@x.io"))  # an empty list: no membership left
    assert orgs_of(csm, "a@x.io") == []
    b_id = csm.app.customer_by_email("b@x.io")["id"]
    body = organizations(organization("B", associateCustomers={"customerIds": [b_id]}))
    csm.run("organization/profile/bulk", body)
    body = organizations(organization("B", associateCustomers={"customerIds": []}))
    csm.run("organization/profile/bulk", body)
    assert csm.app.organization_by_name("B")["customerIds"] == []
    assert orgs_of(csm, "b@x.io") == ["1"]


def test_associations_silently_ignored_under_the_field_reading(csm):
    csm.app.set_knobs(profile_associations_ignored=True)
    answer = csm.run("customer/profile/bulk", member("a@x.io", "1", "404"))
    assert (answer["status"], answer["failures"]) == ("FINISHED", [])
    assert orgs_of(csm, "a@x.io") == []


def test_an_organization_name_longer_than_200_characters_is_not_created(csm):
    long_name, longest = "N" * 201, "M" * 200
    answer = csm.run("organization/profile/bulk", organizations(organization(long_name)))
    assert answer["failures"] == [
        {
            "entity": "ORGANIZATION",
            "entityId": long_name,
            "operation": "UPSERT",
            "operatedOn": "ORGANIZATION",
            "operatedOnIds": [],
            "error": "Invalid organization name",
        }
    ]
    assert csm.run("organization/bulk", {"organizations": [organization(long_name)]})["failures"]
    assert (
        csm.run("organization/profile/bulk", organizations(organization(longest)))["failures"] == []
    )
    assert csm.app.organization_by_name(long_name) is None


@pytest.mark.parametrize(
    ("knob", "value"),
    [
        ("task_order", "lifo"),
        ("profile_empty_values", ""),
        ("association_mode", "merge"),
        ("user_search_match", "fuzzy"),
        ("account_other_ids_status", "404"),
        ("dialect", "other"),
    ],
)
def test_knobs_with_readings_refuse_other_values(knob, value):
    app = create_app(clock=ManualClock())
    with pytest.raises(ValueError, match=knob):
        app.set_knobs(**{knob: value})
