"""README.md's CSV example ("Loading any tap's output"), its shell lines run as written.

Only the port differs: the README's local CSM listens on 8401, the test's on a free port, so
``127.0.0.1:8401`` is replaced in every line and the ``sandbox serve ... &`` line is the
``sandbox_factory`` fixture (an empty CSM, as the line asks). The lines run with bash in a
scratch folder that links the clone's ``samples/``, ``.venv`` and ``.venv-peers`` (the
example writes ``target.json`` where it runs).
"""

from __future__ import annotations

import csv
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.user.conftest import ROOT, missing
from tests.peers.conftest import csm_by_email

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def csv_block() -> list[str]:
    """The lines of the bash block that follows the README's "A CSV file" paragraph."""
    text = (ROOT / "README.md").read_text()
    start = text.index("**A CSV file**")
    block = re.search(r"```bash\n(.*?)```", text[start:], re.DOTALL)
    assert block
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_the_csv_example_lands_every_row_as_written(sandbox_factory: Any, tmp_path: Path) -> None:
    if not (ROOT / ".venv-peers/tap-spreadsheets/bin/tap-spreadsheets").exists():
        missing("tap-spreadsheets not installed: `make peers`")
    lines = csv_block()
    assert lines[0].startswith(".venv/bin/sandbox serve csm --seed empty &")
    csm = sandbox_factory("csm", seed="empty", rate_limit_requests=0)
    port = csm.url.rsplit(":", 1)[1]
    for name in ("samples", ".venv", ".venv-peers"):
        (tmp_path / name).symlink_to(ROOT / name, target_is_directory=True)
    script = "\n".join(["set -euo pipefail", *(x.replace(":8401", f":{port}") for x in lines[1:])])
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]

    rows = list(csv.DictReader((ROOT / "samples/customers.csv").open()))
    customers = csm_by_email(csm)
    assert set(customers) == {r["email"] for r in rows}
    orgs = {o["id"]: o["name"] for o in csm.state()["organizations"]}
    for row in rows:
        got = customers[row["email"]]
        assert got["displayName"] == row["name"]
        assert got["details"] == {
            "Plan": [row["plan"]],
            "Region": [row["region"]],
            "Renewal Date": [row["renewal_date"]],
        }
        assert [orgs[i] for i in got["organizationIds"]] == (
            [row["company"]] if row["company"] else []
        )
