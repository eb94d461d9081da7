"""Dead letters a person can act on, and a long load that keeps memory and STATE moving.

Dead letters name the record by its stream's key properties and its email when known, and
hold one current entry per record however many runs fail it; a record that lands later
leaves them. On a first load, customers waiting for their organizations' ids hold the reader
back (memory stays bounded) and STATE keeps flowing while the load runs.
"""

from __future__ import annotations

from tests.target.conftest import (
    crm_messages,
    record_msg,
    run_target,
    schema_msg,
    state_msg,
    target_config,
)

STR = {"type": ["string", "null"]}
PROPS = {"contactId": {"type": "string"}, "email": STR, "seats": {"type": ["integer", "null"]}}
MAPPING = {"people": {"entity": "customer", "email": "email"}}


def people(*records):
    return [
        schema_msg("people", PROPS, key="contactId"),
        *(record_msg("people", r) for r in records),
    ]


def test_dead_letters_name_the_record_and_keep_one_entry_per_record(csm, tmp_path):
    config = target_config(csm, tmp_path, mapping=MAPPING)
    bad = {"contactId": "c-7", "email": "seven@x.io", "seats": "many"}  # breaks the schema
    nameless = {"contactId": "c-8", "email": None, "seats": 1}
    for run in range(3):
        result = run_target(config, [*people(bad, nameless), state_msg({"run": run})])
        assert result.exit_code == 0
    dead = result.dead_letters
    assert len(dead) == 2  # one current entry per record, not one per run
    # Each run's summary keeps its own dead letters by reason (the file keeps the latest).
    by_reason = {(d["category"], d["count"]) for d in result.summary["dead_letters"]}
    assert by_reason == {("failed", 1), ("rejected", 1)}
    by_id = {d["source_id"]: d for d in dead}
    assert by_id["c-7"]["identity"] == "seven@x.io"  # known although validation failed
    assert by_id["c-7"]["category"] == "failed"
    assert "seats" in by_id["c-7"]["reason"]
    assert by_id["c-8"]["category"] == "rejected"
    assert by_id["c-8"]["reason"].startswith("no email")
    # Fixed in the source: it lands, and leaves the dead letters.
    fixed = {**bad, "seats": 7}
    result = run_target(config, [*people(fixed, nameless), state_msg({"run": 3})])
    assert [d["source_id"] for d in result.dead_letters] == ["c-8"]


def test_waiting_customers_hold_the_reader_back_and_state_keeps_flowing(sandbox_factory, tmp_path):
    # Tasks slow enough that customers wait for their organizations' ids.
    csm = sandbox_factory("csm", seed="default", rate_limit_requests=0, seconds_per_item=0.004)
    config = target_config(csm, tmp_path, state_every_records=1, state_every_seconds=0)
    messages = crm_messages(100, 4000, state_every=100)
    result = run_target(config, messages)
    assert result.exit_code == 0
    # STATE flowed during the load, not once at its end.
    assert len(result.states) >= 20
    # The reader ran at most a bound ahead: (5 lanes + 2) x 100, plus the inbox batches the
    # reader and the lanes admit (64 each), not 4,000 records ahead.
    assert 0 < result.summary["peak_records_in_memory"] <= 7 * 100 + 2 * 64
    assert result.states[-1] == messages[-1]["value"]
    assert result.summary["entities"]["customer"]["created"] == 4000
