"""Bad input: random Singer streams with garbage among good records.

Hypothesis builds streams that mix good customers with malformed JSON lines, records before
their SCHEMA, records that break their schema, missing or invalid emails, unknown SELECT
options, values of the wrong type, very long and non-ASCII strings, the same email again in
another case, and streams nobody mapped. The target runs in-process (fast) and must never
crash, must land every good record with its values whatever its neighbours are, and must
dead-letter every bad one with a reason (and the input line where there is no record).
"""

from __future__ import annotations

import json
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.target.conftest import (
    CUSTOMER_PROPS,
    FAST,
    record_msg,
    run_target,
    schema_msg,
    state_msg,
    target_config,
)

REGIONS = ["AMER", "EMEA", "APAC"]
PLANS = ["Free", "Standard", "Premium", "Enterprise"]
BAD_KINDS = (
    "malformed_json",
    "before_schema",
    "schema_break",
    "no_email",
    "invalid_email",
    "unknown_option",
    "wrong_type",
)
# Text a display name may hold: any letters (accents, CJK, emoji), spaces, punctuation.
NAME_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=60
)
LONG_TEXT = st.one_of(NAME_TEXT, st.text(alphabet="éß漢字🙂ab ", min_size=500, max_size=3000))

entry = st.one_of(
    st.tuples(st.just("good"), LONG_TEXT, st.sampled_from(REGIONS), st.sampled_from(PLANS)),
    st.tuples(st.just("dup_case"), st.sampled_from(REGIONS)),
    st.tuples(st.sampled_from(BAD_KINDS), st.text(max_size=40)),
    st.tuples(st.just("unknown_stream"), st.integers(0, 5)),
)


@pytest.fixture(scope="module")
def csm_module():
    """One CSM sandbox for every example (emails are unique per example)."""
    from sandbox.core.server import SandboxServer
    from sandbox.registry import create_app

    app = create_app("csm", **FAST)
    app.seed("default")
    server = SandboxServer(app).start()

    class Running:
        url = server.url

    Running.app = app
    yield Running
    server.stop()


def build(entries: list[tuple[Any, ...]], tag: str) -> tuple[list[Any], dict[str, Any]]:
    """Singer lines for ``entries`` and what each must become."""
    lines: list[Any] = [schema_msg("customers", CUSTOMER_PROPS)]
    good: dict[str, dict[str, Any]] = {}  # casefolded email -> expected values
    bad_ids: dict[str, str] = {}  # source id -> kind
    bad_lines: dict[int, str] = {}  # line number -> kind (no record to name)
    ignored = 0
    for n, item in enumerate(entries):
        kind, sid = item[0], f"{tag}-{n}"
        email = f"u{n}-{tag}@example.com"
        record: dict[str, Any] = {"id": sid, "email": email, "region": "AMER", "plan": "Free"}
        if kind == "good":
            _, name, region, plan = item
            record.update(first_name=name, last_name="Ω", region=region, plan=plan)
            good[email.casefold()] = {"displayName": f"{name} Ω", "region": region, "plan": plan}
        elif kind == "dup_case":
            earlier = [e for e in good if not e.startswith("dup")]
            if not earlier:
                continue
            target = earlier[-1]
            record.update(email=target.upper(), region=item[1])
            record.pop("plan")
            good[target] = {**good[target], "region": item[1]}
        elif kind == "malformed_json":
            lines.append('{"type": "RECORD", "stream": "customers", "record": {' + item[1])
            bad_lines[len(lines)] = kind
            continue
        elif kind == "before_schema":
            lines.append(record_msg(f"late_{tag}", record))
            bad_lines[len(lines)] = kind
            continue
        elif kind in ("schema_break", "wrong_type"):
            record["seats" if kind == "schema_break" else "region"] = item[1] or 7
            if kind == "wrong_type":
                record["region"] = 12345
            else:
                record["seats"] = f"many {item[1]}"
            bad_ids[sid] = kind
        elif kind == "no_email":
            record["email"] = None
            bad_ids[sid] = kind
        elif kind == "invalid_email":
            record["email"] = f"no-at-sign {item[1]}".strip()
            bad_ids[sid] = kind
        elif kind == "unknown_option":
            record["plan"] = f"Platinum {item[1]}"
            bad_ids[sid] = kind
        elif kind == "unknown_stream":
            stream = f"audit_log_{item[1]}"
            lines.append(schema_msg(stream, {"id": "string"}))
            lines.append(record_msg(stream, {"id": sid}))
            ignored += 1
            continue
        lines.append(record_msg("customers", record))
    lines.append(state_msg({"done": tag}))
    return lines, {"good": good, "bad_ids": bad_ids, "bad_lines": bad_lines, "ignored": ignored}


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(entry, min_size=1, max_size=20))
@example(entries=[("good", "0", "AMER", "Free"), ("invalid_email", ""), ("invalid_email", "")])
def test_random_streams_never_lose_a_good_record(csm_module, entries):
    tag = uuid.uuid4().hex[:10]
    lines, want = build(entries, tag)
    with tempfile.TemporaryDirectory() as tmp:
        config = target_config(csm_module, Path(tmp), max_failure_rate=1)
        result = run_target(config, lines)
        assert result.exit_code == 0
    # Every good record landed with its values, whoever its neighbours were.
    for email, values in want["good"].items():
        stored = csm_module.app.customer_by_email(email)
        assert stored is not None, f"good record {email} did not land"
        # Whitespace is the target's to tidy; the characters must all arrive.
        assert stored["displayName"].split() == values["displayName"].split()
        assert stored["details"]["Region"] == [values["region"]]
        assert stored["details"]["Plan"] == [values["plan"]]
    errors = [d for d in result.dead_letters if d["severity"] == "error"]
    # Every bad record is dead-lettered with a reason, and nothing good is.
    by_id = {d["source_id"]: d for d in errors if d["source_id"]}
    assert set(by_id) == set(want["bad_ids"])
    assert all(d["reason"] and d["line"] for d in by_id.values())
    by_line = {d["line"]: d for d in errors if not d["source_id"]}
    assert set(by_line) == set(want["bad_lines"])
    for line, kind in want["bad_lines"].items():
        reason = by_line[line]["reason"]
        assert ("JSON" in reason) if kind == "malformed_json" else ("before any SCHEMA" in reason)
    # Nothing bad reached CSM; the last STATE went out; unknown streams were counted.
    for sid in want["bad_ids"]:
        n = int(sid.rsplit("-", 1)[1])
        assert csm_module.app.customer_by_email(f"u{n}-{tag}@example.com") is None
    assert result.states[-1] == {"done": tag}
    if result.summary:  # no summary when no record was for CSM (the log says what was ignored)
        assert sum(result.summary["ignored_streams"].values()) == want["ignored"]


def test_a_config_error_names_the_stream_in_one_line(csm_module, tmp_path, caplog):
    """A mapping the site cannot take stops the run at the stream's SCHEMA, in one line."""
    lines = [
        schema_msg("customers", CUSTOMER_PROPS),
        record_msg("customers", {"id": "1", "email": "line@example.com"}),
    ]
    config = target_config(
        csm_module, tmp_path, mapping={"customers": {"details": {"No Such Field": "region"}}}
    )
    result = run_target(config, lines)
    assert result.exit_code == 2
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1
    assert "mapping.customers" in errors[0].getMessage()
    assert "No Such Field" in errors[0].getMessage()
    assert errors[0].exc_info is None  # no traceback for an expected error
    assert result.states == []


def test_dead_letter_lines_are_json_with_the_reason(csm_module, tmp_path):
    lines = [schema_msg("customers", CUSTOMER_PROPS), "not json at all", state_msg({"x": 1})]
    result = run_target(target_config(csm_module, tmp_path), lines)
    raw = (tmp_path / "dead.jsonl").read_text().splitlines()
    assert [json.loads(x)["line"] for x in raw] == [2]
    assert result.dead_letters[0]["record"] == "not json at all"
