"""No poison record: any text a tap can send ends well, and never stops the run.

Generated inputs mix good records with values of any Unicode (lone UTF-16 surrogates
included, as a tap's ``\\ud800`` JSON escape makes them), lines that are not UTF-8, a
byte-order mark, ``null`` and blank lines. Every good record lands; a lone surrogate is
replaced by U+FFFD with a warning naming the field; every other bad line is dead-lettered
with its line number; the run ends with status 0 and the tap's last STATE.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from target_atlassian_csm.target import TargetAtlassianCSM
from tests.target.conftest import (
    CUSTOMER_PROPS,
    record_msg,
    schema_msg,
    started_csm,
    state_msg,
    target_config,
)

SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
ANY_TEXT = st.text(st.one_of(st.characters(), SURROGATES), max_size=30)


def run_bytes(config: dict, data: bytes) -> tuple[int, list[dict], list[dict], dict]:
    """Run the target over raw bytes, decoded as its standard input is."""
    out = io.StringIO()
    code = 0
    stream = io.TextIOWrapper(
        io.BytesIO(data), encoding="utf-8", errors="surrogateescape", newline="\n"
    )
    with contextlib.redirect_stdout(out):
        target = TargetAtlassianCSM(config=config)
        try:
            target.listen(stream)
        except SystemExit as exc:
            code = int(exc.code or 0)
    states = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    dead_path = Path(config["dead_letter_path"])
    dead = [json.loads(x) for x in dead_path.read_text().splitlines()] if dead_path.exists() else []
    summary = json.loads(Path(config["summary_path"]).read_text())
    return code, states, dead, summary


def encoded(message: dict) -> bytes:
    return (json.dumps(message) + "\n").encode()  # ensure_ascii: surrogates as \ud800 escapes


@st.composite
def inputs(draw):
    """(bytes, good emails, emails with repaired values, line numbers of broken lines)."""
    lines = [b"\xef\xbb\xbf" + encoded(schema_msg("customers", CUSTOMER_PROPS))]
    good, repaired, broken = [], [], []
    for n in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["good", "unicode", "not-utf8", "null", "blank"]))
        email = f"u{n}@x.io"
        if kind in ("good", "unicode"):
            region = draw(ANY_TEXT) if kind == "unicode" else None
            first = draw(ANY_TEXT) if kind == "unicode" else "Ann"
            record = {"id": str(n), "email": email, "first_name": first, "last_name": region}
            lines.append(encoded(record_msg("customers", record)))
            has_surrogate = any(0xD800 <= ord(c) <= 0xDFFF for c in f"{first}{region or ''}")
            (repaired if has_surrogate else good).append(email)
        elif kind == "not-utf8":
            raw = draw(st.binary(min_size=1, max_size=20).filter(_not_utf8))
            lines.append(
                b'{"type": "RECORD", "stream": "customers", "record": {"email": "' + raw + b'"}}\n'
            )
            broken.append(len(lines))
        elif kind == "null":
            lines.append(b"null\n")
            broken.append(len(lines))
        else:
            lines.append(b"\n")
    lines.append(encoded(state_msg({"bookmarks": {"done": True}})))
    return b"".join(lines), good, repaired, broken


def _not_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return b"\n" not in raw
    return False


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs())
def test_no_line_or_value_stops_the_run(case):
    data, good, repaired, broken = case
    with started_csm() as csm, tempfile.TemporaryDirectory() as tmp:
        config = target_config(csm, Path(tmp), batch_max_wait_seconds=0.05)
        code, states, dead, summary = run_bytes(config, data)
        assert code == 0
        assert states[-1] == {"bookmarks": {"done": True}}
        held = {c["email"]: c for c in csm.state()["customers"]}
        assert set(held) == set(good) | set(repaired)
        for email in repaired:
            shown = held[email]["displayName"] + json.dumps(held[email]["details"])
            assert not any(0xD800 <= ord(c) <= 0xDFFF for c in shown)
            warning = next(d for d in dead if d["identity"] == email)
            assert warning["severity"] == "warning"
            assert "U+FFFD" in warning["reason"]
        errors = sorted(d["line"] for d in dead if d["severity"] == "error")
        assert errors == sorted(broken)
        assert summary["entities"]["customer"]["created"] == len(good) + len(repaired)


def test_through_standard_input_as_meltano_runs_it(csm, tmp_path):
    """The real process, its real stdin: undecodable bytes and a BOM never stop it."""
    # Numbers with decimals, as Meltano writes them (the SDK reads them as Decimal).
    config = target_config(csm, tmp_path, max_failure_rate=0.05, max_requests_per_second=50.5)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    data = b"".join(
        [
            b"\xef\xbb\xbf" + encoded(schema_msg("customers", CUSTOMER_PROPS)),
            encoded(record_msg("customers", {"id": "1", "email": "a@x.io", "last_name": "\ud800"})),
            b'{"type": "RECORD", "stream": "customers", "record": {"email": "\xff\xfe@x.io"}}\n',
            encoded(record_msg("customers", {"id": "3", "email": "c@x.io"})),
            encoded(state_msg({"bookmarks": {"n": 3}})),
        ]
    )
    proc = subprocess.run(
        [sys.executable, "-m", "target_atlassian_csm", "--config", str(config_path)],
        input=data,
        capture_output=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    assert json.loads(proc.stdout.decode().splitlines()[-1]) == {"bookmarks": {"n": 3}}
    assert {c["email"] for c in csm.state()["customers"]} == {"a@x.io", "c@x.io"}
    dead = [json.loads(x) for x in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert [(d["severity"], d["line"]) for d in dead if d["severity"] == "error"] == [("error", 3)]
    assert "not UTF-8" in next(d["reason"] for d in dead if d["severity"] == "error")
