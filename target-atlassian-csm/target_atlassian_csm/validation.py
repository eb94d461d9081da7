"""Record validation against the stream's Singer schema, compiled once with fastjsonschema.

The SDK's default validator walks the schema with ``jsonschema`` for every record: about
100 µs a record, more than the target spends mapping it. fastjsonschema compiles the schema
to a Python function once per stream and checks the same rules (formats off, as the SDK's
default has them) in a few µs. A schema fastjsonschema cannot compile falls back to the
SDK's validator, so no stream loses validation.
"""

from __future__ import annotations

from typing import Any

import fastjsonschema
from singer_sdk.exceptions import InvalidRecord
from singer_sdk.sinks.core import BaseJSONSchemaValidator


class CompiledValidator(BaseJSONSchemaValidator):
    """A schema compiled to a function; raises the SDK's ``InvalidRecord`` like its default."""

    def __init__(self, schema: dict[str, Any]) -> None:
        super().__init__(schema)
        # use_default=False: a validator must not fill in defaults, the record is the tap's.
        self._check = fastjsonschema.compile(schema, use_formats=False, use_default=False)

    def validate(self, record: dict[str, Any]) -> None:
        """Raise InvalidRecord with the first problem found."""
        try:
            self._check(record)
        except fastjsonschema.JsonSchemaValueException as exc:
            # Name the value too, so the dead letter says what was wrong, not only where.
            shown = repr(exc.value)
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
            message = f"{exc.message.removeprefix('data.')} (got {shown})"
            raise InvalidRecord(message, record) from exc


def compiled_or_none(schema: dict[str, Any]) -> CompiledValidator | None:
    """The compiled validator, or None when fastjsonschema cannot compile this schema."""
    try:
        return CompiledValidator(schema)
    except (fastjsonschema.JsonSchemaDefinitionException, TypeError, ValueError):
        return None
