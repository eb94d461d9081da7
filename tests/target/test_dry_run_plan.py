"""Dry run: the plan is printed, nothing is sent to CSM (no POST at all), nothing is written."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from target_atlassian_csm.target import TargetAtlassianCSM
from tests.target.conftest import FAST, run_target, target_config
from tests.target.test_provisioning import hubspot_messages, zendesk_messages


def dry_run(config: dict[str, Any], messages: list[dict[str, Any]]) -> tuple[list[str], int]:
    """Run in-process; return the plan lines and the exit code."""
    lines = "".join(json.dumps(m) + "\n" for m in messages)
    target = TargetAtlassianCSM(config={**config, "dry_run": True})
    code = 0
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            target.listen(io.StringIO(lines))
        except SystemExit as exc:
            code = int(exc.code or 0)
    return target.plan_lines, code


def posts(sandbox: Any) -> list[dict[str, Any]]:
    return [r for r in sandbox.requests() if r["method"] == "POST"]


@pytest.fixture
def empty_csm(sandbox_factory):
    return sandbox_factory("csm", seed="empty", **FAST)


def with_bad_records(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """hs1 gets an invalid email, hs2 a lead status HubSpot does not define."""
    out = json.loads(json.dumps(messages))
    for m in out:
        if m["type"] == "RECORD" and m["stream"] == "contacts":
            if m["record"]["id"] == "101":
                m["record"]["email"] = "not-an-email"
            if m["record"]["id"] == "102":
                m["record"]["hs_lead_status"] = "BOGUS"
    return out


def test_dry_run_prints_the_plan_and_sends_no_post(empty_csm, tmp_path, caplog):
    config = target_config(empty_csm, tmp_path, create_missing_fields=True, max_failure_rate=1)
    caplog.set_level(logging.INFO)
    plan, code = dry_run(config, with_bad_records(hubspot_messages()))
    assert code == 0
    assert posts(empty_csm) == []  # no field, no bulk request, no lookup
    assert empty_csm.state()["fields"] == {"customer": [], "organization": []}
    text = "\n".join(plan)
    assert plan[0] == "CSM dry-run plan (nothing was written):"
    assert "  detail fields would create: 10" in plan  # 8 customer + 2 organization
    assert (
        "    customer: 'Lead Status' SELECT (5 options) <- "
        "hubspot:contacts.hs_lead_status (enumeration/select)"
    ) in plan
    assert "    organization: 'Industry' SELECT (4 options) <- " in text
    assert "hubspot:contacts.cf_calc (number/calculation_equation): calculated" in text
    assert (
        "    customers: would create 1, would update 0, unchanged 0, merged 0, "
        "skipped 0, rejected 1, would fail 1"
    ) in plan
    assert "  STATE: none passed on (a dry run moves no bookmark)" in plan
    assert "    organizations: would create 1," in text
    assert "  would fail validation:" in plan
    assert "    customer: 1 x invalid email" in plan
    assert "    customer: 1 x value is not an option of SELECT field 'Lead Status'" in plan
    assert "      e.g. contacts/101: invalid email 'not-an-email'" in plan
    # Printed (to the log, stderr): the same lines.
    logged = [r.getMessage() for r in caplog.records]
    assert all(line in logged for line in plan)
    # Nothing on disk.
    for setting in ("ledger_path", "dead_letter_path", "summary_path"):
        assert not Path(config[setting]).exists()


def test_dry_run_reports_what_does_not_fit_without_stopping(empty_csm, tmp_path):
    config = target_config(empty_csm, tmp_path, create_missing_fields=True)
    plan, code = dry_run(config, hubspot_messages(extra_props=45))
    assert code == 0
    assert posts(empty_csm) == []
    assert "  do not fit CSM's limits: 3" in plan
    assert any(
        "'Cf Extra 0044' TEXT <- hubspot:contacts.cf_extra_0044" in line
        and "past CSM's 50 fields per customer (0 exist, 53 proposed)" in line
        for line in plan
    )
    # The records validate against the 50 planned fields.
    assert "    customers: would create 3," in "\n".join(plan)


def test_dry_run_after_a_load_plans_updates_from_the_ledger(empty_csm, tmp_path):
    config = target_config(empty_csm, tmp_path, create_missing_fields=True)
    assert run_target(config, zendesk_messages(users=3)).exit_code == 0
    empty_csm.app.journal.clear()
    changed = zendesk_messages(users=3)
    for m in changed:
        if m["type"] == "RECORD" and m["stream"] == "users" and m["record"]["id"] == 501:
            m["record"]["user_fields"]["seats"] = 99
    plan, code = dry_run(config, changed)
    assert code == 0
    assert posts(empty_csm) == []
    assert "  detail fields would create: none" in plan
    assert (
        "    customers: would create 0, would update 1, unchanged 2, merged 0, "
        "skipped 0, rejected 0, would fail 0"
    ) in plan
    assert any(line.startswith("    customer: 'Plan tier' SELECT <- zendesk:") for line in plan)


def test_dry_run_without_provisioning_still_plans_records_and_failures(sandbox_factory, tmp_path):
    csm = sandbox_factory("csm", seed="default", **FAST)
    config = target_config(csm, tmp_path, max_failure_rate=1)
    messages = with_bad_records(hubspot_messages())
    plan, code = dry_run(config, messages)
    assert posts(csm) == []
    assert code == 0
    assert "  detail fields would create: none" in plan
    assert "    customer: 1 x invalid email" in plan
