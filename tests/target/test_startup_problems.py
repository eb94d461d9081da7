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


def _target_cli(tmp_path, config, env=None):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    exe = Path(sys.executable).with_name("target-atlassian-csm")
    return subprocess.run(
        [str(exe), "--config", str(path)],
        input="",
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


SECRET = "s3cret-value-4711"


def test_a_badly_typed_setting_ends_in_one_line_with_status_2(tmp_path):
    for bad in ({"max_failure_rate": "abc"}, {"access_token": [SECRET]}):
        config = {"cloud_id": "x", "access_token": SECRET, **bad}
        done = _target_cli(tmp_path, config)
        assert done.returncode == 2, done.stderr
        errors = [line for line in done.stderr.splitlines() if "ERROR" in line]
        assert len(errors) == 1, done.stderr
        assert next(iter(bad)) in errors[0]
        assert SECRET not in done.stderr


def test_a_misspelled_setting_from_the_environment_is_warned_about(
    csm, tmp_path, caplog, monkeypatch
):
    monkeypatch.setenv("TARGET_ATLASSIAN_CSM_DELETE_POLCY", "delete")
    monkeypatch.setenv("TARGET_ATLASSIAN_CSM__DIALECT", "target_atlassian_csm")  # Meltano's extra
    monkeypatch.setenv("TARGET_ATLASSIAN_CSM_STREAM_MAPS", "{}")  # the SDK's own setting
    monkeypatch.setenv("TARGET_ATLASSIAN_CSM_DELETE_POLICY", "ignore")

    assert run_target(target_config(csm, tmp_path), crm_messages(1, 1)).exit_code == 0

    unknown = [r.getMessage() for r in caplog.records if "Unknown setting" in r.getMessage()]
    assert unknown == [
        "Unknown setting 'delete_polcy' (environment variable TARGET_ATLASSIAN_CSM_DELETE_POLCY) "
        "is ignored (did you mean 'delete_policy'?)."
    ]
