"""Prism (npm's ``@stoplight/prism-cli``) in proxy mode: a validating proxy from an OpenAPI file.

Prism sits between a client and a sandbox, forwards every request, and checks the request and
the answer against the spec; what breaks it is logged by its validator (and sent back in an
``sl-violations`` header). :class:`PrismProxy` starts it on a free port (``--port 0``: Prism
prints the port it took), is ready when Prism says it listens (read from its output as it
comes, no sleeping), and after :meth:`PrismProxy.stop` reads the violations back, each with
the request it belongs to (the clients here send one request at a time).

Prism is installed by ``.ci/install-contract`` into ``.node/`` (``make contract``).
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

REPO = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"Prism is listening on (http://\S+)")
RECEIVED = re.compile(r"\[HTTP SERVER\] (\w+) (\S+) .*Request received")
FORWARDING = re.compile(r'Forwarding "(\w+)" request to (\S+?)(?:\.\.\.)?$')
VIOLATION = re.compile(r"\[VALIDATOR\]\s+\S+\s+(error|warning)\s+Violation: (\S+) (.*)$")


def find_prism() -> Path | None:
    """``$PRISM_BIN``, else the one ``make contract`` installs in ``.node/``."""
    configured = os.environ.get("PRISM_BIN")
    path = Path(configured) if configured else REPO / ".node" / "node_modules" / ".bin" / "prism"
    return path if path.exists() else None


@dataclass(frozen=True)
class Violation:
    """One breach of the spec, as Prism's validator reported it."""

    method: str
    target: str  # the path and query forwarded
    severity: str  # "error" | "warning"
    where: str  # request.body..., response.body..., request, response
    message: str

    @property
    def path(self) -> str:
        """The path, without the query."""
        return self.target.split("?", 1)[0]

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.target}: [{self.severity}] {self.where} {self.message}"


class PrismProxy:
    """``prism proxy <spec> <upstream>`` on a free port (a context manager)."""

    def __init__(self, prism: Path, spec: Path, upstream: str, log_path: Path) -> None:
        self.command = [
            str(prism),
            "proxy",
            str(spec),
            upstream.rstrip("/"),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ]
        self.log_path = log_path
        self.lines: list[str] = []
        self.url: str | None = None
        self._ready = threading.Event()
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def start(self, timeout: float = 300.0) -> PrismProxy:
        """Start Prism and wait until it listens (it parses the spec first: seconds)."""
        self._process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"},
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(timeout) or self.url is None:
            self.stop()
            msg = f"Prism did not start listening within {timeout:.0f} s:\n{self.tail()}"
            raise RuntimeError(msg)
        return self

    def _read(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        with self.log_path.open("w") as log:
            for raw in self._process.stdout:
                line = raw.rstrip("\n")
                self.lines.append(line)
                log.write(line + "\n")
                found = LISTENING.search(line) if self.url is None else None
                if found:
                    self.url = found.group(1)
                    self._ready.set()
        self._ready.set()  # Prism exited: whoever waits stops waiting

    def tail(self, count: int = 40) -> str:
        """The end of Prism's output."""
        return "\n".join(self.lines[-count:])

    def stop(self) -> None:
        """Stop Prism (the process this object started) and read its output to the end."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
        if self._reader is not None:
            self._reader.join(30)

    def violations(self) -> list[Violation]:
        """Every violation logged, with the request it was found in."""
        out: list[Violation] = []
        method, target = "?", "?"
        for line in self.lines:
            if found := RECEIVED.search(line):
                method, target = found.group(1), found.group(2)
            elif found := FORWARDING.search(line):
                url = found.group(2)
                target = "/" + url.split("/", 3)[3] if url.count("/") >= 3 else url
            elif found := VIOLATION.search(line):
                severity, where, message = found.groups()
                out.append(Violation(method, target, severity, where, message.strip()))
        return out

    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every request Prism received."""
        return [(m.group(1), m.group(2)) for line in self.lines if (m := RECEIVED.search(line))]

    def __enter__(self) -> PrismProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
