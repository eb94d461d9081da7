"""tap-kustomer: a whole Kustomer org as Singer streams."""

from __future__ import annotations

import datetime as dt
from functools import cached_property
from typing import Any

from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.helpers._util import utc_now

from tap_kustomer import schemas, streams
from tap_kustomer.client import KustomerClient, KustomerForbiddenError, KustomerNotFoundError
from tap_kustomer.search import iso, normalize

STANDARD_RESOURCES = ("customer", "company", "conversation", "message")


class TapKustomer(Tap):
    """Singer tap for Kustomer."""

    name = "tap-kustomer"
    dynamic_catalog = True

    config_jsonschema = th.PropertiesList(
        th.Property(
            "api_key",
            th.StringType,
            required=True,
            secret=True,
            title="API key",
            description="Kustomer API key (Settings > Security > API Keys), sent as a Bearer "
            "token. Needs read roles for the objects, search, klass, metadata.",
        ),
        th.Property(
            "org",
            th.StringType,
            title="Org name",
            description="Org subdomain: the tap calls https://{org}.api.kustomerapp.com, which "
            "routes to the org's region (recommended).",
        ),
        th.Property(
            "region",
            th.StringType,
            allowed_values=["us", "eu", "in"],
            title="Region",
            description="Regional host when `org` is not set: us (api.kustomerapp.com), "
            "eu (api.prod2.kustomerapp.com), in (api.prod4.kustomerapp.com).",
        ),
        th.Property(
            "base_url",
            th.StringType,
            title="Base URL",
            description="Any API origin (overrides org and region). Must be https unless the "
            "host is loopback (the sandbox).",
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            title="Start date",
            description="Read objects updated at or after this time. Leave empty, or set far "
            "in the past, to extract everything (archive search and per-conversation "
            "notes cover what the 2-year search window misses).",
        ),
        th.Property(
            "end_date",
            th.DateTimeType,
            title="End date",
            description="Read objects updated before this time (default: the run's start "
            "minus index_lag_seconds).",
        ),
        th.Property(
            "page_size",
            th.IntegerType,
            default=500,
            title="Search page size",
            description="pageSize for search and archive search (API maximum 500).",
        ),
        th.Property(
            "list_page_size",
            th.IntegerType,
            default=100,
            title="List page size",
            description="pageSize for per-conversation notes and other GET lists (maximum 100).",
        ),
        th.Property(
            "max_hits_per_query",
            th.IntegerType,
            default=10_000,
            title="Hits per query",
            description="Restart a search (keyset on updatedAt) before this many hits; 0 = only "
            "the page cap. 10,000 is the safe reading of the search cap.",
        ),
        th.Property(
            "max_pages_per_query",
            th.IntegerType,
            default=100,
            title="Pages per query",
            description="The search page cap (the API refuses page 101).",
        ),
        th.Property(
            "search_window_days",
            th.NumberType,
            default=730,
            title="Search window (days)",
            description="Standard search sees objects updated within this many days; older ones "
            "come from the archive search.",
        ),
        th.Property(
            "archive_margin_days",
            th.NumberType,
            default=7,
            title="Archive margin (days)",
            description="Around the window's edge both searches are read and merged, so a "
            "record is found whichever side of the edge the API puts it.",
        ),
        th.Property(
            "include_deleted",
            th.BooleanType,
            default=True,
            title="Include deleted",
            description="Ask search for deleted objects too (includeDeleted); records carry "
            "`deleted`.",
        ),
        th.Property(
            "index_lag_seconds",
            th.IntegerType,
            default=30,
            title="Index lag (s)",
            description="The window ends this many seconds before the run started, so changes "
            "not yet searchable are left for the next run.",
        ),
        th.Property(
            "rate_limit_per_minute",
            th.IntegerType,
            title="Org rate limit (req/min)",
            description="The org-wide budget (300-2,000 by plan). Default: read from "
            "x-ratelimit-limit (300 until the first answer).",
        ),
        th.Property(
            "search_rate_limit_per_minute",
            th.IntegerType,
            default=100,
            title="Search rate limit (req/min)",
            description="Search calls allowed per minute for API keys (100).",
        ),
        th.Property(
            "rate_limit_share",
            th.NumberType,
            default=0.8,
            title="Share of the budgets",
            description="Use at most this share of each budget; the rest is left to the org's "
            "other integrations (also: pause when x-ratelimit-remaining falls into "
            "that reserve).",
        ),
        th.Property(
            "max_retries",
            th.IntegerType,
            default=6,
            title="Retries",
            description="Retries for 5xx and dropped connections (429s wait for the reset).",
        ),
        th.Property(
            "max_retry_wait_seconds",
            th.NumberType,
            default=120,
            title="Longest wait (s)",
            description="Cap on one wait for a rate-limit reset or a retry.",
        ),
        th.Property(
            "request_timeout_seconds", th.NumberType, default=120, title="Request timeout (s)"
        ),
        th.Property(
            "klasses",
            th.ArrayType(th.StringType),
            title="Klasses",
            description="Klass names to extract as KObject streams (default: every Klass).",
        ),
    ).to_dict()

    # ------------------------------------------------------------------ shared
    @cached_property
    def client(self) -> KustomerClient:
        """One client (and one rate budget) for every stream of the run."""
        agent = str(self.config.get("user_agent") or f"tap-kustomer/{self.plugin_version}")
        return KustomerClient(dict(self.config), logger=self.logger, user_agent=agent)

    @cached_property
    def run_started(self) -> dt.datetime:
        """When this run started (the window's upper bound is derived from it)."""
        return utc_now()

    @cached_property
    def upper_bound(self) -> str:
        """The end of the window: run start minus index lag, or ``end_date`` if earlier."""
        upper = self.run_started - dt.timedelta(
            seconds=int(self.config.get("index_lag_seconds", 30))
        )
        bound = iso(upper)
        if self.config.get("end_date"):
            bound = min(bound, normalize(str(self.config["end_date"])))
        return bound

    def klass_records(self) -> list[dict[str, Any]]:
        """Every Klass (all statuses), fetched once per run."""
        if not hasattr(self, "_klasses"):
            found: dict[str, dict[str, Any]] = {}
            for status in ("enabled", "existing_only", "disabled"):
                try:
                    for page in self.client.get_pages(
                        "/v1/klasses", {"pageSize": 100, "status": status}
                    ):
                        for row in page:
                            found.setdefault(row["id"], row)
                except (KustomerForbiddenError, KustomerNotFoundError) as exc:
                    self.logger.warning("Klasses not readable (%s); no KObject streams", exc)
                    break
            wanted = self.config.get("klasses")
            rows = [
                k
                for k in found.values()
                if k.get("attributes", {}).get("name")
                and (not wanted or k["attributes"]["name"] in wanted)
            ]
            self._klasses = sorted(rows, key=lambda k: k["attributes"]["name"])
        return self._klasses

    def metadata(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Custom-attribute metadata per resource (standard objects and ``kobject.<name>``)."""
        if not hasattr(self, "_metadata"):
            resources = list(STANDARD_RESOURCES) + [
                f"kobject.{k['attributes']['name']}" for k in self.klass_records()
            ]
            out: dict[str, dict[str, dict[str, Any]]] = {}
            for resource in resources:
                try:
                    body = self.client.request("GET", f"/v1/metadata/{resource}", kind="metadata")
                except (KustomerForbiddenError, KustomerNotFoundError) as exc:
                    self.logger.warning(
                        "No metadata for %s (%s); typing by suffix only", resource, exc
                    )
                    continue
                props = ((body.get("data") or {}).get("attributes") or {}).get("properties") or {}
                out[resource] = {k: v for k, v in props.items() if isinstance(v, dict)}
            self._metadata = out
        return self._metadata

    # --------------------------------------------------------------- discovery
    def discover_streams(self) -> list[Stream]:
        """Fixed streams plus one KObject stream per Klass, typed from the metadata."""
        meta = self.metadata()

        def custom(resource: str) -> dict[str, Any]:
            return schemas.custom_schema(meta.get(resource))

        def flat(cls: type[streams.KustomerStream]) -> list[str]:
            return list(cls.flat_ids)

        # The attribute metadata first, so a target that creates fields from it has it before
        # the first record; companies before customers, so organizations come first.
        out: list[Stream] = [
            streams.CustomAttributeMetadataStream(self),
            streams.CompaniesStream(
                self,
                schema=schemas.record_schema(
                    "companies", flat_ids=flat(streams.CompaniesStream), custom=custom("company")
                ),
            ),
            streams.CustomersStream(
                self,
                schema=schemas.record_schema(
                    "customers", flat_ids=flat(streams.CustomersStream), custom=custom("customer")
                ),
            ),
            streams.ConversationsStream(
                self,
                schema=schemas.record_schema(
                    "conversations",
                    flat_ids=flat(streams.ConversationsStream),
                    custom=custom("conversation"),
                ),
            ),
            streams.MessagesStream(
                self,
                schema=schemas.record_schema(
                    "messages", flat_ids=flat(streams.MessagesStream), custom=custom("message")
                ),
            ),
            streams.NotesStream(
                self, schema=schemas.record_schema("notes", flat_ids=flat(streams.NotesStream))
            ),
            streams.UsersStream(self),
            streams.TeamsStream(self),
            streams.TagsStream(self),
            streams.KlassesStream(self),
        ]
        for klass in self.klass_records():
            name = klass["attributes"]["name"]
            schema = schemas.record_schema(
                "kobjects",
                flat_ids=[*streams.KObjectStream.flat_ids, "klass"],
                custom=custom(f"kobject.{name}"),
            )
            out.append(streams.KObjectStream(self, klass=name, schema=schema))
        return out


if __name__ == "__main__":
    TapKustomer.cli()
