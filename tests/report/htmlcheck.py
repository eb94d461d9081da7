"""Read a report back: what each section holds, the tags used, the text a person sees."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class SectionContent:
    """What one ``<section id=...>`` holds."""

    empty_notes: int = 0  # elements of class "empty": "nothing to show"
    rows: int = 0  # table body rows
    cards: int = 0
    charts: int = 0  # <svg class="chart">
    shapes: Counter[str] = field(default_factory=Counter)  # polyline, rect, circle... in charts
    text: list[str] = field(default_factory=list)
    widths: list[int] = field(default_factory=list)  # cells per table row (head rows too)

    @property
    def joined(self) -> str:
        return " ".join(" ".join(self.text).split())


class ReportReader(HTMLParser):
    """Collects tags, text and per-section content of a report."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: Counter[str] = Counter()
        self.sections: dict[str, SectionContent] = {}
        self.text: list[str] = []
        self.title = ""
        self._current: SectionContent | None = None
        self._in_title = False
        self._in_tbody = False
        self._svg_depth = 0
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        values = dict(attrs)
        classes = (values.get("class") or "").split()
        for name in ("href", "src"):
            if values.get(name):
                self.links.append(str(values[name]))
        if tag == "title" and not self._svg_depth:
            self._in_title = True
        if tag == "section":
            self._current = self.sections.setdefault(str(values.get("id")), SectionContent())
        section = self._current
        if tag == "svg":
            self._svg_depth += 1
            if section is not None and "chart" in classes:
                section.charts += 1
        elif self._svg_depth and section is not None:
            section.shapes[tag] += 1
        if section is None:
            return
        if "empty" in classes:
            section.empty_notes += 1
        if "card" in classes:
            section.cards += 1
        if tag == "tbody":
            self._in_tbody = True
        if tag == "tr":
            section.widths.append(0)
            if self._in_tbody:
                section.rows += 1
        if tag in ("td", "th") and section.widths:
            section.widths[-1] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self._current = None
        elif tag == "svg":
            self._svg_depth -= 1
        elif tag == "tbody":
            self._in_tbody = False
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        self.text.append(data)
        if self._current is not None:
            self._current.text.append(data)

    @property
    def joined(self) -> str:
        return " ".join(" ".join(self.text).split())


def read(html: str) -> ReportReader:
    reader = ReportReader()
    reader.feed(html)
    reader.close()
    return reader
