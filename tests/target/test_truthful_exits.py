"""A run that did not do its job never exits 0, and problems are said early, once, plainly.

* a dry run passes no STATE on (a bookmark stored from it would skip the real load);
* a run in which no stream maps to CSM fails, and passes no STATE on;
* the failure bound is per entity, with a floor: a few failures of a small incremental run,
  or contacts that can never load (no email), do not fail every run, while 45 % of the
  organizations failing does;
* settings, credentials and the site are checked before the first record, in one line, and a
  secret is never printed, not even in an error about it;
* long loads log their progress.
"""

from __future__ import annotations

import io
import json
import logging
import time

import pytest

from target_atlassian_csm.target import TargetAtlassianCSM
from tests.target.conftest import (
    CUSTOMER_PROPS,
    ORG_PROPS,
    crm_messages,
    record_msg,
    run_target,
    schema_msg,
    state_msg,
    target_config,
)

SECRET = "s3cr3t-t0ken-value"


def test_a_dry_run_passes_no_state_on_and_says_so(csm, config, caplog):
    caplog.set_level(logging.INFO)
    result = run_target({**config, "dry_run": True}, crm_messages(3, 20))
    assert result.exit_code == 0
    assert result.states == []
    assert csm.state()["customers"] == []
    assert any("no STATE was passed on" in r.getMessage() for r in caplog.records)


def test_a_run_where_no_stream_maps_fails_without_state(csm, config, caplog):
    # MeltanoLabs tap-hubspot's contacts, with the singer-io tap-hubspot preset.
    props = {
        "id": {"type": "string"},
        "properties": {"type": "object", "properties": {"email": {"type": "string"}}},
        "lastmodifieddate": {"type": "string"},
    }
    messages = [
        schema_msg("contacts", props),
        record_msg(
            "contacts", {"id": "1", "properties": {"email": "a@x.io"}, "lastmodifieddate": "x"}
        ),
        state_msg({"bookmarks": {"contacts": "x"}}),
    ]
    result = run_target({**config, "mapping_preset": "singer-io/tap-hubspot"}, messages)
    assert result.exit_code == 2
    assert result.states == []
    (error,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert "No stream maps to CSM" in error.getMessage()
    # With `auto`, the same streams are recognised (MeltanoLabs tap-hubspot) and load.
    ok = run_target({**config, "mapping_preset": "auto"}, messages)
    assert ok.exit_code == 0
    assert ok.states == [{"bookmarks": {"contacts": "x"}}]


def test_old_preset_names_still_work_with_a_warning(csm, config, caplog):
    result = run_target({**config, "mapping_preset": "tap-zendesk"}, [state_msg({})])
    assert result.exit_code == 0
    assert any("'singer-io/tap-zendesk'" in r.getMessage() for r in caplog.records)


def test_the_failure_bound_is_per_entity(csm, config):
    # 20 organizations, 9 of them without a valid detail: 45 % of organizations fail.
    orgs = [
        record_msg(
            "organizations",
            {
                "id": f"o{i}",
                "name": f"Org {i}",
                "website": "not a url" if i < 9 else None,
                "employees": "many" if i < 9 else 1,
            },
        )
        for i in range(20)
    ]
    people = [record_msg("customers", {"id": f"c{i}", "email": f"c{i}@x.io"}) for i in range(200)]
    messages = [
        schema_msg(
            "organizations", {**ORG_PROPS, "employees": {"type": ["integer", "null", "string"]}}
        ),
        *orgs,
        schema_msg("customers", CUSTOMER_PROPS),
        *people,
        state_msg({}),
    ]
    result = run_target(config, messages)
    assert result.summary["entities"]["organization"]["failed"] == 9
    assert result.exit_code == 2  # 9 of 20 organizations: over 5 %, though 9 of 220 records is not


def test_contacts_without_email_do_not_fail_every_incremental_run(csm, config):
    people = [record_msg("customers", {"id": f"c{i}", "email": f"c{i}@x.io"}) for i in range(4)]
    people.append(record_msg("customers", {"id": "c-none", "email": None}))
    for run in range(2):
        result = run_target(
            config, [schema_msg("customers", CUSTOMER_PROPS), *people, state_msg({"run": run})]
        )
        assert result.exit_code == 0
        assert result.summary["entities"]["customer"]["rejected"] == 1


def test_bad_credentials_stop_the_run_before_the_first_record(csm, config, caplog):
    messages = crm_messages(2, 5)
    started = time.monotonic()
    result = run_target({**config, "access_token": SECRET}, messages)
    assert result.exit_code == 2
    assert time.monotonic() - started < 30
    assert result.states == []
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1
    assert "pre-flight" in errors[0].getMessage()
    assert "credentials" in errors[0].getMessage()
    assert errors[0].exc_info is None
    assert not [r for r in csm.requests() if r["method"] == "POST"]
    assert all(SECRET not in r.getMessage() for r in caplog.records)


def test_an_unreachable_site_is_said_in_seconds_with_the_host(config, caplog):
    config = {**config, "base_url": "http://127.0.0.1:9", "request_timeout_seconds": 2}
    started = time.monotonic()
    result = run_target(config, crm_messages(1, 1))
    assert result.exit_code == 2
    assert time.monotonic() - started < 30
    messages = [r.getMessage() for r in caplog.records]
    assert any("127.0.0.1:9" in m and "retry 1 of 2" in m for m in messages)
    assert any("pre-flight" in m and "127.0.0.1:9" in m for m in messages)


@pytest.mark.parametrize(
    ("change", "hidden"),
    [
        ({"access_token": 12345678901234}, "12345678901234"),
        ({"api_token": ["a", SECRET], "user_email": "me@x.io", "access_token": None}, SECRET),
        ({"base_url": f"https://me:{SECRET}@api.atlassian.com"}, SECRET),
    ],
)
def test_a_secret_is_never_printed_even_in_a_config_error(config, change, hidden, capsys, caplog):
    def start() -> None:
        target = TargetAtlassianCSM(config={**config, **change}, validate_config=True)
        target.listen(io.StringIO(json.dumps(state_msg({})) + "\n"))

    with pytest.raises((SystemExit, Exception)) as caught:
        start()
    shown = (
        str(caught.value)
        + capsys.readouterr().err
        + "".join(r.getMessage() for r in caplog.records)
    )
    shown += "".join(str(getattr(caught.value, "errors", "")))
    assert hidden not in shown


def test_settings_out_of_bounds_are_refused_by_the_schema(config):
    from singer_sdk.exceptions import ConfigValidationError

    with pytest.raises(ConfigValidationError) as caught:
        TargetAtlassianCSM(config={**config, "customer_batch_size": 500}, validate_config=True)
    assert any("customer_batch_size" in e for e in caught.value.errors)


def test_a_misspelled_setting_is_named_with_a_suggestion(config, caplog):
    TargetAtlassianCSM(config={**config, "max_task_in_flight": 3}, validate_config=True)
    assert any(
        "'max_task_in_flight'" in r.getMessage() and "'max_tasks_in_flight'" in r.getMessage()
        for r in caplog.records
    )


def test_advertised_settings_are_honoured():
    about = TargetAtlassianCSM._get_about_info()  # what --about prints
    names = set(about.settings["properties"])
    assert not names & {"load_method", "batch_size_rows", "add_record_metadata"}
    assert {"validate_records", "stream_maps"} <= names


def test_long_loads_log_progress(sandbox_factory, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    csm = sandbox_factory("csm", seed="default", rate_limit_requests=0, seconds_per_item=0.002)
    config = target_config(csm, tmp_path, progress_interval_seconds=0.2)
    result = run_target(config, crm_messages(20, 1500))
    assert result.exit_code == 0
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Progress:")]
    assert lines
    assert all("received" in line and "in flight" in line for line in lines)


def test_run_files_default_under_dot_meltano(csm, tmp_path, monkeypatch):
    """Ledger, dead letters and summary hold personal data: by default they go under .meltano/,
    which the .gitignore of `meltano init` covers, not next to the project's files."""
    monkeypatch.chdir(tmp_path)
    config = target_config(csm, tmp_path)
    for name in ("ledger_path", "dead_letter_path", "summary_path"):
        del config[name]
    messages = [*crm_messages(1, 2), record_msg("customers", {"id": "x", "email": None})]
    target = TargetAtlassianCSM(config=config)
    target.listen(io.StringIO("".join(json.dumps(m) + "\n" for m in messages)))
    made = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    assert {
        ".meltano/csm/dead-letters.jsonl",
        ".meltano/csm/ledger.sqlite",
        ".meltano/csm/summary.json",
    } <= made
    assert all(name.startswith(".meltano/csm/") for name in made)


def test_the_ledger_is_the_sites_whatever_the_url_spelling(csm, config):
    run_target(config, crm_messages(2, 5))
    # The same site through another name of the host (as a proxy or a DNS alias gives it).
    other = csm.url.replace("127.0.0.1", "localhost") + "/"
    again = run_target({**config, "base_url": other}, crm_messages(2, 5))
    assert again.exit_code == 0
    assert again.summary["entities"]["customer"]["unchanged"] == 5
