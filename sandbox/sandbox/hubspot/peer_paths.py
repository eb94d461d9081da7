"""The older HubSpot paths singer-io's tap-hubspot 4.5.0 still calls (hubspot-api.md §6.2).

That tap reads contacts from v3 (already served) but companies from the v2 API:

* ``GET /companies/v2/properties``: the company property definitions as a bare list;
* ``GET /companies/v2/companies/paged``: ``limit`` ≤ 250, ``offset`` (the last company id
  seen), repeated ``properties`` params; answers ``{companies, has-more, offset}`` with each
  live company as ``{portalId, companyId, isDeleted, properties: {name: {value,
  timestamp, source, sourceId, versions}}}`` holding only the asked-for properties;
* ``GET /companies/v2/companies/{id}``: one company with every property that has a value.

v2 writes dates and datetimes as epoch-millisecond strings, whatever the v3 knob says.
Probes of objects this sandbox does not model (deals, tickets, custom-object schemas) answer
403 ``MISSING_SCOPES``, as for an app without those scopes: the tap then leaves those streams
out of its catalog instead of retrying for a minute.
"""

from __future__ import annotations

from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from sandbox.core.app import ApiError, json_response
from sandbox.core.clock import Clock
from sandbox.hubspot.app import OBJECT_TYPES, HubSpotApp
from sandbox.hubspot.store import CrmObject, parse_time_ms

PORTAL_ID = 62515
V2_MAX_LIMIT = 250
#: paths of objects outside this sandbox: answered like a missing scope
UNSCOPED = (
    "/properties/v1/deals/properties",
    "/crm/v3/properties/deals",
    "/crm/v3/properties/tickets",
    "/crm/v3/schemas",
    "/deals/v1/deal/paged",
    "/crm/v4/objects/tickets",
    "/crm/v3/owners/",
)


class HubSpotPeerApp(HubSpotApp):
    """The HubSpot sandbox plus the v2 company paths the singer-io tap uses."""

    def rules(self) -> list[Rule]:
        """The base rules, the v2 company paths and the out-of-scope probes."""
        return [
            *super().rules(),
            Rule("/companies/v2/properties", methods=["GET"], endpoint="v2_properties"),
            Rule("/companies/v2/companies/paged", methods=["GET"], endpoint="v2_paged"),
            Rule("/companies/v2/companies/<int:company_id>", methods=["GET"], endpoint="v2_one"),
            *(Rule(p, methods=["GET", "POST"], endpoint="unscoped") for p in UNSCOPED),
        ]

    # ---------------------------------------------------------------- rendering
    def _v2_value(self, definition: dict[str, Any] | None, value: str) -> str:
        """v2 sends dates and datetimes as epoch milliseconds."""
        if definition and definition.get("type") in ("date", "datetime") and value:
            try:
                return str(parse_time_ms(value))
            except ValueError:
                return value
        return value

    def _v2_company(self, obj: CrmObject, names: list[str] | None) -> dict[str, Any]:
        store = self.stores["companies"]
        properties: dict[str, Any] = {}
        for name, raw in obj.properties.items():
            if raw in (None, "") or (names is not None and name not in names):
                continue
            value = self._v2_value(store.definitions.get(name), raw)
            version = {
                "name": name,
                "value": value,
                "timestamp": obj.updated_ms,
                "source": "API",
                "sourceId": None,
                "sourceVid": [],
            }
            properties[name] = {
                "value": value,
                "timestamp": obj.updated_ms,
                "source": "API",
                "sourceId": None,
                "versions": [version],
            }
        return {
            "portalId": PORTAL_ID,
            "companyId": obj.id,
            "isDeleted": obj.archived,
            "properties": properties,
        }

    # ---------------------------------------------------------------- handlers
    def on_v2_properties(self, request: Request) -> Response:  # noqa: ARG002
        """The company property definitions, as v2 lists them (a bare array)."""
        with self.lock:
            defs = list(self.stores["companies"].definitions.values())
        return json_response(
            [
                {
                    "name": d["name"],
                    "label": d["label"],
                    "description": d.get("description", ""),
                    "groupName": d.get("groupName", "companyinformation"),
                    "type": d["type"],
                    "fieldType": d["fieldType"],
                    "options": d.get("options", []),
                    "hidden": d.get("hidden", False),
                    "calculated": d.get("calculated", False),
                    "hubspotDefined": d.get("hubspotDefined", True),
                }
                for d in defs
            ]
        )

    def on_v2_paged(self, request: Request) -> Response:
        """All live companies in id order, ``offset`` = the last id returned."""
        try:
            limit = int(request.args.get("limit", 100))
            offset = int(request.args.get("offset", 0))
        except ValueError as exc:
            raise ApiError(400, "limit and offset must be integers") from exc
        if limit < 1:
            raise ApiError(400, "limit must be positive")
        limit = min(limit, V2_MAX_LIMIT)
        names = request.args.getlist("properties")
        with self.lock:
            store = self.stores["companies"]
            ids = [i for i in store.active_ids() if i > offset]
            page = ids[:limit]
            body = {
                "companies": [self._v2_company(store.objects[i], names) for i in page],
                "has-more": len(ids) > limit,
                "offset": page[-1] if page else offset,
            }
        return json_response(body)

    def on_v2_one(self, request: Request, company_id: int) -> Response:  # noqa: ARG002
        """One company (archived ones are not found, as in v3)."""
        with self.lock:
            obj = self.stores["companies"].objects.get(company_id)
            if obj is None or obj.archived:
                raise ApiError(404, f"resource not found: company {company_id}")
            return json_response(self._v2_company(obj, None))

    def on_properties(self, request: Request, obj: str, version: str | None = None) -> Response:
        """Properties of contacts/companies; other object types (calls, deals...) are unscoped.

        MeltanoLabs' tap reads the properties of every CRM object at discovery and drops the
        streams whose scope is missing (403); a 404 would abort its discovery.
        """
        if obj not in OBJECT_TYPES:
            return self.on_unscoped(request)
        return super().on_properties(request, obj=obj, version=version)

    def on_unscoped(self, request: Request) -> Response:  # noqa: ARG002
        """An object this sandbox does not model: the answer to a missing scope."""
        return self.error_response(
            403,
            "This app hasn't been granted all required scopes to make this call.",
            errors=[{"message": "One or more of the following scopes are required."}],
        )


def create_app(*, clock: Clock | None = None, **knobs: Any) -> HubSpotPeerApp:
    """The HubSpot sandbox with the peer taps' paths."""
    return HubSpotPeerApp(clock=clock, **knobs)
