"""One record, mapped: what the target will ask CSM to do for it.

An :class:`Operation` is entity-neutral (customer or organization) and carries what the
pipeline needs besides the payload: the identity key used to dedupe and to match task
failures, the record's sequence numbers for the STATE barrier, and the original record for
the dead-letter file. Its *semantic* form (organization references as names or source ids,
not CSM ids) is what is hashed for the ledger, so a resync can tell "unchanged" before any
organization id is resolved.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

CUSTOMER = "customer"
ORGANIZATION = "organization"


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
    synthetic: bool = False  # an organization made only because a customer named it
    known: bool = False  # the ledger had this key before (an update, not a creation)
    org_ids: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    failed_attempts: int = 0
    recheck: bool = False  # merged with a duplicate: compare with the ledger again
    _hash: str | None = field(default=None, repr=False)
    _semantic_text: str | None = field(default=None, repr=False)
    #: Identity for dedupe and ledger: the case-folded email or organization name. Set once:
    #: an operation's identity never changes (merging makes a new operation).
    key: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.key = self.identity.casefold()

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
            self._semantic_text = json.dumps(self.semantic(), sort_keys=True, separators=(",", ":"))
        return self._semantic_text

    @property
    def payload_hash(self) -> str:
        """sha256 of the semantic form."""
        if self._hash is None:
            self._hash = hashlib.sha256(self.semantic_text.encode()).hexdigest()
        return self._hash

    def payload(self) -> dict[str, Any]:
        """The CSM profile-bulk payload (org ids must be resolved first)."""
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
        if self.org_ids:
            body["associateOrganizations"] = {"organizationIds": list(self.org_ids)}
        return body

    def merged_with(self, newer: Operation) -> Operation:
        """This operation updated by a later record with the same key (later values win)."""
        refs = list(self.org_refs) + [r for r in newer.org_refs if r not in self.org_refs]
        return Operation(
            entity=self.entity,
            identity=newer.identity if not newer.synthetic else self.identity,
            stream=newer.stream if not newer.synthetic else self.stream,
            source_id=newer.source_id or self.source_id,
            display_name=newer.display_name or self.display_name,
            details={**self.details, **newer.details},
            org_refs=tuple(refs),
            record=newer.record if newer.record is not None else self.record,
            seqs=self.seqs + newer.seqs,
            synthetic=self.synthetic and newer.synthetic,
            known=self.known or newer.known,
            warnings=self.warnings + newer.warnings,
        )

    @classmethod
    def from_semantic(
        cls, entity: str, semantic: dict[str, Any], *, stream: str, source_id: str | None
    ) -> Operation:
        """Rebuild an operation from its stored semantic form (for merging duplicates)."""
        return cls(
            entity=entity,
            identity=semantic["identity"],
            stream=stream,
            source_id=source_id,
            display_name=semantic.get("displayName"),
            details={k: list(v) for k, v in (semantic.get("details") or {}).items()},
            org_refs=tuple(OrgRef.from_token(t) for t in semantic.get("organizations") or ()),
        )
