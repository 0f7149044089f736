"""Read one file and split it into items, with no side effects: file -> document -> segmentation.

Errors here (UnreadableReport, NoUnitsFound) leave the store untouched. `explain` shows what the segmenter makes of a
file without storing it. Runs in the limited worker (pipeline/limits.py) for ingest and uploads.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Callable

from errors import NoUnitsFound
from nlp.metadata import detect_meta, read_manifest, resolve_meta
from nlp.reader import read_report
from nlp.segmenter import TEMPLATE_NAMES, segment, stated_statuses, text_places
from records import Document, ReportMeta, Segmentation

MANIFEST = "manifest.csv"
READER_KEY = "reader_version"  # meta key per report: which reading and segmenting code built its rows
# The code and tables that decide a report's rows; when they change, an unchanged file is read again.
READER_SOURCES = ("nlp/reader.py", "nlp/document.py", "nlp/pdf_reader.py", "nlp/docx_reader.py", "nlp/layout.py",
                  "nlp/segmenter.py", "nlp/metadata.py", "nlp/status.py", "nlp/status_vocab.py",
                  "nlp/status_map.toml", "nlp/report_vocab.toml")


@lru_cache(maxsize=1)
def reader_version() -> str:
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha1()
    for name in READER_SOURCES:
        digest.update((root / name).read_bytes())
    return digest.hexdigest()[:16]


def prepare(path: Path, overrides: dict[str, object], manifest: dict[str, dict[str, str]],
            encoding: str | None = None, layout: str | None = None,
            progress: Callable[[int, int], None] | None = None) -> tuple[ReportMeta, Document, Segmentation]:
    """Everything up to the store, with no side effects: errors here leave the store untouched. `progress(page,
    pages)` follows a PDF's pages; `layout` names a layout profile (else one in layouts/ may match the text)."""
    from nlp.profile import PROJECT_PROFILES, find_profile, load_profile

    document = read_report(path, encoding=encoding, progress=progress)
    profile = load_profile(layout) if layout else find_profile(document.clean, [PROJECT_PROFILES])
    seg = segment(document, profile)
    if not seg.units:
        places = text_places(document, [])
        where = (f"text finns på sidorna {', '.join(places[:12])}" + (" …" if len(places) > 12 else "")
                 if document.pages else f"texten har {len(document.clean)} rader")
        raise NoUnitsFound(document.file, f"inga uppföljda poster (åtgärder, uppdrag, mål) hittades; {where}; pröva "
                                          f"`python cli.py ingest --explain {document.file}` eller en layoutprofil "
                                          "(--layout FIL, se layouts/exempel.toml)")
    meta = resolve_meta(detect_meta(document), manifest.get(document.file), overrides)
    attach_statuses(document, seg)
    return meta, document, seg


def attach_statuses(document: Document, seg: Segmentation) -> None:
    """Stated statuses the layout did not carry (inline and summary sentences), then canonical values."""
    from nlp.status import find_inline_status, find_summary_statuses
    from nlp.status_vocab import canonical_status, read_legend

    seg.legend = read_legend(document.clean)
    for u in seg.units:
        if u.explicit_status is None:
            lines = [(k, document.clean[k - 1]) for k in range(u.title_line or u.line_start, u.line_end + 1)]
            found = find_inline_status(lines)
            if found:
                u.explicit_status, u.explicit_status_line = found
                u.explicit_status_source = "inline"
    for unit_id, (phrase, line) in find_summary_statuses(document.clean, seg.units).items():
        u = next(x for x in seg.units if x.id == unit_id)
        if u.explicit_status is None:
            u.explicit_status, u.explicit_status_source, u.explicit_status_line = phrase, "summary", line
    for u in seg.units:
        u.status = canonical_status(u.explicit_status, seg.legend) if u.explicit_status else None
        colours = document.colour_cells.get(u.explicit_status_line or 0, [])
        if u.explicit_status and u.explicit_status.strip().lower() in colours:
            u.explicit_status_source = "colour"  # a shaded cell, a coloured symbol or an icon, read as its colour


def explain(path: Path, layout: str | None = None) -> list[str]:
    """What the segmenter makes of one file, without storing it (`cli.py ingest --explain FILE`): the record
    templates found (count and first example of each), the places with running text but no items, and the
    coverage warning."""
    meta, document, seg = prepare(Path(path), {}, read_manifest(Path(path).parent / MANIFEST), layout=layout)
    by_line = {u.title_line or u.line_start: u for u in seg.units}
    lines = [f"{document.file}: {len(seg.units)} poster ({document.fmt}, {len(document.clean)} rader"
             + (f", {max(p for p in document.pages if p)} sidor" if document.pages else "") + ")"]
    lines += [f"  {n}" for n in seg.notes]
    lines.append("  postmallar:")
    for kind, title_lines in sorted(seg.templates.items(), key=lambda kv: -len(kv[1])):
        first = by_line.get(title_lines[0])
        where = (f"s. {first.page_start}" if first and first.page_start else f"rad {title_lines[0]}")
        lines.append(f"    {TEMPLATE_NAMES.get(kind, kind)}: {len(title_lines)} st, t.ex. {where}: "
                     f"{(first.title if first else '')[:70]!r}")
    places = text_places(document, seg.units)
    lines.append("  sidor med löptext men utan poster: " + (", ".join(places) if places else "inga"))
    lines.append(f"  angivna statusar i texten: {stated_statuses(document)}")
    return lines
