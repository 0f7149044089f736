"""Crash safety: ingest and remove killed with SIGKILL at chosen and at random points, then the store reopened.

After every kill: SQLite opens and passes its integrity check, each report is there entirely in its old or its new
version (never half), the BM25 and FAISS indexes hold exactly the store's passages, derived data (suggestions,
themes, flags) is complete for the reports the crash interrupted, and every review decision made before is still
there, unchanged. Then the interrupted command is run again, as a user would, and must finish cleanly.

The children use the suite's deterministic HashEmbedder instead of the real model (see tests/integrity_child.py).
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from index.store import Store
from pipeline.derive import clear_pending, mark_pending, pending
from pipeline.recovery import IntegrityReport, check, open_store, orphan_decisions, orphan_lines, recover
from nlp.flag_feedback import case_key
from records import Decision

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "reports"
NAMES = sorted(p.name for p in FIXTURES.glob("*.txt"))
SEED = int(os.environ.get("INTEGRITY_SEED", "20240823"))  # another seed explores other random kill moments
CHILD_TIMEOUT = 300

# (operation, where to die). Each hook at least once, then random moments; see tests/integrity_child.py.
PLAN = [
    ("add", "mid-transaction:1"),
    ("change", "replace_report:1"),
    ("change", "os.replace:1"),  # lexical .npz renamed, its .json not
    ("add", "os.replace:3"),  # FAISS file renamed, its .json not
    ("retitle", "put_vectors:1"),
    ("change", "set_unit_fields:1"),
    ("remove", "mid-transaction:1"),
    ("add", "replace_flags:1"),
    ("remove", "clear_pending:1"),
    ("retitle", None),
    ("change", None),
]


@pytest.fixture
def hash_model(monkeypatch):
    """The same stand-in model as the children, in this process (recovery embeds too)."""
    import index.embeddings
    import index.indexes
    from tests.conftest import HashEmbedder

    monkeypatch.setattr(index.embeddings.Embedder, "load", classmethod(lambda cls, *a, **k: HashEmbedder()))
    monkeypatch.setattr(index.indexes, "_EMBEDDERS", {})
    monkeypatch.delenv(index.indexes.MODEL_ENV, raising=False)


def run_child(db: Path, op: str, target: str, kill: str | None, rng: random.Random, budget: float) -> str:
    """Run the child; with no hook, SIGKILL it at a random moment after it has started working."""
    cmd = [sys.executable, "-m", "tests.integrity_child", str(db), op, target] + (["--kill", kill] if kill else [])
    # Reading in-process (no forkserver): the time limit is tested in test_hostile.py; here it only costs time.
    env = {**{k: v for k, v in os.environ.items() if k != "RAPPORT_EMBEDDING_MODEL"}, "RAPPORT_TIME_LIMIT_S": "0"}
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if kill is None:
        assert proc.stdout.readline().strip() == "READY"
        time.sleep(rng.uniform(0.0, budget))
        proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=CHILD_TIMEOUT)
    if kill is not None:
        assert proc.returncode == -signal.SIGKILL, f"the child was meant to die at {kill}: {out} {err}"
    return f"rc={proc.returncode} {err[-2000:]}"


def snapshot(store: Store) -> dict[str, object]:
    """Per report: its passages and units as stored (the all-or-nothing check compares these)."""
    out: dict[str, object] = {}
    for r in store.reports():
        out[r["doc"]] = (r["sha256"], [(p.id, p.text, p.line_start, p.line_end, p.unit_id) for p in
                                       store.passages(r["doc"])],
                         [(u.id, u.title, u.line_start, u.line_end, u.explicit_status) for u in store.units(r["doc"])])
    return out


def expected_version(path: Path | None) -> tuple | None:
    """What a complete ingest of this file version stores (same fields as `snapshot`)."""
    from pipeline.prepare import prepare
    from nlp.metadata import read_manifest

    if path is None:
        return None
    meta, document, seg = prepare(path, {}, read_manifest(path.parent / "manifest.csv"))
    return (document.sha256, [(p.id, p.text, p.line_start, p.line_end, p.unit_id) for p in seg.passages],
            [(u.id, u.title, u.line_start, u.line_end, u.explicit_status) for u in seg.units])


def decisions(store: Store) -> list[dict]:
    return [d.to_dict() for d in store.decisions()]


def assert_consistent(store: Store) -> IntegrityReport:
    """SQLite sound, indexes equal to the store's passages, nothing pending."""
    from index.dense import DenseIndex
    from index.indexes import current_files
    from index.lexical import LexicalIndex

    assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    report = check(store)
    assert report.problems == [] and pending(store) == []
    paths = current_files(store)
    pids = sorted(store.passage_ids())
    lexical = LexicalIndex.load(paths["lex_npz"], paths["lex_json"])
    dense = DenseIndex.load(paths["dense"], paths["dense_json"])
    assert sorted(lexical.pids.tolist()) == pids and sorted(dense.ids().tolist()) == pids
    assert report.passages == report.lexical == report.vectors == len(pids)
    return report


def derived_state(store: Store, docs: list[str]) -> dict[str, object]:
    """Classifier output for `docs` and all flags, to compare before and after deriving again."""
    present = [d for d in docs if store.report(d)]
    units = {u.id: (u.suggested_status, u.status_confidence, u.status_note, json.dumps(u.themes, sort_keys=True))
             for d in present for u in store.units(d)}
    passages = {p.id: json.dumps(p.themes, sort_keys=True) for d in present for p in store.passages(d)}
    flags = sorted((f.id, f.kind, f.doc, f.message) for f in store.flags())
    return {"units": units, "passages": passages, "flags": flags}


def assert_derived_complete(store: Store, redone: list[str], context: str) -> None:
    """Every unit went through the status step; deriving the reports recovery redid once more changes nothing
    (recovery did all of it). Reports not redone keep suggestions from when they were ingested, by design."""
    from pipeline.derive import derive

    for u in store.units():
        assert u.status_probs is not None or u.status_note is not None or u.suggested_status is not None, context
    if not redone:
        return
    before = derived_state(store, redone)
    derive(store, [d for d in redone if store.report(d)])
    assert derived_state(store, redone) == before, context


def edit(reports: Path, op: str, rng: random.Random, store: Store) -> tuple[str, Path | None]:
    """Apply `op` to the reports folder; returns (file name, the version to ingest or None when removed)."""
    present = sorted(p.name for p in reports.glob("*.txt"))
    absent = [n for n in NAMES if n not in present]
    if op == "add" and not absent:
        op = "change"
    if op == "remove" and len(present) <= 2:
        op = "add"
    if op == "add":
        name = rng.choice(absent)
        shutil.copy(FIXTURES / name, reports / name)
        return name, reports / name
    name = rng.choice(present)
    path = reports / name
    if op == "remove":
        path.unlink()
        return name, None
    lines = path.read_text(encoding="utf-8").split("\n")
    if op == "retitle":
        # Replace the title of a unit a reviewer decided on: its stable id changes and no item of the new version
        # resembles it, so the decision becomes an orphan (an edited title is carried: tests/test_identity.py).
        units = [u for u in store.units(name) if u.title in lines[(u.title_line or u.line_start) - 1]]
        unit = rng.choice(units)
        store.add_decision(Decision("unit_status", unit.id, name, "Granskare", "correct", None, "försenad"))
        k = (unit.title_line or unit.line_start) - 1
        lines[k] = lines[k].replace(unit.title, f"Ersatt rubrik nummer {rng.randint(1, 10**6)}", 1)
    else:
        lines += ["", f"Tillägg {rng.randint(1, 10**6)}: arbetet fortsätter under hösten enligt plan."]
    path.write_text("\n".join(lines), encoding="utf-8")
    return name, path


def decide_something(store: Store, rng: random.Random, i: int) -> None:
    units = store.units()
    flags = store.flags()
    if units:
        u = rng.choice(units)
        store.add_decision(Decision("unit_status", u.id, u.doc, f"Granskare {i}", rng.choice(["accept", "correct"]),
                                    u.suggested_status, rng.choice(["försenad", "genomförd", "enligt plan"])))
    if flags:
        f = rng.choice(flags)
        store.add_decision(Decision("flag", f.id, f.doc, f"Granskare {i}", "dismiss", None, "dismiss",
                                    "ingen avvikelse", flag_case=case_key(f)))
    rows = store.decisions(include_undone=False)
    if rows and i % 3 == 0:
        store.undo_decision(rows[0].id, f"Granskare {i}")


def test_kill_at_chosen_and_random_points_loses_nothing(tmp_path, hash_model):
    from pipeline.ingest import ingest_paths, remove_report

    rng = random.Random(SEED)
    db, reports = tmp_path / "data", tmp_path / "rapporter"
    reports.mkdir()
    shutil.copy(FIXTURES / "manifest.csv", reports / "manifest.csv")
    for name in NAMES[:3]:
        shutil.copy(FIXTURES / name, reports / name)
    started = time.monotonic()
    assert ingest_paths([reports], db_dir=db, progress=False).errors == []
    budget = time.monotonic() - started  # random kills fall within one ingest's duration
    store = Store.open(db)
    orphaned_ids: set[str] = set()
    for i, (op, kill) in enumerate(PLAN):
        decide_something(store, rng, i)
        before_decisions = decisions(store)
        before = snapshot(store)
        name, version = edit(reports, op, rng, store)
        if op == "retitle":
            before_decisions = decisions(store)
            orphaned_ids.add(before_decisions[-1]["target_id"])
        store.close()
        log = run_child(db, "remove" if version is None else "ingest", name if version is None else str(reports),
                        kill, rng, budget)

        store, report = open_store(db)  # what the app and the CLI do on start
        context = f"step {i}: {op} {name}, kill at {kill or 'random'}; {log}"
        assert_consistent(store)
        after = snapshot(store)
        assert decisions(store) == before_decisions, context
        assert after.get(name) in (before.get(name), expected_version(version)), context
        assert {d: v for d, v in after.items() if d != name} == {d: v for d, v in before.items() if d != name}
        assert_derived_complete(store, report.redone, context)

        # The user runs the command again; it completes and the store matches the files.
        store.close()
        if version is None:
            remove_report(name, db_dir=db)
        else:
            assert ingest_paths([reports], db_dir=db, progress=False).errors == [], context
        store = Store.open(db)
        assert_consistent(store)
        assert snapshot(store).get(name) == expected_version(version), context
        assert decisions(store) == before_decisions, context
    # Decisions on changed titles and removed reports are all still there, and reported as orphans.
    orphans = {d.target_id for d in orphan_decisions(store)}
    assert orphaned_ids and orphaned_ids <= orphans
    assert all(d.target_id in {u.id for u in store.units()} | {f.id for f in store.flags()} | orphans
               for d in store.current_decisions("unit_status").values())
    store.close()


# -- the pieces, one at a time ------------------------------------------------------------------------------------
def test_pending_marker_is_set_committed_and_cleared(tmp_path):
    store = Store.open(tmp_path, create=True)
    assert pending(store) == []
    mark_pending(store, ["b.txt", "a.txt"])
    mark_pending(store, ["a.txt", "c.txt"])
    other = Store.open(tmp_path)  # another connection sees it: it is committed, not just in this transaction
    assert pending(other) == ["a.txt", "b.txt", "c.txt"]
    clear_pending(store, ["a.txt"])
    assert pending(other) == ["b.txt", "c.txt"]
    clear_pending(store)
    assert pending(other) == []


@pytest.mark.parametrize("damage", ["delete-lexical", "delete-dense", "truncate-dense", "stale-lexical-npz",
                                    "garbage-npz", "drop-vector"])
def test_damaged_index_files_are_rebuilt_from_sqlite_on_start(tmp_path, hash_model, damage):
    """Whatever happens to the files under data/index/, opening the store brings them back from SQLite."""
    from index.dense import DenseIndex
    from index.indexes import current_files
    from pipeline.ingest import ingest_paths
    from index.lexical import LexicalIndex

    db = tmp_path / "data"
    assert ingest_paths([FIXTURES], db_dir=db, progress=False).errors == []
    store = Store.open(db)
    paths = current_files(store)
    n = store.count("passages")
    if damage == "delete-lexical":
        paths["lex_npz"].unlink()
    elif damage == "delete-dense":
        paths["dense"].unlink()
        paths["dense_json"].unlink()
    elif damage == "truncate-dense":
        data = paths["dense"].read_bytes()
        paths["dense"].write_bytes(data[: len(data) // 2])
    elif damage == "stale-lexical-npz":
        # The matrix of another build with the same shapes (as after a crash between the two renames).
        with np.load(paths["lex_npz"], allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["data"] = arrays["data"] * 2
        with open(paths["lex_npz"], "wb") as f:
            np.savez(f, **arrays)
    elif damage == "garbage-npz":
        paths["lex_npz"].write_bytes(b"PK\x03\x04 not really a zip")
    else:
        dense = DenseIndex.load(paths["dense"], paths["dense_json"])
        dense.remove(np.asarray(store.passage_ids()[:1], dtype=np.int64))
        dense.save(paths["dense"], paths["dense_json"])
    store.close()

    store, report = open_store(db)
    assert report.rebuilt and report.problems
    assert report.repair_lines()[0].startswith("sökindexen byggdes om från databasen (")
    assert_consistent(store)
    rebuilt = current_files(store)
    assert rebuilt != paths  # a new generation; the damaged one is never written again
    lexical = LexicalIndex.load(rebuilt["lex_npz"], rebuilt["lex_json"])
    assert lexical.size == n


def test_healthy_store_opens_without_repair(tmp_path, hash_model):
    from pipeline.ingest import ingest_paths

    db = tmp_path / "data"
    assert ingest_paths([FIXTURES], db_dir=db, progress=False).errors == []
    files = {p: p.stat().st_mtime_ns for p in (db / "index").iterdir()}
    store, report = open_store(db)
    assert (report.redone, report.rebuilt, report.problems, report.repair_lines()) == ([], False, [], [])
    assert {p: p.stat().st_mtime_ns for p in (db / "index").iterdir()} == files


def test_a_healthy_store_is_opened_without_loading_its_indexes(tmp_path, hash_model, monkeypatch):
    """The start-up test reads the generation's file stamps and one SQL aggregate; a passage missing from SQLite
    behind the index's back still sends it to the full check."""
    import index.indexes
    from pipeline.ingest import ingest_paths

    db = tmp_path / "data"
    assert ingest_paths([FIXTURES], db_dir=db, progress=False).errors == []
    calls = []
    monkeypatch.setattr(index.indexes, "check_indexes", lambda store: calls.append(1) or [])
    store, report = open_store(db)
    assert (calls, report.rebuilt) == ([], False)
    store.conn.execute("DELETE FROM passages WHERE pid = (SELECT max(pid) FROM passages)")
    store.close()
    store, report = open_store(db)
    assert calls == [1]
    store.close()


def test_recover_redoes_only_the_pending_reports(tmp_path, hash_model):
    from pipeline.ingest import ingest_paths

    db = tmp_path / "data"
    assert ingest_paths([FIXTURES], db_dir=db, progress=False).errors == []
    store = Store.open(db)
    doc = NAMES[0]
    store.set_unit_fields({u.id: {"suggested_status": None, "status_confidence": None, "status_probs": None,
                                  "status_note": None} for u in store.units(doc)})  # as if killed before status
    mark_pending(store, [doc])
    report = recover(store)
    assert report.redone == [doc] and not report.rebuilt and pending(store) == []
    assert all(u.status_probs is not None or u.status_note is not None for u in store.units(doc))
    assert report.repair_lines() == [f"avbruten inläsning slutförd för: {doc}"]


def test_orphan_lines_name_each_decision():
    d = Decision("unit_status", "rapport#u1", "rapport.txt", "Anna", "correct", "enligt plan", "försenad", id=7)
    f = Decision("flag", "fl-1", "rapport.txt", "Bo", "dismiss", None, "dismiss", id=9)
    assert orphan_lines([d, f]) == [
        "2 granskningsbeslut gäller poster eller flaggor som inte längre finns (besluten är sparade och exporteras "
        "med `python cli.py export decisions`):",
        "  beslut 7 (Anna, correct: försenad) på posten rapport#u1",
        "  beslut 9 (Bo, dismiss: dismiss) på flaggan fl-1",
    ]
    assert orphan_lines([]) == []
