"""Records deleted in the source: ignored, flagged, or deleted in CSM (``delete_policy``).

Deleting is the one write that cannot be undone by a later load, so it is fenced: only
records this target created are deleted (a customer CSM held before the first load is not),
at most ``max_deletes_per_run`` per run (the rest are dead-lettered), and a record deleted in
the source that comes back is created again.
"""

from __future__ import annotations

import pytest

from tests.target.conftest import (
    customer_made_in_csm,
    record_msg,
    run_target,
    schema_msg,
    state_msg,
    target_config,
)

STR = {"type": ["string", "null"]}
ORG_PROPS = {"id": {"type": "string"}, "name": STR, "removed": {"type": ["boolean", "null"]}}
PEOPLE_PROPS = {
    "id": {"type": "string"},
    "email": STR,
    "org": STR,
    "removed": {"type": ["boolean", "null"]},
    "merged": STR,
}
MAPPING = {
    "orgs": {"entity": "organization", "name": "name", "source_id": "id",
             "deleted_when": {"removed": True}},
    "people": {
        "entity": "customer", "email": "email", "source_id": "id", "organization_id": "org",
        "organization_stream": "orgs", "deleted_when": {"removed": True}, "merged_ids": "merged",
    },
}  # fmt: skip


def messages(people, orgs=(), run=0):
    out = [schema_msg("orgs", ORG_PROPS), *(record_msg("orgs", o) for o in orgs)]
    out += [schema_msg("people", PEOPLE_PROPS), *(record_msg("people", p) for p in people)]
    return [*out, state_msg({"run": run})]


def held(csm):
    state = csm.state()
    return {c["email"] for c in state["customers"]}, {o["name"] for o in state["organizations"]}


def people(*numbers, **changes):
    return [{"id": f"p{n}", "email": f"p{n}@x.io", "org": "o1", **changes} for n in numbers]


ORGS = [{"id": "o1", "name": "One"}, {"id": "o2", "name": "Two"}]


def test_delete_policy_deletes_what_this_target_created_and_a_comeback_is_recreated(csm, tmp_path):
    config = target_config(csm, tmp_path, mapping=MAPPING, delete_policy="delete")
    assert run_target(config, messages(people(1, 2, 3), ORGS)).exit_code == 0
    assert held(csm) == ({"p1@x.io", "p2@x.io", "p3@x.io"}, {"One", "Two"})
    gone = run_target(
        config,
        messages(people(2, removed=True), [{"id": "o2", "name": "Two", "removed": True}], run=1),
    )
    assert gone.exit_code == 0
    assert held(csm) == ({"p1@x.io", "p3@x.io"}, {"One"})
    assert gone.summary["entities"]["customer"]["deleted"] == 1
    assert gone.summary["entities"]["organization"]["deleted"] == 1
    back = run_target(config, messages(people(2), run=2))
    assert back.exit_code == 0
    assert "p2@x.io" in held(csm)[0]
    assert back.summary["entities"]["customer"]["created"] == 1


def test_a_record_csm_held_before_is_never_deleted(csm, tmp_path):
    config = target_config(csm, tmp_path, mapping=MAPPING, delete_policy="delete")
    customer_made_in_csm(csm, {"email": "p9@x.io"})  # an agent's, loaded over by the first run
    run_target(config, messages(people(1, 9), ORGS))
    result = run_target(config, messages(people(1, 9, removed=True), run=1))
    assert result.exit_code == 0
    assert held(csm)[0] == {"p9@x.io"}  # p1 (ours) deleted, p9 (the agent's) kept
    warnings = [d for d in result.dead_letters if d["severity"] == "warning"]
    assert any("not created by this target" in d["reason"] for d in warnings)


def _flag_site(sandbox_factory, tmp_path):
    """A CSM site with the flag field, and the target's config with ``delete_policy: flag``."""
    csm = sandbox_factory("csm", seed="default", rate_limit_requests=0)
    for entity in ("customer", "organization"):
        csm.app.store.add_field(entity, "Source status", "TEXT", [])
    return csm, target_config(csm, tmp_path, mapping=MAPPING, delete_policy="flag")


def test_flag_policy_sets_the_flag_field(sandbox_factory, tmp_path):
    csm, config = _flag_site(sandbox_factory, tmp_path)
    run_target(config, messages(people(1, 2), ORGS))
    result = run_target(config, messages(people(2, removed=True), run=1))
    assert result.exit_code == 0
    details = {c["email"]: c["details"] for c in csm.state()["customers"]}
    assert details["p2@x.io"] == {"Source status": ["deleted"]}
    assert details["p1@x.io"] == {}


def test_merged_away_records_are_deleted_not_the_survivor(csm, tmp_path):
    config = target_config(csm, tmp_path, mapping=MAPPING, delete_policy="delete")
    run_target(config, messages(people(1, 2, 3), ORGS))
    survivor = {"id": "p1", "email": "p1@x.io", "org": "o1", "merged": "p2;p3"}
    result = run_target(config, messages([survivor], run=1))
    assert result.exit_code == 0
    assert held(csm)[0] == {"p1@x.io"}
    # Each merged-away id is the source's word that a record is gone: received, and deleted.
    counts = result.summary["entities"]["customer"]
    assert (counts["received"], counts["deleted"], counts["unchanged"]) == (3, 2, 1)


def test_deletes_beyond_the_cap_are_dead_lettered(csm, tmp_path):
    config = target_config(
        csm, tmp_path, mapping=MAPPING, delete_policy="delete", max_deletes_per_run=2,
        max_failure_rate=1,
    )  # fmt: skip
    run_target(config, messages(people(1, 2, 3, 4, 5), ORGS))
    result = run_target(config, messages(people(1, 2, 3, 4, 5, removed=True), run=1))
    assert len(held(csm)[0]) == 3
    capped = [d for d in result.dead_letters if "max_deletes_per_run" in d["reason"]]
    assert len(capped) == 3


def test_ignore_policy_leaves_csm_as_it_is(csm, tmp_path):
    config = target_config(csm, tmp_path, mapping=MAPPING)
    run_target(config, messages(people(1, 2), ORGS))
    result = run_target(config, messages(people(2, removed=True), run=1))
    assert held(csm)[0] == {"p1@x.io", "p2@x.io"}
    assert result.summary["entities"]["customer"]["skipped"] == 1


@pytest.mark.parametrize("probing", [{"delete_policy": "delete"}, {"keep_before_images": True}])
def test_records_that_look_themselves_up_first_keep_their_organizations(csm, tmp_path, probing):
    """A write that first asks CSM whether it holds the record (to know what this target
    created, or to keep a before-image) makes its organization wait for that answer; the
    customers naming it wait for the organization, not give up on it (all lost theirs)."""
    config = target_config(csm, tmp_path, mapping=MAPPING, **probing)
    crowd = [{"id": f"p{n}", "email": f"p{n}@x.io", "org": f"o{1 + n % 2}"} for n in range(6)]
    result = run_target(config, messages(crowd, ORGS))
    assert result.exit_code == 0
    assert [d["reason"] for d in result.dead_letters] == []
    state = csm.state()
    names = {o["id"]: o["name"] for o in state["organizations"]}
    members = {c["email"]: [names[i] for i in c["organizationIds"]] for c in state["customers"]}
    assert members == {f"p{n}@x.io": [["One", "Two"][n % 2]] for n in range(6)}


def test_a_flagged_record_that_comes_back_loses_the_flag(sandbox_factory, tmp_path):
    csm, config = _flag_site(sandbox_factory, tmp_path)
    run_target(config, messages(people(1, 2), ORGS))
    run_target(config, messages(people(2, removed=True), run=1))
    back = run_target(config, messages(people(2, removed=False), run=2))
    assert back.exit_code == 0
    details = {c["email"]: c["details"] for c in csm.state()["customers"]}
    assert details["p2@x.io"] == {}


def test_delete_policy_turned_on_later_never_deletes_what_the_first_write_did_not_check(
    csm, tmp_path
):
    """Loaded first with the default policy (no look-up before writing), a record may have
    been an agent's: turning ``delete_policy: delete`` on later leaves it, with a warning."""
    customer_made_in_csm(csm, {"email": "p9@x.io"})
    run_target(target_config(csm, tmp_path, mapping=MAPPING), messages(people(1, 9), ORGS))
    config = target_config(csm, tmp_path, mapping=MAPPING, delete_policy="delete")
    result = run_target(config, messages(people(1, 9, removed=True), run=1))
    assert result.exit_code == 0
    assert held(csm)[0] == {"p1@x.io", "p9@x.io"}
    warnings = [d["reason"] for d in result.dead_letters if d["severity"] == "warning"]
    assert len(warnings) == 2
    assert all("not created by this target" in w for w in warnings)


def test_a_shared_email_is_deleted_only_when_every_source_record_is(csm, tmp_path):
    """Two source records with one email (any case) load as one CSM customer: deleting one of
    them in the source leaves it, in the same run or a later one; deleting the last deletes."""
    config = target_config(csm, tmp_path, mapping=MAPPING, delete_policy="delete")
    twins = [{"id": "p1", "email": "Twin@x.io", "org": "o1"}, {"id": "p2", "email": "twin@x.io"}]
    assert run_target(config, messages(twins, ORGS)).exit_code == 0
    assert {e.casefold() for e in held(csm)[0]} == {"twin@x.io"}
    one_gone = run_target(config, messages([{**twins[0], "removed": True}], run=1))
    assert one_gone.exit_code == 0
    assert {e.casefold() for e in held(csm)[0]} == {"twin@x.io"}
    assert any("p2 still load" in d["reason"] for d in one_gone.dead_letters)
    both_gone = run_target(config, messages([{**twins[1], "removed": True}], run=2))
    assert both_gone.exit_code == 0
    assert held(csm)[0] == set()


def test_in_one_run_a_deleted_duplicate_never_deletes_the_live_one(csm, tmp_path):
    config = target_config(csm, tmp_path, mapping=MAPPING, delete_policy="delete")
    run_target(config, messages(people(1), ORGS))
    twins = [{"id": "p7", "email": "p1@x.io", "removed": True}, *people(1)]
    for order in (twins, twins[::-1]):
        result = run_target(config, messages(order, run=1))
        assert result.exit_code == 0
        assert held(csm)[0] == {"p1@x.io"}


def test_a_changed_email_or_name_is_said_not_silent(csm, tmp_path):
    """CSM keys customers by email and organizations by name: a source record whose email or
    name changed makes a new CSM record, and the dead letters say which old one is left."""
    config = target_config(csm, tmp_path, mapping=MAPPING)
    run_target(config, messages(people(1), ORGS))
    moved = run_target(
        config,
        messages([{"id": "p1", "email": "p1.new@x.io", "org": "o1"}],
                 [{"id": "o2", "name": "Two Renamed"}], run=1),
    )  # fmt: skip
    assert moved.exit_code == 0
    reasons = [d["reason"] for d in moved.dead_letters if d["severity"] == "warning"]
    assert any("people/p1 was loaded as p1@x.io" in r for r in reasons), reasons
    assert any("orgs/o2 was loaded as Two" in r for r in reasons), reasons
