"""Schemas kept whole between discovery, the catalog and SCHEMA messages.

The SDK turns every schema into its ``Schema`` model on the way (the discovery output, the
input catalog, the stream map that writes SCHEMA messages), and that model keeps only the
keywords it knows: the ``x-link`` mark of KObject link attributes would vanish before any
target saw it. The tap therefore keeps the schemas as dicts: :func:`raw_schemas` reads them
from the catalog it is given, and the tap puts them back where the SDK used its copy.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def raw_schemas(catalog: Any) -> dict[str, dict[str, Any]]:
    """``tap_stream_id`` -> schema, as the catalog (a dict or a JSON file) has it."""
    if isinstance(catalog, str | Path):
        catalog = json.loads(Path(catalog).read_text())
    if not isinstance(catalog, Mapping):
        return {}
    out = {}
    for entry in catalog.get("streams") or []:
        if isinstance(entry, Mapping) and isinstance(entry.get("schema"), Mapping):
            name = entry.get("tap_stream_id") or entry.get("stream")
            if name:
                out[str(name)] = copy.deepcopy(dict(entry["schema"]))
    return out


def keyword_paths(schema: Any, keyword: str, path: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every ``keyword`` in a schema, by dotted property path (for tests and logs)."""
    found: dict[str, Any] = {}
    if isinstance(schema, Mapping):
        if keyword in schema:
            found[".".join(path)] = schema[keyword]
        for name, sub in (schema.get("properties") or {}).items():
            found.update(keyword_paths(sub, keyword, (*path, name)))
        if isinstance(schema.get("items"), Mapping):
            found.update(keyword_paths(schema["items"], keyword, (*path, "[]")))
    return found
