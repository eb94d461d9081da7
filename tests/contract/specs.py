"""The vendors' OpenAPI files, as Prism reads them, and what the contract tests accept.

The specs are not ours (``../shared/specs``: Kustomer's Core Resources OAS as published by
LarisLab, Zendesk's Support OAS), so they are used as they are, with two kinds of exception,
each listed here with its reason:

* **adaptations** made to the copy Prism reads, where the spec describes the same API in a
  way Prism cannot match (Kustomer's paths lack the ``/v1`` of its server URL; Zendesk's paths
  lack the ``.json`` every client adds, and its security lists Basic auth only). They widen
  nothing else: every request and answer is still validated;
* **accepted violations**: what Prism reports that is the spec's fault, not the tap's or the
  sandbox's (endpoints in another of the vendor's specs, response schemas generated from one
  example that require every field of that example). Each is matched narrowly (path, place,
  message) and carries its reason; anything else fails the test.
"""

from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.contract.prism import REPO, Violation

SPEC_DIRS = [
    Path(os.environ["CONTRACT_SPECS_DIR"]) if os.environ.get("CONTRACT_SPECS_DIR") else None,
    REPO.parent / "shared" / "specs",
    Path("/work/shared/specs"),
]
KUSTOMER_OAS = Path("kustomer/larislab-core-resources/openapi.json")
ZENDESK_OAS = Path("zendesk/support-oas.yaml")


def find_spec(relative: Path) -> Path | None:
    """The spec under ``$CONTRACT_SPECS_DIR``, ``<repo>/../shared/specs`` or /work/shared."""
    for base in SPEC_DIRS:
        if base is not None and (base / relative).is_file():
            return base / relative
    return None


@dataclass(frozen=True)
class Accepted:
    """A violation the spec is to blame for: matched on path, place and message."""

    path: str  # regex on the request path
    where: str  # regex on Prism's location (request..., response.body...)
    message: str  # regex on Prism's message
    reason: str

    def matches(self, violation: Violation) -> bool:
        """Whether this acceptance covers ``violation``."""
        return bool(
            re.fullmatch(self.path, violation.path)
            and re.fullmatch(self.where, violation.where)
            and re.search(self.message, violation.message)
        )


def unexplained(violations: list[Violation], accepted: list[Accepted]) -> list[Violation]:
    """The violations no acceptance covers."""
    return [v for v in violations if not any(a.matches(v) for a in accepted)]


# ------------------------------------------------------------------------------ Kustomer
KUSTOMER_ADAPTATIONS = [
    "paths prefixed with /v1: the spec's server URL ends in /v1 and its paths omit it "
    "(https://api.kustomerapp.com/v1 + /customers), while clients call /v1/customers on the "
    "org host",
]

#: A record of any search context (company, conversation, message, note, KObject).
_SEARCH = r"/v1/customers(/archive)?/search"
KUSTOMER_ACCEPTED = [
    Accepted(
        r"/v1/(users|teams|tags)",
        r"request",
        r"Selected route not found",
        "users, teams and tags are documented in Kustomer's Access management and Settings "
        "APIs, not in this Core Resources spec (kustomer-api.md §1); nothing to check them "
        "against",
    ),
    Accepted(
        _SEARCH,
        r"response",
        r"Unable to match the returned status code.*: 200",
        "the spec lists only 200 for search; the API's refusal of a sort or filter its docs do "
        "not list is a 400 (the sandbox's strict reading), which the tap answers by falling "
        "back (docs/tap-kustomer.md)",
    ),
    Accepted(
        _SEARCH,
        r"response\.body\.data\.\d+\.attributes",
        r"required property '(displayName|lastActivityAt|name|verified)'",
        "the search response schema is generated from one customer example and requires its "
        "customer attributes on every hit, while search serves companies, conversations, "
        "messages, notes and KObjects too, which have none of them",
    ),
    Accepted(
        _SEARCH,
        r"response\.body\.links\.next",
        r"must be string",
        "links.next is null on the last page (the docs' pagination page: follow links.next "
        "until it is null, kustomer-api.md §4); the schema, from a first-page example, says "
        "string",
    ),
    Accepted(
        r"/v1/metadata/[\w.]+",
        r"response\.body\.data\.attributes\.properties(\.\w+)?",
        r"required property "
        r"'(shopifyCustomerIdNum|myCustomStr|ordersId|modifiedBy|modifiedAt|updatedAt)'",
        "the metadata schema is generated from one example org and requires its three "
        "example attributes (and their audit fields) in every org's metadata",
    ),
    Accepted(
        r"/v1/conversations/[0-9a-f]{24}/notes",
        r"response\.body\.data\.\d+\.relationships",
        r"required property 'userMentions'",
        "generated from one example whose note mentioned a user; a note without mentions has "
        "no such relationship",
    ),
]


def kustomer_spec(source: Path, dest: Path) -> Path:
    """The Kustomer spec with its adaptations (:data:`KUSTOMER_ADAPTATIONS`), as JSON."""
    spec = json.loads(source.read_text())
    spec["paths"] = {f"/v1{path}": item for path, item in spec["paths"].items()}
    dest.write_text(json.dumps(spec))
    return dest


# ------------------------------------------------------------------------------- Zendesk
ZENDESK_ADAPTATIONS = [
    "each path also with the .json suffix: Zendesk serves every Support path with and "
    "without it, the spec lists them without, and clients (tap-zendesk among them) call "
    "/api/v2/users.json",
    "OAuth bearer tokens beside basicAuth: Zendesk accepts OAuth access tokens on every "
    "endpoint (developer docs, Security and authentication; zendesk-api.md §1), the spec "
    "declares Basic only",
]
#: Resources the sandbox answers 403, as Zendesk does for an account without them, and
#: tap-zendesk's discovery probes.
_RESTRICTED = (
    r"/api/v2/(groups|group_memberships|macros|satisfaction_ratings|tags|ticket_fields"
    r"|ticket_forms|slas/policies|tickets/\d+/audits|incremental/tickets/cursor"
    r"|incremental/ticket_metric_events)(\.json)?"
)
_USERS = r"/api/v2/(incremental/users/cursor|incremental/users|users|users/\d+|search)(\.json)?"
ZENDESK_ACCEPTED = [
    Accepted(
        r"/api/v2/channels/voice/phone_numbers\.json",
        r"request",
        r"Selected route not found",
        "tap-zendesk's discovery probes Zendesk Talk's phone numbers, which the Talk API "
        "documents, not this Support spec",
    ),
    Accepted(
        _RESTRICTED,
        r"response",
        r"Unable to match the returned status code",
        "the spec lists only the success answer of these resources; an account without the "
        "product or role gets 403 'Access to this resource is restricted' (what the sandbox "
        "stands for: tickets, groups, macros... are out of its scope), which tap-zendesk's "
        "discovery expects and skips",
    ),
    Accepted(
        r"/api/v2/incremental/organizations(\.json)?",
        r"request\.query\.start_time",
        r"must be integer",
        "tap-zendesk's discovery access check (Organizations.check_access) passes start_time "
        "to Zenpy as an ISO string; the peer tap's request, unmodified, not ours",
    ),
    Accepted(
        _USERS,
        r"response\.body\.users?(\.\d+)?(\.(photo|signature|last_login_at|default_group_id"
        r"|organization_id|email))?",
        r"must be (object|string|integer)|must match a schema in anyOf",
        "the user schemas mark no field nullable but phone; Zendesk answers null for the "
        "photo, signature, last login, default group, organization and email a user does not "
        "have (end-users have no signature or default group), as tap-zendesk's own users "
        "schema, used on real accounts, declares",
    ),
    Accepted(
        r"/api/v2/(incremental/organizations|organizations|organizations/\d+|search)(\.json)?",
        r"response\.body\.(organizations?|results)(\.\d+)?\.organization_fields\.\w+",
        r"must be (number|string)|must match exactly one schema in oneOf",
        "the organization schema types custom field values as string or number; Zendesk sends "
        "checkbox values as booleans, multiselect values as lists of option tags and empty "
        "fields as null (Organization Fields: field types)",
    ),
]


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads a bare ``=`` as the 'value' tag; the spec means the string."""


_Loader.add_constructor(
    "tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node)
)


def zendesk_spec(source: Path, dest: Path) -> Path:
    """The Zendesk spec with its adaptations (:data:`ZENDESK_ADAPTATIONS`), as JSON."""
    spec: dict[str, Any] = yaml.load(source.read_text(), Loader=_Loader)  # noqa: S506
    paths: dict[str, Any] = {}
    for path, item in spec["paths"].items():
        paths[path] = item
        if not path.endswith(".json"):
            paths.setdefault(f"{path}.json", copy.deepcopy(item))
    spec["paths"] = paths
    schemes = spec.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["bearerAuth"] = {"type": "http", "scheme": "bearer"}
    spec["security"] = [*spec.get("security", []), {"bearerAuth": []}]
    for item in paths.values():
        for operation in item.values():
            if isinstance(operation, dict) and "security" in operation:
                operation["security"] = [*operation["security"], {"bearerAuth": []}]
    dest.write_text(json.dumps(spec, default=str))
    return dest
