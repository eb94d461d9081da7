"""``target-atlassian-csm-ops rollback``: a run undone, field by field, and loadable again."""

from __future__ import annotations

import json

from target_atlassian_csm.ops.cli import main
from tests.target.conftest import crm_messages, customer_made_in_csm, run_target, target_config


def snapshot(csm):
    state = csm.state()
    return (
        {c["email"]: (c["displayName"], c["details"]) for c in state["customers"]},
        {o["name"]: o["details"] for o in state["organizations"]},
    )


def ops(config, tmp_path, *args):
    path = tmp_path / "ops-config.json"
    path.write_text(json.dumps(config))
    return main(["--config", str(path), *args])


def second_run():
    """Ten customers changed, five new ones, and a new organization."""
    messages = crm_messages(4, 15, changed=range(10))
    for message in messages:
        record = message.get("record") or {}
        if record.get("id") == "o1":
            record["industry"] = "Banking"
    return messages


def test_rolling_back_the_last_run_restores_csm_and_the_run_loads_again(csm, tmp_path):
    config = target_config(csm, tmp_path)
    assert run_target(config, crm_messages(3, 10)).exit_code == 0
    before = snapshot(csm)
    assert run_target(config, second_run()).exit_code == 0
    after = snapshot(csm)
    assert after != before
    # The plan changes nothing.
    assert ops(config, tmp_path, "rollback", "--run", "last") == 0
    assert snapshot(csm) == after
    # Carried out: CSM is as it was before the second run, field by field. The run looked
    # nothing up before writing (default settings), so its new records are deleted only when
    # the user says CSM did not hold them before.
    assert ops(config, tmp_path, "rollback", "--run", "last", "--yes") == 0
    assert len(snapshot(csm)[0]) == 15  # the five new ones are left: not known to be ours
    assert ops(config, tmp_path, "rollback", "--run", "last", "--yes", "--include-unverified") == 0
    assert snapshot(csm) == before
    # The ledger forgot what was undone: the same run loads again.
    again = run_target(config, second_run())
    assert again.exit_code == 0
    assert snapshot(csm) == after
    assert again.summary["entities"]["customer"]["unchanged"] < 15


def test_before_images_restore_what_csm_held_before_the_first_load(sandbox_factory, tmp_path):
    csm = sandbox_factory("csm", seed="default", rate_limit_requests=0)
    customer_made_in_csm(
        csm,
        {
            "email": "user3@example.com",
            "displayName": "Agent Made",
            "details": [{"name": "Plan", "values": ["Enterprise"]}],
        },
    )
    before = snapshot(csm)
    config = target_config(csm, tmp_path, keep_before_images=True)
    assert run_target(config, crm_messages(2, 5)).exit_code == 0
    assert snapshot(csm)[0]["user3@example.com"][0] == "User 3"
    assert ops(config, tmp_path, "rollback", "--run", "last", "--yes") == 0
    customers, orgs = snapshot(csm)
    # The agent's customer is back as it was (not deleted: this target did not create it);
    # the others, created by the run, are gone.
    assert customers == before[0]
    assert orgs == before[1]


def test_without_looking_first_a_rollback_never_deletes_a_record_csm_held(csm, tmp_path):
    """A default load does not ask CSM whether it holds a record before the first write, so
    the ledger cannot tell a record it created from an agent's it wrote over: rollback leaves
    both, says why, and deletes them only when asked (``--include-unverified``)."""
    customer_made_in_csm(csm, {"email": "user1@example.com", "displayName": "Agent Made"})
    config = target_config(csm, tmp_path)
    assert run_target(config, crm_messages(1, 3)).exit_code == 0
    assert ops(config, tmp_path, "rollback", "--run", "last", "--yes") == 0
    assert set(snapshot(csm)[0]) == {f"user{i}@example.com" for i in range(3)}


def test_rolling_back_last_twice_does_not_undo_the_rollback(csm, tmp_path):
    config = target_config(csm, tmp_path)
    assert run_target(config, crm_messages(3, 10)).exit_code == 0
    before = snapshot(csm)
    assert run_target(config, crm_messages(3, 10, changed=range(4))).exit_code == 0
    assert ops(config, tmp_path, "rollback", "--run", "last", "--yes") == 0
    assert snapshot(csm) == before
    # "last" is the last load again (the second run, already undone), never the rollback.
    assert ops(config, tmp_path, "rollback", "--run", "last", "--yes") == 0
    assert snapshot(csm) == before
