"""Detect kommun, nämnd, year, period and report date from a report's text and file name.

Detection is a best guess; corpus/manifest.csv and CLI flags override it (see `resolve_meta`).
"""
from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import fields, replace
from pathlib import Path

from records import Document, ReportMeta

MONTHS = ["januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober",
          "november", "december"]
HEAD_LINES = 250

KOMMUN_RE = re.compile(r"\b([A-ZÅÄÖ][a-zåäö]+(?:-[A-ZÅÄÖ][a-zåäö]+)?)\s+kommuns?\b")
NAMND_RE = re.compile(r"\b((?:[A-ZÅÄÖ][a-zåäö]+-\s?och\s[a-zåäö]+|[A-ZÅÄÖ][a-zåäö]*)nämnd(?:en)?)\b")
NAMND_LOWER_RE = re.compile(r"\btill ((?:[a-zåäö]+-\s?och\s)?[a-zåäö]+nämnden)\b")
DOMAIN_RE = re.compile(r"(?:@|www\.)([a-zåäö\-]+)\.se\b")
DATE_LABEL_RE = re.compile(r"(?:datum(?: för beslut)?|beslutsdatum|daterad)\s*:?\s*(\d{4}-\d{2}-\d{2})", re.I)
ISO_DATE_RE = re.compile(r"\b(20\d{2}|19\d{2})-(0[1-9]|1[0-2])-([0-2]\d|3[01])\b")
PERIOD_RE = re.compile(r"\b(?:per|till(?: och med)?|t\.?o\.?m\.?|[–-])\s*(" + "|".join(MONTHS) + r")\b", re.I)
SHORT_MONTHS = {m[:3]: m for m in MONTHS}
GENERIC_NAMND = {"nämnden", "nämnd", "Nämnden", "Kommunstyrelsen"}


def detect_meta(doc: Document) -> ReportMeta:
    head = "\n".join(doc.clean[:HEAD_LINES])
    # Page layout can split "Hudiksvalls\nkommun"; joining lines with spaces lets the pattern see it.
    head_joined = re.sub(r"\s+", " ", head)
    meta = ReportMeta(file=doc.file)
    meta.kommun = _kommun(head_joined) or _kommun(re.sub(r"\s+", " ", "\n".join(doc.clean)))
    meta.namnd = _namnd(head)
    meta.report_date = _report_date(head)
    meta.year, meta.period = _year_period(head_joined, doc.file, meta.report_date)
    return meta


def _kommun(text: str) -> str | None:
    names = [m.group(1) for m in KOMMUN_RE.finditer(text)]
    names = [n[:-1] if n.endswith("s") and not n.endswith("ss") else n for n in names]
    names = [n for n in names if n.lower() not in {"varje", "hela", "vår", "den", "samma", "annan", "egen"}]
    if not names:
        # Letterheads often name the kommun only in its web or e-mail address.
        names = [d.capitalize() for d in DOMAIN_RE.findall(text.lower()) if "-" not in d]
    return Counter(names).most_common(1)[0][0] if names else None


def _namnd(text: str) -> str | None:
    counts = Counter(m.group(1) for m in NAMND_RE.finditer(text))
    if not counts:
        # 'Tjänsteskrivelse till äldrenämnden': the addressee names the nämnd in lowercase.
        counts = Counter(m.group(1) for m in NAMND_LOWER_RE.finditer(text))
    for name, _ in counts.most_common():
        if name not in GENERIC_NAMND and not name.lower().startswith(("kommunfullmäktige",)):
            name = name if name.endswith("nämnden") else name + "en"
            return name[0].upper() + name[1:]
    return None


def _report_date(text: str) -> str | None:
    m = DATE_LABEL_RE.search(text)
    if m:
        return m.group(1)
    m = ISO_DATE_RE.search(text)
    return m.group(0) if m else None


def _year_period(text: str, file: str, report_date: str | None) -> tuple[int | None, str | None]:
    years = Counter(int(y) for y in re.findall(r"\b(20[0-4]\d|19[89]\d)\b", text))
    year = years.most_common(1)[0][0] if years else None
    periods = Counter(m.group(1).lower() for m in PERIOD_RE.finditer(text))
    period = periods.most_common(1)[0][0] if periods else None
    fm = re.search(r"(19|20)(\d{2})[-_](0[1-9]|1[0-2])", file)
    if fm:
        year = year or int(fm.group(1) + fm.group(2))
        period = period or MONTHS[int(fm.group(3)) - 1]
    if period is None and re.search(r"\bjan(?:uari)?\s*[–-]\s*aug", text, re.I):
        period = "augusti"
    if year is None and report_date:
        year = int(report_date[:4])
    return year, period


def read_manifest(path: Path) -> dict[str, dict[str, str]]:
    """{file name: {column: value}} from a manifest CSV (empty cells mean 'use detection')."""
    if not path.exists():
        return {}
    with path.open(encoding="utf-8", newline="") as fh:
        return {row["file"]: {k: v for k, v in row.items() if v} for row in csv.DictReader(fh) if row.get("file")}


def resolve_meta(detected: ReportMeta, manifest_row: dict[str, str] | None, overrides: dict[str, object]) -> ReportMeta:
    """Detection < manifest < CLI flags."""
    meta = detected
    for source in (manifest_row or {}, overrides or {}):
        values = {f.name: source[f.name] for f in fields(ReportMeta) if f.name in source and f.name != "file"}
        if "year" in values and values["year"] not in (None, ""):
            values["year"] = int(values["year"])
        meta = replace(meta, **values)
    return meta
