"""tap-hubspot-contacts: HubSpot contacts and companies for Atlassian CSM."""

from __future__ import annotations

import time
from functools import cached_property
from typing import Any

import click
from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.plugin_base import JSONSchemaValidator

from tap_hubspot_contacts.auth import AuthError
from tap_hubspot_contacts.client import HubSpotClient
from tap_hubspot_contacts.errors import one_line_failures
from tap_hubspot_contacts.schema import select_properties, to_ms
from tap_hubspot_contacts.settings import config_problems, numbers_from_text
from tap_hubspot_contacts.streams import (
    CompaniesStream,
    CompanyPropertiesStream,
    ContactPropertiesStream,
    ContactsStream,
)

PATTERNS = th.ArrayType(th.StringType)


class TapHubSpotContacts(Tap):
    """HubSpot contacts, companies and their property definitions (incremental)."""

    name = "tap-hubspot-contacts"
    package_name = "csm-connectors-tap-hubspot-contacts"  # its version, for --about and logs
    dynamic_catalog = True

    config_jsonschema = th.PropertiesList(
        th.Property(
            "access_token",
            th.StringType,
            secret=True,
            title="Access token",
            description="Private-app token or Service Key (sent as a bearer token). "
            "Takes precedence over OAuth.",
        ),
        th.Property(
            "client_id",
            th.StringType,
            title="OAuth client id",
            description="With client_secret and refresh_token: OAuth refresh on "
            "/oauth/2026-03/token (falls back to /oauth/v1/token).",
        ),
        th.Property(
            "client_secret",
            th.StringType,
            secret=True,
            title="OAuth client secret",
            description="OAuth app secret.",
        ),
        th.Property(
            "refresh_token",
            th.StringType,
            secret=True,
            title="OAuth refresh token",
            description="Refresh token of the installed OAuth app.",
        ),
        th.Property(
            "api_url",
            th.StringType,
            default="https://api.hubapi.com",
            title="API base URL",
            description="https required, except on loopback (the sandbox).",
        ),
        th.Property(
            "api_version",
            th.StringType,
            default="2026-03",
            title="API version",
            description="Date version for /crm/objects/{version}/... paths, or `v3` for the "
            "legacy /crm/v3 and /crm/v4 paths (unsupported from September 2027).",
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            title="Start date",
            description="Only records modified after this (first run uses search instead of "
            "a full list read).",
        ),
        th.Property(
            "end_date",
            th.DateTimeType,
            title="End date",
            description="Upper bound of the modification window; the bookmark stops there.",
        ),
        th.Property(
            "contact_properties_include",
            PATTERNS,
            description="Contact properties to sync (glob patterns). Empty: all but hidden "
            "and calculated ones. An explicit include also brings hidden/calculated ones.",
        ),
        th.Property("contact_properties_exclude", PATTERNS, description="Glob patterns."),
        th.Property("company_properties_include", PATTERNS, description="Glob patterns."),
        th.Property("company_properties_exclude", PATTERNS, description="Glob patterns."),
        th.Property(
            "include_hidden_properties",
            th.BooleanType,
            default=False,
            description="Sync properties HubSpot marks `hidden`.",
        ),
        th.Property(
            "include_calculated_properties",
            th.BooleanType,
            default=False,
            description="Sync `calculated` properties (calculation_equation, rollups).",
        ),
        th.Property(
            "include_archived",
            th.BooleanType,
            default=True,
            description="Sweep archived (deleted) records each run and emit them with "
            "`archived: true`.",
        ),
        th.Property(
            "include_associations",
            th.BooleanType,
            default=True,
            description="Read contact→company associations (v4 batch, primary first). Off: "
            "only the `associatedcompanyid` property.",
        ),
        th.Property(
            "search_index_lag_seconds",
            th.IntegerType,
            default=30,
            description="The window ends this long before the run's start, because HubSpot "
            "search shows new writes after a delay.",
        ),
        th.Property(
            "list_page_size",
            th.IntegerType(minimum=1, maximum=100),
            default=100,
            description="Records per list page (HubSpot's maximum is 100).",
        ),
        th.Property(
            "search_page_size",
            th.IntegerType(minimum=1, maximum=200),
            default=200,
            description="Records asked per search page (HubSpot's maximum is 200; it may "
            "answer with fewer, the tap follows paging.next).",
        ),
        th.Property(
            "batch_read_size",
            th.IntegerType(minimum=1, maximum=100),
            default=100,
            description="Ids per batch read (HubSpot's maximum is 100).",
        ),
        th.Property(
            "associations_batch_size",
            th.IntegerType(minimum=1, maximum=1000),
            default=1000,
            description="Ids per association batch read (HubSpot's maximum is 1,000).",
        ),
        th.Property(
            "checkpoint_records",
            th.IntegerType(minimum=1),
            default=1000,
            description="Records read before associations are fetched and STATE is emitted.",
        ),
        th.Property(
            "max_url_length",
            th.IntegerType,
            default=8000,
            description="Longer list URLs switch to ids + POST batch read (avoids 414).",
        ),
        th.Property(
            "requests_per_ten_seconds",
            th.IntegerType,
            default=100,
            description="The app's burst limit (100 Free/Starter, 190 Pro/Enterprise, 250 "
            "with the API add-on). Lowered automatically if HubSpot reports less.",
        ),
        th.Property(
            "search_requests_per_second",
            th.NumberType,
            default=5,
            description="The account's search limit (separate from the burst budget).",
        ),
        th.Property(
            "rate_limit_share",
            th.NumberType(exclusive_minimum=0, maximum=1),
            default=0.8,
            description="Share of both budgets this tap may use (0-1].",
        ),
        th.Property(
            "daily_request_reserve",
            th.IntegerType,
            default=1000,
            description="Stop (resumably) when HubSpot reports fewer daily requests left.",
        ),
        th.Property(
            "max_requests_per_run", th.IntegerType, description="Stop after this many requests."
        ),
        th.Property("request_timeout", th.IntegerType, default=60, description="Seconds."),
        th.Property(
            "max_retries",
            th.IntegerType,
            default=6,
            description="Retries per request (429, 5xx, dropped connections).",
        ),
        th.Property(
            "user_agent",
            th.StringType,
            default="tap-hubspot-contacts",
            description="User-Agent header.",
        ),
    ).to_dict()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Fix the run's start time before anything reads it."""
        self.run_started_ms = int(time.time() * 1000)
        super().__init__(*args, **kwargs)

    @classmethod
    def get_singer_command(cls) -> click.Command:
        """The SDK's command, printing expected failures as one line (``errors`` module)."""
        return one_line_failures(super().get_singer_command())

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Check the config at start-up, wording problems without echoing a secret.

        Replaces the SDK's check (``settings`` module says why); like it, fills in defaults.
        """
        schema = self.config_jsonschema
        self.append_builtin_config(schema)
        numbers_from_text(self._config, schema)
        errors = JSONSchemaValidator(schema).iter_errors(self._config)
        problems = config_problems(self._config, errors, schema)
        if problems and raise_errors:
            raise ConfigValidationError("Config validation failed", errors=problems, schema=schema)
        for problem in problems:
            self.logger.warning("Config problem: %s", problem)
        return problems

    @cached_property
    def client(self) -> HubSpotClient:
        """The one HTTP client of this run (shared budgets)."""
        try:
            return HubSpotClient(self.config, self.logger)
        except (ValueError, AuthError) as exc:
            raise ConfigValidationError(str(exc), errors=[str(exc)]) from exc

    @property
    def window_end_ms(self) -> int:
        """Upper bound of this run's modification window."""
        lag = int(self.config.get("search_index_lag_seconds", 30)) * 1000
        end = self.run_started_ms - lag
        if self.config.get("end_date"):
            end = min(end, to_ms(self.config["end_date"]) or end)
        return end

    def property_definitions(self, object_type: str) -> list[dict[str, Any]]:
        """Property definitions (one request per object type per run)."""
        cache = self.__dict__.setdefault("_definitions", {})
        if object_type not in cache:
            body = self.client.get(self.client.paths.properties(object_type))
            cache[object_type] = body.get("results") or []
        return cache[object_type]

    def selected_kinds(self, object_type: str) -> dict[str, str]:
        """Property name → value kind for the properties records carry."""
        prefix = "contact" if object_type == "contacts" else "company"
        return select_properties(
            self.property_definitions(object_type),
            object_type,
            include=self.config.get(f"{prefix}_properties_include"),
            exclude=self.config.get(f"{prefix}_properties_exclude"),
            include_hidden=bool(self.config.get("include_hidden_properties", False)),
            include_calculated=bool(self.config.get("include_calculated_properties", False)),
        )

    def discover_streams(self) -> list[Stream]:
        """The property definitions first, then the object streams typed from them.

        Definitions go first so a target that creates fields from them (target-atlassian-csm's
        ``create_missing_fields``) has them before the first record and need not hold records
        back; companies go before contacts so organizations exist before the customers that
        reference them.
        """
        return [
            ContactPropertiesStream(self),
            CompanyPropertiesStream(self),
            CompaniesStream(self, self.selected_kinds("companies")),
            ContactsStream(self, self.selected_kinds("contacts")),
        ]

    def sync_all(self) -> None:
        """Sync, then say how close the run came to HubSpot's limits."""
        try:
            super().sync_all()
        finally:
            if "client" in self.__dict__:
                for line in self.client.report():
                    self.logger.info(line)


if __name__ == "__main__":
    TapHubSpotContacts.cli()
