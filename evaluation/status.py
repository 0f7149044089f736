"""Status evaluation against the analyst labels: leave-one-report-out for the suggestion, and whether every stated
status in the gold was captured on the right unit.

For each held-out report the model is trained on everything except that report's analyst labels, its own stated
statuses and any reviewers' decisions on it (no leakage), then scored on its matched units. Units the analyst
judged ej_påbörjad, stoppad or oklart are left out of the three-class scoring.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_fscore_support

from evaluation.gold import load_gold, match_units
from evaluation.heldout import held_out_status
from nlp import status as S
from nlp.status_vocab import norm

TARGET_MACRO_F1 = 0.75
TARGET_RECALL = 0.6


@dataclass
class Scored:
    """Gold labels and each system's predictions over the same items (None: no prediction, counted wrong)."""

    gold: list[str] = field(default_factory=list)
    predictions: dict[str, list[str | None]] = field(default_factory=dict)

    def add(self, gold: str, **preds: str | None) -> None:
        self.gold.append(gold)
        for name, p in preds.items():
            self.predictions.setdefault(name, []).append(p)


def scores(gold: list[str], pred: list[str | None]) -> dict[str, Any]:
    """Macro-F1 and per-class precision/recall over the three suggestion classes."""
    pred_ = [p if p is not None else "(inget)" for p in pred]
    p, r, f, _ = precision_recall_fscore_support(gold, pred_, labels=list(S.SUGGESTED), zero_division=0)
    return {"macro_f1": float(np.mean(f)), "precision": dict(zip(S.SUGGESTED, map(float, p))),
            "recall": dict(zip(S.SUGGESTED, map(float, r)))}


def format_scores(name: str, s: dict[str, Any]) -> str:
    per = " | ".join(f"{c} P {s['precision'][c]:.2f} R {s['recall'][c]:.2f}" for c in S.SUGGESTED)
    return f"  {name:<20} macro-F1 {s['macro_f1']:.3f} | {per}"


def meets_target(s: dict[str, Any]) -> bool:
    return s["macro_f1"] >= TARGET_MACRO_F1 and all(v >= TARGET_RECALL for v in s["recall"].values())


def contains_normalised(a: str | None, b: str | None) -> bool:
    na, nb = norm(a), norm(b)
    return bool(na and nb) and (na in nb or nb in na)


def stated_capture(gold: dict[str, Any], units_by_doc: dict[str, list]) -> tuple[int, int, list[str]]:
    """Gold units with a stated status whose matched unit carries the same words (normalised containment)."""
    hit, total, misses = 0, 0, []
    for doc, report in sorted(gold.items()):
        matched = match_units(report.units, units_by_doc.get(doc, []))
        for g, u in zip(report.units, matched):
            if not g.get("explicit_status"):
                continue
            total += 1
            if u is not None and contains_normalised(g["explicit_status"], u.explicit_status):
                hit += 1
                continue
            got = "ingen matchande post" if u is None else f"{u.id}: {u.explicit_status!r}"
            misses.append(f"    miss {doc}:{g['line']} [{g['explicit_status_source']}] {g['title'][:60]!r} "
                          f"väntat {g['explicit_status']!r}, fick {got}")
    return hit, total, misses


def evaluate(store: Any, gold_dir: Path | str | None = None, embedder: Any | None = None) -> list[str]:
    gold = load_gold(gold_dir)
    held = held_out_status(store, gold, embedder)
    inputs, X, index = held.inputs, held.X, held.index
    scored, per_report, unmatched, no_text = Scored(), [], 0, 0
    for doc, report in sorted(gold.items()):
        model = held.models[doc]
        doc_units = [x.unit for x in inputs if x.unit.doc == doc]
        local = Scored()
        for g, u in zip(report.units, match_units(report.units, doc_units)):
            label = S.suggestion_class(g.get("judged_status"))
            if label is None or g.get("judged_status") not in ("genomförd", "enligt_plan", "försenad"):
                continue
            x = inputs[index[u.id]] if u is not None else None
            unmatched += x is None
            no_text += x is not None and not x.has_commentary
            pred = rule = None
            if x is not None and x.has_commentary:
                rule = S.rule_suggestion(x.sentences)
                pred = _predict(model, X[index[u.id]], x)
            for target in (scored, local):
                target.add(label, modell=pred, **{"alltid enligt plan": "enligt plan", "frasregler": rule})
        per_report.append(f"  {doc}: {len(local.gold)} poster, modellens macro-F1 "
                          f"{scores(local.gold, local.predictions.get('modell', []))['macro_f1']:.3f}")
    counts = ", ".join(f"{c} {scored.gold.count(c)}" for c in S.SUGGESTED)
    lines = [f"status – lämna en rapport utanför ({len(gold)} rapporter, {len(scored.gold)} poster: {counts}; "
             f"{unmatched} utan matchande post, {no_text} utan kommentar räknas som fel)"]
    results = {name: scores(scored.gold, preds) for name, preds in scored.predictions.items()}
    lines += [format_scores(name, s) for name, s in results.items()]
    lines += per_report
    model_scores = results.get("modell")
    if model_scores:
        verdict = "uppnått" if meets_target(model_scores) else "EJ uppnått"
        lines.append(f"  mål macro-F1 >= {TARGET_MACRO_F1} och recall >= {TARGET_RECALL} i varje klass: {verdict}")
    units_by_doc = {doc: [x.unit for x in inputs if x.unit.doc == doc] for doc in gold}
    hit, total, misses = stated_capture(gold, units_by_doc)
    lines.append(f"angiven status fångad på rätt post: {hit}/{total} ({100 * hit / max(total, 1):.1f} %)")
    return lines + misses


def _predict(model: S.StatusModel | None, row: np.ndarray, x: S.UnitInput) -> str:
    if model is None:
        return S.rule_suggestion(x.sentences)
    return model.classes[int(np.argmax(model.proba(row[None, :])[0]))]
