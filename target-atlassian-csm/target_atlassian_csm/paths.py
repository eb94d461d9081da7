"""Reading values out of records: dotted paths and ``{path}`` templates.

Mapping settings name source fields as paths (``attributes.emails[0].email``) or templates
(``{firstname} {lastname}``); a list of them means "the first that gives a non-empty value".
Paths are compiled once per stream, since they run on every record.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")

Getter = Callable[[dict[str, Any]], Any]


def compile_path(path: str) -> Getter:
    """Return a function reading ``path`` from a record (None when any step is missing)."""
    steps: list[str | int] = []
    for name, index in _SEGMENT.findall(path):
        steps.append(int(index) if index else name)
    if not steps:
        msg = f"empty field path {path!r}"
        raise ValueError(msg)
    if len(steps) == 1:
        (only,) = steps
        return lambda record: record.get(only) if isinstance(record, dict) else None

    def get(record: dict[str, Any]) -> Any:
        value: Any = record
        for step in steps:
            if isinstance(step, int):
                if not isinstance(value, list) or step >= len(value):
                    return None
                value = value[step]
            else:
                if not isinstance(value, dict):
                    return None
                value = value.get(step)
            if value is None:
                return None
        return value

    return get


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def compile_expression(expression: str) -> Getter:
    """A path, or a template when it holds ``{path}`` placeholders (result is text)."""
    if "{" not in expression:
        return compile_path(expression)
    parts: list[str | Getter] = []
    last = 0
    for match in _PLACEHOLDER.finditer(expression):
        parts.append(expression[last : match.start()])
        parts.append(compile_path(match.group(1).strip()))
        last = match.end()
    parts.append(expression[last:])

    def render(record: dict[str, Any]) -> str | None:
        filled = [part if isinstance(part, str) else _as_text(part(record)) for part in parts]
        if not any(not isinstance(p, str) and f for p, f in zip(parts, filled, strict=True)):
            return None  # every placeholder empty: the template says nothing
        text = " ".join("".join(filled).split())
        return text or None

    return render


def compile_alternatives(spec: str | Sequence[str] | None) -> Getter | None:
    """Compile one expression or a list of them; the result returns the first non-empty value."""
    if spec is None:
        return None
    expressions = [spec] if isinstance(spec, str) else list(spec)
    getters = [compile_expression(e) for e in expressions if e]
    if not getters:
        return None
    if len(getters) == 1:
        return getters[0]

    def first(record: dict[str, Any]) -> Any:
        for getter in getters:
            value = getter(record)
            if value not in (None, "", [], {}):
                return value
        return None

    return first
