"""Review queues and reviewers' decisions: pure helpers over the store, shared by the app and the CLI.

Two queues:
* status suggestions: units without a stated (canonical) status that have a suggested one; a reviewer accepts the
  suggestion, corrects it to another canonical status, or skips it for later;
* flags: possible inconsistencies; a reviewer confirms (a real problem) or dismisses them, with a comment.

Decisions are rows in the store's `decisions` table keyed by stable unit and flag ids, so they survive restarts and
re-ingest. Undo never deletes: the decision is marked undone and an 'undo' row records who undid it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from errors import ReviewError, UnknownChoice
from index.store import DB_NAME, Store
from records import Decision, Flag, Unit

# Canonical statuses (mirrors nlp.status.CANONICAL, checked by a test; importing nlp.status costs seconds of
# sklearn/scipy imports that the CLI's review commands do not need).
STATUS_CHOICES = ("genomförd", "enligt plan", "försenad", "ej påbörjad", "stoppad")
UNCERTAIN = 0.5  # mirrors nlp.status.UNCERTAIN (checked by a test): below it a suggestion is "osäker"
STATUS_ACTIONS = ("accept", "correct", "skip")
FLAG_ACTIONS = ("confirm", "dismiss")
STATUS_SORTS = ("informative", "confidence", "confidence_desc", "document")
FLAG_SORTS = ("score", "score_asc", "document")
UNIT_STATUS, FLAG = "unit_status", "flag"

STATUS_LABELS = {"genomförd": "Genomförd", "enligt plan": "Enligt plan", "försenad": "Försenad",
                 "ej påbörjad": "Ej påbörjad", "stoppad": "Stoppad"}
ACTION_LABELS = {"accept": "godkänd", "correct": "ändrad", "skip": "överhoppad", "confirm": "bekräftad",
                 "dismiss": "avfärdad", "undo": "ångrad", "split": "delad", "merge": "ihopslagen",
                 "delete": "borttagen", "end": "avgränsad", "level": "ny nivå", "parent": "flyttad"}
FLAG_KIND_LABELS = {
    "status_text_conflict": "Status motsäger texten",
    "summary_conflict": "Sammanfattning motsäger posten",
    "overdue": "Passerat slutdatum",
    "period_mismatch": "Fel period eller år",
    "duplicate_text": "Kopierad text",
    "count_mismatch": "Antal stämmer inte",
    "internal_contradiction": "Motsägelse i texten",
}


def kind_label(kind: str) -> str:
    return FLAG_KIND_LABELS.get(kind, kind.replace("_", " ").capitalize())


def status_label(status: str | None) -> str:
    return STATUS_LABELS.get(status or "", status or "–")


# -- what a unit's status is, everywhere it is shown ----------------------------------------------------------------

@dataclass
class StatusView:
    """The status to show for a unit: a reviewer's decision beats the stated status, which beats a suggestion."""

    value: str | None
    source: str | None  # "granskad", "angiven", "förslag" or None
    confidence: float | None = None
    reviewer: str | None = None
    decided_at: str | None = None
    stated: str | None = None  # the report's own wording, when there is one
    conflict: str | None = None  # a reviewer's value that differs from the report's own stated status


def status_view(unit: Unit, decision: Decision | None = None) -> StatusView:
    stated = unit.explicit_status
    if decision is not None and decision.action in ("accept", "correct") and decision.new_value:
        conflict = (f"Granskat som {status_label(decision.new_value).lower()}, men rapporten anger »{stated}«"
                    if unit.status and decision.new_value != unit.status else None)
        return StatusView(decision.new_value, "granskad", unit.status_confidence if decision.action == "accept"
                          else None, decision.reviewer, decision.created_at, stated, conflict)
    if unit.status:
        return StatusView(unit.status, "angiven", stated=stated)
    if unit.suggested_status:
        return StatusView(unit.suggested_status, "förslag", unit.status_confidence, stated=stated)
    return StatusView(None, None, stated=stated)


# -- queues ---------------------------------------------------------------------------------------------------------

def _matches(report: dict[str, Any] | None, kommun: str | None, namnd: str | None, year: int | None) -> bool:
    report = report or {}
    return ((not kommun or report.get("kommun") == kommun) and (not namnd or report.get("namnd") == namnd)
            and (year is None or report.get("year") == year))


def needs_status(unit: Unit) -> bool:
    """In the status queue: no stated status we could map, but a suggestion a reviewer can judge."""
    return unit.status is None and unit.suggested_status is not None


def status_queue(store: Store, kommun: str | None = None, namnd: str | None = None, sort: str = "informative",
                 include_decided: bool = False, year: int | None = None) -> list[Unit]:
    """Units to review. Decided ones (accepted or corrected) leave the queue unless `include_decided`; skipped
    ones stay but come last, so 'skip' means 'later'. `sort`: informative (what a decision would teach the model
    most: nearly tied suggestions, spread over commentaries and reports – the order the status step writes;
    units without a place in it follow by confidence), confidence (least sure first), confidence_desc (quick accepts
    first) or document (report order)."""
    if sort not in STATUS_SORTS:
        raise UnknownChoice("sortering", sort, STATUS_SORTS)
    reports = store.reports_by_doc()
    decided = store.current_decisions(UNIT_STATUS)
    if sort == "informative":
        from nlp.status import ensure_review_order  # scikit-learn and friends only where the order is needed

        ensure_review_order(store)
    ranks = store.review_order() if sort == "informative" else {}
    out = []
    for u in store.units():
        d = decided.get(u.id)
        if not needs_status(u) or not _matches(reports.get(u.doc), kommun, namnd, year):
            continue
        if d is not None and d.action in ("accept", "correct") and not include_decided:
            continue
        out.append(u)

    def key(u: Unit) -> tuple:
        skipped = decided.get(u.id) is not None and decided[u.id].action == "skip"
        conf = u.status_confidence if u.status_confidence is not None else 0.0
        rank = ranks.get(u.id) if sort == "informative" else None
        order = {"informative": conf, "confidence": conf, "confidence_desc": -conf, "document": 0.0}[sort]
        return (skipped, sort == "informative" and rank is None, rank or 0.0, order, u.doc, u.seq)

    return sorted(out, key=key)


def flag_queue(store: Store, kommun: str | None = None, namnd: str | None = None, kind: str | None = None,
               sort: str = "score", include_decided: bool = False, year: int | None = None) -> list[Flag]:
    """Flags to review; confirmed or dismissed ones leave the queue unless `include_decided`.
    `sort`: score (strongest first), score_asc or document."""
    if sort not in FLAG_SORTS:
        raise UnknownChoice("sortering", sort, FLAG_SORTS)
    reports = store.reports_by_doc()
    decided = store.current_decisions(FLAG)
    out = [f for f in store.flags(kind=kind or None)
           if _matches(reports.get(f.doc), kommun, namnd, year) and (include_decided or f.id not in decided)]
    order = {"score": lambda f: (-f.score, f.doc, f.line or 0), "score_asc": lambda f: (f.score, f.doc, f.line or 0),
             "document": lambda f: (f.doc, f.line or 0, -f.score)}[sort]
    return sorted(out, key=order)


# -- decisions ------------------------------------------------------------------------------------------------------

def _reviewer(reviewer: str | None) -> str:
    name = " ".join((reviewer or "").split())
    if not name:
        raise ReviewError("ange ditt namn som granskare innan du fattar beslut")
    if len(name) > 100:
        raise ReviewError("granskarens namn är för långt (högst 100 tecken)")
    return name


def decide_status(store: Store, unit_id: str, reviewer: str, action: str, new_value: str | None = None,
                  comment: str | None = None) -> int:
    """Record accept (the suggestion), correct (to `new_value`) or skip for a unit; returns the decision id.
    old_value is the status in force before: an earlier decision's value, else the stated status, else the
    suggestion."""
    name = _reviewer(reviewer)
    if action not in STATUS_ACTIONS:
        raise UnknownChoice("beslut", action, STATUS_ACTIONS)
    unit = store.unit(unit_id)
    if unit is None:
        raise ReviewError(f"posten {unit_id} finns inte i databasen")
    if action == "accept":
        if not unit.suggested_status:
            raise ReviewError("posten har inget statusförslag att godkänna; välj en status i stället")
        new_value = unit.suggested_status
    elif action == "correct":
        if new_value not in STATUS_CHOICES:
            raise UnknownChoice("status", str(new_value), STATUS_CHOICES)
    else:
        new_value = None
    # old_value (the value in force before: an earlier decision's, else the stated, else the suggestion) is read
    # in the same write transaction, so a decision racing another tab's records what it really replaced.
    return store.add_decision_over(Decision(UNIT_STATUS, unit_id, unit.doc, name, action, None, new_value,
                                            _comment(comment)), default_old=unit.status or unit.suggested_status)


def rescore_flags(store: Store, doc: str | None) -> None:
    """Recompute one report's flags after a decision on one of them, so the scores of similar flags in it follow
    the reviewer at once (nlp.flag_feedback); other reports follow at their next recompute (ingest, train, the
    background retrain)."""
    from nlp.consistency import apply_flags

    if doc and not store.read_only:
        apply_flags(store, [doc])


def decide_flag(store: Store, flag_id: str, reviewer: str, action: str, comment: str | None = None) -> int:
    """Confirm (a real problem) or dismiss a flag; returns the decision id."""
    name = _reviewer(reviewer)
    if action not in FLAG_ACTIONS:
        raise UnknownChoice("beslut", action, FLAG_ACTIONS)
    flag = next((f for f in store.flags() if f.id == flag_id), None)
    if flag is None:
        raise ReviewError(f"flaggan {flag_id} finns inte i databasen")
    from nlp.flag_feedback import case_key

    return store.add_decision_over(Decision(FLAG, flag_id, flag.doc, name, action, None, action, _comment(comment),
                                            flag_case=case_key(flag)), default_old=None)


def _comment(comment: str | None) -> str | None:
    text = (comment or "").strip()
    if len(text) > 5000:
        raise ReviewError("kommentaren är för lång (högst 5000 tecken)")
    return text or None


def undo(store: Store, decision_id: int, reviewer: str, embedder: Any = None) -> Decision:
    """Undo one decision in force; the previous decision on the same target (if any) applies again. Returns the
    decision undone."""
    name = _reviewer(reviewer)
    found = [d for d in store.decisions() if d.id == decision_id]
    if not found or found[0].action == "undo":
        raise ReviewError(f"beslut {decision_id} finns inte")
    if found[0].undone:
        raise ReviewError(f"beslut {decision_id} är redan ångrat")
    store.undo_decision(decision_id, name)
    from pipeline.corrections import REPORT_META, UNIT_TITLE, apply_corrections
    from pipeline.structure import UNIT_STRUCTURE

    if found[0].target_type in (UNIT_TITLE, REPORT_META) and found[0].doc:
        apply_corrections(store, [found[0].doc])  # the previous title in force is shown again
    if found[0].target_type == UNIT_STRUCTURE and store.report(found[0].doc) is not None:
        from pipeline.structure import rederive

        rederive(store, found[0].doc, embedder)  # units replayed without it, then everything derived
    return found[0]


def recent_decisions(store: Store, reviewer: str | None = None, limit: int = 20) -> list[Decision]:
    """Newest first, undone ones and undo rows left out (what a reviewer could still undo)."""
    rows = [d for d in store.decisions(include_undone=False) if not reviewer or d.reviewer == reviewer]
    return rows[::-1][:limit]


def data_version(store: Store) -> str:
    """Changes whenever anything in the store changes (ingest, classifiers, decisions), for cache keys.

    SQLite in WAL mode writes to the -wal file first, so both files' sizes and mtimes are taken."""
    parts = []
    for suffix in ("", "-wal"):
        path = Path(store.dir) / (DB_NAME + suffix)
        try:
            st = os.stat(path)
            parts.append(f"{st.st_mtime_ns}:{st.st_size}")
        except FileNotFoundError:
            parts.append("-")
    row = store.conn.execute("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM decisions").fetchone()
    parts.append(f"{row[0]}:{row[1]}")
    return "|".join(parts)
