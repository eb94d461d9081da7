"""The client's tolerant reading of both response dialects, keys and the https rule."""

from __future__ import annotations

import pytest
import requests

from target_atlassian_csm.client import (
    DONE,
    FAILED,
    RUNNING,
    check_base_url,
    encode_body,
    parse_task,
    retry_after_seconds,
)


def test_reference_dialect_task():
    status = parse_task(
        {
            "id": "t",
            "status": "FINISHED",
            "failures": [
                {
                    "entity": "CUSTOMER",
                    "entityId": "a@x.io",
                    "operation": "UPSERT",
                    "operatedOn": "DETAIL_FIELD",
                    "operatedOnIds": ["Region"],
                    "error": "Invalid detail field",
                }
            ],
        },
        "t",
    )
    assert status.state == DONE
    (failure,) = status.failures
    assert failure.entity_id == "a@x.io"
    assert failure.error == "Invalid detail field"
    assert failure.operated_on_ids == ("Region",)


def test_guide_dialect_task():
    status = parse_task(
        {"taskId": "t", "status": "COMPLETED", "failures": [{"index": 1, "message": "bad email"}]},
        "t",
    )
    assert status.state == DONE
    assert status.failures[0].index == 1
    assert status.failures[0].error == "bad email"
    assert parse_task({"taskId": "t", "status": "PROCESSING"}, "t").state == RUNNING
    assert parse_task({"id": "t", "status": "NOT_STARTED"}, "t").state == RUNNING
    assert parse_task({"id": "t", "status": "FAILED", "failures": []}, "t").state == FAILED
    assert parse_task({"id": "t", "status": "SOMETHING_NEW"}, "t").state == RUNNING


def test_bodies_are_canonical_json():
    body = encode_body({"b": 1, "a": [1, 2]})
    assert body == encode_body({"a": [1, 2], "b": 1})


def test_base_url_never_carries_or_echoes_credentials():
    with pytest.raises(ValueError, match="must not carry credentials") as caught:
        check_base_url("https://me%40x.io:s3cr3t-t0ken@api.atlassian.com")
    assert "s3cr3t" not in str(caught.value)


def test_https_is_required_off_loopback():
    assert check_base_url("http://127.0.0.1:8401/") == "http://127.0.0.1:8401"
    assert check_base_url("https://api.atlassian.com") == "https://api.atlassian.com"
    with pytest.raises(ValueError, match="must use https"):
        check_base_url("http://api.atlassian.com")


def response(headers):
    r = requests.Response()
    r.headers.update(headers)
    return r


def test_retry_after_reads_seconds_dates_and_the_reset_header():
    assert retry_after_seconds(response({"Retry-After": "7"})) == 7
    when = response({"Retry-After": "Thu, 01 Jan 2026 00:00:10 GMT"})
    assert retry_after_seconds(when, now=1767225600.0) == 10
    reset = response({"X-RateLimit-Reset": "2026-01-01T00:01Z"})
    assert retry_after_seconds(reset, now=1767225600.0) == 60
    assert retry_after_seconds(response({})) is None
