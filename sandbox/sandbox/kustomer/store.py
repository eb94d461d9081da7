"""The Kustomer sandbox's data: JSON:API resources, indexes, and the deterministic seed.

Every object is stored as the resource the API returns (``type``, ``id``, ``attributes``,
``relationships``, ``links``). Ids are 24-hex strings that sort in creation order, timestamps
are ISO-8601 UTC with milliseconds (``2016-11-09T04:23:01.925Z``), so string order is time
order.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections import defaultdict
from typing import Any

DAY = 86_400.0
#: Kinds stored, with the hex prefix that makes their ids distinct.
KIND_PREFIX = {
    "org": "0a",
    "company": "1c",
    "customer": "2c",
    "conversation": "3c",
    "message": "4e",
    "note": "5e",
    "user": "6a",
    "team": "7a",
    "tag": "8a",
    "klass": "9a",
    "kobject": "ab",
}
ORG_ID = "0a0000000000000000000001"

#: Custom attributes per resource: name -> metadata (the suffix encodes the type).
CUSTOM_METADATA: dict[str, dict[str, dict[str, Any]]] = {
    "customer": {
        "tierStr": {
            "type": "string",
            "displayName": "Tier",
            "enumeration": ["gold", "silver", "bronze"],
        },
        "bioTxt": {"type": "string", "displayName": "Biography"},
        "lifetimeValueNum": {"type": "number", "displayName": "Lifetime value"},
        "firstOrderAt": {"type": "date", "displayName": "First order"},
        "vipBool": {"type": "boolean", "displayName": "VIP"},
        "profileUrl": {"type": "url", "displayName": "Profile"},
        "ordersId": {
            "type": "string",
            "displayName": "Orders",
            "target": "kobject.order",
            "multi": True,
        },
    },
    "company": {
        "industryStr": {
            "type": "string",
            "displayName": "Industry",
            "enumeration": ["retail", "saas", "travel"],
        },
        "employeesNum": {"type": "number", "displayName": "Employees"},
        "websiteUrl": {"type": "url", "displayName": "Website"},
    },
    "conversation": {
        "reasonStr": {
            "type": "string",
            "displayName": "Contact reason",
            "enumeration": ["billing", "shipping", "other"],
        },
        "escalatedBool": {"type": "boolean", "displayName": "Escalated"},
    },
    "message": {"sourceStr": {"type": "string", "displayName": "Source"}},
}
#: A multi-valued enumerated attribute (a multi-select), added by the seed parameter
#: ``multiselect_attributes``; not in the default seed, whose attributes other tests pin.
MULTISELECT_METADATA: dict[str, dict[str, Any]] = {
    "contactChannelsStr": {
        "type": "string",
        "displayName": "Contact channels",
        "enumeration": ["email", "phone", "chat", "sms"],
        "multi": True,
    }
}
KLASSES: list[tuple[str, str, dict[str, dict[str, Any]]]] = [
    (
        "order",
        "Order",
        {
            "orderNumberNum": {"type": "number", "displayName": "Order number"},
            "statusStr": {
                "type": "string",
                "displayName": "Status",
                "enumeration": ["open", "shipped", "returned"],
            },
            "placedAt": {"type": "date", "displayName": "Placed"},
            "giftBool": {"type": "boolean", "displayName": "Gift"},
        },
    ),
    (
        "subscription",
        "Subscription",
        {
            "planStr": {"type": "string", "displayName": "Plan"},
            "seatsNum": {"type": "number", "displayName": "Seats"},
            "renewsAt": {"type": "date", "displayName": "Renews"},
            "portalUrl": {"type": "url", "displayName": "Portal"},
        },
    ),
    (
        "shipment",
        "Shipment",
        {
            "carrierStr": {"type": "string", "displayName": "Carrier"},
            "notesTxt": {"type": "string", "displayName": "Notes"},
        },
    ),
]
FIRST = ["Ana", "Bo", "Chen", "Dana", "Émile", "Farah", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea"]
LAST = ["Smith", "Okafor", "Nguyen", "García", "Müller", "Rossi", "Kim", "Ivanova", "Haddad"]
WORDS = ["refund", "order", "late", "thanks", "broken", "invoice", "hello", "shipping", "size"]


def iso(epoch: float) -> str:
    """Epoch seconds to Kustomer's timestamp format (UTC, milliseconds, ``Z``)."""
    stamp = dt.datetime.fromtimestamp(round(epoch, 3), dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def parse_time(value: Any) -> str | None:
    """Read a criterion date (``YYYY-MM-DD`` or any ISO form) into the stored format."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if len(text) == 10:
        text += "T00:00:00+00:00"
    text = text.replace("Z", "+00:00")
    try:
        stamp = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return iso(stamp.timestamp())


#: Collection paths whose plural is not ``<kind>s``.
PLURALS = {"company": "companies", "klass": "klasses"}


def collection(kind: str) -> str:
    """The ``/v1`` collection of a kind: ``companies``, ``klasses``, ``klasses/<name>``."""
    if kind.startswith("kobject."):
        return "klasses/" + kind.split(".", 1)[1]
    return PLURALS.get(kind, kind + "s")


def rel(kind: str, obj_id: str | None, path: str | None = None) -> dict[str, Any]:
    """A JSON:API relationship object."""
    if obj_id is None:
        return {"data": None}
    return {
        "links": {"self": f"/v1/{path or collection(kind)}/{obj_id}"},
        "data": {"type": kind, "id": obj_id},
    }


class Store:
    """All objects of one sandboxed org, with the indexes the endpoints need."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self.metadata: dict[str, dict[str, dict[str, Any]]] = {}
        self.children: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        self.version = 0
        self._counters: dict[str, itertools.count] = defaultdict(lambda: itertools.count(1))

    # ------------------------------------------------------------------ basics
    def new_id(self, kind: str) -> str:
        """A fresh 24-hex id that sorts after every earlier id of the kind."""
        prefix = KIND_PREFIX[kind.split(".", maxsplit=1)[0]]
        return f"{prefix}{next(self._counters[kind]):022x}"

    def add(self, kind: str, obj: dict[str, Any], parents: dict[str, str] | None = None) -> None:
        """Store an object and index it under its parents (``{"conversation": id}``).

        An empty to-one relationship is left out rather than sent as ``{"data": null}``: the
        singer-io tap, run against real orgs for years, copies every relationship's ``data``
        and would crash on a null one, so real answers do not carry them.
        """
        relationships = obj.get("relationships")
        if isinstance(relationships, dict):
            obj["relationships"] = {
                name: value
                for name, value in relationships.items()
                if not (isinstance(value, dict) and "data" in value and value["data"] is None)
            }
        self.objects[kind][obj["id"]] = obj
        for parent_kind, parent_id in (parents or {}).items():
            if parent_id:
                self.children[(parent_kind, parent_id, kind)].append(obj["id"])
        self.version += 1

    def get(self, kind: str, obj_id: str) -> dict[str, Any] | None:
        """One object or None."""
        return self.objects.get(kind, {}).get(obj_id)

    def all(self, kind: str) -> list[dict[str, Any]]:
        """Every object of a kind, in id (creation) order."""
        return list(self.objects.get(kind, {}).values())

    def children_of(self, parent_kind: str, parent_id: str, kind: str) -> list[dict[str, Any]]:
        """Children of one parent, in id order."""
        ids = self.children.get((parent_kind, parent_id, kind), [])
        table = self.objects.get(kind, {})
        return [table[i] for i in ids if i in table]

    def touch(
        self,
        kind: str,
        obj_id: str,
        at: str,
        *,
        deleted: bool | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Change an object as an update would: new ``updatedAt``/``modifiedAt``, ``rev`` + 1."""
        obj = self.objects[kind][obj_id]
        attrs = obj["attributes"]
        for key, value in (attributes or {}).items():
            if key == "custom" and isinstance(value, dict):
                attrs.setdefault("custom", {}).update(value)
            else:
                attrs[key] = value
        if deleted is not None:
            attrs["deleted"] = deleted
            if deleted:
                attrs["deletedAt"] = at
        attrs["updatedAt"] = at
        attrs["modifiedAt"] = at
        attrs["rev"] = int(attrs.get("rev", 0)) + 1
        self.version += 1
        return obj


# ---------------------------------------------------------------------- the seed
class Seeder:
    """Builds a deterministic org. ``now`` is the sandbox clock at seed time."""

    def __init__(self, store: Store, now: float, window_days: float, rng_seed: int) -> None:
        self.store = store
        self.now = now
        self.rng = random.Random(rng_seed)
        self.cutoff = now - window_days * DAY
        self.summary: dict[str, int] = defaultdict(int)

    # time helpers: "old" is well before the search window, "recent" well inside it
    def old_time(self) -> float:
        """A time well before the search window."""
        return self.cutoff - self.rng.uniform(30, 1500) * DAY

    def recent_time(self) -> float:
        """A time well inside the search window."""
        return self.now - self.rng.uniform(0.1, 700) * DAY + 0.0

    def later(self, start: float, limit: float) -> float:
        """A time between ``start`` and ``limit`` (never past now - 1 s)."""
        limit = min(limit, self.now - 1)
        return start if limit <= start else self.rng.uniform(start, limit)

    def _base(self, kind: str, obj_type: str, created: float, updated: float) -> dict[str, Any]:
        obj_id = self.store.new_id(kind)
        path = collection(kind)
        return {
            "type": obj_type,
            "id": obj_id,
            "attributes": {
                "createdAt": iso(created),
                "updatedAt": iso(updated),
                "modifiedAt": iso(updated),
                "rev": 1,
                "deleted": False,
            },
            "relationships": {"org": rel("org", ORG_ID)},
            "links": {"self": f"/v1/{path}/{obj_id}"},
        }

    def _maybe_delete(self, obj: dict[str, Any], fraction: float, kind: str) -> None:
        if self.rng.random() < fraction:
            obj["attributes"]["deleted"] = True
            obj["attributes"]["deletedAt"] = obj["attributes"]["updatedAt"]
            self.summary[f"deleted_{kind}"] += 1

    def run(self, p: dict[str, Any]) -> dict[str, int]:  # noqa: C901
        """Create everything asked for in ``p`` (see ``KustomerApp.seed``)."""
        rng, store = self.rng, self.store
        old_fraction = float(p["old_fraction"])
        deleted_fraction = float(p["deleted_fraction"])

        def pick_time() -> tuple[float, float, bool]:
            old = rng.random() < old_fraction
            created = self.old_time() if old else self.recent_time()
            updated = self.later(created, self.cutoff - DAY if old else self.now)
            return created, updated, old

        for name, meta in CUSTOM_METADATA.items():
            store.metadata[name] = meta
        if p.get("multiselect_attributes"):
            store.metadata["customer"] = {**CUSTOM_METADATA["customer"], **MULTISELECT_METADATA}
        # users, teams, tags
        users = []
        for i in range(int(p["users"])):
            created = self.old_time()
            u = self._base("user", "user", created, self.later(created, self.now))
            u["attributes"].update(
                name=f"Agent {i + 1}",
                displayName=f"Agent {i + 1}",
                email=f"agent{i + 1}@sandbox-org.example",
                userType="user",
                roles=["org.user"],
            )
            if i >= int(p["users"]) - int(p["deactivated_users"]):  # the last ones left
                u["attributes"]["deleted"] = True
                u["attributes"]["deletedAt"] = u["attributes"]["updatedAt"]
                self.summary["deleted_user"] += 1
            store.add("user", u)
            users.append(u["id"])
        for i in range(int(p["teams"])):
            created = self.old_time()
            t = self._base("team", "team", created, self.later(created, self.now))
            members = rng.sample(users, k=min(len(users), 3)) if users else []
            t["attributes"].update(
                name=f"team-{i + 1}", displayName=f"Team {i + 1}", members=members
            )
            store.add("team", t)
        tags = []
        for i in range(int(p["tags"])):
            created = self.old_time()
            t = self._base("tag", "tag", created, self.later(created, self.now))
            t["attributes"].update(name=f"tag-{i + 1}", color="#33aa77")
            self._maybe_delete(t, deleted_fraction, "tag")
            store.add("tag", t)
            tags.append(t["id"])
        # klasses and their metadata
        klass_names = []
        for name, display, meta in KLASSES[: int(p["klasses"])]:
            created = self.old_time()
            k = self._base("klass", "klass", created, created)
            k["attributes"].update(
                name=name,
                displayName=display,
                icon="box",
                color="#4455ff",
                status="enabled",
                appDisabled=False,
                mixins=[],
            )
            k["relationships"]["kobjects"] = {"links": {"self": f"/v1/klasses/{name}"}}
            store.add("klass", k)
            store.metadata[f"kobject.{name}"] = meta
            klass_names.append(name)
        # companies
        companies = []
        for i in range(int(p["companies"])):
            created, updated, _ = pick_time()
            c = self._base("company", "company", created, updated)
            c["attributes"].update(
                name=f"Company {i + 1:05d} {rng.choice(LAST)}",
                externalId=f"co-{i + 1}",
                domains=[{"domain": f"company{i + 1}.example"}],
                tags=rng.sample(tags, k=min(len(tags), 1)),
                custom={
                    "industryStr": rng.choice(["retail", "saas", "travel"]),
                    "employeesNum": rng.randint(1, 5000),
                    "websiteUrl": f"https://company{i + 1}.example",
                },
            )
            self._maybe_delete(c, deleted_fraction, "company")
            store.add("company", c)
            companies.append(c["id"])
        # customers (several emails and phones; some emails shared across customers)
        emails_seen: list[str] = []
        customers: list[tuple[str, float, bool]] = []
        same_ts = int(p["same_timestamp_customers"])
        shared_stamp = self.now - 3 * DAY
        n_customers = int(p["customers"])
        for i in range(n_customers + same_ts):
            created, updated, old = pick_time()
            if i >= n_customers:  # the same-timestamp group: one bulk update touched them all
                created, old = self.later(self.now - 600 * DAY, shared_stamp), False
                updated = shared_stamp
            first, last = rng.choice(FIRST), rng.choice(LAST)
            emails = [
                {"type": "home", "email": f"{first.lower()}.{last.lower()}.{i + 1}@mail.example"}
            ]
            for _ in range(rng.randint(0, 2)):
                emails.append(
                    {"type": "work", "email": f"c{i + 1}.{rng.randint(1, 99)}@work.example"}
                )
            if emails_seen and rng.random() < float(p["duplicate_email_fraction"]):
                dup = rng.choice(emails_seen)
                emails.append(
                    {"type": "other", "email": dup.upper() if rng.random() < 0.5 else dup}
                )
                self.summary["duplicate_emails"] += 1
            emails_seen.append(emails[0]["email"])
            phones = [
                {"type": "mobile", "phone": f"+1555{rng.randint(1000000, 9999999)}"}
                for _ in range(rng.randint(1, 2))
            ]
            company = rng.choice(companies) if companies and rng.random() < 0.8 else None
            c = self._base("customer", "customer", created, updated)
            c["attributes"].update(
                name=f"{first} {last}",
                displayName=f"{first} {last}" if rng.random() < 0.9 else first,
                lastActivityAt=iso(updated),
                firstName=first,
                lastName=last,
                externalId=f"cust-{i + 1}",
                emails=emails,
                phones=phones,
                company=company,
                tags=rng.sample(tags, k=min(len(tags), rng.randint(0, 2))),
                locale="en_US",
                verified=True,
                custom={
                    "tierStr": rng.choice(["gold", "silver", "bronze"]),
                    "bioTxt": "Likes " + " ".join(rng.sample(WORDS, 3)),
                    "lifetimeValueNum": round(rng.uniform(0, 5000), 2),
                    "firstOrderAt": iso(self.later(created, self.now)),
                    "vipBool": rng.random() < 0.2,
                    "profileUrl": f"https://profiles.example/{i + 1}",
                },
            )
            c["relationships"]["company"] = rel("company", company, "companies")
            self._maybe_delete(c, deleted_fraction, "customer")
            store.add("customer", c, {"company": company} if company else None)
            customers.append((c["id"], created, old))
            self.summary["old_customer" if old else "recent_customer"] += 1
        if p.get("multiselect_attributes"):  # its own generator: the rest of the seed is unchanged
            picker = random.Random(int(p["random_seed"]) + 1)
            options = MULTISELECT_METADATA["contactChannelsStr"]["enumeration"]
            for cust_id, _, _ in customers:
                chosen = picker.sample(options, k=picker.randint(0, 3))
                store.objects["customer"][cust_id]["attributes"]["custom"]["contactChannelsStr"] = [
                    o for o in options if o in chosen
                ]
        # conversations, messages, notes
        per_customer = int(p["conversations_per_customer"])
        n_msgs, n_notes = int(p["messages_per_conversation"]), int(p["notes_per_conversation"])
        plan = [(cust, cc, old, n_msgs) for cust, cc, old in customers for _ in range(per_customer)]
        if int(p["big_conversation_messages"]) and customers:
            cust, cc, _ = customers[0]
            plan.append((cust, cc, False, int(p["big_conversation_messages"])))
        for cust, cust_created, cust_old, msg_count in plan:
            self._conversation(cust, cust_created, cust_old, msg_count, n_notes, users, tags, p)
        # messages sharing one updatedAt (a bulk redaction, say)
        same_msgs = int(p["same_timestamp_messages"])
        if same_msgs:
            stamp = iso(self.now - 2 * DAY)
            recent = [m for m in store.all("message") if m["attributes"]["createdAt"] < stamp]
            for m in recent[-same_msgs:]:
                m["attributes"]["updatedAt"] = stamp
            self.summary["same_timestamp_messages"] = min(same_msgs, len(recent))
        # kobjects
        for name in klass_names:
            kind = f"kobject.{name}"
            for i in range(int(p["kobjects_per_klass"])):
                created, updated, _ = pick_time()
                k = self._base(kind, kind, created, updated)
                cust = rng.choice(customers)[0] if customers else None
                k["attributes"].update(
                    title=f"{name.title()} #{i + 1}",
                    description=f"{name} {i + 1}",
                    tags=[],
                    custom=self._kobject_custom(name, i, created),
                )
                k["relationships"]["klass"] = {"data": {"type": "klass", "id": name}}
                k["relationships"]["customer"] = rel("customer", cust)
                self._maybe_delete(k, deleted_fraction, kind)
                store.add(kind, k, {"customer": cust} if cust else None)
        for kind, table in store.objects.items():
            self.summary[kind] = len(table)
        return dict(sorted(self.summary.items()))

    def _kobject_custom(self, name: str, i: int, created: float) -> dict[str, Any]:
        rng = self.rng
        if name == "order":
            return {
                "orderNumberNum": 1000 + i,
                "statusStr": rng.choice(["open", "shipped", "returned"]),
                "placedAt": iso(created),
                "giftBool": rng.random() < 0.1,
            }
        if name == "subscription":
            return {
                "planStr": rng.choice(["basic", "pro"]),
                "seatsNum": rng.randint(1, 50),
                "renewsAt": iso(created + 365 * DAY),
                "portalUrl": f"https://portal.example/{i}",
            }
        return {"carrierStr": rng.choice(["ups", "dhl"]), "notesTxt": "fragile"}

    def _conversation(  # noqa: PLR0917 - one call site, the seed's own loop
        self,
        cust: str,
        cust_created: float,
        cust_old: bool,
        msg_count: int,
        note_count: int,
        users: list[str],
        tags: list[str],
        p: dict[str, Any],
    ) -> None:
        rng, store = self.rng, self.store
        old = cust_old or rng.random() < float(p["old_fraction"])
        start = self.later(cust_created, self.cutoff - 200 * DAY if old else self.now - DAY)
        if not old and start < self.cutoff + DAY:
            start = self.later(self.cutoff + 2 * DAY, self.now - DAY)
        end_limit = self.cutoff - 2 * DAY if old else self.now - 60
        conv = self._base("conversation", "conversation", start, start)
        conv_id = conv["id"]
        last = start
        for j in range(msg_count):
            sent = self.later(last, min(last + DAY, end_limit))
            last = sent
            m = self._base(
                "message", "message", sent, self.later(sent, min(sent + 3600, end_limit))
            )
            direction = "in" if j % 2 == 0 else "out"
            m["attributes"].update(
                channel="email",
                app="postmark",
                direction=direction,
                directionType=("initial-" if j == 0 else "response-") + direction,
                status="received" if direction == "in" else "sent",
                subject="Order question",
                preview=" ".join(rng.sample(WORDS, 4)),
                size=120,
                sentAt=iso(sent),
                auto=False,
                redacted=False,
                meta=self._message_meta(j),
                custom={"sourceStr": "email"} if j == 0 else {},
            )
            m["relationships"].update(
                customer=rel("customer", cust),
                conversation=rel("conversation", conv_id),
            )
            m["links"]["related"] = f"/v1/postmark/messages/{m['id']}"
            store.add("message", m, {"conversation": conv_id, "customer": cust})
        for _ in range(note_count):
            at = self.later(start, end_limit)
            n = self._base("note", "note", at, self.later(at, min(at + DAY, end_limit)))
            n["attributes"].update(
                body="Internal: " + " ".join(rng.sample(WORDS, 3)), userMentions=[]
            )
            n["relationships"].update(
                customer=rel("customer", cust),
                conversation=rel("conversation", conv_id),
                createdBy=rel("user", rng.choice(users) if users else None),
            )
            self._maybe_delete(n, float(p["deleted_fraction"]), "note")
            store.add("note", n, {"conversation": conv_id, "customer": cust})
            last = max(last, at)
            self.summary["old_note" if old else "recent_note"] += 1
        updated = self.later(last, end_limit)
        # some old conversations were touched recently: their notes stay older than 2 years
        if old and rng.random() < float(p["reopened_fraction"]):
            updated = self.recent_time()
            self.summary["reopened_old_conversations"] += 1
        conv["attributes"].update(
            name="Order question",
            status=rng.choice(["open", "done", "snoozed"]),
            priority=rng.randint(1, 5),
            direction="in",
            channels=["email"],
            messageCount=msg_count,
            noteCount=note_count,
            assignedUsers=rng.sample(users, k=min(len(users), 1)),
            assignedTeams=[],
            tags=rng.sample(tags, k=min(len(tags), 1)),
            custom={
                "reasonStr": rng.choice(["billing", "shipping", "other"]),
                "escalatedBool": False,
            },
            updatedAt=iso(updated),
            modifiedAt=iso(updated),
        )
        conv["relationships"]["customer"] = rel("customer", cust)
        self._maybe_delete(conv, float(p["deleted_fraction"]), "conversation")
        store.add("conversation", conv, {"customer": cust})

    def _message_meta(self, j: int) -> dict[str, Any]:
        # meta.to / cc can be a string, an object or an array (kustomer-api.md §7)
        shapes: list[Any] = [
            "support@sandbox-org.example",
            {"email": "support@sandbox-org.example", "name": "Support"},
            [{"email": "support@sandbox-org.example"}, {"email": "billing@sandbox-org.example"}],
        ]
        return {"from": "customer@mail.example", "to": shapes[j % 3], "cc": shapes[(j + 1) % 3]}
