"""Streams: contacts and companies (incremental, resumable), and their property definitions.

How an object stream reads (details and reasons in docs/tap-hubspot-contacts.md):

1. **No state and no start_date: full read** through the list endpoint (cursor paging,
   100 per page). Property names go in the query string only if the URL stays under
   ``max_url_length``; otherwise the list asks for ids only and the properties are fetched
   with POST batch reads (no 414 whatever the number of properties).
2. **Otherwise: search window** ``(bookmark, window end]`` on the last-modified property,
   where the window end is the run's start minus ``search_index_lag_seconds`` (or
   ``end_date`` if earlier). Inside the window the tap pages by keyset: sort on
   ``hs_object_id`` and filter ``hs_object_id > last id seen``, so every query starts at
   offset 0. Any number of records sharing one timestamp is read exactly once, and the
   10,000-result search cap is never reached.
3. **Archived records** (never returned by search) are swept from the list endpoint with
   ``archived=true`` and emitted with ``archived: true`` when archived inside the window.

The position (phase, window, list cursor or last id) is saved in the stream's STATE under
``cursor`` after each flushed batch, so a killed run resumes where it stopped; when the run
completes, ``replication_key_value`` becomes the window end and ``cursor`` is removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

from singer_sdk import typing as th
from singer_sdk.helpers.types import Context

from tap_hubspot_contacts.client import HubSpotStream
from tap_hubspot_contacts.errors import ServerMisbehaved
from tap_hubspot_contacts.paging import CursorGuard, keyset_id, search_has_more
from tap_hubspot_contacts.schema import (
    REQUIRED_PROPERTIES,
    Coercer,
    format_ms,
    record_schema,
    to_ms,
)

#: Contact → company association type ids (hubspot-api.md §3): 1 primary, 279 unlabeled.
PRIMARY_COMPANY_TYPE_ID = 1
CURSOR_VERSION = 1


class CrmObjectStream(HubSpotStream):
    """Contacts or companies: full list first, then keyset search windows (module doc)."""

    object_type: ClassVar[str]
    modified_property: ClassVar[str]
    primary_keys: ClassVar[tuple[str, ...]] = ("id",)
    is_sorted = False

    def __init__(self, tap: Any, kinds: dict[str, str]) -> None:
        """Build the stream with the schema typed from the property definitions."""
        self.kinds = kinds
        super().__init__(tap, schema=record_schema(self.object_type, kinds), name=self.name)
        self.replication_key = self.modified_property
        self.coercer = Coercer()
        self._cursor: dict[str, Any] = {}
        self._state: dict[str, Any] = {}

    # ---------------------------------------------------------- SDK state hooks
    def get_replication_key_signpost(self, context: Context | None = None) -> None:  # noqa: ARG002
        """No signpost: the bookmark is set from the window end, not from records."""
        return

    def _increment_stream_state(self, latest_record: Any, *, context: Any = None) -> None:
        """Do nothing: records arrive in id order inside a window, not in time order.

        The bookmark is therefore not derived from records; :meth:`get_records` keeps the
        cursor and the bookmark itself.
        """

    # ------------------------------------------------------------------ config
    @property
    def _page_size(self) -> int:
        return int(self.config.get("list_page_size", 100))

    @property
    def _search_page_size(self) -> int:
        return int(self.config.get("search_page_size", 200))

    @property
    def _checkpoint_every(self) -> int:
        return int(self.config.get("checkpoint_records", 1000))

    def requested_properties(self) -> list[str]:
        """Properties to ask HubSpot for: the selected ones plus the required ones."""
        required = set(REQUIRED_PROPERTIES[self.object_type])
        mask = self.mask
        return [n for n in self.kinds if n in required or mask.get(("properties", n), True)]

    # ------------------------------------------------------------------ sync
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Full read, search windows and archived sweep, checkpointing as it goes."""
        self._state = self.get_context_state(context)
        end_ms = self._tap.window_end_ms  # type: ignore[attr-defined]
        saved = self._state.get("cursor")
        if saved and saved.get("version") == CURSOR_VERSION:
            self._cursor = dict(saved)
            self.logger.info("%s: resuming from saved cursor %s", self.name, self._cursor)
        else:
            start = self.get_starting_replication_key_value(context)
            if start is None:
                self._cursor = {"version": CURSOR_VERSION, "phase": "list", "window_end": end_ms}
                self.logger.info("%s: no bookmark, full read via the list endpoint", self.name)
            else:
                self._cursor = {
                    "version": CURSOR_VERSION,
                    "phase": "search",
                    "window_start": to_ms(start),
                    "window_end": end_ms,
                    "after_id": "0",
                }
        if self._cursor["phase"] == "list":
            yield from self._list_live()
            self._checkpoint(phase="archived", after=None)
        while self._cursor["phase"] == "search":
            yield from self._search_window()
            if int(self._cursor["window_end"]) < end_ms:  # a resumed older window: catch up
                start_ms = int(self._cursor["window_end"])
                self._checkpoint(window_start=start_ms, window_end=end_ms, after_id="0")
            else:
                self._checkpoint(phase="archived", after=None)
        if self.config.get("include_archived", True):
            yield from self._archived()
        window_end = int(self._cursor["window_end"])
        self._state["replication_key"] = self.replication_key
        self._state["replication_key_value"] = format_ms(window_end)
        self._state["archived_bookmark"] = format_ms(window_end)
        self._state.pop("cursor", None)
        unreadable = self.coercer.unreadable
        if unreadable:
            self.logger.warning(
                "%s: values that did not match their property type were emitted as null: %s",
                self.name,
                unreadable,
            )

    def _checkpoint(self, **changes: Any) -> None:
        """Save the position (after every record before it was emitted) and emit STATE."""
        self._cursor.update(changes)
        self._state["cursor"] = dict(self._cursor)
        self._write_state_message()

    def _list_live(self) -> Iterator[dict[str, Any]]:
        path = self.client.paths.objects(self.object_type)
        props = self.requested_properties()
        inline = {"limit": self._page_size, "archived": "false", "properties": ",".join(props)}
        probe = {**inline, "after": "x" * 64}
        fits = self.client.url_length(path, probe) <= self.client.max_url_length
        if not fits:
            self.logger.info(
                "%s: %d properties do not fit in a URL; listing ids, then batch-reading",
                self.name,
                len(props),
            )
        end_ms = int(self._cursor["window_end"])
        after = self._cursor.get("after")
        guard = CursorGuard(self.name, f"{self.object_type} list", start=after)
        buffer: list[dict[str, Any]] = []
        while True:
            params = (
                dict(inline)
                if fits
                else {
                    "limit": self._page_size,
                    "archived": "false",
                    "properties": "hs_object_id",
                }
            )
            if after:
                params["after"] = after
            body = self.client.get(path, params)
            results = body.get("results") or []
            if results and not fits:
                results = self._batch_read([r["id"] for r in results], props)
            # Modified after the window end: the next run's search window reads them.
            buffer.extend(
                r
                for r in results
                if (to_ms((r.get("properties") or {}).get(self.modified_property)) or 0) <= end_ms
            )
            after = guard.follow(((body.get("paging") or {}).get("next") or {}).get("after"))
            if after is None or len(buffer) >= self._checkpoint_every:
                yield from self._flush(buffer)
                buffer = []
                self._checkpoint(after=after)
            if after is None:
                return

    def _batch_read(self, ids: list[str], props: list[str]) -> list[dict[str, Any]]:
        path = self.client.paths.objects(self.object_type) + "/batch/read"
        size = int(self.config.get("batch_read_size", 100))
        out: list[dict[str, Any]] = []
        for i in range(0, len(ids), size):
            body = self.client.post(
                path,
                {"inputs": [{"id": x} for x in ids[i : i + size]], "properties": props},
                params={"archived": "false"},
            )
            out.extend(body.get("results") or [])  # 207: missing ids were deleted meanwhile
        order = {x: n for n, x in enumerate(ids)}
        return sorted(out, key=lambda r: order.get(str(r["id"]), 0))

    def _search_window(self) -> Iterator[dict[str, Any]]:
        path = self.client.paths.objects(self.object_type) + "/search"
        start_ms, end_ms = int(self._cursor["window_start"]), int(self._cursor["window_end"])
        after_id = int(self._cursor.get("after_id") or 0)
        if start_ms >= end_ms:
            return
        limit = self._search_page_size
        template = {
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": self.requested_properties(),
            "limit": limit,
        }
        buffer: list[dict[str, Any]] = []
        first = True
        while True:
            filters = [
                {"propertyName": self.modified_property, "operator": "GT", "value": str(start_ms)},
                {"propertyName": self.modified_property, "operator": "LTE", "value": str(end_ms)},
                {"propertyName": "hs_object_id", "operator": "GT", "value": str(after_id)},
            ]
            page = self.client.post(path, {**template, "filterGroups": [{"filters": filters}]})
            results = page.get("results") or []
            if first:
                self.logger.info(
                    "%s: search window (%s, %s] holds %s records from id %s",
                    self.name,
                    format_ms(start_ms),
                    format_ms(end_ms),
                    page.get("total"),
                    after_id,
                )
                first = False
            ids = [keyset_id(r, self.object_type) for r in results]
            if ids and (ids[0] <= after_id or ids != sorted(ids)):
                msg = (
                    f"{self.name}: search did not honour the hs_object_id sort/filter "
                    f"(after {after_id} got {ids[:3]}...); stopping rather than risk gaps"
                )
                raise ServerMisbehaved(msg)
            buffer.extend(results)
            # Not `len(results) < limit`: HubSpot serves "up to" limit per page (paging module).
            done = not search_has_more(self.name, page, after_id=after_id)
            if ids:
                after_id = ids[-1]
            if done or len(buffer) >= self._checkpoint_every:
                yield from self._flush(buffer)
                buffer = []
                self._checkpoint(after_id=str(after_id))
            if done:
                return

    def _archived(self) -> Iterator[dict[str, Any]]:
        path = self.client.paths.objects(self.object_type)
        lower = to_ms(self._state.get("archived_bookmark"))
        end_ms = int(self._cursor["window_end"])
        params_base = {
            "limit": self._page_size,
            "archived": "true",
            "properties": ",".join(REQUIRED_PROPERTIES[self.object_type]),
        }
        after = self._cursor.get("after")
        guard = CursorGuard(self.name, f"{self.object_type} archived list", start=after)
        buffer: list[dict[str, Any]] = []
        while True:
            params = dict(params_base)
            if after:
                params["after"] = after
            body = self.client.get(path, params)
            for obj in body.get("results") or []:
                archived_ms = to_ms(obj.get("archivedAt")) or 0
                if (lower is None or archived_ms > lower) and archived_ms <= end_ms:
                    buffer.append(obj)
            after = guard.follow(((body.get("paging") or {}).get("next") or {}).get("after"))
            if after is None or len(buffer) >= self._checkpoint_every:
                yield from (self._to_record(obj, None) for obj in buffer)
                buffer = []
                self._checkpoint(after=after)
            if after is None:
                return

    # --------------------------------------------------------------- records
    def _flush(self, objects: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        links = self._company_links([str(o["id"]) for o in objects]) if objects else {}
        for obj in objects:
            yield self._to_record(obj, links.get(str(obj["id"]), []))

    def _company_links(self, ids: list[str]) -> dict[str, list[str]]:  # noqa: ARG002
        return {}

    def _to_record(
        self,
        obj: dict[str, Any],
        companies: list[str] | None,  # noqa: ARG002 (used by contacts)
    ) -> dict[str, Any]:
        props = obj.get("properties") or {}
        value = self.coercer.value
        record: dict[str, Any] = {"id": str(obj["id"])}
        for name, kind in self.kinds.items():
            record[name] = value(name, kind, props.get(name))
        if record.get("hs_merged_object_ids") is None:
            record["hs_merged_object_ids"] = []
        record["archived"] = bool(obj.get("archived", False))
        record["archivedAt"] = value("archivedAt", "datetime", obj.get("archivedAt"))
        record["createdAt"] = value("createdAt", "datetime", obj.get("createdAt"))
        record["updatedAt"] = value("updatedAt", "datetime", obj.get("updatedAt"))
        return record


class ContactsStream(CrmObjectStream):
    """HubSpot contacts, flat typed properties, with their companies (primary first)."""

    name = "contacts"
    object_type = "contacts"
    modified_property = "lastmodifieddate"

    def _company_links(self, ids: list[str]) -> dict[str, list[str]]:
        """Contact id → company ids, primary (typeId 1) first, via v4 batch reads."""
        if not self.config.get("include_associations", True):
            return {}
        path = self.client.paths.associations("contacts", "companies")
        size = int(self.config.get("associations_batch_size", 1000))
        found: dict[str, list[tuple[str, set[int]]]] = {}
        guards: dict[str, CursorGuard] = {}
        pending: list[dict[str, str]] = [{"id": i} for i in ids]
        while pending:
            chunk, pending = pending[:size], pending[size:]
            body = self.client.post(path, {"inputs": chunk})
            for item in body.get("results") or []:
                source = str(item["from"]["id"])
                for target in item.get("to") or []:
                    types = {t.get("typeId") for t in target.get("associationTypes") or []}
                    found.setdefault(source, []).append((str(target["toObjectId"]), types))
                more = ((item.get("paging") or {}).get("next") or {}).get("after")
                if more:
                    guard = guards.setdefault(
                        source, CursorGuard(self.name, f"association read of contact {source}")
                    )
                    pending.append({"id": source, "after": guard.follow(more)})
        out: dict[str, list[str]] = {}
        for source, links in found.items():
            primary = [c for c, types in links if PRIMARY_COMPANY_TYPE_ID in types]
            out[source] = list(dict.fromkeys(primary + [c for c, _ in links]))
        return out

    def _to_record(self, obj: dict[str, Any], companies: list[str] | None) -> dict[str, Any]:
        record = super()._to_record(obj, companies)
        primary_prop = record.get("associatedcompanyid")
        primary_prop = str(int(primary_prop)) if isinstance(primary_prop, int | float) else None
        if companies is None or (
            not companies and not self.config.get("include_associations", True)
        ):
            # Archived contacts (the associations API does not serve them) or associations
            # switched off: the primary company property is all there is.
            companies = [primary_prop] if primary_prop else []
        record["associated_company_ids"] = list(companies)
        record["primary_company_id"] = companies[0] if companies else None
        if companies and primary_prop and primary_prop in companies:
            record["primary_company_id"] = primary_prop
        return record


class CompaniesStream(CrmObjectStream):
    """HubSpot companies, flat typed properties."""

    name = "companies"
    object_type = "companies"
    modified_property = "hs_lastmodifieddate"


OPTION = th.ObjectType(
    th.Property("label", th.StringType),
    th.Property("value", th.StringType),
    th.Property("hidden", th.BooleanType),
    th.Property("displayOrder", th.IntegerType),
    th.Property("description", th.StringType),
)
PROPERTY_SCHEMA = th.PropertiesList(
    th.Property("name", th.StringType, required=True, description="internal name (record key)"),
    th.Property("label", th.StringType),
    th.Property(
        "type",
        th.StringType,
        description="string|number|date|datetime|enumeration|bool|phone_number",
    ),
    th.Property("fieldType", th.StringType, description="text|select|checkbox|booleancheckbox|..."),
    th.Property("groupName", th.StringType),
    th.Property("description", th.StringType),
    th.Property("options", th.ArrayType(OPTION)),
    th.Property("displayOrder", th.IntegerType),
    th.Property("hidden", th.BooleanType),
    th.Property("calculated", th.BooleanType),
    th.Property("hubspotDefined", th.BooleanType),
    th.Property("hasUniqueValue", th.BooleanType),
    th.Property("formField", th.BooleanType),
    th.Property("referencedObjectType", th.StringType),
    th.Property("archived", th.BooleanType),
    th.Property("createdAt", th.DateTimeType),
    th.Property("updatedAt", th.DateTimeType),
    th.Property(
        "synced",
        th.BooleanType,
        description="true when the object stream carries this property",
    ),
    th.Property("record_type", th.StringType, description="JSON type of the value in records"),
).to_dict()


class PropertyDefinitionsStream(HubSpotStream):
    """Property definitions of one object type (fetched once per run, at discovery)."""

    object_type: ClassVar[str]
    primary_keys: ClassVar[tuple[str, ...]] = ("name",)
    replication_key = None
    schema = PROPERTY_SCHEMA

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:  # noqa: ARG002
        """One record per definition, with ``synced`` telling whether records carry it."""
        kinds = self._tap.selected_kinds(self.object_type)  # type: ignore[attr-defined]
        coerce = Coercer().value
        keys = set(PROPERTY_SCHEMA["properties"])
        for definition in self._tap.property_definitions(self.object_type):  # type: ignore[attr-defined]
            row = {k: definition.get(k) for k in keys}
            row["hubspotDefined"] = bool(definition.get("hubspotDefined", False))
            row["hidden"] = bool(definition.get("hidden", False))
            row["calculated"] = bool(definition.get("calculated", False))
            row["createdAt"] = coerce("createdAt", "datetime", definition.get("createdAt"))
            row["updatedAt"] = coerce("updatedAt", "datetime", definition.get("updatedAt"))
            row["options"] = [
                {k: o.get(k) for k in ("label", "value", "hidden", "displayOrder", "description")}
                for o in definition.get("options") or []
            ]
            row["synced"] = definition["name"] in kinds
            row["record_type"] = kinds.get(definition["name"])
            yield row


class ContactPropertiesStream(PropertyDefinitionsStream):
    """Contact property definitions."""

    name = "contact_properties"
    object_type = "contacts"


class CompanyPropertiesStream(PropertyDefinitionsStream):
    """Company property definitions."""

    name = "company_properties"
    object_type = "companies"
