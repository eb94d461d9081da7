"""The report's pure parts: run selection, the numbers it derives, grouping, charts, escaping.

Outside data (dead-letter reasons, identities, settings, run ids) reaches the page as text:
hypothesis feeds it anything and the page must show it as text, never as markup.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from target_atlassian_csm.ops import charts
from target_atlassian_csm.ops.report import summary_line
from target_atlassian_csm.ops.report_flow import short_help
from target_atlassian_csm.ops.report_page import render
from target_atlassian_csm.ops.reportdata import (
    SECTIONS,
    ReportData,
    Run,
    RunNotFound,
    allowed_curve,
    field_decisions,
    finished_runs,
    group_dead_letters,
    of_runs,
    rate_curve,
    reason_group,
    select_run,
    timeline,
)
from tests.report.htmlcheck import read
from tests.report.test_report_command import ALLOWED_TAGS

IDS = ["3f2a9c0d" + "0" * 24, "a1b2c3d4" + "1" * 24, "a1b2ffff" + "2" * 24]


def runs(n: int = 3) -> list[Run]:
    rows = [
        {"run_id": IDS[i], "started_at": 1000.0 + 100 * i, "finished_at": 1050.0 + 100 * i,
         "summary": {"elapsed_seconds": 50.0}}
        for i in range(n)
    ]  # fmt: skip
    return finished_runs(rows)


# ---------------------------------------------------------------------------- runs
def test_finished_runs_leave_out_runs_without_a_summary_and_excluded_ids():
    rows = [
        {"run_id": "b", "started_at": 2.0, "finished_at": 3.0, "summary": {"x": 1}},
        {"run_id": "ops", "started_at": 9.0, "finished_at": None, "summary": None},
        {"run_id": "killed", "started_at": 4.0, "finished_at": None, "summary": None},
        {"run_id": "a", "started_at": 1.0, "finished_at": 2.0, "summary": {"x": 0}},
        {"run_id": "mine", "started_at": 5.0, "finished_at": 6.0, "summary": {"x": 2}},
    ]
    found = finished_runs(rows, exclude=["mine"])
    assert [(r.number, r.run_id) for r in found] == [(1, "a"), (2, "b")]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, 2),
        ("latest", 2),
        ("1", 0),
        ("#2", 1),
        (" 3 ", 2),
        (IDS[1], 1),
        (IDS[0][:4], 0),  # "3f2a": a start of an id (not all digits)
        (IDS[2][:6].upper(), 2),
    ],
)
def test_select_run_by_number_id_or_start_of_id(spec, expected):
    assert select_run(runs(), spec) == runs()[expected]


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("4", "is no run"),  # a number past the last run
        ("3f2", "is no run"),  # too short to be a start of an id
        ("a1b2", "matches several runs"),
        ("zzzz", "is no run"),
        ("0", "is no run"),
    ],
)
def test_select_run_refuses_what_names_no_single_run(spec, why):
    with pytest.raises(RunNotFound, match=why):
        select_run(runs(), spec)


def test_a_number_is_never_taken_for_the_start_of_an_id():
    only = finished_runs(
        [{"run_id": "3" + "0" * 31, "started_at": 1.0, "finished_at": 2.0, "summary": {}}]
    )
    with pytest.raises(RunNotFound):
        select_run(only, "3")
    assert select_run(only, "1") == only[0]


def test_no_run_yet():
    with pytest.raises(RunNotFound, match="no finished run yet"):
        select_run([], None)


# ------------------------------------------------------------------------ timeline
def test_allowed_curve_integrates_the_allowed_rate():
    points = timeline({"timeline": [[1.0, 5, None], [2.0, 30, 10.0], [4.0, 60, 20.0]]})
    assert allowed_curve(points) == [(0.0, 0.0), (1.0, 0.0), (2.0, 10.0), (4.0, 50.0)]
    assert rate_curve(points) == [(0.0, 5.0), (1.0, 5.0), (1.0, 25.0), (2.0, 25.0),
                                  (2.0, 15.0), (4.0, 15.0)]  # fmt: skip


timelines = st.lists(
    st.tuples(
        st.floats(0, 1e5, allow_nan=False),
        st.integers(0, 10**7),
        st.none() | st.floats(-5, 1e5, allow_nan=False),
    ),
    max_size=40,
)


@given(timelines)
def test_curves_are_well_formed_whatever_the_samples(samples):
    points = timeline({"timeline": [list(p) for p in samples]})
    allowed = allowed_curve(points)
    assert all(b[1] >= a[1] for a, b in itertools.pairwise(allowed))
    assert all(y >= 0 and math.isfinite(y) for _, y in rate_curve(points))
    assert [p[0] for p in points] == sorted(p[0] for p in points)


def test_timeline_ignores_what_is_not_a_sample():
    raw = {"timeline": [[1, 2, 3], "x", [None, 1], [2, "a"], [3, 4, float("nan")], [4]]}
    assert timeline(raw) == [(1.0, 2, 3.0), (3.0, 4, None)]


# ------------------------------------------------------------------------- charts
@given(st.floats(1e-6, 1e12, allow_nan=False), st.integers(2, 10))
def test_ticks_start_at_zero_cover_the_top_and_are_evenly_spaced(top, count):
    found = charts.ticks(top, count)
    assert found[0] == 0
    assert found[-1] >= top * (1 - 1e-9)
    assert 2 <= len(found) <= 2 * count + 2
    assert all(math.isclose(b - a, found[1], rel_tol=1e-6) for a, b in itertools.pairwise(found))


@given(st.floats(0, 10**6, allow_nan=False))
def test_time_ticks_fall_on_round_times(top):
    found = charts.time_ticks(top)
    assert found[-1] >= top
    if top > 5:
        assert all(t == int(t) for t in found)
        assert len(found) <= 8


@pytest.mark.parametrize(
    ("seconds", "label"), [(0, "0 s"), (45, "45 s"), (150, "2:30"), (3900, "1:05:00")]
)
def test_time_labels(seconds, label):
    assert charts.time_label(seconds) == label


@given(st.dictionaries(st.sampled_from(["customer", "organization", "definitions"]),
                       st.lists(st.floats(0, 1e4, allow_nan=False), max_size=50)))  # fmt: skip
def test_histogram_counts_every_task_once(groups):
    svg = charts.histogram(groups, {}, label="t", x_label="x", y_label="y")
    drawn = sum(int(t.split(" task(s)")[0].rsplit(": ", 1)[1]) for t in svg.split("<title>")[2:])
    assert drawn == sum(len(v) for v in groups.values())


# ------------------------------------------------------------------- dead letters
@pytest.mark.parametrize(
    ("reason", "group"),
    [
        ("invalid email 'x@'", "invalid email"),
        ("no email: CSM creates customers only with an email",
         "no email: CSM creates customers only with an email"),
        ("loaded without a field: 'Platinum' is not an option of SELECT field 'Plan' "
         "(options: Free, Standard)",
         "loaded without a field: value is not an option of SELECT field 'Plan'"),
        ("record does not match the stream's schema: Record Message Validation Error: seats "
         "must be integer or null (got 'many')",
         "record does not match the stream's schema: Record Message Validation Error: seats "
         "must be integer or null"),
    ],
)  # fmt: skip
def test_reason_groups_leave_out_the_offending_value(reason, group):
    assert reason_group(reason) == group


def test_dead_letters_group_by_reason_without_the_offending_value():
    entries = [
        {"category": "rejected", "reason": "invalid email 'a@'", "identity": "a@", "entity": "c"},
        {"category": "rejected", "reason": "invalid email 'b'", "identity": "b", "entity": "c"},
        {"category": "failed", "reason": "seats must be integer or null (got 'many')"},
        {"category": "failed", "reason": "seats must be integer or null (got 'lots')"},
        {"severity": "warning", "reason": "x"},
    ]
    view = group_dead_letters(entries, examples=1)
    assert [(g.reason, g.count) for g in view.groups] == [
        ("invalid email", 2),
        ("seats must be integer or null", 2),
        ("x", 1),
    ]
    assert view.groups[0].examples == [
        {"identity": "a@", "stream": None, "source_id": None, "reason": "invalid email 'a@'",
         "at": None}
    ]  # fmt: skip
    assert view.categories == {"rejected": 2, "failed": 2, "warning": 1}


entries_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "category": st.sampled_from(["failed", "rejected", "warning"]),
            "reason": st.sampled_from(["a", "b 'x'", "c (got 1)", "d", "e", ""]),
            "identity": st.sampled_from([None, "a@example.com", "B@example.com", "Org 1"]),
        }
    ),
    max_size=60,
)


@given(entries_strategy, st.integers(1, 4), st.integers(1, 5))
def test_grouping_keeps_every_entry_counted(entries, examples, max_reasons):
    view = group_dead_letters(entries, examples=examples, max_reasons=max_reasons)
    assert view.total == len(entries)
    assert sum(g.count for g in view.groups) + view.other_entries == len(entries)
    assert len(view.groups) <= max_reasons
    assert all(len(g.examples) <= examples for g in view.groups)
    assert [g.count for g in view.groups] == sorted((g.count for g in view.groups), reverse=True)


def test_entries_of_a_run_are_those_written_while_it_ran():
    run = finished_runs([{"run_id": "r", "started_at": 1_700_000_000.0,
                          "finished_at": 1_700_000_010.0, "summary": {}}])  # fmt: skip
    entries = [
        {"at": "2023-11-14T22:13:19.000+00:00"},  # before
        {"at": "2023-11-14T22:13:25.500+00:00"},  # during
        {"at": "2023-11-14T22:13:31.000+00:00"},  # after
        {"at": "not a time"},
        {},
    ]
    assert list(of_runs(entries, run)) == [entries[1]]


# ------------------------------------------------------------------------ the page
def summary(**changes: Any) -> dict[str, Any]:
    base = {
        "run_id": IDS[0],
        "elapsed_seconds": 12.5,
        "entities": {
            "customer": {
                "received": 10,
                "created": 6,
                "updated": 1,
                "unchanged": 1,
                "rejected": 1,
                "failed": 1,
            },
            "organization": {"received": 2, "created": 2},
        },
        "warnings": 1,
        "tasks": {"submitted": 2},
        "requests": {"submits": 2, "polls": 3, "throttled_429": 1},
        "fields_created": {"customer": 1},
        "settings": {"cloud_id": "site", "mapping_preset": "generic"},
        "timeline": [[1.0, 4, 5.0], [2.0, 9, 5.0]],
        "task_seconds": {"customer": [0.5, 1.5], "organization": [0.2]},
        "provisioning": {
            "fields": [
                {
                    "entity": "customer",
                    "name": "Nps",
                    "csm_type": "NUMBER",
                    "options": 0,
                    "source": "schema:c.nps",
                    "action": "create",
                    "note": "",
                }
            ]
        },
    }
    base.update(changes)
    return base


def page_data(one: dict[str, Any], entries: list[dict[str, Any]], scope: str = "run"):
    found = finished_runs(
        [
            {
                "run_id": one.get("run_id") or IDS[0],
                "started_at": 1.7e9,
                "finished_at": 1.7e9 + 13,
                "summary": one,
            }
        ]
    )
    view = group_dead_letters(entries)
    return ReportData(
        runs=found,
        selected=found,
        scope=scope,
        dead_letters=view,
        current_dead_letters=view,
        ledger_counts={"customer": {"confirmed": 8}},
        site={"cloud_id": "site", "base_url": "https://api.atlassian.com"},
    )


safe_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("<>&\"'/="),
    min_size=1,
    max_size=40,
).filter(lambda t: " ".join(t.split()) == t)


@settings(max_examples=60, deadline=None)
@given(safe_text, safe_text, safe_text)
def test_outside_text_is_shown_as_text_never_as_markup(reason, identity, value):
    one = summary(settings={"cloud_id": value, "mapping_preset": value})
    entries = [{"category": "failed", "reason": reason, "identity": identity, "stream": value,
                "source_id": value, "entity": "customer"}]  # fmt: skip
    for scope in ("run", "all"):
        report = read(render(page_data(one, entries, scope)))
        assert set(report.tags) <= ALLOWED_TAGS
        dead = report.sections["dead-letters"].joined
        assert identity in dead
        assert reason in dead
        assert value in report.sections["settings"].joined


def test_secrets_are_never_shown_even_if_a_summary_held_them():
    one = summary(settings={"cloud_id": "site", "access_token": "tok-123", "api_token": "t-9",
                            "client_secret": "s-1", "password": "p-2"})  # fmt: skip
    html = render(page_data(one, []))
    for secret in ("tok-123", "t-9", "s-1", "p-2", "access_token"):
        assert secret not in html


def test_every_section_is_there_and_says_when_it_has_nothing():
    bare = {"run_id": IDS[0], "elapsed_seconds": 0.1, "entities": {}}
    report = read(render(page_data(bare, [])))
    assert list(report.sections) == list(SECTIONS)
    for name in ("dead-letters", "throughput", "tasks", "fields", "requests", "settings"):
        assert report.sections[name].empty_notes == 1, name
    full = read(render(page_data(summary(), [{"category": "failed", "reason": "r"}])))
    assert all(content.empty_notes == 0 for content in full.sections.values())


def test_summary_line_says_what_the_report_shows(tmp_path):
    entries = [{"category": "failed", "reason": "r"}, {"category": "rejected", "reason": "s"}]
    line = summary_line(page_data(summary(), entries), tmp_path / "r.html")
    assert line == (
        f"Report of run #1 ({IDS[0][:8]}): customers 6 created, 1 updated, 1 unchanged, "
        "1 rejected, 1 failed; organizations 2 created; 2 dead letters in 2 reasons; "
        f"429 answers: 1. Written to {tmp_path / 'r.html'}"
    )
    # One of the run's two failures has no entry left: the line says where it went.
    line = summary_line(page_data(summary(), entries[:1]), tmp_path / "r.html")
    assert "1 dead letter in 1 reason (1 more failed again later, or landed);" in line


def test_short_help_keeps_the_first_sentence():
    assert (
        short_help("Customers per request (1-100). More text.") == "Customers per request (1-100)"
    )
    cut = short_help("word " * 60)
    assert cut.endswith("\u2026")
    assert len(cut) <= 111


def test_a_field_decided_in_every_run_is_listed_once():
    decision = {"entity": "customer", "name": "Plan", "action": "reuse"}
    created = {"entity": "customer", "name": "Nps", "action": "create"}
    found = finished_runs(
        [
            {"run_id": IDS[i], "started_at": float(i), "finished_at": i + 0.5,
             "summary": {"provisioning": {"fields": [decision, *([created] if i == 1 else [])]}}}
            for i in range(3)
        ]
    )  # fmt: skip
    listed = field_decisions(found)
    assert [(d["name"], d["run"]) for d in listed] == [
        ("Plan", found[0].label),
        ("Nps", found[1].label),
    ]


def test_outcome_columns_line_up_whatever_counters_a_summary_holds():
    one = summary()
    one["entities"]["organization"]["flagged"] = 2  # a counter this report does not know
    report = read(render(page_data(one, [])))
    widths = report.sections["outcomes"].widths
    assert len(widths) == 3
    assert len(set(widths)) == 1
    assert "Flagged" in report.sections["outcomes"].joined


def test_a_rollback_run_says_which_run_it_undid():
    rows = [
        {"run_id": IDS[0], "started_at": 1.0, "finished_at": 2.0, "summary": summary()},
        {"run_id": IDS[1], "started_at": 3.0, "finished_at": 4.0,
         "summary": summary(run_id=IDS[1], settings={"rollback_of": IDS[0]})},
    ]  # fmt: skip
    found = finished_runs(rows)
    data = page_data(summary(), [])
    data = ReportData(**{**data.__dict__, "runs": found, "selected": found, "scope": "all"})
    history = read(render(data)).sections["runs"].joined
    assert f"#2 ({IDS[1][:8]}) rollback of #1 ({IDS[0][:8]})" in history
