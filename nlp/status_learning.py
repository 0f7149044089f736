"""Learning from reviewers: which unit a decision would teach the most, and how a report's own decisions move the
suggestions for the rest of that report and its kommun.

Two small mechanisms, cheap enough to run after every decision:

* `informative_order` – uncertainty sampling with diversity: units whose two likeliest statuses are closest come
  first (margin sampling), but not ten near-copies of one commentary in a row, and not all from one report
  (a maximal-marginal-relevance penalty on similarity to what is decided or queued ahead, and on the report's
  count of picks).
* `adapt_to_decisions` – every report is written in its own way (one writer calls ongoing work "enligt plan",
  another "pågår enligt tidplan"; one reports finished activities inside on-plan items). Decisions on a report move
  the rest of that report, and half as much the rest of its kommun, towards what the reviewer said about similar
  commentaries: a vote of the decided units weighted by how similar their commentary is. (A shift of the report's
  class balance towards the decided units' balance was tried and left out: the queue picks the units the model is
  least sure of, so their balance is not the report's – on the dev labels it cost 0.03 macro-F1 after 10
  decisions.)

Both work on calibrated probabilities and centred, normalised text vectors; neither knows any report.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

GREEDY_WINDOW = 200  # positions ordered greedily (a reviewer works from the top); the rest by uncertainty alone
REDUNDANCY = 0.6  # weight of the similarity to a unit already decided or queued ahead
REPORT_SPREAD = 0.03  # penalty per unit already decided or queued from the same report
NEIGHBOUR_WEIGHT = 3.0  # log-odds a decided unit with the same commentary adds to its status
NEIGHBOUR_SHARPNESS = 3  # similarity is raised to this power: only close commentaries vote
KOMMUN_SHARE = 0.5  # decisions from another report of the same kommun count half
RETRAIN_EVERY = 10  # reviewers' decisions between two background retrains
META_DECISIONS = "status_decisions_at_training"  # store meta: decisions the saved model has learned from


def decision_count(store: Any) -> int:
    """Reviewers' accepted or corrected statuses (what a retrain learns from)."""
    return sum(d.action in ("accept", "correct") for d in store.current_decisions("unit_status").values())


def retrain_due(store: Any) -> bool:
    """RETRAIN_EVERY decisions since the model last learned from the store (cheap: the app asks after each)."""
    return decision_count(store) - int(store.get_meta(META_DECISIONS) or 0) >= RETRAIN_EVERY


def centred(vectors: np.ndarray) -> np.ndarray:
    """Unit-length rows after removing the mean: multilingual-e5 puts all Swedish prose within a narrow cone, so raw
    cosines are all high; centred cosines spread from -1 to 1 and near-copies stand out."""
    v = np.asarray(vectors, dtype=np.float64)
    v = v - v.mean(axis=0, keepdims=True) if len(v) else v
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)


def uncertainty(probs: np.ndarray) -> np.ndarray:
    """1 minus the margin between the two likeliest classes: 1 for a tie, 0 for a certain suggestion."""
    top = np.sort(np.asarray(probs, dtype=np.float64), axis=1)
    return 1.0 - (top[:, -1] - top[:, -2])


def informative_order(probs: np.ndarray, vectors: np.ndarray, reports: list[str],
                      decided: list[int] | None = None) -> list[int]:
    """Rows of `probs` (undecided units first to last); `decided` are rows already decided (they are never
    returned, but count as 'seen' for similarity and per-report spread). `vectors` come from `centred`."""
    decided_set = set(decided or [])
    candidates = np.array([i for i in range(len(probs)) if i not in decided_set], dtype=int)
    if not len(candidates):
        return []
    u = uncertainty(probs[candidates])
    V = np.asarray(vectors, dtype=np.float64)
    seen = sorted(decided_set)
    max_sim = np.clip((V[candidates] @ V[seen].T).max(axis=1), 0, None) if seen else np.zeros(len(candidates))
    per_report = Counter(reports[i] for i in seen)
    taken = np.zeros(len(candidates), dtype=bool)
    order: list[int] = []
    for _ in range(min(GREEDY_WINDOW, len(candidates))):
        spread = np.array([per_report[reports[i]] for i in candidates], dtype=np.float64)
        score = np.where(taken, -np.inf, u - REDUNDANCY * max_sim - REPORT_SPREAD * spread)
        k = int(np.argmax(score))
        taken[k] = True
        order.append(int(candidates[k]))
        per_report[reports[candidates[k]]] += 1
        max_sim = np.maximum(max_sim, np.clip(V[candidates] @ V[candidates[k]], 0, None))
    rest = [k for k in np.argsort(-u, kind="stable") if not taken[k]]
    return order + [int(candidates[k]) for k in rest]


@dataclass
class Local:
    """Where each row sits: its report and its kommun (None when unknown)."""

    reports: list[str]
    kommuner: list[str | None]


def _neighbour_vote(V: np.ndarray, rows: np.ndarray, voters: list[int], labels: list[int], n_classes: int
                    ) -> np.ndarray:
    sims = np.clip(V[rows] @ V[voters].T, 0, None) ** NEIGHBOUR_SHARPNESS  # (rows, voters)
    onehot = np.eye(n_classes)[labels]
    vote = sims @ onehot
    return NEIGHBOUR_WEIGHT * (vote - vote.mean(axis=1, keepdims=True))


def adapt_to_decisions(probs: np.ndarray, vectors: np.ndarray, where: Local, decisions: dict[int, int]
                       ) -> np.ndarray:
    """Probabilities moved by the decisions (row -> class index) on the same report and, at KOMMUN_SHARE, on other
    reports of the same kommun. Rows without such decisions keep their probabilities exactly."""
    probs = np.asarray(probs, dtype=np.float64)
    if not decisions:
        return probs.copy()
    log_p = np.log(np.clip(probs, 1e-12, 1))
    out = log_p.copy()
    touched = np.zeros(len(probs), dtype=bool)
    n_classes = log_p.shape[1]
    by_report: dict[str, list[int]] = {}
    for row in decisions:
        by_report.setdefault(where.reports[row], []).append(row)
    for report, voters in by_report.items():
        labels = [decisions[r] for r in voters]
        same = np.array([i for i, r in enumerate(where.reports) if r == report], dtype=int)
        kommun = where.kommuner[voters[0]]
        near = np.array([i for i, (r, k) in enumerate(zip(where.reports, where.kommuner))
                         if r != report and kommun is not None and k == kommun], dtype=int)
        for rows, share in ((same, 1.0), (near, KOMMUN_SHARE)):
            if len(rows):
                out[rows] += share * _neighbour_vote(vectors, rows, voters, labels, n_classes)
                touched[rows] = True
    moved = np.exp(out[touched] - out[touched].max(axis=1, keepdims=True))
    result = probs.copy()
    result[touched] = moved / moved.sum(axis=1, keepdims=True)
    return result
