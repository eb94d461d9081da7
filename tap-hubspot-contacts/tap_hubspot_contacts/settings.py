"""Config problems in plain words, found at start-up, with no secret ever printed.

The SDK's schema check words its errors from the offending value ("12345 is not of type
'string' in config['access_token']"), which copies a mistyped token into Meltano's log, and it
cannot say that no credential was given at all, because each credential is optional on its
own: the run then fails at its first request with "Config validation failed" and nothing else.
These pure functions word every problem from the setting's name and the rule it breaks; a
value is shown only for a non-sensitive setting holding a plain scalar.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from jsonschema.exceptions import ValidationError

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
OAUTH_SETTINGS = ("client_id", "client_secret", "refresh_token")
#: Shown whatever the schema says: a URL may carry ``user:token@``.
ALWAYS_HIDDEN = frozenset({"api_url"})
JSON_TYPES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}
CREDENTIALS_HELP = (
    "set access_token (a private-app access token or a Service Key), or all three of "
    "client_id, client_secret and refresh_token (an OAuth app); with Meltano: "
    "`meltano config set <plugin name> access_token`, or the env var "
    "TAP_HUBSPOT_CONTACTS_ACCESS_TOKEN (named after the plugin)"
)


def sensitive_settings(schema: Mapping[str, Any]) -> frozenset[str]:
    """Settings whose values are never printed: the schema's secrets, and ``api_url``."""
    properties = schema.get("properties") or {}
    secret = {k for k, v in properties.items() if v.get("secret") or v.get("writeOnly")}
    return frozenset(secret | ALWAYS_HIDDEN)


def json_type(value: Any) -> str:
    """The JSON type name of a Python value from a config file."""
    for kind, name in JSON_TYPES.items():
        if type(value) is kind:
            return name
    return type(value).__name__


def describe_schema_error(error: ValidationError, hidden: frozenset[str]) -> str:
    """One schema error, worded from the setting and the rule, never from a hidden value."""
    path = list(error.absolute_path)
    where = "config" + "".join(f"[{p!r}]" for p in path) if path else "the config"
    instance = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    rule = error.validator
    if rule == "type":
        wanted = schema.get("type")
        wanted = [wanted] if isinstance(wanted, str) else list(wanted or [])
        expected = " or ".join(t for t in wanted if t != "null") or "null"
        text = f"{where} must be of type {expected}, got {json_type(instance)}"
    elif rule in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        words = {
            "minimum": "at least",
            "maximum": "at most",
            "exclusiveMinimum": "more than",
            "exclusiveMaximum": "less than",
        }
        text = f"{where} must be {words[rule]} {error.validator_value}"
    elif rule == "enum":
        text = f"{where} must be one of {list(error.validator_value)}"
    elif rule == "format":
        text = f"{where} must be a {error.validator_value}"
    else:
        text = f"{where} breaks the schema rule {rule!r}"
    if path and path[0] in hidden:
        text += " (value not shown: it may be a secret)"
    elif path and isinstance(instance, str | int | float | bool):
        text += f" (value {_short(instance)})"
    return text


def schema_problems(errors: Iterable[ValidationError], schema: Mapping[str, Any]) -> list[str]:
    """Every schema error of a config, worded by :func:`describe_schema_error`."""
    hidden = sensitive_settings(schema)
    return [describe_schema_error(e, hidden) for e in errors]


def credential_problem(config: Mapping[str, Any]) -> str | None:
    """What is missing for HubSpot to accept a request, or ``None``."""
    if _given(config.get("access_token")):
        return None
    given = [k for k in OAUTH_SETTINGS if _given(config.get(k))]
    if len(given) == len(OAUTH_SETTINGS):
        return None
    if not given:
        return f"no HubSpot credentials: {CREDENTIALS_HELP}"
    missing = [k for k in OAUTH_SETTINGS if k not in given]
    return (
        f"incomplete OAuth credentials: {', '.join(given)} set but {', '.join(missing)} "
        f"missing; set {' and '.join(missing)} too, or set access_token instead"
    )


def api_url_problem(url: Any) -> str | None:
    """Why ``api_url`` cannot be used, or ``None``; the URL's user info is never echoed."""
    if not isinstance(url, str):
        return None  # the schema check reports the type
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return "api_url is not a URL (the value is not shown: it may carry credentials)"
    if "@" in parts.netloc:
        return (
            "api_url must not carry credentials (user:password@host); put the token in "
            "access_token (the URL is not shown)"
        )
    origin = f"{parts.scheme}://{host or ''}" + (f":{port}" if port else "")
    if not host:
        return f"api_url has no host, got {origin}"
    if parts.scheme == "https" or (parts.scheme == "http" and host in LOOPBACK_HOSTS):
        return None
    return f"api_url must be https (http only on loopback, the sandbox), got {origin}"


def config_problems(
    config: Mapping[str, Any], errors: Iterable[ValidationError], schema: Mapping[str, Any]
) -> list[str]:
    """Everything wrong with a config, each as one line that names what to change."""
    problems = schema_problems(errors, schema)
    for extra in (credential_problem(config), api_url_problem(config.get("api_url"))):
        if extra:
            problems.append(extra)
    return problems


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _short(value: str | float | bool) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
