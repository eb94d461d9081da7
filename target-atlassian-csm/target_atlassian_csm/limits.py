"""CSM limits, each a named constant with the reference it comes from.

References are to ``../shared/reference/csm-api.md`` (section numbers) and the choices in
``docs/csm-api-choices.md``.
"""

from __future__ import annotations

#: POST customer/profile/bulk: "up to 100 customer profiles" (§2 table, [SPEC S17], [REF S5]).
CUSTOMER_PROFILE_BULK_MAX = 100
#: POST organization/profile/bulk: 100 organization profiles (§2 table, [REF S8]).
ORGANIZATION_PROFILE_BULK_MAX = 100
#: POST customer/bulk and organization/bulk: 50 items (§2 table). Not used by default.
ACCOUNT_BULK_MAX = 50
#: POST {entity}/details/bulk: 1000 detail operations in total (§2 table, newer reading)...
DETAILS_BULK_MAX_OPERATIONS = 1000
#: ...and 100 entities (older reading); both are respected.
DETAILS_BULK_MAX_ENTITIES = 100
#: POST organization/fetch: "up to 50 organizations, fetched by organization id or name" (§4).
ORGANIZATION_FETCH_MAX = 50
#: POST customer/profile/fetch and organization/profile/fetch: "up to 25" profiles (§4).
CUSTOMER_FETCH_MAX = 25
PROFILE_FETCH_MAX = 25
#: At most 50 detail fields per entity (§5, [REF S10, S11]).
MAX_DETAIL_FIELDS = 50
#: At most 50 options per SELECT / MULTISELECT (§5, [SUPPORT S20]).
MAX_SELECT_OPTIONS = 50
#: Non-terminal bulk tasks per site: 5 in one version of the narrative, 10 in another (§3).
TASK_CAP_CONSERVATIVE = 5
TASK_CAP_GENEROUS = 10
#: Non-terminal tasks older than this are treated as timed out by CSM (§3).
TASK_TIMEOUT_SECONDS = 30 * 60
#: The guides' email check (field-mapping.md, HubSpot → CSM guide).
EMAIL_PATTERN = r"^[^\s@]+@[^\s@]+\.[^\s@]+$"
