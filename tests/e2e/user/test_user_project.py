"""``meltano run tap-hubspot target-atlassian-csm`` in a user's own, fresh Meltano project.

Issue 13: users already have a project with their own ``tap-hubspot`` (MeltanoLabs or
singer-io variant) or ``tap-zendesk``; they add our target from its definition and run the
literal command. Each test makes a fresh ``meltano init`` project (once per tap variant, see
``conftest.py``), sets credentials only through environment variables and runs against the
sandboxes: a first run loads (read back from the CSM sandbox), a second one is incremental
(tap-zendesk's inclusive bookmark re-reads a user without email: reported, not a failure), a
dry run moves no bookmark and a run that maps nothing fails and saves no state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.user.conftest import Bench, Outcome, ProjectFactory, UserFlow, csm_settings
from tests.peers.conftest import add_csm_fields, csm_by_email, csm_by_name, profile_items

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

START = "2020-01-01T00:00:00Z"
#: The fields a CSM admin creates before loading HubSpot (matched by name, no mapping).
HUBSPOT_FIELDS = {
    "customer": [("Job Title", "TEXT", []), ("Lifecycle Stage", "TEXT", [])],
    "organization": [("Domain", "TEXT", []), ("Industry", "TEXT", [])],
}


@dataclass
class Scenario:
    """A flow, the CSM sandbox, what the source holds and how to change one customer."""

    variant: str
    flow: UserFlow
    csm: Any
    emails: set[str]
    org_names: set[str]
    change_one: Callable[[], str]


def hubspot_scenario(variant: str, bench: Bench) -> Scenario:
    hubspot = bench.sandbox(
        "hubspot",
        seed={"preset": "default", "contacts": 12, "companies": 4},
        burst_limit=0,
        search_rate_per_second=0,
    )
    csm = bench.sandbox("csm", seed="empty", rate_limit_requests=0)
    add_csm_fields(csm, HUBSPOT_FIELDS)
    knobs = hubspot.app.knobs
    if variant == "tap-hubspot--meltanolabs":
        credentials = {"TAP_HUBSPOT_ACCESS_TOKEN": knobs["access_tokens"][0]}
    else:  # the Hub's singer-io definition has no api_key setting: OAuth, as its users do
        credentials = {
            "TAP_HUBSPOT_REDIRECT_URI": "https://localhost/oauth-callback",
            "TAP_HUBSPOT_CLIENT_ID": knobs["oauth_client_id"],
            "TAP_HUBSPOT_CLIENT_SECRET": knobs["oauth_client_secret"],
            "TAP_HUBSPOT_REFRESH_TOKEN": knobs["oauth_refresh_token"],
        }
    settings = {**credentials, "TAP_HUBSPOT_START_DATE": START, **csm_settings(csm)}
    state = hubspot.state()
    contacts = [c for c in state["contacts"].values() if not c["archived"]]
    companies = [c for c in state["companies"].values() if not c["archived"]]

    def change_one() -> str:
        with_email = sorted(
            int(k) for k, c in state["contacts"].items() if c["properties"].get("email")
        )
        contact_id = with_email[3]
        hubspot.app.modify("contacts", ids=[contact_id], property="jobtitle", value="Chief Tester")
        return hubspot.state()["contacts"][str(contact_id)]["properties"]["email"]

    return Scenario(
        variant,
        bench.flow(variant, settings, hubspot=hubspot),
        csm,
        {c["properties"]["email"] for c in contacts if c["properties"].get("email")},
        {c["properties"]["name"] for c in companies},
        change_one,
    )


def zendesk_scenario(variant: str, bench: Bench) -> Scenario:
    zendesk = bench.sandbox("zendesk", seed="default", incremental_rate_per_minute=0)
    csm = bench.sandbox("csm", seed="empty", rate_limit_requests=0)
    settings = {
        "TAP_ZENDESK_SUBDOMAIN": "sandbox",
        "TAP_ZENDESK_ACCESS_TOKEN": zendesk.app.knobs["access_tokens"][0],
        "TAP_ZENDESK_START_DATE": START,
        **csm_settings(csm),
    }
    state = zendesk.state()
    users = [u for u in state["users"].values() if u["email"] and u["active"]]
    end_users = [u for u in users if u["role"] == "end-user"]

    def change_one() -> str:
        user = sorted(end_users, key=lambda u: u["id"])[0]
        # two minutes back: outside the incremental export's hold-back
        zendesk.app.modify("users", user["id"], {"name": "Renamed Person"}, time.time() - 120)
        return user["email"]

    return Scenario(
        variant,
        bench.flow(variant, settings, zendesk=zendesk),
        csm,
        {u["email"] for u in end_users},
        {o["name"] for o in state["organizations"].values() if not o["deleted_at"]},
        change_one,
    )


VARIANTS = ["tap-hubspot--meltanolabs", "tap-hubspot--singer-io", "tap-zendesk--singer-io"]


def build(variant: str, bench: Bench) -> Scenario:
    """The scenario of one tap, as Meltano Hub defines it, in its fresh project."""
    maker = zendesk_scenario if variant.startswith("tap-zendesk") else hubspot_scenario
    return maker(variant, bench)


@pytest.fixture(scope="module", params=VARIANTS)
def variant(request: pytest.FixtureRequest) -> str:
    """Each tap variant; the tests of one variant run together (one project install)."""
    return request.param


@pytest.fixture
def scenario(variant: str, bench: Bench) -> Scenario:
    """A scenario with fresh sandboxes and an empty Meltano state, for one test."""
    return build(variant, bench)


@dataclass
class FirstRun:
    """A scenario after one ``meltano run``, and what that run left, read at the time."""

    scenario: Scenario
    outcome: Outcome
    customers: set[str]
    organizations: set[str]
    state: dict[str, Any]


@pytest.fixture(scope="module")
def first_run(
    variant: str, user_project: ProjectFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FirstRun]:
    """One plain ``meltano run`` per variant, shared: its results are read when it ends, so
    a later test that runs again in the same scenario cannot change them."""
    bench = Bench(user_project, tmp_path_factory.mktemp("first-run"))
    try:
        built = build(variant, bench)
        outcome = built.flow.run()
        yield FirstRun(
            built,
            outcome,
            set(csm_by_email(built.csm)),
            set(csm_by_name(built.csm)),
            built.flow.state(),
        )
    finally:
        bench.close()


@dataclass
class NothingMapped:
    """A run whose target maps no stream (``mapping_preset: none``), read when it ended."""

    outcome: Outcome
    sent: dict[str, list[str]]
    state: dict[str, Any]


@pytest.fixture(scope="module")
def nothing_mapped(
    variant: str, user_project: ProjectFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[NothingMapped]:
    """One run per variant with ``TARGET_ATLASSIAN_CSM_MAPPING_PRESET=none``, shared."""
    bench = Bench(user_project, tmp_path_factory.mktemp("nothing-mapped"))
    try:
        built = build(variant, bench)
        outcome = built.flow.run(TARGET_ATLASSIAN_CSM_MAPPING_PRESET="none")
        yield NothingMapped(outcome, sent(built.csm), built.flow.state())
    finally:
        bench.close()


def sent(csm: Any) -> dict[str, list[str]]:
    """Customers' emails and organizations' names sent in bulk requests since the journal
    was last cleared."""
    return {
        "customer": [p["email"] for p in profile_items(csm, "customer")],
        "organization": [p["name"] for p in profile_items(csm, "organization")],
    }


def test_the_first_run_loads_every_customer_and_organization(first_run: FirstRun) -> None:
    """The literal command exits 0 and loads every customer and organization, read back
    from CSM; Meltano stores the tap's bookmark."""
    assert first_run.outcome.returncode == 0, first_run.outcome.log[-6000:]
    assert first_run.customers == first_run.scenario.emails
    assert first_run.organizations == first_run.scenario.org_names
    assert first_run.state["singer_state"]["bookmarks"]


def test_the_second_run_sends_only_what_changed(first_run: FirstRun) -> None:
    """From Meltano's stored bookmark the next run reads what changed since: after one
    customer changes, only that one is sent."""
    assert first_run.outcome.returncode == 0, "the first run failed"
    built = first_run.scenario
    # tap-zendesk re-exports the last user at the bookmark; in the sandbox's data that user has
    # no email: rejected (reported), which does not fail the run.
    email = built.change_one()
    built.csm.app.journal.clear()
    built.flow.loads()
    assert sent(built.csm) == {"customer": [email], "organization": []}


def test_a_dry_run_moves_no_state_so_the_real_run_loads_everything(scenario: Scenario) -> None:
    """``TARGET_ATLASSIAN_CSM_DRY_RUN=true meltano run ...`` sends nothing and stores no
    bookmark; the real run that follows reads and loads everything."""
    flow, csm = scenario.flow, scenario.csm
    flow.loads(TARGET_ATLASSIAN_CSM_DRY_RUN="true")
    assert sent(csm) == {"customer": [], "organization": []}
    assert flow.state().get("singer_state", {}).get("bookmarks", {}) == {}
    flow.loads()
    assert set(csm_by_email(csm)) == scenario.emails


def test_a_run_that_maps_nothing_sends_nothing(nothing_mapped: NothingMapped) -> None:
    assert nothing_mapped.sent == {"customer": [], "organization": []}


def test_a_run_that_maps_nothing_exits_non_zero(nothing_mapped: NothingMapped) -> None:
    """Records arrive for CSM but no stream is mapped: that is an error, not a success."""
    assert nothing_mapped.outcome.returncode != 0


def test_a_run_that_maps_nothing_saves_no_state(nothing_mapped: NothingMapped) -> None:
    """No bookmark may be stored for records that were never loaded."""
    assert nothing_mapped.state == {}
