"""Field provisioning: create the CSM detail fields the data needs, before the data.

With ``create_missing_fields`` on, each record stream mapped to CSM gets its detail fields
from the best description the run has of its source object: the source's own metadata
stream (HubSpot properties, Kustomer attribute metadata, Zendesk user/organization fields,
read by :mod:`metadata`, or the same definitions saved to the files of ``field_definitions``
for taps that never send them, read by :mod:`definition_files`), else the stream's Singer
schema.

**When.** A CSM field's type cannot change after creation, so fields are decided once, from
complete metadata. Our own taps emit their metadata streams *after* the record streams
(tap-hubspot-contacts syncs ``contacts`` before ``contact_properties``; tap-kustomer and
tap-zendesk likewise), so waiting for "the first record" would create fields from the schema
and fix worse types forever. Instead, the records of a stream whose source has metadata are
held in memory (their STATE is held by the barrier, as for any unsettled record) until that
metadata stream is complete: a metadata stream is complete when a message of another stream
follows it (taps emit one stream at a time). Streams of other taps are provisioned at their
first record from their schema. At the end of input, streams still waiting are provisioned
from their schema with a note. Holding is bounded by ``field_metadata_buffer_records``; past
it the run stops before anything is created, saying how to proceed.

**What.** Per stream: the source fields not used by the mapping, filtered by the defaults of
``metadata`` (hidden, calculated, relationships...), ``field_include`` / ``field_exclude``;
named by ``field_rename`` or the source's label; typed by ``field_types`` or the mapping
rules. A field whose name (or, loosely, whose source key) matches an existing field reuses it,
type mismatches and missing options reported, nothing changed. CSM's limits (50 fields per
entity, 50 options per select) are checked before anything is created: with
``field_limit_policy: fail`` (default) a plan that does not fit stops the run with the list of
what does not fit; with ``skip`` what fits is created and the rest left out. Creation is one
definitions-bulk request per stream (all or nothing); a dry run creates nothing and only adds
the planned fields to its in-memory view of the site, so validation runs against them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from target_atlassian_csm.definitions import (
    SELECT_TYPES,
    ProvisioningError,
    create_definitions,
)
from target_atlassian_csm.fields import KNOWN_TYPES, FieldCatalog, FieldDef
from target_atlassian_csm.limits import MAX_DETAIL_FIELDS, MAX_SELECT_OPTIONS
from target_atlassian_csm.mapping import TYPE_SUFFIX_RE, Binding, StreamRule
from target_atlassian_csm.metadata import (
    BOOLEAN,
    BOOLEAN_OPTIONS,
    HUBSPOT,
    HUBSPOT_METADATA_STREAMS,
    KUSTOMER,
    KUSTOMER_RESOURCES,
    NOT_SYNCED,
    SCHEMA,
    ZENDESK,
    ZENDESK_METADATA_STREAMS,
    MetadataSet,
    RecordSource,
    SourceField,
    fields_from_metadata,
    humanize,
    metadata_kind,
    record_source,
    schema_fields,
)
from target_atlassian_csm.plan import CREATE, OVERFLOW, REUSE, SKIP, FieldDecision

if TYPE_CHECKING:
    from target_atlassian_csm.runtime import LoadRuntime

__all__ = ["Held", "Provisioner", "ProvisioningError", "ProvisioningSettings"]


@dataclass(frozen=True)
class ProvisioningSettings:
    """The provisioning settings (see settings.py for their descriptions)."""

    enabled: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    rename: Mapping[str, str] = field(default_factory=dict)
    types: Mapping[str, str] = field(default_factory=dict)
    boolean_type: str = "SELECT"
    limit_policy: str = "fail"
    buffer_records: int = 100_000
    dry_run: bool = False

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ProvisioningSettings:
        """Read and check the settings."""
        types = {str(k): str(v).upper() for k, v in (config.get("field_types") or {}).items()}
        unknown = {k: v for k, v in types.items() if v not in KNOWN_TYPES}
        if unknown:
            msg = f"field_types: unknown CSM type(s) {unknown}; known: {sorted(KNOWN_TYPES)}"
            raise ValueError(msg)
        boolean_type = str(config.get("boolean_field_type") or "SELECT").upper()
        if boolean_type not in ("SELECT", BOOLEAN):
            msg = f"boolean_field_type must be SELECT or BOOLEAN, got {boolean_type!r}"
            raise ValueError(msg)
        return cls(
            enabled=bool(config.get("create_missing_fields")),
            include=tuple(str(x) for x in config.get("field_include") or ()),
            exclude=tuple(str(x) for x in config.get("field_exclude") or ()),
            rename={str(k): str(v) for k, v in (config.get("field_rename") or {}).items()},
            types=types,
            boolean_type=boolean_type,
            limit_policy=str(config.get("field_limit_policy") or "fail"),
            buffer_records=int(config.get("field_metadata_buffer_records") or 100_000),
            dry_run=bool(config.get("dry_run")),
        )


@dataclass
class Held:
    """A record waiting for its stream's fields: everything needed to process it later."""

    record: dict[str, Any]
    seq: int
    line: int | None
    problem: str | None
    repairs: list[str] = field(default_factory=list)


@dataclass
class _Stream:
    """A record stream mapped to CSM, as provisioning sees it."""

    name: str
    entity: str
    rule: StreamRule
    schema: Mapping[str, Any]
    source: RecordSource | None
    process: Callable[[Held], None]
    ready: bool = False
    held: list[Held] = field(default_factory=list)
    bindings: list[Binding] = field(default_factory=list)


@dataclass
class _Candidate:
    """One source field on its way to a CSM field."""

    spec: SourceField
    path: str
    name: str
    csm_type: str
    options: tuple[tuple[str, str], ...]

    @property
    def option_names(self) -> tuple[str, ...]:
        return tuple(n for _, n in self.options) if self.csm_type in SELECT_TYPES else ()

    @property
    def translate(self) -> dict[str, str]:
        if self.csm_type not in SELECT_TYPES:
            return {}
        return {v: n for v, n in self.options if v != n}

    def decision(self, entity: str, action: str, note: str = "", name: str | None = None) -> Any:
        return FieldDecision(
            entity,
            name or self.name,
            self.csm_type,
            len(self.option_names),
            self.spec.source,
            action,
            note,
        )


def _metadata_objects(stream: str, kind: str) -> list[tuple[str, str]]:
    """The source objects a metadata stream describes (complete once the stream ends)."""
    if kind == HUBSPOT:
        return [(HUBSPOT, HUBSPOT_METADATA_STREAMS[stream])]
    if kind == ZENDESK:
        return [(ZENDESK, ZENDESK_METADATA_STREAMS[stream])]
    return [(KUSTOMER, obj) for obj in KUSTOMER_RESOURCES.values()]


class Provisioner:
    """Collects metadata, holds records until their fields exist, creates the fields."""

    def __init__(
        self,
        settings: ProvisioningSettings,
        runtime: Callable[[], LoadRuntime],
        logger: logging.Logger,
    ) -> None:
        self.settings = settings
        self._runtime = runtime
        self.logger = logger
        self._sets: dict[tuple[str, str], MetadataSet] = {}
        self._meta_streams: dict[str, str] = {}  # metadata stream -> kind
        self._open: str | None = None
        self._complete: set[tuple[str, str]] = set()
        self._used: set[tuple[str, str]] = set()  # metadata sets already turned into fields
        self._late_noted: set[tuple[str, str]] = set()
        self._streams: dict[str, _Stream] = {}
        self._claimed: dict[str, dict[str, tuple[str, str, str]]] = {}
        self._held_total = 0

    # ------------------------------------------------------------------ metadata
    def metadata_kind(self, stream: str, schema: Mapping[str, Any]) -> str | None:
        """Which source's field metadata the stream carries (None: not metadata)."""
        return metadata_kind(stream, schema) if self.settings.enabled else None

    def add_metadata(self, stream: str, kind: str, record: Mapping[str, Any]) -> None:
        """One record of a metadata stream."""
        self._meta_streams[stream] = kind
        self._open = stream
        spec = fields_from_metadata(kind, stream, record)
        if spec is None:
            return
        key = (spec.kind, spec.obj)
        if key in self._used and key not in self._late_noted:
            self._late_noted.add(key)
            self._runtime().plan.note(
                f"{stream} records arrived after the fields of {spec.kind} {spec.obj} were "
                "created: later definitions are not provisioned in this run"
            )
        metadata = self._sets.setdefault(key, MetadataSet(spec.kind, spec.obj))
        metadata.fields.setdefault(spec.key, spec)

    def preload(self, stream: str, kind: str, records: Iterable[Mapping[str, Any]]) -> None:
        """Definitions read before the input (``field_definitions``), complete at once.

        They stand for the whole metadata stream ``stream``, so the records of the objects it
        describes are provisioned at their first record instead of being held for a stream
        the tap may never send. Definitions the tap sends later add nothing a file already
        gave (the first definition of a key wins).
        """
        for record in records:
            self.add_metadata(stream, kind, record)
        self._open = None
        self._complete.update(_metadata_objects(stream, kind))

    def observe(self, stream: str) -> None:
        """A message of ``stream`` arrives: a metadata stream before it is complete."""
        if self._open is None or stream == self._open:
            return
        done = self._open
        self._open = None
        self._complete.update(_metadata_objects(done, self._meta_streams[done]))
        for state in list(self._streams.values()):
            if not state.ready and self._can_provision(state):
                self._make_ready(state)

    # ------------------------------------------------------------ record streams
    def register(
        self,
        stream: str,
        entity: str,
        rule: StreamRule,
        schema: Mapping[str, Any],
        process: Callable[[Held], None],
    ) -> None:
        """A record stream mapped to CSM (its sink was created)."""
        current = self._streams.get(stream)
        if current is not None and current.ready:
            if current.schema != schema:
                # A SCHEMA that changed mid-stream (new properties): their fields now, the
                # existing ones reused, so later records load every value they carry.
                current.schema, current.rule, current.process = schema, rule, process
                current.bindings = []
                self._provision(current, forced=True)
            return
        self._streams[stream] = _Stream(
            stream, entity, rule, schema, record_source(stream, schema), process
        )

    def admit(self, stream: str, item: Held) -> bool:
        """True: process the record now; False: it is held until the stream's fields exist."""
        state = self._streams.get(stream)
        if state is None or not self.settings.enabled or state.ready:
            return True
        if self._can_provision(state):
            self._make_ready(state)
            return True
        state.held.append(item)
        self._held_total += 1
        if self._held_total > self.settings.buffer_records:
            src = state.source
            msg = (
                f"{self._held_total} records held waiting for field metadata "
                f"({src.kind if src else '?'} {src.obj if src else ''}) that has not arrived "
                "(the tap sends it after the records). Raise field_metadata_buffer_records "
                "(memory grows with it), or deselect the metadata stream to type the fields "
                "from the schema. Nothing was created."
            )
            raise ProvisioningError(msg)
        return False

    def finish_input(self) -> None:
        """End of input: every stream still waiting is provisioned with what is known."""
        self.observe("")  # the last metadata stream is complete
        for state in list(self._streams.values()):
            if not state.ready:
                self._make_ready(state, forced=True)

    def bindings(self, stream: str) -> list[Binding]:
        """The provisioned fields of a stream, for its mapper."""
        state = self._streams.get(stream)
        return list(state.bindings) if state else []

    def _can_provision(self, state: _Stream) -> bool:
        src = state.source
        return src is None or (src.kind, src.obj) in self._complete

    def _make_ready(self, state: _Stream, *, forced: bool = False) -> None:
        state.ready = True
        self._provision(state, forced=forced)
        held, state.held = state.held, []
        self._held_total -= len(held)
        for item in held:
            state.process(item)

    # -------------------------------------------------------------- the decision
    def _candidates(self, state: _Stream, *, forced: bool) -> list[tuple[str, SourceField]]:
        src = state.source
        plan = self._runtime().plan
        if src is not None and (src.kind, src.obj) in self._sets:
            self._used.add((src.kind, src.obj))
            specs = self._sets[(src.kind, src.obj)].fields.values()
            return [(src.path(s.key), s) for s in specs]
        if src is not None and (src.kind, src.obj) in self._complete:
            return []  # the metadata stream said: no custom fields
        if src is not None and forced:
            plan.note(
                f"stream {state.name}: no {src.kind} field metadata for {src.obj} arrived "
                "(select its metadata stream for labels and options): fields proposed "
                "by the stream's Singer schema"
            )
        out = []
        fields = schema_fields(
            state.name, state.schema, state.rule.details_from, state.rule.details_value_key
        )
        for path, spec in fields:
            if (
                state.rule.strip_type_suffixes
                and (m := TYPE_SUFFIX_RE.match(spec.key))
                and spec.label == humanize(spec.key)
            ):
                spec = SourceField(  # noqa: PLW2901 (a relabelled copy)
                    spec.kind, spec.obj, spec.key, humanize(m.group(1)), spec.csm_type,
                    spec.options, spec.skip, spec.origin,
                )  # fmt: skip
            out.append((path, spec))
        return out

    def _selected(self, selectors: tuple[str, ...], entity: str, c: _Candidate) -> bool:
        names = {c.spec.key, c.path, c.name, c.spec.label}
        keys = {n.casefold() for n in names} | {f"{entity}:{n}".casefold() for n in names}
        return any(s.casefold() in keys for s in selectors)

    def _lookup(self, table: Mapping[str, str], entity: str, spec: SourceField, path: str) -> Any:
        for key in (f"{entity}:{spec.key}", spec.key, f"{entity}:{path}", path):
            if key in table:
                return table[key]
        return None

    def _candidate(self, entity: str, path: str, spec: SourceField) -> tuple[_Candidate, bool]:
        renamed = self._lookup(self.settings.rename, entity, spec, path)
        csm_type = self._lookup(self.settings.types, entity, spec, path) or spec.csm_type
        options = spec.options
        if csm_type == BOOLEAN:
            csm_type, options = self.settings.boolean_type, options or BOOLEAN_OPTIONS
        if csm_type in SELECT_TYPES and not options:
            csm_type = "TEXT"  # a select needs options before data
        name = (renamed or spec.label).strip()
        return _Candidate(spec, path, name, csm_type, options), renamed is not None

    def _provision(self, state: _Stream, *, forced: bool) -> None:
        runtime = self._runtime()
        plan, entity = runtime.plan, state.entity
        catalog = runtime.catalog(entity)
        claimed = self._claimed.setdefault(entity, {})
        reserved = state.rule.reserved_paths()
        reuse: list[tuple[_Candidate, FieldDef]] = []
        create: list[_Candidate] = []
        for path, spec in self._candidates(state, forced=forced):
            if path in reserved or (spec.kind == SCHEMA and spec.key in reserved):
                continue  # identity, references, exclude_fields, explicit details
            cand, renamed = self._candidate(entity, path, spec)
            ident = (spec.kind, spec.obj, spec.key)
            included = self._selected(self.settings.include, entity, cand)
            why = None
            if self._selected(self.settings.exclude, entity, cand):
                why = "field_exclude"
            elif self.settings.include and not included:
                why = "not in field_include"
            elif spec.skip == NOT_SYNCED:
                why = spec.skip
            elif spec.skip and not included:
                why = f"{spec.skip} (field_include brings it in)"
            if why:
                plan.decide(cand.decision(entity, SKIP, why))
                continue
            existing = self._existing(catalog, cand, renamed, claimed, ident)
            if existing is None and claimed.get(cand.name.casefold(), ident) != ident:
                cand.name = f"{cand.name} ({spec.key})"  # two sources, one label
                existing = catalog.get(cand.name) or self._by_casefold(catalog, cand.name)
            if existing is not None:
                claimed[existing.name.casefold()] = ident
                reuse.append((cand, existing))
                continue
            if any(c.name.casefold() == cand.name.casefold() for c in create):
                continue  # the same source field seen through another path
            claimed[cand.name.casefold()] = ident
            create.append(cand)
        fits = self._check_limits(state, catalog, create)
        self._create(entity, catalog, fits)
        catalog = runtime.catalog(entity)  # re-read after creating
        for cand, definition in reuse:
            note = self._mismatch(cand, definition)
            plan.decide(cand.decision(entity, REUSE, note, definition.name))
            state.bindings.append(Binding(definition, cand.path, cand.translate))
        for cand in fits:
            definition = catalog.get(cand.name)
            if definition is not None:
                state.bindings.append(Binding(definition, cand.path, cand.translate))

    @staticmethod
    def _by_casefold(catalog: FieldCatalog, name: str) -> FieldDef | None:
        wanted = name.strip().casefold()
        return next(
            (catalog.get(n) for n in catalog.names() if n.strip().casefold() == wanted), None
        )

    def _existing(
        self,
        catalog: FieldCatalog,
        cand: _Candidate,
        renamed: bool,
        claimed: dict[str, tuple[str, str, str]],
        ident: tuple[str, str, str],
    ) -> FieldDef | None:
        """The site's field this candidate reuses: same name, else loosely the same name/key."""
        found = self._by_casefold(catalog, cand.name)
        if found is None:
            found = catalog.match(cand.name)
        if found is None and not renamed:
            key = cand.spec.key
            m = TYPE_SUFFIX_RE.match(key) if cand.spec.kind == KUSTOMER else None
            found = catalog.match(m.group(1) if m else key)
        if found is not None and claimed.get(found.name.casefold(), ident) != ident:
            return None  # another source field uses it in this run
        return found

    @staticmethod
    def _mismatch(cand: _Candidate, definition: FieldDef) -> str:
        notes = []
        if definition.type != cand.csm_type:
            notes.append(
                f"type mismatch: {definition.type} on the site, {cand.csm_type} proposed "
                "(kept as is; values are checked as " + definition.type + ")"
            )
        if definition.type in SELECT_TYPES and cand.option_names:
            have = {o.casefold() for o in definition.options}
            missing = [o for o in cand.option_names if o.casefold() not in have]
            if missing:
                shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
                notes.append(
                    f"{len(missing)} source option(s) missing on the site: {shown} "
                    "(records with them fail validation)"
                )
        return "; ".join(notes)

    def _check_limits(
        self, state: _Stream, catalog: FieldCatalog, create: list[_Candidate]
    ) -> list[_Candidate]:
        """What fits CSM's limits; reports (and, with policy fail, stops on) the rest."""
        plan, entity = self._runtime().plan, state.entity
        room = max(MAX_DETAIL_FIELDS - len(catalog), 0)
        fits: list[_Candidate] = []
        overflow: list[tuple[_Candidate, str]] = []
        for cand in create:
            if len(cand.option_names) > MAX_SELECT_OPTIONS:
                overflow.append(
                    (
                        cand,
                        f"{len(cand.option_names)} options (CSM allows {MAX_SELECT_OPTIONS} "
                        "per select; field_types can make it TEXT)",
                    )
                )
            elif len(fits) >= room:
                overflow.append(
                    (
                        cand,
                        f"past CSM's {MAX_DETAIL_FIELDS} fields per {entity} "
                        f"({len(catalog)} exist, {len(create)} proposed)",
                    )
                )
            else:
                fits.append(cand)
        for cand, why in overflow:
            plan.decide(cand.decision(entity, OVERFLOW, why))
        if overflow:
            lines = [f"  {c.name!r} <- {c.spec.source}: {why}" for c, why in overflow]
            report = (
                f"{len(overflow)} {entity} detail field(s) of stream {state.name} do not fit "
                f"CSM's limits:\n" + "\n".join(lines) + "\nChoose with field_include / "
                "field_exclude / field_types (or field_limit_policy: skip to create what fits)."
            )
            if self.settings.limit_policy == "fail" and not self.settings.dry_run:
                for line in report.splitlines():
                    self.logger.error(line)
                msg = report + " Nothing was created for this stream."
                raise ProvisioningError(msg)
            self.logger.warning(report)
        return fits

    def _create(self, entity: str, catalog: FieldCatalog, fits: list[_Candidate]) -> None:
        runtime = self._runtime()
        definitions = [FieldDef.build(c.name, c.csm_type, c.option_names) for c in fits]
        if definitions and not self.settings.dry_run:
            create_definitions(runtime.pipeline.runner, entity, definitions, logger=self.logger)
            runtime.summary.fields_created(entity, len(definitions))
            fresh = runtime.refresh_catalog(entity)
            missing = [d.name for d in definitions if fresh.get(d.name) is None]
            if missing:
                msg = f"CSM reported the {entity} fields created, but does not list {missing}"
                raise ProvisioningError(msg)
        elif definitions:
            for definition in definitions:
                catalog.add(definition)  # the dry run validates against the planned fields
        for cand in fits:
            runtime.plan.decide(cand.decision(entity, CREATE))
        if definitions:
            self.logger.info(
                "%s %d %s detail fields: %s",
                "Dry run: would create" if self.settings.dry_run else "Created",
                len(definitions),
                entity,
                ", ".join(f"{d.name} ({d.type})" for d in definitions),
            )
