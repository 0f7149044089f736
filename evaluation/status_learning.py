"""Calibration and learning from reviewers, leave-one-report-out on the dev labels.

* Calibration: expected calibration error of the held-out suggestions (10 equal-width bins on the top probability),
  the share the product calls "osäker" (top probability below nlp.status.UNCERTAIN) and how often those are right,
  as first choice and as one of the two it names.
* Learning curve: on each held-out report a simulated reviewer decides 5, 10 and 20 of its labelled units (with the
  analyst's judgement) in the order the Granska queue gives (nlp.status_learning.informative_order, re-ordered after
  each retrain), or in random order (mean over RANDOM_SEEDS shuffles); after each step the model is retrained as the
  app retrains it (the decisions join the training examples) and the report's own decisions adapt the rest
  (nlp.status_learning.adapt_to_decisions). Scored: macro-F1 over the units not yet decided, pooled over reports.

What it cannot show: the rest differs between the two orders (the queue takes the hardest units out of the scored
set, random takes a cross-section), so part of the queue's gain is which units are left; the last column scores
every unit, with decided ones at the reviewer's value, which both orders share.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evaluation.gold import load_gold, match_units
from evaluation.heldout import HeldOut, held_out_status
from evaluation.status import format_scores, scores
from nlp import status as S
from nlp import status_learning as L

STEPS = (0, 5, 10, 20)
RANDOM_SEEDS = (0, 1, 2, 3, 4)
TARGET_GAIN = 0.10
TARGET_ECE = 0.10
BINS = 10


def expected_calibration_error(confidence: list[float], correct: list[bool], bins: int = BINS) -> float:
    conf, ok = np.asarray(confidence), np.asarray(correct, dtype=float)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    return float(sum(abs(ok[which == b].mean() - conf[which == b].mean()) * (which == b).mean()
                     for b in range(bins) if (which == b).any()))


def labelled_rows(held: HeldOut, gold: dict[str, Any]) -> dict[str, list[tuple[int, str]]]:
    """Per held-out report: (row, analyst's class) of its matched units with commentary and a three-class label."""
    out: dict[str, list[tuple[int, str]]] = {}
    for doc, report in sorted(gold.items()):
        units = [x.unit for x in held.inputs if x.unit.doc == doc]
        rows = []
        for g, u in zip(report.units, match_units(report.units, units)):
            label = S.suggestion_class(g.get("judged_status"))
            if u is None or label is None or g.get("judged_status") not in ("genomförd", "enligt_plan", "försenad"):
                continue
            if held.inputs[held.index[u.id]].has_commentary:
                rows.append((held.index[u.id], label))
        out[doc] = rows
    return out


def calibration_lines(held: HeldOut, rows: dict[str, list[tuple[int, str]]]) -> list[str]:
    conf, correct, top2 = [], [], []
    for doc, pairs in rows.items():
        for row, label in pairs:
            f = held.fields[held.inputs[row].unit.id]
            ranked = sorted(f["status_probs"], key=lambda c: -f["status_probs"][c])
            conf.append(f["status_confidence"])
            correct.append(f["suggested_status"] == label)
            top2.append(label in ranked[:2])
    ece = expected_calibration_error(conf, correct)
    unsure = [i for i, c in enumerate(conf) if c < S.UNCERTAIN]
    sure = [i for i in range(len(conf)) if i not in set(unsure)]
    acc = lambda idx, ok: sum(ok[i] for i in idx) / max(1, len(idx))  # noqa: E731
    verdict = "uppnått" if ece <= TARGET_ECE else "EJ uppnått"
    return [f"kalibrering – lämna en rapport utanför ({len(conf)} poster): ECE {ece:.3f} (mål <= {TARGET_ECE}: "
            f"{verdict}); medelsäkerhet {np.mean(conf):.3f}, träffsäkerhet {np.mean(correct):.3f}",
            f"  osäker (säkerhet < {S.UNCERTAIN}): {len(unsure)} av {len(conf)} ({100 * len(unsure) / max(1, len(conf)):.1f} %), "
            f"rätt som förstaval {acc(unsure, correct):.2f}, rätt bland de två som nämns {acc(unsure, top2):.2f}; "
            f"övriga {len(sure)}: rätt {acc(sure, correct):.2f}"]


def _retrained_probs(held: HeldOut, doc: str, rows: list[int], decided: dict[int, str]) -> np.ndarray:
    """The app's retrain: the held-out model's examples plus the reviewer's decisions, then the report adapts."""
    base = [e for e in held.examples if held.inputs[e.index].unit.doc != doc]
    extra = [S.Example(r, label, S.WEIGHTS["decision"], "decision") for r, label in decided.items()]
    dim = S.embedding_dim(held.X)
    model = S.train_on(held.X, base + extra, "eval", held.inputs, dim, exclude_doc=doc) if extra \
        else held.models[doc]
    probs = S.suggestion_probs(model, held.X[rows], [held.inputs[r] for r in rows])
    local = {rows.index(r): model.classes.index(label) for r, label in decided.items()}
    where = L.Local([doc] * len(rows), [None] * len(rows))
    return L.adapt_to_decisions(probs, L.centred(held.X[rows, :dim]), where, local), model.classes


@dataclass
class Step:
    """One point of a simulated session: gold and predictions over the units not yet decided (after retraining,
    and from the model before any decision), and over all units with decided ones at the reviewer's value."""

    rest_gold: list[str] = field(default_factory=list)
    rest_pred: list[str] = field(default_factory=list)
    rest_before: list[str] = field(default_factory=list)
    all_gold: list[str] = field(default_factory=list)
    all_pred: list[str] = field(default_factory=list)

    def extend(self, other: "Step") -> None:
        for name in self.__dataclass_fields__:
            getattr(self, name).extend(getattr(other, name))


def _score(held: HeldOut, pairs: list[tuple[int, str]], probs: np.ndarray, classes: list[str],
           decided: dict[int, str]) -> Step:
    out = Step()
    for k, (row, label) in enumerate(pairs):
        pred = classes[int(np.argmax(probs[k]))]
        out.all_gold.append(label)
        out.all_pred.append(decided.get(row, pred))
        if row not in decided:
            out.rest_gold.append(label)
            out.rest_pred.append(pred)
            out.rest_before.append(held.fields[held.inputs[row].unit.id]["suggested_status"])
    return out


def simulate(held: HeldOut, doc: str, pairs: list[tuple[int, str]], order: str, seed: int = 0) -> dict[int, Step]:
    """Per step: what the reviewer sees after that many decisions."""
    rows = [r for r, _ in pairs]
    label = dict(pairs)
    rng = np.random.default_rng(seed)
    shuffled = [rows[i] for i in rng.permutation(len(rows))]
    decided: dict[int, str] = {}
    out = {}
    dim = S.embedding_dim(held.X)
    for step in STEPS:
        if step > len(rows):
            break
        if order == "random":
            decided = {r: label[r] for r in shuffled[:step]}
        elif step > len(decided):
            probs, classes = _retrained_probs(held, doc, rows, decided)
            queue = L.informative_order(probs, L.centred(held.X[rows, :dim]), [doc] * len(rows),
                                        [rows.index(r) for r in decided])
            for k in queue[:step - len(decided)]:
                decided[rows[k]] = label[rows[k]]
        probs, classes = _retrained_probs(held, doc, rows, decided)
        out[step] = _score(held, pairs, probs, classes, decided)
    return out


def learning_lines(held: HeldOut, rows: dict[str, list[tuple[int, str]]]) -> list[str]:
    runs = {"kön (informativ ordning)": [{doc: simulate(held, doc, pairs, "queue") for doc, pairs in rows.items()}],
            "slumpordning": [{doc: simulate(held, doc, pairs, "random", seed) for doc, pairs in rows.items()}
                             for seed in RANDOM_SEEDS]}
    lines = ["inlärningskurva – simulerad granskare på den utelämnade rapporten; macro-F1 på de poster som inte är "
             "beslutade, efter omträning [samma poster med modellen före besluten] (alla poster, beslutade med "
             "granskarens värde)"]
    rest_f1: dict[str, dict[int, float]] = {}
    for name, sims in runs.items():
        cells, rest_f1[name] = [], {}
        for step in STEPS:
            pooled = [Step() for _ in sims]
            for total, sim in zip(pooled, sims):
                for steps in sim.values():
                    if step in steps:
                        total.extend(steps[step])
            f1 = lambda gold, pred: float(np.mean([scores(getattr(t, gold), getattr(t, pred))["macro_f1"]  # noqa: E731
                                                   for t in pooled]))
            rest_f1[name][step] = f1("rest_gold", "rest_pred")
            cells.append(f"{step:>2} beslut {rest_f1[name][step]:.3f} [{f1('rest_gold', 'rest_before'):.3f}] "
                         f"({f1('all_gold', 'all_pred'):.3f})")
        lines.append(f"  {name:<26} " + " | ".join(cells))
    gain = {name: f1s[10] - f1s[0] for name, f1s in rest_f1.items()}
    queue, shuffled = gain["kön (informativ ordning)"], gain["slumpordning"]
    verdict = "uppnått" if queue >= TARGET_GAIN else "EJ uppnått"
    lines.append(f"  efter 10 beslut: kön {queue:+.4f}, slumpordning {shuffled:+.4f} (mål kön >= +{TARGET_GAIN}: "
                 f"{verdict})")
    return lines

def evaluate(store: Any, gold_dir: Any = None, embedder: Any | None = None) -> list[str]:
    gold = load_gold(gold_dir)
    held = held_out_status(store, gold, embedder)
    rows = labelled_rows(held, gold)
    return calibration_lines(held, rows) + learning_lines(held, rows) + stated_lines(store, held)


def stated_lines(store: Any, held: HeldOut) -> list[str]:
    """Every ingested report, its stated statuses (in words) as the answer: the model is trained without anything
    from that report and scored against what the report itself says. A proxy – a stated status is the writer's
    view, not an analyst's – but it covers the reports whose analyst labels we do not have."""
    docs = sorted({x.unit.doc for x in held.inputs})
    stated = S.stated_examples(held.inputs)
    gold, pred = [], []
    per_doc = []
    for doc in docs:
        rows = [i for i, e in stated.items() if held.inputs[i].unit.doc == doc]
        if not rows:
            continue
        model = S.train_on(held.X, [e for e in held.examples if held.inputs[e.index].unit.doc != doc], "eval",
                           held.inputs, S.embedding_dim(held.X), exclude_doc=doc)
        probs = S.suggestion_probs(model, held.X[rows], [held.inputs[r] for r in rows])
        g = [stated[r].label for r in rows]
        p = [model.classes[int(np.argmax(row))] for row in probs]
        gold += g
        pred += p
        per_doc.append(f"  {doc}: {len(rows)} poster, macro-F1 {scores(g, p)['macro_f1']:.3f}")
    s = scores(gold, pred)
    counts = ", ".join(f"{c} {gold.count(c)}" for c in S.SUGGESTED)
    return ([f"angiven status som facit – lämna en rapport utanför, alla {len(per_doc)} rapporter ({len(gold)} poster: "
             f"{counts})", format_scores("modell", s)] + per_doc)
