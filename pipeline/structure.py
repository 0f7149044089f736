"""Structural corrections of what the segmenter found: delete an item, merge it with the next one, split it at a
line, move its end, give it another level or parent.

Each correction is a decision (target type `unit_structure`, action = the operation, new_value = its parameters as
JSON) with who and when. The first time a report gets one, the reader's units are kept (`Store.read_units`); after
that the report's units are rebuilt from them by replaying the corrections in force, oldest first, after every
ingest and every edit. So a correction survives a re-ingest of the same file, and undoing one replays the others
without it. A correction whose item is gone after a re-ingest of a changed file is skipped, not an error.

Why replay rather than edit rows in place: the reader's result stays the reference, so any undo order gives the same
units as if the undone correction had never been made.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from typing import Any, Callable

from errors import ReviewError
from index.store import Store
from nlp.segmenter import RANKS
from records import Decision, Unit

UNIT_STRUCTURE = "unit_structure"
OPS = ("delete", "merge", "split", "end", "level", "parent")
LEVELS = tuple(sorted(RANKS, key=lambda lvl: (RANKS[lvl], lvl)))
DERIVED = {"suggested_status": None, "status_confidence": None, "status_probs": None, "status_evidence": [],
           "status_note": None, "themes": []}
# Fields a structural correction can change: what tells whether a report's units must be rewritten. Titles are
# left out on purpose: title corrections are laid over afterwards (pipeline/corrections.py).
SHAPE = ("id", "seq", "level", "parent", "parent_id", "text", "line_start", "line_end", "title_line",
         "explicit_status", "explicit_status_line", "linked_unit_id", "page_start", "page_end")
TITLE_WORDS = 15  # a split line of at most this many words, not ending a sentence, is the new item's heading
CELL_SPLIT = re.compile(r"\s*\|\s*|\t")


@dataclass
class Report:
    """What a replay needs of a report besides its units."""

    doc: str
    lines: dict[int, str]  # clean text by line number
    pages: dict[int, int]  # page by line number (PDF, Word)
    passage_lines: dict[str, tuple[int, int]]  # passage id -> its first and last line


@dataclass
class Shape:
    units: list[Unit]
    passage_units: dict[str, str | None]  # passage id -> unit id (None: outside every item)

    def find(self, unit_id: str) -> Unit:
        for u in self.units:
            if u.id == unit_id:
                return u
        raise ReviewError(f"posten {unit_id} finns inte i rapporten")

    def reassign(self, old: str, new: str | None) -> None:
        for u in self.units:
            if u.parent_id == old:
                target = next((x for x in self.units if x.id == new), None)
                u.parent_id, u.parent = (new, target.title) if target else (None, None)
            if u.linked_unit_id == old:
                u.linked_unit_id = new
        for pid, uid in self.passage_units.items():
            if uid == old:
                self.passage_units[pid] = new


# -- the operations -------------------------------------------------------------------------------------------
def _delete(shape: Shape, report: Report, unit_id: str, params: dict[str, Any]) -> None:
    """The item is not an item (a heading read as one): its children move up to its parent, its text is left
    outside every item."""
    u = shape.find(unit_id)
    shape.units.remove(u)
    for child in shape.units:
        if child.parent_id == u.id:
            child.parent_id, child.parent = u.parent_id, u.parent
    shape.reassign(u.id, None)


def _merge(shape: Shape, report: Report, unit_id: str, params: dict[str, Any]) -> None:
    """One item read as two: the next item's text, lines and pages join this one's."""
    a, b = shape.find(unit_id), shape.find(str(params.get("with")))
    if shape.units.index(b) != shape.units.index(a) + 1:
        raise ReviewError(f"»{_short(b.title)}« står inte direkt efter »{_short(a.title)}«; bara en post och den "
                          "närmast följande kan slås ihop")
    a.text = "\n".join(t for t in (a.text, b.title if b.title_line else "", b.text) if t).strip()
    a.line_end = max(a.line_end, b.line_end)
    a.page_end = max(filter(None, (a.page_end, b.page_end)), default=None)
    if a.explicit_status is None and b.explicit_status is not None:
        a.explicit_status, a.explicit_status_source = b.explicit_status, b.explicit_status_source
        a.explicit_status_line, a.status = b.explicit_status_line, b.status
    shape.units.remove(b)
    shape.reassign(b.id, a.id)


def _split(shape: Shape, report: Report, unit_id: str, params: dict[str, Any]) -> None:
    """Two items read as one: a new item starts at `line` (its heading, or given a title, its first text line)."""
    u = shape.find(unit_id)
    line = int(params.get("line", 0))
    first = (u.title_line or u.line_start) + 1
    if not first <= line <= u.line_end:
        raise ReviewError(f"rad {line} ligger utanför postens text (rad {first}–{u.line_end})"
                          if first <= u.line_end else "posten har ingen text att dela")
    pos = split_position(u.text, report.lines.get(line, ""))
    if pos is None:
        raise ReviewError(f"rad {line} är tom eller hör inte till postens text (en statusrad?)")
    before, after = u.text[:pos].rstrip(), u.text[pos:].strip()
    title = " ".join(str(params.get("title") or "").split())
    if not title:
        head, _, rest = after.partition("\n")
        if not looks_like_title(head):
            raise ReviewError(f"rad {line} är ett stycke, ingen rubrik; ge den nya posten en titel")
        title, after = head, rest.strip()
    new = replace(u, id=split_id(u.id, line), title=title, text=after, line_start=line, title_line=line,
                  page_start=report.pages.get(line, u.page_start), linked_unit_id=None, progress=None)
    _clear_status(new if u.explicit_status_line is None or u.explicit_status_line < line else u)
    u.text, u.line_end = before, line - 1
    u.page_end = _last_page(report, u, line - 1)
    shape.units.insert(shape.units.index(u) + 1, new)
    for pid, uid in shape.passage_units.items():
        if uid == u.id and report.passage_lines.get(pid, (0, 0))[0] >= line:
            shape.passage_units[pid] = new.id


def _end(shape: Shape, report: Report, unit_id: str, params: dict[str, Any]) -> None:
    """The item's commentary ends at another line: earlier (lines after it are left outside every item) or later
    (over lines outside every item, never into the next item)."""
    u = shape.find(unit_id)
    end = int(params.get("line", 0))
    first = u.title_line or u.line_start
    following = shape.units[shape.units.index(u) + 1:]
    last = following[0].line_start - 1 if following else max(report.lines, default=u.line_end)
    if not first <= end <= last:
        raise ReviewError(f"rad {end} ligger utanför det möjliga (rad {first}–{last}; längre fram börjar nästa "
                          "post – slå ihop i stället)")
    if end < u.line_end:  # the segmenter's text up to the first dropped line that it holds
        cut = next((p for k in range(end + 1, u.line_end + 1)
                    if (p := split_position(u.text, report.lines.get(k, ""))) is not None), None)
        u.text = u.text if cut is None else u.text[:cut].rstrip()
    else:
        u.text = "\n".join(t for t in (u.text, text_of(report, u.line_end + 1, end)) if t)
    u.line_end = end
    u.page_end = _last_page(report, u, end)
    if u.explicit_status_line and u.explicit_status_line > end:
        _clear_status(u)
    for pid, uid in shape.passage_units.items():
        start = report.passage_lines.get(pid, (0, 0))[0]
        if uid == u.id and start > end:
            shape.passage_units[pid] = None
        elif uid is None and first < start <= end:
            shape.passage_units[pid] = u.id


def _level(shape: Shape, report: Report, unit_id: str, params: dict[str, Any]) -> None:
    level = str(params.get("level", "")).strip().lower()
    if level not in RANKS:
        raise ReviewError(f"okänd nivå »{level}« (giltiga: {', '.join(LEVELS)})")
    shape.find(unit_id).level = level


def _parent(shape: Shape, report: Report, unit_id: str, params: dict[str, Any]) -> None:
    u = shape.find(unit_id)
    parent_id = params.get("parent")
    if parent_id is None:
        u.parent_id = u.parent = None
        return
    parent = shape.find(str(parent_id))
    ancestor: Unit | None = parent
    while ancestor is not None:
        if ancestor.id == u.id:
            raise ReviewError(f"»{_short(parent.title)}« ligger under »{_short(u.title)}«; en post kan inte ligga "
                              "under sig själv")
        ancestor = next((x for x in shape.units if x.id == ancestor.parent_id), None)
    u.parent_id, u.parent = parent.id, parent.title


OPERATIONS: dict[str, Callable[[Shape, Report, str, dict[str, Any]], None]] = {
    "delete": _delete, "merge": _merge, "split": _split, "end": _end, "level": _level, "parent": _parent}


# -- helpers ----------------------------------------------------------------------------------------------------
def split_id(unit_id: str, line: int) -> str:
    """Stable over re-ingest: the same split of the same item gives the same id."""
    doc = unit_id.split("#u")[0]
    return f"{doc}#u" + hashlib.sha1(f"split|{unit_id}|{line}".encode()).hexdigest()[:10]


def split_position(text: str, line_text: str) -> int | None:
    """Where a source line's words begin in a unit's text: preferably at a paragraph start. Table rows are
    joined by ' | ' in unit text, so the first cell is looked for."""
    cell = next((c for c in CELL_SPLIT.split(line_text) if c.strip()), "")
    probe = " ".join(cell.split())[:40]
    if len(probe) < 3:
        return None
    hits = [m.start() for m in re.finditer(re.escape(probe), text)]
    starts = [i for i in hits if i == 0 or text[i - 1] == "\n"]
    return (starts or hits or [None])[0]


def looks_like_title(text: str) -> bool:
    """A heading, not a paragraph: short and not ending a sentence."""
    return 0 < len(text.split()) <= TITLE_WORDS and not text.rstrip().endswith((".", "!", "?", ":"))


def next_unit(store: Store, unit_id: str) -> Unit | None:
    """The item after this one in the report's reading order: what 'merge with the next item' merges."""
    unit = store.unit(unit_id)
    units = store.units(unit.doc) if unit else []
    i = next((k for k, u in enumerate(units) if u.id == unit_id), None)
    return units[i + 1] if i is not None and i + 1 < len(units) else None


def text_of(report: Report, start: int, end: int) -> str:
    """A unit's text from its source lines: lines run on into paragraphs, a blank line ends one (what the
    segmenter's paragraphs do for a plain page)."""
    paragraphs: list[str] = []
    joinable = False
    for k in range(start, end + 1):
        line = " ".join(report.lines.get(k, "").split())
        if not line:
            joinable = False
            continue
        if joinable:
            paragraphs[-1] += " " + line
        else:
            paragraphs.append(line)
        joinable = True
    return "\n".join(paragraphs)


def _clear_status(u: Unit) -> None:
    u.explicit_status = u.explicit_status_source = u.explicit_status_line = u.status = None


def _last_page(report: Report, u: Unit, end: int) -> int | None:
    return max(filter(None, (report.pages.get(k) for k in range(u.line_start, end + 1))), default=u.page_start)


def _short(title: str, n: int = 50) -> str:
    return title if len(title) <= n else title[: n - 1] + "…"


def _renumber(units: list[Unit]) -> list[Unit]:
    for i, u in enumerate(units):
        u.seq = i
    return units


# -- replay -------------------------------------------------------------------------------------------------------
def replay(base: Shape, report: Report, ops: list[tuple[str, str, dict[str, Any]]],
           strict: bool = False) -> tuple[Shape, list[int]]:
    """The units after these operations (oldest first) on the reader's units; with strict=False an operation that
    no longer applies (its item gone after a re-ingest of a changed file) is skipped, and its position returned."""
    shape = Shape([replace(u) for u in base.units], dict(base.passage_units))
    skipped = []
    for i, (action, unit_id, params) in enumerate(ops):
        try:
            OPERATIONS[action](shape, report, unit_id, params)
        except ReviewError:
            if strict:
                raise
            skipped.append(i)
    _renumber(shape.units)
    return shape, skipped


def report_of(store: Store, doc: str) -> Report:
    lines = {n: text for n, text in store.lines(doc)}
    passages = {p.id: (p.line_start, p.line_end) for p in store.passages(doc)}
    return Report(doc, lines, store.page_map(doc), passages)


def read_shape(store: Store, doc: str) -> Shape:
    """The reader's units of a report, kept the first time they are needed (after an ingest the units in the store
    are the reader's: structural corrections are replayed only after this is kept)."""
    kept = store.read_units(doc)
    if kept is not None:
        return Shape(*kept)
    units = [replace(u, **DERIVED) for u in store.units(doc)]
    passage_units = {p.id: p.unit_id for p in store.passages(doc)}
    if not store.read_only:  # a store on a read-only share is only read; nothing to replay there
        store.keep_read_units(doc, units, passage_units)
    return Shape(units, passage_units)


def in_force(store: Store, docs: list[str] | None) -> dict[str, list[Decision]]:
    """doc -> the structural corrections in force, oldest first; a report whose corrections were all undone maps
    to an empty list (its units go back to the reader's)."""
    out: dict[str, list[Decision]] = {}
    for d in store.decisions(UNIT_STRUCTURE, include_undone=True):
        if d.action == "undo" or (docs is not None and d.doc not in docs):
            continue
        out.setdefault(d.doc, [])
        if not d.undone:
            out[d.doc].append(d)
    return out


def operations(store: Store, docs: list[str] | None) -> dict[str, list[tuple[str, str, dict[str, Any]]]]:
    return {doc: [_op(d) for d in ds] for doc, ds in in_force(store, docs).items()}


def _op(d: Decision) -> tuple[str, str, dict[str, Any]]:
    return d.action, d.target_id, json.loads(d.new_value or "{}")


def stale_corrections(store: Store) -> list[Decision]:
    """Structural corrections in force that no longer apply: their report is gone, or a re-ingest of a changed file
    took away their item or line. Kept, and applied again if the item comes back."""
    out = []
    for doc, ds in in_force(store, None).items():
        if not ds:
            continue
        if store.report(doc) is None:
            out += ds
            continue
        _, skipped = replay(read_shape(store, doc), report_of(store, doc), [_op(d) for d in ds])
        out += [ds[i] for i in skipped]
    return out


def apply_structure(store: Store, docs: list[str] | None = None) -> list[str]:
    """Rebuild the units of every report in `docs` (all when None) that has structural corrections, where they
    differ from what the store holds; returns the reports rewritten."""
    rewritten = []
    for doc, ops in operations(store, docs).items():
        if store.report(doc) is None:
            continue
        shape, _ = replay(read_shape(store, doc), report_of(store, doc), ops)
        current = store.units(doc)
        passages_now = {p.id: p.unit_id for p in store.passages(doc)}
        if _shapes(current) != _shapes(shape.units) or passages_now != shape.passage_units:
            store.replace_units(doc, shape.units, shape.passage_units)
            rewritten.append(doc)
    return rewritten


def _shapes(units: list[Unit]) -> list[tuple[Any, ...]]:
    return [tuple(getattr(u, f) for f in SHAPE) for u in units]


# -- edits ---------------------------------------------------------------------------------------------------------
def edit_structure(store: Store, unit_id: str, reviewer: str, action: str, embedder: Any = None,
                   **params: Any) -> int:
    """Record one structural correction after checking it applies to the report as it now stands, then show it
    (units rebuilt, suggestions, themes and flags redone); returns the decision id. A clear Swedish ReviewError,
    nothing changed, when it does not apply."""
    from pipeline.review import _reviewer

    name = _reviewer(reviewer)
    if action not in OPERATIONS:
        raise ReviewError(f"okänd ändring »{action}« (giltiga: {', '.join(OPS)})")
    unit = store.unit(unit_id)
    if unit is None:
        raise ReviewError(f"posten {unit_id} finns inte i databasen")
    other = params.get("with") or params.get("parent")
    if other is not None and (o := store.unit(str(other))) is not None and o.doc != unit.doc:
        raise ReviewError("posterna hör till olika rapporter; ingenting ändrades")
    if other is not None and o is None:
        raise ReviewError(f"posten {other} finns inte i databasen; ingenting ändrades")
    ops = operations(store, [unit.doc]).get(unit.doc, [])
    report = report_of(store, unit.doc)
    try:
        before, _ = replay(read_shape(store, unit.doc), report, ops)
        after, _ = replay(before, report, [(action, unit_id, params)], strict=True)
    except ReviewError as e:
        raise ReviewError(f"{e}; ingenting ändrades") from None
    if _shapes(before.units) == _shapes(after.units) and before.passage_units == after.passage_units:
        raise ReviewError("ändringen ändrar ingenting; ingenting ändrades")
    decision_id = store.add_decision(Decision(UNIT_STRUCTURE, unit_id, unit.doc, name, action, None,
                                              json.dumps(params, ensure_ascii=False)))
    rederive(store, unit.doc, embedder)
    return decision_id


def rederive(store: Store, doc: str, embedder: Any = None) -> None:
    """Suggestions, themes and flags after the report's units changed shape; its passages did not, so the search
    indexes stand, and the model loads only if a new item's text was never embedded."""
    from index.indexes import lazy_embedder
    from pipeline.derive import clear_pending, derive, mark_pending

    mark_pending(store, [doc])  # a crash before the end redoes it on the next start (pipeline/recovery.py)
    touched = derive(store, [doc], embedder=embedder or lazy_embedder(store), indexes=False)
    clear_pending(store, touched)


def describe(d: Decision) -> str:
    """A structural decision in the reviewer's words (recent decisions, orphaned-decision warnings)."""
    params = json.loads(d.new_value or "{}")
    return {"delete": "ta bort posten", "merge": "slå ihop med nästa post",
            "split": f"dela posten vid rad {params.get('line')}", "end": f"låt posten sluta på rad {params.get('line')}",
            "level": f"nivå: {params.get('level')}",
            "parent": "överordnad post: " + ("ingen" if params.get("parent") is None else "ändrad")}.get(d.action, d.action)
