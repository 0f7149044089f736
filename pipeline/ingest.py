"""Ingest: read -> detect metadata -> segment -> store (one transaction per report) -> derived data.

Derived data (indexes, status suggestions, themes, flags) is recomputed for the reports that changed; it can
always be rebuilt from SQLite, so a crash between the two steps loses nothing (see pipeline/recovery.py).
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from errors import UnreadableReport
from index.store import Store
from nlp.metadata import read_manifest
from nlp.reader import SUFFIXES
from pipeline.derive import clear_pending, derive, mark_pending
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


def remove_report(doc: str, db_dir: Path | str | None = None) -> bool:
    store = Store.open(db_dir)
    name = Path(doc).name
    if store.report_sha(name) is None:
        store.close()
        return False
    mark_pending(store, [name])  # a crash before the indexes follow is redone on the next start
    removed = store.remove_report(name)
    if removed:
        derive(store, [name])
    clear_pending(store, [name])
    store.close()
    return removed


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
