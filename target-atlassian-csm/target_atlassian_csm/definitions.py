"""Creating detail-field definitions through ``POST {entity}/details/definitions/bulk``.

The bulk endpoint is used rather than one ``POST {entity}/details`` per field because it is
all-or-nothing (csm-api.md §2.7): a name clash or an overflow past 50 fields refuses the whole
request, so a run never leaves half of a planned set of fields behind. It is asynchronous, so
the task is polled to its end; a full task cap (the load's own tasks may hold the slots) is
waited out like the pipeline does.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence

from target_atlassian_csm.client import (
    FAILED,
    RUNNING,
    CsmClient,
    IdempotencyClash,
    RequestRejected,
    TaskCapReached,
    encode_body,
    idempotency_key,
)
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
    client: CsmClient,
    entity: str,
    definitions: Sequence[FieldDef],
    *,
    logger: logging.Logger,
    timeout_seconds: float = 600.0,
) -> None:
    """Create ``definitions`` (≤ 50) for ``entity`` and wait for the task; raise on failure."""
    if not definitions:
        return
    if len(definitions) > DEFINITIONS_BULK_MAX:
        msg = f"at most {DEFINITIONS_BULK_MAX} definitions per request, got {len(definitions)}"
        raise ProvisioningError(msg)
    endpoint = f"{entity}/details/definitions/bulk"
    body = encode_body({"detailFields": [definition_body(d) for d in definitions]})
    deadline = time.monotonic() + timeout_seconds
    salt = ""
    wait = 0.25
    while True:
        try:
            task_id = client.submit(endpoint, body, idempotency_key(endpoint, body, salt))
            break
        except TaskCapReached:
            # The load's own tasks hold the slots: wait for one to end, with a new key.
            salt = uuid.uuid4().hex
        except IdempotencyClash:
            salt = uuid.uuid4().hex
            continue
        except RequestRejected as exc:
            msg = f"CSM refused to create the {entity} detail fields: {exc.message}"
            raise ProvisioningError(msg) from exc
        if time.monotonic() > deadline:
            msg = f"no CSM task slot for the {entity} field definitions in {timeout_seconds:.0f}s"
            raise ProvisioningError(msg)
        time.sleep(wait)
        wait = min(wait * 1.5, 5.0)
    logger.info("Creating %d %s detail fields (task %s)", len(definitions), entity, task_id)
    wait = 0.1
    while True:
        status = client.task(task_id)
        if status.state != RUNNING:
            break
        if time.monotonic() > deadline:
            msg = f"the {entity} field-definitions task {task_id} did not end in time"
            raise ProvisioningError(msg)
        time.sleep(wait)
        wait = min(wait * 1.5, 5.0)
    if status.state == FAILED or status.failures:
        names = dict(enumerate(d.name for d in definitions))
        reasons = "; ".join(
            f"{f.entity_id or names.get(f.index if f.index is not None else -1, '?')}: {f.error}"
            for f in status.failures
        )
        msg = (
            f"CSM task {task_id} creating {entity} detail fields ended {status.raw_status}"
            f"{': ' + reasons if reasons else ''} (the request is all or nothing: none created)"
        )
        raise ProvisioningError(msg)
