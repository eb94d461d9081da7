"""The README's "Any other tap" examples, run as written: a CSV file read by the real
``tap-spreadsheets`` (PyPI, unmodified) and a database table in the shape tap-postgres emits,
each piped into ``target-atlassian-csm`` with the mapping from ``samples/`` against the CSM
sandbox."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from sandbox.proxy import REPO_ROOT
from tests.peers.conftest import (
    PEERS_DIR,
    _missing,
    add_csm_fields,
    csm_by_email,
    run_pipe,
    target_config,
)

pytestmark = pytest.mark.e2e

SAMPLES = REPO_ROOT / "samples"
FIXTURE = REPO_ROOT / "tests" / "fixtures" / "public-customers.singer.jsonl"
SPREADSHEETS = PEERS_DIR / "tap-spreadsheets" / "bin" / "tap-spreadsheets"


def mapping(name: str) -> dict[str, Any]:
    """The target settings a README example adds (``samples/<name>.mapping.json``)."""
    return json.loads((SAMPLES / f"{name}.mapping.json").read_text())


@pytest.fixture
def csm(sandbox_factory) -> Any:
    """An empty CSM site."""
    return sandbox_factory("csm", seed="empty", rate_limit_requests=0)


def test_csv_through_tap_spreadsheets_lands_people_with_company_and_details(
    csm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``tap-spreadsheets --config samples/customers.tap-spreadsheets.json | target``: every
    row a customer with its name, company (created as an organization) and mapped details."""
    if not SPREADSHEETS.exists():
        _missing(
            "tap-spreadsheets not installed: python3 -m venv .venv-peers/tap-spreadsheets && "
            ".venv-peers/tap-spreadsheets/bin/pip install tap-spreadsheets==1.1.2"
        )
    add_csm_fields(
        csm,
        {
            "customer": [
                ("Plan", "SELECT", ["Free", "Pro", "Enterprise"]),
                ("Region", "SELECT", ["EMEA", "Americas", "APAC"]),
                ("Renewal Date", "DATE", []),
            ]
        },
    )
    monkeypatch.chdir(REPO_ROOT)  # the tap config's path is relative, as in the README
    tap = [str(SPREADSHEETS), "--config", str(SAMPLES / "customers.tap-spreadsheets.json")]
    run = run_pipe(tap, {}, target_config(csm, tmp_path, **mapping("customers")), tmp_path)
    run.check()

    rows = list(csv.DictReader((SAMPLES / "customers.csv").open()))
    customers = csm_by_email(csm)
    assert set(customers) == {r["email"] for r in rows}
    org_names = {o["id"]: o["name"] for o in csm.state()["organizations"]}
    assert set(org_names.values()) == {r["company"] for r in rows if r["company"]}
    for row in rows:
        got = customers[row["email"]]
        assert got["displayName"] == row["name"]
        assert got["details"] == {
            "Plan": [row["plan"]],
            "Region": [row["region"]],
            "Renewal Date": [row["renewal_date"]],
        }
        assert [org_names[i] for i in got["organizationIds"]] == (
            [row["company"]] if row["company"] else []
        )
    assert run.summary["entities"]["customer"]["failed"] == 0
    assert run.last_state()["bookmarks"]["people"]["replication_key"] == "_sdc_last_modified"


def test_database_table_in_tap_postgres_shape_lands_with_the_readme_mapping(
    csm, tmp_path: Path
) -> None:
    """The stored ``public-customers`` stream (tap-postgres naming: schema-table) with the
    README's mapping: live rows land with their account and details, the soft-deleted row is
    skipped, the table's STATE passes through."""
    add_csm_fields(
        csm, {"customer": [("Tier", "SELECT", ["Gold", "Silver"]), ("Seats", "NUMBER", [])]}
    )
    config = target_config(csm, tmp_path, **mapping("public-customers"))
    run = run_pipe(["cat", str(FIXTURE)], {}, config, tmp_path).check()

    records = [
        m["record"]
        for m in map(json.loads, FIXTURE.read_text().splitlines())
        if m["type"] == "RECORD"
    ]
    live = [r for r in records if not r["deleted_at"]]
    customers = csm_by_email(csm)
    assert set(customers) == {r["email"] for r in live}
    org_ids = {o["name"]: o["id"] for o in csm.state()["organizations"]}
    assert set(org_ids) == {r["account_name"] for r in live}
    for row in live:
        got = customers[row["email"]]
        assert got["displayName"] == row["full_name"]
        assert got["details"] == {"Tier": [row["tier"]], "Seats": [str(row["seats"])]}
        assert got["organizationIds"] == [org_ids[row["account_name"]]]
    assert run.summary["entities"]["customer"]["skipped"] == len(records) - len(live)
    assert run.last_state()["bookmarks"]["public-customers"]["replication_key_value"] == 3


@pytest.mark.parametrize(
    "sample",
    ["customers.tap-spreadsheets.json", "customers.mapping.json", "public-customers.mapping.json"],
)
def test_readme_shows_the_sample_configs_the_tests_run(sample: str) -> None:
    """The README's JSON blocks are the files above, verbatim."""
    assert (SAMPLES / sample).read_text().strip() in (REPO_ROOT / "README.md").read_text()
