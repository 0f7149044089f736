"""Per-detector minimum scores for flags, chosen from analyst labels (`cli.py train --labels DIR`).

Without a thresholds file every flag is shown (ranked by score). With one, a detector's flags below its minimum
score are left out: the thresholds are chosen to maximise F1 of all flags against the labelled inconsistencies,
one detector at a time, and the file records which labels chose them. `cli.py eval` measures the same procedure
leave-one-report-out.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from records import Flag

THRESHOLDS_FILE = "flag_thresholds.json"
GRID = (0.0, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
PASSES = 2  # coordinate ascent: one detector at a time, twice over


def f1(found: int, problems: int, hits: int, flags: int) -> float:
    recall = found / problems if problems else 0.0
    precision = hits / flags if flags else 0.0
    return 2 * recall * precision / (recall + precision) if recall + precision else 0.0


def apply(flags: list[Flag], thresholds: dict[str, float]) -> list[Flag]:
    return [f for f in flags if f.score >= thresholds.get(f.kind, 0.0)]


def score_all(flags_by_doc: dict[str, list[Flag]], problems_by_doc: dict[str, list[Any]], finds: Any
              ) -> tuple[int, int, int, int]:
    """(problems found, problems, flags that find a problem, flags) over every report."""
    found = total = hits = n = 0
    for doc, problems in problems_by_doc.items():
        flags = flags_by_doc.get(doc, [])
        total += len(problems)
        found += sum(any(finds(f, p) for f in flags) for p in problems)
        hits += sum(any(finds(f, p) for p in problems) for f in flags)
        n += len(flags)
    return found, total, hits, n


def choose(flags_by_doc: dict[str, list[Flag]], problems_by_doc: dict[str, list[Any]], finds: Any,
           kinds: tuple[str, ...]) -> dict[str, float]:
    """Per-kind minimum scores maximising F1 on these reports (ties: the lower threshold, i.e. more flags)."""
    thresholds = dict.fromkeys(kinds, 0.0)
    for _ in range(PASSES):
        for kind in kinds:
            best = max(GRID, key=lambda t: (f1(*score_all(
                {d: apply(fl, {**thresholds, kind: t}) for d, fl in flags_by_doc.items()}, problems_by_doc, finds)),
                -t))
            thresholds[kind] = best
    return thresholds


def path(store: Any) -> Path:
    return Path(store.dir) / THRESHOLDS_FILE


def load(store: Any) -> dict[str, float]:
    """The store's thresholds; none (every flag shown) when there is no usable file."""
    try:
        data = json.loads(path(store).read_text(encoding="utf-8"))
        return {str(k): float(v) for k, v in data["thresholds"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def save(store: Any, thresholds: dict[str, float], trained_on: dict[str, Any]) -> None:
    tmp = path(store).with_suffix(".tmp")
    tmp.write_text(json.dumps({"thresholds": thresholds, "trained_on": trained_on}, ensure_ascii=False, indent=1),
                   encoding="utf-8")
    tmp.replace(path(store))


def describe(store: Any) -> list[str]:
    try:
        data = json.loads(path(store).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ["flaggtrösklar: inga – alla flaggor visas, ordnade efter poäng"]
    labels = (data.get("trained_on") or {}).get("labels") or {}
    return ["flaggtrösklar: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(data.get("thresholds", {}).items())),
            f"flaggtrösklar: valda på analytikeretiketter {labels.get('folder', '?')} (version "
            f"{labels.get('fingerprint', '?')}, rapporter: {', '.join(labels.get('reports', []))})"]
