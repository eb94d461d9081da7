"""Run unmodified taps against the sandboxes: an HTTPS proxy that reroutes the real hosts.

A third-party tap hard-codes ``https://api.hubapi.com`` or ``https://{subdomain}.zendesk.com``.
Rather than patch it, start ``mitmdump`` (from mitmproxy, installed in its own virtualenv
because its dependencies clash with the dev venv's) with :mod:`sandbox.proxy.addon`, and run
the tap with :meth:`SandboxProxy.env`: ``HTTPS_PROXY`` sends its traffic to the proxy and
``REQUESTS_CA_BUNDLE`` / ``SSL_CERT_FILE`` make it trust the proxy's own CA, which mitmproxy
creates in a private ``confdir`` at first start. Taps that send prepared requests ignore
``REQUESTS_CA_BUNDLE``; for them ``trust/sitecustomize.py`` (on ``PYTHONPATH``) points
``certifi.where()`` at the same CA.

``mitmdump`` is found via ``$SANDBOX_MITMDUMP``, then ``<repo>/.venv-proxy/bin/mitmdump``,
then ``PATH``; :func:`find_mitmdump` returns None when it is absent so tests can skip.

    python -m sandbox.proxy --route '*.zendesk.com=http://127.0.0.1:8404'   # foreground
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

ADDON = Path(__file__).with_name("addon.py")
TRUST_DIR = Path(__file__).with_name("trust")
REPO_ROOT = Path(__file__).resolve().parents[3]
#: The port the ``sandbox`` environment of ``meltano.yml`` sends the peer taps' HTTPS to.
PROXY_PORT = 8480
#: The real hosts of the APIs and the sandbox each one goes to.
PUBLIC_HOSTS: dict[str, tuple[str, ...]] = {
    "hubspot": ("api.hubapi.com", "api.hubspot.com"),
    "kustomer": ("api.kustomerapp.com", "*.api.kustomerapp.com"),
    "zendesk": ("*.zendesk.com",),
}


def find_mitmdump() -> str | None:
    """The ``mitmdump`` to use, or None when mitmproxy is not installed anywhere we look."""
    configured = os.environ.get("SANDBOX_MITMDUMP")
    if configured:
        return configured if Path(configured).exists() else None
    local = REPO_ROOT / ".venv-proxy" / "bin" / "mitmdump"
    if local.exists():
        return str(local)
    return shutil.which("mitmdump")


def routes_for(sandbox_urls: dict[str, str]) -> dict[str, str]:
    """Routes for running sandboxes given as ``{api: url}`` (e.g. ``{"zendesk": url}``)."""
    routes: dict[str, str] = {}
    for api, url in sandbox_urls.items():
        for host in PUBLIC_HOSTS[api]:
            routes[host] = url.rstrip("/")
    return routes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SandboxProxy:
    """A ``mitmdump`` process routing public API hosts to sandboxes (a context manager)."""

    def __init__(
        self,
        routes: dict[str, str],
        *,
        mitmdump: str | None = None,
        confdir: str | Path | None = None,
        port: int | None = None,
        log_path: str | Path | None = None,
    ) -> None:
        found = mitmdump or find_mitmdump()
        if found is None:
            msg = (
                "mitmdump not found: install mitmproxy in .venv-proxy "
                '(python3 -m venv .venv-proxy && .venv-proxy/bin/pip install "mitmproxy>=11") '
                "or set SANDBOX_MITMDUMP"
            )
            raise FileNotFoundError(msg)
        self.mitmdump = found
        self.routes = dict(routes)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if confdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="sandbox-proxy-")
            confdir = self._tmp.name
        self.confdir = Path(confdir)
        self.confdir.mkdir(parents=True, exist_ok=True)
        self.port = port or _free_port()
        self.log_path = Path(log_path) if log_path else self.confdir / "mitmdump.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The proxy's URL, for ``HTTPS_PROXY``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ca_cert(self) -> Path:
        """The PEM of the proxy's CA, which clients must trust."""
        return self.confdir / "mitmproxy-ca-cert.pem"

    def env(self) -> dict[str, str]:
        """Environment variables that make a Python tap use the proxy and trust its CA."""
        ca = str(self.ca_cert)
        python_path = os.pathsep.join(
            p for p in (str(TRUST_DIR), os.environ.get("PYTHONPATH", "")) if p
        )
        return {
            # certifi redirect for taps that bypass REQUESTS_CA_BUNDLE (see trust/sitecustomize.py)
            "SANDBOX_PROXY_CA": ca,
            "PYTHONPATH": python_path,
            "HTTPS_PROXY": self.url,
            "https_proxy": self.url,
            "HTTP_PROXY": self.url,
            "http_proxy": self.url,
            "NO_PROXY": "",
            "no_proxy": "",
            "REQUESTS_CA_BUNDLE": ca,
            "SSL_CERT_FILE": ca,
            "CURL_CA_BUNDLE": ca,
        }

    def start(self, timeout: float = 30.0) -> SandboxProxy:
        """Start mitmdump and wait until it listens and its CA exists."""
        command = [
            self.mitmdump,
            "--listen-host",
            "127.0.0.1",
            "--listen-port",
            str(self.port),
            "--set",
            f"confdir={self.confdir}",
            # never contact the real hosts: no upstream certificate sniffing, lazy connects
            "--set",
            "upstream_cert=false",
            "--set",
            "connection_strategy=lazy",
            "--set",
            "flow_detail=1",
            "-s",
            str(ADDON),
            "--set",
            f"sandbox_routes={json.dumps(self.routes)}",
        ]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                msg = f"mitmdump exited with {self.process.returncode}: {self.log_tail()}"
                raise RuntimeError(msg)
            if self.ca_cert.exists() and self._listening():
                return self
            time.sleep(0.1)
        self.stop()
        msg = f"mitmdump did not start within {timeout}s: {self.log_tail()}"
        raise TimeoutError(msg)

    def _listening(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
            return True
        return False

    def log_tail(self, chars: int = 4000) -> str:
        """The end of mitmdump's output (one line per request with ``flow_detail=1``)."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop mitmdump (the process this object started) and remove a temporary confdir."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def cleanup(self) -> None:
        """Stop, then delete the temporary confdir (CA and log) if this object made it."""
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> SandboxProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()


def main(argv: list[str] | None = None) -> int:
    """Run the proxy in the foreground, printing the environment a tap needs."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.proxy", description=__doc__)
    parser.add_argument(
        "--route", action="append", default=[], help="host-pattern=http://127.0.0.1:PORT"
    )
    parser.add_argument(
        "--sandboxes",
        action="store_true",
        help="route hubspot, kustomer and zendesk to $SANDBOX_<API>_URL or their default ports",
    )
    parser.add_argument("--port", type=int, default=PROXY_PORT)
    parser.add_argument("--confdir", default=str(REPO_ROOT / ".csm" / "proxy"))
    args = parser.parse_args(argv)
    routes: dict[str, str] = {}
    if args.sandboxes:
        defaults = {"hubspot": 8402, "kustomer": 8403, "zendesk": 8404}
        routes.update(
            routes_for(
                {
                    api: os.environ.get(f"SANDBOX_{api.upper()}_URL", f"http://127.0.0.1:{port}")
                    for api, port in defaults.items()
                }
            )
        )
    for item in args.route:
        host, sep, origin = item.partition("=")
        if not sep:
            parser.error(f"expected host=origin, got {item!r}")
        routes[host] = origin
    Path(args.confdir).mkdir(parents=True, exist_ok=True)
    proxy = SandboxProxy(routes, confdir=args.confdir, port=args.port)
    proxy.start()
    for key, value in proxy.env().items():
        print(f"export {key}={value}")
    sys.stdout.flush()
    try:
        assert proxy.process is not None
        proxy.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        proxy.stop()
    return 0
