"""Reports uploaded through the app: a safe file name, a pending copy, detection for the form, and an
all-or-nothing ingest into the store.

Uploads live under <data dir>/uploads/. A new upload first lands in uploads/.pending/; only a report that was read,
segmented, stored and indexed without error is moved to uploads/<name>. Anything that fails leaves the store and
the uploads folder as they were (the pending copy is removed).
"""
from __future__ import annotations

import re
import shutil
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Callable

from errors import ToolError, UnreadableReport
from index.store import Store
from records import ReportMeta

UPLOAD_DIR = "uploads"
PENDING_DIR = ".pending"
MAX_NAME_CHARS = 120
_UNSAFE = re.compile(r"[^\w.\-]+")  # \w is Unicode-aware: keeps åäö and other letters, digits and _

Progress = Callable[[float, str], None]


def sanitise_filename(name: str) -> str:
    """A file name safe to store: no directories, no control characters, only letters (åäö included), digits and
    - _ . ; spaces become '-'. Raises UnreadableReport when nothing usable is left."""
    base = PureWindowsPath(PurePosixPath(name or "").name).name  # strip both / and \ directory parts
    base = unicodedata.normalize("NFC", base)
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = re.sub(r"-{2,}", "-", _UNSAFE.sub("-", stem.strip()))
    stem = stem.strip("-.")[:MAX_NAME_CHARS].strip("-.")  # no leading dots: no hidden files, no '..'
    suffix = _UNSAFE.sub("", suffix).lower()
    if not stem or not any(ch.isalnum() for ch in stem):
        raise UnreadableReport(repr(name), "filnamnet saknar användbara tecken; byt namn på filen")
    return f"{stem}.{suffix}" if suffix else stem


def upload_dir(data_dir: Path | str) -> Path:
    return Path(data_dir) / UPLOAD_DIR


def save_pending(data_dir: Path | str, name: str, data: bytes) -> Path:
    """Write an upload to uploads/.pending/<safe name> and return its path."""
    pending = upload_dir(data_dir) / PENDING_DIR
    pending.mkdir(parents=True, exist_ok=True)
    path = pending / sanitise_filename(name)
    path.write_bytes(data)
    return path


def discard(path: Path) -> None:
    """Remove a pending upload (never anything outside uploads/.pending/)."""
    if path.parent.name == PENDING_DIR:
        path.unlink(missing_ok=True)


@dataclass
class Preview:
    """What a pending upload will give, shown before the user accepts it."""

    meta: ReportMeta
    items: list[dict[str, object]]  # title, level, where (page or line), stated status
    warnings: list[str]


def preview(path: Path) -> Preview:
    """Read and segment a pending upload in the limited worker (never in the app's own process): detected
    kommun, nämnd, year and period to prefill the form, the items found and the coverage warning."""
    from index.cite import where
    from pipeline.limits import prepare_limited

    try:
        meta, document, seg = prepare_limited(path, {}, {})
    except UnreadableReport:
        discard(path)
        raise
    items = [{"Titel": u.title, "Nivå": u.level, "Var": where(u.page_start, u.page_end, u.title_line or u.line_start),
              "Angiven status": u.explicit_status or "", "Överordnad": u.parent or ""} for u in seg.units]
    return Preview(meta, items, [n[5:] for n in seg.notes if n.startswith("obs: ")])


@dataclass
class UploadResult:
    doc: str
    path: Path
    meta: ReportMeta
    units: int
    passages: int
    replaced: bool  # a report with the same file name was in the store before


def ingest_upload(store: Store, pending: Path, overrides: dict[str, object],
                  progress: Progress | None = None) -> UploadResult:
    """Read, segment, store and derive one pending upload, by the same path as the CLI's ingest (the limited
    worker, report identity, decisions carried to a new version, a pending marker that start-up repair finishes
    after a crash). On any error nothing stays behind: the new rows are removed again, a replaced report is read
    back from its stored file, and the error is raised as a ToolError."""
    from pipeline.identity import place
    from pipeline.ingest import finish, store_prepared
    from pipeline.limits import prepare_limited

    report = progress or (lambda fraction, text: None)
    overrides = {k: v for k, v in overrides.items() if v not in (None, "")}
    report(0.1, "Läser och delar upp rapporten …")
    try:
        meta, document, seg = prepare_limited(pending, overrides, {})
    except UnreadableReport:
        discard(pending)
        raise
    placement = place(store, upload_dir(store.dir) / pending.name, meta, document)
    final = upload_dir(store.dir) / placement.doc
    backup = _backup(final)
    report(0.35, "Sparar i databasen …")
    try:
        shutil.move(str(pending), final)
        stored = store_prepared(store, placement, meta, document, seg, final)
        report(0.5, "Bygger sökindex, statusförslag, teman och flaggor …")
        finish(store, [stored.doc])
    except BaseException as e:
        _roll_back(store, placement.doc, final, backup, placement.previous)
        if isinstance(e, ToolError):
            raise
        if not isinstance(e, Exception):
            raise
        raise ToolError(f"{document.file}: inläsningen avbröts ({e.__class__.__name__}); inget sparades") from e
    if backup is not None:
        backup.unlink(missing_ok=True)
    report(1.0, "Klart")
    return UploadResult(stored.doc, final, meta, len(seg.units), len(seg.passages), stored.previous is not None)


def _backup(final: Path) -> Path | None:
    if not final.exists():
        return None
    backup = final.with_name(final.name + ".bak")
    shutil.copy2(final, backup)
    return backup


def _roll_back(store: Store, doc: str, final: Path, backup: Path | None, previous: dict | None) -> None:
    """Undo a failed upload: bring back the report it replaced (read again, in the limited worker, from its stored
    file with its stored metadata; decisions follow back to its items), or remove the new rows."""
    from pipeline.identity import Placement
    from pipeline.ingest import finish, store_prepared
    from pipeline.limits import prepare_limited

    try:
        if backup is not None:
            backup.replace(final)
        else:
            final.unlink(missing_ok=True)
        old_path = Path(previous["path"]) if previous and previous.get("path") else None
        if old_path is not None and old_path.is_file():
            keep = {k: previous[k] for k in ("kommun", "namnd", "year", "period", "report_date", "source")
                    if previous.get(k) not in (None, "")}
            meta, document, seg = prepare_limited(old_path, keep, {})
            store_prepared(store, Placement(doc, store.report(doc)), meta, document, seg, old_path,
                           name=previous.get("file") or previous["doc"])
        else:
            store.remove_report(doc)
        finish(store, [doc])
    except Exception:  # noqa: BLE001 - best effort; the original error is what the user must see
        pass
