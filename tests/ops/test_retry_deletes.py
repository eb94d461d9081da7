"""``retry`` of deletes held back by ``max_deletes_per_run``: a record deleted has landed."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ops.conftest import run_ops
from tests.target.conftest import run_target, target_config
from tests.target.test_deletes import MAPPING, ORGS, held, messages, people


def test_a_retried_delete_that_deletes_is_a_landing(sandbox_factory, tmp_path):
    csm = sandbox_factory("csm", seed="default", rate_limit_requests=0)
    config = target_config(
        csm, tmp_path, mapping=MAPPING, delete_policy="delete", max_deletes_per_run=1,
        max_failure_rate=1,
    )  # fmt: skip
    assert run_target(config, messages(people(1, 2, 3, 4), ORGS)).exit_code == 0
    capped = run_target(config, messages(people(1, 2, 3, removed=True), run=1))
    assert capped.summary["entities"]["customer"]["deleted"] == 1
    assert len(capped.dead_letters) == 2

    code, out = run_ops(config, "retry")

    assert "1 landed, 1 failed again" in out, out
    assert code == 1  # one is still held back by the bound
    assert len(held(csm)[0]) == 2  # p4, and the one the bound still holds back
    path = Path(config["dead_letter_path"])
    left = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(left) == 1
    assert f"{left[0]['source_id']}@x.io" in held(csm)[0]
    assert out.count("still dead-lettered") == 1
