"""Problems found at start-up: one line, exit status 2, nothing left behind that a fix must undo."""

from __future__ import annotations

import sqlite3

from tests.ops.conftest import run_ops
from tests.target.conftest import crm_messages, run_target, target_config


def test_a_mistyped_cloud_id_does_not_bind_a_new_ledger(csm, tmp_path, caplog):
    wrong = target_config(csm, tmp_path, cloud_id="not-my-site")
    failed = run_target(wrong, crm_messages(1, 2))
    assert failed.exit_code == 2
    assert "No site" in caplog.text

    right = run_target(target_config(csm, tmp_path), crm_messages(1, 2))

    assert right.exit_code == 0, caplog.text
    assert right.summary["entities"]["customer"]["created"] == 2


def test_a_ledger_of_another_site_names_both_possibilities(csm, tmp_path, caplog):
    config = target_config(csm, tmp_path)
    assert run_target(config, crm_messages(1, 2)).exit_code == 0
    with sqlite3.connect(config["ledger_path"]) as db:  # the ledger of a site, not this one
        db.execute("UPDATE meta SET value = 'other-site' WHERE key = 'site'")
    caplog.clear()

    result = run_target(config, crm_messages(1, 2))

    assert result.exit_code == 2
    [line] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "'other-site'" in line
    assert "mistyped" in line
    assert "set ledger_path" in line
    code, _ = run_ops(config, "report")
    assert code == 2
    assert "mistyped" in caplog.text.splitlines()[-1]
