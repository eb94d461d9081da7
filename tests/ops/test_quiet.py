"""The operations commands print their output, not the SDK's reading of every setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from target_atlassian_csm.ledger import Ledger


def test_settings_read_from_the_environment_are_not_narrated(tmp_path):
    Ledger(tmp_path / "ledger.sqlite", site="sandbox", run_id="load").close()
    env = {
        **os.environ,
        "TARGET_ATLASSIAN_CSM_CLOUD_ID": "sandbox",
        "TARGET_ATLASSIAN_CSM_ACCESS_TOKEN": "sandbox-token",
        "TARGET_ATLASSIAN_CSM_LEDGER_PATH": str(tmp_path / "ledger.sqlite"),
        "TARGET_ATLASSIAN_CSM_DEAD_LETTER_PATH": str(tmp_path / "dead.jsonl"),
        "TARGET_ATLASSIAN_CSM_MAX_FAILURE_RATE": "0.1",
        "TARGET_ATLASSIAN_CSM_DRY_RUN": "false",
    }
    ops = Path(sys.executable).with_name("target-atlassian-csm-ops")
    done = subprocess.run(
        [str(ops), "retry", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Retry: no dead-lettered record" in done.stdout
    assert done.stderr == "", done.stderr
