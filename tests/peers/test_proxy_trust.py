"""The proxy's trust shim and ``sandbox run --proxy``'s guard: fast, no mitmproxy needed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.cli import main
from sandbox.proxy import TRUST_DIR

WHERE = "import certifi; print(certifi.where())"


def _where(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", WHERE],
        env={**os.environ, "PYTHONPATH": str(TRUST_DIR), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_trust_shim_points_certifi_at_the_proxy_ca(tmp_path: Path) -> None:
    """SANDBOX_PROXY_CA set (relative, as in meltano.yml): certifi returns its absolute path."""
    (tmp_path / "ca.pem").write_text("pem")
    done = subprocess.run(
        [sys.executable, "-c", WHERE],
        env={**os.environ, "PYTHONPATH": str(TRUST_DIR), "SANDBOX_PROXY_CA": "ca.pem"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == str(tmp_path / "ca.pem")


def test_trust_shim_does_nothing_without_the_variable() -> None:
    """A real run (no SANDBOX_PROXY_CA, or a missing file) keeps certifi's own bundle."""
    assert _where({}).endswith("cacert.pem")
    assert _where({"SANDBOX_PROXY_CA": "/nonexistent/ca.pem"}).endswith("cacert.pem")


def test_the_pth_file_imports_the_shim() -> None:
    """The installable form (pip_url of the HubSpot peers) runs the same module at start-up."""
    assert (TRUST_DIR / "sandbox_proxy_trust.pth").read_text().strip() == (
        "import sandbox_proxy_trust"
    )
    assert '"sandbox_proxy_trust.pth"' in (TRUST_DIR / "pyproject.toml").read_text()


def test_sandbox_run_proxy_stops_before_the_command_without_mitmdump(tmp_path, monkeypatch):
    """No mitmproxy: say how to install it rather than let the taps fail on TLS later."""
    monkeypatch.setenv("SANDBOX_MITMDUMP", str(tmp_path / "missing-mitmdump"))
    marker = tmp_path / "ran"
    with pytest.raises(SystemExit, match="mitmdump not found"):
        main(["run", "--api", "zendesk", "--free-ports", "--proxy", "--", "touch", str(marker)])
    assert not marker.exists()
