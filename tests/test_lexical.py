"""BM25 index: parity with reference formulas, weighted terms, zero-score handling, persistence, language injection."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from errors import IndexCorrupt
from index.lexical import Bm25Params, LexicalIndex

# Six short documents; every term occurs in fewer than half of them, so Robertson idf is positive everywhere and
# rank_bm25 applies no epsilon floor.
CORPUS = [
    "hyr sjuksköterska kostnad kostnad".split(),
    "sjuksköterska bemanning natt".split(),
    "digital teknik läkemedel automat".split(),
    "kostnad underskott".split(),
    "heltid norm".split(),
    "hyr konsult socialsekreterare hyr hyr".split(),
]
PIDS = [101, 102, 103, 104, 105, 106]


@pytest.mark.parametrize("query", [["hyr"], ["kostnad", "sjuksköterska"], ["natt", "heltid", "automat"],
                                   ["okänd"], []])
@pytest.mark.parametrize("k1, b", [(1.5, 0.75), (1.2, 0.5), (2.0, 1.0)])
def test_parity_with_rank_bm25(query, k1, b):
    from rank_bm25 import BM25Okapi

    ours = LexicalIndex.build(PIDS, CORPUS, Bm25Params(k1=k1, b=b, method="robertson"))
    reference = BM25Okapi(CORPUS, k1=k1, b=b).get_scores(query) if query else np.zeros(len(CORPUS))
    # rank_bm25 keeps the (k1 + 1) factor that the Robertson/Lucene variants drop; ranking is the same.
    np.testing.assert_allclose(ours.scores([(t, 1.0) for t in query]) * (k1 + 1), reference, rtol=1e-5, atol=1e-6)


def lucene_by_hand(docs: list[list[str]], term: str, k1: float, b: float) -> list[float]:
    n = len(docs)
    df = sum(term in d for d in docs)
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    avgdl = sum(map(len, docs)) / n
    return [idf * d.count(term) / (d.count(term) + k1 * (1 - b + b * len(d) / avgdl)) for d in docs]


@pytest.mark.parametrize("term", ["hyr", "kostnad", "sjuksköterska", "norm"])
def test_default_lucene_formula_by_hand(term):
    ours = LexicalIndex.build(PIDS, CORPUS)
    assert ours.params == Bm25Params(k1=1.2, b=0.75, method="lucene")
    np.testing.assert_allclose(ours.scores([(term, 1.0)]), lucene_by_hand(CORPUS, term, 1.2, 0.75), rtol=1e-5)


def test_common_term_still_scores_positive():
    docs = [["vård", "a"], ["vård", "b"], ["vård", "c"], ["d"]]  # in 3 of 4 documents: Robertson idf would be < 0
    index = LexicalIndex.build([1, 2, 3, 4], docs)
    assert index.top([("vård", 1.0)], 10) == [
        (1, pytest.approx(index.scores([("vård", 1.0)])[0])),
        (2, pytest.approx(index.scores([("vård", 1.0)])[1])),
        (3, pytest.approx(index.scores([("vård", 1.0)])[2])),
    ]
    assert all(s > 0 for _, s in index.top([("vård", 1.0)], 10))


def test_weights_scale_each_term():
    index = LexicalIndex.build(PIDS, CORPUS)
    full = index.scores([("hyr", 1.0), ("kostnad", 1.0)])
    weighted = index.scores([("hyr", 0.5), ("kostnad", 0.25)])
    expected = 0.5 * index.scores([("hyr", 1.0)]) + 0.25 * index.scores([("kostnad", 1.0)])
    np.testing.assert_allclose(weighted, expected, rtol=1e-6)
    assert not np.allclose(full, weighted)


def test_top_returns_only_matching_documents_best_first():
    index = LexicalIndex.build(PIDS, CORPUS)
    top = index.top([("hyr", 1.0), ("natt", 1.0)], 10)
    assert [pid for pid, _ in top] == [102, 106, 101]  # natt is rarer than hyr; score-0 documents never enter
    assert [round(s, 4) for _, s in top] == sorted((round(s, 4) for _, s in top), reverse=True)


def test_top_ties_break_by_pid():
    index = LexicalIndex.build([9, 3, 5], [["a"], ["a"], ["a"]])
    assert [pid for pid, _ in index.top([("a", 1.0)], 10)] == [3, 5, 9]


@pytest.mark.parametrize("k, expected", [(1, [106]), (2, [106, 101]), (50, [106, 101])])
def test_top_k(k, expected):
    index = LexicalIndex.build(PIDS, CORPUS)
    assert [pid for pid, _ in index.top([("hyr", 1.0)], k)] == expected


def test_allowed_mask_filters_rows():
    index = LexicalIndex.build(PIDS, CORPUS)
    mask = index.rows_for(np.array([101, 104]))
    assert mask.tolist() == [True, False, False, True, False, False]
    assert [pid for pid, _ in index.top([("hyr", 1.0), ("kostnad", 1.0)], 10, mask)] == [101, 104]


@pytest.mark.parametrize("terms", [[], [("okänd", 1.0)], [("hyr", 0.0)], [("", 1.0)]])
def test_nothing_to_match(terms):
    index = LexicalIndex.build(PIDS, CORPUS)
    assert index.top(terms, 10) == []
    assert index.scores(terms).tolist() == [0.0] * 6


@pytest.mark.parametrize("pids, tokens", [([], []), ([1, 2], [[], []])])
def test_empty_index(pids, tokens):
    index = LexicalIndex.build(pids, tokens)
    assert index.size == len(pids)
    assert index.top([("hyr", 1.0)], 10) == []


def test_save_and_load_round_trip(tmp_path):
    index = LexicalIndex.build(PIDS, CORPUS, analyzer_state={"language": "test", "extra_vocabulary": ["x"]})
    index.save(tmp_path / "lex.npz", tmp_path / "lex.json")
    states = []
    loaded = LexicalIndex.load(tmp_path / "lex.npz", tmp_path / "lex.json", lambda s: states.append(s) or "A")
    assert loaded.pids.tolist() == PIDS
    assert loaded.analyzer == "A" and states == [{"language": "test", "extra_vocabulary": ["x"]}]
    for query in (["hyr"], ["kostnad", "natt"]):
        terms = [(t, 1.0) for t in query]
        np.testing.assert_array_equal(loaded.scores(terms), index.scores(terms))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lex.json", "lex.npz"]  # no temp files left


@pytest.mark.parametrize("damage", ["missing_npz", "missing_json", "garbage_npz", "truncated_npz", "bad_json",
                                    "wrong_size"])
def test_damaged_files_raise_index_corrupt(tmp_path, damage):
    npz, js = tmp_path / "lex.npz", tmp_path / "lex.json"
    LexicalIndex.build(PIDS, CORPUS).save(npz, js)
    if damage == "missing_npz":
        npz.unlink()
    elif damage == "missing_json":
        js.unlink()
    elif damage == "garbage_npz":
        npz.write_bytes(b"not a zip file at all")
    elif damage == "truncated_npz":
        npz.write_bytes(npz.read_bytes()[:200])
    elif damage == "bad_json":
        js.write_text("{not json", encoding="utf-8")
    elif damage == "wrong_size":
        meta = json.loads(js.read_text(encoding="utf-8"))
        meta["vocab"] = meta["vocab"][:-1]
        js.write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(IndexCorrupt) as err:
        LexicalIndex.load(npz, js)
    assert "sökindex" in err.value.user_message()


class WhitespaceAnalyzer:
    """A trivial injected analyzer: proves the index has no language built in."""

    def tokens(self, text):
        return text.lower().split()

    def query_terms(self, text):
        class T:
            def __init__(self, term):
                self.term, self.weight = term, 1.0

        return [T(t) for t in dict.fromkeys(text.lower().split())]


def test_language_is_injected():
    index = LexicalIndex.from_texts([1, 2], ["Hyr Sjuksköterskor", "heltid"], WhitespaceAnalyzer())
    assert [pid for pid, _ in index.search("SJUKSKÖTERSKOR", 10)] == [1]
    assert index.search("sjuksköterska", 10) == []  # no Swedish knowledge without the Swedish analyzer


# -- incremental: adding and removing documents equals building from scratch -----------------------------------------
def same_ranking(a: list[tuple[int, float]], b: list[tuple[int, float]]) -> bool:
    return [p for p, _ in a] == [p for p, _ in b] and np.allclose([s for _, s in a], [s for _, s in b], rtol=1e-6)


def test_add_then_remove_scores_exactly_as_a_fresh_build():
    queries = [[("hyr", 1.0)], [("kostnad", 1.0), ("sjuksköterska", 0.5)], [("natt", 1.0), ("norm", 1.0)]]
    grown = LexicalIndex.build(PIDS[:2], CORPUS[:2])
    grown.add(PIDS[2:], CORPUS[2:])
    fresh = LexicalIndex.build(PIDS, CORPUS)
    for q in queries:
        assert same_ranking(grown.top(q, 10), fresh.top(q, 10))

    assert grown.remove([102, 105, 999]) == 2
    rest = [i for i, p in enumerate(PIDS) if p not in (102, 105)]
    smaller = LexicalIndex.build([PIDS[i] for i in rest], [CORPUS[i] for i in rest])
    for q in queries:
        assert same_ranking(grown.top(q, 10), smaller.top(q, 10))
    assert grown.remove([102]) == 0


def test_added_documents_survive_save_and_load(tmp_path):
    index = LexicalIndex.build(PIDS[:3], CORPUS[:3])
    index.add([200, 201], [["ny", "term", "hyr"], []])
    index.save(tmp_path / "l.npz", tmp_path / "l.json")
    loaded = LexicalIndex.load(tmp_path / "l.npz", tmp_path / "l.json")
    assert loaded.size == 5 and [p for p, _ in loaded.top([("ny", 1.0)], 5)] == [200]
    assert same_ranking(loaded.top([("hyr", 1.0)], 5), index.top([("hyr", 1.0)], 5))


@pytest.mark.parametrize("query", [["hyr"], ["kostnad", "sjuksköterska"], ["natt", "heltid", "automat"]])
def test_parity_with_bm25s_lucene(query):
    import bm25s

    reference = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    reference.index(CORPUS, show_progress=False)
    ours = LexicalIndex.build(PIDS, CORPUS)
    np.testing.assert_allclose(ours.scores([(t, 1.0) for t in query]), reference.get_scores(query), rtol=1e-5)
