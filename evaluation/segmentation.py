"""Unit recall and precision per dev report: a gold unit is found when a unit of ours covers its line and its
title matches; precision counts our units that match some gold unit."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evaluation.gold import GoldReport, load_gold, match_units
from records import Unit

RECALL_TARGET, PRECISION_TARGET = 0.95, 0.90


@dataclass
class SegScore:
    doc: str
    gold: int
    found: int
    ours: int
    missed: list[dict]
    extra: list[Unit]

    @property
    def recall(self) -> float:
        return self.found / self.gold if self.gold else 1.0

    @property
    def precision(self) -> float:
        return (self.ours - len(self.extra)) / self.ours if self.ours else 0.0


def score_report(gold: GoldReport, units: list[Unit]) -> SegScore:
    matched = match_units(gold.units, units)
    hit_ids = {u.id for u in matched if u is not None}
    missed = [g for g, u in zip(gold.units, matched) if u is None]
    # An extra unit is one no gold unit matched and that does not repeat a matched unit's title (a linked
    # second follow-up of the same item is not a false unit).
    extra = [u for u in units if u.id not in hit_ids and u.linked_unit_id not in hit_ids]
    return SegScore(gold.doc, len(gold.units), len(hit_ids), len(units), missed, extra)


def evaluate(store, gold_dir: Path | str | None = None, verbose: bool = False) -> list[str]:
    gold = load_gold(gold_dir)
    lines = ["## Segmentation (units per dev report)",
             f"{'report':48s} {'gold':>5s} {'ours':>5s} {'recall':>7s} {'precision':>9s}  target"]
    for doc, g in gold.items():
        s = score_report(g, store.units(doc))
        ok = s.recall >= RECALL_TARGET and s.precision >= PRECISION_TARGET
        lines.append(f"{doc:48s} {s.gold:5d} {s.ours:5d} {s.recall:7.3f} {s.precision:9.3f}  "
                     f"{'met' if ok else 'NOT met'} (>= {RECALL_TARGET} / >= {PRECISION_TARGET})")
        if verbose or not ok:
            lines += [f"    missed  line {m['line']}: [{m['level']}] {m['title'][:90]}" for m in s.missed]
            lines += [f"    extra   lines {u.line_start}-{u.line_end}: [{u.level}] {u.title[:90]}" for u in s.extra]
    return lines
