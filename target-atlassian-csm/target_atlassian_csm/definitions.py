"""Creating detail-field definitions through ``POST {entity}/details/definitions/bulk``.

The bulk endpoint is used rather than one ``POST {entity}/details`` per field because it is
all-or-nothing (csm-api.md §2.7): a name clash or an overflow past 50 fields refuses the whole
request, so a run never leaves half of a planned set of fields behind. It is asynchronous, so
the task goes through the same :class:`~.bulktask.BulkRunner` as the load's (a full task cap
is waited out, the task polled to its end, its failures matched by the same verdict).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from target_atlassian_csm.bulktask import BulkRunner, ItemIds, Submission, classify
from target_atlassian_csm.client import encode_body
from target_atlassian_csm.fields import FieldDef

#: Definitions per request (csm-api.md §2 table).
DEFINITIONS_BULK_MAX = 50
SELECT_TYPES = frozenset({"SELECT", "MULTISELECT"})


class ProvisioningError(ValueError):
    """Fields cannot be provisioned as planned; nothing (more) was created."""


def definition_body(definition: FieldDef) -> dict[str, object]:
    """The ``{name, type: {name, options}}`` form of one definition."""
    kind: dict[str, object] = {"name": definition.type}
    if definition.type in SELECT_TYPES:
        kind["options"] = list(definition.options)
    return {"name": definition.name, "type": kind}


def create_definitions(
    runner: BulkRunner,
    entity: str,
    definitions: Sequence[FieldDef],
    *,
    logger: logging.Logger,
) -> None:
    """Create ``definitions`` (≤ 50) for ``entity`` and wait for the task; raise on failure."""
    if not definitions:
        return
    if len(definitions) > DEFINITIONS_BULK_MAX:
        msg = f"at most {DEFINITIONS_BULK_MAX} definitions per request, got {len(definitions)}"
        raise ProvisioningError(msg)
    body = encode_body({"detailFields": [definition_body(d) for d in definitions]})
    sub = Submission(f"{entity}/details/definitions/bulk", body, "definitions", len(definitions))
    result = runner.run(sub)
    if result.rejected is not None:
        msg = f"CSM refused to create the {entity} detail fields: {result.rejected.message}"
        raise ProvisioningError(msg)
    status = result.status
    assert status is not None
    logger.info("Created %d %s detail fields (task %s)", len(definitions), entity, sub.task_id)
    verdict = classify(status, [ItemIds(d.name.casefold()) for d in definitions])
    if verdict.failed or verdict.unknown or verdict.unmatched:
        reasons = "; ".join(
            [f"{definitions[i].name}: {why}" for i, why in sorted(verdict.failed.items())]
            + verdict.unmatched
        )
        msg = (
            f"CSM task {sub.task_id} creating {entity} detail fields ended {status.raw_status}"
            f"{': ' + reasons if reasons else ''} (the request is all or nothing: none created)"
        )
        raise ProvisioningError(msg)
