"""Two reviewers (two processes, e.g. two browser tabs served by two app processes) deciding on the same queues at
the same time: every decision is stored exactly once, none is lost, the last writer wins, and the history shows
it: each decision records as its old value the value it replaced, even when the two writes raced."""
from __future__ import annotations

import multiprocessing
from collections import defaultdict
from pathlib import Path

import pytest

from pipeline import review
from index.store import Store

ROUNDS = 6
VALUES = {"Anna": "försenad", "Bertil": "genomförd"}


def decide_many(db: str, reviewer: str, rounds: int, barrier, out) -> None:
    """One reviewer's session: decide on every unit and flag in the queues, `rounds` times, undoing now and then.
    Runs in its own process with its own connection."""
    store = Store.open(Path(db))
    made: list[tuple] = []
    barrier.wait()
    for r in range(rounds):
        for unit in review.status_queue(store, include_decided=True):
            if r % 3 == 2:
                made.append(("accept", unit.id, review.decide_status(store, unit.id, reviewer, "accept")))
            else:
                made.append(("correct", unit.id, review.decide_status(store, unit.id, reviewer, "correct",
                                                                      VALUES[reviewer], f"runda {r}")))
        for flag in review.flag_queue(store, include_decided=True):
            action = "confirm" if (r + len(reviewer)) % 2 else "dismiss"
            made.append((action, flag.id, review.decide_flag(store, flag.id, reviewer, action)))
        if r % 2 == 1:
            own = [d for d in review.recent_decisions(store, reviewer) if d.action != "undo"]
            if own:
                review.undo(store, own[0].id, reviewer)
                made.append(("undo", own[0].target_id, own[0].id))
    store.close()
    out.put((reviewer, made))


@pytest.fixture
def shared_store(tmp_path) -> Path:
    from tests.conftest import build_review_store

    build_review_store(tmp_path / "shared").close()
    return tmp_path / "shared"


def run_reviewers(db: Path) -> dict[str, list[tuple]]:
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(len(VALUES)), ctx.Queue()
    procs = [ctx.Process(target=decide_many, args=(str(db), name, ROUNDS, barrier, out)) for name in VALUES]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=300) for _ in procs)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    return results


def test_two_reviewers_at_once_lose_nothing_and_the_last_writer_wins(shared_store):
    store = Store.open(shared_store)
    targets = {("unit_status", u.id) for u in review.status_queue(store, include_decided=True)}
    targets |= {("flag", f.id) for f in review.flag_queue(store, include_decided=True)}
    assert len(targets) == 7  # 4 suggested units + 3 flags in the fixture store

    results = run_reviewers(shared_store)

    rows = store.decisions()
    by_id = {d.id: d for d in rows}
    assert len(by_id) == len(rows)
    # Every decision a reviewer was told was stored is there once, as made; undo rows on top.
    made = [(name, action, target, did) for name, items in results.items() for action, target, did in items]
    decided = [m for m in made if m[1] != "undo"]
    assert len([d for d in rows if d.action != "undo"]) == len(decided) == len({m[3] for m in decided})
    for name, action, target, did in decided:
        d = by_id[did]
        assert (d.reviewer, d.action, d.target_id) == (name, action, target)
        if action == "correct":
            assert d.new_value == VALUES[name] and d.comment is not None
    undone = {m[3] for m in made if m[1] == "undo"}
    assert {d.id for d in rows if d.undone and d.action != "undo"} == undone
    assert len([d for d in rows if d.action == "undo"]) == len(undone)
    assert {n for n, *_ in made} == set(VALUES) and len(decided) == ROUNDS * len(targets) * len(VALUES)

    # Last writer wins: the decision in force is the newest one not undone, per target ...
    history: dict[tuple[str, str], list] = defaultdict(list)
    for d in rows:
        if d.action != "undo":
            history[(d.target_type, d.target_id)].append(d)
    assert set(history) == targets
    for (target_type, target_id), ds in history.items():
        live = [d for d in ds if not d.undone]
        current = store.current_decisions(target_type).get(target_id)
        assert (current.id if current else None) == (live[-1].id if live else None)
    # ... and visible in the history: each decision's old value is the value in force just before it was written.
    # Interleaving shows: both reviewers appear on the same targets.
    suggested = {u.id: u.suggested_status for u in store.units()}
    for (target_type, target_id), ds in history.items():
        in_force: list = []
        for d in sorted([*ds, *[u for u in rows if u.action == "undo" and u.target_id == target_id]],
                        key=lambda x: x.id):
            if d.action == "undo":
                continue
            live_before = [x for x in in_force if not _undone_before(x, d, rows)]
            expected = (live_before[-1].new_value if live_before and live_before[-1].new_value else
                        (suggested.get(target_id) if target_type == "unit_status" else None))
            assert d.old_value == expected, (target_id, d)
            in_force.append(d)
        assert {d.reviewer for d in ds} == set(VALUES)
    store.close()


def _undone_before(x, d, rows) -> bool:
    """Was decision x undone by an undo row written before decision d?"""
    return any(u.action == "undo" and u.id < d.id and u.comment == f"ångrar beslut {x.id}" for u in rows)


def test_a_decision_written_while_another_process_holds_the_write_lock_waits_and_lands(shared_store):
    """BEGIN IMMEDIATE plus busy_timeout: a writer that finds the store locked waits, it does not fail."""
    import threading
    import time

    holder = Store.open(shared_store)
    writer = Store.open(shared_store)
    holder.conn.execute("BEGIN IMMEDIATE")
    done: list[int] = []
    t = threading.Thread(target=lambda: done.append(review.decide_flag(writer, "fl-b1", "Cecilia", "confirm")))
    t.start()
    time.sleep(0.5)
    assert done == []  # still waiting for the lock
    holder.conn.execute("COMMIT")
    t.join(30)
    assert len(done) == 1
    d = [x for x in writer.decisions("flag", "fl-b1")]
    assert [(x.id, x.reviewer, x.action) for x in d] == [(done[0], "Cecilia", "confirm")]
    holder.close()
    writer.close()
