"""tap-kustomer: a whole Kustomer org as Singer streams."""

from __future__ import annotations

import copy
import datetime as dt
from functools import cached_property
from typing import Any

from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers._catalog import get_selected_schema
from singer_sdk.helpers._util import utc_now

from tap_kustomer import schemas, streams
from tap_kustomer.catalog import raw_schemas
from tap_kustomer.client import (
    KustomerClient,
    KustomerForbiddenError,
    KustomerNotFoundError,
    resolve_base_url,
)
from tap_kustomer.config import config_errors, numbers_from_text
from tap_kustomer.cursor import iso, normalize

STANDARD_RESOURCES = ("customer", "company", "conversation", "message")


class TapKustomer(Tap):
    """Singer tap for Kustomer."""

    name = "tap-kustomer"
    package_name = "csm-connectors-tap-kustomer"  # its version, for --about and logs
    dynamic_catalog = True

    def __init__(self, *, catalog: Any = None, **kwargs: Any) -> None:
        # the catalog's schemas as given, before the SDK drops the keywords it does not know
        self.input_schemas = raw_schemas(catalog)
        super().__init__(catalog=catalog, **kwargs)

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
            th.IntegerType(minimum=1, maximum=500),
            default=500,
            title="Search page size",
            description="pageSize for search and archive search (1 to 500, the API maximum; "
            "a server serving smaller pages is paged at its own size).",
        ),
        th.Property(
            "list_page_size",
            th.IntegerType(minimum=1, maximum=100),
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

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """The SDK's validation, worded without secrets, plus the host settings.

        Raises:
            ConfigValidationError: ``raise_errors`` and something is wrong (one line each).
        """
        schema = self.config_jsonschema
        self.append_builtin_config(schema)
        numbers_from_text(self._config, schema)
        errors = config_errors(self._config, schema, resolve_base_url)
        if errors and raise_errors:
            raise ConfigValidationError("Config validation failed", errors=errors, schema=schema)
        if errors:
            self.logger.warning("Config validation failed: %s", "; ".join(errors))
        return errors

    # ------------------------------------------------- schemas kept whole (tap_kustomer.catalog)
    def raw_schema(self, name: str) -> dict[str, Any] | None:
        """A stream's schema as the input catalog has it, else as the stream builds it."""
        if name in self.input_schemas:
            return self.input_schemas[name]
        stream = (self._streams or {}).get(name)
        return stream.schema if stream is not None else None

    @property
    def catalog_dict(self) -> dict[str, Any]:
        """The discovered catalog with each stream's own schema (``x-link`` and all)."""
        out = super().catalog_dict
        for entry in out.get("streams", []):
            stream = self.streams.get(entry.get("tap_stream_id"))
            if stream is not None:
                entry["schema"] = copy.deepcopy(stream.schema)
        return out

    def setup_mapper(self) -> None:
        """The SDK's stream maps, registered again from the schemas kept whole."""
        super().setup_mapper()
        for entry in self.catalog.streams:
            name = entry.stream or entry.tap_stream_id
            raw = self.raw_schema(entry.tap_stream_id)
            if raw is not None:
                selected = get_selected_schema(name, raw, entry.metadata.resolve_selection())
                self.mapper.register_raw_stream_schema(name, selected, entry.key_properties)

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

    # ------------------------------------------------- reads shared by the whole run
    # Each is made at most once per process: discovery and the streams of the run share it.
    def klass_rows(self) -> list[dict[str, Any]]:
        """Every Klass row as listed (statuses enabled, existing_only, disabled; each id once).

        The ``klasses`` stream emits these rows and the KObject streams are built from them,
        so one run lists the Klasses once (3 requests).

        Raises:
            KustomerForbiddenError: the Klasses are not readable (kept for the stream to raise;
                discovery only warns).
            KustomerNotFoundError: as above.
        """
        if not hasattr(self, "_klass_rows"):
            found: dict[str, dict[str, Any]] = {}
            self._klass_error: Exception | None = None
            for status in ("enabled", "existing_only", "disabled"):
                try:
                    for page in self.client.get_pages(
                        "/v1/klasses", {"pageSize": 100, "status": status}, kind="klasses"
                    ):
                        for row in page:
                            if row.get("id"):
                                found.setdefault(row["id"], row)
                except (KustomerForbiddenError, KustomerNotFoundError) as exc:
                    self._klass_error = exc
                    break
            self._klass_rows = list(found.values())
        if self._klass_error is not None:
            raise self._klass_error
        return self._klass_rows

    def klass_records(self) -> list[dict[str, Any]]:
        """The Klasses to extract as KObject streams (the ``klasses`` setting), by name."""
        if not hasattr(self, "_klasses"):
            try:
                found = self.klass_rows()
            except (KustomerForbiddenError, KustomerNotFoundError) as exc:
                self.logger.warning("Klasses not readable (%s); no KObject streams", exc)
                found = []
            wanted = self.config.get("klasses")
            rows = [
                k
                for k in found
                if k.get("attributes", {}).get("name")
                and (not wanted or k["attributes"]["name"] in wanted)
            ]
            self._klasses = sorted(rows, key=lambda k: k["attributes"]["name"])
        return self._klasses

    def metadata_resources(self) -> list[str]:
        """Every resource with custom-attribute metadata: standard objects, then Klasses."""
        return list(STANDARD_RESOURCES) + [
            f"kobject.{k['attributes']['name']}" for k in self.klass_records()
        ]

    def metadata_for(self, resource: str) -> dict[str, dict[str, Any]] | None:
        """One resource's custom-attribute metadata, or None if the key may not read it.

        One GET per resource and process, shared by discovery and the metadata stream.
        """
        cache: dict[str, dict[str, dict[str, Any]] | None] = self.__dict__.setdefault(
            "_metadata_cache", {}
        )
        if resource not in cache:
            try:
                body = self.client.request("GET", f"/v1/metadata/{resource}", kind="metadata")
            except (KustomerForbiddenError, KustomerNotFoundError) as exc:
                self.logger.warning("No metadata for %s (%s); typing by suffix only", resource, exc)
                cache[resource] = None
            else:
                props = ((body.get("data") or {}).get("attributes") or {}).get("properties") or {}
                cache[resource] = {k: v for k, v in props.items() if isinstance(v, dict)}
        return cache[resource]

    def metadata(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Custom-attribute metadata of every resource (what the metadata stream emits)."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for resource in self.metadata_resources():
            props = self.metadata_for(resource)
            if props is not None:
                out[resource] = props
        return out

    def catalog_selection(self) -> dict[str, bool] | None:
        """Stream name -> selected, as the input catalog says; None without a catalog.

        Mirrors the SDK: a stream listed in the catalog is selected as its metadata resolves;
        one missing from a given catalog is not selected; without a catalog every stream is.
        """
        catalog = self.input_catalog
        if catalog is None:
            return None
        return {
            entry.tap_stream_id: entry.metadata.resolve_selection().get((), True)
            for entry in catalog.streams
        }

    # --------------------------------------------------------------- discovery
    def discover_streams(self) -> list[Stream]:
        """Fixed streams plus one KObject stream per Klass, typed from the metadata.

        Without an input catalog (``--discover``, or a sync of every stream) every schema is
        built, so the Klasses and every resource's metadata are read. With a catalog (a sync
        under Meltano) the catalog's schemas are used -- the SDK emits and conforms records to
        them in any case -- so no metadata is read unless ``custom_attribute_metadata`` is
        selected, and the Klasses are read only if the ``klasses`` stream, a KObject stream or
        the metadata stream is selected.
        """
        selection = self.catalog_selection()
        catalog = self.input_catalog

        def selected(name: str) -> bool:
            return selection is None or selection.get(name, False)

        def schema(name: str, resource: str, flat_ids: list[str], kind: str = "") -> dict[str, Any]:
            if catalog is not None and name in self.input_schemas:
                return copy.deepcopy(self.input_schemas[name])
            # not in the catalog: typed from the metadata, read only if the stream runs
            props = self.metadata_for(resource) if selected(name) else None
            return schemas.record_schema(
                kind or name, flat_ids=flat_ids, custom=schemas.custom_schema(props)
            )

        def flat(cls: type[streams.KustomerStream]) -> list[str]:
            return list(cls.flat_ids)

        # The attribute metadata first, so a target that creates fields from it has it before
        # the first record; companies before customers, so organizations come first.
        out: list[Stream] = [
            streams.CustomAttributeMetadataStream(self),
            streams.CompaniesStream(
                self, schema=schema("companies", "company", flat(streams.CompaniesStream))
            ),
            streams.CustomersStream(
                self, schema=schema("customers", "customer", flat(streams.CustomersStream))
            ),
            streams.ConversationsStream(
                self,
                schema=schema("conversations", "conversation", flat(streams.ConversationsStream)),
            ),
            streams.MessagesStream(
                self, schema=schema("messages", "message", flat(streams.MessagesStream))
            ),
            streams.NotesStream(
                self, schema=schemas.record_schema("notes", flat_ids=flat(streams.NotesStream))
            ),
            streams.UsersStream(self),
            streams.TeamsStream(self),
            streams.TagsStream(self),
            streams.KlassesStream(self),
        ]
        klass_streams = ("klasses", "custom_attribute_metadata")
        needs_klasses = selection is None or any(
            on and (name in klass_streams or name.startswith("kobjects_"))
            for name, on in selection.items()
        )
        if not needs_klasses:
            self.logger.info("No Klass-dependent stream selected: Klasses not listed")
            return out
        for klass in self.klass_records():
            name = klass["attributes"]["name"]
            stream_name = streams.kobject_stream_name(name)
            out.append(
                streams.KObjectStream(
                    self,
                    klass=name,
                    schema=schema(
                        stream_name,
                        f"kobject.{name}",
                        [*streams.KObjectStream.flat_ids, "klass"],
                        kind="kobjects",
                    ),
                )
            )
        return out


if __name__ == "__main__":
    TapKustomer.cli()
