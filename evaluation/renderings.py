"""The five samples as published files nobody here wrote by hand: Word with real tables, PDF made from that Word
file, and the text printed to PDF (tests/fixtures/render, made by its generate.py). Each rendering is read and
segmented like any upload and compared with what the sample's text version gives:

* units: a text unit is found when a rendered unit's title matches it (each used once); recall and precision;
* pages: a rendered unit's title must appear on the page it claims (PDF; Word files without rendered page breaks
  claim no page);
* stated status: where the text version states a status in a table cell, the rendering shows it as a colour (or
  the word, in the text-printed PDF), and the rendered unit must carry the same canonical status;
* furniture: no unit title or text may hold a page header or footer.

Out of sample for structure: the renderings are layouts the rules were not written for. Not shown: layouts other
than these three renderings of these five reports, and scanned or unusual PDFs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlp.labels import norm_title, titles_match
from records import Unit

ROOT = Path(__file__).resolve().parent.parent
RENDER = ROOT / "tests" / "fixtures" / "render"
KINDS = (("docx", "docx", "Word"), ("pdf", "pdf", "PDF från Word"), ("textpdf", "pdf", "text utskriven som PDF"))
TARGETS = {"recall": 0.95, "precision": 0.90, "pages": 0.98, "status": 0.95}


@dataclass
class Compared:
    text_units: int
    found: int
    ours: int
    extra: int
    pages_checked: int
    pages_right: int
    statuses: int
    statuses_right: int
    furniture_leaks: int
    seconds: float
    misses: list[str]


def units_of(path: Path, manifest: dict[str, dict[str, str]] | None = None) -> tuple[list[Unit], Any]:
    from pipeline.prepare import prepare

    meta, document, seg = prepare(path, {}, manifest or {})
    return seg.units, document


def match(text_units: list[Unit], units: list[Unit]) -> list[Unit | None]:
    """Each text unit's rendered twin: the first unused unit in order whose title matches."""
    used: set[str] = set()
    out: list[Unit | None] = []
    start = 0
    for t in text_units:
        found = None
        for k in list(range(start, len(units))) + list(range(0, start)):
            u = units[k]
            if u.id not in used and titles_match(t.title, u.title):
                found, start = u, k + 1
                break
        if found is not None:
            used.add(found.id)
        out.append(found)
    return out


def page_words(path: Path) -> list[set[str]]:
    """The words of each page (a title wrapped inside a table cell is not one run of text on the page)."""
    import pdfplumber

    with pdfplumber.open(path) as pdf:
        out = []
        for page in pdf.pages:
            out.append(set(norm_title(" ".join(w["text"] for w in page.extract_words())).split()))
            page.close()
    return out


def compare(text_units: list[Unit], path: Path, fmt: str) -> Compared:
    started = time.perf_counter()
    units, document = units_of(path)
    seconds = time.perf_counter() - started
    twins = match(text_units, units)
    found = [(t, u) for t, u in zip(text_units, twins) if u is not None]
    matched_ids = {u.id for _, u in found}
    pages = page_words(path) if fmt == "pdf" else []
    checked = right = 0
    for _, u in found:
        if u.page_start is None or not pages:
            continue
        checked += 1
        head = set(norm_title(u.title).split()[:8])
        right += bool(head) and 0 < u.page_start <= len(pages) and head <= pages[u.page_start - 1]
    stated = [(t, u) for t, u in found if t.explicit_status_source == "column" and t.status]
    furniture = [norm_title(f) for f in document.furniture if len(norm_title(f)) >= 6]
    leaks = sum(1 for u in units if any(f in norm_title(u.title) or f in norm_title(u.text) for f in furniture))
    misses = [f"      saknas: {t.title[:80]!r}" for t, u in zip(text_units, twins) if u is None]
    return Compared(len(text_units), len(found), len(units), len([u for u in units if u.id not in matched_ids]),
                    checked, right, len(stated), sum(u.status == t.status for t, u in stated), leaks, seconds,
                    misses)


def evaluate(store: Any = None, gold_dir: Path | str | None = None, verbose: bool = True) -> list[str]:
    lines = ["## Renderingar: de fem rapporterna som Word, PDF från Word och utskriven text (nya layouter)",
             "jämfört med textversionens poster; ingen etikett används, och reglerna skrevs inte för dessa filer",
             f"{'rapport':46s} {'rendering':24s} {'text':>4s} {'hittade':>7s} {'recall':>6s} {'prec':>5s} "
             f"{'sidor':>9s} {'status':>9s} {'sidhuvud':>8s} {'s':>5s}"]
    totals = dict.fromkeys(("text", "found", "ours", "extra", "pc", "pr", "sc", "sr", "leaks"), 0)
    for sample in sorted((ROOT / "corpus").glob("*.txt")):
        text_units, _ = units_of(sample)
        for folder, fmt, label in KINDS:
            path = RENDER / folder / f"{sample.stem}.{fmt}"
            if not path.exists():
                continue
            c = compare(text_units, path, fmt)
            recall = c.found / c.text_units if c.text_units else 1.0
            precision = (c.ours - c.extra) / c.ours if c.ours else 0.0
            page = f"{c.pages_right}/{c.pages_checked}" if c.pages_checked else "–"
            status = f"{c.statuses_right}/{c.statuses}" if c.statuses else "–"
            lines.append(f"{sample.stem[:46]:46s} {label:24s} {c.text_units:4d} {c.found:7d} {recall:6.3f} "
                         f"{precision:5.3f} {page:>9s} {status:>9s} {c.furniture_leaks:8d} {c.seconds:5.1f}")
            if verbose:
                lines += c.misses[:8] + ([f"      … och {len(c.misses) - 8} till"] if len(c.misses) > 8 else [])
            for key, value in (("text", c.text_units), ("found", c.found), ("ours", c.ours), ("extra", c.extra),
                               ("pc", c.pages_checked), ("pr", c.pages_right), ("sc", c.statuses),
                               ("sr", c.statuses_right), ("leaks", c.furniture_leaks)):
                totals[key] += value
    t = totals
    lines.append(f"totalt: recall {t['found'] / max(1, t['text']):.3f} (mål >= {TARGET_S('recall')}), precision "
                 f"{(t['ours'] - t['extra']) / max(1, t['ours']):.3f} (mål >= {TARGET_S('precision')}), sidor "
                 f"{t['pr'] / max(1, t['pc']):.3f} (mål >= {TARGET_S('pages')}), status {t['sr'] / max(1, t['sc']):.3f}"
                 f" (mål >= {TARGET_S('status')}), poster med sidhuvud/sidfot {t['leaks']} (mål 0)")
    return lines


def TARGET_S(key: str) -> str:  # noqa: N802 - a formatting helper for the target table
    return f"{TARGETS[key]:.2f}"
