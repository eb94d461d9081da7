"""The ledger: per-site, owner-only, and the memory a resync and a restart rely on."""

from __future__ import annotations

import stat

import pytest

from target_atlassian_csm.ledger import CONFIRMED, SUBMITTED, Ledger, LedgerSiteMismatch
from target_atlassian_csm.operations import Operation


def op(email: str, seats: str = "1") -> Operation:
    return Operation(
        "customer",
        email,
        "contacts",
        source_id=email.split("@", maxsplit=1)[0],
        details={"Seats": [seats]},
    )


def test_records_tasks_and_outcomes_are_remembered(tmp_path):
    path = tmp_path / "sub" / "ledger.sqlite"
    ledger = Ledger(path, site="site-a", run_id="r1")
    a, b = op("a@x.io"), op("b@x.io")
    ledger.mark_submitted(
        task_id="t1",
        entity="customer",
        endpoint="customer/profile/bulk",
        idempotency_key="k",
        ops=[a, b],
    )
    pending = ledger.pending_tasks()
    assert [(p.task_id, sorted(p.items)) for p in pending] == [("t1", ["a@x.io", "b@x.io"])]
    ledger.mark_outcome(task_id="t1", task_status="FINISHED", confirmed=[a], failed=[(b, "bad")])
    assert ledger.pending_tasks() == []
    row = ledger.get("customer", "a@x.io")
    assert row.status == CONFIRMED
    assert row.payload_hash == a.payload_hash
    assert ledger.get("customer", "b@x.io").status == "failed"
    assert ledger.key_for_source("customer", "contacts", "a") == "a@x.io"
    ledger.set_organization_ids([("Acme Inc", "17")])
    assert ledger.organization_id("acme inc") == "17"
    ledger.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_ledger_refuses_another_site(tmp_path):
    Ledger(tmp_path / "l.sqlite", site="site-a", run_id="r1").close()
    with pytest.raises(LedgerSiteMismatch, match="belongs to CSM site 'site-a'"):
        Ledger(tmp_path / "l.sqlite", site="site-b", run_id="r2")


def test_dry_run_copy_reads_but_never_writes_the_file(tmp_path):
    path = tmp_path / "l.sqlite"
    real = Ledger(path, site="s", run_id="r1")
    real.mark_submitted(
        task_id="t1", entity="customer", endpoint="e", idempotency_key="k", ops=[op("a@x.io")]
    )
    real.close()
    copy = Ledger.in_memory_copy(path, site="s", run_id="r2")
    assert copy.get("customer", "a@x.io").status == SUBMITTED
    copy.mark_outcome(task_id="t1", task_status="FINISHED", confirmed=[op("a@x.io")], failed=[])
    copy.close()
    again = Ledger(path, site="s", run_id="r3")
    assert again.get("customer", "a@x.io").status == SUBMITTED
