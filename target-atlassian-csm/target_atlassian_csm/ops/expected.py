"""What CSM should hold: from the ledger, or from a Singer file mapped as the target would.

**From the ledger.** Every record with a confirmed payload (what CSM last confirmed: its
semantic form: identity, display name, detail values, organization references), except
records whose latest submission is still open (CSM may hold either version): those are
counted as not checked, as are records that never landed (they are in the dead letters).

**From a Singer file** (``--source``: a file, or a tap's output on stdin). The records are
put through the target itself, in a dry run against an empty in-memory ledger: the same
presets, ``mapping`` rules, stream maps, schema validation, skip rules, merging of records
sharing an email or name, association streams and field provisioning (planned only) as a
load would apply. Every record the dry run would have sent is then "confirmed" in that
in-memory ledger, which is read before it is closed. Nothing is sent to CSM (a dry run only
reads the site's detail fields) and nothing is written to disk. Values the source leaves
empty are not checked (the target clears only fields it loaded itself).

Organization references are resolved to organization names here: ``name:<name>`` directly,
``source:<stream>:<id>`` through the source's own organization records, else the ledger.
A reference that neither resolves and that the ledger lists as deferred (waiting for its
organization) is expected to be missing and is reported as deferred, not as a difference.
Records the target deleted (``delete_policy: delete``) are expected absent: they are not
read, and a membership in a deleted organization is not expected.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from target_atlassian_csm.ledger import CONFIRMED, DELETED, SUBMITTED, Ledger
from target_atlassian_csm.operations import CUSTOMER, ORGANIZATION, OrgRef
from target_atlassian_csm.runtime import LoadRuntime
from target_atlassian_csm.target import TargetAtlassianCSM

#: Why a ledger record is not compared with CSM.
IN_FLIGHT = "in flight (its last submission is open: rerun the load to settle it)"
NEVER_LANDED = "never confirmed (see the dead letters)"
GONE = "deleted in CSM by this target (delete_policy delete, or a rollback)"


@dataclass(frozen=True)
class OrgLink:
    """A customer's reference to an organization, resolved to its case-folded name."""

    token: str
    name_key: str | None  # None: no record or ledger entry says which organization it is
    deferred: bool = False  # the ledger waits for this organization: expected missing
    deleted: bool = False  # the target deleted this organization: no membership expected


@dataclass(frozen=True)
class Expected:
    """One record as CSM should hold it."""

    entity: str
    key: str  # case-folded email or name
    identity: str  # email or name as sent
    display_name: str | None = None
    details: dict[str, list[str]] = field(default_factory=dict)
    organizations: tuple[OrgLink, ...] = ()
    csm_id: str | None = None  # the id the ledger knows, if any (a hint: checked on read)


@dataclass
class Expectations:
    """The records to check, where they came from, and what was left out and why."""

    origin: str
    records: list[Expected]
    not_checked: dict[str, int] = field(default_factory=dict)
    #: Organization spellings (as sent) by case-folded name, for look-ups and reports.
    spellings: dict[str, str] = field(default_factory=dict)
    #: The dry run's record counts per entity (source mode only).
    source_counts: dict[str, dict[str, int]] | None = None


def link_for(
    token: str,
    customer_key: str,
    resolvers: Iterable[Callable[[str, str], str | None]],
    deferred: set[tuple[str, str]],
) -> OrgLink:
    """Resolve one organization token (see module docstring)."""
    ref = OrgRef.from_token(token)
    if ref.kind != "source":
        return OrgLink(token, ref.value.strip().casefold())
    for resolve in resolvers:
        found = resolve(ref.stream or "", ref.value)
        if found is not None:
            return OrgLink(token, found)
    return OrgLink(token, None, deferred=(customer_key, token) in deferred)


def expected_from_semantic(
    entity: str,
    key: str,
    semantic: Mapping[str, Any],
    *,
    csm_id: str | None,
    resolve: Callable[[str, str], OrgLink],
) -> Expected:
    """An :class:`Expected` from a ledger's semantic payload."""
    details = {str(k): [str(v) for v in vs] for k, vs in (semantic.get("details") or {}).items()}
    links = tuple(resolve(str(t), key) for t in semantic.get("organizations") or ())
    display = semantic.get("displayName")
    return Expected(
        entity=entity,
        key=key,
        identity=str(semantic.get("identity") or key),
        display_name=str(display) if display else None,
        details=details,
        organizations=links,
        csm_id=csm_id,
    )


def _source_resolver(ledger: Ledger) -> Callable[[str, str], str | None]:
    return lambda stream, source_id: ledger.key_for_source(ORGANIZATION, stream, source_id)


def from_ledger(ledger: Ledger) -> Expectations:
    """What the ledger says CSM holds (see module docstring)."""
    deferred = set(ledger.deferred_associations())
    resolvers = [_source_resolver(ledger)]
    records: list[Expected] = []
    not_checked: dict[str, int] = {}
    spellings: dict[str, str] = {}
    rows = [row for row in ledger.all_records() if row[0] in (CUSTOMER, ORGANIZATION)]
    gone = {key for entity, key, status, *_ in rows if entity == ORGANIZATION and status == DELETED}

    def resolve(token: str, customer_key: str) -> OrgLink:
        link = link_for(token, customer_key, resolvers, deferred)
        return OrgLink(link.token, link.name_key, deleted=True) if link.name_key in gone else link

    for entity, key, status, confirmed, csm_id in rows:
        if status == DELETED:
            not_checked[GONE] = not_checked.get(GONE, 0) + 1
            continue
        if status == SUBMITTED:
            not_checked[IN_FLIGHT] = not_checked.get(IN_FLIGHT, 0) + 1
            continue
        if not confirmed:
            not_checked[NEVER_LANDED] = not_checked.get(NEVER_LANDED, 0) + 1
            continue
        semantic = json.loads(confirmed)
        if entity == ORGANIZATION:
            spellings[key] = str(semantic.get("identity") or key)
        records.append(
            expected_from_semantic(
                entity,
                key,
                semantic,
                csm_id=csm_id,
                resolve=resolve,
            )
        )
    return Expectations("ledger", records, not_checked, spellings)


# --------------------------------------------------------------------- source mode
@dataclass
class _Capture:
    """What the dry run would have confirmed, read from its in-memory ledger."""

    semantics: dict[tuple[str, str], dict[str, Any]]
    source_names: dict[str, str | None]  # organization token -> case-folded name
    deferred: set[tuple[str, str]]
    counts: dict[str, dict[str, int]]


class _CapturingRuntime(LoadRuntime):
    """A dry run's runtime that reads its in-memory ledger before closing it."""

    captured: _Capture | None = None

    def close(self, *, write_summary: bool = True) -> dict[str, Any]:  # noqa: ARG002
        """Capture what the dry run confirmed, then close (no summary file)."""
        if self.captured is None:
            self.captured = _capture(self.ledger, self.summary.to_dict()["entities"])
        return super().close(write_summary=False)


def _capture(ledger: Ledger, counts: dict[str, dict[str, int]]) -> _Capture:
    keys: dict[str, set[str]] = {CUSTOMER: set(), ORGANIZATION: set()}
    for item in ledger.run_history(ledger.run_id):
        if item["entity"] in keys:
            keys[item["entity"]].add(item["key"])
    semantics: dict[tuple[str, str], dict[str, Any]] = {}
    for entity, wanted in keys.items():
        for key, row in ledger.rows(entity, sorted(wanted)).items():
            if row.status == CONFIRMED and row.confirmed_payload:
                semantics[(entity, key)] = json.loads(row.confirmed_payload)
    names: dict[str, str | None] = {}
    for (entity, _), semantic in semantics.items():
        if entity != CUSTOMER:
            continue
        for token in semantic.get("organizations") or ():
            ref = OrgRef.from_token(token)
            if ref.kind == "source" and token not in names:
                names[token] = ledger.key_for_source(ORGANIZATION, ref.stream or "", ref.value)
    return _Capture(semantics, names, set(ledger.deferred_associations()), counts)


class _SourceTarget(TargetAtlassianCSM):
    """The target, with a runtime that keeps what its dry run confirmed."""

    @property
    def runtime(self) -> LoadRuntime:
        """The load's runtime (a capturing one)."""
        if self._runtime is None:
            self._runtime = _CapturingRuntime(self.config, self.barrier, self.logger)
        return self._runtime


class SourceError(RuntimeError):
    """The Singer input could not be mapped (the log says why)."""


def map_source(config: Mapping[str, Any], messages: IO[str], logger: logging.Logger) -> _Capture:
    """Run the target in a dry run over ``messages``; return what it would have confirmed."""
    with tempfile.TemporaryDirectory(prefix="csm-reconcile-") as scratch:
        where = Path(scratch)
        settings = {
            **config,
            "dry_run": True,
            # Never created: a dry run works on an in-memory copy, here of nothing.
            "ledger_path": str(where / "ledger.sqlite"),
            "dead_letter_path": str(where / "dead-letters.jsonl"),
            "summary_path": str(where / "summary.json"),
            "max_failure_rate": 1.0,  # a record that cannot map is reported, not fatal
        }
        target = _SourceTarget(config=settings, validate_config=True)
        code = 0
        with contextlib.redirect_stdout(io.StringIO()):  # nothing but this report on stdout
            try:
                target.listen(messages)
            except SystemExit as exc:
                code = int(exc.code or 0)
        runtime = target._runtime  # noqa: SLF001 - our own subclass's runtime
        captured = runtime.captured if isinstance(runtime, _CapturingRuntime) else None
    if captured is None:
        msg = f"the Singer input could not be mapped (the target's dry run ended with {code})"
        raise SourceError(msg)
    if code:
        logger.warning("The target's dry run over the input ended with status %d.", code)
    return captured


def from_source(
    config: Mapping[str, Any], messages: IO[str], ledger: Ledger, logger: logging.Logger
) -> Expectations:
    """What CSM should hold if the Singer input were loaded (see module docstring)."""
    captured = map_source(config, messages, logger)
    source_names = captured.source_names
    resolvers = [
        lambda stream, source_id: source_names.get(f"source:{stream}:{source_id}"),
        _source_resolver(ledger),
    ]
    deferred = captured.deferred | set(ledger.deferred_associations())
    hints = {
        entity: ledger.rows(entity, [k for e, k in captured.semantics if e == entity])
        for entity in (CUSTOMER, ORGANIZATION)
    }
    records = []
    spellings: dict[str, str] = {}
    for (entity, key), semantic in sorted(captured.semantics.items()):
        if entity == ORGANIZATION:
            spellings[key] = str(semantic.get("identity") or key)
        row = hints[entity].get(key)
        records.append(
            expected_from_semantic(
                entity,
                key,
                semantic,
                csm_id=row.csm_id if row is not None else None,
                resolve=lambda t, k: link_for(t, k, resolvers, deferred),
            )
        )
    return Expectations("source", records, {}, spellings, captured.counts)
