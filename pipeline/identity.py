"""Which stored report a file is, and which stored item each new item is.

A report is its content and metadata, not its name:
* the same name and the same bytes are the same report (a copy in another folder is not stored twice);
* a file from the same place, or with the same name and the same kommun, nämnd, year and period, is a new version
  of that report and replaces it;
* anything else is a new report. It keeps its file name as key when that is free, otherwise the key gets a short
  suffix from its hash and metadata ("rapport~3fa2c1.txt"), so `a/rapport.txt` and `b/rapport.txt` are two reports.

Reviewers' decisions follow their item into a new version by a stable item key (title, parent and level), matched
fuzzily where a title was edited; decisions whose item cannot be found are kept and reported as orphans.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index.store import Store
from nlp.text import norm
from records import Document, ReportMeta, Segmentation, Unit

TITLE_MATCH = 85.0  # rapidfuzz ratio (0-100) a changed title needs to count as the same item
MARGIN = 3.0  # the best candidate must beat the runner-up by this much, else the decision stays where it was


@dataclass
class Placement:
    doc: str  # the key the report is stored under
    previous: dict[str, Any] | None  # the stored report this file is a new version of, if any


@dataclass
class Carried:
    """Decisions re-pointed to the new version's items (old unit id -> new unit id)."""

    moves: dict[str, str] = field(default_factory=dict)


def file_identity(path: Path) -> str:
    """Where a file was read from, as stored in reports.path (resolved, so two spellings of a path agree)."""
    return str(Path(path).resolve())


def place(store: Store, path: Path, meta: ReportMeta, document: Document) -> Placement:
    name = document.file
    same_name = store.reports_named(name)
    for match in (lambda r: r["sha256"] == document.sha256,
                  lambda r: r["path"] == file_identity(path),
                  lambda r: _same_period(r, meta)):
        found = [r for r in same_name if match(r)]
        if found:
            return Placement(found[0]["doc"], found[0])
    same_content = [r for r in store.reports_with_content(document.sha256) if _compatible(r, meta)]
    if same_content:  # a renamed copy: the same report, whatever it is called now
        return Placement(same_content[0]["doc"], same_content[0])
    if store.report(name) is None:
        return Placement(name, None)
    return Placement(_free_key(store, name, meta, document), None)


def _compatible(report: dict[str, Any], meta: ReportMeta) -> bool:
    """No metadata field known on both sides differs (the same bytes given another kommun or year by the user
    are another report)."""
    pairs = [(getattr(meta, k), report.get(k)) for k in ("kommun", "namnd", "year", "period")]
    return all(norm(str(a)) == norm(str(b)) for a, b in pairs if a not in (None, "") and b not in (None, ""))


def _same_period(report: dict[str, Any], meta: ReportMeta) -> bool:
    """Same kommun, nämnd, year and period, all of them known: the same report in a newer version."""
    keys = ("kommun", "namnd", "year", "period")
    ours = [getattr(meta, k) for k in keys]
    theirs = [report.get(k) for k in keys]
    return all(v not in (None, "") for v in ours) and [norm(str(v)) for v in ours] == [norm(str(v)) for v in theirs]


def _free_key(store: Store, name: str, meta: ReportMeta, document: Document) -> str:
    stem, dot, suffix = name.rpartition(".")
    stem, suffix = (stem, f".{suffix}") if dot else (name, "")
    seed = "|".join(str(v or "") for v in (meta.kommun, meta.namnd, meta.year, meta.period, document.sha256))
    digest = hashlib.sha1(seed.encode()).hexdigest()
    for n in range(6, 41):
        key = f"{stem}~{digest[:n]}{suffix}"
        if store.report(key) is None:
            return key
    raise AssertionError("40 hex digits of a hash cannot all be taken")


def rekey(meta: ReportMeta, document: Document, seg: Segmentation, doc: str) -> None:
    """Store the report under `doc`: its ids and doc fields follow (ids start with the key and '#')."""
    old = document.file
    if doc == old:
        return
    swap = (lambda i: doc + i[len(old):] if i and i.startswith(old + "#") else i)
    meta.file = document.file = doc
    for u in seg.units:
        u.doc, u.id, u.parent_id, u.linked_unit_id = doc, swap(u.id), swap(u.parent_id), swap(u.linked_unit_id)
    for p in seg.passages:
        p.doc, p.id, p.unit_id = doc, swap(p.id), swap(p.unit_id)


def carry_decisions(store: Store, doc: str, new_units: list[Unit]) -> Carried:
    """Old unit id -> new unit id for every item of `doc` that has a decision and whose id the new version lacks.

    An item is found again by its key: the title (normalised; a fuzzy match for an edited title), with the same
    level and parent preferred. Each new item takes at most one old one, best matches first."""
    from rapidfuzz import fuzz

    new_ids = {u.id for u in new_units}
    old_units = store.units(doc)
    decided = {d.target_id for t in ("unit_status", "unit_theme") for d in store.current_decisions(t).values()
               if d.doc == doc}
    lost = [u for u in old_units if u.id in decided and u.id not in new_ids]
    kept = {u.id for u in old_units} | decided  # items still there under their own id take no one else's decisions
    free = [u for u in new_units if u.id not in kept]
    pairs = []
    for old in lost:
        scored = sorted((_score(fuzz, old, new) for new in free), reverse=True)
        if not scored or scored[0][1] < TITLE_MATCH:
            continue
        if len(scored) == 1 or scored[0][0] - scored[1][0] >= MARGIN:
            pairs.append((scored[0][0], old.id, scored[0][2]))
    carried = Carried()
    taken: set[str] = set()
    for _, old_id, new_id in sorted(pairs, reverse=True):
        if new_id not in taken:
            carried.moves[old_id] = new_id
            taken.add(new_id)
    return carried


def _score(fuzz, old: Unit, new: Unit) -> tuple[float, float, str]:
    """(rank score, title similarity, new id): the title decides; the same level and parent break near ties."""
    title = fuzz.ratio(norm(old.title), norm(new.title))
    same_level = 2.0 if old.level == new.level else 0.0
    same_parent = 2.0 if norm(old.parent or "") == norm(new.parent or "") else 0.0
    return title + same_level + same_parent, title, new.id
