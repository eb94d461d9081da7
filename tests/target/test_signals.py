"""SIGTERM (what Meltano sends on `--timeout` or Ctrl-C): stop cleanly, checkpoint only truth.

singer-sdk 0.54 drains sinks on SIGTERM and a signal during a drain can checkpoint records that
were never written (meltano/sdk#3775). The target does not drain on signals: it submits nothing
new, lets the tasks in flight finish within the grace period, and passes on the last STATE whose
records are all confirmed. A rerun from that STATE lands the rest, each record once.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from tests.target.conftest import FAST, crm_messages, target_config


def _start(config_path, lines):
    process = subprocess.Popen(
        [sys.executable, "-m", "target_atlassian_csm", "--config", str(config_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    process.stdin.write(lines)
    process.stdin.flush()
    return process


def _submits(csm):
    return [r for r in csm.requests() if r["method"] == "POST" and r["path"].endswith("/bulk")]


def test_sigterm_stops_submitting_and_checkpoints_only_confirmed_records(sandbox_factory, tmp_path):
    csm = sandbox_factory("csm", seed="default", **FAST, seconds_per_item=0.01)
    config = target_config(csm, tmp_path, shutdown_grace_seconds=30, state_every_records=100)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    messages = crm_messages(5, 3000, state_every=100)
    lines = "".join(json.dumps(m) + "\n" for m in messages)
    # stdin stays open: the target is mid-stream, as under a tap that is still reading.
    process = _start(config_path, lines[: len(lines) // 2])
    deadline = time.monotonic() + 30
    while len(_submits(csm)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_submits(csm)) >= 3, "the target never got going: the test proves nothing"
    process.send_signal(signal.SIGTERM)
    signalled_at = time.time()
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1, err[-2000:]
    assert "Rerun to resume" in err
    states = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert states, "no STATE was passed on before stopping"
    last = states[-1]["bookmarks"]
    # Every customer before the last STATE passed on is in CSM.
    landed = {c["email"] for c in csm.state()["customers"]}
    assert all(f"user{i}@example.com" in landed for i in range(last.get("customers", 0)))
    # Nothing new was submitted after the signal (a request already on the wire may land).
    late = [r for r in _submits(csm) if r["at"] > signalled_at + 1.0]
    assert late == []
    # Every task it submitted ran to its end: none left for CSM to run on its own.
    assert all(t["status"] in ("FINISHED", "FAILED") for t in csm.state()["tasks"])

    # The rerun: Meltano resends everything after the last STATE it stored.
    csm.app.journal.clear()
    resume_at = next(i for i, m in enumerate(messages) if m.get("value") == states[-1]) + 1
    schemas = [m for m in messages[:resume_at] if m["type"] == "SCHEMA"]
    rerun = subprocess.run(
        [sys.executable, "-m", "target_atlassian_csm", "--config", str(config_path)],
        input="".join(json.dumps(m) + "\n" for m in schemas + messages[resume_at:]),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    err = rerun.stderr
    assert rerun.returncode == 0, err[-2000:]
    customers = csm.state()["customers"]
    assert len(customers) == 3000
    assert len({c["email"] for c in customers}) == 3000
