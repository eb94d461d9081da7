"""The CSM sandbox's single-record endpoints: profile reads, fetches, deletes, user search.

They answer at once: no Idempotency-Key, no task, no experimental header (they are neither
bulk nor task endpoints); the app's rate limit, authentication and cloudId check apply as to
every request. Bodies and matching rules are in :mod:`sandbox.csm.reads`; this module only
routes them to the store.

* ``GET customer/profile/{id}``, ``POST customer/profile/fetch`` (≤ 25 ``customerIds``;
  ``emails`` with ``profile_fetch_by_email``), ``GET organization/profile/{id}``,
  ``POST organization/profile/fetch`` (≤ 25 ``organizationIds``), ``POST organization/fetch``
  (≤ 50 ids and/or names): one profile shape wherever a profile is read (the store's);
* ``DELETE customer/account/{customerId}``: Customer Accounts only (reference §4). An id
  without the ``qm:`` prefix (an Atlassian account) is answered ``account_other_ids_status``
  (404 by default, as ineligible accounts are, S13); ``DELETE organization/{organizationId}``.
  Both answer 204 with no body (undocumented) and remove the record with its details and
  memberships;
* ``GET /ex/jira/{cloudId}/rest/api/3/user/search`` (and ``/rest/api/3/user/search`` on a
  site URL): Jira's user search, listing the site's customer accounts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from sandbox.core.app import ApiError, SandboxApp, json_response
from sandbox.csm.reads import (
    MAX_PROFILE_FETCH,
    check_fetch,
    check_lookup,
    findable,
    unique_by_id,
    user_answer,
    user_matches,
    user_search_paging,
)

if TYPE_CHECKING:
    from sandbox.core.clock import Clock
    from sandbox.csm.store import Store

JIRA_PREFIXES = ("/ex/jira/<cloud_id>/rest/api/3", "/rest/api/3")
CUSTOMER_ACCOUNT_PREFIX = "qm:"


def record_rules(api_prefix: str) -> list[Rule]:
    """The routes of this module's endpoints under ``api_prefix`` (and Jira's)."""
    routes = [
        ("organization/fetch", "fetch", "POST"),
        ("customer/profile/fetch", "customer_profiles", "POST"),
        ("organization/profile/fetch", "organization_profiles", "POST"),
        ("customer/profile/<customer_id>", "customer_profile", "GET"),
        ("organization/profile/<organization_id>", "organization_profile", "GET"),
        ("customer/account/<customer_id>", "delete_customer", "DELETE"),
        ("organization/<organization_id>", "delete_organization", "DELETE"),
    ]
    rules = [
        Rule(f"{api_prefix}/{path}", endpoint=endpoint, methods=[method])
        for path, endpoint, method in routes
    ]
    rules += [
        Rule(f"{prefix}/user/search", endpoint="user_search", methods=["GET"])
        for prefix in JIRA_PREFIXES
    ]
    return rules


class RecordEndpoints:
    """Handlers mixed into the app; they use its store, knobs, counters and clock."""

    store: Store
    knobs: dict[str, Any]
    counters: dict[str, int]
    clock: Clock

    # ------------------------------------------------------------------ reads
    def on_fetch(self, request: Request, cloud_id: str) -> Response:  # noqa: ARG002
        """POST organization/fetch by ids and/or names; missing ones are left out."""
        ids, names = check_fetch(SandboxApp.json_body(request))
        found = [self.store.organization(i) for i in ids]
        found += [self.store.organization_by_name(n) for n in names]
        results = [{"id": o.id, "name": o.name} for o in unique_by_id(found)]
        return json_response({"results": results})

    def on_customer_profile(
        self,
        request: Request,  # noqa: ARG002
        cloud_id: str,  # noqa: ARG002
        customer_id: str,
    ) -> Response:
        """GET customer/profile/{customerId}."""
        found = self.store.customer(customer_id)
        return self._one_profile("Customer", customer_id, found, self.store.customer_profile)

    def on_organization_profile(
        self,
        request: Request,  # noqa: ARG002
        cloud_id: str,  # noqa: ARG002
        organization_id: str,
    ) -> Response:
        """GET organization/profile/{organizationId}."""
        found = self.store.organization(organization_id)
        return self._one_profile(
            "Organization", organization_id, found, self.store.organization_profile
        )

    @staticmethod
    def _one_profile(kind: str, record_id: str, found: Any, render: Any) -> Response:
        """A single profile read: the store's profile shape, or 404 naming the id."""
        if found is None:
            raise ApiError(404, f"{kind} {record_id} not found")
        return json_response(render(found))

    def on_customer_profiles(self, request: Request, cloud_id: str) -> Response:  # noqa: ARG002
        """POST customer/profile/fetch: up to 25 by ``customerIds`` (and ``emails``, knob)."""
        keys = (
            ("customerIds", "emails") if self.knobs["profile_fetch_by_email"] else ("customerIds",)
        )
        asked = check_lookup(
            SandboxApp.json_body(request), keys, MAX_PROFILE_FETCH, "customer profiles"
        )
        found = [self.store.customer(i) for i in asked["customerIds"]]
        found += [self.store.customer_by_email(e) for e in asked.get("emails", [])]
        self.counters["profile_fetches"] += 1
        results = [self.store.customer_profile(c) for c in unique_by_id(found)]
        return json_response({"results": results})

    def on_organization_profiles(self, request: Request, cloud_id: str) -> Response:  # noqa: ARG002
        """POST organization/profile/fetch: up to 25 by ``organizationIds``."""
        asked = check_lookup(
            SandboxApp.json_body(request),
            ("organizationIds",),
            MAX_PROFILE_FETCH,
            "organization profiles",
        )
        found = [self.store.organization(i) for i in asked["organizationIds"]]
        self.counters["profile_fetches"] += 1
        results = [self.store.organization_profile(o) for o in unique_by_id(found)]
        return json_response({"results": results})

    def on_user_search(self, request: Request, cloud_id: str | None = None) -> Response:  # noqa: ARG002
        """GET Jira's rest/api/3/user/search: customers by email or name prefix, or by id."""
        query, account_id, start, size = user_search_paging(request.args)
        now, delay = self.clock.now(), float(self.knobs["user_search_delay_seconds"])
        mode = str(self.knobs["user_search_match"])
        hits = [
            c
            for c in self._user_candidates(query, account_id, mode)
            if findable(c, now, delay)
            and (account_id is None or c.id == account_id)
            and (not query or user_matches(c, query, mode))
        ]
        self.counters["user_searches"] += 1
        return json_response([user_answer(c) for c in hits[start : start + size]])

    def _user_candidates(self, query: str | None, account_id: str | None, mode: str) -> list[Any]:
        """The customers that may match, from the store's indexes (never a full scan)."""
        if account_id is not None:
            found = self.store.customer(account_id)
            return [found] if found else []
        wanted = (query or "").strip()
        if mode == "exact":
            found = self.store.customer_by_email(wanted)
            return [found] if found else []
        return self.store.customers_with_prefix(wanted.casefold())

    # ---------------------------------------------------------------- deletes
    def on_delete_customer(
        self,
        request: Request,  # noqa: ARG002
        cloud_id: str,  # noqa: ARG002
        customer_id: str,
    ) -> Response:
        """DELETE customer/account/{customerId}: a Customer Account and all it holds."""
        if not customer_id.startswith(CUSTOMER_ACCOUNT_PREFIX):
            status = int(self.knobs["account_other_ids_status"])
            raise ApiError(status, f"{customer_id} is not a Customer Account")
        customer = self.store.customer(customer_id)
        if customer is None:
            raise ApiError(404, f"Customer {customer_id} not found")
        self.store.delete_customer(customer)
        self.counters["customers_deleted"] += 1
        return Response(status=204)

    def on_delete_organization(
        self,
        request: Request,  # noqa: ARG002
        cloud_id: str,  # noqa: ARG002
        organization_id: str,
    ) -> Response:
        """DELETE organization/{organizationId}: the organization and all it holds."""
        organization = self.store.organization(organization_id)
        if organization is None:
            raise ApiError(404, f"Organization {organization_id} not found")
        self.store.delete_organization(organization)
        self.counters["organizations_deleted"] += 1
        return Response(status=204)
