"""Unit recall and precision per dev report: a gold unit is found when a unit of ours covers its line and its
title matches; precision counts our units that match some gold unit.

Not out of sample: the segmentation rules were written by people who had read these reports, so these figures are
a regression check, not a forecast for new layouts. Beside them, a naive baseline: every numbered line or
markdown heading is an item."""
from __future__ import annotations

import re
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


NAIVE_ITEM = re.compile(r"^\s*(?:#{1,6}\s+\S|\d+(?:\.\d+)*[.)]?\s+[A-ZÅÄÖa-zåäö]|[a-z]\)\s+\S)")


def naive_units(doc: str, lines: list[tuple[int, str]]) -> list[Unit]:
    """The baseline: every numbered line or markdown heading starts an item that runs to the next one."""
    starts = [(ln, text.strip()) for ln, text in lines if NAIVE_ITEM.match(text or "")]
    last = lines[-1][0] if lines else 0
    return [Unit(id=f"naive{k}", doc=doc, seq=k, level="åtgärd", title=title.lstrip("# "), text="", line_start=ln,
                 line_end=(starts[k + 1][0] - 1 if k + 1 < len(starts) else last), title_line=ln)
            for k, (ln, title) in enumerate(starts)]


def evaluate(store, gold_dir: Path | str | None = None, verbose: bool = False) -> list[str]:
    gold = load_gold(gold_dir)
    lines = ["## Segmentering (poster per utvecklingsrapport)",
             "i urvalet: reglerna skrevs med dessa rapporter synliga – en regressionskontroll, inte en prognos för "
             "nya layouter; baslinjen: varje numrerad rad eller markdown-rubrik är en post",
             f"{'report':48s} {'gold':>5s} {'ours':>5s} {'recall':>7s} {'precision':>9s}  {'baslinje R/P':>13s}  mål"]
    for doc, g in gold.items():
        s = score_report(g, store.units(doc))
        b = score_report(g, naive_units(doc, store.lines(doc)))
        ok = s.recall >= RECALL_TARGET and s.precision >= PRECISION_TARGET
        lines.append(f"{doc:48s} {s.gold:5d} {s.ours:5d} {s.recall:7.3f} {s.precision:9.3f}  "
                     f"{b.recall:6.3f}/{b.precision:.3f}  "
                     f"{'uppnått' if ok else 'EJ uppnått'} (>= {RECALL_TARGET} / >= {PRECISION_TARGET})")
        if verbose or not ok:
            lines += [f"    missed  line {m['line']}: [{m['level']}] {m['title'][:90]}" for m in s.missed]
            lines += [f"    extra   lines {u.line_start}-{u.line_end}: [{u.level}] {u.title[:90]}" for u in s.extra]
    return lines
