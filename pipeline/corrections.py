"""Corrections of what was read: a reviewer's new title for an item, kept as a decision (who, when, undoable) and
laid over the segmenter's title in the units table after every ingest of the report, so it survives re-ingest of
the same file (units keep their stable ids) and comes back if the item reappears.

The segmenter's own title is never lost: the first title decision on an item records it as old_value, and undoing
every correction puts it back.
"""
from __future__ import annotations

from errors import ReviewError
from index.store import Store
from records import Decision

UNIT_TITLE = "unit_title"
MAX_TITLE = 300  # characters; a longer "title" is a paragraph pasted by mistake


def edit_title(store: Store, unit_id: str, reviewer: str, title: str) -> int:
    """Record a new title for a unit and show it at once; returns the decision id. A clear Swedish ReviewError for
    an empty or overlong title or an unknown unit, with nothing changed."""
    from pipeline.review import _reviewer

    name = _reviewer(reviewer)
    unit = store.unit(unit_id)
    if unit is None:
        raise ReviewError(f"posten {unit_id} finns inte i databasen")
    new = " ".join((title or "").split())
    if not new:
        raise ReviewError("titeln kan inte vara tom; ingenting ändrades")
    if len(new) > MAX_TITLE:
        raise ReviewError(f"titeln är {len(new)} tecken; högst {MAX_TITLE} (ingenting ändrades)")
    if new == unit.title:
        raise ReviewError("titeln är redan densamma; ingenting ändrades")
    decision_id = store.add_decision_over(Decision(UNIT_TITLE, unit_id, unit.doc, name, "correct", None, new),
                                          default_old=unit.title)
    apply_corrections(store, [unit.doc])
    return decision_id


def titles_in_force(store: Store, docs: list[str] | None = None) -> dict[str, str]:
    """unit id -> the title to show: the latest correction in force, else (every correction undone) the title the
    first correction replaced."""
    history = [d for d in store.decisions(UNIT_TITLE, include_undone=True)
               if d.action != "undo" and (docs is None or d.doc in docs)]
    out: dict[str, str] = {}
    for d in sorted(history, key=lambda d: d.id or 0):
        out.setdefault(d.target_id, d.old_value or "")  # the original, from the first correction
    for d in sorted(history, key=lambda d: d.id or 0):
        if not d.undone and d.new_value:
            out[d.target_id] = d.new_value
    return {uid: title for uid, title in out.items() if title}


def apply_corrections(store: Store, docs: list[str] | None = None) -> int:
    """Write the titles in force over the units of `docs` (all when None); returns how many units changed."""
    wanted = titles_in_force(store, docs)
    present = {u.id: u.title for u in store.units_by_id(wanted)}
    changed = {uid: title for uid, title in wanted.items() if uid in present and present[uid] != title}
    if changed:
        with store.transaction() as c:
            c.executemany("UPDATE units SET title=? WHERE id=?", [(t, uid) for uid, t in changed.items()])
    return len(changed)
