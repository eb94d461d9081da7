"""One record, mapped: what the target will ask CSM to do for it.

An :class:`Operation` is entity-neutral (customer or organization) and is *data only*: the
identity used to dedupe and to match task failures, the values, the references to
organizations, the record's sequence numbers for the STATE barrier, and the original record
for the dead-letter file. Where it is on its way to CSM is the pipeline's business
(:mod:`.flow`), not the operation's.

Its *semantic* form (organization references as names or source ids, not CSM ids) is what is
hashed for the ledger, so a resync can tell "unchanged" before any organization id is
resolved. ``cleared`` names the mapped fields that had no value in the record: when the
ledger says CSM holds a value for one of them, the pipeline clears it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

#: Canonical JSON of an operation's semantic form (one encoder for the run).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))

CUSTOMER = "customer"
ORGANIZATION = "organization"

#: What produced an operation: a record of a mapped stream; a record of an association stream
#: (adds organizations to a customer described elsewhere); an association an earlier record
#: could not make because its organization was not known yet (sent even though the ledger
#: already has the reference); or a customer's reference to an organization no record
#: describes (created by name).
RECORD, ASSOCIATION, DEFERRED, REFERENCED = "record", "association", "deferred", "referenced"
#: A record deleted in the source (``delete_policy: delete``), and one flagged as deleted
#: (``delete_policy: flag``: a detail set on the CSM record).
DELETION, FLAG = "deletion", "flag"


@dataclass(frozen=True, eq=False)
class OrgRef:
    """A customer's reference to an organization: by name, or by the source's own id.

    Two references are equal when their tokens are (names compare case-insensitively).
    """

    kind: str  # "name" | "source"
    value: str
    stream: str | None = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OrgRef) and other.token == self.token

    def __hash__(self) -> int:
        return hash(self.token)

    @property
    def token(self) -> str:
        """Stable text form, used in hashes and logs."""
        if self.kind == "source":
            return f"source:{self.stream}:{self.value}"
        return f"name:{self.value.casefold()}"

    @classmethod
    def from_token(cls, token: str) -> OrgRef:
        """Inverse of :attr:`token` (names come back case-folded)."""
        kind, _, rest = token.partition(":")
        if kind == "source":
            stream, _, value = rest.partition(":")
            return cls("source", value, stream)
        return cls("name", rest)


@dataclass(eq=False)
class Operation:
    """A mapped record on its way to CSM (see module docstring)."""

    entity: str
    identity: str  # the email (customers) or name (organizations) as sent
    stream: str
    source_id: str | None = None
    display_name: str | None = None
    details: dict[str, list[str]] = field(default_factory=dict)
    org_refs: tuple[OrgRef, ...] = ()
    record: dict[str, Any] | None = None
    seqs: list[int] = field(default_factory=list)
    origin: str = RECORD
    cleared: frozenset[str] = frozenset()  # mapped fields with no value in the record
    line: int | None = None  # input line of the (last) record
    warnings: list[str] = field(default_factory=list)
    #: Every source record (stream, id) merged into this operation (duplicates by email or
    #: name load as one CSM record): a deletion of one of them must not delete the others'.
    sources: frozenset[tuple[str, str]] = frozenset()
    _hash: str | None = field(default=None, repr=False)
    _semantic_text: str | None = field(default=None, repr=False)
    #: Identity for dedupe and ledger: the case-folded email or organization name. Set once:
    #: an operation's identity never changes (merging makes a new operation).
    key: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.key = self.identity.casefold()
        if not self.sources and self.source_id and self.origin == RECORD:
            self.sources = frozenset({(self.stream, self.source_id)})

    @property
    def synthetic(self) -> bool:
        """Made by the target, not read from a record of a mapped stream."""
        return self.origin == REFERENCED

    def semantic(self) -> dict[str, Any]:
        """What the record asks for, independent of CSM ids (hashed and stored in the ledger)."""
        out: dict[str, Any] = {"identity": self.identity}
        if self.display_name:
            out["displayName"] = self.display_name
        if self.details:
            out["details"] = {k: self.details[k] for k in sorted(self.details)}
        if self.org_refs:
            out["organizations"] = sorted({r.token for r in self.org_refs})
        return out

    @property
    def semantic_text(self) -> str:
        """The semantic form as canonical JSON (computed once: the ledger stores it)."""
        if self._semantic_text is None:
            self._semantic_text = _CANONICAL.encode(self.semantic())
        return self._semantic_text

    @property
    def payload_hash(self) -> str:
        """sha256 of the semantic form."""
        if self._hash is None:
            self._hash = hashlib.sha256(self.semantic_text.encode()).hexdigest()
        return self._hash

    def payload(self, org_ids: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
        """The CSM profile-bulk payload, with the organizations' resolved CSM ids."""
        details = [{"name": k, "values": self.details[k]} for k in sorted(self.details)]
        if self.entity == ORGANIZATION:
            body: dict[str, Any] = {"name": self.identity}
            if details:
                body["details"] = details
            return body
        body = {"email": self.identity}
        if self.display_name:
            body["displayName"] = self.display_name
        if details:
            body["details"] = details
        if org_ids:
            body["associateOrganizations"] = {"organizationIds": list(org_ids)}
        return body

    def same_record(self, other: Operation) -> bool:
        """Both come from the same source record (a later copy replaces an earlier one)."""
        return (
            self.origin == other.origin == RECORD
            and self.source_id is not None
            and self.source_id == other.source_id
            and self.stream == other.stream
        )

    def merged_with(self, newer: Operation) -> Operation:
        """This operation updated by a later one with the same key.

        A later copy of the *same* source record is the record's newer state: its values
        replace the older ones, and what it leaves empty is cleared. Records of *different*
        source records sharing an email or name (duplicates) are combined: later values win
        field by field, and a field one of them leaves empty keeps the other's value.
        Organization references always accumulate (an association is only ever added).
        """
        if DELETION in (self.origin, newer.origin):
            live = newer if newer.origin == RECORD else self if self.origin == RECORD else None
            gone = self if live is newer else newer
            if (
                live is not None
                and gone.source_id
                and (gone.stream, gone.source_id) not in (live.sources)
            ):
                # Another source record still loads into this email or name: it stays.
                return Operation(
                    entity=live.entity, identity=live.identity or gone.identity,
                    stream=live.stream, source_id=live.source_id,
                    display_name=live.display_name, details=dict(live.details),
                    org_refs=live.org_refs, record=live.record, seqs=self.seqs + newer.seqs,
                    origin=RECORD, cleared=live.cleared, line=live.line,
                    warnings=self.warnings + newer.warnings, sources=live.sources,
                )  # fmt: skip
            # A deletion and a record of one key: the later says what the source holds now.
            return Operation(
                entity=newer.entity, identity=newer.identity or self.identity,
                stream=newer.stream, source_id=newer.source_id or self.source_id,
                display_name=newer.display_name, details=dict(newer.details),
                org_refs=newer.org_refs, record=newer.record, seqs=self.seqs + newer.seqs,
                origin=newer.origin, cleared=newer.cleared, line=newer.line,
                warnings=self.warnings + newer.warnings,
            )  # fmt: skip
        refs = list(self.org_refs) + [r for r in newer.org_refs if r not in self.org_refs]
        if newer.same_record(self):
            details = dict(newer.details)
            cleared = newer.cleared
        else:
            details = {**self.details, **newer.details}
            cleared = (self.cleared | newer.cleared) - details.keys()
        keep_older = newer.origin != RECORD and self.origin == RECORD
        base = self if keep_older else newer
        return Operation(
            entity=self.entity,
            identity=base.identity,
            stream=base.stream,
            source_id=base.source_id or self.source_id or newer.source_id,
            display_name=newer.display_name or self.display_name,
            details=details,
            org_refs=tuple(refs),
            record=base.record if base.record is not None else self.record or newer.record,
            seqs=self.seqs + newer.seqs,
            origin=RECORD if RECORD in (self.origin, newer.origin) else newer.origin,
            cleared=frozenset(cleared),
            line=newer.line if newer.line is not None else self.line,
            warnings=self.warnings + newer.warnings,
            sources=self.sources | newer.sources,
        )

    @classmethod
    def from_semantic(
        cls,
        entity: str,
        semantic: dict[str, Any],
        *,
        stream: str,
        source_id: str | None,
        origin: str = RECORD,
    ) -> Operation:
        """Rebuild an operation from its stored semantic form (merging, recovery)."""
        return cls(
            entity=entity,
            identity=semantic["identity"],
            stream=stream,
            source_id=source_id,
            display_name=semantic.get("displayName"),
            details={k: list(v) for k, v in (semantic.get("details") or {}).items()},
            org_refs=tuple(OrgRef.from_token(t) for t in semantic.get("organizations") or ()),
            origin=origin,
        )
