"""Stream classes for tap-kustomer.

* Search streams (companies, customers, conversations, messages, notes, one per Klass):
  incremental on ``updated_at``, read by :class:`~tap_kustomer.search.WindowReader` from the
  standard and archive searches, resumable from the cursor kept in STATE, with the way each
  search proved readable (``kustomer_modes``) kept there too.
* Notes older than the search window (archive search has no notes) come from
  ``GET /v1/conversations/{id}/notes`` for the conversations created before the window.
* Reference streams (users, teams, tags, klasses) and the custom-attribute metadata are read
  in full every run they are selected; the Klass listing and each resource's metadata are read
  at most once per process (see ``TapKustomer.discover_streams``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from singer_sdk import RESTStream

from tap_kustomer import schemas
from tap_kustomer.client import KustomerClient, KustomerForbiddenError, KustomerNotFoundError
from tap_kustomer.cursor import Cursor, iso, normalize
from tap_kustomer.search import Source, WindowReader, plan_sources

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_kustomer.tap import TapKustomer

DAY = dt.timedelta(days=1)


def relationship_id(record: dict[str, Any], name: str) -> str | None:
    """``relationships.<name>.data.id`` or None."""
    data = ((record.get("relationships") or {}).get(name) or {}).get("data")
    return data.get("id") if isinstance(data, dict) and data.get("id") else None


class KustomerStream(RESTStream):
    """Base: the shared client, the flat record shape."""

    path = "/v1"
    primary_keys: ClassVar[tuple[str, ...]] = ("id",)
    STATE_MSG_FREQUENCY = 1000
    #: flat column -> relationship names tried in order (then ``attributes.<name>``)
    flat_ids: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(
        self, tap: TapKustomer, *, schema: dict[str, Any] | None = None, name: str | None = None
    ) -> None:
        self.kustomer_tap = tap
        super().__init__(tap, schema=schema, name=name)

    @property
    def url_base(self) -> str:
        """The API origin."""
        return self.client.base_url

    def apply_catalog(self, catalog: Any) -> None:
        """The SDK's, then the catalog's schema as given (``tap_kustomer.catalog``)."""
        super().apply_catalog(catalog)
        raw = self.kustomer_tap.input_schemas.get(self.name)
        if raw is not None and catalog.get_stream(self.name) is not None:
            self._input_schema = raw

    @property
    def client(self) -> KustomerClient:
        """The run's shared client (one budget for every stream)."""
        return self.kustomer_tap.client

    def post_process(
        self,
        row: dict[str, Any],
        context: Context | None = None,  # noqa: ARG002 - the SDK's signature
    ) -> dict[str, Any] | None:
        """JSON:API resource -> record with flat columns (``attributes`` kept whole)."""
        attrs = row.get("attributes") or {}
        out: dict[str, Any] = {
            "id": row["id"],
            "type": row.get("type"),
            "updated_at": normalize(attrs["updatedAt"]) if attrs.get("updatedAt") else None,
            "created_at": normalize(attrs["createdAt"]) if attrs.get("createdAt") else None,
            "deleted": bool(attrs.get("deleted") or False),
        }
        for column, names in self.flat_ids.items():
            value = None
            for name in names:
                value = relationship_id(row, name)
                if value is None and isinstance(attrs.get(name), str):
                    value = attrs[name]
                if value:
                    break
            out[column] = value
        out["attributes"] = attrs
        out["relationships"] = row.get("relationships") or {}
        out["links"] = row.get("links") or {}
        return out


class SearchStream(KustomerStream):
    """An object type read incrementally through search (see module docstring)."""

    replication_key = "updated_at"
    is_sorted = True
    check_sorted = False  # the cursor, not the SDK, guards order; out-of-order rows are logged
    query_context: ClassVar[str] = ""
    attr_prefix: ClassVar[str] = ""
    in_archive: ClassVar[bool] = True
    #: GET list read when search can neither filter nor hold the whole context (companies)
    list_path: ClassVar[str | None] = None

    def __init__(
        self, tap: TapKustomer, *, schema: dict[str, Any] | None = None, name: str | None = None
    ) -> None:
        super().__init__(tap, schema=schema, name=name)
        self.reader: WindowReader | None = None

    def new_reader(
        self,
        context: str,
        prefix: str,
        kind: str,
        *,
        modes: dict[str, str] | None = None,
        list_path: str | None = None,
    ) -> WindowReader:
        """A window reader with the run's settings."""
        cfg = self.config
        return WindowReader(
            self.client,
            context=context,
            prefix=prefix,
            page_size=int(cfg.get("page_size", 500)),
            max_hits=int(cfg.get("max_hits_per_query", 10_000)),
            max_pages=int(cfg.get("max_pages_per_query", 100)),
            include_deleted=bool(cfg.get("include_deleted", True)),
            logger=self.logger,
            kind=kind,
            modes=modes,
            list_path=list_path,
        )

    def edges(self) -> tuple[str, str]:
        """Return (archive_edge, standard_edge), the two sides of the two-year line.

        No archive record is updated at or after the first, no standard-search record before
        the second (window +- margin).
        """
        now = self.kustomer_tap.run_started
        window = float(self.config.get("search_window_days", 730))
        margin = float(self.config.get("archive_margin_days", 7))
        return iso(now - (window - margin) * DAY), iso(now - (window + margin) * DAY)

    def start_cursor(self, context: Context | None) -> Cursor:
        """Where this run starts: the stored cursor, else the SDK bookmark or ``start_date``."""
        state = self.get_context_state(context)
        cursor = Cursor.from_state(state.get("kustomer_cursor"))
        if cursor is not None:
            return cursor
        start = self.get_starting_timestamp(context)
        return Cursor(iso(start)) if start else Cursor()

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Read ``[cursor, upper)`` and leave the cursor at the upper bound."""
        state = self.get_context_state(context)
        upper = self.kustomer_tap.upper_bound
        cursor = self.start_cursor(context)
        state["kustomer_cursor"] = cursor.to_state()
        if cursor.ts is None or cursor.ts < upper:
            yield from self.read_window(cursor, upper, state)
        final = Cursor(upper) if cursor.ts is None or cursor.ts < upper else cursor
        state["kustomer_cursor"] = final.to_state()
        state["synced_to"] = max(upper, str(state.get("synced_to") or ""))
        state.pop("kustomer_phase", None)
        state.pop("kustomer_fanout", None)
        self.log_costs()

    def read_window(
        self, cursor: Cursor, upper: str, state: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        """Search phase: standard and (when the window reaches back far enough) archive."""
        archive_edge, standard_edge = self.edges()
        modes = state.setdefault("kustomer_modes", {})
        self.reader = reader = self.new_reader(
            self.query_context, self.attr_prefix, self.name, modes=modes, list_path=self.list_path
        )
        sources = plan_sources(
            cursor.ts,
            upper,
            archive_edge=archive_edge,
            standard_edge=standard_edge,
            in_archive=self.in_archive,
        )
        for record in reader.read(cursor, sources):
            state["kustomer_cursor"] = cursor.to_state()
            yield record

    def log_costs(self) -> None:
        """Log what the stream cost and how close the run is to the budgets."""
        if self.reader is not None:
            s = self.reader.stats
            self.logger.info(
                "%s: %d search queries, %d pages, %d cap restarts, %d time pieces (%d too big), "
                "%d tie splits, %d unreachable, %d refused, ways of reading %s",
                self.name,
                s.queries,
                s.pages,
                s.restarts,
                s.pieces,
                s.overflows,
                s.tie_splits,
                s.unreachable,
                s.refused_queries,
                self.reader.modes or "keyset",
            )
        self.logger.info(self.client.summary())


class CompaniesStream(SearchStream):
    """Companies (organizations)."""

    name = "companies"
    query_context = "company"
    attr_prefix = "company"
    list_path = "/v1/companies"
    flat_ids: ClassVar[dict[str, tuple[str, ...]]] = {"parent_company_id": ("parent",)}


class CustomersStream(SearchStream):
    """Customers; ``company_id`` from the company relationship or attribute."""

    name = "customers"
    query_context = "customer"
    attr_prefix = "customer"
    flat_ids: ClassVar[dict[str, tuple[str, ...]]] = {"company_id": ("company",)}


class ConversationsStream(SearchStream):
    """Conversations."""

    name = "conversations"
    query_context = "conversation"
    attr_prefix = "conversation"
    flat_ids: ClassVar[dict[str, tuple[str, ...]]] = {
        "customer_id": ("customer",),
        "brand_id": ("brand",),
        "queue_id": ("queue",),
    }


class MessagesStream(SearchStream):
    """Messages, through search by time window (archive search for the old ones)."""

    name = "messages"
    query_context = "message"
    attr_prefix = "message"
    flat_ids: ClassVar[dict[str, tuple[str, ...]]] = {
        "customer_id": ("customer",),
        "conversation_id": ("conversation",),
        "created_by_id": ("createdBy",),
    }


class NotesStream(SearchStream):
    """Notes: search for the window, per-conversation reads before it (no archive for notes)."""

    name = "notes"
    query_context = "note"
    attr_prefix = "note"
    in_archive = False
    flat_ids: ClassVar[dict[str, tuple[str, ...]]] = {
        "customer_id": ("customer",),
        "conversation_id": ("conversation",),
        "created_by_id": ("createdBy",),
    }

    def read_window(
        self, cursor: Cursor, upper: str, state: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        """Old notes by conversation first (if the window reaches before search), then search."""
        archive_edge, _ = self.edges()
        synced = str(state.get("synced_to") or "")
        phase = state.get("kustomer_phase")
        if phase is None:
            reaches_back = cursor.ts is None or cursor.ts < archive_edge
            phase = "fanout" if reaches_back and synced < archive_edge else "search"
        if phase == "fanout":
            state["kustomer_phase"] = "fanout"
            yield from self.fan_out(cursor, min(upper, archive_edge), state)
            split = Cursor(min(upper, archive_edge))
            cursor.ts, cursor.ids, cursor.done = split.ts, [], False
            cursor.__post_init__()
            state["kustomer_cursor"] = cursor.to_state()
            state["kustomer_phase"] = "search"
            state.pop("kustomer_fanout", None)
        if cursor.ts is None or cursor.ts < upper:
            yield from super().read_window(cursor, upper, state)

    def fan_out(self, lower: Cursor, edge: str, state: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Notes updated in ``[lower, edge)`` from every conversation created before ``edge``."""
        conv_cursor = Cursor.from_state(state.get("kustomer_fanout")) or Cursor()
        state["kustomer_fanout"] = conv_cursor.copy().to_state()
        reader = self.new_reader(
            "conversation",
            "conversation",
            "notes_fanout_conversations",
            modes=state.setdefault("kustomer_fanout_modes", {}),
        )
        self.fanout_reader = reader
        page_size = int(self.config.get("list_page_size", 100))
        # conversations by createdAt, both searches over the whole range (age is by updatedAt)
        sources = [Source(True, None, edge), Source(False, None, edge)]
        count = 0
        for conversation in reader.read(conv_cursor, sources, field_name="created_at"):
            if (conversation.get("attributes") or {}).get("noteCount") != 0:
                for page in self.client.get_pages(
                    f"/v1/conversations/{conversation['id']}/notes",
                    {"pageSize": page_size},
                    kind="notes_by_conversation",
                ):
                    for note in page:
                        updated = (note.get("attributes") or {}).get("updatedAt")
                        if not updated:
                            continue
                        updated = normalize(updated)
                        if updated >= edge or lower.seen(updated, note["id"]):
                            continue
                        yield note
                count += 1
            # a copy: the reader has moved its cursor past this conversation before its notes
            # were read, and STATE written during them must not say so
            state["kustomer_fanout"] = conv_cursor.copy().to_state()
        self.logger.info("notes: read the notes of %d conversations created before %s", count, edge)


class KObjectStream(SearchStream):
    """The KObjects of one Klass, with its custom attributes typed from its metadata."""

    flat_ids: ClassVar[dict[str, tuple[str, ...]]] = {
        "customer_id": ("customer",),
        "company_id": ("company",),
    }

    def __init__(self, tap: TapKustomer, *, klass: str, schema: dict[str, Any]) -> None:
        self.klass = klass
        self.query_context = f"kobject_{klass}"  # type: ignore[misc]
        # the documented attribute names (kobject_updated_at), in a kobject_<klass> context
        self.attr_prefix = "kobject"  # type: ignore[misc]
        super().__init__(tap, schema=schema, name=kobject_stream_name(klass))

    def post_process(
        self,
        row: dict[str, Any],
        context: Context | None = None,
    ) -> dict[str, Any] | None:
        """Add the Klass name."""
        out = super().post_process(row, context)
        if out is not None:
            out["klass"] = self.klass
        return out


def kobject_stream_name(klass: str) -> str:
    """``kobjects_<klass>`` with only ``[a-z0-9_]``."""
    return "kobjects_" + re.sub(r"[^a-z0-9_]+", "_", klass.lower()).strip("_")


class ReferenceStream(KustomerStream):
    """A full-table GET list, one pass per parameter set, each id once.

    ``optional`` lists (users, teams, tags: a key may lack the role, a plan the feature) are
    skipped with a warning on a 403 or 404, as Klasses and metadata are; the other streams
    of the run go on.
    """

    list_path: ClassVar[str] = ""
    page_size: ClassVar[int] = 100
    passes: ClassVar[list[dict[str, Any]]] = [{}]
    optional: ClassVar[bool] = False

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:  # noqa: ARG002
        """Every page of every pass."""
        seen: set[str] = set()
        for params in self.passes:
            try:
                for page in self.client.get_pages(
                    self.list_path, {"pageSize": self.page_size, **params}, kind=self.name
                ):
                    for row in page:
                        if row.get("id") and row["id"] not in seen:
                            seen.add(row["id"])
                            yield row
            except (KustomerForbiddenError, KustomerNotFoundError) as exc:
                if not self.optional:
                    raise
                self.logger.warning(
                    "%s not readable (%s); stream skipped, the others go on", self.name, exc
                )
                return


class UsersStream(ReferenceStream):
    """Users (agents and machine users), deactivated ones included (conversations keep them)."""

    name = "users"
    list_path = "/v1/users"
    page_size = 500
    optional = True
    passes: ClassVar[list[dict[str, Any]]] = [{"deleted": "false"}, {"deleted": "true"}]
    schema = schemas.reference_schema(
        {
            "name": schemas.STR,
            "displayName": schemas.STR,
            "email": schemas.STR,
            "userType": schemas.STR,
            "roles": schemas.STR_LIST,
        }
    )


class TeamsStream(ReferenceStream):
    """Teams; ``members`` are user ids."""

    name = "teams"
    list_path = "/v1/teams"
    page_size = 500
    optional = True
    schema = schemas.reference_schema(
        {
            "name": schemas.STR,
            "displayName": schemas.STR,
            "members": schemas.STR_LIST,
        }
    )


class TagsStream(ReferenceStream):
    """Tags, deleted ones included (customers and conversations hold tag ids)."""

    name = "tags"
    list_path = "/v1/tags"
    optional = True
    passes: ClassVar[list[dict[str, Any]]] = [{"deleted": "false"}, {"deleted": "true"}]
    schema = schemas.reference_schema({"name": schemas.STR, "color": schemas.STR})


class KlassesStream(ReferenceStream):
    """Klasses (custom object types) of every status.

    The rows come from the tap's one Klass listing of the run (the same pages the KObject
    streams were built from), not from a second listing.
    """

    name = "klasses"
    list_path = "/v1/klasses"
    passes: ClassVar[list[dict[str, Any]]] = [
        {"status": "enabled"},
        {"status": "existing_only"},
        {"status": "disabled"},
    ]
    schema = schemas.reference_schema(
        {
            "name": schemas.STR,
            "displayName": schemas.STR,
            "status": schemas.STR,
            "icon": schemas.STR,
            "color": schemas.STR,
            "appDisabled": schemas.BOOL,
            "mixins": schemas.STR_LIST,
            "klassSchema": schemas.ANY,
        }
    )

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The run's Klass listing; if that failed (403/404), a list read of the stream's own."""
        try:
            rows = self.kustomer_tap.klass_rows()
        except (KustomerForbiddenError, KustomerNotFoundError):
            rows = None
        if rows is None:
            yield from super().get_records(context)
        else:
            yield from rows


class CustomAttributeMetadataStream(KustomerStream):
    """One record per custom attribute of each resource (``/v1/metadata/{resource}``)."""

    name = "custom_attribute_metadata"
    primary_keys: ClassVar[tuple[str, ...]] = ("resource", "name")
    schema = schemas.METADATA_SCHEMA

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:  # noqa: ARG002
        """Every attribute of every resource the tap knows."""
        for resource, properties in self.kustomer_tap.metadata().items():
            for name, meta in sorted(properties.items()):
                prop = schemas.custom_property(name, meta)
                types = prop.get("type") or []
                json_type = (
                    next((t for t in types if t != "null"), None)
                    if isinstance(types, list)
                    else types
                )
                if prop.get("format") == "date-time":
                    json_type = "date-time"
                yield {
                    "resource": resource,
                    "name": name,
                    "display_name": meta.get("displayName"),
                    "type": meta.get("type"),
                    "suffix": schemas.suffix_of(name),
                    "json_type": json_type,
                    "multi": bool(meta.get("multi", False)),
                    "enumeration": [str(v) for v in meta.get("enumeration") or []] or None,
                    "target": meta.get("target"),
                    "updated_at": normalize(meta["updatedAt"]) if meta.get("updatedAt") else None,
                    "raw": meta,
                }

    def post_process(
        self,
        row: dict[str, Any],
        context: Context | None = None,  # noqa: ARG002 - the SDK's signature
    ) -> dict[str, Any] | None:
        """Rows are built flat already."""
        return row


__all__ = [
    "CompaniesStream",
    "ConversationsStream",
    "CustomAttributeMetadataStream",
    "CustomersStream",
    "KObjectStream",
    "KlassesStream",
    "KustomerForbiddenError",
    "KustomerNotFoundError",
    "MessagesStream",
    "NotesStream",
    "TagsStream",
    "TeamsStream",
    "UsersStream",
]
