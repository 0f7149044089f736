"""The Streamlit app through streamlit.testing.v1.AppTest: every page, search and filters, review decisions and
undo, the overview charts, upload, and escaping of hostile report text.

Uses a private copy of a store built by the real ingest pipeline over tests/fixtures/reports (conftest, app section).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import app as app_module
from pipeline import review
from index.store import Store
from tests.conftest import build_review_store

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
TIMEOUT = 300  # the first search in a process loads the language model; CI has two cores


def start(page: str | None = None, reviewer: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    if page:
        at.radio(key="page").set_value(page).run()
    if reviewer:
        at.text_input(key="reviewer").input(reviewer).run()
    assert not at.exception, at.exception
    return at


def html(at: AppTest) -> str:
    """Every st.html body except the page's style sheet."""
    return "\n".join(e.value for e in at.get("html") if not e.value.startswith("<style>"))


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def button(at: AppTest, label: str):
    found = [b for b in at.button if b.label == label]
    assert found, f"no button {label!r}; have {[b.label for b in at.button]}"
    return found[0]


def search(at: AppTest, query: str) -> AppTest:
    at.text_input(key="q").input(query).run()
    assert not at.exception, at.exception
    return at


def hit_kommuner(at: AppTest) -> set[str]:
    return set(re.findall(r'<div class="kr-meta">([^·<]+?) · ', html(at)))


# -- Sök ------------------------------------------------------------------------------------------------------------

def test_first_page_lists_the_ingested_reports(app_data_dir):
    at = start()
    assert at.radio(key="page").value == "Sök"
    assert [s.value for s in at.subheader] == ["Inlästa rapporter (5)"]
    table = at.dataframe[0].value
    assert sorted(table["Fil"]) == sorted(p.name for p in (ROOT / "tests/fixtures/reports").glob("*.txt"))
    assert sorted(set(table["Kommun"])) == ["Eskilstuna", "Hudiksvall", "Uppsala"]
    assert sorted(table["Läst från"]) == sorted(str(p.resolve()) for p in (ROOT / "tests/fixtures/reports").glob("*.txt"))
    assert int(table["Poster"].sum()) == Store.open(app_data_dir).count("units")
    assert any("5 rapporter" in c.value for c in at.sidebar.caption)
    assert errors(at) == []
    # The project's config is the one AppTest ran under: no magic, so Streamlit does not ast.parse the script while
    # the warm-up thread may be compiling (CPython 3.11 shares one AST recursion counter between threads).
    from streamlit import config
    assert config.get_option("runner.magicEnabled") is False


def test_sidebar_says_what_the_models_were_trained_on(app_data_dir):
    at = start()
    shown = [e.value for e in at.sidebar.get("html")]
    assert ('<div class="kr-caption">statusmodell: ingen sparad – vid inläsning tränas en modell på databasens '
            'angivna statusar, granskarbeslut och tydliga fraser</div>') in shown
    assert ('<div class="kr-caption">temamodell: ingen sparad – teman sätts utan träning (nollskott) från '
            'nlp/themes.toml</div>') in shown
    assert '<div class="kr-caption">flaggtrösklar: inga – alla flaggor visas, ordnade efter poäng</div>' in shown


def test_search_groups_hits_by_kommun_and_highlights_matches(app_data_dir):
    at = search(start(), "hyrsjuksköterskor")
    groups = re.findall(r'<h3 class="kr-group">([^<]*)</h3>', html(at))
    assert len(groups) >= 2 and all(re.fullmatch(r"\w+ \(\d+\)", g) for g in groups)
    assert len(hit_kommuner(at)) >= 2
    page = html(at)
    assert "<mark>" in page
    assert re.search(r"<mark>[^<]*(?i:hyr|sjukskötersk)[^<]*</mark>", page)
    assert re.search(r'<p class="kr-count"><strong>\d+ ordträffar i \d+ kommuner[^<]*</strong> · Hybrid \(ord \+ betydelse\)</p>', page)
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Exportera träfflistan (CSV)", "Exportera träfflistan (Excel)"]


def test_search_as_one_list_and_filtered_by_kommun(app_data_dir):
    at = search(start(), "hyrsjuksköterskor")
    at.radio(key="group").set_value("En lista").run()
    assert [s.value for s in at.subheader] == ["Träffar bara på betydelse"]  # the word hits are not grouped
    at.multiselect(key="f_kommun").select("Uppsala").run()
    assert hit_kommuner(at) == {"Uppsala"}
    at.multiselect(key="f_year").select(2024).run()
    assert re.findall(r'<div class="kr-meta">Uppsala · [^·]+ · (\d{4})', html(at)) and set(
        re.findall(r'<div class="kr-meta">Uppsala · [^·]+ · (\d{4})', html(at))) == {"2024"}


def test_several_kommuner_at_once_with_their_item_counts(app_data_dir):
    store = Store.open(app_data_dir)
    per_kommun = {k: sum(1 for u in store.units() if store.report(u.doc)["kommun"] == k)
                  for k in ("Eskilstuna", "Hudiksvall", "Uppsala")}
    at = search(start(), "hyrsjuksköterskor")
    assert at.multiselect(key="f_kommun").options == [f"{k} ({n} poster)" for k, n in per_kommun.items()]
    at.multiselect(key="f_kommun").select("Uppsala").select("Hudiksvall").run()
    assert hit_kommuner(at) == {"Uppsala", "Hudiksvall"}
    assert sorted(at.query_params["kommun"]) == ["Hudiksvall", "Uppsala"]  # the key repeated in the URL


def test_every_filter_takes_several_values_with_item_counts_kept_in_the_url(app_data_dir):
    from collections import Counter

    from index.search import SearchFilters, search as run_search

    store = Store.open(app_data_dir)
    by_status = Counter(u.status or u.suggested_status for u in store.units())
    at = search(start(), "hyrsjuksköterskor")
    assert at.multiselect(key="f_status").options == [
        f"{review.status_label(s)} ({by_status.get(s, 0)} poster)" for s in review.STATUS_CHOICES]
    at.multiselect(key="f_status").select("försenad").select("enligt plan").run()
    at.multiselect(key="f_year").select(2023).select(2024).run()
    assert (at.query_params["status"], at.query_params["ar"]) == (["försenad", "enligt plan"], ["2023", "2024"])
    filters = SearchFilters(status=["försenad", "enligt plan"], year=[2023, 2024])
    expected = run_search(store, "hyrsjuksköterskor", top=10, mode="hybrid", filters=filters)
    heading = next(h for h in at.get("html") if "kr-count" in h.value).value
    assert f"<strong>{expected.summary()}</strong>" in heading
    kept = {(u.status or u.suggested_status) for h in expected.hits if h.unit_id and (u := store.unit(h.unit_id))}
    assert kept and kept <= {"försenad", "enligt plan"}
    assert {h.year for h in expected.hits} <= {2023, 2024}
    reloaded = AppTest.from_file(APP, default_timeout=TIMEOUT)
    reloaded.query_params.update({"q": "hyrsjuksköterskor", "status": ["försenad", "enligt plan"],
                                  "ar": ["2023", "2024"]})
    reloaded.run()
    assert (reloaded.multiselect(key="f_status").value, reloaded.multiselect(key="f_year").value) == (
        ["försenad", "enligt plan"], [2023, 2024])
    assert next(h for h in reloaded.get("html") if "kr-count" in h.value).value == heading


def test_clear_filters_brings_back_every_hit(app_data_dir):
    at = search(start(), "hyrsjuksköterskor")
    everywhere = hit_kommuner(at)
    assert [b.label for b in at.button if b.key == "clear_filters"] == []  # nothing to clear yet
    at.multiselect(key="f_kommun").select("Uppsala").run()
    at.multiselect(key="f_status").select("försenad").run()
    next(b for b in at.button if b.key == "clear_filters").click().run()
    assert (at.multiselect(key="f_kommun").value, at.multiselect(key="f_status").value) == ([], [])
    assert hit_kommuner(at) == everywhere == {"Eskilstuna", "Hudiksvall", "Uppsala"}
    assert [b.label for b in at.button if b.key == "clear_filters"] == []


def test_lexical_mode_has_no_semantic_only_hits_and_dense_marks_them(app_data_dir):
    at = search(start(), "hyrsjuksköterskor")
    at.selectbox(key="mode").select("bm25").run()
    assert 'class="kr-badge kr-semantic"' not in html(at) and "<mark>" in html(at)
    at.selectbox(key="mode").select("dense").run()
    assert "Betydelseträff" in html(at)


@pytest.mark.parametrize("query, message", [
    ("och att det", "stoppord"),
    ("!!! ???", "inga ord"),
    ("<script>", "inga ord"),
])
def test_bad_queries_show_a_message_not_a_traceback(app_data_dir, query, message):
    at = start()
    at.selectbox(key="mode").select("bm25").run()
    search(at, query)
    assert any(message in e for e in errors(at)), errors(at)


def test_overlong_query_is_refused_by_the_input(app_data_dir):
    at = search(start(), "hyrsjuksköterskor " * 600)  # 10,800 characters; the box takes at most 1,000
    assert at.text_input(key="q").max_chars == 1000
    assert at.text_input(key="q").value == ""
    assert errors(at) == [] and [s.value for s in at.subheader] == ["Inlästa rapporter (5)"]


def test_hostile_query_is_escaped(app_data_dir):
    at = search(start(), "<script>alert(1)</script> hyrsjuksköterskor")
    assert "<script" not in html(at)
    assert not any("<script" in m.value for m in at.markdown)


def test_open_unit_with_source_lines_and_similar_units(app_data_dir):
    at = search(start(), "hyrsjuksköterskor")
    at.radio(key="group").set_value("En lista").run()
    opener = next(b for b in at.button if b.label == "Visa hela posten")
    opener.click().run()
    page = html(at)
    assert '<table class="kr-lines">' in page and 'class="in"' in page and 'class="ctx"' in page
    similar = next(b for b in at.button if b.label == "Liknande i andra kommuner")
    similar.click().run()
    assert not at.exception
    assert any(m.value == "**Liknande i andra kommuner**" for m in at.markdown)
    assert "likhet" in html(at) or any("Inga liknande" in i.value for i in at.info)


def test_page_and_reviewer_live_in_the_url_so_a_reload_keeps_them(app_data_dir):
    at = start("Granska", "Anna Berg")
    assert (at.query_params["sida"], at.query_params["granskare"]) == ("Granska", "Anna Berg")
    reloaded = AppTest.from_file(APP, default_timeout=TIMEOUT)
    reloaded.query_params.update({"sida": "Granska", "granskare": "Anna Berg"})
    reloaded.run()
    assert not reloaded.exception
    assert (reloaded.radio(key="page").value, reloaded.text_input(key="reviewer").value) == ("Granska", "Anna Berg")
    assert [w.value for w in reloaded.warning] == []  # no "Skriv ditt namn" after the reload
    odd = AppTest.from_file(APP, default_timeout=TIMEOUT)
    odd.query_params.update({"sida": "Finns inte", "granskare": "  Bo \n  Ek  "})
    odd.run()
    assert (odd.radio(key="page").value, odd.text_input(key="reviewer").value) == ("Sök", "Bo Ek")


def test_the_search_and_its_filters_live_in_the_url(app_data_dir):
    at = search(start(), "hyrsjuksköterskor")
    at.multiselect(key="f_kommun").select("Uppsala").run()
    at.selectbox(key="mode").select("bm25").run()
    assert {k: at.query_params[k] for k in ("q", "kommun", "lage")} == {"q": "hyrsjuksköterskor",
                                                                       "kommun": "Uppsala", "lage": "bm25"}
    assert "namnd" not in at.query_params  # "Alla" is not written
    heading = next(h for h in at.get("html") if "kr-count" in h.value).value
    reloaded = AppTest.from_file(APP, default_timeout=TIMEOUT)
    reloaded.query_params.update({"q": "hyrsjuksköterskor", "kommun": "Uppsala", "lage": "bm25"})
    reloaded.run()
    assert not reloaded.exception
    assert (reloaded.text_input(key="q").value, reloaded.multiselect(key="f_kommun").value,
            reloaded.selectbox(key="mode").value) == ("hyrsjuksköterskor", ["Uppsala"], "bm25")
    assert next(h for h in reloaded.get("html") if "kr-count" in h.value).value == heading
    assert hit_kommuner(reloaded) == {"Uppsala"}
    # A link naming a kommun the store does not hold, or a mode that does not exist, searches everything.
    odd = AppTest.from_file(APP, default_timeout=TIMEOUT)
    odd.query_params.update({"q": "hyrsjuksköterskor", "kommun": "Atlantis", "lage": "gissa", "ar": "abc"})
    odd.run()
    assert not odd.exception and errors(odd) == []
    assert (odd.multiselect(key="f_kommun").value, odd.selectbox(key="mode").value,
            odd.multiselect(key="f_year").value) == ([], "hybrid", [])


# -- Granska --------------------------------------------------------------------------------------------------------

def test_review_needs_a_reviewer_name(app_data_dir):
    at = start("Granska")
    assert any("namn" in w.value for w in at.warning)
    first = review.status_queue(Store.open(app_data_dir))[0]
    assert at.button(key=f"acc_{first.id}").disabled


def test_accept_a_suggestion_is_stored_and_leaves_the_queue(app_data_dir):
    at = start("Granska", "Anna Berg")
    store = Store.open(app_data_dir)
    queue = review.status_queue(store)
    first = queue[0]
    assert f"{1} av {len(queue)}" in " ".join(m.value for m in at.markdown)
    assert re.search(r'<mark class="kr-ev">', html(at))  # the evidence sentence is highlighted in the text
    at.button(key=f"acc_{first.id}").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == ["Förslaget godkänt"]
    d = store.current_decisions("unit_status")[first.id]
    assert (d.reviewer, d.action, d.old_value, d.new_value, d.doc) == (
        "Anna Berg", "accept", first.suggested_status, first.suggested_status, first.doc)
    assert [u.id for u in review.status_queue(store)] == [u.id for u in queue[1:]]
    assert f"1 av {len(queue) - 1}" in " ".join(m.value for m in at.markdown)


def test_choose_another_status_and_skip(app_data_dir):
    at = start("Granska", "Bo")
    store = Store.open(app_data_dir)
    first, second = review.status_queue(store)[:2]
    other = next(s for s in review.STATUS_CHOICES if s != first.suggested_status)
    at.selectbox(key=f"sv_{first.id}").select(other).run()
    at.text_input(key=f"sc_{first.id}").input("texten säger annat").run()
    at.button(key=f"cor_{first.id}").click().run()
    d = store.current_decisions("unit_status")[first.id]
    assert (d.action, d.new_value, d.comment) == ("correct", other, "texten säger annat")
    at.button(key=f"skip_{second.id}").click().run()
    assert store.current_decisions("unit_status")[second.id].action == "skip"
    assert review.status_queue(store)[-1].id == second.id


def test_dismiss_a_flag_with_a_comment_then_undo(app_data_dir):
    at = start("Granska", "Cecilia")
    at.radio(key="queue").set_value("Flaggor").run()
    store = Store.open(app_data_dir)
    flags = review.flag_queue(store)
    assert flags, "the fixture store should have flags"
    first = flags[0]
    assert review.kind_label(first.kind) in html(at)
    at.text_area(key=f"fc_{first.id}").input("inget fel, läst protokollet").run()
    at.button(key=f"dism_{first.id}").click().run()
    d = store.current_decisions("flag")[first.id]
    assert (d.reviewer, d.action, d.comment) == ("Cecilia", "dismiss", "inget fel, läst protokollet")
    assert first.id not in [f.id for f in review.flag_queue(store)]
    at.button(key=f"undo_{d.id}").click().run()
    assert not at.exception
    assert first.id not in store.current_decisions("flag")
    assert first.id in [f.id for f in review.flag_queue(store)]
    assert any("ångrat" in i.value for i in at.info)


def test_flag_queue_filtered_by_kind(app_data_dir):
    at = start("Granska", "Cecilia")
    at.radio(key="queue").set_value("Flaggor").run()
    store = Store.open(app_data_dir)
    kind = store.flags()[-1].kind
    at.selectbox(key="rq_kind").select(kind).run()
    n = len(review.flag_queue(store, kind=kind))
    assert f"1 av {n}" in " ".join(m.value for m in at.markdown)


def test_accept_then_undo_puts_the_unit_back(app_data_dir):
    at = start("Granska", "Anna")
    store = Store.open(app_data_dir)
    first = review.status_queue(store)[0]
    at.button(key=f"acc_{first.id}").click().run()
    did = store.current_decisions("unit_status")[first.id].id
    at.button(key=f"undo_{did}").click().run()
    assert first.id not in store.current_decisions("unit_status")
    assert review.status_queue(store)[0].id == first.id
    assert [(d.action, d.undone) for d in store.decisions("unit_status", first.id)] == [("accept", True),
                                                                                        ("undo", True)]


def test_the_whole_item_carries_a_citation_to_copy(app_data_dir):
    at = search(start(), "hyrsjuksköterskor")
    at.radio(key="group").set_value("En lista").run()
    button(at, "Visa hela posten").click().run()
    [code] = [c.value for c in at.code]
    assert re.fullmatch(r"(Eskilstuna|Hudiksvall|Uppsala) kommun, [^,]+nämnden, uppföljning per augusti 20\d\d, "
                        r"rad \d+(–\d+)? \([a-z0-9-]+\.txt\)", code), code


def test_decision_shows_on_the_unit_in_search(app_data_dir):
    store = Store.open(app_data_dir)
    target = next(u for u in review.status_queue(store) if "inhyrd" in (u.text or "").lower())
    review.decide_status(store, target.id, "Anna", "correct", "stoppad")
    at = search(start(), "inhyrd personal")
    at.radio(key="group").set_value("En lista").run()
    assert "✔ Granskad: Stoppad" in html(at)


def test_a_stated_status_can_be_corrected_and_the_conflict_is_shown(app_data_dir):
    store = Store.open(app_data_dir)
    target = next(u for u in store.units() if u.status == "enligt plan" and len(u.title) > 25)
    at = search(start(None, "Anna"), target.title)
    at.radio(key="group").set_value("En lista").run()
    next(b for b in at.button if b.label == "Visa hela posten").click().run()
    at.selectbox(key=next(s.key for s in at.selectbox if s.key.startswith("fix_"))).select("försenad").run()
    next(b for b in at.button if b.label == "Spara status").click().run()
    assert not at.exception
    [(unit_id, d)] = [(k, d) for k, d in store.current_decisions("unit_status").items()]
    assert (unit_id, d.action, d.old_value, d.new_value) == (target.id, "correct", "enligt plan", "försenad")
    assert (f"Granskat som försenad, men rapporten anger »{app_module.esc(target.explicit_status)}«"
            in html(at))


def test_an_empty_title_is_refused_in_swedish_and_a_new_one_is_kept_and_listed(app_data_dir):
    store = Store.open(app_data_dir)
    first = review.status_queue(store)[0]
    at = start("Granska", "Anna")
    box = next(t for t in at.text_input if t.key.startswith("title_"))
    box.input("   ").run()
    next(b for b in at.button if b.label == "Spara titel").click().run()
    assert errors(at) == ["titeln kan inte vara tom; ingenting ändrades"]
    assert store.unit(first.id).title == first.title and store.decisions("unit_title") == []
    next(t for t in at.text_input if t.key.startswith("title_")).input("Ny titel").run()
    next(b for b in at.button if b.label == "Spara titel").click().run()
    assert store.unit(first.id).title == "Ny titel"
    assert f"»{app_module.esc(first.title)}« → »Ny titel«" in html(at)


def test_granska_changes_an_items_level_merges_it_with_the_next_and_refuses_an_end_inside_the_next(app_data_dir):
    from pipeline.structure import UNIT_STRUCTURE, next_unit

    store = Store.open(app_data_dir)
    first = review.status_queue(store)[0]
    following = next_unit(store, first.id)
    at = start("Granska", "Anna")
    next(s for s in at.selectbox if s.key.startswith("level_")).set_value("aktivitet").run()
    button(at, "Byt nivå").click().run()
    assert (errors(at), store.unit(first.id).level) == ([], "aktivitet")
    assert "nivå: aktivitet" in html(at) and "ny nivå" in html(at)
    next(n for n in at.number_input if n.key.startswith("end_")).set_value(following.line_end + 1).run()
    button(at, "Flytta slut").click().run()
    assert errors(at)[0].startswith(f"rad {following.line_end + 1} ligger utanför det möjliga (rad ")
    assert errors(at)[0].endswith("längre fram börjar nästa post – slå ihop i stället); ingenting ändrades")
    button(at, "Slå ihop").click().run()
    merged = store.unit(first.id)
    assert (errors(at), store.unit(following.id), merged.line_end) == ([], None, following.line_end)
    assert [d.action for d in store.decisions(UNIT_STRUCTURE)] == ["level", "merge"]


def test_ten_decisions_in_granska_retrain_the_model_in_the_background(app_data_dir):
    import time

    from nlp.status_learning import META_DECISIONS, RETRAIN_EVERY

    store = Store.open(app_data_dir)
    queued = {u.id for u in review.status_queue(store)}
    for u in [u for u in store.units() if u.suggested_status and u.id not in queued][:RETRAIN_EVERY - 1]:
        review.decide_status(store, u.id, "Bo", "correct", "försenad")  # nine decisions made earlier
    at = start("Granska", "Anna")
    assert not any("tränas om" in i.value for i in at.info)
    first = review.status_queue(store)[0]
    at.button(key=f"acc_{first.id}").click().run()  # the tenth
    assert any("tränas om i bakgrunden" in i.value for i in at.info)
    deadline = time.monotonic() + TIMEOUT
    done = "Statusmodellen är omtränad med de senaste besluten – förslagen och köns ordning är uppdaterade."
    while done not in [s.value for s in at.success] and time.monotonic() < deadline:  # shown once it has ended
        time.sleep(1)
        at.run()
    assert [s.value for s in at.success] == [done]
    assert store.get_meta(META_DECISIONS) == str(RETRAIN_EVERY)
    assert set(store.review_order()) == {u.id for u in review.status_queue(store)}


# -- Översikt -------------------------------------------------------------------------------------------------------

def test_overview_draws_three_downloadable_charts(app_data_dir):
    at = start("Översikt")
    assert [s.value for s in at.subheader] == ["Status per kommun och nämnd", "Teman per kommun",
                                               "Flaggor per typ och rapport", "Hela tabeller"]
    assert len(at.get("vega_lite_chart")) == 3
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Diagram (PNG)", "Data (CSV)"] * 3 + [
        "Alla poster (CSV)", "Alla poster (Excel)", "Alla flaggor (CSV)", "Alla flaggor (Excel)"]
    assert [m.value for m in at.metric][:2] == ["5", str(Store.open(app_data_dir).count("units"))]
    at.multiselect(key="ov_years").select(2019).run()
    assert [m.value for m in at.metric][0] == "1"


# -- Läs in ---------------------------------------------------------------------------------------------------------

def upload(at: AppTest, name: str, data: bytes, mime: str = "text/markdown") -> AppTest:
    at.file_uploader(key="upload_file").set_value((name, data, mime)).run()
    assert not at.exception, at.exception
    return at


def test_upload_prefills_detected_meta_and_ingests(app_data_dir):
    data = (ROOT / "tests/fixtures/reports/hudiksvall-markdown-2023-08.txt").read_bytes()
    at = upload(start("Läs in"), "../Hudiksvall delår 2025.md", data)
    assert [s.value for s in at.subheader] == ["Poster som hittades (4)"]
    previewed = [d.value for d in at.dataframe if "Angiven status" in d.value.columns]
    assert list(previewed[0]["Titel"])[-2:] == ["Revidering av värdighetsgarantierna",
                                                 "Utvärdera de sociala träffpunkterna"]
    assert at.text_input(key="up_kommun").value == "Hudiksvall"
    assert at.text_input(key="up_namnd").value == "Social- och omsorgsnämnden"
    assert at.number_input(key="up_year").value == 2023
    at.number_input(key="up_year").set_value(2025)
    at.text_input(key="up_kommun").input("Hudiksvalls testkommun")
    button(at, "Läs in rapporten").click().run()
    assert not at.exception and errors(at) == []
    assert len(at.success) == 1 and at.success[0].value.startswith("Hudiksvall-delår-2025.md är inläst: 4 poster")
    store = Store.open(app_data_dir)
    report = store.report("Hudiksvall-delår-2025.md")
    assert (report["kommun"], report["namnd"], report["year"], report["fmt"]) == (
        "Hudiksvalls testkommun", "Social- och omsorgsnämnden", 2025, "md")
    assert Path(report["path"]) == app_data_dir / "uploads" / "Hudiksvall-delår-2025.md"
    assert Path(report["path"]).read_bytes() == data
    assert list((app_data_dir / "uploads" / ".pending").iterdir()) == []
    assert len(store.units("Hudiksvall-delår-2025.md")) == 4
    assert all(u.suggested_status or not u.text for u in store.units("Hudiksvall-delår-2025.md"))


@pytest.mark.parametrize("name, data, message", [
    ("tom.txt", b"", "tom"),
    ("binar.txt", b"\x00\x01\x02" * 100, "binär"),
    ("latin1.txt", "Åtgärd för äldreomsorgen i Växjö kommun".encode("cp1252"), "UTF-8"),
    ("inga-poster.md", b"Bara en vanlig mening utan uppfoljda poster, men tillrackligt lang.", "inga uppföljda"),
])
def test_bad_upload_shows_an_error_and_stores_nothing(app_data_dir, name, data, message):
    before = Store.open(app_data_dir).reports()
    at = upload(start("Läs in"), name, data, "text/plain")
    if not errors(at):  # read fine, fails at segmentation: only the ingest step finds no units
        button(at, "Läs in rapporten").click().run()
    assert any(message in e for e in errors(at)), errors(at)
    assert not at.exception
    assert Store.open(app_data_dir).reports() == before
    assert not (app_data_dir / "uploads" / name).exists()
    assert list((app_data_dir / "uploads" / ".pending").iterdir()) == []


# -- hostile report text --------------------------------------------------------------------------------------------

def test_report_text_is_escaped_everywhere_in_review(tmp_path, monkeypatch):
    build_review_store(tmp_path / "hostile").close()
    monkeypatch.setenv("KOMMUNRAPPORT_DATA", str(tmp_path / "hostile"))
    at = start("Granska", "Anna")
    at.selectbox(key="rq_sort").select("confidence_desc").run()  # a#u2 (hostile text) first
    page = html(at)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;fet&lt;/b&gt;" in page
    assert "<script" not in page and "<b>" not in page and "&#36;5&#36;" in page
    at.radio(key="queue").set_value("Flaggor").run()
    page = html(at)
    assert "&lt;script&gt;" in page and "<script" not in page
    assert "&lt;i&gt;försenad&lt;/i&gt;" in page and "<i>" not in page
    for m in at.markdown:
        assert "<script" not in m.value


MARKDOWN_ATTACK = "[se bilaga](https://phish.example/login) ![](http://127.0.0.1:9/track.png) $$x$$"


def test_markdown_in_report_text_never_becomes_a_link_or_an_image(tmp_path, monkeypatch):
    """Captions that quote a report (stated status, the items a flag concerns) are escaped, not read as Markdown."""
    store = build_review_store(tmp_path / "md")
    with store.transaction() as c:
        c.execute("UPDATE units SET title=? WHERE id='a#u1'", ("1. Minska " + MARKDOWN_ATTACK,))
        c.execute("UPDATE units SET explicit_status=? WHERE id='a#u2'", (MARKDOWN_ATTACK,))
    store.close()
    monkeypatch.setenv("KOMMUNRAPPORT_DATA", str(tmp_path / "md"))
    at = start("Granska", "Anna")
    at.selectbox(key="rq_sort").select("confidence_desc").run()  # a#u2 first
    pages = [html(at)]
    at.radio(key="queue").set_value("Flaggor").run()
    pages.append(html(at))
    assert "Rapporten skriver »[se bilaga](https://phish.example/login)" in pages[0]
    assert "Gäller: 1. Minska [se bilaga](https://phish.example/login)" in pages[1]
    for page in pages:
        assert "<a " not in page and "<img" not in page and "&#36;&#36;x&#36;&#36;" in page
    markdown = [m.value for m in list(at.markdown) + list(at.caption)]
    assert not [m for m in markdown if "phish.example" in m or "127.0.0.1" in m]


def test_hostile_text_in_an_uploaded_report_is_escaped_in_search_and_unit_view(app_data_dir):
    source = (ROOT / "tests/fixtures/reports/hudiksvall-markdown-2023-08.txt").read_text(encoding="utf-8")
    hostile = ("Sjukfrånvaron är hög. &lt;script&gt;alert(1)&lt;/script&gt; och &lt;b&gt;fet&lt;/b&gt; "
               "[länk](javascript:alert(1)) $x$ " + "lång text " * 1000)  # > 10,000 characters on one line
    data = source.replace(source.splitlines()[23], hostile).encode("utf-8")
    at = upload(start("Läs in"), "fientlig.md", data)
    button(at, "Läs in rapporten").click().run()
    assert errors(at) == [], errors(at)
    at.radio(key="page").set_value("Sök").run()
    at.selectbox(key="mode").select("bm25").run()
    at.multiselect(key="f_kommun").select("Hudiksvall").run()
    search(at, "alert")
    page = html(at)
    assert "fientlig.md" in page
    # Search snippets drop markup-looking text (index.indexes.clean_text); what is left is escaped, links stay text.
    assert "alert(1)" in page and "[länk](javascript:alert(1))" in page and "&#36;x&#36;" in page
    assert "<script" not in page and "<b>" not in page and "<a " not in page
    next(b for b in at.button if b.label == "Visa hela posten" and "fientlig" in b.key).click().run()
    page = html(at)
    assert '<table class="kr-lines">' in page and "&lt;script&gt;" in page and "<script" not in page
    assert not any("<script" in m.value for m in at.markdown)


@pytest.mark.parametrize("text, expected", [
    ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ('a & b "c" \'d\'', "a &amp; b &quot;c&quot; &#x27;d&#x27;"),
    ("kostar $5$", "kostar &#36;5&#36;"),
    ("rad1\nrad2", "rad1<br>rad2"),
    ("", ""),
    (None, ""),
])
def test_esc(text, expected):
    assert app_module.esc(text) == expected


@pytest.mark.parametrize("snippet, terms, expected", [
    ("Brist på hyrsjuksköterskor <b>", [{"start": 9, "end": 26}],
     "Brist på <mark>hyrsjuksköterskor</mark> &lt;b&gt;"),
    ("a <i>x</i> b", [{"start": 2, "end": 10}], "a <mark>&lt;i&gt;x&lt;/i&gt;</mark> b"),
    ("abc def", [{"start": 4, "end": 7}, {"start": 0, "end": 3}], "<mark>abc</mark> <mark>def</mark>"),
    ("abc def", [{"start": 0, "end": 5}, {"start": 4, "end": 7}], "<mark>abc d</mark>ef"),
    ("abc", [{"start": 2, "end": 99}, {"start": -1, "end": 2}], "abc"),
    ("abc", [], "abc"),
])
def test_highlight_snippet(snippet, terms, expected):
    assert app_module.highlight_snippet(snippet, terms) == expected


def test_highlight_phrases_ignores_whitespace_and_escapes():
    text = "Först <b>.\nUpphandlingen är   försenad\noch klar 2025. Sist."
    out = app_module.highlight_phrases(text, ["Upphandlingen är försenad och klar 2025.", "saknas"])
    assert out == ('Först &lt;b&gt;.<br><mark class="kr-ev">Upphandlingen är   försenad<br>och klar 2025.</mark>'
                   " Sist.")


def test_status_badges_differ_for_stated_suggested_and_reviewed():
    stated = app_module.status_badge(review.StatusView("genomförd", "angiven", stated="<Klar>"))
    suggested = app_module.status_badge(review.StatusView("försenad", "förslag", 0.724))
    reviewed = app_module.status_badge(review.StatusView("enligt plan", "granskad", reviewer="<Anna>"))
    assert stated == '<span class="kr-badge kr-s-done" title="I rapporten: &lt;Klar&gt;">Genomförd</span>'
    assert "kr-suggested" in suggested and "Förslag: Försenad · 72 %" in suggested
    assert "kr-reviewed" in reviewed and "✔ Granskad: Enligt plan" in reviewed and "&lt;Anna&gt;" in reviewed
    assert app_module.status_badge(review.StatusView(None, None)) == \
        '<span class="kr-badge kr-none">Ingen status</span>'


def test_missing_store_shows_a_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("KOMMUNRAPPORT_DATA", str(tmp_path / "none"))
    at = start()
    assert any("ingest" in i.value and "Läs in" in i.value for i in at.info)
    assert not (tmp_path / "none" / "store.sqlite").exists()


# -- start-up repair ------------------------------------------------------------------------------------------------
def test_a_missing_index_file_is_rebuilt_from_sqlite_when_the_app_starts(app_data_dir):
    from index.indexes import check_indexes, current_files

    store = Store.open(app_data_dir)
    current_files(store)["lex_npz"].unlink()
    assert check_indexes(store)
    at = start()
    assert any("sökindexen byggdes om" in w.value for w in at.warning), [w.value for w in at.warning]
    assert check_indexes(store) == []
    store.close()


def test_a_report_is_removed_in_the_app_and_its_decisions_are_kept(app_data_dir):
    store = Store.open(app_data_dir)
    target = review.status_queue(store)[0]
    review.decide_status(store, target.id, "Anna", "correct", "försenad")
    at = start("Läs in")
    at.selectbox(key="rm_doc").select(target.doc).run()
    at.checkbox(key="rm_sure").check().run()
    assert button(at, "Ta bort rapporten").disabled  # no reviewer name yet
    at.text_input(key="reviewer").input("Anna").run()
    button(at, "Ta bort rapporten").click().run()
    assert not at.exception
    assert store.report(target.doc) is None and store.units(target.doc) == []
    assert [s.value for s in at.success] == [
        f"{target.doc} är borttagen av Anna; 1 granskarbeslut på den sparas och gäller igen om rapporten läses in "
        "på nytt."]
    assert [d.target_id for d in store.decisions("unit_status")] == [target.id]
    assert target.doc not in at.selectbox(key="rm_doc").options


def test_a_reports_details_are_corrected_in_the_app_and_bad_ones_refused(app_data_dir):
    store = Store.open(app_data_dir)
    doc = "uppsala-tabbad-2024-08.txt"
    at = start("Läs in", "Anna")
    at.selectbox(key="er_doc").select(doc).run()
    at.text_input(key=f"er_year_{doc}").input("20x4").run()
    button(at, "Spara uppgifterna").click().run()
    assert errors(at) == ["året måste vara ett årtal mellan 1990 och 2100, inte »20x4«; ingenting ändrades"]
    assert store.report(doc)["year"] == 2024
    at.text_input(key=f"er_year_{doc}").input("2024").run()
    at.text_input(key=f"er_period_{doc}").input("Tertial 2").run()
    button(at, "Spara uppgifterna").click().run()
    assert store.report(doc)["period"] == "tertial 2" and store.report(doc)["year"] == 2024
    assert [s.value for s in at.success] == [f"Uppgifterna för {doc} är ändrade; de gäller även när rapporten läses "
                                             "in igen och kan ångras under Granska"]
    at.radio(key="page").set_value("Granska").run()
    assert "Period: augusti → tertial 2" in html(at)  # in the recent decisions, with an undo button


@pytest.mark.parametrize("stored, shown", [
    ("2024-09-01T08:15:00+00:00", "2024-09-01 10:15"),  # summer time: UTC+2
    ("2024-12-01T08:15:00Z", "2024-12-01 09:15"),  # winter time: UTC+1
    ("2024-12-01T08:15:00", "2024-12-01 08:15"),  # no zone: as written
    (None, ""),
])
def test_decision_times_are_shown_in_swedish_time(stored, shown):
    assert app_module.fmt_time(stored) == shown
