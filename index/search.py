"""Search: plan a query (terms, compound parts, filters, fusion), then run it against BM25 and FAISS.

`plan_query` is pure planning (validates input, analyses the query, resolves filters against the store) and is what
`cli.py search --explain` prints; `run_plan` executes a plan; `search` does both. Hybrid mode fuses the BM25 and
dense rankings by reciprocal rank fusion (k = 60). Only passages matching at least one query term enter the BM25
ranking, so passages tied at zero never feed the fusion.
"""
from __future__ import annotations

import json
import math
import unicodedata
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from errors import BadQuery, ModelMismatch, UnknownChoice
from index.indexes import clean_text, configured_model, get_query_embedder, load_indexes
from index.store import Store
from records import Hit

MODES = ("hybrid", "bm25", "dense")
RRF_K = 60
# Standard reciprocal rank fusion. `cli.py eval` measures a rank window (the heads of both rankings fused first) chosen
# leave-one-query-out beside it; on the six dev queries no window is reliably better, so none is used.
RRF_WINDOW: int | None = None
DEPTH = 500  # candidates taken from each ranking
# A passage found only by its meaning is shown when its cosine to the query stands out from the query's cosines to
# passages in general (a fixed sample, index/dense.py): z = (cosine - mean) / standard deviation. Cosines alone do
# not separate (multilingual-e5-small gives a nonsense word 0.84-0.87 to its nearest passages, a real query's
# relevant passages 0.86-0.92). The value is what `cli.py eval` (section search) chooses on all six dev queries, and
# what five of its six leave-one-query-out choices are; held out, meaning-only hits were relevant 1 time in 10 there
# (the dev queries' relevant passages mostly contain the query's words or their parts), so the app shows them apart
# and labelled. A query with no known word gets none (Analyzer.knows).
DENSE_MIN_Z = 2.75
MIN_BACKGROUND = 200  # passages needed before "standing out" means anything
MAX_QUERY_CHARS = 1000
MAX_TOP = 1000
SNIPPET_CHARS = 300


@dataclass
class SearchFilters:
    # Each filter takes one value or several (any of them).
    kommun: str | list[str] | None = None
    namnd: str | list[str] | None = None
    year: int | list[int] | None = None  # those years, or from that year when year_to is set
    year_to: int | None = None
    level: str | list[str] | None = None
    status: str | list[str] | None = None  # stated status, or the suggested one where none is stated
    theme: str | list[str] | None = None  # theme ids or labels, on the unit or the passage
    docs: list[str] | None = None  # restrict to these report files (evaluation, the app's report picker)

    def is_empty(self) -> bool:
        return all(v in (None, [], "") for v in asdict(self).values())


@dataclass
class PlannedTerm:
    term: str  # normalised form looked up in the index
    piece: str  # as written in the query (the word or the compound part)
    depth: int  # 0: a query word, 1: its compound part, 2: a part's part
    weight: float


@dataclass
class QueryPlan:
    query: str
    text: str  # the query as searched: markup removed, whitespace collapsed
    mode: str
    top: int
    terms: list[PlannedTerm]
    filters: dict[str, Any]  # resolved values (canonical kommun names, report files, ...)
    fusion: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def weighted_terms(self) -> list[tuple[str, float]]:
        return [(t.term, t.weight) for t in self.terms]


@dataclass
class SearchResult:
    hits: list[Hit]
    plan: QueryPlan
    word_total: int = 0  # passages with a query word or its part, under the filters: all of them, not only shown
    word_kommuner: int = 0  # the kommuner those passages are from

    @property
    def word_hits(self) -> list[Hit]:
        return [h for h in self.hits if "bm25" in h.matched_by]

    @property
    def meaning_hits(self) -> list[Hit]:
        """Hits found by meaning alone: the query's words are not in them."""
        return [h for h in self.hits if "bm25" not in h.matched_by]

    def summary(self) -> str:
        """'39 ordträffar i 3 kommuner (10 visas) · 2 träffar bara på betydelse': word matches counted in full, the
        ones found by meaning apart (the CLI's first line and the app's heading)."""
        def n(count: int, one: str, many: str) -> str:
            return f"{count} {one if count == 1 else many}"

        parts = []
        if self.plan.mode != "dense":
            shown = len(self.word_hits)
            parts.append(n(self.word_total, "ordträff", "ordträffar") + " i "
                         + n(self.word_kommuner, "kommun", "kommuner")
                         + (f" ({shown} visas)" if shown < self.word_total else ""))
        if self.plan.mode != "bm25":
            parts.append(n(len(self.meaning_hits), "träff", "träffar") + " bara på betydelse")
        return " · ".join(parts)

    def by_kommun(self) -> "OrderedDict[str, list[Hit]]":
        return by_kommun(self.hits)


def by_kommun(hits: list[Hit]) -> "OrderedDict[str, list[Hit]]":
    """Hits grouped by kommun, groups in the order of their best hit."""
    groups: OrderedDict[str, list[Hit]] = OrderedDict()
    for h in hits:
        groups.setdefault(h.kommun or "okänd kommun", []).append(h)
    return groups


# -- planning -----------------------------------------------------------------------------------------------------
def plan_query(store: Store, query: str, top: int = 10, mode: str = "hybrid", filters: SearchFilters | None = None,
               analyzer=None, window: int | None = RRF_WINDOW) -> QueryPlan:
    """Validate and analyse a query without running it. Raises BadQuery / UnknownChoice with a clear message."""
    if mode not in MODES:
        raise UnknownChoice("sökläge", mode, MODES)
    if not isinstance(top, int) or not 1 <= top <= MAX_TOP:
        raise BadQuery(f"antal träffar måste vara mellan 1 och {MAX_TOP}, inte {top}")
    query = query if isinstance(query, str) else ""
    if len(query) > MAX_QUERY_CHARS:
        raise BadQuery(f"sökfrågan är för lång ({len(query)} tecken); högst {MAX_QUERY_CHARS} tecken")
    text = clean_text(unicodedata.normalize("NFC", query))
    if not any(c.isalnum() for c in text):
        raise BadQuery("sökfrågan är tom eller innehåller inga ord att söka på")
    if analyzer is None:
        analyzer = load_indexes(store).lexical.analyzer
    terms = [PlannedTerm(t.term, t.piece, t.depth, t.weight) for t in analyzer.query_terms(text)]
    notes: list[str] = []
    if not terms:
        if mode == "bm25":
            raise BadQuery("sökfrågan innehåller bara vanliga småord (stoppord); lägg till ett mer specifikt ord")
        notes.append("inga söktermer efter stoppord: bara semantisk sökning")
    fusion = {"method": "rrf", "k": RRF_K, "window": window, "depth": DEPTH} if mode == "hybrid" else None
    return QueryPlan(query, text, mode, top, terms, resolve_filters(store, filters or SearchFilters()), fusion, notes)


def _norm(value: str) -> str:
    """Case-, accent- and separator-insensitive form for matching filter values ("Socialnamnden" = "Socialnämnden")."""
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).replace("_", " ").replace(
        "-", " ").split())


def _pick(what: str, value: str, choices: list[str], substring: bool = False) -> list[str]:
    """The stored values a filter value selects; UnknownChoice (listing them) when it selects none."""
    wanted = _norm(value)
    exact = [c for c in choices if _norm(c) == wanted]
    found = exact or ([c for c in choices if wanted and wanted in _norm(c)] if substring else [])
    if not found:
        raise UnknownChoice(what, value, choices or ["(inga i databasen)"])
    return found


def resolve_filters(store: Store, f: SearchFilters) -> dict[str, Any]:
    """Filter values checked against what the store holds, as canonical values."""
    out: dict[str, Any] = {}
    if f.is_empty():
        return out  # the common case costs no query
    reports = store.reports()
    if f.kommun:
        out["kommun"] = _pick_all("kommun", f.kommun, sorted({r["kommun"] for r in reports if r["kommun"]}))
    if f.namnd:
        out["namnd"] = _pick_all("nämnd", f.namnd, sorted({r["namnd"] for r in reports if r["namnd"]}), True)
    if isinstance(f.year, list) and f.year:
        years = sorted({r["year"] for r in reports if r["year"] is not None})
        out["years"] = sorted({y for y in map(int, f.year) if y in years})
        if not out["years"]:
            raise UnknownChoice("år", ", ".join(map(str, f.year)), [str(y) for y in years] or ["(inga i databasen)"])
    elif f.year is not None or f.year_to is not None:
        lo = f.year if f.year is not None else f.year_to
        hi = f.year_to if f.year_to is not None else f.year
        if lo > hi:
            raise BadQuery(f"ogiltigt årsintervall: {lo}–{hi}")
        years = sorted({r["year"] for r in reports if r["year"] is not None})
        if not any(lo <= y <= hi for y in years):
            span = f"{lo}" if lo == hi else f"{lo}–{hi}"
            raise UnknownChoice("år", span, [str(y) for y in years] or ["(inga i databasen)"])
        out["year"], out["year_to"] = lo, hi
    if f.docs:
        known = {r["doc"] for r in reports}
        missing = [d for d in f.docs if d not in known]
        if missing:
            raise UnknownChoice("rapport", missing[0], sorted(known))
        out["docs"] = sorted(set(f.docs))
    if f.level:
        levels = [r[0] for r in store.conn.execute("SELECT DISTINCT level FROM units WHERE level IS NOT NULL")]
        out["level"] = _pick_all("nivå", f.level, sorted(levels))
    if f.status:
        out["status"] = _pick_all("status", f.status, _status_choices(store))
    if f.theme:
        themes = _theme_choices(store)
        ids: set[str] = set()
        for value in _listed(f.theme):
            found = {tid for tid, label in themes.items() if _norm(value) in (_norm(tid), _norm(label))}
            if not found:
                raise UnknownChoice("tema", value, sorted(themes) or ["(inga i databasen)"])
            ids |= found
        out["theme"] = sorted(ids)
    return out


def _listed(value: Any) -> list[Any]:
    return [value] if isinstance(value, (str, int)) else list(value)


def _pick_all(what: str, value: str | list[str], choices: list[str], substring: bool = False) -> list[str]:
    """The stored values any of the filter's values select (each must select one)."""
    return sorted({c for v in _listed(value) for c in _pick(what, str(v), choices, substring)})


def _status_choices(store: Store) -> list[str]:
    try:
        from nlp.status_vocab import CANONICAL
    except ImportError:  # the status module is optional for search
        CANONICAL = ()
    stored = [r[0] for r in store.conn.execute(
        "SELECT DISTINCT COALESCE(status, suggested_status) FROM units WHERE COALESCE(status, suggested_status) "
        "IS NOT NULL")]
    return sorted(set(CANONICAL) | set(stored))


def _theme_choices(store: Store) -> dict[str, str]:
    """Theme id -> label, from the taxonomy and from what the store holds."""
    themes: dict[str, str] = {}
    for (raw,) in store.conn.execute("SELECT themes FROM units UNION SELECT themes FROM passages"):
        themes.update((t["id"], "") for t in json.loads(raw or "[]") if isinstance(t, dict) and t.get("id"))
    try:
        from nlp.taxonomy import load_taxonomy

        themes.update((t.id, t.label) for t in load_taxonomy())
    except Exception:  # noqa: BLE001 - a broken taxonomy file must not break search; stored ids still work
        pass
    return themes


def allowed_pids(store: Store, filters: dict[str, Any]) -> np.ndarray | None:
    """Integer ids of the passages the resolved filters allow; None when nothing is filtered."""
    if not filters:
        return None
    where, args = [], []
    for key, col in (("kommun", "r.kommun"), ("namnd", "r.namnd"), ("docs", "p.doc"), ("level", "u.level")):
        if key in filters:
            values = filters[key] if isinstance(filters[key], list) else [filters[key]]
            where.append(f"{col} IN ({','.join('?' * len(values))})"), args.extend(values)
    if "year" in filters:
        where.append("r.year BETWEEN ? AND ?"), args.extend([filters["year"], filters["year_to"]])
    if "years" in filters:
        where.append(f"r.year IN ({','.join('?' * len(filters['years']))})"), args.extend(filters["years"])
    if "status" in filters:
        values = filters["status"]
        where.append(f"COALESCE(u.status, u.suggested_status) IN ({','.join('?' * len(values))})")
        args.extend(values)
    sql = ("SELECT p.pid, p.themes, u.themes FROM passages p JOIN reports r ON r.doc = p.doc "
           "LEFT JOIN units u ON u.id = p.unit_id" + (" WHERE " + " AND ".join(where) if where else ""))
    rows = store.conn.execute(sql, args).fetchall()
    if "theme" in filters:
        wanted = set(filters["theme"])
        rows = [r for r in rows if wanted & (_theme_ids(r[1]) | _theme_ids(r[2]))]
    return np.asarray([r[0] for r in rows], dtype=np.int64)


def _theme_ids(raw: str | None) -> set[str]:
    return {t["id"] for t in json.loads(raw or "[]") if isinstance(t, dict) and t.get("id")}


# -- running ------------------------------------------------------------------------------------------------------
_QUERY_VECTORS: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()


def query_vector(embedder, text: str) -> np.ndarray:
    """The query's embedding; recent queries are kept (the app re-runs the same query on every interaction)."""
    key = (embedder.model_id, text)
    if key in _QUERY_VECTORS:
        _QUERY_VECTORS.move_to_end(key)
        return _QUERY_VECTORS[key]
    vec = np.asarray(embedder.embed_query(text), dtype=np.float32).reshape(-1)
    _QUERY_VECTORS[key] = vec
    if len(_QUERY_VECTORS) > 512:
        _QUERY_VECTORS.popitem(last=False)
    return vec


def query_embedder(dense, embedder=None):
    """The model that built the vectors, unless the user configured another one: then ModelMismatch."""
    embedder = embedder or get_query_embedder(configured_model() or dense.model_id)
    if embedder.model_id != dense.model_id:
        raise ModelMismatch(f"indexet är byggt med {dense.model_id}, men modellen {embedder.model_id} är vald")
    return embedder


def run_plan(store: Store, plan: QueryPlan, embedder=None) -> SearchResult:
    indexes = load_indexes(store)
    lexical, dense = indexes.lexical, indexes.dense
    allowed = allowed_pids(store, plan.filters)
    lex_ranked: list[tuple[int, float]] = []
    dense_ranked: list[tuple[int, float]] = []
    word_pids = np.zeros(0, dtype=np.int64)
    if plan.mode in ("bm25", "hybrid") and plan.terms:
        mask = lexical.rows_for(allowed) if allowed is not None else None
        lex_ranked, word_pids = lexical.top_and_matches(plan.weighted_terms(), max(DEPTH, plan.top), mask)
    standout: dict[int, float] = {}
    if plan.mode in ("dense", "hybrid") and dense is not None and dense.size:
        if lexical.analyzer.knows(plan.text):
            embedder = query_embedder(dense, embedder)
            vec = query_vector(embedder, plan.text)
            dense_ranked = dense.search(vec, max(DEPTH, plan.top), allowed)
            standout = standing_out(dense, vec, dense_ranked)
        else:
            plan.notes.append("inget ord i sökfrågan finns i ordlistan eller rapporterna: ingen sökning på betydelse")
    lex_rank = {pid: i + 1 for i, (pid, _) in enumerate(lex_ranked)}
    dense_rank = {pid: i + 1 for i, (pid, _) in enumerate(dense_ranked)}
    meaning = {pid for pid, z in standout.items() if z >= DENSE_MIN_Z}
    fused = [(pid, score) for pid, score in _fuse(plan.mode, lex_ranked, dense_ranked, (plan.fusion or {}).get("window"))
             if pid in lex_rank or pid in meaning]
    ranked, rows = present(store, fused, plan.top)
    analyzer = lexical.analyzer
    query_terms = {t.term: t for t in plan.terms}
    hits = []
    for pid, score in ranked:
        row = rows[pid]
        highlight = query_terms if pid in lex_rank or plan.mode == "dense" else {}
        hit = _hit(row, score, lex_rank.get(pid), dense_rank.get(pid), analyzer, highlight)
        hit.matched_by = ["bm25"] * (pid in lex_rank) + ["dense"] * (pid in meaning)
        hit.similarity = round(standout[pid], 2) if math.isfinite(standout.get(pid, math.inf)) else None
        hits.append(hit)
    return SearchResult(hits, plan, len(word_pids), kommun_count(store, indexes, word_pids))


_KOMMUN_OF: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}  # index generation -> (sorted pids, kommun codes)


def kommun_count(store: Store, indexes, pids: np.ndarray) -> int:
    """How many kommuner these passages come from: a lookup in sorted arrays read once per index generation, since
    a common word matches tens of thousands of passages and asking SQLite for each on every query is too slow."""
    key = (str(store.dir), indexes.files)
    if key not in _KOMMUN_OF:
        of = store.passage_kommuner()
        names = {k: i for i, k in enumerate(sorted(set(of.values())))}
        order = np.array(sorted(of), dtype=np.int64)
        _KOMMUN_OF.clear()
        _KOMMUN_OF[key] = (order, np.array([names[of[int(p)]] for p in order], dtype=np.int64))
    order, codes = _KOMMUN_OF[key]
    at = np.searchsorted(order, pids)
    found = at < len(order)
    found[found] = order[at[found]] == pids[found]  # a passage the store no longer has counts for no kommun
    return len(np.unique(codes[at[found]]))


def standing_out(dense, vec: np.ndarray, ranked: list[tuple[int, float]]) -> dict[int, float]:
    """{pid: z} for the ranked passages: how many standard deviations each one's cosine lies above the query's mean
    cosine to a fixed sample of the index's passages."""
    if len(dense.background) < MIN_BACKGROUND:
        return {pid: math.inf for pid, _ in ranked}  # too few passages to tell what stands out: keep them all
    background = dense.background @ np.asarray(vec, dtype=np.float32).reshape(-1)
    mean, sd = float(background.mean()), float(background.std()) or 1.0
    return {pid: (cos - mean) / sd for pid, cos in ranked}


def present(store: Store, fused: list[tuple[int, float]], top: int) -> tuple[list[tuple[int, float]], dict]:
    """The first `top` hits whose passage SQLite holds, with their rows. The index generation may be a little
    older than the store (a writer is building the next one): a hit whose passage has left SQLite is dropped and
    the next one moves up, so a search is never short or broken. Rows are fetched a batch at a time, so the
    common case (nothing stale) reads only `top` rows."""
    ranked: list[tuple[int, float]] = []
    rows: dict = {}
    start, batch = 0, top
    while len(ranked) < top and start < len(fused):
        chunk = fused[start:start + batch]
        got = store.passage_rows([pid for pid, _ in chunk])
        rows.update(got)
        ranked += [(pid, score) for pid, score in chunk if pid in got]
        start, batch = start + batch, max(2 * batch, 50)
    return ranked[:top], rows


def _fuse(mode: str, lex: list[tuple[int, float]], dense: list[tuple[int, float]], window: int | None = None
          ) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: score = sum over rankings of 1 / (k + rank), k = 60 (Cormack et al. 2009).

    With a `window`, the heads of the two rankings (their first `window` hits, like Elasticsearch's rank window)
    are fused first and hits found only deeper in both rankings follow; without one, plain RRF."""
    if mode == "bm25":
        return lex
    if mode == "dense":
        return dense
    head = {pid for ranking in (lex, dense) for pid, _ in ranking[:window]} if window else set()
    fused: dict[int, float] = {}
    for ranking in (lex, dense):
        for rank, (pid, _) in enumerate(ranking, 1):
            fused[pid] = fused.get(pid, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(fused.items(), key=lambda kv: (kv[0] not in head, -kv[1], kv[0]))


def search(store: Store, query: str, top: int = 10, mode: str = "hybrid", filters: SearchFilters | None = None,
           embedder=None, window: int | None = RRF_WINDOW) -> SearchResult:
    """Plan and run a query. Raises BadQuery, UnknownChoice, ModelMismatch or IndexCorrupt with a clear message.
    `window`: an RRF rank window (evaluation only; the product uses standard RRF)."""
    return run_plan(store, plan_query(store, query, top, mode, filters, window=window), embedder)


# -- hits and snippets --------------------------------------------------------------------------------------------
def _hit(row, score: float, lexical_rank: int | None, dense_rank: int | None, analyzer,
         query_terms: dict[str, Any]) -> Hit:
    snippet, matched = make_snippet(row["text"], analyzer, query_terms)
    themes = [t["id"] for t in json.loads(row["unit_themes"] or "[]") + json.loads(row["themes"] or "[]")
              if isinstance(t, dict) and t.get("id")]
    return Hit(passage_id=row["id"], unit_id=row["unit_id"], doc=row["doc"], kommun=row["kommun"],
               namnd=row["namnd"], year=row["year"], title=row["unit_title"] or row["heading"],
               line_start=row["line_start"], line_end=row["line_end"], snippet=snippet, score=round(float(score), 6),
               lexical_rank=lexical_rank, dense_rank=dense_rank, matched_terms=matched, level=row["level"],
               status=row["status"], suggested_status=row["suggested_status"], themes=list(dict.fromkeys(themes)),
               page_start=row["page_start"], page_end=row["page_end"])


def make_snippet(text: str, analyzer, query_terms: dict[str, Any],
                 max_chars: int = SNIPPET_CHARS) -> tuple[str, list[dict[str, Any]]]:
    """Up to `max_chars` of the passage around its best-matching words, and those words' offsets in the snippet.

    matched_terms: [{"term": query word or compound part, "form": the word as found, "start", "end"}]."""
    text = clean_text(text)
    found = []  # (start, end, form, query piece, weight)
    if query_terms:
        for w in analyzer.words(text, display=True):
            best = None
            for t in analyzer.expand(w.lower):
                q = query_terms.get(t.term)
                if q is not None and (best is None or q.weight * 0.5 ** t.depth > best[1]):
                    best = (q.piece, q.weight * 0.5 ** t.depth)
            if best:
                found.append((w.start, w.end, w.text, best[0], best[1]))
    start, end = _window(text, found, max_chars)
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    snippet = prefix + text[start:end] + suffix
    shift = len(prefix) - start
    matched = [{"term": piece, "form": form, "start": s + shift, "end": e + shift}
               for s, e, form, piece, _ in found if s >= start and e <= end]
    return snippet, matched


def _window(text: str, found: list[tuple], max_chars: int) -> tuple[int, int]:
    """The [start, end) span of at most max_chars - 2 characters holding the most match weight, cut at spaces."""
    if len(text) <= max_chars:
        return 0, len(text)
    width = max_chars - 2  # room for the ellipses
    best_start, best_weight = 0, -1.0
    for s, *_ in found or [(0,)]:
        begin = max(0, min(s - width // 4, len(text) - width))
        weight = sum(f[4] for f in found if f[0] >= begin and f[1] <= begin + width)
        if weight > best_weight:
            best_start, best_weight = begin, weight
    start, end = best_start, min(len(text), best_start + width)
    if start > 0:
        space = text.find(" ", start, start + 30)
        start = space + 1 if space != -1 else start
    if end < len(text):
        space = text.rfind(" ", max(start, end - 30), end)
        end = space if space > start else end
    return start, end


# -- similar units ------------------------------------------------------------------------------------------------
def similar(store: Store, unit_id: str, top: int = 10, other_kommuner: bool = True, embedder=None) -> list[Hit]:
    """The units nearest to a unit (its title passage's vector), by default only from other kommuner, and only
    those whose similarity stands out (standing_out >= DENSE_MIN_Z); fewer than `top`, or none, is an answer."""
    unit = store.unit(unit_id)
    if unit is None:
        raise BadQuery(f"ingen post med id {unit_id!r} i databasen (se `python cli.py units`)")
    if not 1 <= top <= MAX_TOP:
        raise BadQuery(f"antal träffar måste vara mellan 1 och {MAX_TOP}, inte {top}")
    indexes = load_indexes(store)
    dense = indexes.dense
    if dense is None or not dense.size:
        return []
    # The item is what its title says: its title passage represents it. The mean over all its passages drifts
    # towards generic text (a generic status sentence) and then matches everything a little.
    own = store.conn.execute("SELECT pid, line_start, line_end FROM passages WHERE unit_id=? ORDER BY seq",
                             (unit_id,)).fetchall()
    title_line = unit.title_line or unit.line_start
    title = [pid for pid, start, end in own if start <= title_line <= end] or [pid for pid, *_ in own[:1]]
    held = set(dense.ids().tolist()) if title else set()
    if title and set(title) <= held:
        vec = dense.vectors(title).mean(axis=0)
    else:  # no title passage, or the index generation predates it
        embedder = query_embedder(dense, embedder)
        vec = np.asarray(embedder.embed_passages([clean_text(f"{unit.title} {unit.text}")])[0], dtype=np.float32)
    vec = vec / (np.linalg.norm(vec) or 1.0)
    report = store.report(unit.doc) or {}
    where, args = ["p.unit_id IS NOT NULL", "p.unit_id != ?"], [unit_id]
    if other_kommuner and report.get("kommun"):
        where.append("(r.kommun IS NULL OR r.kommun != ?)"), args.append(report["kommun"])
    allowed = np.asarray([r[0] for r in store.conn.execute(
        "SELECT p.pid FROM passages p JOIN reports r ON r.doc = p.doc WHERE " + " AND ".join(where), args)],
        dtype=np.int64)
    ranked = dense.search(vec, max(DEPTH, top * 20), allowed)
    # Only items that stand out from the reports' text in general, by the cut-off chosen on held-out queries for
    # meaning-only search hits (DENSE_MIN_Z): raw cosines of 0.87-0.92 joined every generic goal to every other.
    z = standing_out(dense, vec, ranked)
    ranked = [(pid, score) for pid, score in ranked if z[pid] >= DENSE_MIN_Z]
    rows = store.passage_rows([pid for pid, _ in ranked])
    best: OrderedDict[str, tuple[Any, float]] = OrderedDict()
    for pid, score in ranked:  # best passage per unit, in rank order
        row = rows.get(pid)
        if row is not None and row["unit_id"] not in best:
            best[row["unit_id"]] = (row, score)
    hits = []
    for rank, (row, score) in enumerate(list(best.values())[:top], 1):
        hit = _hit(row, score, None, rank, indexes.lexical.analyzer, {})
        hits.append(hit)
    return hits
