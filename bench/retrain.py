"""Retraining the status model after reviewers' decisions, at 5,000 units.

    python bench/retrain.py [--db data] [--copies 20] [--runs 3]

Builds a store of the corpus store's units copied --copies times (each copy a report of its own, in another
kommun, titles numbered; its feature rows are the originals' with a little noise, so nothing is embedded: at
ingest every unit's row is computed and cached once, and a retrain reads the cache), adds 10 reviewers' decisions
and times `nlp.status.retrain_status` (what `cli.py train --decisions` runs; target <= 2 s for 5,000 units, median
of --runs), then the whole background command from a fresh process (imports, retrain, flags of the reports whose
suggestions moved). What it cannot show: copies share their commentaries' sentences, so evidence sentences are
found in the embedding cache; a store whose new units' sentences were never embedded pays for that once.
"""
from __future__ import annotations

import argparse
from contextlib import contextmanager
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from index.indexes import META_MODEL, get_query_embedder  # noqa: E402
from index.store import Store  # noqa: E402
from nlp import status as S  # noqa: E402
from records import Decision  # noqa: E402

TARGET_S = 2.0


def copy_reports(store: Store, copies: int) -> None:
    """Each report again under `doc~k` (kommun `kommun k`), unit ids `id~k`, titles numbered."""
    c = store.conn
    docs = [r["doc"] for r in store.reports()]
    with store.transaction():
        for k in range(1, copies):
            for doc in docs:
                new = f"{doc}~{k}"
                c.execute("INSERT INTO reports SELECT ?, path, sha256 || ?, fmt, kommun || ?, namnd, year, period, "
                          "report_date, source, n_lines, legend, ingested_at, file FROM reports WHERE doc=?",
                          (new, f"~{k}", f" {k}", doc))
                c.execute("INSERT INTO lines SELECT ?, line, raw, clean, page FROM lines WHERE doc=?", (new, doc))
                c.execute("INSERT INTO units(id, doc, seq, level, parent, parent_id, title, text, line_start, line_end, "
                          "title_line, explicit_status, explicit_status_source, explicit_status_line, status, "
                          "linked_unit_id, page_start, page_end, progress) SELECT id || ?, ?, "
                          "seq, level, parent, parent_id, title || ?, text, line_start, line_end, title_line, "
                          "explicit_status, explicit_status_source, explicit_status_line, status, linked_unit_id, "
                          "page_start, page_end, progress FROM units WHERE doc=?", (f"~{k}", new, f" ({k})", doc))


def seed_feature_cache(store: Store, originals: dict[str, str], model_id: str, rng: np.random.Generator) -> None:
    """The copies' feature rows: their original's with noise on the embedding part (as if embedded at ingest)."""
    reports = store.reports_by_doc()
    units = store.units()
    by_id = {u.id: u for u in units}
    keys = {u.id: S.feature_key(u, reports.get(u.doc), model_id) for u in units}
    cached = store.cached_features([keys[o] for o in set(originals.values())])
    rows = {}
    for copy_id, original in originals.items():
        vector, info = cached[keys[original]]
        noisy = vector.copy()
        dim = len(vector) - len(S.feature_names())
        noisy[:dim] += rng.normal(0, 0.01, dim).astype(np.float32)
        rows[keys[copy_id]] = (noisy, info)
    store.put_features(rows)
    assert len(by_id) == len(keys)


def bench_args(argv: list[str] | None) -> argparse.Namespace:
    """--db, --copies, --runs: shared by the benches that copy the corpus store."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default=str(ROOT / "data"))
    ap.add_argument("--copies", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    return ap.parse_args(argv)


@contextmanager
def store_copy(db: str, prefix: str) -> Iterator[tuple[Path, Store]]:
    """A private copy of the store's SQLite file in a temporary folder, removed afterwards."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        shutil.copy(Path(db) / "store.sqlite", work / "store.sqlite")
        yield work, Store.open(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = bench_args(argv)
    with store_copy(args.db, "retrain-bench-") as (work, store):
        embedder = get_query_embedder(store.get_meta(META_MODEL))
        embed = S.CachedEmbeddings(embedder, store)
        S.cached_matrix(store, store.units(), embed)  # the originals' rows, as their ingest left them
        copy_reports(store, args.copies)
        originals = {u.id: u.id.rsplit("~", 1)[0] for u in store.units() if "~" in u.doc}
        seed_feature_cache(store, originals, embed.model_id, np.random.default_rng(0))
        S.apply_status(store, None, embedder)
        units = store.units()
        queued = [u for u in units if u.status is None and u.suggested_status]
        rng = random.Random(0)
        times = []
        for run in range(args.runs):
            for u in rng.sample(queued, 10):
                store.add_decision(Decision("unit_status", u.id, u.doc, "bench", "correct", None,
                                            rng.choice(S.SUGGESTED)))
            started = time.perf_counter()
            line = S.retrain_status(store, embedder)[0]
            times.append(time.perf_counter() - started)
        for u in rng.sample(queued, 10):
            store.add_decision(Decision("unit_status", u.id, u.doc, "bench", "correct", None, rng.choice(S.SUGGESTED)))
        store.close()
        started = time.perf_counter()
        done = subprocess.run([sys.executable, str(ROOT / "cli.py"), "train", "--decisions", "--db", str(work)],
                              capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode:
            raise SystemExit(done.stderr)
        median = statistics.median(times)
        verdict = "uppnått" if median <= TARGET_S else "EJ uppnått"
        print(f"omträning efter 10 beslut, {len(units)} poster ({len(queued)} i granskningskön), {args.runs} körningar: "
              f"median {median:.2f} s (min {min(times):.2f}, max {max(times):.2f}); mål <= {TARGET_S:.0f} s: {verdict}")
        print(f"  sista körningen: {line}")
        print(f"  hela bakgrundskommandot `cli.py train --decisions` från en ny process: {wall:.1f} s "
              f"({done.stdout.strip().splitlines()[-1]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
