"""The dead-letter file is a current view: a later ending of a record replaces or removes its entry.

A record dead-lettered in one run and found unchanged, deleted or skipped in a later one is no
longer dead-lettered; an older warning about a missing association goes once the
association is made. A stale entry is not harmless: ``retry`` re-feeds it.
"""

from __future__ import annotations

from tests.ops.conftest import run_ops
from tests.target.conftest import crm_messages, run_target, target_config
from tests.target.test_deletes import MAPPING, ORGS, held, messages, people


def errors(result):
    return [d for d in result.dead_letters if d["severity"] == "error"]


def test_a_capped_delete_that_comes_back_alive_leaves_the_dead_letters(csm, tmp_path):
    config = target_config(
        csm, tmp_path, mapping=MAPPING, delete_policy="delete", max_deletes_per_run=1,
        max_failure_rate=1,
    )  # fmt: skip
    assert run_target(config, messages(people(1, 2, 3), ORGS)).exit_code == 0
    capped = run_target(config, messages(people(1, 2, removed=True), run=1))
    [entry] = [d for d in errors(capped) if "max_deletes_per_run" in d["reason"]]
    survivor = entry["source_id"]
    alive = [p for p in people(1, 2, 3) if p["id"] == survivor]

    back = run_target(config, messages(alive, run=2))

    assert back.summary["entities"]["customer"]["unchanged"] == 1
    assert errors(back) == []
    code, out = run_ops(config, "retry", "--reason-contains", "max_deletes")
    assert code == 0, out
    assert f"{survivor}@x.io" in held(csm)[0]  # live in the source: never deleted by a retry


def test_a_value_fixed_in_the_source_leaves_the_dead_letters(csm, tmp_path):
    config = target_config(csm, tmp_path, max_failure_rate=1)
    assert run_target(config, crm_messages(2, 4)).exit_code == 0
    broken = crm_messages(2, 4)
    for message in broken:
        if message["type"] == "RECORD" and message["record"].get("id") == "c1":
            message["record"]["plan"] = "Platinum"
    failed = run_target(config, broken)
    assert [d["identity"] for d in errors(failed)] == ["user1@example.com"]

    fixed = run_target(config, crm_messages(2, 4))

    assert fixed.summary["entities"]["customer"]["unchanged"] == 4
    assert errors(fixed) == []
    code, out = run_ops(config, "retry", "--dry-run")
    assert code == 0
    assert "no dead-lettered record" in out


def test_a_skipped_record_leaves_the_dead_letters(csm, tmp_path):
    config = target_config(csm, tmp_path, mapping=MAPPING, max_failure_rate=1)
    bad = {"id": "p1", "email": "not an email", "org": "o1"}
    first = run_target(config, messages([bad], ORGS))
    assert [d["source_id"] for d in first.dead_letters] == ["p1"]

    gone = run_target(config, messages([{**bad, "removed": True}], run=1))

    assert gone.summary["entities"]["customer"]["skipped"] == 1
    assert gone.dead_letters == []


def test_a_warning_about_an_association_goes_when_it_is_made(csm, tmp_path):
    config = target_config(csm, tmp_path, mapping=MAPPING)
    lonely = [{"id": "p1", "email": "p1@x.io", "org": "o9"}]
    first = run_target(config, messages(lonely))
    [warning] = first.dead_letters
    assert warning["reason"].startswith("organization orgs:o9 is not known yet")
    # It names the record that landed without a copy of it (a tap that sends contacts
    # before companies writes one per contact).
    assert (warning["stream"], warning["source_id"], warning["identity"]) == (
        "people", "p1", "p1@x.io",
    )  # fmt: skip
    assert warning["line"] is not None
    assert warning["record"] is None

    later = run_target(config, messages([], [{"id": "o9", "name": "Nine"}], run=1))

    assert [c["organizationIds"] for c in csm.state()["customers"]] == [["1"]]  # made
    assert later.dead_letters == []


def test_a_warning_still_true_stays(csm, tmp_path):
    config = target_config(csm, tmp_path, mapping=MAPPING)
    lonely = [{"id": "p1", "email": "p1@x.io", "org": "o9"}]
    run_target(config, messages(lonely))

    again = run_target(config, messages(lonely, [{"id": "o1", "name": "One"}], run=1))

    assert [d["reason"][:37] for d in again.dead_letters] == [
        "organization orgs:o9 is not known yet"
    ]


def test_an_association_made_late_does_not_land_a_newer_failed_version(csm, tmp_path):
    mapping = {**MAPPING, "people": {**MAPPING["people"], "details": {"Plan": "plan"}}}
    config = target_config(csm, tmp_path, mapping=mapping, max_failure_rate=1)
    props = {"plan": {"type": ["string", "null"]}}
    lonely = {"id": "p1", "email": "p1@x.io", "org": "o9", "plan": "Free"}
    run_target(config, with_props(messages([lonely]), props))
    failed = run_target(config, with_props(messages([{**lonely, "plan": "Platinum"}]), props))
    assert [d["severity"] for d in failed.dead_letters] == ["warning", "error"]

    later = run_target(config, messages([], [{"id": "o9", "name": "Nine"}], run=2))

    assert [c["organizationIds"] for c in csm.state()["customers"]] == [["1"]]  # made
    assert [(d["severity"], d["identity"]) for d in later.dead_letters] == [
        ("error", "p1@x.io")  # the Platinum version never landed
    ]


def with_props(messages, props):
    for message in messages:
        if message["type"] == "SCHEMA" and message["stream"] == "people":
            message["schema"]["properties"].update(props)
    return messages
