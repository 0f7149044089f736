"""Ingest: read -> detect metadata -> segment -> store (one transaction per report) -> derived data.

Derived data (indexes, status suggestions, themes, flags) is recomputed for the reports that changed; it can
always be rebuilt from SQLite, so a crash between the two steps loses nothing (see `repair`).
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

from errors import NoUnitsFound, UnreadableReport
from index.store import Store
from nlp.metadata import detect_meta, read_manifest, resolve_meta
from nlp.reader import SUFFIXES, read_report
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


@dataclass
class IngestSummary:
    reports: int = 0
    passages: int = 0
    units: int = 0
    ingested: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)  # repairs after a crash, decisions whose item is gone

    def line(self) -> str:
        return (f"rapporter: {self.reports}, passager: {self.passages}, poster: {self.units} "
                f"(nya/ändrade: {len(self.ingested)}, oförändrade: {len(self.unchanged)}, fel: {len(self.errors)}; "
                f"{self.seconds:.1f} s)")


def report_files(paths: Iterable[Path | str]) -> list[Path]:
    """Files named directly, plus every supported file in named folders (sorted, manifest excluded)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in SUFFIXES)
        else:
            out.append(p)
    return out


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


def ingest_paths(paths: Iterable[Path | str], db_dir: Path | str | None = None,
                 overrides: dict[str, object] | None = None, reindex: bool = False, progress: bool = True,
                 encoding: str | None = None, layout: str | None = None) -> IngestSummary:
    started = time.perf_counter()
    summary = IngestSummary()
    from index.integrity import (clear_pending, mark_pending, open_store, orphan_decisions, orphan_lines,
                                 prepare_limited)

    # A crash in an earlier run left derived data behind SQLite: finish that first (see index/integrity.py).
    store, repaired = open_store(db_dir, create=True)
    summary.warnings += repaired.repair_lines()
    files = report_files(paths)
    manifests: dict[Path, dict[str, dict[str, str]]] = {}
    for path in _progress(files, progress, "Läser in"):
        manifest = manifests.setdefault(path.parent, read_manifest(path.parent / MANIFEST))
        try:
            if not reindex and not layout and _unchanged(store, path, manifest.get(path.name), overrides or {}):
                summary.unchanged.append(path.name)
                continue
            # Read and segment in a worker under a time and memory limit: a hostile file cannot hang ingest.
            meta, document, seg = prepare_limited(path, overrides or {}, manifest, encoding,
                                                  progress=page_progress(path.name) if progress else None,
                                                  layout=layout)
            summary.warnings += [f"{document.file}: {n[5:]}" for n in seg.notes if n.startswith("obs: ")]
            mark_pending(store, [document.file])
            store.replace_report(meta, document, seg, str(path))
            store.set_meta(f"{READER_KEY}/{document.file}", reader_version())
            summary.ingested.append(document.file)
        except UnreadableReport as e:
            summary.errors.append(e.user_message())
    if summary.ingested or reindex:
        derive(store, None if reindex else summary.ingested, progress=progress)
        clear_pending(store, None if reindex else summary.ingested)
    summary.warnings += orphan_lines(orphan_decisions(store))
    summary.reports, summary.passages, summary.units = (store.count("reports"), store.count("passages"),
                                                       store.count("units"))
    summary.seconds = time.perf_counter() - started
    store.close()
    return summary


def _unchanged(store: Store, path: Path, manifest_row: dict[str, str] | None, overrides: dict[str, object]) -> bool:
    """Same bytes, read by the same code, and no metadata override: nothing to do; cheap (hash only, no parsing)."""
    if overrides or not path.is_file() or store.get_meta(f"{READER_KEY}/{path.name}") != reader_version():
        return False
    sha = store.report_sha(path.name)
    if sha is None or sha != hashlib.sha256(path.read_bytes()).hexdigest():
        return False
    report = store.report(path.name) or {}
    return all(str(report.get(k) or "") == str(v) for k, v in (manifest_row or {}).items() if k != "file")


def derive(store: Store, docs: list[str] | None, progress: bool = False) -> None:
    """Indexes, suggestions, themes and flags for `docs` (None: all reports)."""
    from index.indexes import update_indexes
    from nlp.consistency import apply_flags
    from nlp.status import apply_status
    from nlp.themes import apply_themes

    update_indexes(store, changed_docs=docs, progress=progress)
    apply_status(store, docs)
    apply_themes(store, docs)
    # Flags compare across units and reports (copied text), so they are recomputed for all reports.
    apply_flags(store, None)


def remove_report(doc: str, db_dir: Path | str | None = None) -> bool:
    from index.indexes import update_indexes
    from nlp.consistency import apply_flags

    from index.integrity import clear_pending, mark_pending

    store = Store.open(db_dir)
    name = Path(doc).name
    if store.report_sha(name) is None:
        store.close()
        return False
    mark_pending(store, [name])  # a crash before the indexes follow is redone on the next start
    removed = store.remove_report(name)
    if removed:
        update_indexes(store, changed_docs=[], removed_docs=[name])
        apply_flags(store, None)
    clear_pending(store, [name])
    store.close()
    return removed


def train_all(db_dir: Path | str | None = None, labels_dir: Path | str | None = None) -> list[str]:
    """Retrain status and theme classifiers from the store (stated statuses, reviewers' decisions) and, only when
    a folder is named, analyst labels; then refresh every suggestion and flag. A labels folder is read and checked
    completely before anything is trained, so a bad folder leaves the saved models untouched."""
    from nlp import flag_thresholds
    from nlp.consistency import apply_flags, fit_thresholds
    from nlp.labels import LabelError, fingerprint, load_labels
    from nlp.status import apply_status, describe_model as describe_status, train_status
    from nlp.themes import apply_themes, describe_model as describe_themes, train_themes

    labels = load_labels(labels_dir) if labels_dir is not None else None
    store = Store.open(db_dir)
    info = None
    if labels is not None:
        known = {r["doc"] for r in store.reports()}
        if not known & set(labels):
            store.close()
            raise LabelError(f"{labels_dir}: ingen av etiketternas rapporter ({', '.join(sorted(labels))}) finns i "
                             "databasen; läs in dem först med `python cli.py ingest`")
        info = {"folder": str(Path(labels_dir).resolve()), "fingerprint": fingerprint(labels_dir),
                "reports": sorted(set(labels) & known)}
    lines = train_status(store, labels, labels_info=info) + train_themes(store, labels, labels_info=info)
    apply_status(store, None)
    apply_themes(store, None)
    if labels is not None:
        lines += fit_thresholds(store, labels, info)
    apply_flags(store, None)
    lines += describe_status(store) + describe_themes(store) + flag_thresholds.describe(store)
    store.close()
    return lines


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


def page_progress(name: str) -> Callable[[int, int], None]:
    """Pages read of a long PDF, on one line of stderr (shown from 50 pages on)."""
    import sys

    def show(done: int, total: int) -> None:
        if total >= 50 and (done % 10 == 0 or done == total):
            sys.stderr.write(f"\r{name}: sida {done} av {total}" + ("\n" if done == total else ""))
            sys.stderr.flush()
    return show


def _progress(items: list[Path], enabled: bool, label: str):
    if not enabled or len(items) < 2:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=label, unit="fil")
