"""The ledger: per-site, owner-only, and the memory a resync and a restart rely on."""

from __future__ import annotations

import json
import sqlite3
import stat

import pytest

from target_atlassian_csm.ledger import (
    CONFIRMED,
    FAILED,
    SUBMITTED,
    Ledger,
    LedgerSiteMismatch,
)
from target_atlassian_csm.operations import Operation


def op(email: str, seats: str = "1") -> Operation:
    return Operation(
        "customer",
        email,
        "contacts",
        source_id=email.split("@", maxsplit=1)[0],
        details={"Seats": [seats]},
    )


def prepare(ledger: Ledger, key: str, ops: list[Operation], body: bytes = b"{}") -> None:
    ledger.prepare(
        key=key,
        entity="customer",
        phase="upsert",
        endpoint="customer/profile/bulk",
        body=body,
        ops=ops,
    )


def test_a_submission_is_written_before_it_is_sent_and_settled_after(tmp_path):
    path = tmp_path / "sub" / "ledger.sqlite"
    ledger = Ledger(path, site="site-a", run_id="r1")
    a, b = op("a@x.io"), op("b@x.io")
    prepare(ledger, "k1", [a, b], b'{"customerProfiles":[]}')
    (opened,) = ledger.open_submissions()
    assert (opened.key, opened.keys, opened.task_id) == ("k1", ["a@x.io", "b@x.io"], None)
    assert opened.body == b'{"customerProfiles":[]}'
    assert ledger.get("customer", "a@x.io").status == SUBMITTED
    ledger.rekeyed("k1", "k2")
    ledger.submitted("k2", "t1")
    (opened,) = ledger.open_submissions()
    assert (opened.key, opened.task_id) == ("k2", "t1")
    assert ledger.get("customer", "a@x.io").submission == "k2"
    ledger.settle("k2", confirmed=[a], failed=[(b, "bad")], ended=True)
    assert ledger.open_submissions() == []
    row = ledger.get("customer", "a@x.io")
    assert row.status == CONFIRMED
    assert row.payload_hash == a.payload_hash
    assert row.confirmed_payload == a.semantic_text
    assert ledger.get("customer", "b@x.io").status == FAILED
    assert ledger.key_for_source("customer", "contacts", "a") == "a@x.io"
    ledger.set_organization_ids([("Acme Inc", "17")])
    assert ledger.organization_id("acme inc") == "17"
    assert ledger.forget_organization_id("17") == ["acme inc"]
    assert ledger.organization_id("acme inc") is None
    ledger.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_bodies_are_dropped_once_a_submission_ends(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite", site="s", run_id="r1")
    prepare(ledger, "k", [op("a@x.io")], b"x" * 10_000)
    ledger.settle("k", confirmed=[op("a@x.io")], ended=True)
    ledger.close()
    db = sqlite3.connect(tmp_path / "l.sqlite")
    assert db.execute("SELECT body FROM submissions").fetchall() == [(None,)]


def test_a_ledger_is_keyed_on_the_cloud_id_and_refuses_another_site(tmp_path):
    Ledger(tmp_path / "l.sqlite", site="site-a", run_id="r1").close()
    with pytest.raises(LedgerSiteMismatch, match="belongs to CSM site \\(cloud id\\) 'site-a'"):
        Ledger(tmp_path / "l.sqlite", site="site-b", run_id="r2")


def test_a_ledger_of_the_first_layout_is_migrated(tmp_path):
    """Site keyed on "<base_url>|<cloud id>", a ``tasks`` table: both carried over."""
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE records (entity TEXT NOT NULL, key TEXT NOT NULL, stream TEXT,
            source_id TEXT, payload_hash TEXT, payload TEXT, status TEXT NOT NULL,
            csm_id TEXT, task_id TEXT, run_id TEXT, reason TEXT, updated_at REAL NOT NULL,
            PRIMARY KEY (entity, key));
        CREATE TABLE tasks (task_id TEXT PRIMARY KEY, entity TEXT NOT NULL,
            endpoint TEXT NOT NULL, idempotency_key TEXT NOT NULL, items INTEGER NOT NULL,
            status TEXT NOT NULL, submitted_at REAL NOT NULL, finished_at REAL, run_id TEXT);
        INSERT INTO meta VALUES ('site', 'http://127.0.0.1:8401|cloud-1');
        INSERT INTO records VALUES ('customer', 'a@x.io', 'contacts', 'a', 'h', '{}',
            'submitted', NULL, 't9', 'r0', NULL, 1.0);
        INSERT INTO tasks VALUES ('t9', 'customer', 'customer/profile/bulk', 'oldkey', 1,
            'submitted', 1.0, NULL, 'r0');
        """
    )
    db.commit()
    db.close()
    ledger = Ledger(path, site="cloud-1", run_id="r1")
    (opened,) = ledger.open_submissions()
    assert (opened.key, opened.task_id, opened.keys, opened.body) == (
        "oldkey",
        "t9",
        ["a@x.io"],
        None,
    )
    ledger.close()
    with pytest.raises(LedgerSiteMismatch):
        Ledger(path, site="cloud-2", run_id="r2")


def test_dry_run_copy_reads_but_never_writes_the_file(tmp_path):
    path = tmp_path / "l.sqlite"
    real = Ledger(path, site="s", run_id="r1")
    prepare(real, "k", [op("a@x.io")])
    real.close()
    copy = Ledger.in_memory_copy(path, site="s", run_id="r2")
    assert copy.get("customer", "a@x.io").status == SUBMITTED
    copy.settle("k", confirmed=[op("a@x.io")], ended=True)
    copy.close()
    again = Ledger(path, site="s", run_id="r3")
    assert again.get("customer", "a@x.io").status == SUBMITTED


def test_deferred_associations_are_kept_until_made(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite", site="s", run_id="r1")
    ledger.defer_associations([("a@x.io", "source:companies:7")])
    ledger.defer_associations([("a@x.io", "source:companies:7")])
    assert ledger.deferred_associations() == [("a@x.io", "source:companies:7")]
    ledger.drop_deferred([("a@x.io", "source:companies:7")])
    assert ledger.deferred_associations() == []


def test_held_fields_are_those_confirmed_or_last_sent(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite", site="s", run_id="r1")
    first = Operation("customer", "a@x.io", "c", details={"Plan": ["Gold"]})
    ledger.settle(None, confirmed=[first])
    second = Operation("customer", "a@x.io", "c", details={"Seats": ["3"]})
    prepare(ledger, "k", [second])
    row = ledger.get("customer", "a@x.io")
    assert row.held_fields() == {"Plan", "Seats"}
    assert json.loads(row.confirmed_payload)["details"] == {"Plan": ["Gold"]}
