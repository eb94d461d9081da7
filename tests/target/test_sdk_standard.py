"""The singer-sdk standard target tests, run against a CSM sandbox.

The SDK builds the test class at import time, so the sandbox (and the temporary folder for
the ledger and reports) must exist before :func:`get_target_test_class` is called: they are
started here at module level and stopped by a module fixture. The SDK's sample streams have
names no preset knows, so the config maps them generically (any stream with an ``email`` is
loaded as customers); the rest are counted and ignored, as a user's unmapped streams are.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from singer_sdk.testing import get_target_test_class

from sandbox.core.server import SandboxServer
from sandbox.registry import create_app
from target_atlassian_csm.target import TargetAtlassianCSM

_APP = create_app("csm")
_APP.seed("default")
_SERVER = SandboxServer(_APP).start()
_TMP = tempfile.TemporaryDirectory()

CONFIG = {
    "base_url": _SERVER.url,
    "cloud_id": "sandbox",
    "access_token": "sandbox-token",
    "ledger_path": str(Path(_TMP.name) / "ledger.sqlite"),
    "dead_letter_path": str(Path(_TMP.name) / "dead.jsonl"),
    "summary_path": str(Path(_TMP.name) / "summary.json"),
    "batch_max_wait_seconds": 0.1,
    "max_failure_rate": 1,
    # The SDK's sample streams are not customers: ignored by choice, so that a run of them
    # is not "nothing maps to CSM" (which fails the run).
    "mapping": {
        name: {"entity": "ignore"}
        for name in (
            "ForecastingTypeToCategory",
            "TestCamelcase",
            "example_stream",
            "record_missing_fields",
            "test:SpecialChars!in?attributes",
            "test_array_data",
            "test_duplicate_records",
            "test_invalid_schema",
            "test_locations",
            "test_multiple_state_messages_a",
            "test_multiple_state_messages_b",
            "test_no_pk",
            "test_object_schema_no_properties",
            "test_object_schema_with_properties",
            "test_optional_attributes",
            "test_record_before_schema",
            "test_record_missing_key_property",
            "test_record_missing_required_property",
            "test_schema_updates",
            "test_strings",
            "test_strings_in_arrays",
            "test_strings_in_objects",
            "test_user_in_location",
        )
    },
}

_StandardTests = get_target_test_class(TargetAtlassianCSM, config=CONFIG)


class TestTargetAtlassianCSMStandard(_StandardTests):  # type: ignore[misc,valid-type]
    """The SDK's standard target suite."""

    @pytest.fixture(scope="class")
    @classmethod
    def resource(cls):
        yield _SERVER
        _SERVER.stop()
        _TMP.cleanup()

    def test_target_record_before_schema(self, csm, tmp_path):
        """Replaces the SDK's check, which expects the run to stop on such a record.

        A record before its SCHEMA is dead-lettered with its input line and the run goes on,
        so one broken line cannot hold back the good records after it (docs/reliability.md).
        """
        from tests.target.conftest import (
            CUSTOMER_PROPS,
            record_msg,
            run_target,
            schema_msg,
            state_msg,
            target_config,
        )

        messages = [
            record_msg("customers", {"id": "early", "email": "early@example.com"}),
            schema_msg("customers", CUSTOMER_PROPS),
            record_msg("customers", {"id": "ok", "email": "ok@example.com"}),
            state_msg({"done": True}),
        ]
        result = run_target(target_config(csm, tmp_path, max_failure_rate=1), messages)
        assert [(d["line"], "before any SCHEMA" in d["reason"]) for d in result.dead_letters] == [
            (1, True)
        ]
        assert csm.app.customer_by_email("ok@example.com") is not None
        assert result.states[-1] == {"done": True}
