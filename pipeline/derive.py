"""Derived data: everything computed from a report's rows in SQLite (index entries, status suggestions, themes,
flags), and the *pending* marker that keeps it in step with SQLite across crashes.

Before a report's rows change its name is written to the store's meta table (committed); it is cleared only after
`derive` has finished for it. A crash anywhere in between leaves the name there, and pipeline/recovery.py redoes
`derive` for it on the next start.
"""
from __future__ import annotations

import json

from index.store import Store

PENDING_KEY = "pending_derive"


def derive(store: Store, docs: list[str] | None, progress: bool = False, embedder=None,
           indexes: bool = True) -> list[str]:
    """Indexes, suggestions, themes and flags for `docs` (None: all reports); a name no longer in the store (a
    removed report) only leaves the indexes. Returns every report whose derived data was redone: `docs` and the
    reports whose cross-report flags they touch (text shared before or after the change). indexes=False when
    no passage changed (a structural correction regroups passages into items; search reads items from SQLite)."""
    from index.indexes import update_indexes
    from nlp.consistency import apply_flags
    from pipeline.corrections import apply_corrections
    from nlp.near_duplicates import ensure_bands, partner_docs, refresh_bands
    from nlp.status import apply_status
    from nlp.themes import apply_themes

    apply_corrections(store, docs)  # reviewers' titles over the segmenter's, before anything reads the units
    if indexes:
        update_indexes(store, changed_docs=docs, embedder=embedder, progress=progress)
    present = None if docs is None else [d for d in docs if store.report(d) is not None]
    if present is None or present:
        apply_status(store, present, embedder=embedder)
        apply_themes(store, present, embedder=embedder)
    if ensure_bands(store, rebuild=docs is None):
        apply_flags(store, None)
        return [r["doc"] for r in store.reports()]
    # Reports that shared text with the old versions: marked pending before the bands change, so a crash here
    # still redoes their flags on the next start.
    before = partner_docs(store, docs)
    mark_pending(store, sorted(before))
    refresh_bands(store, docs)
    touched = set(docs) | before | partner_docs(store, docs)
    apply_flags(store, sorted(d for d in touched if store.report(d) is not None))
    return sorted(touched)


# -- pending derived work --------------------------------------------------------------------------------------
def pending(store: Store) -> list[str]:
    return json.loads(store.get_meta(PENDING_KEY) or "[]")


def mark_pending(store: Store, docs: list[str]) -> None:
    """Committed before a report's rows change: 'derived data for these reports may be stale'."""
    with store.transaction():
        current = pending(store)
        store.set_meta(PENDING_KEY, json.dumps(sorted(set(current) | set(docs)), ensure_ascii=False))


def clear_pending(store: Store, docs: list[str] | None = None) -> None:
    """After every derived step for `docs` (None: all) has finished."""
    with store.transaction():
        left = [] if docs is None else sorted(set(pending(store)) - set(docs))
        store.set_meta(PENDING_KEY, json.dumps(left, ensure_ascii=False))
