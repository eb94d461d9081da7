"""Fixtures of the contract tests: Prism in front of a sandbox, the specs, the peer proxy.

Prism and the specs are inputs these tests cannot do without: missing, a test is skipped
locally with the command that provides it, and fails in CI (where ``make test`` installs
Prism), so a broken install step cannot pass as a green run that checked nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.contract.prism import PrismProxy, find_prism
from tests.contract.specs import find_spec

# the peer taps' HTTPS proxy (mitmproxy), for tap-zendesk
from tests.peers.conftest import mitmdump, proxy_factory  # noqa: F401


def missing(message: str) -> None:
    """Skip locally; fail in CI."""
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI installs it with `make contract`)")
    pytest.skip(message)


def spec_file(relative: Path) -> Path:
    """A vendor spec under ``../shared/specs`` (or ``$CONTRACT_SPECS_DIR``), or skip."""
    found = find_spec(relative)
    if found is None:
        missing(f"OpenAPI file {relative} not found (set CONTRACT_SPECS_DIR to ../shared/specs)")
    assert found is not None
    return found


PrismFactory = Callable[[Path, str], PrismProxy]


@pytest.fixture
def prism_factory(tmp_path: Path) -> Iterator[PrismFactory]:
    """Start Prism proxies ``(spec, upstream_url)``; all stopped when the test ends."""
    prism = find_prism()
    if prism is None:
        missing("Prism not installed: run `make contract` (npm @stoplight/prism-cli into .node/)")
    assert prism is not None
    started: list[PrismProxy] = []

    def start(spec: Path, upstream: str) -> PrismProxy:
        proxy = PrismProxy(prism, spec, upstream, tmp_path / f"prism{len(started)}.log")
        started.append(proxy)
        return proxy.start()

    yield start
    for proxy in started:
        proxy.stop()
