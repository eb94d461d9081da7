"""Reading CSM back: what the site holds for given customers and organizations.

Reconciliation must see the site as it is, not as the ledger remembers it, so it reads each
record again, with read endpoints only and each within its documented limit
(``docs/csm-api-choices.md``): ``organization/fetch`` by names (≤ 50), ``customer/profile/fetch``
and ``organization/profile/fetch`` by ids (≤ 25), customer ids by email through the client's
look-up (≤ 25 emails per call). Every request goes through the client, so the settings' rate
limit and CSM's 429s are honoured as in a load.

Profiles are read tolerantly, since the reference does not fix their shape: details as
``[{name, values}]`` or a mapping, organizations as ``[{id, name}]``, ``[{organizationId}]``
or plain ids. A fetch that CSM refuses as a whole (a 4xx, e.g. one id it cannot take) is
split in halves until the offending id is alone, which then counts as not found.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from target_atlassian_csm.client import CsmClient, RequestRejected, encode_body
from target_atlassian_csm.limits import (
    CUSTOMER_FETCH_MAX,
    ORGANIZATION_FETCH_MAX,
    PROFILE_FETCH_MAX,
)
from target_atlassian_csm.operations import CUSTOMER


@dataclass(frozen=True)
class Held:
    """One record as CSM holds it."""

    csm_id: str
    identity: str  # the email (customers) or name (organizations) CSM has
    display_name: str | None
    details: dict[str, list[str]]
    organization_ids: frozenset[str] = frozenset()
    #: Case-folded names of the organizations, when the profile names them.
    organization_names: frozenset[str] = frozenset()


def _items(answer: Any) -> list[Mapping[str, Any]]:
    """The records of a list answer (a list, ``results`` or ``values``)."""
    if isinstance(answer, Mapping):
        answer = answer.get("results", answer.get("values", []))
    return [item for item in answer or [] if isinstance(item, Mapping)]


def _values(raw: Any) -> list[str]:
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    return [str(v) for v in items if v is not None]


def parse_details(raw: Any) -> dict[str, list[str]]:
    """Detail values from ``[{name, values}]`` or ``{name: values}``; empty fields left out."""
    out: dict[str, list[str]] = {}
    if isinstance(raw, Mapping):
        pairs: Iterable[tuple[Any, Any]] = raw.items()
    else:
        pairs = (
            (item.get("name"), item.get("values", item.get("value")))
            for item in raw or []
            if isinstance(item, Mapping)
        )
    for name, values in pairs:
        found = _values(values)
        if name is not None and found:
            out[str(name)] = found
    return out


def parse_profile(entity: str, item: Mapping[str, Any]) -> Held | None:
    """A customer or organization profile as :class:`Held` (None without an id)."""
    csm_id = item.get("id") or item.get("customerId") or item.get("organizationId")
    if csm_id is None:
        return None
    ids: set[str] = set()
    names: set[str] = set()
    for org in item.get("organizations") or item.get("organizationIds") or ():
        if isinstance(org, Mapping):
            org_id = org.get("id") or org.get("organizationId")
            if org_id is not None:
                ids.add(str(org_id))
            if org.get("name"):
                names.add(str(org["name"]).strip().casefold())
        elif org is not None:
            ids.add(str(org))
    if entity == CUSTOMER:
        identity = item.get("email") or item.get("emailAddress") or ""
    else:
        identity = item.get("name") or ""
    display = item.get("displayName")
    return Held(
        csm_id=str(csm_id),
        identity=str(identity),
        display_name=str(display) if display is not None else None,
        details=parse_details(item.get("details")),
        organization_ids=frozenset(ids),
        organization_names=frozenset(names),
    )


def chunks(values: Sequence[str], size: int) -> list[list[str]]:
    """``values`` in lists of at most ``size``, duplicates dropped (they count toward limits)."""
    unique = list(dict.fromkeys(values))
    return [unique[i : i + size] for i in range(0, len(unique), size)]


class ReadBack:
    """Batched reads of one CSM site (see module docstring)."""

    def __init__(self, client: CsmClient, logger: logging.Logger | None = None) -> None:
        self.client = client
        self.logger = logger or logging.getLogger(__name__)

    def organization_ids(self, names: Sequence[str]) -> dict[str, str]:
        """CSM ids of the organizations CSM has, by case-folded name (≤ 50 per request)."""
        found: dict[str, str] = {}
        for chunk in chunks([n.strip() for n in names if n.strip()], ORGANIZATION_FETCH_MAX):
            for item in self.client.fetch_organizations(chunk):
                if item.get("name") is not None:
                    found[str(item["name"]).strip().casefold()] = str(item["id"])
        return found

    def customer_ids(self, emails: Sequence[str]) -> dict[str, str]:
        """CSM customer ids by case-folded email, for those CSM knows (≤ 25 per look-up)."""
        found: dict[str, str] = {}
        for chunk in chunks(list(emails), CUSTOMER_FETCH_MAX):
            found.update(self.client.find_customer_ids(chunk))
        return found

    def customer_profiles(self, ids: Sequence[str]) -> dict[str, Held]:
        """Customer profiles by CSM id, for those CSM has (≤ 25 per request)."""
        return self._profiles(CUSTOMER, "customer/profile/fetch", "customerIds", ids)

    def organization_profiles(self, ids: Sequence[str]) -> dict[str, Held]:
        """Organization profiles by CSM id, for those CSM has (≤ 25 per request)."""
        return self._profiles("organization", "organization/profile/fetch", "organizationIds", ids)

    def _profiles(self, entity: str, path: str, key: str, ids: Sequence[str]) -> dict[str, Held]:
        found: dict[str, Held] = {}

        def fetch(chunk: list[str]) -> list[Mapping[str, Any]]:
            answer = self.client.request("POST", path, body=encode_body({key: chunk}), kind="reads")
            return _items(answer)

        for chunk in chunks(list(ids), PROFILE_FETCH_MAX):
            for item in _split_on_refusal(fetch, chunk, self.logger, path):
                held = parse_profile(entity, item)
                if held is not None:
                    found[held.csm_id] = held
        return found


def _split_on_refusal(
    fetch: Callable[[list[str]], list[Mapping[str, Any]]],
    chunk: list[str],
    logger: logging.Logger,
    path: str,
) -> list[Mapping[str, Any]]:
    """``fetch(chunk)``; a refused request is split until the refused id is alone."""
    try:
        return fetch(chunk)
    except RequestRejected as exc:
        if len(chunk) == 1:
            logger.info("CSM %s refused id %s (%s): counted as not found", path, chunk[0], exc)
            return []
        half = len(chunk) // 2
        return _split_on_refusal(fetch, chunk[:half], logger, path) + _split_on_refusal(
            fetch, chunk[half:], logger, path
        )
