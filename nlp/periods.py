"""Time phrases of Swedish follow-up reports resolved to date spans: "2024-03-15", "15 mars 2024", "mars",
"v. 34", "vecka 34 2024", "Q3 2024", "tredje kvartalet", "tertial 2", "första halvåret", "HT 2024", "VT-25",
"hösten 2024", "våren", "i början av 2025", "slutet av året", "under 2024".

Why not a date library: dateparser and its kind know Swedish month names but not the school terms, tertials,
quarters and week numbers that municipal reports plan by; and every phrase here must resolve to a *span* (a
deadline "under hösten" ends on the last day of autumn, a start "under hösten" begins on its first), which is what
the time detectors compare with the report's date.

A phrase without a year takes the year given (the report's year); without one it is left alone. A phrase that does
not name a real time ("v. 61", "Q7", "HT 20244", "kvartal 5") is never resolved: the detectors would otherwise flag a
parsing error. Seasons are taken wide, so a deadline is passed only when the whole season is and a start lies ahead
only when the whole season does; "vintern" straddles two years and is left alone.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

ABBREVIATIONS = {"jan": 1, "feb": 2, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "okt": 10,
                 "nov": 11, "dec": 12}  # only before a year ("aug 2024"): alone they are too often other words
MONTHS = {"januari": 1, "februari": 2, "mars": 3, "april": 4, "maj": 5, "juni": 6, "juli": 7, "augusti": 8,
          "september": 9, "oktober": 10, "november": 11, "december": 12}
ORDINALS = {"första": 1, "andra": 2, "tredje": 3, "fjärde": 4}
# (first month, first day), (last month) of the seasons and terms, taken wide (see the module text).
SEASONS = {"våren": ((2, 1), 6), "sommaren": ((6, 1), 8), "hösten": ((8, 1), 12)}
TERMS = {"vt": ((1, 1), 6), "ht": ((8, 1), 12), "vårterminen": ((1, 1), 6), "höstterminen": ((8, 1), 12)}

YEAR = r"(?P<year>20\d\d)(?!\d)"
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [(name, re.compile(p, re.I)) for name, p in (
    ("iso", r"\b(?P<y>20\d\d)-(?P<m>\d\d)-(?P<d>\d\d)\b"),
    ("day", r"\b(?P<d>\d{1,2})\s+(?P<month>" + "|".join(MONTHS) + r")(?:\s+" + YEAR + r")?\b"),
    ("week", r"(?<![\w.])(?:v\.?|vecka|veckorna)\s?(?P<week>\d{1,2})(?!\d)(?:\s*[-–]\s*(?P<week2>\d{1,2})(?!\d))?"
             r"(?:\s*(?:år\s+)?" + YEAR + r")?"),
    ("quarter", r"(?<!\w)(?:Q\s?(?P<q>[1-4])|kvartal\s(?P<q2>[1-4])|(?P<qo>första|andra|tredje|fjärde)\s+kvartalet)"
                r"(?!\d)(?:\s*[-/]?\s*(?:år\s+)?" + YEAR + r")?"),
    ("tertial", r"(?<!\w)(?:tertial\s(?P<t>[1-3])|(?P<to>första|andra|tredje)\s+tertialet)(?!\d)(?:\s+" + YEAR + r")?"),
    ("half", r"(?<!\w)(?P<h>första|andra)\s+halvåret(?:\s+" + YEAR + r")?"),
    ("term", r"(?<!\w)(?P<term>HT|VT|vårterminen|höstterminen)(?:\s?-?\s?(?:(?P<yy>\d\d)(?!\d)|" + YEAR + r"))?"),
    ("season", r"(?<!\w)(?P<season>våren|sommaren|hösten)(?:\s+" + YEAR + r")?"),
    ("part", r"(?<!\w)(?P<part>början|mitten|slutet)\s+av\s+(?:(?P<pmonth>" + "|".join(MONTHS) + r")\s*)?"
             r"(?:" + YEAR + r"|(?P<thisyear>året))?"),
    ("month", r"(?<!\w)(?P<month>" + "|".join(MONTHS) + r")(?:\s+" + YEAR + r")?\b"),
    ("abbr", r"(?<!\w)(?P<abbr>jan|feb|apr|jun|jul|aug|sept?|okt|nov|dec)\.?\s+" + YEAR),
    ("year", r"(?<!\w)(?:under|år|i|till|inför|efter|från)\s+" + YEAR),
)]


TRAILING_DIGITS = re.compile(r"\s?-?\s?\d")


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    text: str  # the phrase as written
    at: int  # where it starts in the text
    explicit_year: bool  # the phrase names its year (else the year given was used)


def month_end(year: int, month: int) -> date:
    return date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)


def find_periods(text: str, year: int | None = None) -> list[Period]:
    """Every time phrase in `text` resolved to a span, in order; overlapping phrases: the first, longest wins."""
    found: list[Period] = []
    taken: list[tuple[int, int]] = []
    for name, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            if any(m.start() < e and s < m.end() for s, e in taken) or TRAILING_DIGITS.match(text, m.end()):
                continue  # overlapping a phrase already read, or "HT 20244": a number that is no year
            try:
                span = _resolve(name, m, year)
            except ValueError:  # "30 februari 2024", "v. 61": not a time, and no shorter phrase inside it is
                taken.append((m.start(), m.end()))
                continue
            if span is None:
                continue
            explicit = bool(m.groupdict().get("year") or m.groupdict().get("yy") or m.groupdict().get("y"))
            found.append(Period(span[0], span[1], m.group(0).strip(), m.start(), explicit))
            taken.append((m.start(), m.end()))
    return sorted(found, key=lambda p: p.at)


def _year(m: re.Match[str], year: int | None) -> int | None:
    g = m.groupdict()
    if g.get("year"):
        return int(g["year"])
    if g.get("yy"):
        return 2000 + int(g["yy"])
    return year


def _resolve(name: str, m: re.Match[str], default_year: int | None) -> tuple[date, date] | None:
    """The span of one matched phrase; None without a year; ValueError when it names no real day or week."""
    y = _year(m, default_year)
    if name == "iso":
        d = date(int(m.group("y")), int(m.group("m")), int(m.group("d")))
        return d, d
    if y is None:
        return None
    if name == "day":
        d = date(y, MONTHS[m.group("month").lower()], int(m.group("d")))
        return d, d
    if name == "week":
        first, last = int(m.group("week")), int(m.group("week2") or m.group("week"))
        if last < first:
            return None
        return date.fromisocalendar(y, first, 1), date.fromisocalendar(y, last, 7)
    if name == "quarter":
        q = int(m.group("q") or m.group("q2") or ORDINALS[m.group("qo").lower()])
        return date(y, 3 * q - 2, 1), month_end(y, 3 * q)
    if name == "tertial":
        t = int(m.group("t") or ORDINALS[m.group("to").lower()])
        return date(y, 4 * t - 3, 1), month_end(y, 4 * t)
    if name == "half":
        h = ORDINALS[m.group("h").lower()]
        return date(y, 6 * h - 5, 1), month_end(y, 6 * h)
    if name in ("term", "season"):
        (first, day), last = (TERMS if name == "term" else SEASONS)[m.group(name).lower()]
        return date(y, first, day), month_end(y, last)
    if name == "part":
        return _part(m, y)
    if name in ("month", "abbr"):
        month = MONTHS[m.group("month").lower()] if name == "month" else ABBREVIATIONS[m.group("abbr").lower()]
        return date(y, month, 1), month_end(y, month)
    if name == "year":
        return date(y, 1, 1), date(y, 12, 31)
    return None


def _part(m: re.Match[str], y: int) -> tuple[date, date] | None:
    """'början av mars' (1–10 mars), 'slutet av 2024' (oktober–december), 'mitten av året' (maj–augusti)."""
    if not (m.group("pmonth") or m.group("year") or m.group("thisyear")):
        return None  # "i början av projektet": not a time
    part = m.group("part").lower()
    if m.group("pmonth"):
        month = MONTHS[m.group("pmonth").lower()]
        last = month_end(y, month).day
        days = {"början": (1, 10), "mitten": (10, 20), "slutet": (20, last)}[part]
        return date(y, month, days[0]), date(y, month, days[1])
    months = {"början": (1, 3), "mitten": (5, 8), "slutet": (10, 12)}[part]
    return date(y, months[0], 1), month_end(y, months[1])
