"""The summary's outcome counters partition the records received, per entity.

Each record received is counted once, in the outcome it ended with (created, updated,
unchanged, skipped, rejected, failed, deleted); ``merged`` (records folded into another of the
same email or name) is counted apart, the merged records being also in their group's outcome.
An operation that carries no record of this run (a submission an interrupted run left open,
settled first by the next run) is not counted again.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from target_atlassian_csm.barrier import StateBarrier
from target_atlassian_csm.deadletter import DeadLetters
from target_atlassian_csm.outcomes import CREATED, RunRecords
from target_atlassian_csm.plan import RunPlan
from target_atlassian_csm.summary import RunSummary
from tests.target.conftest import run_target, started_csm, target_config
from tests.target.test_deletes import MAPPING, ORGS, messages

OUTCOMES = ("created", "updated", "unchanged", "skipped", "rejected", "failed", "deleted")


def assert_partition(summary):
    for entity, counts in summary["entities"].items():
        assert sum(counts[k] for k in OUTCOMES) == counts["received"], (entity, counts)
        assert counts["merged"] <= counts["received"], (entity, counts)


person = st.fixed_dictionaries(
    {
        "n": st.integers(0, 3),  # a small pool of emails: duplicates merge
        "kind": st.sampled_from(["ok", "ok", "ok", "no email", "removed", "bad email"]),
        "org": st.sampled_from([None, "o1", "o2"]),
    }
)


def records(people):
    out = []
    for i, p in enumerate(people):
        record = {"id": f"p{i}", "email": f"p{p['n']}@x.io", "org": p["org"]}
        if p["kind"] == "no email":
            record["email"] = None
        elif p["kind"] == "bad email":
            record["email"] = "not an email"
        elif p["kind"] == "removed":
            record["removed"] = True
        out.append(record)
    return out


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=st.lists(person, min_size=1, max_size=8),
    second=st.lists(person, min_size=0, max_size=8),
    batch=st.sampled_from([1, 2, 100]),
)
def test_outcomes_partition_the_records_received(first, second, batch):
    with started_csm() as csm, tempfile.TemporaryDirectory() as tmp:
        config = target_config(
            csm, Path(tmp), mapping=MAPPING, max_failure_rate=1,
            batch_max_wait_seconds=0.05, customer_batch_size=batch,
        )  # fmt: skip
        for run, people in enumerate((first, second)):
            result = run_target(config, messages(records(people), ORGS, run=run))
            assert result.exit_code == 0
            assert_partition(result.summary)
            assert result.summary["entities"]["customer"]["received"] == len(people)


def test_an_operation_without_a_record_of_this_run_is_not_counted(tmp_path):
    summary = RunSummary()
    records = RunRecords(
        summary=summary,
        plan=RunPlan(),
        dead_letters=DeadLetters(tmp_path / "dead.jsonl", enabled=False),
        barrier=StateBarrier(lambda _state: None),
    )
    records.end(entity="customer", seqs=[], how=CREATED, identity="a@x.io")  # resumed
    records.received("customer", 2)
    records.end(entity="customer", seqs=[1, 2], how=CREATED, identity="b@x.io")  # merged pair
    records.end(entity="customer", seqs=[2], how=CREATED, identity="b@x.io")  # never twice
    counts = summary.to_dict()["entities"]["customer"]
    assert counts["received"] == counts["created"] == 2
