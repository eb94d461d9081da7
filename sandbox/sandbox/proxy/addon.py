"""mitmproxy addon: send the real APIs' hosts to the local sandboxes, refuse everything else.

Loaded by ``mitmdump -s addon.py --set sandbox_routes='{"api.hubapi.com": "http://127.0.0.1:8402",
"*.zendesk.com": "http://127.0.0.1:8404"}'``. It runs inside mitmproxy's own virtualenv, so it
imports nothing from this project: only mitmproxy and the standard library.

Why the details:

* the ``Host`` header keeps the real host name and ``X-Forwarded-Proto: https`` is added, so a
  sandbox that writes absolute URLs (Zendesk's ``next_page``, ``after_url``) writes the ones the
  tap expects, and a tap following them comes back through the proxy;
* a host with no route gets a 502 from the proxy itself: an unmodified tap under test must
  never reach the internet, and a missing route should fail loudly, not hang.
"""

from __future__ import annotations

import fnmatch
import json
from urllib.parse import urlsplit

from mitmproxy import ctx, http


class SandboxRoutes:
    """Rewrite requests for routed hosts to their sandbox origin."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, str, str, int]] = []

    def load(self, loader) -> None:  # noqa: ANN001 - mitmproxy's Loader
        """Declare the ``sandbox_routes`` option (JSON: host pattern -> http://host:port)."""
        loader.add_option(
            name="sandbox_routes",
            typespec=str,
            default="{}",
            help="JSON object: host or glob pattern -> sandbox origin (http://127.0.0.1:8404)",
        )

    def configure(self, updated: set[str]) -> None:
        """Parse the routes whenever the option changes."""
        if "sandbox_routes" not in updated:
            return
        routes = []
        for pattern, origin in json.loads(ctx.options.sandbox_routes).items():
            parts = urlsplit(origin)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            routes.append((pattern.lower(), parts.scheme or "http", parts.hostname or "", port))
        self.routes = routes

    def route_for(self, host: str) -> tuple[str, str, int] | None:
        """The first route whose pattern matches ``host``."""
        host = host.lower()
        for pattern, scheme, target_host, port in self.routes:
            if fnmatch.fnmatchcase(host, pattern):
                return scheme, target_host, port
        return None

    def request(self, flow: http.HTTPFlow) -> None:
        """Point the request at the sandbox, keeping the public Host header."""
        public_host = flow.request.pretty_host
        route = self.route_for(public_host)
        if route is None:
            flow.response = http.Response.make(
                502,
                json.dumps({"error": f"sandbox proxy: no route for host {public_host}"}),
                {"Content-Type": "application/json"},
            )
            return
        original_scheme = flow.request.scheme
        scheme, target_host, port = route
        flow.request.scheme = scheme
        flow.request.host = target_host
        flow.request.port = port
        flow.request.headers["Host"] = public_host
        flow.request.headers["X-Forwarded-Proto"] = original_scheme
        flow.request.headers["X-Forwarded-Host"] = public_host


addons = [SandboxRoutes()]
