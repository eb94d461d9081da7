"""``report`` on two real runs with failures: every section filled, valid, seen in Chromium.

The runs (``two_runs`` in conftest) load into a CSM sandbox that is stopped before any report
is made, so the report is shown to need only the ledger and the dead-letter file. The HTML
is checked by the Nu Html Checker; Chromium renders it headless and the screenshot must not
be blank, band by band. Reports and screenshots are kept in ``output/test-artifacts/report``.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from target_atlassian_csm.ops.reportdata import SECTIONS
from tests.report.conftest import ARTIFACTS, Loaded, run_ops, screenshot, validate
from tests.report.htmlcheck import read
from tests.report.png import decode, luminance_stats

#: Tags a report may use: no script, no external resource, no form, no frame.
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "nav", "main", "section",
    "footer", "div", "p", "h1", "h2", "h3", "ul", "li", "a", "span", "b", "code", "table",
    "thead", "tbody", "tr", "th", "td", "details", "summary", "svg", "g", "line", "text",
    "polyline", "polygon", "rect", "circle",
}  # fmt: skip


def test_report_of_runs_with_failures_renders_in_chromium(two_runs: Loaded, chromium, vnu):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    latest = ARTIFACTS / "latest-run.html"
    every = ARTIFACTS / "all-runs.html"
    code, out = run_ops(two_runs.config_path, "report", "--output", str(latest))
    assert code == 0
    assert out.splitlines()[0] == str(latest)
    code, out = run_ops(two_runs.config_path, "report", "--all", "--output", str(every))
    assert code == 0
    assert out.splitlines()[-1].startswith("Report of all 2 runs: customers ")

    # Valid HTML (the Nu Html Checker: no error, no warning).
    assert validate(vnu, [latest, every]) == []

    for page in (latest, every):
        html = page.read_text()
        report = read(html)
        assert set(report.tags) <= ALLOWED_TAGS, set(report.tags) - ALLOWED_TAGS
        # Nothing is fetched when the file is opened: no link leaves the page.
        assert all(link.startswith("#") for link in report.links), report.links
        assert list(report.sections) == list(SECTIONS)
        for name, content in report.sections.items():
            assert content.empty_notes == 0, f"section {name} says it has nothing to show"
            assert content.rows or content.cards or content.charts, f"section {name} is empty"
        sections = report.sections
        # Totals to date: both runs, whatever the page is about.
        assert "Runs 2" in sections["totals"].joined
        # Dead letters grouped by reason, with the record's email as an example.
        dead = sections["dead-letters"].joined
        for reason in ("invalid email", "no email", "seats must be integer or null"):
            assert reason in dead
        assert "seats@example.com" in dead
        # Charts drawn: confirmed records and the allowed rate; the task histogram.
        assert sections["throughput"].shapes["polyline"] >= 2
        assert sections["tasks"].shapes["rect"] >= 1
        assert "Nps" in sections["fields"].joined  # the field the first run created
        assert "Tasks submitted" in sections["requests"].joined
        assert "create_missing_fields" in sections["settings"].joined
        assert sections["runs"].rows == 2
        assert "sandbox-token" not in html  # the credential is never shown

    every_report = read(every.read_text())
    assert "plan@example.com" in every_report.sections["dead-letters"].joined  # the warning
    assert "429 Too Many Requests 1" in every_report.sections["requests"].joined

    # Headless Chromium: a screenshot exists and is not blank, in every band of the page.
    for page in (latest, every):
        png = ARTIFACTS / f"{page.stem}.png"
        png.unlink(missing_ok=True)
        done = screenshot(chromium, page, png, two_runs.workdir / f"profile-{page.stem}")
        assert done.returncode == 0, done.stderr[-2000:]
        assert png.exists(), done.stderr[-2000:]
        image = decode(png)
        assert (image.width, image.height) == (1280, 2000)
        for top in range(0, 2000, 500):
            variance, colours = luminance_stats(image, top, top + 500)
            assert variance > 50, f"{png}: rows {top}-{top + 500} are blank"
            assert colours > 20, f"{png}: rows {top}-{top + 500} have {colours} colours"


def test_a_run_report_shows_its_own_dead_letters_and_where_the_others_went(two_runs: Loaded):
    first = two_runs.workdir / "run-1.html"
    code, out = run_ops(two_runs.config_path, "report", "--run", "1", "--output", str(first))
    assert code == 0
    assert "0 dead letters in 0 reasons (3 more failed again later, or landed)" in out
    report = read(first.read_text())
    assert report.title.startswith("CSM load report: Run #1 ")
    dead = report.sections["dead-letters"].joined
    # Its 3 failed or rejected records (and the warning) failed again in run 2, whose
    # entries replaced theirs (one current entry per record): the page says where they went.
    assert "seats@example.com" not in dead
    assert "3 records this run failed or rejected (3 in all) no longer have an entry" in dead
    assert "429 Too Many Requests 1" in report.sections["requests"].joined
    assert "Nps" in report.sections["fields"].joined


def test_the_default_report_is_the_latest_run_next_to_the_summary_owner_only(two_runs: Loaded):
    code, out = run_ops(two_runs.config_path, "report")
    assert code == 0
    path = Path(two_runs.config["summary_path"]).with_name("report.html")
    assert out.splitlines()[0] == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    summary = two_runs.results[1].summary
    report = read(path.read_text())
    assert report.title.startswith(f"CSM load report: Run #2 ({summary['run_id'][:8]})")
    # The second run updated the three changed records and left the rest unchanged.
    line = out.splitlines()[-1]
    assert "3 updated" in line
    assert f"{summary['entities']['customer']['unchanged']:,} unchanged" in line
    assert line.endswith(f"Written to {path}")
    # This run's dead letters: the records it failed again, and the warning.
    assert "4 dead letters in 4 reasons" in line


@pytest.mark.parametrize(
    ("spec", "why"),
    [("3", "is no run of this ledger"), ("zz", "is no run of this ledger")],
)
def test_an_unknown_run_exits_2_and_names_the_runs(two_runs: Loaded, spec, why, caplog):
    code, out = run_ops(two_runs.config_path, "report", "--run", spec, "--output", "/dev/null")
    assert code == 2
    assert out == ""
    assert why in caplog.text
    assert "#1 (" in caplog.text
    assert "#2 (" in caplog.text


def test_help_describes_the_command(capsys):
    from target_atlassian_csm.ops.cli import main

    with pytest.raises(SystemExit) as done:
        main(["report", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for option in ("--run RUN", "--all", "--output PATH", "owner only"):
        assert option in text


def test_settings_come_from_environment_variables_as_meltano_sets_them(
    two_runs: Loaded, monkeypatch, tmp_path
):
    # `meltano invoke target-atlassian-csm:report` passes the loader's settings as
    # TARGET_ATLASSIAN_CSM_* variables (no --config file): every value is text, numbers too.
    for name, value in two_runs.config.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        monkeypatch.setenv(f"TARGET_ATLASSIAN_CSM_{name.upper()}", text)
    monkeypatch.setenv("TARGET_ATLASSIAN_CSM_MAX_REQUESTS_PER_SECOND", "10")
    monkeypatch.setenv("TARGET_ATLASSIAN_CSM_MAX_FAILURE_RATE", "0.05")
    from target_atlassian_csm.ops.cli import main

    out = tmp_path / "from-env.html"
    assert main(["report", "--output", str(out)]) == 0
    assert "Run #2" in read(out.read_text()).title
