"""Ingest: read -> detect metadata -> segment -> store (one transaction per report) -> derived data.

Derived data (indexes, status suggestions, themes, flags) is recomputed for the reports that changed; it can
always be rebuilt from SQLite, so a crash between the two steps loses nothing (see pipeline/recovery.py).
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from errors import UnreadableReport
from index.store import Store
from records import Document, ReportMeta, Segmentation
from nlp.metadata import read_manifest
from nlp.reader import SUFFIXES
from pipeline.derive import clear_pending, derive, mark_pending
from pipeline.identity import Carried, Placement, carry_decisions, file_identity, place, rekey
from pipeline.limits import prepare_limited
from pipeline.prepare import MANIFEST, READER_KEY, reader_version
from pipeline.recovery import open_store, orphan_decisions, orphan_lines


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


def ingest_paths(paths: Iterable[Path | str], db_dir: Path | str | None = None,
                 overrides: dict[str, object] | None = None, reindex: bool = False, progress: bool = True,
                 encoding: str | None = None, layout: str | None = None) -> IngestSummary:
    started = time.perf_counter()
    summary = IngestSummary()
    # A crash in an earlier run left derived data behind SQLite: finish that first (see pipeline/recovery.py).
    store, repaired = open_store(db_dir, create=True)
    summary.warnings += repaired.repair_lines()
    files = report_files(paths)
    manifests: dict[Path, dict[str, dict[str, str]]] = {}
    for path in _progress(files, progress, "Läser in"):
        manifest = manifests.setdefault(path.parent, read_manifest(path.parent / MANIFEST))
        try:
            same = None if reindex or layout else _unchanged(store, path, manifest.get(path.name), overrides or {})
            if same is not None:
                summary.unchanged.append(path.name)
                if (same.get("file") or same["doc"]) != path.name:
                    summary.warnings.append(f"{path.name}: samma innehåll som den redan inlästa {same['doc']}; "
                                            "inte inläst igen")
                continue
            # Read and segment in a worker under a time and memory limit: a hostile file cannot hang ingest.
            meta, document, seg = prepare_limited(path, overrides or {}, manifest, encoding,
                                                  progress=page_progress(path.name) if progress else None,
                                                  layout=layout)
            summary.warnings += [f"{document.file}: {n[5:]}" for n in seg.notes if n.startswith("obs: ")]
            stored = store_prepared(store, place(store, path, meta, document), meta, document, seg, path)
            summary.warnings += stored.lines()
            summary.ingested.append(stored.doc)
        except UnreadableReport as e:
            summary.errors.append(e.user_message())
    if summary.ingested or reindex:
        finish(store, None if reindex else summary.ingested, progress=progress)
    summary.warnings += orphan_lines(orphan_decisions(store))
    summary.reports, summary.passages, summary.units = (store.count("reports"), store.count("passages"),
                                                       store.count("units"))
    summary.seconds = time.perf_counter() - started
    store.close()
    return summary


def _unchanged(store: Store, path: Path, manifest_row: dict[str, str] | None,
               overrides: dict[str, object]) -> dict[str, Any] | None:
    """The stored report with these bytes, read by the same code, when there is no metadata override: nothing to
    do; cheap (hash only, no parsing). A copy of a stored report in another folder or under another name is the
    same report."""
    if overrides or not path.is_file():
        return None
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    for report in store.reports_with_content(sha):
        if store.get_meta(f"{READER_KEY}/{report['doc']}") == reader_version() and all(
                str(report.get(k) or "") == str(v) for k, v in (manifest_row or {}).items() if k != "file"):
            return report
    return None


@dataclass
class Stored:
    doc: str  # the key the report was stored under
    file: str  # the name it was read under
    previous: dict | None  # the report it replaced (a new version), if any
    carried: int  # reviewers' decisions that followed their item to a new id
    path: str = ""  # where it was read from
    sha256: str = ""

    def lines(self) -> list[str]:
        out = []
        if self.previous and self.previous["sha256"] == self.sha256 and self.previous.get("file") != self.file:
            out.append(f"{self.file}: samma innehåll som den redan inlästa {self.doc}; sparas som den")
        elif self.doc != self.file:
            out.append(f"{self.file}: en annan rapport med samma filnamn finns redan; den här sparas som {self.doc}")
        if self.previous and self.previous.get("path") != self.path and self.previous["sha256"] != self.sha256:
            out.append(f"{self.file}: ny version av {self.doc} (samma namn och samma kommun, nämnd och period), som "
                       f"lästes in från {self.previous.get('path')}")
        if self.carried:
            out.append(f"{self.doc}: {self.carried} granskningsbeslut följde med sina poster till den nya versionen")
        return out


def store_prepared(store: Store, placement: Placement, meta: ReportMeta, document: Document, seg: Segmentation,
                   path: Path, name: str | None = None) -> Stored:
    """The one way a read report enters the store, for the CLI's ingest and the app's uploads: under the key
    `placement` chose, with decisions carried to the new version's items, behind a pending marker (committed
    first) that `finish` clears once its derived data is done. `name`: the file name to record, when the file
    read is a stored copy under another name."""
    name = name or document.file
    rekey(meta, document, seg, placement.doc)
    carried = carry_decisions(store, placement.doc, seg.units) if placement.previous else Carried()
    mark_pending(store, [placement.doc])
    store.replace_report(meta, document, seg, file_identity(path), file=name, moves=carried.moves)
    store.set_meta(f"{READER_KEY}/{placement.doc}", reader_version())
    return Stored(placement.doc, name, placement.previous, len(carried.moves), file_identity(path), document.sha256)


def finish(store: Store, docs: list[str] | None, progress: bool = False) -> None:
    """Derived data for `docs` (None: all), then their pending markers go (and those of the reports whose
    flags were redone with them)."""
    touched = derive(store, docs, progress=progress)
    clear_pending(store, None if docs is None else touched)


def remove_report(doc: str, db_dir: Path | str | None = None) -> str | None:
    """Remove one report (named by its key or by the path it was read from); its key, or None when there is none.
    Reviewers' decisions on it are kept."""
    store = Store.open(db_dir)
    try:
        name = _stored_key(store, doc)
        if name is None:
            return None
        mark_pending(store, [name])  # a crash before the indexes follow is redone on the next start
        store.remove_report(name)
        finish(store, [name])
        return name
    finally:
        store.close()


def _stored_key(store: Store, given: str) -> str | None:
    """A report named by the path of the file it was read from, or by its key (as `units` and the app show it)."""
    row = store.conn.execute("SELECT doc FROM reports WHERE path=?", (file_identity(Path(given)),)).fetchone()
    if row:
        return row[0]
    return Path(given).name if store.report(Path(given).name) is not None else None


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
