"""Search quality on the dev set: nDCG@10 and recall@10 per query and mode, beside a naive baseline run in the
same process.

Relevance (qrels_*.jsonl): judged lines with grade 2 (directly about it) or 1 (mentions it). A hit is relevant when
its line range covers a judged line of its report; each judged line counts once, so the hit's gain is the best
grade among the judged lines it is the first to cover. The ideal ranking puts the judged lines themselves in grade
order. Both our modes and the baseline search the same reports: those the qrels cover.

Naive baseline: paragraphs of the raw report files split into chunks of at most 120 words; rank_bm25's BM25Okapi
over lowercase words; plain multilingual-e5-small (same embedder) over the same chunks; RRF (k = 60) of the two.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from evaluation.gold import DEFAULT_GOLD_DIR, load_queries
from index.store import Store

K = 10
MODES = ("bm25", "dense", "hybrid")
WINDOWS = (None, 5, 10, 20, 50)  # RRF rank windows tried leave-one-query-out (None: standard RRF, the product's)
BASELINE = ("bm25", "dense", "rrf")
CHUNK_WORDS = 120
ROOT = Path(__file__).resolve().parent.parent
_WORD = re.compile(r"\w+")


@dataclass
class Ranked:
    doc: str
    line_start: int
    line_end: int


def load_qrels(gold_dir: Path) -> dict[str, dict[tuple[str, int], int]]:
    """{query id: {(doc, line): grade}}; a line judged twice keeps its higher grade."""
    out: dict[str, dict[tuple[str, int], int]] = {}
    for path in sorted(Path(gold_dir).glob("qrels_*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                q = json.loads(line)
                key = (q["doc"], int(q["line"]))
                judged = out.setdefault(q["query"], {})
                judged[key] = max(judged.get(key, 0), int(q["grade"]))
    return out


def gains(ranked: list[Ranked], judged: dict[tuple[str, int], int]) -> tuple[list[int], set[tuple[str, int]]]:
    """Gain per rank (each judged line counted once) and the judged lines covered."""
    by_doc: dict[str, list[tuple[int, int]]] = {}
    for (doc, line), grade in judged.items():
        by_doc.setdefault(doc, []).append((line, grade))
    seen: set[tuple[str, int]] = set()
    out = []
    for r in ranked:
        new = [(line, g) for line, g in by_doc.get(r.doc, []) if r.line_start <= line <= r.line_end
               and (r.doc, line) not in seen]
        seen.update((r.doc, line) for line, _ in new)
        out.append(max((g for _, g in new), default=0))
    return out, seen


def ndcg_recall(ranked: list[Ranked], judged: dict[tuple[str, int], int], k: int = K) -> tuple[float, float]:
    ranked = ranked[:k]
    g, covered = gains(ranked, judged)
    dcg = sum((2 ** x - 1) / math.log2(i + 2) for i, x in enumerate(g))
    ideal = sorted(judged.values(), reverse=True)[:k]
    idcg = sum((2 ** x - 1) / math.log2(i + 2) for i, x in enumerate(ideal))
    return (dcg / idcg if idcg else 0.0), (len(covered) / len(judged) if judged else 0.0)


# -- naive baseline -----------------------------------------------------------------------------------------------
@dataclass
class Chunk:
    doc: str
    line_start: int
    line_end: int
    text: str


def chunk_report(doc: str, lines: list[str], max_words: int = CHUNK_WORDS) -> list[Chunk]:
    """Paragraphs (runs of non-blank lines) of the raw file, cut into chunks of at most `max_words` words."""
    chunks: list[Chunk] = []
    words: list[tuple[str, int]] = []

    def flush() -> None:
        for i in range(0, len(words), max_words):
            part = words[i:i + max_words]
            chunks.append(Chunk(doc, part[0][1], part[-1][1], " ".join(w for w, _ in part)))
        words.clear()

    for number, line in enumerate(lines, 1):
        if line.strip():
            words.extend((w, number) for w in line.split())
        else:
            flush()
    flush()
    return chunks


class NaiveBaseline:
    def __init__(self, chunks: list[Chunk], embed_passages: Callable[[list[str]], np.ndarray],
                 embed_query: Callable[[str], np.ndarray]):
        from rank_bm25 import BM25Okapi

        self.chunks = chunks
        self.bm25 = BM25Okapi([self.words(c.text) for c in chunks])
        self.vectors = embed_passages([c.text for c in chunks])
        self.embed_query = embed_query

    @staticmethod
    def words(text: str) -> list[str]:
        return [w.lower() for w in _WORD.findall(text)]

    def rank(self, query: str, mode: str, depth: int = 100) -> list[Ranked]:
        lexical = list(np.argsort(-self.bm25.get_scores(self.words(query)), kind="stable")[:depth])
        dense = list(np.argsort(-(self.vectors @ self.embed_query(query)), kind="stable")[:depth])
        if mode == "bm25":
            order = lexical
        elif mode == "dense":
            order = dense
        else:
            fused: dict[int, float] = {}
            for ranking in (lexical, dense):
                for rank, i in enumerate(ranking, 1):
                    fused[int(i)] = fused.get(int(i), 0.0) + 1.0 / (60 + rank)
            order = sorted(fused, key=lambda i: (-fused[i], i))
        return [Ranked(self.chunks[i].doc, self.chunks[i].line_start, self.chunks[i].line_end) for i in order]


def report_lines(store: Store, doc: str) -> list[str]:
    """The raw file as stored at ingest (the store keeps every line), else the corpus file."""
    lines = [text for _, text in store.lines(doc, clean=False)]
    if lines:
        return lines
    return (ROOT / "corpus" / doc).read_text(encoding="utf-8").splitlines()


# -- run ----------------------------------------------------------------------------------------------------------
def evaluate(store: Store, gold_dir: Path | str | None = None) -> list[str]:
    from index.indexes import check_indexes, get_embedder, repair_indexes
    from index.embeddings import embed_with_cache
    from index.search import SearchFilters, search
    from nlp.themes import store_cache

    gold_dir = Path(gold_dir) if gold_dir else DEFAULT_GOLD_DIR
    queries = load_queries(gold_dir)
    qrels = load_qrels(gold_dir)
    docs = sorted({doc for judged in qrels.values() for doc, _ in judged})
    if check_indexes(store):
        repair_indexes(store)
    filters = SearchFilters(docs=docs)
    ours: dict[str, dict[str, tuple[float, float]]] = {}
    tops: dict[str, list[Any]] = {}
    for qid, text in queries.items():
        ours[qid] = {}
        for mode in MODES:
            hits = search(store, text, top=K, mode=mode, filters=filters).hits
            ours[qid][mode] = ndcg_recall([Ranked(h.doc, h.line_start, h.line_end) for h in hits], qrels.get(qid, {}))
            if mode == "hybrid":
                tops[qid] = hits
    windowed = {qid: {w: ndcg_recall([Ranked(h.doc, h.line_start, h.line_end) for h in
                                       search(store, text, top=K, mode="hybrid", filters=filters, window=w).hits],
                                      qrels.get(qid, {}))[0] for w in WINDOWS} for qid, text in queries.items()}
    # The same queries over every report in the store: hits in reports nobody judged count as misses here.
    whole_hits = {m: {qid: search(store, text, top=K, mode=m).hits for qid, text in queries.items()} for m in MODES}
    whole = {m: float(np.mean([ndcg_recall([Ranked(h.doc, h.line_start, h.line_end) for h in hits],
                                           qrels.get(qid, {}))[0] for qid, hits in whole_hits[m].items()]))
             for m in MODES}
    q1_all = {qid: sorted({h.kommun for h in hits if h.kommun}) for qid, hits in whole_hits["hybrid"].items()}
    embedder = get_embedder(store.get_meta("embedding_model"))
    cache = store_cache(store, embedder.model_id)
    chunks = [c for doc in docs for c in chunk_report(doc, report_lines(store, doc))]
    baseline = NaiveBaseline(chunks, lambda texts: embed_with_cache(embedder, texts, *cache), embedder.embed_query)
    base = {qid: {m: ndcg_recall(baseline.rank(text, m), qrels.get(qid, {})) for m in BASELINE}
            for qid, text in queries.items()}
    n_reports = len(store.reports())
    return (_table(queries, ours, base, docs, len(chunks), store) + _targets(queries, ours, base, tops)
            + _window_loqo(windowed)
            + ["", f"hela databasen ({n_reports} rapporter, obedömda rapporters träffar räknas som missar): "
                   + ", ".join(f"{m} {whole[m]:.3f}" for m in MODES)]
            + [f"{qid} topp {K} i hela databasen, kommuner: {', '.join(k) or '–'}" for qid, k in q1_all.items()]
            + meaning_cutoff(store, queries, qrels, docs))


Z_GRID = tuple(round(2.5 + 0.25 * i, 2) for i in range(11))  # 2.5 ... 5.0
MEANING_DEPTH = 50  # the dense ranking's head judged for meaning-only hits


def meaning_cutoff(store: Store, queries: dict[str, str], qrels, docs: list[str]) -> list[str]:
    """The cut-off for hits found by meaning alone (index/search.py DENSE_MIN_Z), chosen leave-one-query-out: for
    each query, the z that gives the best F1 of relevant meaning-only hits on the other queries, scored on it; and
    how many strings of random letters still get a hit at the product's cut-off."""
    import random

    from index.indexes import load_indexes
    from index.search import DENSE_MIN_Z, SearchFilters, allowed_pids, query_embedder, query_vector, resolve_filters, \
        search, standing_out

    indexes = load_indexes(store)
    lexical, dense = indexes.lexical, indexes.dense
    allowed = allowed_pids(store, resolve_filters(store, SearchFilters(docs=docs)))
    rows = store.passage_rows(allowed.tolist())
    embedder = query_embedder(dense)
    judged_hits: dict[str, list[tuple[float, bool]]] = {}
    for qid, text in queries.items():
        terms = [(t.term, t.weight) for t in lexical.analyzer.query_terms(text)]
        words = set(lexical.top_and_matches(terms, 1, lexical.rows_for(allowed))[1].tolist()) if terms else set()
        vec = query_vector(embedder, text)
        ranked = dense.search(vec, MEANING_DEPTH, allowed)
        z = standing_out(dense, vec, ranked)
        judged = qrels.get(qid, {})
        judged_hits[qid] = [(z[pid], any(d == rows[pid]["doc"] and rows[pid]["line_start"] <= ln <= rows[pid]["line_end"]
                                         for d, ln in judged)) for pid, _ in ranked if pid not in words]

    def counts(qids, cut) -> tuple[int, int, int]:
        kept = [rel for q in qids for z, rel in judged_hits[q] if z >= cut]
        return sum(kept), len(kept), sum(rel for q in qids for _, rel in judged_hits[q])

    def f1(c: tuple[int, int, int]) -> float:
        good, kept, relevant = c
        return 2 * good / (kept + relevant) if kept + relevant else 0.0

    held, chosen = [0, 0, 0], []
    for q in queries:
        rest = [o for o in queries if o != q]
        cut = max(Z_GRID, key=lambda c: (f1(counts(rest, c)), c))
        chosen.append(cut)
        held = [a + b for a, b in zip(held, counts([q], cut))]
    good, kept, relevant = held
    everyone = max(Z_GRID, key=lambda c: (f1(counts(list(queries), c)), c))
    rng = random.Random(20261127)
    nonsense = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyzåäö") for _ in range(rng.randint(6, 14)))
                for _ in range(50)]
    with_hits = sum(bool(search(store, w, top=K).hits) for w in nonsense)
    return ["", "## Träffar bara på betydelse: gräns för hur mycket en passage sticker ut (z), lämna-en-fråga-utanför",
            f"gränser valda utan frågan: {', '.join(f'{c:.2f}' for c in chosen)}; på alla frågor {everyone:.2f}; "
            f"produktens DENSE_MIN_Z {DENSE_MIN_Z:.2f}",
            f"betydelseträffar (topp {MEANING_DEPTH} utan sökorden) med utelämnade frågans gräns: precision "
            f"{good / kept if kept else 0:.3f} ({good}/{kept}), recall {good / relevant if relevant else 0:.3f} "
            f"({good}/{relevant}) av de relevanta som bara hittas på betydelse",
            f"slumpade bokstavsföljder med någon träff (standardläget): {with_hits} av {len(nonsense)}"]


def _table(queries, ours, base, docs, n_chunks, store) -> list[str]:
    n_passages = sum(1 for p in store.passages() if p.doc in docs)
    lines = [
        f"## Sök: nDCG@{K} / recall@{K} på {len(queries)} frågor, {len(docs)} bedömda rapporter "
        f"({n_passages} passager; baslinjen {n_chunks} stycken om högst {CHUNK_WORDS} ord)",
        "",
        "| fråga | " + " | ".join(f"vår {m}" for m in MODES) + " | " + " | ".join(f"baslinje {m}" for m in BASELINE)
        + " |",
        "|---|" + "---|" * (len(MODES) + len(BASELINE)),
    ]
    for qid, text in queries.items():
        cells = [f"{ours[qid][m][0]:.2f} / {ours[qid][m][1]:.2f}" for m in MODES]
        cells += [f"{base[qid][m][0]:.2f} / {base[qid][m][1]:.2f}" for m in BASELINE]
        lines.append(f"| {qid} {text} | " + " | ".join(cells) + " |")
    mean_ours = {m: [float(np.mean([ours[q][m][i] for q in queries])) for i in (0, 1)] for m in MODES}
    mean_base = {m: [float(np.mean([base[q][m][i] for q in queries])) for i in (0, 1)] for m in BASELINE}
    lines.append("| **medel** | " + " | ".join(f"**{mean_ours[m][0]:.2f}** / {mean_ours[m][1]:.2f}" for m in MODES)
                 + " | " + " | ".join(f"**{mean_base[m][0]:.2f}** / {mean_base[m][1]:.2f}" for m in BASELINE)
                 + " |")
    return lines


def _targets(queries, ours, base, tops) -> list[str]:
    mean = {m: float(np.mean([ours[q][m][0] for q in queries])) for m in MODES}
    base_rrf = float(np.mean([base[q]["rrf"][0] for q in queries]))
    lines = ["", f"hybrid medel-nDCG@{K} {mean['hybrid']:.3f} (mål >= 0.80): {'ja' if mean['hybrid'] >= 0.80 else 'NEJ'}",
             f"hybrid bättre än vår bm25 ({mean['bm25']:.3f}) och dense ({mean['dense']:.3f}): "
             f"{'ja' if mean['hybrid'] > max(mean['bm25'], mean['dense']) else 'NEJ'}",
             f"hybrid mot baslinjens rrf ({base_rrf:.3f}): {mean['hybrid'] - base_rrf:+.3f}"]
    for qid, hits in tops.items():
        kommuner = sorted({h.kommun for h in hits if h.kommun})
        lines.append(f"{qid} topp {K}, kommuner: {', '.join(kommuner) or '–'}")
    return lines


def _window_loqo(windowed: dict[str, dict[int | None, float]]) -> list[str]:
    """An RRF rank window chosen leave-one-query-out: for each query, the window with the best mean nDCG on the
    other queries (ties: the smaller change from standard RRF), scored on the held-out query."""
    order = list(WINDOWS)
    chosen, scores = {}, []
    for qid in windowed:
        others = [q for q in windowed if q != qid]
        best = max(order, key=lambda w: (np.mean([windowed[q][w] for q in others]), -order.index(w)))
        chosen[qid] = best
        scores.append(windowed[qid][best])
    standard = float(np.mean([windowed[q][None] for q in windowed]))
    return ["", f"fusion: standard-RRF (k = 60, produktens) {standard:.3f}; rangfönster valt "
                f"lämna-en-fråga-utanför {float(np.mean(scores)):.3f} (valda: "
                + ", ".join(f"{q} {w or 'inget'}" for q, w in chosen.items()) + ")"]
