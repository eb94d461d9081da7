"""``retry`` against a CSM sandbox: fixed causes land, the others stay with their new reason.

A load where some customers fail for a cause a person can fix on the site (a SELECT option
the site lacks) and others for one left unfixed; the option is added in the sandbox, and
``retry`` re-feeds the dead letters: the fixed records land in CSM and leave the dead-letter
file, the others stay, one current entry each, with the reason of this attempt.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.ops.conftest import run_ops, writes
from tests.target.conftest import (
    bulk_requests,
    crm_messages,
    items_sent,
    run_target,
    started_csm,
    target_config,
)

CUSTOMERS = 12
FIXABLE, UNFIXABLE, BOTH = "fixable", "unfixable", "both"


def faulty_load(faults: dict[int, str], customers: int = CUSTOMERS) -> list[dict[str, Any]]:
    """The CRM set with some customers on a plan the site lacks, or in a region it lacks."""
    messages = crm_messages(3, customers)
    for message in messages:
        if message["type"] != "RECORD" or message["stream"] != "customers":
            continue
        fault = faults.get(int(message["record"]["id"][1:]))
        if fault in (FIXABLE, BOTH):
            message["record"]["plan"] = "Platinum"
        if fault in (UNFIXABLE, BOTH):
            message["record"]["region"] = "Mars"
    return messages


def dead_letters(config: dict[str, Any]) -> list[dict[str, Any]]:
    path = Path(config["dead_letter_path"])
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def errors_by_email(config: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for entry in dead_letters(config):
        if entry["severity"] == "error":
            out.setdefault(entry["identity"], []).append(entry["reason"])
    return out


def add_plan_option(csm: Any, option: str) -> None:
    with csm.app.lock:
        csm.app.store.fields["customer"]["Plan"].options.append(option)


def email(i: int) -> str:
    return f"user{i}@example.com"


@settings(max_examples=5, deadline=None)
@given(
    faults=st.dictionaries(
        st.integers(0, CUSTOMERS - 1),
        st.sampled_from([FIXABLE, UNFIXABLE, BOTH]),
        min_size=1,
        max_size=6,
    )
)
def test_retry_lands_what_was_fixed_and_keeps_the_rest(tmp_path_factory, faults):
    tmp = tmp_path_factory.mktemp("retry")
    with started_csm() as csm:
        config = target_config(csm, tmp)
        loaded = run_target(config, faulty_load(faults))
        assert loaded.exit_code == 0
        assert set(errors_by_email(config)) == {email(i) for i in faults}
        add_plan_option(csm, "Platinum")  # the fix; "Mars" stays unknown
        csm.app.journal.clear()

        code, out = run_ops(config, "retry")

        left = {email(i) for i, fault in faults.items() if fault != FIXABLE}
        errors = errors_by_email(config)
        assert set(errors) == left, out
        assert all(len(reasons) == 1 for reasons in errors.values())  # one entry per record
        for i, fault in faults.items():
            if fault == FIXABLE:
                held = csm.app.customer_by_email(email(i))
                assert held is not None
                assert held["details"]["Plan"] == ["Platinum"]
            else:
                assert csm.app.customer_by_email(email(i)) is None
                # This attempt's reason: the plan is no longer a problem.
                assert "Platinum" not in errors[email(i)][0]
                assert "'Mars' is not an option" in errors[email(i)][0]
        assert code == (1 if left else 0)
        assert f"{len(faults)} record{'s' if len(faults) > 1 else ''} retried" in out
        assert {item["payload"]["email"] for item in items_sent(csm)} == {
            email(i) for i, fault in faults.items() if fault == FIXABLE
        }
        assert not any(line.lstrip().startswith("{") for line in out.splitlines())  # no STATE


def test_dry_run_plans_by_stream_and_reason_and_loads_nothing(sandbox_factory, tmp_path):
    csm = sandbox_factory("csm", seed="default", rate_limit_requests=0)
    config = target_config(csm, tmp_path)
    run_target(config, faulty_load({1: FIXABLE, 2: FIXABLE, 3: FIXABLE, 4: FIXABLE, 5: UNFIXABLE}))
    before = Path(config["dead_letter_path"]).read_text()
    csm.app.journal.clear()

    code, out = run_ops(config, "retry", "--dry-run")

    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("retry     4  customers: 'Platinum' is not an option")
    assert "(e.g. customers/c1, customers/c2, customers/c3, and 1 more)" in lines[0]
    assert lines[1].startswith("retry     1  customers: 'Mars' is not an option")
    assert "5 records would be retried, 0 cannot be" in lines[-1]
    assert Path(config["dead_letter_path"]).read_text() == before
    assert writes(csm) == []


def test_filters_choose_what_is_retried(sandbox_factory, tmp_path):
    csm = sandbox_factory("csm", seed="default", rate_limit_requests=0)
    config = target_config(csm, tmp_path)
    run_target(config, faulty_load({1: FIXABLE, 2: UNFIXABLE}))
    add_plan_option(csm, "Platinum")
    csm.app.journal.clear()

    code, out = run_ops(config, "retry", "--reason-contains", "MARS")
    assert code == 1
    assert "1 record retried: 0 landed, 1 failed again" in out
    assert {item["payload"]["email"] for item in items_sent(csm)} == set()
    assert set(errors_by_email(config)) == {email(1), email(2)}

    code, out = run_ops(config, "retry", "--stream", "organizations")
    assert code == 0
    assert "no dead-lettered record to retry" in out

    code, out = run_ops(config, "retry", "--reason-contains", "platinum", "--stream", "customers")
    assert code == 0
    assert "1 record retried: 1 landed, 0 failed again" in out
    assert {item["payload"]["email"] for item in items_sent(csm)} == {email(1)}
    assert set(errors_by_email(config)) == {email(2)}


def test_entries_that_cannot_be_retried_say_why(sandbox_factory, tmp_path):
    csm = sandbox_factory("csm", seed="default", rate_limit_requests=0)
    config = target_config(csm, tmp_path)
    messages: list[Any] = list(faulty_load({1: FIXABLE}))
    messages.insert(3, '{"type": "RECORD", "stream": "organizations", "record": {')  # cut short
    run_target(config, messages)
    with Path(config["dead_letter_path"]).open("a") as dead:
        dead.write(
            json.dumps(
                {
                    "severity": "error",
                    "stream": "legacy_contacts",
                    "entity": "customer",
                    "identity": "old@example.com",
                    "source_id": "L1",
                    "reason": "a reason from an old version",
                    "record": {"id": "L1", "email": "old@example.com"},
                }
            )
            + "\n"
        )
    add_plan_option(csm, "Platinum")
    csm.app.journal.clear()

    code, out = run_ops(config, "retry")

    assert code == 1
    assert "cannot    1  malformed input line" in out
    assert "(e.g. (no stream)/input line 4)" in out
    assert "cannot    1  no saved schema for stream 'legacy_contacts'" in out
    assert "1 record retried: 1 landed, 0 failed again; 2 cannot be retried" in out
    assert len(bulk_requests(csm)) == 1
    reasons = [e["reason"] for e in dead_letters(config) if e["severity"] == "error"]
    assert len(reasons) == 2  # the two that could not be retried, unchanged


def test_many_records_failing_again_is_a_result_not_a_broken_run(sandbox_factory, tmp_path):
    csm = sandbox_factory("csm", seed="default", rate_limit_requests=0)
    config = target_config(csm, tmp_path)
    count = 24  # over the load's failure bound (failure_rate_min_records 20, 5 %)
    first = run_target(config, faulty_load(dict.fromkeys(range(count), UNFIXABLE), count))
    assert first.exit_code == 2  # the load itself is judged by its failure bound

    code, out = run_ops(config, "retry")

    assert code == 1
    assert f"{count} records retried: 0 landed, {count} failed again" in out
    assert len(errors_by_email(config)) == count
