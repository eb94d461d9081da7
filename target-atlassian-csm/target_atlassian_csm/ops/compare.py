"""The comparison of one expected record with what CSM holds: a pure decision.

Kinds of difference, per record:

``missing``       CSM does not have the record (no organization of that name; no customer
                  of that email, by the id the ledger knows nor by a look-up);
``value``         a detail field's values differ (one difference per field). Values are
                  compared as multisets (CSM may list a multiselect in another order), each
                  trimmed, and numbers by value (``10`` equals ``10.0``); a field expected
                  with values that CSM holds empty is a difference, a field CSM holds that
                  the expected record does not name is not (another source may fill it);
``display_name``  a customer's display name differs (only when one was sent);
``association``   the customer is not a member of an organization it references. Membership
                  is matched by the organization's CSM id, or by its name when the profile
                  names its organizations; a reference to an organization that nothing
                  resolves is a difference too, unless the ledger defers it (expected).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from target_atlassian_csm.ops.expected import Expected
from target_atlassian_csm.ops.readback import Held

MISSING, VALUE, DISPLAY_NAME, ASSOCIATION = "missing", "value", "display_name", "association"
KINDS = (MISSING, VALUE, DISPLAY_NAME, ASSOCIATION)

#: A plain decimal number (no sign "+", no leading zeros: "0123" is a code, not 123).
_NUMBER = re.compile(r"^-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?$")


@dataclass(frozen=True)
class Difference:
    """One way a record in CSM differs from what was expected."""

    entity: str
    identity: str
    kind: str
    field: str | None = None
    expected: Any = None
    actual: Any = None
    csm_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (see docs/operations.md)."""
        return asdict(self)

    def describe(self) -> str:
        """One line for the text report."""
        where = f" ({self.csm_id})" if self.csm_id else ""
        head = f"{self.kind:<12} {self.entity:<12} {self.identity}{where}"
        if self.kind == MISSING:
            return f"{head}: not in CSM"
        if self.kind == VALUE:
            return f"{head}: {self.field}: expected {self.expected}, CSM has {self.actual}"
        if self.kind == DISPLAY_NAME:
            return f"{head}: display name: expected {self.expected!r}, CSM has {self.actual!r}"
        return f"{head}: not a member of organization {self.expected!r} (member of {self.actual})"


def _normal(value: str) -> tuple[str, Any]:
    text = value.strip()
    if _NUMBER.match(text):
        try:
            return ("number", Decimal(text).normalize())
        except InvalidOperation:  # pragma: no cover - the pattern only lets numbers through
            pass
    return ("text", text)


def same_values(expected: Sequence[str], actual: Sequence[str]) -> bool:
    """Whether two value lists hold the same values (see module docstring)."""
    return Counter(map(_normal, expected)) == Counter(map(_normal, actual))


def compare(
    expected: Expected,
    held: Held | None,
    org_ids: Mapping[str, str],
    spellings: Mapping[str, str],
) -> list[Difference]:
    """The differences between ``expected`` and what CSM holds (``held``; None: missing).

    ``org_ids`` maps case-folded organization names to their CSM ids where known;
    ``spellings`` gives their names as sent, for the report.
    """

    def diff(kind: str, **more: Any) -> Difference:
        csm_id = held.csm_id if held is not None else expected.csm_id
        return Difference(expected.entity, expected.identity, kind, csm_id=csm_id, **more)

    if held is None:
        return [diff(MISSING)]
    out = []
    for name in sorted(expected.details):
        want, have = expected.details[name], held.details.get(name, [])
        if not same_values(want, have):
            out.append(diff(VALUE, field=name, expected=list(want), actual=list(have)))
    if expected.display_name and (held.display_name or "").strip() != (
        expected.display_name.strip()
    ):
        out.append(diff(DISPLAY_NAME, expected=expected.display_name, actual=held.display_name))
    members = sorted(held.organization_names or held.organization_ids)
    for link in expected.organizations:
        if link.deferred or link.deleted:
            continue
        if link.name_key is None:
            out.append(diff(ASSOCIATION, expected=link.token, actual=members))
            continue
        org_id = org_ids.get(link.name_key)
        if (org_id is not None and org_id in held.organization_ids) or (
            link.name_key in held.organization_names
        ):
            continue
        shown = spellings.get(link.name_key, link.name_key)
        out.append(diff(ASSOCIATION, expected=shown, actual=members))
    return out
