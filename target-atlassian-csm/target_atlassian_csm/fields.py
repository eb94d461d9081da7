"""CSM detail fields: the site's definitions and how a source value becomes their strings.

CSM takes every detail value as an array of strings (csm-api.md §5), so each type has one
formatter that turns whatever a tap sent (numbers as ``Decimal``, dates as ISO strings or
epoch milliseconds, multi-selects as lists or ``;``-joined text) into those strings, or
raises :class:`InvalidValue` with a reason a person can act on. SELECT and MULTISELECT values
are resolved to the site's options case-insensitively and sent in the site's spelling.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from target_atlassian_csm.limits import EMAIL_PATTERN, MAX_SELECT_OPTIONS

EMAIL_RE = re.compile(EMAIL_PATTERN)
PHONE_RE = re.compile(r"^\+?[\d\s().\-/]{3,}(?:\s*(?:x|ext\.?)\s*\d+)?$", re.IGNORECASE)
_NORMALIZE_RE = re.compile(r"[^0-9a-z]+")
#: A Python list literal of quoted strings, as singer-io tap-zendesk writes multiselect values.
_PY_LIST_RE = re.compile(r"""^\[\s*(?:['"].*['"]\s*,?\s*)?\]$""", re.DOTALL)

KNOWN_TYPES = frozenset(
    {"TEXT", "SELECT", "MULTISELECT", "DATE", "EMAIL", "PHONE", "URL", "NUMBER", "BOOLEAN"}
)


class InvalidValue(ValueError):
    """A source value that cannot become a value of a CSM detail field."""


def normalize_name(name: str) -> str:
    """Compare field names loosely: ``Renewal Date`` == ``renewal_date`` == ``renewalDate``."""
    return _NORMALIZE_RE.sub("", name.lower())


@dataclass(frozen=True)
class FieldDef:
    """One detail field as the site defines it."""

    name: str
    type: str
    options: tuple[str, ...] = ()
    _lookup: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(cls, name: str, type_name: str, options: Iterable[str] = ()) -> FieldDef:
        """Make a definition with its case-insensitive option index."""
        opts = tuple(options)
        return cls(name, type_name.upper(), opts, {o.casefold(): o for o in opts})

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> FieldDef:
        """Read one entry of ``GET {entity}/details`` (``{name, type: {name, options}}``)."""
        type_info = item.get("type") or {}
        if isinstance(type_info, str):  # tolerate a bare type name
            type_info = {"name": type_info}
        options = type_info.get("options") or ()
        return cls.build(item["name"], type_info.get("name", "TEXT"), options)

    def format(self, value: Any) -> list[str]:
        """Turn a source value into this field's values ([] means: nothing to send)."""
        if value is None or (not value and isinstance(value, str | list | dict)):
            return []
        if isinstance(value, str) and value[:1] == "[" and python_list_text(value) == []:
            return []  # the text of an empty list ("[]", singer-io tap-zendesk) is no value
        formatter = _FORMATTERS.get(self.type, _format_text)
        return formatter(self, value)

    def option(self, value: Any) -> str:
        """The site's spelling of ``value`` among the options, or InvalidValue."""
        text = _scalar_text(value)
        found = self._lookup.get(text.casefold())
        if found is None:
            shown = ", ".join(self.options[:10]) + (", ..." if len(self.options) > 10 else "")
            msg = f"{text!r} is not an option of {self.type} field {self.name!r} (options: {shown})"
            raise InvalidValue(msg)
        return found


class FieldCatalog:
    """The detail fields of one entity (customer or organization) on the site."""

    def __init__(self, entity: str, fields: Iterable[FieldDef] = ()) -> None:
        self.entity = entity
        self._by_name: dict[str, FieldDef] = {}
        self._by_normal: dict[str, FieldDef] = {}
        for f in fields:
            self.add(f)

    @classmethod
    def from_api(cls, entity: str, body: Mapping[str, Any]) -> FieldCatalog:
        """Build from the answer of ``GET {entity}/details``."""
        return cls(entity, (FieldDef.from_api(item) for item in body.get("results") or []))

    def add(self, definition: FieldDef) -> None:
        """Add or replace a definition."""
        self._by_name[definition.name] = definition
        normal = normalize_name(definition.name)
        current = self._by_normal.get(normal)
        if current is None or current.name == definition.name:
            self._by_normal[normal] = definition

    def get(self, name: str) -> FieldDef | None:
        """The field with exactly this name (CSM names are case-sensitive)."""
        return self._by_name.get(name)

    def match(self, source_name: str) -> FieldDef | None:
        """The field whose name matches ``source_name`` loosely (see :func:`normalize_name`)."""
        return self._by_normal.get(normalize_name(source_name))

    def names(self) -> list[str]:
        """All field names."""
        return list(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)


# ----------------------------------------------------------------------------- formatters
def scalar_text(value: Any) -> str:
    """One value as text: numbers without a spurious ``.0`` (ids typed as JSON numbers)."""
    return _scalar_text(value)


def _scalar_text(value: Any) -> str:
    if type(value) is str:  # the common case first: most values arrive as text
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, float):
        return _decimal_text(Decimal(repr(value)))
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list | dict):
        return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _decimal_text(number: Decimal) -> str:
    if not number.is_finite():
        msg = f"{number} is not a finite number"
        raise InvalidValue(msg)
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _single(definition: FieldDef, value: Any) -> Any:
    if isinstance(value, list):
        if len(value) != 1:
            msg = f"{definition.type} field {definition.name!r} takes one value, got {len(value)}"
            raise InvalidValue(msg)
        return value[0]
    return value


def python_list_text(value: Any) -> list[str] | None:
    """The items of ``value`` when it is the Python repr of a list of strings, else None.

    singer-io tap-zendesk types multiselect fields as strings and its transformer writes
    ``str(list)``: ``"['interest_billing', 'interest_api']"``. Read with ``ast.literal_eval``
    (literals only, never code), and only when the text looks like such a list, so ordinary
    text with brackets is left alone.
    """
    if not isinstance(value, str) or not _PY_LIST_RE.match(value.strip()):
        return None
    try:
        parsed = ast.literal_eval(value.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
        return parsed
    return None


def _format_text(definition: FieldDef, value: Any) -> list[str]:  # noqa: ARG001
    if type(value) is str and not value.startswith("["):
        return [value]
    value = python_list_text(value) or value
    if isinstance(value, list) and all(not isinstance(v, list | dict) for v in value):
        return [", ".join(_scalar_text(v) for v in value if v not in (None, ""))]
    return [_scalar_text(value)]


def _format_select(definition: FieldDef, value: Any) -> list[str]:
    return [definition.option(_single(definition, value))]


def _format_multiselect(definition: FieldDef, value: Any) -> list[str]:
    listed = python_list_text(value)
    if listed is not None:
        value = listed
    items = value.split(";") if isinstance(value, str) else value
    if not isinstance(items, list):
        items = [items]
    chosen: list[str] = []
    for item in items:
        if item is None or (isinstance(item, str) and not item.strip()):
            continue
        option = definition.option(item.strip() if isinstance(item, str) else item)
        if option not in chosen:
            chosen.append(option)
    if len(chosen) > MAX_SELECT_OPTIONS:
        msg = f"{len(chosen)} values for MULTISELECT {definition.name!r} (CSM allows 50)"
        raise InvalidValue(msg)
    return chosen


def _format_date(definition: FieldDef, value: Any) -> list[str]:
    value = _single(definition, value)
    if isinstance(value, dt.datetime):
        day = value.astimezone(dt.UTC).date() if value.tzinfo else value.date()
        return [day.isoformat()]
    if isinstance(value, dt.date):
        return [value.isoformat()]
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        seconds = float(value) / 1000 if abs(value) > 100_000_000_000 else float(value)
        return [dt.datetime.fromtimestamp(seconds, dt.UTC).date().isoformat()]
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return _format_date(definition, int(text))
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            parsed = None
        if parsed is not None:
            return _format_date(definition, parsed)
    msg = f"{value!r} is not a date for DATE field {definition.name!r} (want YYYY-MM-DD)"
    raise InvalidValue(msg)


def _format_number(definition: FieldDef, value: Any) -> list[str]:
    value = _single(definition, value)
    if type(value) is int:  # the common case, exact as it is (bool is refused below)
        return [str(value)]
    if isinstance(value, bool):
        msg = f"boolean {value} is not a number for NUMBER field {definition.name!r}"
        raise InvalidValue(msg)
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        msg = f"{value!r} is not a number for NUMBER field {definition.name!r}"
        raise InvalidValue(msg) from None
    return [_decimal_text(number)]


_TRUE = frozenset({"true", "yes", "1", "y", "on"})
_FALSE = frozenset({"false", "no", "0", "n", "off"})


def _format_boolean(definition: FieldDef, value: Any) -> list[str]:
    value = _single(definition, value)
    text = _scalar_text(value).strip().lower()
    if text in _TRUE:
        return ["true"]
    if text in _FALSE:
        return ["false"]
    msg = f"{value!r} is not a boolean for field {definition.name!r}"
    raise InvalidValue(msg)


def _format_email(definition: FieldDef, value: Any) -> list[str]:
    text = _scalar_text(_single(definition, value)).strip()
    if not EMAIL_RE.match(text):
        msg = f"{text!r} is not an email address for EMAIL field {definition.name!r}"
        raise InvalidValue(msg)
    return [text]


def _format_url(definition: FieldDef, value: Any) -> list[str]:
    text = _scalar_text(_single(definition, value)).strip()
    if "://" not in text and "." in text and " " not in text:
        text = f"https://{text}"  # a bare domain, as HubSpot and Kustomer store websites
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in text:
        msg = f"{text!r} is not an http(s) URL for URL field {definition.name!r}"
        raise InvalidValue(msg)
    return [text]


def _format_phone(definition: FieldDef, value: Any) -> list[str]:
    text = _scalar_text(_single(definition, value)).strip()
    if not PHONE_RE.match(text) or sum(c.isdigit() for c in text) < 3:
        msg = f"{text!r} is not a phone number for PHONE field {definition.name!r}"
        raise InvalidValue(msg)
    return [text]


_FORMATTERS = {
    "TEXT": _format_text,
    "SELECT": _format_select,
    "MULTISELECT": _format_multiselect,
    "DATE": _format_date,
    "NUMBER": _format_number,
    "BOOLEAN": _format_boolean,
    "EMAIL": _format_email,
    "URL": _format_url,
    "PHONE": _format_phone,
}
