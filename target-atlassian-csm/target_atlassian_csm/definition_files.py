"""Field definitions saved from the source's own API (the ``field_definitions`` setting).

Some taps never send their source's field definitions: singer-io tap-zendesk 2.8.2 has no
``user_fields`` / ``organization_fields`` streams, and the SCHEMA it writes drops ``enum``. From
the schema alone a dropdown can only become TEXT holding the option tag (``plan_pro``) and a
multiselect TEXT holding the tags. The definitions are one request away for the user, though:
they save Zendesk's answers to ``GET /api/v2/user_fields.json`` and
``GET /api/v2/organization_fields.json`` and name the files in ``field_definitions``.

Each file is read here, before any message, into the metadata stream it stands for, and
:meth:`Provisioner.preload` takes it as if that stream had arrived complete before the first
record: the records of its object are not held, and its fields get the types, names and
options :mod:`metadata` gives Zendesk's definitions (dropdown → SELECT of the option names,
values translated from the tags).

The file says what it holds by its top-level key, the one Zendesk's answer has
(``user_fields`` or ``organization_fields``), so a file cannot be applied to the wrong object.
A HubSpot ``GET /crm/v3/properties/{object}`` answer (``{"results": [...]}``) is refused: it
does not say which object it lists, and tap-hubspot-contacts sends its properties anyway.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from target_atlassian_csm.metadata import ZENDESK

#: Top-level key of the saved answer → (the metadata stream it stands for, the source kind).
FILE_KINDS: dict[str, tuple[str, str]] = {
    "user_fields": ("user_fields", ZENDESK),
    "organization_fields": ("organization_fields", ZENDESK),
}


class FieldDefinitionsError(ValueError):
    """A ``field_definitions`` file that cannot be used; the message names the file and why."""


@dataclass(frozen=True)
class DefinitionFile:
    """One saved answer: which metadata stream it stands for, and its definitions."""

    path: Path
    stream: str
    kind: str
    records: tuple[Mapping[str, Any], ...]
    next_page: str | None = None  # set when the answer was one page of several


def _next_page(body: Mapping[str, Any]) -> str | None:
    """The next page's URL when the answer is paged and not the last page (offset or cursor)."""
    if isinstance(body.get("next_page"), str) and body["next_page"]:
        return body["next_page"]
    meta = body.get("meta") if isinstance(body.get("meta"), Mapping) else {}
    links = body.get("links") if isinstance(body.get("links"), Mapping) else {}
    if meta.get("has_more"):
        return str(links.get("next") or "(meta.has_more is true)")
    return None


def read_definition_file(path: str | Path) -> DefinitionFile:
    """Read one saved answer; refuse anything whose top-level key does not say what it is."""
    where = Path(path).expanduser()
    try:
        body = json.loads(where.read_text(encoding="utf-8"))
    except OSError as exc:
        msg = f"field_definitions: cannot read {where}: {exc.strerror or exc}"
        raise FieldDefinitionsError(msg) from exc
    except ValueError as exc:
        msg = f"field_definitions: {where} is not JSON ({exc})"
        raise FieldDefinitionsError(msg) from exc
    found = [key for key in FILE_KINDS if isinstance(body, Mapping) and key in body]
    if len(found) != 1:
        hint = (
            " (a HubSpot properties answer does not say which object it lists: not supported)"
            if isinstance(body, Mapping) and "results" in body
            else ""
        )
        msg = (
            f"field_definitions: {where} must be Zendesk's answer to GET "
            "/api/v2/user_fields.json or /api/v2/organization_fields.json, an object with "
            f"exactly one of the keys {sorted(FILE_KINDS)}{hint}"
        )
        raise FieldDefinitionsError(msg)
    key = found[0]
    items = body[key]
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        msg = f"field_definitions: {where}: {key!r} must be a list of field definitions"
        raise FieldDefinitionsError(msg)
    stream, kind = FILE_KINDS[key]
    return DefinitionFile(where, stream, kind, tuple(items), _next_page(body))


def read_definition_files(
    paths: Iterable[str | Path], logger: logging.Logger
) -> list[DefinitionFile]:
    """Read every file (pages of one answer are listed as separate files), saying what was read.

    A kind whose every file is a non-last page lacks definitions: the fields it misses fall
    back to nothing (the metadata is taken as complete), so this is said loudly.
    """
    files = [read_definition_file(p) for p in paths]
    for item in files:
        logger.info(
            "field_definitions: %d %s definitions read from %s",
            len(item.records),
            item.stream,
            item.path,
        )
    for stream in sorted({f.stream for f in files}):
        pages = [f for f in files if f.stream == stream]
        if all(f.next_page for f in pages):
            logger.warning(
                "field_definitions: the %s answer has more pages (next_page: %s); save them "
                "too and list every page, or fields after this page get no CSM field",
                stream,
                pages[-1].next_page,
            )
    return files
