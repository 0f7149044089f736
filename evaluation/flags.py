"""Flags against the analysts' inconsistency labels in the dev set.

Gold problems:
* unit-level: a dev unit with an "inconsistency". It is found by a flag whose unit_ids include the unit of ours
  matched to that gold unit (evaluation.gold.match_units), or whose line lies in that unit's line range. A gold unit
  we did not segment can still be found by a flag within LINE_TOLERANCE lines of its title line.
* document-level: an entry of "doc_inconsistencies". It is found by a flag whose line, or any evidence line, lies
  within LINE_TOLERANCE lines of the gold line.

Recall = gold problems found / gold problems; precision = flags that find some gold problem / all flags of the
report. Both are given per report, in total and per detector; the share of units each detector points at is given
for every report in the store (the target is at most a third).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluation.gold import load_gold, match_units
from nlp.consistency import KINDS, compute_flags
from records import Flag, Unit

LINE_TOLERANCE = 3
RECALL_TARGET, PRECISION_TARGET, MAX_SHARE = 0.6, 0.5, 1 / 3


@dataclass
class Problem:
    doc: str
    level: str  # unit or doc
    line: int
    what: str
    unit: Unit | None = None


def gold_problems(gold_report: Any, units: list[Unit]) -> list[Problem]:
    out = []
    matched = match_units(gold_report.units, units)
    for g, u in zip(gold_report.units, matched):
        if g.get("inconsistency"):
            out.append(Problem(gold_report.doc, "unit", g["line"], g["inconsistency"], u))
    for d in gold_report.info.get("doc_inconsistencies", []):
        out.append(Problem(gold_report.doc, "doc", int(d["line"]), d.get("what", "")))
    return out


def flag_lines(f: Flag) -> list[int]:
    return [x for x in [f.line] + [e.get("line") for e in f.evidence] if isinstance(x, int)]


def finds(f: Flag, p: Problem) -> bool:
    if p.level == "unit" and p.unit is not None:
        return p.unit.id in f.unit_ids or (f.line is not None and p.unit.line_start <= f.line <= p.unit.line_end)
    return any(abs(ln - p.line) <= LINE_TOLERANCE for ln in flag_lines(f))


@dataclass
class Score:
    problems: int = 0
    found: int = 0
    flags: int = 0
    hits: int = 0

    def add(self, other: "Score") -> None:
        self.problems += other.problems
        self.found += other.found
        self.flags += other.flags
        self.hits += other.hits

    @property
    def recall(self) -> float:
        return self.found / self.problems if self.problems else 0.0

    @property
    def precision(self) -> float:
        return self.hits / self.flags if self.flags else 0.0

    def line(self, label: str) -> str:
        return (f"{label:48s} recall {self.recall:5.3f} ({self.found:3d}/{self.problems:3d})  "
                f"precision {self.precision:5.3f} ({self.hits:3d}/{self.flags:3d})")


def score(problems: list[Problem], flags: list[Flag]) -> Score:
    return Score(len(problems), sum(any(finds(f, p) for f in flags) for p in problems), len(flags),
                 sum(any(finds(f, p) for p in problems) for f in flags))


def unit_shares(store: Any, flags_by_doc: dict[str, list[Flag]]) -> dict[str, tuple[float, str]]:
    """Per detector: the largest share of one report's units it points at, and that report."""
    out: dict[str, tuple[float, str]] = {}
    for doc, flags in flags_by_doc.items():
        n = len(store.units(doc)) or 1
        per_kind: dict[str, set[str]] = defaultdict(set)
        for f in flags:
            per_kind[f.kind] |= set(f.unit_ids)
        for kind in KINDS:
            share = len(per_kind.get(kind, set())) / n
            if share >= out.get(kind, (-1.0, ""))[0]:
                out[kind] = (share, doc)
    return out


def evaluate(store: Any, gold_dir: Path | str | None = None, verbose: bool = True) -> list[str]:
    gold = load_gold(gold_dir)
    reports = {r["doc"] for r in store.reports()}
    # Recomputed from the store's units so the figures describe this code, not flags stored by an older run.
    flags_by_doc = {doc: compute_flags(store, doc) for doc in sorted(reports)}
    out = ["## Flags (inconsistencies) against the dev labels",
           f"a gold unit problem is found by a flag on its unit or inside its lines; a document problem by a flag "
           f"line or evidence line within ±{LINE_TOLERANCE} lines"]
    total, by_kind, serious = Score(), defaultdict(Score), Score()
    misses: list[str] = []
    for doc, g in gold.items():
        if doc not in reports:
            out.append(f"{doc:48s} not in the store")
            continue
        problems = gold_problems(g, store.units(doc))
        flags = flags_by_doc[doc]
        s = score(problems, flags)
        total.add(s)
        out.append(s.line(doc))
        for kind in KINDS:
            own = [f for f in flags if f.kind == kind]
            ks = score(problems, own)
            by_kind[kind].add(ks)
        serious.add(score(problems, [f for f in flags if f.severity != "låg"]))
        misses += [f"    missed {doc}:{p.line} [{p.level}] {p.what[:110]}" for p in problems
                   if not any(finds(f, p) for f in flags)]
        misses += [f"    unconfirmed {doc}:{f.line} [{f.kind}, {f.severity}] {f.message[:110]}" for f in flags
                   if not any(finds(f, p) for p in problems)]
    ok = total.recall >= RECALL_TARGET and total.precision >= PRECISION_TARGET
    out.append(total.line("all dev reports") + f"  {'met' if ok else 'NOT met'} "
               f"(recall >= {RECALL_TARGET} at precision >= {PRECISION_TARGET})")
    out.append(serious.line("all dev reports, severity hög/medel only"))
    out.append("by detector (recall: gold problems this detector alone finds):")
    shares = unit_shares(store, flags_by_doc)
    for kind in KINDS:
        share, where = shares.get(kind, (0.0, ""))
        out.append(by_kind[kind].line(f"  {kind}") + f"  max unit share {share:5.3f}"
                   + (f" ({where})" if share else "") + ("" if share <= MAX_SHARE else "  OVER 1/3"))
    counts = Counter(f.severity for fl in flags_by_doc.values() for f in fl)
    out.append("flags in store reports: " + ", ".join(f"{d}: {len(f)}" for d, f in flags_by_doc.items())
               + f"; severity {dict(counts)}")
    if verbose:
        out += misses
    return out
