"""Stream → CSM entity rules, and turning one record into an :class:`Operation`.

A :class:`StreamRule` is what a user writes under ``mapping.<stream>`` in the settings (or
what a preset supplies): which entity the stream feeds, where the email / name / display
name / organization reference are, and which fields become which detail fields. A
:class:`StreamMapper` is the rule compiled against the stream's schema and the site's field
catalog, run once per record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from target_atlassian_csm.fields import (
    EMAIL_RE,
    FieldCatalog,
    FieldDef,
    InvalidValue,
    python_list_text,
    scalar_text,
)
from target_atlassian_csm.limits import MAX_DETAIL_FIELDS
from target_atlassian_csm.metadata import LINK_KEYWORD
from target_atlassian_csm.operations import CUSTOMER, ORGANIZATION, Operation, OrgRef
from target_atlassian_csm.paths import Getter, compile_alternatives, compile_path

IGNORE = "ignore"
#: A stream whose records link customers to organizations (singer-io tap-hubspot's
#: ``contacts_by_company``): no entity of its own, it adds organizations to customers.
ASSOCIATION_ENTITY = "association"
ENTITIES = (CUSTOMER, ORGANIZATION, ASSOCIATION_ENTITY, IGNORE)
#: Kustomer's custom-attribute type suffixes (kustomer-api.md §7): ``tierStr`` → ``tier``.
#: Kustomer's custom-attribute type suffixes: ``tierStr`` as sent by the API, ``tier_str`` after
#: the singer-io tap's snake_case conversion.
TYPE_SUFFIX_RE = re.compile(
    r"^(.*[a-z0-9])(Str|Txt|Num|At|Bool|Url|_str|_txt|_num|_at|_bool|_url)$"
)

Expr = str | Sequence[str] | None
#: ``skip_when`` tests other than equality: ``{"in": [...]}`` and ``{"present": bool}``.
SKIP_OPERATORS = ("in", "present")


def _is_operator(expected: Any) -> bool:
    """A ``skip_when`` value that is a test (``{"in": [...]}``), not a value to compare to."""
    return (
        isinstance(expected, Mapping)
        and len(expected) == 1
        and next(iter(expected)) in SKIP_OPERATORS
    )


def _skip_test(path: str, expected: Any) -> tuple[Any, str]:
    """Compile one ``skip_when`` entry into ``(predicate, reason)``; refuse malformed tests.

    Equality alone cannot say "deleted" when the source marks it with a timestamp
    (Zendesk ``deleted_at``) nor "any of these roles" (Zendesk agents and admins are not
    customers), hence ``present`` and ``in``.
    """
    if not _is_operator(expected):
        return (lambda value: value == expected), f"{path} is {expected!r}"
    operator, argument = next(iter(expected.items()))
    if operator == "in":
        if not isinstance(argument, list | tuple):
            msg = f"skip_when.{path}: `in` takes a list of values, got {argument!r}"
            raise ValueError(msg)
        options = list(argument)
        return (lambda value: value in options), f"{path} is one of {options!r}"
    if not isinstance(argument, bool):
        msg = f"skip_when.{path}: `present` takes true or false, got {argument!r}"
        raise ValueError(msg)
    if argument:
        return (lambda value: value not in (None, "")), f"{path} is set"
    return (lambda value: value in (None, "")), f"{path} is not set"


def _unwrapping(read: Getter, key: str) -> Getter:
    """Read ``key`` inside the value when it is an object (HubSpot v2 ``{value, source}``)."""

    def get(record: dict[str, Any]) -> Any:
        value = read(record)
        return value.get(key) if isinstance(value, Mapping) else value

    return get


@dataclass(frozen=True)
class Binding:
    """A detail field fed from one record path, chosen by field provisioning.

    ``translate`` turns the source's option values into the CSM option names (Zendesk
    dropdowns carry tag values, HubSpot enumerations internal values); values it does not
    know pass through unchanged and are validated against the field's options as usual. A
    multiselect may come as a list, as ``;``-joined text (HubSpot), or as the Python text of a
    list (singer-io tap-zendesk: ``"['interest_billing', 'interest_api']"``): each item is
    translated.
    """

    definition: FieldDef
    path: str
    translate: Mapping[str, str] = field(default_factory=dict)

    def getter(self) -> Getter:
        """Read the path, then translate option values."""
        read = compile_path(self.path)
        table = dict(self.translate)
        if not table:
            return read
        multi = self.definition.type == "MULTISELECT"

        def one(item: Any) -> Any:
            key = ("true" if item else "false") if isinstance(item, bool) else item
            return table.get(key if isinstance(key, str) else str(key), item)

        def get(record: dict[str, Any]) -> Any:
            value = read(record)
            if multi and isinstance(value, str) and value not in table:
                value = python_list_text(value) or value
            if isinstance(value, list):
                return [one(v) for v in value]
            if multi and isinstance(value, str) and value not in table and ";" in value:
                return [one(v.strip()) for v in value.split(";") if v.strip()]
            return value if value is None else one(value)

        return get


class MappingError(ValueError):
    """The record cannot become a CSM operation; the message says why."""


class Unloadable(MappingError):
    """The record can never load as it is (no email, invalid email, no name).

    A property of the source: reported, but not a failure of the run.
    """


@dataclass
class Skip:
    """The rule says this record is not to be loaded (e.g. a support agent); not a failure."""

    reason: str


#: Said of an organization the source deleted, in the warnings of customers that name it.
DELETED_IN_SOURCE = "is deleted in the source"


@dataclass
class Deleted(Skip):
    """The record says it was deleted in the source (archived, ``deleted``, ``deleted_at``).

    Not loaded, like any skip; what becomes of its CSM record is the ``delete_policy``
    setting's choice. ``identity`` may be missing (a deleted record without its email): the
    ledger finds it by source id.
    """

    identity: str | None = None
    source_id: str | None = None


@dataclass
class StreamRule:
    """How one stream maps to CSM (the ``mapping.<stream>`` setting)."""

    entity: str
    email: Expr = None
    name: Expr = None
    display_name: Expr = None
    source_id: Expr = None
    organization_name: Expr = None
    organization_id: Expr = None
    organization_stream: str | None = None
    customer_id: Expr = None
    customer_stream: str | None = None
    details: dict[str, str] = field(default_factory=dict)
    details_auto: bool = True
    details_from: list[str] = field(default_factory=lambda: [""])
    details_value_key: str | None = None
    strip_type_suffixes: bool = False
    exclude_fields: list[str] = field(default_factory=list)
    skip_when: dict[str, Any] = field(default_factory=dict)
    deleted_when: dict[str, Any] = field(default_factory=dict)
    merged_ids: Expr = None

    @classmethod
    def from_config(cls, stream: str, config: Mapping[str, Any]) -> StreamRule:
        """Read a rule from settings, refusing unknown keys so typos do not pass silently."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            msg = f"mapping.{stream}: unknown key(s) {unknown}; known: {sorted(known)}"
            raise ValueError(msg)
        entity = config.get("entity")
        if entity not in ENTITIES:
            msg = f"mapping.{stream}.entity must be one of {ENTITIES}, got {entity!r}"
            raise ValueError(msg)
        rule = cls(**dict(config))
        if rule.entity == CUSTOMER and not rule.email:
            msg = f"mapping.{stream}: a customer stream needs `email` (the field holding it)"
            raise ValueError(msg)
        if rule.entity == ORGANIZATION and not rule.name:
            msg = f"mapping.{stream}: an organization stream needs `name`"
            raise ValueError(msg)
        if rule.organization_id and not rule.organization_stream:
            msg = f"mapping.{stream}: `organization_id` needs `organization_stream`"
            raise ValueError(msg)
        if rule.entity == ASSOCIATION_ENTITY and not (
            rule.customer_id
            and rule.customer_stream
            and (rule.organization_name or rule.organization_id)
        ):
            msg = (
                f"mapping.{stream}: an association stream needs `customer_id` and "
                "`customer_stream` (the customer's source id and its stream) and "
                "`organization_id` (with `organization_stream`) or `organization_name`"
            )
            raise ValueError(msg)
        for path, expected in [*rule.skip_when.items(), *rule.deleted_when.items()]:
            try:
                _skip_test(path, expected)
            except ValueError as exc:
                raise ValueError(f"mapping.{stream}.{exc}") from None
        return rule

    def reserved_paths(self) -> set[str]:
        """Record paths the rule already uses (identity, references, explicit details...)."""
        return set().union(
            *(
                _paths_in(e)
                for e in (
                    self.email,
                    self.name,
                    self.display_name,
                    self.source_id,
                    self.organization_id,
                    self.organization_name,
                    self.customer_id,
                )
            ),
            *(_paths_in(e) for e in self.details.values()),
            self.exclude_fields,
            self.skip_when,
            self.deleted_when,
            _paths_in(self.merged_ids),
        )

    def merged(self, overrides: Mapping[str, Any], stream: str) -> StreamRule:
        """This rule with some keys overridden by the user's settings."""
        base = {f.name: getattr(self, f.name) for f in fields(self)}
        base.update(overrides)
        return StreamRule.from_config(stream, base)


def _schema_at(schema: Mapping[str, Any], container: str) -> Mapping[str, Any]:
    node: Mapping[str, Any] = schema
    for part in [p for p in container.split(".") if p]:
        node = (node.get("properties") or {}).get(part) or {}
    return node.get("properties") or {}


def _paths_in(rule_expr: Expr) -> set[str]:
    if rule_expr is None:
        return set()
    exprs = [rule_expr] if isinstance(rule_expr, str) else list(rule_expr)
    out: set[str] = set()
    for expr in exprs:
        out.update(re.findall(r"\{([^{}]+)\}", expr) if "{" in expr else [expr])
    return out


class StreamMapper:
    """A rule compiled for one stream's schema and the site's catalog."""

    def __init__(
        self,
        stream: str,
        rule: StreamRule,
        schema: Mapping[str, Any],
        catalog: FieldCatalog,
        *,
        drop_invalid_details: bool = False,
        bindings: Sequence[Binding] = (),
    ) -> None:
        self.stream = stream
        self.rule = rule
        self.entity = rule.entity
        self.drop_invalid_details = drop_invalid_details
        self._identity = compile_alternatives(rule.email if rule.entity == CUSTOMER else rule.name)
        self._display = compile_alternatives(rule.display_name)
        self._source_id = compile_alternatives(rule.source_id)
        self._org_names = compile_alternatives(rule.organization_name)
        self._org_ids = compile_alternatives(rule.organization_id)
        self._customer_id = compile_alternatives(rule.customer_id)
        self._skips = [(compile_path(p), *_skip_test(p, v)) for p, v in rule.skip_when.items()]
        self._deletions = [
            (compile_path(p), *_skip_test(p, v)) for p, v in rule.deleted_when.items()
        ]
        self._merged_ids = compile_alternatives(rule.merged_ids)
        self.details: list[tuple[FieldDef, Getter]] = []
        self.unknown_fields: list[str] = []
        if rule.entity != ASSOCIATION_ENTITY:
            self._compile_details(schema, catalog, bindings)

    def _compile_details(
        self, schema: Mapping[str, Any], catalog: FieldCatalog, bindings: Sequence[Binding]
    ) -> None:
        mapped: set[str] = set()
        bound_paths: set[str] = set()
        for csm_name, expr in self.rule.details.items():
            definition = catalog.get(csm_name)
            if definition is None:
                self.unknown_fields.append(csm_name)
                continue
            getter = compile_alternatives(expr)
            if getter is not None:
                self.details.append((definition, getter))
                mapped.add(csm_name)
        for binding in bindings:
            # Provisioned fields come after the user's explicit details, before auto-matching.
            bound_paths.add(binding.path)
            if binding.definition.name in mapped:
                continue
            self.details.append((binding.definition, self._value_of(binding.getter())))
            mapped.add(binding.definition.name)
        if not self.rule.details_auto:
            return
        used = set().union(
            *(
                _paths_in(e)
                for e in (
                    self.rule.email,
                    self.rule.name,
                    self.rule.source_id,
                    self.rule.organization_id,
                    self.rule.organization_name,
                )
            ),
            self.rule.details.values(),
            self.rule.exclude_fields,
            self.rule.skip_when,
            self.rule.deleted_when,
            _paths_in(self.rule.merged_ids),
            bound_paths,
        )
        key = self.rule.details_value_key
        for container in self.rule.details_from:
            for prop, node in _schema_at(schema, container).items():
                if isinstance(node, Mapping) and node.get(LINK_KEYWORD):
                    continue  # a link to another object (an id), not data of this record
                path = f"{container}.{prop}" if container else prop
                if path in used or prop in used or (key and f"{path}.{key}" in used):
                    continue
                candidate = prop
                if self.rule.strip_type_suffixes and (m := TYPE_SUFFIX_RE.match(prop)):
                    candidate = m.group(1)
                definition = catalog.match(candidate)
                if definition is None or definition.name in mapped:
                    continue
                self.details.append((definition, self._value_of(compile_path(path))))
                mapped.add(definition.name)

    def _value_of(self, read: Getter) -> Getter:
        """The matched property's value, unwrapped with ``details_value_key`` when set."""
        key = self.rule.details_value_key
        return _unwrapping(read, key) if key else read

    def map(self, record: dict[str, Any]) -> Operation | Skip | Deleted:
        """Map one record, or say why it is skipped or deleted; MappingError when invalid."""
        for getter, matches, reason in self._skips:
            if matches(getter(record)):
                return Skip(reason)
        for getter, matches, reason in self._deletions:
            if matches(getter(record)):
                return Deleted(reason, self.identity_of(record), self.source_id_of(record))
        identity = self.identity_of(record) or ""
        if self.entity == CUSTOMER:
            if not identity:
                msg = "no email: CSM creates customers only with an email"
                raise Unloadable(msg)
            if not EMAIL_RE.match(identity):
                msg = f"invalid email {identity!r}"
                raise Unloadable(msg)
        elif not identity:
            msg = "no organization name: CSM creates organizations only with a name"
            raise Unloadable(msg)
        details: dict[str, list[str]] = {}
        cleared: set[str] = set()
        problems: list[str] = []
        for definition, getter in self.details:
            try:
                values = definition.format(getter(record))
            except InvalidValue as exc:
                problems.append(str(exc))
                continue
            values = [v for v in values if v != ""]
            if values:
                details[definition.name] = values
            else:
                cleared.add(definition.name)
        if len(details) > MAX_DETAIL_FIELDS:
            msg = f"{len(details)} detail fields (CSM allows {MAX_DETAIL_FIELDS} per entity)"
            raise MappingError(msg)
        if problems and not self.drop_invalid_details:
            raise MappingError("; ".join(problems))
        display = self._display(record) if self._display else None
        return Operation(
            entity=self.entity,
            identity=identity,
            stream=self.stream,
            source_id=self.source_id_of(record),
            display_name=str(display).strip() or None if display not in (None, "") else None,
            details=details,
            org_refs=self._refs(record),
            record=record,
            cleared=frozenset(cleared),
            warnings=problems,
        )

    def identity_of(self, record: dict[str, Any]) -> str | None:
        """The email or name the record names, as text (None when it names none)."""
        if self._identity is None:
            return None
        value = self._identity(record)
        return str(value).strip() or None if value not in (None, "") else None

    def source_id_of(self, record: dict[str, Any]) -> str | None:
        """The record's id in its source, as text (numbers without ``.0``)."""
        value = self._source_id(record) if self._source_id else None
        return scalar_text(value) if value not in (None, "") else None

    def merged_source_ids(self, record: dict[str, Any]) -> list[str]:
        """Source ids of records merged into this one (HubSpot ``hs_merged_object_ids``)."""
        if self._merged_ids is None:
            return []
        value = self._merged_ids(record)
        items = value.split(";") if isinstance(value, str) else value
        if not isinstance(items, list):
            items = [items]
        own = self.source_id_of(record)
        found = [scalar_text(i).strip() for i in items if i not in (None, "")]
        return [i for i in dict.fromkeys(found) if i and i != own]

    def association(self, record: dict[str, Any]) -> tuple[str, OrgRef] | None:
        """An association record's (customer source id, organization reference), if whole."""
        customer = self._customer_id(record) if self._customer_id else None
        refs = self._refs(record)
        if customer in (None, "") or not refs:
            return None
        return scalar_text(customer), refs[0]

    def _refs(self, record: dict[str, Any]) -> tuple[OrgRef, ...]:
        if self.entity not in (CUSTOMER, ASSOCIATION_ENTITY):
            return ()
        refs: list[OrgRef] = []
        for getter, kind in ((self._org_ids, "source"), (self._org_names, "name")):
            if getter is None:
                continue
            value = getter(record)
            values = value if isinstance(value, list) else [value]
            for item in values:
                if item in (None, ""):
                    continue
                stream = self.rule.organization_stream if kind == "source" else None
                ref = OrgRef(kind, scalar_text(item).strip(), stream)
                if ref not in refs:
                    refs.append(ref)
        return tuple(refs)
