"""Corrections of what was read: a reviewer's new title for an item, or a report's kommun, nämnd, year and period
(structural corrections – split, merge, delete … – are in pipeline/structure.py and replayed from here first),
kept as a decision (who, when, undoable) and laid over what the reader found after every ingest of the report, so
it survives re-ingest of the same file (units keep their stable ids) and comes back if the item reappears.

What was read is never lost: the first decision on a target records it as old_value, and undoing every correction
puts it back.
"""
from __future__ import annotations

import json
import re

from errors import ReviewError
from index.store import Store
from records import Decision

UNIT_TITLE = "unit_title"
REPORT_META = "report_meta"
META_FIELDS = ("kommun", "namnd", "year", "period")
MAX_TITLE = 300  # characters; a longer "title" is a paragraph pasted by mistake
MAX_NAME = 120  # a kommun's or a nämnd's name
# A report's period as reports name it: a month (the report's "per augusti"), a date, or a word for a part of a year.
PERIOD_WORDS = {"helår", "årsbokslut", "bokslut", "delår", "delårsrapport", "halvår", "tertial 1", "tertial 2",
                "tertial 3", "t1", "t2", "t3", "kvartal 1", "kvartal 2", "kvartal 3", "kvartal 4", "q1", "q2", "q3",
                "q4", "delår 1", "delår 2"}
_ISO_DATE = re.compile(r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])")


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


def edit_report(store: Store, doc: str, reviewer: str, **changes: object) -> int:
    """Record new values for a report's kommun, nämnd, year and/or period (the others kept) and show them at once;
    returns the decision id. A clear Swedish ReviewError, nothing changed, for an unknown report, an empty name, a
    year outside 1990-2100 or a period that is neither a month, a date nor a known period word."""
    from pipeline.review import _reviewer

    name = _reviewer(reviewer)
    report = store.report(doc)
    if report is None:
        raise ReviewError(f"rapporten {doc} finns inte i databasen")
    unknown = sorted(set(changes) - set(META_FIELDS))
    if unknown:
        raise ReviewError(f"okänt fält: {unknown[0]} (giltiga: {', '.join(META_FIELDS)})")
    current = {f: report.get(f) for f in META_FIELDS}
    new = current | {f: _checked(f, v) for f, v in changes.items() if v is not None}
    if new == current:
        raise ReviewError("uppgifterna är redan desamma; ingenting ändrades")
    decision_id = store.add_decision_over(
        Decision(REPORT_META, doc, doc, name, "correct", None, json.dumps(new, ensure_ascii=False)),
        default_old=json.dumps(current, ensure_ascii=False))
    apply_corrections(store, [doc])
    return decision_id


def _checked(field: str, value: object) -> object:
    text = " ".join(str(value).split())
    if field == "year":
        if not text.isdigit() or not 1990 <= int(text) <= 2100:
            raise ReviewError(f"året måste vara ett årtal mellan 1990 och 2100, inte »{text}«; ingenting ändrades")
        return int(text)
    if not text:
        raise ReviewError(f"{'nämnden' if field == 'namnd' else field} kan inte vara tom; ingenting ändrades")
    if len(text) > MAX_NAME:
        raise ReviewError(f"{field} är {len(text)} tecken; högst {MAX_NAME} (ingenting ändrades)")
    if field == "period":
        from nlp.metadata import MONTHS

        low = text.lower()
        if low not in MONTHS and low not in PERIOD_WORDS and not _ISO_DATE.fullmatch(low):
            raise ReviewError(f"perioden »{text}« är varken en månad (t.ex. augusti), ett datum (ÅÅÅÅ-MM-DD) eller "
                              "ett periodord (helår, tertial 2, kvartal 3 …); ingenting ändrades")
        return low
    return text


def _in_force(store: Store, target_type: str, docs: list[str] | None) -> dict[str, str]:
    """target id -> the value to show: the latest correction in force, else (every correction undone) the value the
    first correction replaced (what the reader found). Decisions come in id order."""
    history = [d for d in store.decisions(target_type, include_undone=True)
               if d.action != "undo" and (docs is None or d.doc in docs)]
    out: dict[str, str] = {}
    for d in history:
        out.setdefault(d.target_id, d.old_value or "")
    for d in history:
        if not d.undone and d.new_value:
            out[d.target_id] = d.new_value
    return out


def report_meta_in_force(store: Store, docs: list[str] | None = None) -> dict[str, dict[str, object]]:
    """doc -> the kommun, nämnd, year and period to show."""
    return {doc: json.loads(value or "{}") for doc, value in _in_force(store, REPORT_META, docs).items()}


def titles_in_force(store: Store, docs: list[str] | None = None) -> dict[str, str]:
    """unit id -> the title to show."""
    return {uid: title for uid, title in _in_force(store, UNIT_TITLE, docs).items() if title}


def apply_corrections(store: Store, docs: list[str] | None = None) -> int:
    """Rebuild units where reviewers corrected their structure, then write the titles and report details in force
    over the units and reports of `docs` (all when None); returns how many units and reports changed."""
    from pipeline.structure import apply_structure

    apply_structure(store, docs)
    wanted = titles_in_force(store, docs)
    present = {u.id: u.title for u in store.units_by_id(wanted)}
    changed = {uid: title for uid, title in wanted.items() if uid in present and present[uid] != title}
    reports = {doc: meta for doc, meta in report_meta_in_force(store, docs).items()
               if (r := store.report(doc)) is not None and any(r.get(f) != meta.get(f) for f in META_FIELDS)}
    if changed or reports:
        with store.transaction() as c:
            c.executemany("UPDATE units SET title=? WHERE id=?", [(t, uid) for uid, t in changed.items()])
            c.executemany("UPDATE reports SET kommun=?, namnd=?, year=?, period=? WHERE doc=?",
                          [(*(m.get(f) for f in META_FIELDS), doc) for doc, m in reports.items()])
    return len(changed) + len(reports)
