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
    # Carried out: CSM is as it was before the second run, field by field.
    assert ops(config, tmp_path, "rollback", "--run", "last", "--yes") == 0
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
