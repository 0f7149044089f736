"""Retraining from what the store holds (and, only when named, an analyst's labels folder): `cli.py train`."""
from __future__ import annotations

from pathlib import Path

from index.store import Store
from records import Unit


def train_all(db_dir: Path | str | None = None, labels_dir: Path | str | None = None) -> list[str]:
    """Retrain status and theme classifiers from the store (stated statuses, reviewers' decisions) and, only when
    a folder is named, analyst labels; then refresh every suggestion and flag. A labels folder is read and checked
    completely before anything is trained, so a bad folder leaves the saved models untouched."""
    from nlp import flag_thresholds
    from nlp.consistency import apply_flags, fit_thresholds
    from nlp.labels import LabelError, fingerprint, load_labels
    from nlp.status import apply_status, describe_model as describe_status, train_status
    from nlp.themes import apply_themes, describe_model as describe_themes, train_themes

    labels = load_labels(labels_dir) if labels_dir is not None else None
    store = Store.open(db_dir)
    info = None
    if labels is not None:
        known = {r["doc"] for r in store.reports()}
        if not known & set(labels):
            store.close()
            raise LabelError(f"{labels_dir}: ingen av etiketternas rapporter ({', '.join(sorted(labels))}) finns i "
                             "databasen; läs in dem först med `python cli.py ingest`")
        info = {"folder": str(Path(labels_dir).resolve()), "fingerprint": fingerprint(labels_dir),
                "reports": sorted(set(labels) & known)}
    lines = train_status(store, labels, labels_info=info) + train_themes(store, labels, labels_info=info)
    apply_status(store, None)
    apply_themes(store, None)
    if labels is not None:
        lines += fit_thresholds(store, labels, info)
    apply_flags(store, None)
    lines += describe_status(store) + describe_themes(store) + flag_thresholds.describe(store)
    store.close()
    return lines


RETRAIN_LOCK = "status-retrain.lock"
FLAG_TOLERANCE = 0.02  # the status-vs-text flag's score is 1 - P(stated status): smaller moves leave it as it was


def moved_reports(before: dict[str, Unit], after: list[Unit]) -> list[str]:
    """Reports where a unit with a stated status got another suggestion, or its probabilities moved by more than
    FLAG_TOLERANCE: the only suggestions the flags read (status vs text)."""
    moved = set()
    for u in after:
        old = before.get(u.id)
        if u.status is None or old is None:
            continue
        old_p, new_p = old.status_probs or {}, u.status_probs or {}
        shift = max((abs(old_p.get(c, 0.0) - new_p.get(c, 0.0)) for c in set(old_p) | set(new_p)), default=0.0)
        if old.suggested_status != u.suggested_status or shift > FLAG_TOLERANCE:
            moved.add(u.doc)
    return sorted(moved)


def retrain_from_decisions(db_dir: Path | str | None = None) -> list[str]:
    """`cli.py train --decisions`, and what the app starts in the background after every 10 decisions: the
    status model retrained on the store's cached features with every decision so far (labels it was trained on
    kept), suggestions and review order rewritten, flags recomputed for the reports whose suggestions moved. One
    retrain at a time per data directory; a second one returns at once."""
    from filelock import FileLock, Timeout

    from index.indexes import META_MODEL, get_query_embedder
    from nlp.consistency import apply_flags
    from nlp.status import retrain_status

    store = Store.open(db_dir)
    try:
        with FileLock(str(Path(store.dir) / RETRAIN_LOCK), timeout=0):
            before = {u.id: u for u in store.units()}
            lines = retrain_status(store, get_query_embedder(store.get_meta(META_MODEL)))
            moved = moved_reports(before, store.units())
            apply_flags(store, moved)
            return lines + [f"flaggor: omräknade för {len(moved)} rapporter där förslaget för en post med angiven "
                            "status ändrades"]
    except Timeout:
        return ["status: en omträning pågår redan för den här databasen"]
    finally:
        store.close()
