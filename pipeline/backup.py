"""`cli.py backup DIR`: a copy of the data directory that works at once, taken while others read and write.

SQLite is copied through its online backup API; the index generation the copy names, trained weights and uploads
are copied beside it, all while holding the index writer lock, so no generation is published or dropped in
between. A report whose derived data was still pending in the snapshot (an ingest was under way) is finished in
the copy, so the copy passes `cli.py search` and `check` without repair.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from errors import ToolError
from index.indexes import INDEX_DIR, generation_dir, published_generation, writer_lock
from index.store import DB_NAME, Store
from pipeline.recovery import open_store


@dataclass
class BackupResult:
    dest: Path
    reports: int
    generation: int | None
    finished: list[str]  # reports whose pending derived data was completed in the copy


def backup(db_dir: Path | str | None, dest: Path | str) -> BackupResult:
    dest = Path(dest)
    if (dest / DB_NAME).exists():
        raise ToolError(f"{dest}: det finns redan en databas där; välj en tom katalog")
    store = Store.open(db_dir)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        with writer_lock(store):
            store.backup_sqlite(dest / DB_NAME)
            _copy_files(Path(store.dir), dest)
            copy = Store.open(dest)
            generation = published_generation(copy)
            copy.close()
            if generation is not None:
                shutil.copytree(generation_dir(store, generation), generation_dir(copy, generation))
    finally:
        store.close()
    copy, repaired = open_store(dest)
    result = BackupResult(dest, copy.count("reports"), published_generation(copy), repaired.redone)
    copy.close()
    return result


def _copy_files(source: Path, dest: Path) -> None:
    """Everything beside SQLite and the index folder (trained weights, uploads); no temporary files."""
    for path in source.iterdir():
        if path.name.startswith(DB_NAME) or path.name == INDEX_DIR:
            continue
        if path.is_dir():
            shutil.copytree(path, dest / path.name, ignore=shutil.ignore_patterns("*.tmp", ".pending"))
        elif not path.name.endswith(".tmp"):
            shutil.copy2(path, dest / path.name)
