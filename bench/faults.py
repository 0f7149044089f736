"""Fault and abuse run: kills, concurrent readers and writers, read-only and full disks, backups mid-ingest.

    python bench/faults.py [--seed 7] [--out bench/results/faults.md]

Prints one table (and writes it to --out). What each row measures:
* kill ingest / kill upload: the CLI's ingest and the app's upload path (tests/integrity_child.py) SIGKILLed at a
  named moment (each index file's save, the generation folder's rename before and after, each SQLite step) or at a
  random one. Then, before any repair, searches (hybrid and BM25) must run without error and return only passages
  SQLite holds; after a restart (`open_store`, what the CLI and app do) every passage must be in both indexes and
  every unit must have gone through the status step; running the command again must finish cleanly.
* searches during ingest/remove: 50 searches (top 10) in one process while another ingests and removes a report
  in a loop; errors and results shorter than 10 (two reports stay stored throughout, so 10 always exist).
* decisions during ingest: two processes each record 200 reviewer decisions while a third re-ingests a changed
  report in a loop; decisions lost = 400 minus those stored.
* identity: same name from two folders, same stem with two suffixes, a renamed copy, a changed file (new version
  with a decided item renamed slightly, and one dropped): reports stored and decisions attached or reported.
* read-only / full disk: `cli.py ingest` on a tmpfs remounted read-only or filled up (needs root to mount).
* backup during ingest: backups taken at random moments of a running ingest; a backup restores when, opened as a
  data directory, it needs no repair, searches without error, and its indexes hold exactly its passages.

The embedding model is the test suite's HashEmbedder (tests/conftest.py): what is measured is the bookkeeping
between SQLite and the index files, not search quality, and loading the real model into every child would take
most of the time. What it does not show: kills inside SQLite's own commit (SQLite's guarantee), power loss
(fsync is called but not tested), network file systems, or more than one machine.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FIXTURES = ROOT / "tests" / "fixtures" / "reports"
STABLE = ["uppsala-tabbad-2024-08.txt", "hudiksvall-markdown-2023-08.txt"]  # stay stored in every scenario
MOVING = "uppsala-statusord-2019-08.txt"  # ingested, changed, removed, uploaded
QUERIES = ["sjukfrånvaro", "kompetensförsörjning", "inhyrd personal", "trygghet", "heltid"]
INGEST_KILLS = ["mid-transaction:1", "replace_report:1", "put_vectors:1", "os.replace:1", "os.replace:2",
                "os.replace:3", "os.replace:4", "os.rename:1", "renamed:1", "set_unit_fields:1", "replace_flags:1",
                "clear_pending:1", "random", "random", "random"]
REMOVE_KILLS = ["mid-transaction:1", "os.rename:1", "renamed:1"]
UPLOAD_KILLS = ["move:1", "mid-transaction:1", "replace_report:1", "put_vectors:1", "os.replace:1", "os.replace:3",
                "os.rename:1", "renamed:1", "set_unit_fields:1", "replace_flags:1", "clear_pending:1", "random",
                "random"]


def use_hash_embedder() -> None:
    import index.embeddings
    import index.indexes
    from tests.conftest import HashEmbedder

    index.embeddings.Embedder.load = classmethod(lambda cls, *a, **k: HashEmbedder())
    index.indexes._EMBEDDERS.clear()
    os.environ.pop(index.indexes.MODEL_ENV, None)


# -- one store, its searches and its checks ---------------------------------------------------------------------
@dataclass
class Check:
    searches: int = 0
    errors: int = 0
    foreign: int = 0  # hits naming a passage SQLite does not hold
    short: int = 0
    unsearchable: int = 0  # passages missing from an index after restart
    underived: int = 0  # units without a status step after restart
    rerun_failed: int = 0
    killed: int = 0  # children that did die by SIGKILL (a hook never reached would not count)


def run_searches(db: Path, check: Check, queries: list[str] = QUERIES, top: int = 10,
                 want: dict[tuple[str, str], int] | None = None) -> None:
    """Each query in hybrid and BM25 mode; `want`: the fewest hits each (query, mode) must return."""
    from index.search import search
    from index.store import Store

    store = Store.open(db)
    try:
        ids = {r[0] for r in store.conn.execute("SELECT id FROM passages")}
        for query in queries:
            for mode in ("hybrid", "bm25"):
                check.searches += 1
                try:
                    hits = search(store, query, top=top, mode=mode).hits
                except Exception:  # noqa: BLE001 - counting every failure is the point
                    check.errors += 1
                    continue
                check.foreign += sum(h.passage_id not in ids for h in hits)
                if want is not None:  # the first run of a (query, mode) sets its floor
                    check.short += len(hits) < want.setdefault((query, mode), len(hits))
    finally:
        store.close()


def after_restart(db: Path, check: Check) -> None:
    from index.dense import DenseIndex
    from index.indexes import current_files
    from index.lexical import LexicalIndex
    from pipeline.recovery import open_store

    store, _ = open_store(db)
    try:
        pids = set(store.passage_ids())
        files = current_files(store)
        lexical = set(LexicalIndex.load(files["lex_npz"], files["lex_json"]).pids.tolist())
        dense = set(DenseIndex.load(files["dense"], files["dense_json"]).ids().tolist())
        check.unsearchable += len(pids - lexical) + len(pids - dense)
        check.underived += sum(u.status_probs is None and u.status_note is None and u.suggested_status is None
                               for u in store.units())
    finally:
        store.close()
    run_searches(db, check)


def child(db: Path, op: str, target: Path | str, kill: str | None, rng: random.Random, budget: float) -> int:
    """Run one ingest, remove or upload; kill at a hook ("put_vectors:1"), at a "random" moment, or not (None)."""
    hook = ["--kill", kill] if kill and kill != "random" else []
    cmd = [sys.executable, "-m", "tests.integrity_child", str(db), op, str(target)] + hook
    env = dict(os.environ)
    if op != "upload":
        env["RAPPORT_TIME_LIMIT_S"] = "0"  # read in-process; the app's upload keeps its limited worker
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if kill == "random":
        proc.stdout.readline()
        time.sleep(rng.uniform(0.0, budget))
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=600)
    return proc.returncode


def change(path: Path, rng: random.Random) -> None:
    text = path.read_text(encoding="utf-8")
    path.write_text(text + f"\nTillägg {rng.randint(1, 10**6)}: arbetet fortsätter enligt plan.\n", encoding="utf-8")


def base_store(work: Path) -> tuple[Path, Path, float]:
    from pipeline.ingest import ingest_paths

    db, reports = work / "data", work / "rapporter"
    reports.mkdir(parents=True)
    shutil.copy(FIXTURES / "manifest.csv", reports / "manifest.csv")
    for name in [*STABLE, MOVING]:
        shutil.copy(FIXTURES / name, reports / name)
    started = time.monotonic()
    ingest_paths([reports], db_dir=db, progress=False)
    return db, reports, time.monotonic() - started


# -- scenarios ----------------------------------------------------------------------------------------------------
def kills(work: Path, rng: random.Random, op: str, plan: list[str | None]) -> Check:
    from pipeline.ingest import ingest_paths

    db, reports, budget = base_store(work)
    check = Check()
    moving = reports / MOVING
    for kill in plan:
        if op == "remove":
            target: Path | str = MOVING
        elif op == "upload":
            change(moving, rng)
            target = moving
        else:
            change(moving, rng)
            target = reports
        check.killed += child(db, op, target, kill, rng, budget) == -signal.SIGKILL
        run_searches(db, check)  # before any repair: a search right after the crash
        after_restart(db, check)
        if op == "remove":  # the user runs it again (and puts the report back for the next kill)
            ok = child(db, "remove", MOVING, None, rng, 0) in (0, 1)
            ok = ok and not ingest_paths([moving], db_dir=db, progress=False).errors
        else:
            ok = child(db, op, target, None, rng, 0) == 0
        check.rerun_failed += not ok
    return check


def searches_during_writes(work: Path, rng: random.Random) -> Check:
    from pipeline.ingest import remove_report

    db, reports, _ = base_store(work)
    remove_report(MOVING, db_dir=db)
    want: dict[tuple[str, str], int] = {}
    run_searches(db, Check(), want=want)  # with the stable reports only: the fewest hits each search may return
    stop, loop = start_loop(work, "ingest-remove", db, reports / MOVING)
    check = Check()
    i = 0
    while (check.searches < 50 or cycles(work) < 5) and loop.poll() is None:  # >= 50 searches over >= 5 cycles
        run_searches(db, check, queries=[QUERIES[i % len(QUERIES)]], want=want)
        time.sleep(rng.uniform(0.0, 0.5))
        i += 1
    stop.touch()
    loop.wait(timeout=600)
    return check


def decisions_during_ingest(work: Path) -> tuple[int, int]:
    from index.store import Store

    db, reports, _ = base_store(work)
    stop, loop = start_loop(work, "ingest-loop", db, reports / MOVING)
    deciders = [subprocess.Popen([sys.executable, __file__, "--child", "decide", str(db), f"Granskare {i}", "200"],
                                 cwd=ROOT) for i in (1, 2)]
    for p in deciders:
        p.wait(timeout=900)
    stop.touch()
    loop.wait(timeout=600)
    store = Store.open(db)
    stored = store.conn.execute("SELECT count(*) FROM decisions WHERE reviewer LIKE 'Granskare %'").fetchone()[0]
    store.close()
    return 400, stored


def identity_cases(work: Path) -> list[tuple[str, str, str]]:
    from index.store import Store
    from pipeline.ingest import ingest_paths
    from pipeline.recovery import orphan_decisions
    from records import Decision

    rows = []
    uppsala, hudiksvall = FIXTURES / STABLE[0], FIXTURES / STABLE[1]

    def put(source: Path, dest: Path, text: str | None = None) -> Path:
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text if text is not None else source.read_text(encoding="utf-8"), encoding="utf-8")
        return dest

    case = work / "same-name"
    s = ingest_paths([put(uppsala, case / "a" / "rapport.txt"), put(hudiksvall, case / "b" / "rapport.txt")],
                     db_dir=case / "data", progress=False)
    rows.append(("same name, two folders", "2 reports", f"{s.reports} reports"))
    case = work / "same-stem"
    s = ingest_paths([put(uppsala, case / "rapport.txt"), put(hudiksvall, case / "rapport.md")],
                     db_dir=case / "data", progress=False)
    rows.append(("same stem, .txt and .md", "2 reports", f"{s.reports} reports"))
    case = work / "renamed"
    ingest_paths([put(uppsala, case / "delar.txt")], db_dir=case / "data", progress=False)
    s = ingest_paths([put(uppsala, case / "ny" / "omdöpt.txt")], db_dir=case / "data", progress=False)
    rows.append(("renamed copy", "1 report", f"{s.reports} report(s)"))
    case = work / "changed"
    first = put(uppsala, case / "v1" / "omsorg.txt")
    same_period = {"kommun": "Uppsala", "namnd": "Omsorgsnämnden", "year": 2024, "period": "augusti"}
    ingest_paths([first], db_dir=case / "data", progress=False, overrides=same_period)
    store = Store.open(case / "data")
    units = store.units()
    kept, edited, dropped = units[3], units[1], units[2]
    for u in (kept, edited, dropped):
        store.add_decision(Decision("unit_status", u.id, u.doc, "Anna", "correct", None, "försenad"))
    store.close()
    text = first.read_text(encoding="utf-8")
    text = text.replace(edited.title, edited.title.rstrip(".") + " under året", 1)
    text = "\n".join(line for line in text.split("\n") if dropped.title not in line)
    s = ingest_paths([put(uppsala, case / "v2" / "omsorg.txt", text)], db_dir=case / "data", progress=False,
                     overrides=same_period)
    store = Store.open(case / "data")
    ids = {u.id for u in store.units()}
    attached = sum(d.target_id in ids for d in store.current_decisions("unit_status").values())
    orphans = len(orphan_decisions(store))
    store.close()
    rows.append(("changed file (new version)", "1 report, 2 decisions attached, 1 reported",
                 f"{s.reports} report(s), {attached} attached, {orphans} reported"))
    return rows


def disk_cases(work: Path) -> list[tuple[str, str, str]]:
    import cli

    out = []
    for kind in ("read-only", "full"):
        mnt = work / f"mnt-{kind}"
        mnt.mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mnt)], capture_output=True).returncode:
            out.append((kind, "one line, exit 3", "not measured: cannot mount a tmpfs (needs root)"))
            continue
        try:
            db, reports, _ = base_store(mnt)
            new = work / f"ny-{kind}.txt"
            new.write_text((FIXTURES / "eskilstuna-symbol-2023-08.txt").read_text(encoding="utf-8") + "\nNy.\n",
                           encoding="utf-8")
            if kind == "read-only":
                subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
            else:
                with open(mnt / "filler", "wb") as f:
                    f.write(b"\0" * (shutil.disk_usage(mnt).free - 64 * 1024))
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                rc = cli.main(["ingest", str(new), "--db", str(db), "--quiet"])
            lines = err.getvalue().strip().splitlines()
            out.append((kind, "one line, exit 3", f"{len(lines)} line(s), exit {rc}: {lines[0][:60]}…"))
        finally:
            subprocess.run(["umount", "-l", str(mnt)])
    return out


def backups_during_ingest(work: Path, rng: random.Random, n: int) -> tuple[int, int]:
    from index.store import Store
    from pipeline.backup import backup
    from pipeline.recovery import needs_recovery

    db, reports, budget = base_store(work)
    stop, loop = start_loop(work, "ingest-loop", db, reports / MOVING)
    restored = 0
    i = 0
    while (i < n or cycles(work) < 3) and loop.poll() is None:
        time.sleep(rng.uniform(0.0, budget))
        dest = work / f"backup-{i}"
        backup(db, dest)
        store = Store.open(dest)
        clean = not needs_recovery(store)
        store.close()
        check = Check()
        after_restart(dest, check)
        restored += clean and not (check.errors or check.foreign or check.unsearchable or check.underived)
        i += 1
    stop.touch()
    loop.wait(timeout=600)
    return i, restored


def start_loop(work: Path, kind: str, db: Path, path: Path) -> tuple[Path, subprocess.Popen]:
    """A child that ingests (and removes) `path` until `work/stop` exists; returns once it has started."""
    stop = work / "stop"
    env = {**os.environ, "RAPPORT_TIME_LIMIT_S": "0"}  # read in-process: more cycles in the same time
    loop = subprocess.Popen([sys.executable, __file__, "--child", kind, str(db), str(path), str(stop)], cwd=ROOT,
                            env=env)
    while not (work / "cycles").exists():
        time.sleep(0.1)
    return stop, loop


def cycles(work: Path) -> int:
    return int((work / "cycles").read_text() or 0)


# -- children -----------------------------------------------------------------------------------------------------
def run_child(kind: str, args: list[str]) -> int:
    use_hash_embedder()
    from index.store import Store
    from pipeline.ingest import ingest_paths, remove_report
    from records import Decision

    if kind in ("ingest-remove", "ingest-loop"):
        db, path, stop = Path(args[0]), Path(args[1]), Path(args[2])
        rng = random.Random(1)
        cycles = 0
        stop.with_name("cycles").write_text("0")
        while not stop.exists():
            change(path, rng)
            ingest_paths([path], db_dir=db, progress=False)
            if kind == "ingest-remove":
                remove_report(path.name, db_dir=db)
            cycles += 1
            stop.with_name("cycles").write_text(str(cycles))
        return 0
    if kind == "decide":
        db, reviewer, count = Path(args[0]), args[1], int(args[2])
        store = Store.open(db)
        units = store.units(STABLE[0])
        rng = random.Random(reviewer)
        for _ in range(count):
            u = rng.choice(units)
            store.add_decision(Decision("unit_status", u.id, u.doc, reviewer, "correct", None,
                                        rng.choice(["försenad", "genomförd", "enligt plan"])))
            time.sleep(rng.uniform(0.0, 0.1))  # spread over several ingests, as reviewers would
        store.close()
        return 0
    raise SystemExit(f"unknown child {kind}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--backups", type=int, default=10)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "faults.md"))
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        return run_child(args.child[0], args.child[1:])
    use_hash_embedder()
    rng = random.Random(args.seed)
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="faults-") as tmp:
        work = Path(tmp)
        for op, plan in (("ingest", INGEST_KILLS), ("remove", REMOVE_KILLS), ("upload", UPLOAD_KILLS)):
            c = kills(work / f"kill-{op}", rng, op, plan)
            rows.append((f"SIGKILL {op} at {len(plan)} moments ({plan.count('random')} random); {c.killed} died",
                         "0 errors, 0 foreign, 0 unsearchable, 0 underived, 0 failed reruns",
                         f"{c.errors} errors in {c.searches} searches, {c.foreign} foreign hits, {c.unsearchable} "
                         f"unsearchable, {c.underived} underived, {c.rerun_failed} failed reruns"))
            print(rows[-1], flush=True)
        c = searches_during_writes(work / "searches", rng)
        rows.append((f"{c.searches} searches during {cycles(work / 'searches')} ingest+remove cycles",
                     "0 errors, 0 short",
                     f"{c.errors} errors, {c.short} short, {c.foreign} foreign in {c.searches}"))
        print(rows[-1], flush=True)
        wanted, stored = decisions_during_ingest(work / "decisions")
        rows.append((f"2 processes x 200 decisions during {cycles(work / 'decisions')} ingests", "0 lost",
                     f"{wanted - stored} lost ({stored} stored)"))
        print(rows[-1], flush=True)
        rows += identity_cases(work / "identity")
        rows += disk_cases(work)
        n, ok = backups_during_ingest(work / "backup", rng, args.backups)
        rows.append((f"{n} backups during {cycles(work / 'backup')} ingests", "100 % restore",
                     f"{100 * ok / n:.0f} % restore ({ok}/{n})"))
    table = ["| scenario | target | measured |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows]
    print("\n".join(table))
    Path(args.out).write_text("\n".join(table) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
