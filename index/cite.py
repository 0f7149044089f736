"""How a place in a report is cited: by page for PDF and Word files ("s. 27"), by line for text files."""
from __future__ import annotations


def where(page_start: int | None, page_end: int | None, line_start: int | None, line_end: int | None = None
          ) -> str:
    """'s. 27', 's. 27–28', else 'rad 639' or 'rad 639–645'."""
    if page_start:
        return f"s. {page_start}" if page_end in (None, page_start) else f"s. {page_start}–{page_end}"
    if line_start is None:
        return ""
    return f"rad {line_start}" if line_end in (None, line_start) else f"rad {line_start}–{line_end}"


def at_line(pages: dict[int, int], line: int | None) -> str:
    """A single line (a flag's evidence, a suggestion's sentence) cited by its page when the report has pages."""
    if line is None:
        return ""
    page = pages.get(line)
    return f"s. {page}" if page else f"rad {line}"


PERIOD_NAMES = {"helår": "årsredovisning", "årsbokslut": "årsredovisning", "bokslut": "årsredovisning"}


def citation(report: dict, place: str) -> str:
    """A reference to paste into a text: 'Eskilstuna kommun, Vård- och omsorgsnämnden, uppföljning per augusti
    2023, s. 12 (eskilstuna-….pdf)'. Parts the store does not know are left out, never guessed."""
    kommun = report.get("kommun")
    period, year = report.get("period"), report.get("year")
    when = PERIOD_NAMES.get(str(period or "").lower()) or (f"uppföljning per {period}" if period else "uppföljning")
    parts = [f"{kommun} kommun" if kommun else None, report.get("namnd"),
             f"{when} {year}" if year else (when if period else None), place]
    return ", ".join(p for p in parts if p) + (f" ({report['doc']})" if report.get("doc") else "")
