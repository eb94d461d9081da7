"""Helpers to run the operations commands in-process against a target's settings."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path
from typing import Any

from target_atlassian_csm.ops.cli import main


def run_ops(config: dict[str, Any], *args: str, stdin: str | None = None) -> tuple[int, str]:
    """Run ``target-atlassian-csm-ops --config <file> <args>``; return (exit status, stdout)."""
    path = Path(config["ledger_path"]).with_name("ops-config.json")
    path.write_text(json.dumps(config))
    out = io.StringIO()
    old_stdin = sys.stdin
    try:
        if stdin is not None:
            sys.stdin = io.StringIO(stdin)
        with contextlib.redirect_stdout(out):
            code = main(["--config", str(path), *args])
    finally:
        sys.stdin = old_stdin
    return code, out.getvalue()


def customer_fetch_requests(sandbox: Any) -> list[dict[str, Any]]:
    """The customer/profile/fetch requests the sandbox received."""
    return [r for r in sandbox.requests() if r["path"].endswith("/customer/profile/fetch")]


def writes(sandbox: Any) -> list[dict[str, Any]]:
    """Requests that can change a CSM site (bulk submits, field creation, deletes)."""
    return [
        r
        for r in sandbox.requests()
        if r["method"] in ("DELETE", "PUT", "PATCH")
        or (r["method"] == "POST" and ("/bulk" in r["path"] or r["path"].endswith("/details")))
    ]
