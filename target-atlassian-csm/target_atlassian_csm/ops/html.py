"""Small HTML building blocks for the reports: escaping, tables, cards, the page and its style.

A report is one self-contained file: the style sheet is inline, charts are inline SVG, and
nothing (no script, font, image or style sheet) is fetched when it is opened. Every value
that comes from data goes through :func:`esc`; the helpers take markup for their content.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape
from importlib import resources
from typing import Any

#: The style sheet, inlined into each page (a file beside this module, to be edited as CSS).
STYLE = resources.files(__package__).joinpath("report.css").read_text(encoding="utf-8")


def esc(value: Any) -> str:
    """Text for HTML (content or a quoted attribute)."""
    return escape("" if value is None else str(value), quote=True)


def num(value: float | None, digits: int = 0) -> str:
    """1,234 / 12.5 / an en dash for nothing."""
    if value is None:
        return "\u2013"
    if digits:
        return f"{value:,.{digits}f}"
    return f"{round(value):,}"


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 warning`` / ``3 warnings`` (``words``: an irregular plural)."""
    return f"{num(count)} {word if count == 1 else words or word + 's'}"


def when(epoch: float | None) -> str:
    """2026-12-02 07:36:18 UTC."""
    if not epoch:
        return "\u2013"
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float | None) -> str:
    """0.6 s / 4 min 05 s / 2 h 03 min."""
    if seconds is None:
        return "\u2013"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def el(tag: str, content: str = "", **attrs: Any) -> str:
    """An element; ``class_`` becomes ``class``; None and False attributes are left out."""
    parts = [tag]
    for name, value in attrs.items():
        if value is None or value is False:
            continue
        key = name.rstrip("_").replace("_", "-")
        parts.append(key if value is True else f'{key}="{esc(value)}"')
    return f"<{' '.join(parts)}>{content}</{tag}>"


def cell(value: str, *, numeric: bool = False, tone: str | None = None) -> str:
    """A table cell of markup."""
    classes = " ".join(c for c in ("n" if numeric else "", tone or "") if c)
    return el("td", value, class_=classes or None)


def count_cell(value: int, *, tone: str | None = None) -> str:
    """A numeric cell; zeros greyed, non-zero values in ``tone``."""
    return cell(num(value), numeric=True, tone=(tone if value else "zero"))


def table(
    head: Sequence[tuple[str, bool]],
    rows: Sequence[Sequence[str]],
    *,
    row_classes: Sequence[str | None] | None = None,
) -> str:
    """A table: ``head`` of (label, numeric), rows of cell markup, optional classes per row."""
    header = "".join(
        el("th", esc(label), scope="col", class_="n" if numeric else None)
        for label, numeric in head
    )
    classes = list(row_classes or [])
    body = "".join(
        el("tr", "".join(cells), class_=classes[i] if i < len(classes) else None)
        for i, cells in enumerate(rows)
    )
    return el(
        "div",
        el("table", el("thead", el("tr", header)) + el("tbody", body)),
        class_="table-wrap",
    )


def cards(items: Sequence[tuple[str, str, str | None, str | None]]) -> str:
    """Cards of (label, value markup, note, tone: ok | warn | bad | None)."""
    out = []
    for label, value, note, tone in items:
        inner = el("div", esc(label), class_="k") + el("div", value, class_="v")
        if note:
            inner += el("div", esc(note), class_="note")
        out.append(el("div", inner, class_=f"card {tone}" if tone else "card"))
    return el("div", "".join(out), class_="cards")


def badge(text: str, kind: str) -> str:
    """A small coloured label."""
    return el("span", esc(text), class_=f"badge {kind}")


def section(anchor: str, title: str, lead: str, body: str) -> str:
    """One panel of the report, with its heading and a sentence saying what it shows."""
    inner = el("h2", esc(title), id=f"{anchor}-title")
    if lead:
        inner += el("p", lead, class_="lead")
    return el("section", inner + body, id=anchor, class_="panel", aria_labelledby=f"{anchor}-title")


def empty(text: str) -> str:
    """What a section says when it has nothing to show."""
    return el("p", esc(text), class_="empty")


def page(title: str, header: str, nav: str, body: str, footer: str) -> str:
    """The whole document."""
    head = (
        '<meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="generator" content="target-atlassian-csm-ops report">'
        '<meta name="robots" content="noindex">'
        f"<title>{esc(title)}</title>"
        f"<style>{STYLE}</style>"
    )
    return (
        "<!DOCTYPE html>\n"
        + el(
            "html",
            el("head", head) + el("body", header + nav + el("main", body, class_="wrap") + footer),
            lang="en",
        )
        + "\n"
    )
