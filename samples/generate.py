"""Generate ``demo.singer.jsonl``: a CRM export as Singer messages, for the quick start.

Deterministic (seeded), so the file in the repository is exactly what this prints. It holds
two streams a generic tap would emit, ``organizations`` and ``customers``, whose fields match
the CSM sandbox's ``default`` seed fields, with STATE messages between batches, and a few
records that must be dead-lettered (an invalid email, an option the site does not have) or
merged (the same email in another case).

    python samples/generate.py > samples/demo.singer.jsonl
"""

from __future__ import annotations

import json
import random
import sys

INDUSTRIES = ["Software", "Manufacturing", "Retail", "Finance", "Healthcare", "Education"]
TIERS = ["Bronze", "Silver", "Gold"]
REGIONS = ["AMER", "EMEA", "APAC"]
PLANS = ["Free", "Standard", "Premium", "Enterprise"]
PRODUCTS = ["Jira", "Confluence", "Bitbucket", "Trello", "Loom"]
FIRST = ["Ada", "Bo", "Chen", "Dana", "Eli", "Farah", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea"]
LAST = ["Meyer", "Ng", "Okafor", "Patel", "Quinn", "Rossi", "Sato", "Tran", "Udall", "Vega"]
WORDS = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Hooli",
    "Vandelay",
    "Wonka",
    "Pied Piper",
    "Gringotts",
    "Oscorp",
]


def message(kind: str, **body: object) -> str:
    return json.dumps({"type": kind, **body}, ensure_ascii=False)


def main(organizations: int = 40, customers: int = 400, seed: int = 7) -> None:
    rng = random.Random(seed)
    out = sys.stdout
    org_schema = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "industry": {"type": ["string", "null"]},
            "website": {"type": ["string", "null"]},
            "employees": {"type": ["integer", "null"]},
            "tier": {"type": ["string", "null"]},
            "founded": {"type": ["string", "null"], "format": "date"},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    }
    customer_schema = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "email": {"type": ["string", "null"]},
            "first_name": {"type": ["string", "null"]},
            "last_name": {"type": ["string", "null"]},
            "company": {"type": ["string", "null"]},
            "region": {"type": ["string", "null"]},
            "plan": {"type": ["string", "null"]},
            "phone": {"type": ["string", "null"]},
            "renewal_date": {"type": ["string", "null"], "format": "date-time"},
            "seats": {"type": ["integer", "null"]},
            "products": {"type": ["array", "null"], "items": {"type": "string"}},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    }
    print(
        message("SCHEMA", stream="organizations", schema=org_schema, key_properties=["id"]),
        file=out,
    )
    names = []
    for i in range(organizations):
        name = f"{WORDS[i % len(WORDS)]} {['Inc', 'Ltd', 'GmbH', 'LLC'][i // len(WORDS) % 4]}"
        names.append(name)
        record = {
            "id": f"org-{i + 1}",
            "name": name,
            "industry": rng.choice(INDUSTRIES),
            "website": f"{name.split(maxsplit=1)[0].lower()}{i}.example.com",
            "employees": rng.randint(5, 5000),
            "tier": rng.choice(TIERS),
            "founded": f"{rng.randint(1950, 2020)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
            "updated_at": f"2026-01-0{1 + i % 9}T10:00:00Z",
        }
        print(message("RECORD", stream="organizations", record=record), file=out)
    print(
        message("STATE", value={"bookmarks": {"organizations": {"updated_at": "2026-01-09"}}}),
        file=out,
    )
    print(
        message("SCHEMA", stream="customers", schema=customer_schema, key_properties=["id"]),
        file=out,
    )
    emails: list[str] = []
    for i in range(customers):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        record = {
            "id": f"cus-{i + 1}",
            "email": f"{first.lower()}.{last.lower()}.{i + 1}@example.com",
            "first_name": first,
            "last_name": last,
            "company": rng.choice(names),
            "region": rng.choice(REGIONS),
            "plan": rng.choice(PLANS),
            "phone": f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
            "renewal_date": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T12:00:00Z",
            "seats": rng.randint(1, 500),
            "products": rng.sample(PRODUCTS, rng.randint(1, 3)),
            "updated_at": f"2026-02-{1 + i % 28:02d}T09:00:00Z",
        }
        if i == 17:
            record["email"] = "not-an-email"  # dead-lettered: invalid email
        if i == 42:
            record["plan"] = "Platinum"  # dead-lettered: not an option of Plan
        if i == 99:
            record["email"] = emails[5].upper()  # the same customer as #6: merged
        emails.append(record["email"])
        print(message("RECORD", stream="customers", record=record), file=out)
        if (i + 1) % 100 == 0:
            print(
                message(
                    "STATE",
                    value={
                        "bookmarks": {
                            "organizations": {"updated_at": "2026-01-09"},
                            "customers": {"updated_at": record["updated_at"]},
                        }
                    },
                ),
                file=out,
            )


if __name__ == "__main__":
    main()
