"""Nothing lost: crash recovery on start and decisions whose item is gone.

SQLite (store.sqlite) is the source of truth. Everything else in the data directory (BM25 and FAISS files, status
suggestions, themes, flags) is derived from it and can be rebuilt. Three mechanisms keep the two in step:

* the *pending* marker (pipeline/derive.py): `recover` redoes the derived steps for every report a crash left
  pending;
* `check_indexes` compares the published index generation with the passages in SQLite; `recover` rebuilds the
  indexes from SQLite when they disagree, are missing or fail their checksums;
* review decisions are never deleted by ingest or remove; `orphan_decisions` reports those whose unit or flag is
  gone, so a reviewer sees them instead of losing them silently.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from index.store import Store
from pipeline.derive import clear_pending, derive, pending
from records import Decision


# -- check and recover -----------------------------------------------------------------------------------------
@dataclass
class IntegrityReport:
    """What `check` saw and what `recover` did, for a log line and for tests."""

    passages: int = 0
    lexical: int | None = None  # rows in the BM25 index, None when it cannot be read
    vectors: int | None = None  # vectors in FAISS, None when it cannot be read
    problems: list[str] = field(default_factory=list)
    redone: list[str] = field(default_factory=list)  # reports whose derived data was redone after a crash
    rebuilt: bool = False  # indexes rebuilt from SQLite
    orphans: list[Decision] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not self.problems

    def repair_lines(self) -> list[str]:
        """Swedish lines for the user: what was repaired."""
        out = []
        if self.redone:
            out.append("avbruten inläsning slutförd för: " + ", ".join(self.redone))
        if self.rebuilt:
            out.append("sökindexen byggdes om från databasen (" + "; ".join(self.problems) + ")")
        return out

    def lines(self) -> list[str]:
        """What was repaired, then which decisions lost their unit or flag."""
        return self.repair_lines() + orphan_lines(self.orphans)


def check(store: Store) -> IntegrityReport:
    """Counts and disagreements between SQLite and the index files; reads, never writes."""
    from errors import IndexCorrupt
    from index.dense import DenseIndex
    from index.indexes import check_indexes, current_files
    from index.lexical import LexicalIndex

    report = IntegrityReport(passages=store.count("passages"))
    try:
        files = current_files(store)
        report.lexical = LexicalIndex.load(files["lex_npz"], files["lex_json"]).size
        report.vectors = DenseIndex.load(files["dense"], files["dense_json"]).size
    except IndexCorrupt:
        pass
    report.problems = check_indexes(store)
    if pending(store):
        report.problems.append("en tidigare inläsning avbröts innan den var klar: " + ", ".join(pending(store)))
    report.orphans = orphan_decisions(store)
    return report


def recover(store: Store, embedder=None) -> IntegrityReport:
    """Bring derived data back in line with SQLite after a crash: redo pending reports, rebuild broken indexes."""
    from index.indexes import check_indexes, repair_indexes

    report = IntegrityReport()
    todo = pending(store)
    if todo:
        clear_pending(store, derive(store, todo, embedder=embedder))
        report.redone = todo
    problems = check_indexes(store)
    if problems:
        report.problems = problems
        repair_indexes(store, embedder=embedder)
        report.rebuilt = True
    final = check(store)
    final.redone, final.rebuilt, final.problems = report.redone, report.rebuilt, problems + final.problems
    return final


def needs_recovery(store: Store) -> bool:
    """Cheap test for start-up: a pending marker or index files that do not match the store."""
    from index.indexes import check_indexes, indexes_unchanged

    if pending(store):
        return True
    return store.count("reports") > 0 and not indexes_unchanged(store) and bool(check_indexes(store))


def open_store(db_dir: Path | str | None = None, create: bool = False, embedder=None) -> tuple[Store, IntegrityReport]:
    """Open the store and repair derived data from SQLite if a crash left it behind (the app and CLI call this
    on start)."""
    store = Store.open(db_dir, create=create)
    if store.read_only:  # a read-only store is searched as it stands
        return store, IntegrityReport(passages=store.count("passages"), orphans=orphan_decisions(store))
    _bands_for_an_older_store(store)
    if needs_recovery(store):
        return store, recover(store, embedder)
    return store, IntegrityReport(passages=store.count("passages"), orphans=orphan_decisions(store))


def _bands_for_an_older_store(store: Store) -> None:
    """A store written before the near-duplicate bands (or with bands of another version) gets them, so the next
    report's cross-report check finds its copies. Its stored flags stay: they were computed against every report."""
    from nlp.near_duplicates import ensure_bands

    if store.count("reports"):
        ensure_bands(store)


# -- decisions whose unit or flag is gone ----------------------------------------------------------------------
def orphan_decisions(store: Store) -> list[Decision]:
    """Decisions in force whose unit or flag no longer exists (the report was removed or the item changed).

    They stay in the decisions table and come back into force if the item reappears with the same stable id."""
    units = {r[0] for r in store.conn.execute("SELECT id FROM units")}
    flags = {r[0] for r in store.conn.execute("SELECT id FROM flags")}
    known = {"unit_status": units, "unit_title": units, "flag": flags}
    out: list[Decision] = []
    for target_type, ids in known.items():
        out += [d for d in store.current_decisions(target_type).values() if d.target_id not in ids]
    from pipeline.structure import stale_corrections

    return sorted(out + stale_corrections(store), key=lambda d: d.id or 0)


def orphan_lines(orphans: list[Decision]) -> list[str]:
    if not orphans:
        return []
    what = {"unit_status": "posten", "flag": "flaggan", "unit_title": "posten",
            "unit_structure": "posten (ändrad avgränsning)"}  # pipeline.structure.UNIT_STRUCTURE
    lines = [f"{len(orphans)} granskningsbeslut gäller poster eller flaggor som inte längre finns (besluten "
             "är sparade och exporteras med `python cli.py export decisions`):"]
    lines += [f"  beslut {d.id} ({d.reviewer}, {_change(d)}) på {what.get(d.target_type, d.target_type)} "
              f"{d.target_id}" for d in orphans]
    return lines


def _change(d: Decision) -> str:
    from pipeline.structure import UNIT_STRUCTURE, describe

    if d.target_type == UNIT_STRUCTURE:
        return describe(d)
    return f"{d.action}{': ' + d.new_value if d.new_value else ''}"
