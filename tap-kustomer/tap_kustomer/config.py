"""Config errors that say what is wrong and never print a secret back.

The SDK words its validation errors from the value (``1234 is not of type 'string'``), so an
API key given with the wrong type would be echoed into the log, and a ``base_url`` carrying
``user:token@`` would be echoed by any message quoting it. Here every error names the setting
and what it expects; a value is shown only for settings that are not secret, and URLs only
without their credentials. The host settings (``org``, ``region``, ``base_url``) are checked
here too, so a missing or wrong host is one clear line at start-up, not a traceback.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from jsonschema import ValidationError
from singer_sdk.plugin_base import JSONSchemaValidator

#: Setting names treated as secret even if the schema does not mark them.
SECRET_NAME = re.compile(r"(key|token|secret|password)", re.IGNORECASE)
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@")
TYPE_NAMES = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
    "null": "empty",
}


def redact_url(text: str) -> str:
    """``text`` with the ``user:password@`` of any URL in it replaced by ``***@``."""
    return _USERINFO.sub(lambda m: f"{m.group('scheme')}***@", text)


def secret_settings(schema: Mapping[str, Any]) -> set[str]:
    """Settings whose values must never be shown: marked secret, or named like one."""
    props = schema.get("properties") or {}
    return {
        name
        for name, prop in props.items()
        if (isinstance(prop, Mapping) and (prop.get("secret") or prop.get("writeOnly")))
        or SECRET_NAME.search(name)
    }


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "empty" if value is None else type(value).__name__


def _expected(types: Any) -> str:
    names = [types] if isinstance(types, str) else list(types or [])
    return " or ".join(TYPE_NAMES.get(str(t), str(t)) for t in names if t != "null") or "empty"


def describe(error: ValidationError, secrets: set[str], schema: Mapping[str, Any]) -> str:
    """One line for one validation error, without the value of a secret."""
    path = [str(p) for p in error.absolute_path]
    name = path[0] if path else ""
    shown = name not in secrets
    value = error.instance
    got = f" (got {redact_url(repr(value))})" if shown else " (value not shown: a secret)"
    where = f"setting `{'.'.join(path)}`"
    kind = error.validator
    if kind == "required":
        missing = (
            error.message.split("'")[1] if "'" in error.message else str(error.validator_value)
        )
        prop = (schema.get("properties") or {}).get(missing) or {}
        title = prop.get("title") if isinstance(prop, Mapping) else None
        return f"setting `{missing}` is required" + (f" ({title})" if title else "")
    if kind == "type":
        return f"{where} must be {_expected(error.validator_value)}, not {_kind(value)}" + (
            "" if shown else " (value not shown: a secret)"
        )
    if kind == "minimum":
        return f"{where} must be at least {error.validator_value}{got}"
    if kind == "maximum":
        return f"{where} must be at most {error.validator_value}{got}"
    if kind == "enum":
        return f"{where} must be one of {list(error.validator_value)}{got}"
    if kind == "format":
        return f"{where} must be a {error.validator_value}{got}"
    return f"{where} is not valid ({kind}){got}"


def config_errors(
    config: Mapping[str, Any],
    schema: Mapping[str, Any],
    host_check: Any = None,
) -> list[str]:
    """Every problem with ``config``, one line each; empty when it is valid.

    ``host_check(config)`` (when given) raises ValueError with the host problem. As the
    SDK's own validation, this fills in the schema's defaults (``config`` is changed).
    """
    secrets = secret_settings(schema)
    validator = JSONSchemaValidator(dict(schema))
    errors = [
        describe(e, secrets, schema)
        for e in sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    ]
    if host_check is not None and not any(
        e.startswith(("setting `base_url`", "setting `org`", "setting `region`")) for e in errors
    ):
        try:
            host_check(config)
        except ValueError as exc:
            errors.append(redact_url(str(exc)))
    return errors


def numbers_from_text(config: dict[str, Any], schema: Mapping[str, Any]) -> None:
    """Read a number setting given as text as the number it spells (in place).

    The plugin definitions declare number settings ``kind: string``: Meltano 4.4.1 cannot
    pass a ``kind: decimal`` setting from an environment variable, so it hands ``"9.5"`` over
    as text. Text that spells no finite number is left as it is, for validation to refuse
    with the setting's name.
    """
    for name, prop in schema.get("properties", {}).items():
        value = config.get(name)
        types = prop.get("type")
        if not isinstance(value, str) or "number" not in (
            types if isinstance(types, list) else [types]
        ):
            continue
        try:
            number = float(value.strip())
        except ValueError:
            continue
        if math.isfinite(number):
            config[name] = number
