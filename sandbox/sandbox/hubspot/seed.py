"""Deterministic HubSpot data sets of any size, with the ugly cases built in.

Everything derives from the record's index, so ``contacts=N`` gives the same records on
every run and on every machine. The ugly cases (hubspot-api.md §1.5, DESIGN.md):

* ``same_timestamp=K``: K contacts share one ``lastmodifieddate`` (a month-end bulk update);
* archived contacts and companies (``archivedAt`` set, last-modified untouched);
* merged records: the secondary disappears, the primary's ``hs_merged_object_ids`` lists it
  (one chained merge lists two ids) and its last-modified is bumped;
* contacts without email, and duplicate emails differing only in case;
* companies without contacts, contacts without company, contacts with several companies;
* unicode and very long values; a custom property of every type; filler properties.
"""

from __future__ import annotations

import datetime as dt
import functools
import sys
from typing import Any

from sandbox.hubspot.store import DAY_MS, CrmObject, iso_ms

CONTACT_ID_START = 1001
COMPANY_ID_START = 5_000_001
DEFAULT_BASE_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
#: The month-end bulk update every ``same_timestamp`` contact carries.
BULK_UPDATE_MS = 1_751_327_999_000  # 2025-06-30T23:59:59Z

FIRST = ["Ada", "Björn", "Chloé", "Dmitri", "Eun-ji", "Farah", "Giulia", "Hiro", "Íde", "Jo"]
LAST = ["Lovelace", "Ångström", "Dupont", "Иванов", "Kim", "Haddad", "Rossi", "Sato", "Ní", "Ng"]
TIERS = ["bronze", "silver", "gold"]
CHANNELS = ["email", "phone", "chat", "sms"]
STAGES = ["subscriber", "lead", "opportunity", "customer", "other"]
INDUSTRIES = ["SOFTWARE", "RETAIL", "MANUFACTURING", "FINANCE"]
LEAD_STATUSES = ["NEW", "OPEN", "IN_PROGRESS", "CONNECTED", "UNQUALIFIED"]
#: One string object for every "very long value" (~100,000 of them at 1,000,000 contacts).
LONG_TEXT = "x" * 5000
MULTI = [";".join(CHANNELS[: k + 1]) for k in range(4)]

# Values that repeat across records are made once and shared: the seeded records are the
# same strings as before, but 1,000,000 contacts fit in about half the memory.


@functools.lru_cache(maxsize=4096)
def _day(day: int) -> str:
    return dt.datetime.fromtimestamp(day * 86_400, tz=dt.UTC).date().isoformat()


def _date(ms: int) -> str:
    return _day(ms // DAY_MS)


@functools.cache
def _small(template: str, k: int) -> str:
    """A value of which only a few thousand exist (phone numbers, visit counts)."""
    return template.format(k)


def custom_values(i: int, ms: int) -> dict[str, str]:
    """Values for the every-type custom properties (all strings, HubSpot's encoding)."""
    values = {
        "cf_text": f"text {i}",
        "cf_textarea": f"line one {i}\nline two",
        "cf_html": f"<p>note <b>{i}</b></p>",
        "cf_file": f"https://files.example.com/{i}.pdf",
        "cf_select": TIERS[i % 3],
        "cf_radio": ["low", "medium", "high"][i % 3],
        "cf_multi": MULTI[i % 4],
        "cf_enum_bool": "true" if i % 2 else "false",
        "cf_bool": "false" if i % 3 else "true",
        "cf_number": str(i * 10 + 0.5) if i % 4 else str(i),
        "cf_date": _date(ms),
        "cf_datetime": iso_ms(ms + 3_600_000),
        "cf_phone": _small("+1 555 {:04d}", i % 10000),
        "cf_calc": str(i * 2),
    }
    if i % 11 == 0:
        values["cf_text"] = LONG_TEXT  # a very long value
    if i % 17 == 0:
        for key in ("cf_number", "cf_date", "cf_bool", "cf_multi"):
            values[key] = ""  # cleared values come back as empty strings
    return values


def build(
    *,
    contacts: int,
    companies: int,
    same_timestamp: int,
    extra_properties: int,
    base_ms: int,
    step_ms: int,
) -> dict[str, Any]:
    """Build the records and associations; returns plain structures for the app to load."""
    company_objs: list[CrmObject] = []
    for n in range(companies):
        cid = COMPANY_ID_START + n
        created = base_ms + n * step_ms
        modified = created + 3_600_000
        props = {
            "name": f"Company {n} GmbH" if n % 9 else f"Société Générale {n} ✓",
            "domain": f"company{n}.example.com",
            "industry": INDUSTRIES[n % 4],
            "numberofemployees": str(10 + n),
            "annualrevenue": str(1_000_000 + n * 1000.25),
            "createdate": iso_ms(created),
            "hs_lastmodifieddate": iso_ms(modified),
            "hs_object_id": str(cid),
            "num_associated_contacts": "0",
            **custom_values(n, created),
        }
        for k in range(extra_properties):
            if (n + k) % 50 == 0:
                props[_small("cf_extra_{:04d}", k)] = _small("filler {}", k)
        company_objs.append(CrmObject(cid, props, created, modified))

    # Companies with index >= 80% of the range get no contacts.
    with_contacts = max(1, (companies * 4) // 5) if companies else 0
    contact_objs: list[CrmObject] = []
    associations: dict[int, list[tuple[int, list[int]]]] = {}
    for n in range(contacts):
        cid = CONTACT_ID_START + n
        created = base_ms + n * step_ms
        modified = BULK_UPDATE_MS if n < same_timestamp else created + 7_200_000
        first, last = FIRST[n % 10], LAST[(n // 10) % 10]
        email: str | None = f"{first.lower()}.{n}@example.com".replace(" ", "")
        if n % 50 == 49:
            email = None  # no email
        elif n % 97 == 96:
            email = f"{FIRST[(n - 1) % 10].lower()}.{n - 1}@example.com".upper()  # dup, case
        props = {
            "firstname": first,
            "lastname": last,
            "phone": _small("+1-555-{:04d}", n % 10000),
            "company": "",
            "jobtitle": "Engineer" if n % 2 else "Manager",
            "lifecyclestage": STAGES[n % 5],
            "hs_lead_status": LEAD_STATUSES[n % 5],
            "createdate": iso_ms(created),
            "lastmodifieddate": iso_ms(modified),
            "hs_object_id": str(cid),
            "hs_analytics_num_visits": _small("{}", n % 40),
            "hs_internal_flag": "internal",
            **custom_values(n, created),
        }
        if email:
            props["email"] = email
            props["hs_email_domain"] = sys.intern(email.split("@")[1].lower())
        for k in range(extra_properties):
            if (n + k) % 50 == 0:
                props[_small("cf_extra_{:04d}", k)] = _small("filler {}", k)
        links: list[tuple[int, list[int]]] = []
        if with_contacts and n % 13 != 12:
            primary = COMPANY_ID_START + (n % with_contacts)
            links.append((primary, [1, 279]))
            company = company_objs[n % with_contacts].properties
            props["associatedcompanyid"] = company["hs_object_id"]  # the same text, shared
            props["company"] = company["name"]
            if n % 7 == 6 and with_contacts > 1:
                links.append((COMPANY_ID_START + ((n + 1) % with_contacts), [279]))
        associations[cid] = links
        contact_objs.append(CrmObject(cid, props, created, modified))

    return {"contacts": contact_objs, "companies": company_objs, "associations": associations}


def plan_merges(ids: list[int], count: int) -> list[tuple[int, list[int]]]:
    """Pick ``count`` merges from the end of ``ids``: (primary, [secondaries])."""
    plans: list[tuple[int, list[int]]] = []
    pool = list(ids)
    for m in range(count):
        if len(pool) < 3:
            break
        primary = pool.pop()
        secondaries = [pool.pop()]
        if m == 0 and len(pool) >= 2:
            secondaries.append(pool.pop())  # a chained merge: two absorbed ids
        plans.append((primary, secondaries))
    return plans
