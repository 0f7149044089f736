"""Leave-one-report-out status suggestions, shared by the status and flags evaluations.

For each labelled report the status model is trained on everything except that report (its analyst labels, its
stated statuses and any reviewers' decisions on it), then suggests statuses for that report's units. The flags
evaluation reads these held-out suggestions instead of the store's (which a model trained on the same report made).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nlp import status as S


@dataclass
class HeldOut:
    inputs: list[S.UnitInput]
    X: np.ndarray
    examples: list[S.Example]
    models: dict[str, S.StatusModel | None]  # held-out doc -> model trained without it
    fields: dict[str, dict[str, Any]]  # unit id -> suggestion fields from the model that did not see its report
    index: dict[str, int]  # unit id -> row


_CACHE: dict[tuple[str, tuple[str, ...]], HeldOut] = {}


def held_out_status(store: Any, gold: dict[str, Any], embedder: Any | None = None) -> HeldOut:
    key = (str(store.dir), tuple(sorted(gold)))
    if key in _CACHE:
        return _CACHE[key]
    embed = S.CachedEmbeddings(embedder or S.load_embedder(), store)
    inputs = S.gather_inputs(store, store.units())
    X = S.build_matrix(inputs, embed)
    examples = S.collect_examples(store, inputs, gold, decisions=True, cues=S.TRAIN_WITH_CUE_LABELS)
    models: dict[str, S.StatusModel | None] = {}
    fields: dict[str, dict[str, Any]] = {}
    for doc in sorted(gold):
        models[doc] = S.train_on(X, [e for e in examples if inputs[e.index].unit.doc != doc], embed.model_id,
                                 inputs, embed.dim, exclude_doc=doc)
        rows = [i for i, x in enumerate(inputs) if x.unit.doc == doc]
        own = [inputs[i] for i in rows]
        fields.update(S.suggest_with_model(models[doc], X[rows], own, embed) if models[doc] is not None
                      else S.suggest_with_rules(own))
    out = HeldOut(inputs, X, examples, models, fields, {x.unit.id: i for i, x in enumerate(inputs)})
    _CACHE[key] = out
    return out
