"""Serve a sandbox app on loopback in a background thread.

werkzeug's threaded server answers HTTP/1.1 with keep-alive, so a client's connection pool
is exercised as it would be against a real API, and its per-request log lines are silenced
(the journal is the record).
"""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from sandbox.core.app import SandboxApp


class _QuietHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"

    def log(self, type: str, message: str, *args: Any) -> None:
        """Drop werkzeug's access and error log lines."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Drop werkzeug's access log lines."""


class SandboxServer:
    """A running sandbox: ``url`` to call it, ``app`` to inspect it, ``stop()`` to end it."""

    def __init__(self, app: SandboxApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self._server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, request_handler=_QuietHandler
        )
        self._server.daemon_threads = True
        self.port: int = self._server.socket.getsockname()[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL of the server (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> SandboxServer:
        """Start serving in a daemon thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"sandbox-{self.app.name}-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted."""
        self._server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
