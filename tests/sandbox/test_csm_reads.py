"""Reads of the CSM sandbox, for a reconcile (issue 14) and for finding ids by email.

Profile fetches (≤ 25, by ids; by email only with a knob), the single profile reads and
``organization/fetch`` (≤ 50) answer one profile shape; Jira's user search finds customers
by email the way Jira documents it (prefix of the email or of a display-name word), after
``user_search_delay_seconds``.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.core import ManualClock
from sandbox.core.app import ApiError
from sandbox.csm import create_app
from sandbox.csm.calls import (
    AUTH,
    CsmCalls,
    customers,
    detail,
    organization,
    organizations,
    profile,
)
from sandbox.csm.reads import check_lookup, user_matches
from sandbox.csm.store import Customer

JIRA = "/ex/jira/sandbox/rest/api/3"


def seed_site(csm):
    """Acme ("1", Tier Gold), Globex ("2"); jane in both with two details; john in Globex."""
    csm.run(
        "organization/profile/bulk",
        organizations(
            organization("Acme", details=[detail("Tier", "Gold")]), organization("Globex")
        ),
    )
    csm.run(
        "customer/profile/bulk",
        customers(
            profile(
                "Jane@x.io",
                displayName="Jane Doe",
                details=[detail("Products", "Jira", "Loom"), detail("Region", "EMEA")],
                associateOrganizations={"organizationIds": ["2", "1"]},
            ),
            profile(
                "john@x.io",
                displayName="John Smith",
                associateOrganizations={"organizationIds": ["2"]},
            ),
        ),
    )
    return {c["email"]: c["id"] for c in csm.app.state_snapshot()["customers"]}


def fetch_customers(csm, **body):
    return csm.call("POST", "customer/profile/fetch", body, headers=AUTH)


def search(csm, prefix=JIRA, headers=AUTH, **params):
    return csm.call("GET", "user/search", params=params, headers=headers, prefix=prefix)


# ------------------------------------------------------------------ profile shape
def test_a_customer_profile_has_one_shape_wherever_it_is_read(csm):
    ids = seed_site(csm)
    single = csm.call("GET", f"customer/profile/{ids['Jane@x.io']}", headers=AUTH).json()
    assert single == {
        "id": ids["Jane@x.io"],
        "email": "Jane@x.io",
        "displayName": "Jane Doe",
        # in the site's field order (Region is field 1, Products field 6)
        "details": [
            {"name": "Region", "values": ["EMEA"]},
            {"name": "Products", "values": ["Jira", "Loom"]},
        ],
        "organizations": [{"id": "2", "name": "Globex"}, {"id": "1", "name": "Acme"}],
    }
    (fetched,) = fetch_customers(csm, customerIds=[ids["Jane@x.io"]]).json()["results"]
    assert fetched == single


def test_an_organization_profile_has_one_shape_wherever_it_is_read(csm):
    ids = seed_site(csm)
    single = csm.call("GET", "organization/profile/1", headers=AUTH).json()
    assert single == {
        "id": "1",
        "name": "Acme",
        "details": [{"name": "Tier", "values": ["Gold"]}],
        "customers": [{"id": ids["Jane@x.io"], "email": "Jane@x.io", "displayName": "Jane Doe"}],
    }
    fetched = csm.call("POST", "organization/profile/fetch", {"organizationIds": ["1"]})
    assert fetched.json() == {"results": [single]}


# --------------------------------------------------------------- profile fetches
def test_customer_profile_fetch_answers_in_request_order_once_each_missing_omitted(csm):
    ids = seed_site(csm)
    jane, john = ids["Jane@x.io"], ids["john@x.io"]
    answer = fetch_customers(csm, customerIds=[john, "qm:missing:1", jane, john])
    assert answer.status_code == 200
    assert [p["id"] for p in answer.json()["results"]] == [john, jane]
    assert fetch_customers(csm, customerIds=[]).json() == {"results": []}


def test_customer_profile_fetch_takes_at_most_25(csm):
    ids = seed_site(csm)
    assert fetch_customers(csm, customerIds=[ids["john@x.io"]] * 25).status_code == 200
    refused = fetch_customers(csm, customerIds=[ids["john@x.io"]] * 26)
    assert refused.status_code == 400
    assert "25" in refused.json()["message"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"customerIds": "qm:a:b"},
        {"customerIds": [1]},
        {"emails": ["jane@x.io"]},  # by email: not documented, off by default
        {"customerIds": [], "organizationIds": []},
        ["qm:a:b"],
    ],
)
def test_customer_profile_fetch_refuses_other_bodies(csm, body):
    seed_site(csm)
    response = csm.call("POST", "customer/profile/fetch", body)
    assert response.status_code == 400
    assert response.json()["message"]


def test_customer_profile_fetch_by_email_is_a_knob(csm):
    ids = seed_site(csm)
    csm.app.set_knobs(profile_fetch_by_email=True)
    answer = fetch_customers(
        csm, emails=["JANE@X.IO", "nobody@x.io"], customerIds=[ids["john@x.io"]]
    )
    assert [p["email"] for p in answer.json()["results"]] == ["john@x.io", "Jane@x.io"]
    too_many = fetch_customers(csm, emails=["a@x.io"] * 13, customerIds=["qm:a:b"] * 13)
    assert too_many.status_code == 400


def test_organization_profile_fetch_by_ids_at_most_25(csm):
    seed_site(csm)
    answer = csm.call("POST", "organization/profile/fetch", {"organizationIds": ["2", "9", "1"]})
    assert [p["name"] for p in answer.json()["results"]] == ["Globex", "Acme"]
    assert answer.json()["results"][0]["details"] == []
    too_many = csm.call("POST", "organization/profile/fetch", {"organizationIds": ["1"] * 26})
    assert too_many.status_code == 400
    by_name = csm.call("POST", "organization/profile/fetch", {"organizationNames": ["Acme"]})
    assert by_name.status_code == 400  # names are organization/fetch's, not documented here


def test_organization_fetch_refuses_unknown_fields(csm):
    seed_site(csm)
    body = {"organizationNames": ["acme"], "names": ["Globex"]}
    assert csm.call("POST", "organization/fetch", body).status_code == 400
    fine = csm.call("POST", "organization/fetch", {"organizationNames": ["acme", "Acme"]})
    assert fine.json() == {"results": [{"id": "1", "name": "Acme"}]}


@given(
    counts=st.dictionaries(
        st.sampled_from(["customerIds", "emails"]), st.integers(0, 40), min_size=1
    )
)
def test_the_fetch_limit_counts_every_entry_sent(counts):
    body = {key: [f"{key}-{i}" for i in range(n)] for key, n in counts.items()}
    total = sum(counts.values())
    if total > 25:
        with pytest.raises(ApiError, match="at most 25"):
            check_lookup(body, ("customerIds", "emails"), 25, "profiles")
    else:
        assert check_lookup(body, ("customerIds", "emails"), 25, "profiles")["customerIds"] == (
            body.get("customerIds", [])
        )


# -------------------------------------------------------------- Jira user search
def test_user_search_finds_a_customer_by_email(csm):
    ids = seed_site(csm)
    answer = search(csm, query="jane@x.io", maxResults=10)
    assert answer.status_code == 200
    assert answer.json() == [
        {
            "accountId": ids["Jane@x.io"],
            "accountType": "customer",
            "emailAddress": "Jane@x.io",
            "displayName": "Jane Doe",
            "active": True,
        }
    ]
    assert search(csm, query="nobody@x.io").json() == []


def test_user_search_matches_prefixes_as_jira_documents_it(csm):
    """``query=jo`` finds John Smith by email and Mary Jones by name: pick the exact email."""
    seed_site(csm)
    csm.run(
        "customer/profile/bulk",
        customers(
            profile("mary@x.io", displayName="Mary Jones"),
            profile("jane@x.io.example", displayName="Other Jane"),
        ),
    )
    found = [u["emailAddress"] for u in search(csm, query="jo").json()]
    assert found == ["john@x.io", "mary@x.io"]
    found = [u["emailAddress"] for u in search(csm, query="JANE@x.io").json()]
    assert found == ["Jane@x.io", "jane@x.io.example"]
    csm.app.set_knobs(user_search_match="exact")
    assert [u["emailAddress"] for u in search(csm, query="jane@X.io").json()] == ["Jane@x.io"]
    assert search(csm, query="jo").json() == []


def test_user_search_pages_and_finds_by_account_id(csm):
    ids = seed_site(csm)
    everyone = [u["accountId"] for u in search(csm, query="j").json()]
    assert everyone == [ids["Jane@x.io"], ids["john@x.io"]]
    assert [u["accountId"] for u in search(csm, query="j", startAt=1, maxResults=5).json()] == [
        ids["john@x.io"]
    ]
    assert search(csm, query="j", maxResults=0).json() == []
    by_id = search(csm, accountId=ids["john@x.io"]).json()
    assert [u["emailAddress"] for u in by_id] == ["john@x.io"]


@pytest.mark.parametrize(
    "params", [{}, {"query": " "}, {"query": "j", "maxResults": "x"}, {"query": "j", "startAt": -1}]
)
def test_user_search_refuses_bad_parameters(csm, params):
    seed_site(csm)
    response = search(csm, **params)
    assert response.status_code == 400
    assert response.json()["message"]


def test_user_search_on_the_site_url_needs_auth_and_checks_the_cloud_id(csm):
    seed_site(csm)
    site = search(csm, prefix="/rest/api/3", query="john@x.io")
    assert [u["emailAddress"] for u in site.json()] == ["john@x.io"]
    assert search(csm, headers={}, query="john@x.io").status_code == 401
    assert search(csm, prefix="/ex/jira/other/rest/api/3", query="john").status_code == 404


def test_new_customers_become_findable_only_after_the_search_delay(sandbox_factory, clock):
    running = sandbox_factory(
        "csm",
        clock=clock,
        seed={"preset": "default", "customers": 1},
        user_search_delay_seconds=300,
    )
    csm = CsmCalls(running.url, clock)
    assert [u["emailAddress"] for u in search(csm, query="user0@").json()] == [
        "user0@example.com"
    ]  # seeded records always existed
    answer = csm.run("customer/profile/bulk", customers(profile("new@x.io")))  # ends at +3600
    ended = running.app.task_state(answer["id"])["endedAt"]
    clock.advance(ended + 299 - clock.now())
    assert search(csm, query="new@x.io").json() == []
    fetched = csm.call("POST", "customer/profile/fetch", {"customerIds": []})
    assert fetched.status_code == 200  # the CSM reads are not delayed
    clock.advance(1)
    assert [u["emailAddress"] for u in search(csm, query="new@x.io").json()] == ["new@x.io"]


def test_a_deleted_customer_is_not_found_by_the_search(csm):
    ids = seed_site(csm)
    assert csm.call("DELETE", f"customer/account/{ids['john@x.io']}").status_code == 204
    assert search(csm, query="john@x.io").json() == []


EMAIL_PART = st.text(string.ascii_letters + string.digits + "._-", min_size=1, max_size=12)


@given(
    local=EMAIL_PART,
    domain=EMAIL_PART,
    name=st.lists(EMAIL_PART, min_size=1, max_size=3).map(" ".join),
    cut=st.integers(1, 30),
)
def test_any_prefix_of_the_email_finds_it_and_only_the_whole_email_matches_exactly(
    local, domain, name, cut
):
    email = f"{local}@{domain}.io"
    customer = Customer("qm:a:b", email, name)
    prefix = email[:cut]
    assert user_matches(customer, prefix.upper(), "prefix")
    assert user_matches(customer, f" {email.swapcase()} ", "exact")
    assert user_matches(customer, prefix, "exact") == (prefix == email)
    assert not user_matches(customer, f"x{email}", "exact")


def test_a_renamed_customer_is_found_by_its_new_name_only(csm):
    seed_site(csm)
    assert search(csm, query="smith").json()[0]["emailAddress"] == "john@x.io"
    csm.run("customer/profile/bulk", customers(profile("john@x.io", displayName="Bob Brown")))
    assert [u["emailAddress"] for u in search(csm, query="bob").json()] == ["john@x.io"]
    assert search(csm, query="smith").json() == []


WORD = st.text("abcAB@.", min_size=1, max_size=4)


@given(
    people=st.lists(st.tuples(WORD, st.lists(WORD, max_size=2).map(" ".join)), max_size=30),
    changes=st.lists(st.tuples(st.integers(0, 29), st.booleans(), WORD), max_size=20),
    queries=st.lists(WORD, min_size=1, max_size=5),
)
def test_the_search_index_finds_what_a_full_scan_finds(people, changes, queries):
    """Creates, renames and deletes in any order; lookups between them, as a site sees them."""
    app = create_app(clock=ManualClock())
    store = app.store
    for n, (local, name) in enumerate(people):
        if store.customer_by_email(f"{local}{n}@x.io") is None:
            store.create_customer(f"{local}{n}@x.io", name)
        if n % 7 == 0:
            store.customers_with_prefix(queries[0].casefold())  # lookups along the way
    for index, delete, name in changes:
        records = list(store.customers.values())
        if not records:
            break
        customer = records[index % len(records)]
        if delete:
            store.delete_customer(customer)
        else:
            store.rename_customer(customer, name)
        store.customers_with_prefix(name.casefold())
    for query in [*queries, *(name for _, _, name in changes)]:
        indexed = [
            c.id
            for c in store.customers_with_prefix(query.casefold())
            if user_matches(c, query, "prefix")
        ]
        scanned = [c.id for c in store.customers.values() if user_matches(c, query, "prefix")]
        assert indexed == scanned
