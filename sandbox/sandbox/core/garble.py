"""Garbled answers: corrupt a successful response on purpose, to test readers of bad APIs.

Real APIs sometimes answer 200 with a body a client cannot use: cut short by a proxy, an
HTML error page from a gateway, nothing at all, or JSON of another shape. The knobs:

* ``garble_next``: a list of kinds served, in order, to the next successful (2xx) answers
  whose path matches ``garble_paths`` (a regex; empty matches every API path);
* ``garble_skip``: how many matching answers to let through first, so the trouble lands in
  the middle of a stream rather than on its first page.

Kinds: ``truncated`` (the first half of the body), ``not_json`` (an HTML page, 200),
``empty`` (no body, 200), ``wrong_shape`` (valid JSON with none of the expected keys).
"""

from __future__ import annotations

import re
import threading
from typing import Any

from werkzeug.wrappers import Response

GARBLE_KINDS = ("truncated", "not_json", "empty", "wrong_shape")
GARBLE_KNOBS: dict[str, Any] = {"garble_next": [], "garble_paths": "", "garble_skip": 0}


def check_kinds(kinds: Any) -> None:
    """Refuse an unknown kind when the knob is set, not when a request meets it."""
    unknown = [k for k in kinds if k not in GARBLE_KINDS]
    if unknown:
        msg = f"unknown garble kind(s) {unknown}; known: {list(GARBLE_KINDS)}"
        raise ValueError(msg)


class Garbler:
    """Applies the ``garble_*`` knobs to answers (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.injected: dict[str, int] = dict.fromkeys(GARBLE_KINDS, 0)

    def apply(self, knobs: dict[str, Any], path: str, response: Response) -> str | None:
        """Corrupt ``response`` in place when the knobs say so; return the kind, or None."""
        if not 200 <= response.status_code < 300 or not knobs.get("garble_next"):
            return None
        pattern = knobs.get("garble_paths") or ""
        if pattern and not re.search(pattern, path):
            return None
        with self._lock:
            script = knobs.get("garble_next") or []
            if not script:
                return None
            if int(knobs.get("garble_skip") or 0) > 0:
                knobs["garble_skip"] = int(knobs["garble_skip"]) - 1
                return None
            kind = str(script.pop(0))
            self.injected[kind] += 1
        body = response.get_data()
        if kind == "truncated":
            response.set_data(body[: len(body) // 2])
        elif kind == "not_json":
            response.set_data(b"<html><body><h1>502 Bad Gateway</h1></body></html>")
            response.mimetype = "text/html"
        elif kind == "empty":
            response.set_data(b"")
        else:
            response.set_data(b'{"unexpected":"shape"}')
        return kind
