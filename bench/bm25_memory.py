"""Peak memory of a full BM25 build (index.indexes.build_lexical) at a million passages.

    python bench/bm25_memory.py [--passages 1000000] [--seed 20240823]

Passages are made as bench/run.py makes them (1-6 distinct sentences of corpus/, the real passages' mix), held as
the product's Passage records, as `Store.passages()` returns them to a full rebuild. Printed: resident memory with
the passages loaded, the process's peak RSS after the build (target <= 4 GB), build time, vocabulary and postings.
The figures go to bench/results/bm25_memory.json for bench/run.py. What it cannot show: a real store's passages
are read from SQLite (a second copy of the text while they are read).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
RESULTS = ROOT / "bench" / "results"
TARGET_GB = 4.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passages", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=20240823)
    args = ap.parse_args()
    import numpy as np

    from run import compose, corpus_sentences, passage_text, peak_rss_mb, rss_mb

    from index.indexes import build_lexical
    from records import Passage

    sentences, mix = corpus_sentences()
    offsets, flat = compose(args.passages, len(sentences), mix, np.random.default_rng(args.seed))
    passages = [Passage(f"d{i // 480:05d}.txt#p{i % 480}", f"d{i // 480:05d}.txt", i % 480, None,
                        passage_text(sentences, offsets, flat, i), i, i) for i in range(args.passages)]
    held = rss_mb()
    started = time.perf_counter()
    lexical = build_lexical(passages)
    seconds = time.perf_counter() - started
    peak = peak_rss_mb()
    print(f"BM25-bygge, {args.passages:,} passager: {seconds / 60:.1f} min; RSS med passagerna inlästa {held:,.0f} MB, "
          f"högsta RSS {peak:,.0f} MB = {peak / 1024:.2f} GB (mål <= {TARGET_GB} GB: "
          f"{'uppnått' if peak / 1024 <= TARGET_GB else 'EJ uppnått'}); {len(lexical.vocab):,} termer, "
          f"{len(lexical.data):,} poster")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bm25_memory.json").write_text(json.dumps({
        "passages": args.passages, "build_s": round(seconds, 1), "rss_with_passages_mb": round(held),
        "peak_rss_mb": round(peak), "target_gb": TARGET_GB, "vocabulary": len(lexical.vocab),
        "postings": int(len(lexical.data)), "load_avg_end": os.getloadavg()}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
