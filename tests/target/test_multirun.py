"""Several runs with one ledger: after every run, CSM holds what the source holds.

Values change, change back (A -> B -> A: the request body of the third run equals the
first's, and must still be applied), are emptied (CSM's value is cleared), and records leave
the source and come back. A run is the tap's full output at that moment, as a full-table tap
or a ``--full-refresh`` sends it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.target.conftest import (
    CUSTOMER_PROPS,
    record_msg,
    run_target,
    schema_msg,
    started_csm,
    state_msg,
    target_config,
)

PLANS = [None, "Free", "Standard", "Premium"]
REGIONS = [None, "AMER", "EMEA"]
SEATS = [None, 1, 5]
PRODUCTS = [None, [], ["Jira"], ["Jira", "Loom"]]

Source = dict[str, dict[str, Any]]  # email -> fields


def messages(source: Source, run: int) -> list[dict[str, Any]]:
    out = [schema_msg("customers", CUSTOMER_PROPS)]
    for email, fields in sorted(source.items()):
        out.append(record_msg("customers", {"id": email.split("@")[0], "email": email, **fields}))
    out.append(state_msg({"bookmarks": {"run": run}}))
    return out


def expected_details(fields: dict[str, Any]) -> dict[str, list[str]]:
    out = {}
    if fields.get("plan"):
        out["Plan"] = [fields["plan"]]
    if fields.get("region"):
        out["Region"] = [fields["region"]]
    if fields.get("seats") is not None:
        out["Seats"] = [str(fields["seats"])]
    if fields.get("products"):
        out["Products"] = sorted(fields["products"])
    return out


def held(csm) -> dict[str, dict[str, list[str]]]:
    return {
        c["email"]: {k: sorted(v) if k == "Products" else v for k, v in c["details"].items()}
        for c in csm.state()["customers"]
    }


def check_runs(csm, workdir: Path, runs: list[Source]) -> None:
    config = target_config(csm, workdir, batch_max_wait_seconds=0.05)
    last_seen: Source = {}
    for number, source in enumerate(runs):
        result = run_target(config, messages(source, number))
        assert result.exit_code == 0, result.dead_letters
        assert result.states[-1] == {"bookmarks": {"run": number}}
        last_seen.update(source)
        now = held(csm)
        for email, fields in last_seen.items():
            assert now.get(email) == expected_details(fields), (number, email, now.get(email))


def test_changed_reverted_cleared_removed_and_readded(sandbox_factory, tmp_path):
    csm = sandbox_factory("csm", seed="default", rate_limit_requests=0)
    a = {"plan": "Free", "region": "EMEA", "seats": 1, "products": ["Jira"]}
    runs: list[Source] = [
        {"a@x.io": a, "b@x.io": {"plan": "Standard", "seats": 5}, "c@x.io": {"plan": "Free"}},
        # A -> B; a field emptied (null) and a list emptied; c leaves the source.
        {
            "a@x.io": {**a, "plan": "Premium"},
            "b@x.io": {"plan": "Standard", "seats": None},
            "d@x.io": {"region": "AMER"},
        },
        # B -> A: the same values as the first run; c comes back, changed.
        {"a@x.io": a, "b@x.io": {"plan": "Standard"}, "c@x.io": {"plan": "Premium"}},
        # Everything cleared but the plan; d changes region.
        {"a@x.io": {"plan": "Free"}, "d@x.io": {"region": "EMEA", "products": ["Loom"]}},
        # And back again.
        {"a@x.io": a, "d@x.io": {"region": "AMER"}},
    ]
    check_runs(csm, tmp_path, runs)


def test_a_value_changed_back_is_applied(sandbox_factory, tmp_path):
    """A -> B -> A: the third request's body is the first's; it must get a new key."""
    csm = sandbox_factory("csm", seed="default", rate_limit_requests=0)
    runs: list[Source] = [{"a@x.io": {"plan": p}} for p in ("Free", "Premium", "Free")]
    check_runs(csm, tmp_path, runs)
    submits = [r for r in csm.requests() if r["path"].endswith("customer/profile/bulk")]
    keys = [{k.casefold(): v for k, v in r["headers"].items()}["idempotency-key"] for r in submits]
    assert len(set(keys)) == len(keys) == 3


def test_keep_policy_leaves_emptied_values_as_they_were(sandbox_factory, tmp_path):
    csm = sandbox_factory("csm", seed="default", rate_limit_requests=0)
    config = target_config(csm, tmp_path, empty_field_policy="keep")
    run_target(config, messages({"a@x.io": {"plan": "Free", "seats": 3}}, 0))
    result = run_target(config, messages({"a@x.io": {"plan": "Free", "seats": None}}, 1))
    assert result.exit_code == 0
    assert held(csm)["a@x.io"] == {"Plan": ["Free"], "Seats": ["3"]}


fields = st.fixed_dictionaries(
    {
        "plan": st.sampled_from(PLANS),
        "region": st.sampled_from(REGIONS),
        "seats": st.sampled_from(SEATS),
        "products": st.sampled_from(PRODUCTS),
    }
)
sources = st.dictionaries(st.sampled_from(["a@x.io", "b@x.io", "c@x.io"]), fields, max_size=3)


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(sources, min_size=2, max_size=5))
def test_any_sequence_of_runs_leaves_csm_equal_to_the_source(runs):
    with started_csm() as csm, tempfile.TemporaryDirectory() as tmp:
        check_runs(csm, Path(tmp), runs)
