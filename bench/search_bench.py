"""Search speed over 100,000 passages, one thread, model loaded: hybrid query p95 and BM25 against rank_bm25.

    python bench/search_bench.py [--passages 100000] [--queries 100] [--work bench/work/search]

Builds (once, kept under --work) a store of synthetic passages made of real report sentences from corpus/, its BM25
index with the Swedish analyzer, and a FAISS flat index of random unit vectors (a flat inner-product search costs
the same whatever the vectors hold; embedding 100k passages would take hours on this machine). Queries are embedded
by the real model. Prints the figures; nothing here is a pass/fail test.

Targets: hybrid p95 <= 50 ms; our BM25 at least 20x faster than rank_bm25 on the same passages and tokens.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "EMBED_THREADS"):
    os.environ[_var] = "1"  # one thread, before numpy / torch / faiss load
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

# Everyday questions an analyst might ask; deliberately not the dev-set queries.
QUERIES = [
    "hyrsjuksköterskor", "sjukfrånvaro bland medarbetare", "heltid", "digitalisering", "ekonomiskt underskott",
    "bemanning på äldreboenden", "läkemedelsautomater", "nära vård", "välfärdsteknik", "hemtjänstens kvalitet",
    "kompetensförsörjning", "trygghetslarm", "våld i nära relation", "barn och unga", "budget i balans",
    "psykisk ohälsa", "rekrytering av socialsekreterare", "särskilt boende", "LSS-verksamhet", "matdistribution",
]
SENTENCE_MIN_WORDS = 5


def corpus_sentences() -> list[str]:
    tag = re.compile(r"<[^>]*>")
    out = []
    for path in sorted((ROOT / "corpus").glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = " ".join(tag.sub(" ", line).split())
            if len(line.split()) >= SENTENCE_MIN_WORDS:
                out.append(line)
    return out


def build(work: Path, n: int, model_id: str, dim: int) -> None:
    """A store of n synthetic passages in 100 reports, its BM25 index and a flat FAISS index of random vectors."""
    from index.dense import DenseIndex
    from index.indexes import META_MODEL, _paths, build_lexical, index_dir
    from index.store import Store, passage_int_id
    from records import Document, Passage, ReportMeta, Segmentation

    rng = random.Random(7)
    sentences = corpus_sentences()
    store = Store.open(work, create=True)
    per_report = n // 100
    started = time.perf_counter()
    for r in range(100):
        doc = f"syntetisk-{r:03d}.txt"
        lines = [" ".join(rng.sample(sentences, rng.randint(1, 3))) for _ in range(per_report)]
        passages = [Passage(f"{doc}#p{i}", doc, i, "Rubrik", text, i + 1, i + 1) for i, text in enumerate(lines)]
        meta = ReportMeta(doc, f"Kommun {r % 25}", "Socialnämnden", 2020 + r % 5)
        store.replace_report(meta, Document(doc, lines, lines, f"sha{r}", "txt"), Segmentation(passages, []), doc)
    print(f"byggde databasen: {store.count('passages')} passager ({time.perf_counter() - started:.0f} s)")
    index_dir(store).mkdir(parents=True, exist_ok=True)
    paths = _paths(store)
    passages = store.passages()
    started = time.perf_counter()
    lexical = build_lexical(passages)
    lexical.save(paths["lex_npz"], paths["lex_json"])
    print(f"BM25-index (hela databasen, svensk analys): {time.perf_counter() - started:.0f} s")
    vectors = np.random.default_rng(7).standard_normal((len(passages), dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    dense = DenseIndex.new(model_id, dim)
    dense.add(np.asarray([passage_int_id(p.id) for p in passages], dtype=np.int64), vectors)
    dense.save(paths["dense"], paths["dense_json"])
    store.set_meta(META_MODEL, model_id)
    store.set_meta("bench_passages", str(n))
    store.close()


def percentile(values: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(values), p))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100, help="hybrid queries timed (the list is cycled)")
    parser.add_argument("--work", default=str(ROOT / "bench" / "work" / "search"))
    args = parser.parse_args(argv)

    import faiss
    import torch

    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    from index import search as search_mod
    from index.indexes import get_embedder, load_indexes
    from index.store import Store

    started = time.perf_counter()
    embedder = get_embedder()
    embedder.embed_query("uppvärmning")
    print(f"modell: {embedder.model_id}, laddad på {time.perf_counter() - started:.1f} s; torch-trådar: "
          f"{torch.get_num_threads()}, faiss-trådar: 1")
    work = Path(args.work)
    try:
        store = Store.open(work)
        ready = store.get_meta("bench_passages") == str(args.passages)
        store.close()
    except Exception:  # noqa: BLE001 - no or broken bench store: build a fresh one
        ready = False
    if not ready:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
        build(work, args.passages, embedder.model_id, embedder.dim)
    store = Store.open(work)
    started = time.perf_counter()
    indexes = load_indexes(store)
    print(f"index laddade: {indexes.lexical.size} passager, {time.perf_counter() - started:.1f} s")

    # Hybrid, end to end (plan, BM25, query embedding, FAISS, fusion, rows, snippets), with the exact index (the
    # default) and the approximate IVF-SQ8 option swapped in for this process; the two alternate query by query so
    # both see the same load on a shared machine.
    from index.dense import DenseIndex

    started = time.perf_counter()
    exact = indexes.dense
    vectors = exact.vectors(exact.ids().tolist())
    approx = DenseIndex.new(exact.model_id, exact.dim, "ivf", vectors)
    approx.add(exact.ids(), vectors)
    print(f"IVF-SQ8 tränat och fyllt på {time.perf_counter() - started:.0f} s")
    search_mod.search(store, "uppvärmning", mode="hybrid")
    timings: dict[str, dict[str, list[float]]] = {k: {"total": [], "faiss": []} for k in ("flat", "ivf")}
    embed_ms = []
    for i in range(args.queries):
        query = QUERIES[i % len(QUERIES)]
        t0 = time.perf_counter()
        vector = embedder.embed_query(query)
        embed_ms.append((time.perf_counter() - t0) * 1000)
        for kind, dense in (("flat", exact), ("ivf", approx)):
            indexes.dense = dense
            t0 = time.perf_counter()
            dense.search(vector, search_mod.DEPTH)
            timings[kind]["faiss"].append((time.perf_counter() - t0) * 1000)
            search_mod._QUERY_VECTORS.clear()
            t0 = time.perf_counter()
            search_mod.search(store, query, top=10, mode="hybrid")
            timings[kind]["total"].append((time.perf_counter() - t0) * 1000)
    indexes.dense = exact
    for kind, label in (("flat", "exakt index (standard)"), ("ivf", "approximativt index (ivf)")):
        total, faiss_ms = timings[kind]["total"], timings[kind]["faiss"]
        p95 = percentile(total, 95)
        print(f"hybrid, {label}, {indexes.lexical.size} passager, {args.queries} frågor: median "
              f"{statistics.median(total):.1f} ms, p95 {p95:.1f} ms (mål <= 50 ms: {'ja' if p95 <= 50 else 'NEJ'}); "
              f"median per del: frågans embedding {statistics.median(embed_ms):.1f} ms, FAISS "
              f"{statistics.median(faiss_ms):.1f} ms")

    # BM25 alone: ours against rank_bm25 over the same tokens, same query terms (unweighted), top 10.
    from rank_bm25 import BM25Okapi

    analyzer = indexes.lexical.analyzer
    started = time.perf_counter()
    tokens = [analyzer.tokens(p.text) for p in store.passages()]
    reference = BM25Okapi(tokens)
    print(f"rank_bm25 byggd på {time.perf_counter() - started:.0f} s")
    ours_ms, ref_ms = [], []
    for query in QUERIES:
        terms = [t.term for t in analyzer.query_terms(query)]
        t0 = time.perf_counter()
        indexes.lexical.top([(t, 1.0) for t in terms], 10)
        ours_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        scores = reference.get_scores(terms)
        np.argpartition(-scores, 10)[:10]
        ref_ms.append((time.perf_counter() - t0) * 1000)
    speedup = statistics.median(ref_ms) / statistics.median(ours_ms)
    print(f"BM25 ensam, {len(QUERIES)} frågor: vår median {statistics.median(ours_ms):.2f} ms, rank_bm25 median "
          f"{statistics.median(ref_ms):.1f} ms: {speedup:.0f}x snabbare (mål >= 20x: {'ja' if speedup >= 20 else 'NEJ'})")
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
