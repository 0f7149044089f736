"""Status: stated-status mapping, legends, status sentences, cue rules, the text classifier and its evaluation.

The classifier tests use a small hand-built store and a deterministic hashing embedder, so no model is needed.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from evaluation import status as E
from evaluation.gold import GoldReport
from index.store import Store
from nlp import status as S
from nlp import status_vocab as V
from records import Decision, Document, ReportMeta, Segmentation, Unit


# ------------------------------------------------------------------------------------------------------------------
# canonical_status and the mapping table
# ------------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stated, expected", [
    ("Pågår", "enligt plan"), ("Påbörjad", "enligt plan"), ("Pågående arbete", "enligt plan"),
    ("Klar", "genomförd"), ("Färdig", "genomförd"), ("Klart, avslutat", "genomförd"), ("KLART", "genomförd"),
    ("Ej påbörjad", "ej påbörjad"), ("Stoppad", "stoppad"), ("Väntar", "försenad"), ("Försenat", "försenad"),
    ("I hög grad uppfyllt", "enligt plan"), ("Delvis uppfyllt", "försenad"), ("Helt uppfyllt", "genomförd"),
    ("**Delvis uppfyllt**", "försenad"), ("<b>Pågår</b>", "enligt plan"),
    ("Blått", None), ("grön", "enligt plan"), ("Gult", "försenad"), ("Röd", "försenad"), ("✓", None),
    ("Lila", None), ("✗", None),
    # Negations map to the negative value, whatever status word they negate.
    ("Ej genomförd", "försenad"), ("inte klar", "försenad"), ("Inte helt klart", "försenad"),
    ("ej uppfyllt", "försenad"), ("Ej uppnått", "försenad"), ("inte påbörjad", "ej påbörjad"),
    ("Har ännu inte startat", "ej påbörjad"), ("Inte enligt tidplan", "försenad"),
    ("inte försenad", "enligt plan"), ("Ej aktuell", "stoppad"), ("Planerad", "ej påbörjad"),
    ("Uppnått", "genomförd"), ("Delvis uppnått", "försenad"), ("i linje med planen", "enligt plan"),
    ("bedöms vara försenad", "försenad"), ("i stort sett i paritet med plan", "enligt plan"),
    ("delvis leda till önskat resultat", "försenad"), ("till stor del leder till önskat resultat", "enligt plan"),
    ("bedöms i hög grad svara mot utmaningarna", "enligt plan"), ("Uppdraget är färdigt.", "genomförd"),
    ("Arbetet löper i enlighet med plan", "enligt plan"),
    ("Åtgärden är inte påbörjad, men det är i enlighet med plan.", "ej påbörjad"),
    ("Arbetet med uppdraget är inte påbörjat eller löper inte på enligt plan", "försenad"),
    ("Uppdraget genomförs inte", "stoppad"), ("Åtgärden kommer inte att genomföras", "stoppad"),
])
def test_canonical_status_maps_stated_words(stated, expected):
    assert V.canonical_status(stated) == expected


@pytest.mark.parametrize("stated", [None, "", "   ", "<script>alert(1)</script>", "och att det som", "12 345",
                                    "Budget 2024", "x" * 10_000, "Riktlinjen utgår från planen"])
def test_canonical_status_unknown_or_hostile_is_none(stated):
    assert V.canonical_status(stated) is None


def test_report_legend_overrides_the_general_table():
    legend = {"gul": "ej påbörjad", "✪": "genomförd", "klart avslutat": "genomförd"}
    assert V.canonical_status("Gult", legend) == "ej påbörjad"
    assert V.canonical_status("gula", legend) == "ej påbörjad"
    assert V.canonical_status("✪", legend) == "genomförd"
    assert V.canonical_status("Grönt", legend) == "enligt plan"  # not in the legend: the table answers


def test_mapping_table_only_uses_canonical_values():
    table = V.load_map()
    values = set(table.exact.values()) | set(table.symbols.values()) | {s for _, s in table.phrases}
    assert values <= set(S.CANONICAL)


# ------------------------------------------------------------------------------------------------------------------
# read_legend
# ------------------------------------------------------------------------------------------------------------------

FOUR = {"blå": "genomförd", "grön": "enligt plan", "gul": "försenad", "röd": "stoppad"}


@pytest.mark.parametrize("lines", [
    ["Status anges med färg:", "Blått\tUppdraget är genomfört", "Grönt\tArbetet med uppdraget går enligt plan",
     "Gult\tArbetet med uppdraget är inte påbörjat eller löper inte på enligt plan", "Rött\tUppdraget genomförs inte"],
    ["Blått — Åtgärden är genomförd, Grönt — går enligt plan, Gult — inte påbörjat eller löper inte enligt plan, "
     "Röd — genomförs inte"],
    ["Färgerna har följande betydelse:", "", "Åtgärden är genomförd", "", "Arbetet med åtgärderna går enligt plan", "",
     "Arbetet med åtgärden är inte påbörjat eller löper inte på enligt plan", "", "Åtgärden genomförs inte", "",
     "Uppdrag 1: Frigöra tid", "Arbetet pågår.", "Det går bra.", "", "Blått", "", "Grönt", "", "Gult", "", "Röd"],
])
def test_read_legend_layouts(lines):
    assert V.read_legend(lines) == FOUR


def test_read_legend_symbol_table_with_lost_symbols_keys_on_the_words():
    lines = ["Symbol\tInnebörd", "\tEj påbörjad", "\tPågår", "\tKlart, avslutat", "\tFörsenat", "",
             "Symbol\tInnebörd", "↗\tBättre än föregående år"]
    assert V.read_legend(lines) == {"ej påbörjad": "ej påbörjad", "pågår": "enligt plan",
                                    "klart avslutat": "genomförd", "försenat": "försenad"}


@pytest.mark.parametrize("lines", [[], [""], ["Grönt ljus för projektet gavs i maj."], ["<script>Blått</script>"],
                                   ["Blått", "Grönt"], ["x" * 10_000]])
def test_read_legend_finds_nothing_where_there_is_no_legend(lines):
    assert V.read_legend(lines) == {}


# ------------------------------------------------------------------------------------------------------------------
# Sentences, inline and summary statuses
# ------------------------------------------------------------------------------------------------------------------

def test_split_sentences_keeps_start_lines_across_wrapped_lines():
    lines = [(10, "Arbetet med robotar har"), (11, "påbörjats. Det är klart"), (12, "i maj."), (13, ""),
             (14, "Rubrik\tNytt stycke här."), (15, "• Punkt ett")]
    got = [(s.line, s.text) for s in S.split_sentences(lines)]
    assert got == [(10, "Arbetet med robotar har påbörjats."), (11, "Det är klart i maj."), (14, "Rubrik"),
                   (14, "Nytt stycke här."), (15, "• Punkt ett")]


@pytest.mark.parametrize("lines", [[], [(1, "")], [(1, "   "), (2, "\t")], [(1, "<br>")]])
def test_split_sentences_empty(lines):
    assert S.split_sentences(lines) == []


@pytest.mark.parametrize("lines, expected", [
    ([(5, "Öka valdeltagandet."), (6, "Uppdraget är färdigt.")], ("Uppdraget är färdigt.", 6)),
    ([(7, "En strategi finns. Arbetet löper i enlighet med plan genom bland annat följande aktiviteter:")],
     ("Arbetet löper i enlighet med plan genom bland annat följande aktiviteter:", 7)),
    ([(3, "Åtgärden är inte påbörjad, men det är i enlighet med plan. Planering pågår.")],
     ("Åtgärden är inte påbörjad, men det är i enlighet med plan.", 3)),
    ([(1, "Nämndens åtgärder bedöms i hög grad svara mot utmaningarna att värna välfärden i kommunen och leverera "
          "en god och säker vård och omsorg.")], ("bedöms i hög grad svara mot utmaningarna", 1)),
    ([(2, "Prognosen för utfallet i slutet av 2024 är att nämndens åtgärder inom de tilldelade uppdragen till stor "
          "del leder till önskat resultat.")], ("till stor del leder till önskat resultat", 2)),
])
def test_find_inline_status(lines, expected):
    assert S.find_inline_status(lines) == expected


@pytest.mark.parametrize("lines", [[], [(1, "Vi arbetar vidare med frågan.")], [(1, "<script>alert(1)</script>")],
                                   [(1, "Projektet är viktigt för arbetet.")]])
def test_find_inline_status_none(lines):
    assert S.find_inline_status(lines) is None


def _unit(uid: str, title: str, line: int, doc: str = "r.txt", text: str = "", end: int | None = None,
          **kw) -> Unit:
    return Unit(id=uid, doc=doc, seq=line, level="åtgärd", title=title, text=text, line_start=line,
                line_end=end or line, title_line=line, **kw)


def test_find_summary_statuses_names_items_by_title():
    doc = ["Sammanfattning",
           "Åtgärden *Erbjuda trygga anställningsvillkor genom färre visstider* bedöms vara försenad.",
           "Från tabellen framgår att arbetet med att stoppa felaktiga utbetalningar varit i stort sett i paritet med "
           "plan liksom åtgärden bemanningsoptimering.",
           "Ekonomi bedöms vara försenad.",
           "", "Erbjuda trygga anställningsvillkor genom färre visstider", "Text.",
           "Stoppa felaktiga utbetalningar", "Bemanningsoptimering", "Ekonomi"]
    units = [_unit("u1", "Erbjuda trygga anställningsvillkor genom färre visstider", 6),
             _unit("u2", "Stoppa felaktiga utbetalningar", 8), _unit("u3", "Bemanningsoptimering", 9),
             _unit("u4", "Ekonomi", 10), _unit("u5", "Något helt annat som inte nämns", 11)]
    assert S.find_summary_statuses(doc, units) == {
        "u1": ("bedöms vara försenad", 2),
        "u2": ("i stort sett i paritet med plan", 3),
        "u3": ("i stort sett i paritet med plan", 3),
    }  # "Ekonomi" is too short a title to be named safely


def test_find_summary_statuses_ignores_the_units_own_title_line_and_empty_input():
    doc = ["Minska sjukfrånvaron i hemtjänsten bedöms vara försenad"]
    assert S.find_summary_statuses(doc, [_unit("u1", "Minska sjukfrånvaron i hemtjänsten", 1)]) == {}
    assert S.find_summary_statuses([], [_unit("u1", "Minska sjukfrånvaron i hemtjänsten", 1)]) == {}
    assert S.find_summary_statuses(["Något bedöms vara försenad."], []) == {}


# ------------------------------------------------------------------------------------------------------------------
# Cue rules, dates, language
# ------------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sentence, cue_ids", [
    ("Uppdraget har genomförts.", ["klar_perfekt", "klar_particip"]),
    ("Uppdraget har inte genomförts.", ["inte_enligt_plan"]),
    ("Arbetet pågår enligt plan.", ["enligt_plan", "pagar"]),
    ("Nämndens åtgärder verkställs delvis som planerat.", ["inte_enligt_plan"]),
    ("Starten har försenats.", ["forsenad_uttalat"]),
    ("Det har ännu inte kommit igång.", ["ej_paborjad"]),
    ("Nämnden avstår från att arbeta med uppdraget.", ["stoppad"]),
    ("Riktlinjen utgår från den gemensamma planen.", []),
    ("<script>alert(1)</script>", []),
    ("", []),
])
def test_cue_hits(sentence, cue_ids):
    assert [c.id for c in S.cue_hits(sentence)] == cue_ids


@pytest.mark.parametrize("texts, expected", [
    (["Uppdraget är slutfört.", "Det gick bra."], "genomförd"),
    (["Arbetet pågår enligt plan."], "enligt plan"),
    (["Projektet har försenats.", "Arbetet pågår."], "försenad"),
    (["Åtgärden har inte påbörjats."], "försenad"),
    (["Vi träffades i maj."], "enligt plan"),
    ([], "enligt plan"),
])
def test_rule_suggestion(texts, expected):
    assert S.rule_suggestion([S.Sentence(i + 1, t) for i, t in enumerate(texts)]) == expected


@pytest.mark.parametrize("text, row, ref, expected", [
    ("Arbetet planeras vara klart under hösten 2024.", "", (2024, 8),
     {"date:future_plan": 1.0, "date:deadline_passed": 0.0, "date:end_passed": 0.0, "date:end_future": 0.0}),
    ("Åtgärden skulle vara klar senast 2024-03-31.", "", (2024, 8),
     {"date:future_plan": 0.0, "date:deadline_passed": 1.0, "date:end_passed": 0.0, "date:end_future": 0.0}),
    ("Inget datum här.", "Revidering\t2020-02-17\t2023-06-30\tEj påbörjad", (2023, 9),
     {"date:future_plan": 0.0, "date:deadline_passed": 0.0, "date:end_passed": 1.0, "date:end_future": 0.0}),
    ("Inget datum här.", "Digitalisera\t2020-01-01\t2026-12-31", (2023, 9),
     {"date:future_plan": 0.0, "date:deadline_passed": 0.0, "date:end_passed": 0.0, "date:end_future": 1.0}),
    ("Arbetet planeras vara klart under hösten 2024.", "", None,
     {"date:future_plan": 0.0, "date:deadline_passed": 0.0, "date:end_passed": 0.0, "date:end_future": 0.0}),
])
def test_date_features(text, row, ref, expected):
    assert S.date_features([S.Sentence(1, text)], row, ref) == expected


@pytest.mark.parametrize("report, expected", [
    ({"report_date": "2023-09-22", "year": 2023}, (2023, 9)), ({"report_date": None, "year": 2019}, (2019, 8)),
    ({"report_date": None, "year": None}, None), (None, None)])
def test_report_reference_date(report, expected):
    assert S.report_reference_date(report) == expected


@pytest.mark.parametrize("text, expected", [
    ("The project is on track and will be finished in the autumn as planned.", "language"),
    ("12 345 67,8 % 2023 2024", "numbers"), ("", "numbers"),
    ("Arbetet pågår enligt plan och beräknas vara klart under hösten.", None), ("Klart i maj", None)])
def test_text_quality(text, expected):
    assert S.text_quality(text) == expected


# ------------------------------------------------------------------------------------------------------------------
# The classifier on a small hand-built store
# ------------------------------------------------------------------------------------------------------------------

class HashEmbedder:
    """Deterministic bag-of-words vectors: the same words give nearby vectors, like a (very) small real model."""

    model_id = "test-hash-384"
    dim = 384

    def embed_passages(self, texts, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"\w+", t.lower()):
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
            n = np.linalg.norm(out[i])
            out[i] = out[i] / n if n else out[i]
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_passages([text])[0]


DONE = ["Uppdraget är slutfört och rapporterat till nämnden.", "Riktlinjen har antagits av nämnden i maj.",
        "Arbetet är klart och det nya arbetssättet har införts.", "Översynen har genomförts under våren."]
ON_PLAN = ["Arbetet pågår enligt plan.", "Arbetet fortsätter enligt plan under hösten.",
           "Kartläggningen pågår och löper enligt tidsplan.", "Utbildningen pågår i alla verksamheter."]
LATE = ["Arbetet har försenats på grund av brist på personal.", "Starten har skjutits upp till nästa år.",
        "Projektet är pausat i avvaktan på nytt system.", "Målet har inte uppnåtts och arbetet går långsamt."]


def _report(doc: str, year: int, items: list[tuple[str, str, str | None]]) -> tuple[ReportMeta, Document,
                                                                                   Segmentation]:
    """items: (title, commentary, stated status or None); each item is title line + status line + commentary."""
    lines, units = [f"Uppföljning {year}", ""], []
    for k, (title, text, stated) in enumerate(items):
        start = len(lines) + 1
        lines += [title, "Status", stated or "", text, ""]
        body = "\n".join(["Status"] + ([stated] if stated else []) + ([text] if text else []))
        units.append(Unit(id=f"{doc}#{k}", doc=doc, seq=k, level="uppdrag", title=title, text=body,
                          line_start=start, line_end=start + 3, title_line=start,
                          explicit_status=stated, explicit_status_source="column" if stated else None,
                          explicit_status_line=start + 2 if stated else None,
                          status=V.canonical_status(stated) if stated else None))
    document = Document(file=doc, raw=lines, clean=lines, sha256=hashlib.sha256(doc.encode()).hexdigest(), fmt="txt")
    meta = ReportMeta(doc, "Testkommun", "Testnämnden", year, "augusti", f"{year}-08-31")
    return meta, document, Segmentation(passages=[], units=units)


def _items(prefix: str, stated: bool) -> list[tuple[str, str, str | None]]:
    items = []
    for k in range(4):
        items.append((f"{prefix} åtgärd klar {k}", DONE[k], "Klar" if stated else None))
        items.append((f"{prefix} åtgärd plan {k}", ON_PLAN[k], "Pågår" if stated else None))
        items.append((f"{prefix} åtgärd sen {k}", LATE[k], "Försenad" if stated else None))
    return items


HOSTILE_ITEMS = [
    ("Tom kommentar", "", "Pågår"),
    ("Engelsk text", "The project is on track and the work will be finished in the autumn as planned.", None),
    ("Bara siffror", "12 345 67,8 % 2023", None),
    ("Skript", "<script>alert(1)</script> Arbetet pågår enligt plan.", None),
    ("Lång text", "Arbetet pågår enligt plan. " * 400, None),
    ("Rubrik som bara upprepas", "Rubrik som bara upprepas.", None),
]


@pytest.fixture
def status_store(tmp_path: Path) -> Store:
    store = Store.open(tmp_path, create=True)
    for meta, document, seg in (_report("a.txt", 2024, _items("A", True)),
                                _report("b.txt", 2023, _items("B", True)),
                                _report("c.txt", 2024, _items("C", False) + HOSTILE_ITEMS)):
        store.replace_report(meta, document, seg, meta.file)
    yield store
    store.close()


def test_commentary_excludes_title_status_cell_and_labels(status_store):
    u = status_store.unit("a.txt#0")
    sentences = S.commentary_sentences(u, dict(status_store.lines("a.txt")))
    assert [(s.line, s.text) for s in sentences] == [(u.line_start + 3, DONE[0])]


def test_stated_status_never_reaches_the_features(status_store):
    embed = S.CachedEmbeddings(HashEmbedder(), status_store)
    stated = S.gather_inputs(status_store, [status_store.unit("a.txt#0")])
    bare = S.gather_inputs(status_store, [status_store.unit("c.txt#0")])
    stated[0].unit.title = bare[0].unit.title = "samma titel"
    assert np.array_equal(S.build_matrix(stated, embed), S.build_matrix(bare, embed))


def test_apply_without_trained_model_suggests_from_store_alone(status_store):
    n = S.apply_status(status_store, None, embedder=HashEmbedder())
    units = {u.id: u for u in status_store.units()}
    assert n == len(units) - 1  # every unit but the empty one
    assert not S.model_path(status_store).exists()  # on-the-fly models are not saved
    for k in range(4):
        assert units[f"c.txt#{3 * k}"].suggested_status == "genomförd"
        assert units[f"c.txt#{3 * k + 1}"].suggested_status == "enligt plan"
        assert units[f"c.txt#{3 * k + 2}"].suggested_status == "försenad"


def test_suggestion_fields_are_complete_and_evidence_is_a_sentence_of_the_unit(status_store):
    S.apply_status(status_store, ["c.txt"], embedder=HashEmbedder())
    for u in status_store.units("c.txt"):
        if u.title == "Tom kommentar":
            continue
        assert u.suggested_status in S.SUGGESTED
        assert set(u.status_probs) == set(S.SUGGESTED)
        assert sum(u.status_probs.values()) == pytest.approx(1.0, abs=1e-3)
        assert u.status_confidence == pytest.approx(max(u.status_probs.values()), abs=1e-4)
        assert u.status_probs[u.suggested_status] == max(u.status_probs.values())
        assert 1 <= len(u.status_evidence) <= 2
        for ev in u.status_evidence:
            assert u.line_start <= ev["line"] <= u.line_end
            assert ev["text"] in " ".join(re.sub(r"<[^>]+>", " ", u.text).split())  # markup never shown
            assert 0.0 <= ev["weight"] <= 1.0
    late = status_store.unit("c.txt#2")
    assert late.status_evidence[0] == {"line": late.line_start + 3, "text": LATE[0],
                                       "weight": late.status_evidence[0]["weight"]}


def test_empty_commentary_gets_no_suggestion_and_says_why(status_store):
    S.apply_status(status_store, ["c.txt"], embedder=HashEmbedder())
    u = next(u for u in status_store.units("c.txt") if u.title == "Tom kommentar")
    assert (u.suggested_status, u.status_confidence, u.status_probs, u.status_evidence, u.status_note) == (
        None, None, None, [], S.NOTES["empty"])


@pytest.mark.parametrize("title, note_key", [
    ("Engelsk text", "language"), ("Bara siffror", "numbers"), ("Rubrik som bara upprepas", "title")])
def test_unreadable_commentary_is_uncertain_said_so_with_the_two_likeliest(status_store, title, note_key):
    S.apply_status(status_store, ["c.txt"], embedder=HashEmbedder())
    u = next(u for u in status_store.units("c.txt") if u.title == title)
    assert u.suggested_status in S.SUGGESTED and u.status_confidence < S.UNCERTAIN
    first, second = sorted(u.status_probs, key=lambda c: -u.status_probs[c])[:2]
    assert u.status_note == (f"{S.NOTES[note_key]} Osäker: {first} ({u.status_probs[first]:.0%}) eller {second} "
                             f"({u.status_probs[second]:.0%}).").replace("%", " %")


def test_uncertain_note_names_the_two_likeliest():
    assert S.uncertain_note({"genomförd": 0.12, "enligt plan": 0.46, "försenad": 0.42}) == \
        "Osäker: enligt plan (46 %) eller försenad (42 %)."


def test_hostile_text_is_handled_as_text(status_store):
    S.apply_status(status_store, ["c.txt"], embedder=HashEmbedder())
    units = {u.title: u for u in status_store.units("c.txt")}
    assert units["Skript"].suggested_status == "enligt plan"
    assert units["Lång text"].suggested_status == "enligt plan"
    assert len(units["Lång text"].status_evidence) <= 2


def test_train_saves_json_model_that_reloads_to_the_same_probabilities(status_store):
    lines = S.train_status(status_store, None, embedder=HashEmbedder())
    assert lines[0] == "status: 24 märkta poster av 42 (stated 24)"
    assert lines[1] == "status: klasser enligt plan 8, försenad 8, genomförd 8"
    path = S.model_path(status_store)
    data = json.loads(path.read_text(encoding="utf-8"))  # plain JSON, no pickle
    assert data["model_id"] == "test-hash-384" and data["classes"] == sorted(S.SUGGESTED)
    model = S.StatusModel.load(path)
    embed = S.CachedEmbeddings(HashEmbedder(), status_store)
    inputs = S.gather_inputs(status_store, status_store.units("c.txt")[:3])
    X = S.build_matrix(inputs, embed)
    again = S.StatusModel.from_json(json.loads(json.dumps(model.to_json())))
    assert np.allclose(model.proba(X), again.proba(X))
    assert [model.classes[i] for i in model.proba(X).argmax(1)] == ["genomförd", "enligt plan", "försenad"]


@pytest.mark.parametrize("content", ["", "{", "[]", '{"format": 1}', "x" * 10_000])
def test_unusable_model_file_is_ignored(tmp_path, content):
    path = tmp_path / S.MODEL_FILE
    path.write_text(content, encoding="utf-8")
    assert S.StatusModel.load(path) is None
    assert S.StatusModel.load(tmp_path / "missing.json") is None


def test_reviewer_decision_beats_stated_status_and_skip_does_not_count(status_store):
    status_store.add_decision(Decision("unit_status", "a.txt#1", "a.txt", "granskare", "correct", "enligt plan",
                                       "försenad"))
    status_store.add_decision(Decision("unit_status", "a.txt#2", "a.txt", "granskare", "skip"))
    inputs = S.gather_inputs(status_store, status_store.units())
    examples = {inputs[e.index].unit.id: (e.label, e.source) for e in
                S.collect_examples(status_store, inputs, None, decisions=True)}
    assert examples["a.txt#1"] == ("försenad", "decision")
    assert examples["a.txt#2"] == ("försenad", "stated")
    assert examples["a.txt#0"] == ("genomförd", "stated")
    assert "c.txt#0" not in examples  # no stated status, no label (cues only when asked)


@pytest.mark.parametrize("value, expected", [
    ("enligt_plan", "enligt plan"), ("genomförd", "genomförd"), ("försenad", "försenad"), ("Delvis uppfyllt", "försenad"),
    ("ej_påbörjad", None), ("stoppad", None), ("oklart", None), (None, None), ("<script>", None)])
def test_suggestion_class(value, expected):
    assert S.suggestion_class(value) == expected


def test_too_few_labels_fall_back_to_rules(tmp_path):
    store = Store.open(tmp_path, create=True)
    meta, document, seg = _report("d.txt", 2024, [("Enda", "Arbetet har försenats kraftigt.", None),
                                                  ("Andra", "Arbetet pågår enligt plan.", "Pågår")])
    store.replace_report(meta, document, seg, "d.txt")
    S.apply_status(store, None, embedder=HashEmbedder())
    late, on_plan = store.units("d.txt")
    assert (late.suggested_status, late.status_note) == ("försenad", S.NOTES["rules"])
    assert late.status_evidence[0]["text"] == "Arbetet har försenats kraftigt."
    assert on_plan.suggested_status == "enligt plan"
    store.close()


# ------------------------------------------------------------------------------------------------------------------
# Evaluation helpers
# ------------------------------------------------------------------------------------------------------------------

def test_scores_exact_values():
    gold = ["genomförd", "enligt plan", "enligt plan", "försenad"]
    s = E.scores(gold, ["genomförd", "enligt plan", "försenad", None])
    assert s["precision"] == {"genomförd": 1.0, "enligt plan": 1.0, "försenad": 0.0}
    assert s["recall"] == {"genomförd": 1.0, "enligt plan": 0.5, "försenad": 0.0}
    assert s["macro_f1"] == pytest.approx((1.0 + 2 / 3 + 0.0) / 3)
    assert not E.meets_target(s)
    assert E.meets_target(E.scores(gold, gold))


@pytest.mark.parametrize("a, b, expected", [("Uppdraget är färdigt.", "uppdraget är färdigt", True),
                                            ("bedöms vara försenad", "Åtgärden bedöms vara försenad.", True),
                                            ("Pågår", "Klar", False), (None, "Klar", False), ("", "", False)])
def test_contains_normalised(a, b, expected):
    assert E.contains_normalised(a, b) is expected


def test_stated_capture_counts_and_lists_misses():
    gold = {"r.txt": GoldReport("r.txt", [
        {"title": "Minska sjukfrånvaron i hemtjänsten", "line": 3, "explicit_status": "Pågår",
         "explicit_status_source": "column"},
        {"title": "Införa nytt larmsystem i boendena", "line": 6, "explicit_status": "bedöms vara försenad",
         "explicit_status_source": "summary"},
        {"title": "Utan status i rapporten här", "line": 9, "explicit_status": None, "explicit_status_source": None}])}
    units = {"r.txt": [_unit("u1", "1. Minska sjukfrånvaron i hemtjänsten", 3, explicit_status="Pågår"),
                       _unit("u2", "Införa nytt larmsystem i boendena", 6, explicit_status=None),
                       _unit("u3", "Utan status i rapporten här", 9)]}
    hit, total, misses = E.stated_capture(gold, units)
    assert (hit, total) == (1, 2)
    assert misses == ["    miss r.txt:6 [summary] 'Införa nytt larmsystem i boendena' väntat 'bedöms vara försenad', "
                      "fick u2: None"]


# -- analyst labels enter only through `cli.py train --labels DIR` ---------------------------------------------------

def _write_labels(folder: Path, rows: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "units_c.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n",
                                          encoding="utf-8")
    return folder


def test_labels_given_explicitly_are_used_and_recorded(status_store, tmp_path):
    from nlp.labels import load_labels

    units = status_store.units("c.txt")[:3]
    rows = [{"doc": "c.txt", "title": u.title, "line": u.line_start, "judged_status": judged}
            for u, judged in zip(units, ["försenad", "enligt_plan", "genomförd"])]
    labels = load_labels(_write_labels(tmp_path / "labels", rows))
    info = {"folder": "etiketter", "fingerprint": "abc", "reports": ["c.txt"]}
    lines = S.train_status(status_store, labels, embedder=HashEmbedder(), labels_info=info)
    assert lines[0] == "status: 27 märkta poster av 42 (labels 3, stated 24)"
    model = S.StatusModel.load(S.model_path(status_store))
    assert model.trained_on == {
        "examples": 27, "labels": info,
        "counts": {"labels:enligt plan": 1, "labels:försenad": 1, "labels:genomförd": 1, "stated:enligt plan": 8,
                   "stated:försenad": 8, "stated:genomförd": 8},
        "reports": {"a.txt": 12, "b.txt": 12, "c.txt": 3}, "cues": False,
        "label_units": {units[0].id: "försenad", units[1].id: "enligt plan", units[2].id: "genomförd"}}
    assert S.describe_model(status_store) == [
        "statusmodell: tränad på labels:enligt plan 1, labels:försenad 1, labels:genomförd 1, stated:enligt plan 8, "
        "stated:försenad 8, stated:genomförd 8",
        "statusmodell: från 3 rapporter: a.txt, b.txt, c.txt",
        "statusmodell: analytikeretiketter: etiketter (version abc, rapporter: c.txt)"]


def test_without_labels_nothing_but_the_store_trains_the_model(status_store):
    S.train_status(status_store, None, embedder=HashEmbedder())
    model = S.StatusModel.load(S.model_path(status_store))
    assert model.trained_on["labels"] is None
    assert set(model.trained_on["counts"]) == {"stated:enligt plan", "stated:försenad", "stated:genomförd"}


@pytest.mark.parametrize("files, message", [
    (None, "{dir}: etikettmappen finns inte Inget tränades; sparade modeller är orörda."),
    ({}, "{dir}: inga units_<rapport>.jsonl-filer i etikettmappen Inget tränades; sparade modeller är orörda."),
    ({"units_a.jsonl": ""}, "{dir}/units_a.jsonl: filen är tom Inget tränades; sparade modeller är orörda."),
    ({"units_a.jsonl": '{"doc": "a.txt", "title": "T", "line": 3}\n{"doc": "a.txt", "title": "U", "line": 9'},
     "{dir}/units_a.jsonl:2: ogiltig JSON (Expecting ',' delimiter) Inget tränades; sparade modeller är orörda."),
    ({"units_a.jsonl": '{"doc": "a.txt", "title": "T", "line": "tre"}'},
     "{dir}/units_a.jsonl:1: fältet 'line' saknas eller är inte ett heltal Inget tränades; sparade modeller är "
     "orörda."),
    ({"units_a.jsonl": '{"doc": "a.txt", "title": "T", "line": 3}'},
     "{dir}: ingen av etiketternas rapporter (a.txt) finns i databasen; läs in dem först med `python cli.py ingest` "
     "Inget tränades; sparade modeller är orörda."),
    ({"units_a.jsonl": '[1, 2]'}, "{dir}/units_a.jsonl:1: raden är inte ett JSON-objekt Inget tränades; sparade "
                                  "modeller är orörda."),
    ({"units_a.jsonl": '{"doc": "x.txt", "title": "T", "line": 3, "themes": "digitalisering"}'},
     "{dir}/units_a.jsonl:1: fältet 'themes' ska vara en lista med tema-id Inget tränades; sparade modeller är "
     "orörda."),
])
def test_bad_labels_folder_is_one_line_and_leaves_the_saved_model_alone(tmp_path, capsys, files, message):
    import cli

    db = tmp_path / "data"
    Store.open(db, create=True).close()
    saved = db / S.MODEL_FILE
    saved.write_text('{"format": 1, "saved": "before"}', encoding="utf-8")
    folder = tmp_path / "etiketter"
    if files is not None:
        folder.mkdir()
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
    assert cli.main(["train", "--labels", str(folder), "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "fel: " + message.format(dir=folder)
    assert saved.read_text(encoding="utf-8") == '{"format": 1, "saved": "before"}'


# ------------------------------------------------------------------------------------------------------------------
# Learning from reviewers: feature cache, background retrain, review priorities
# ------------------------------------------------------------------------------------------------------------------

def _decide(store: Store, unit_id: str, value: str) -> None:
    store.add_decision(Decision("unit_status", unit_id, unit_id.split("#")[0], "granskare", "correct", None, value))


def test_cached_matrix_equals_a_fresh_build_and_is_read_back_from_the_store(status_store):
    embed = S.CachedEmbeddings(HashEmbedder(), status_store)
    units = status_store.units()
    fresh = S.build_matrix(S.gather_inputs(status_store, units), embed)
    inputs, first = S.cached_matrix(status_store, units, embed)
    count = status_store.conn.execute("SELECT COUNT(*) FROM features").fetchone()[0]
    _, again = S.cached_matrix(status_store, units, embed)
    assert np.array_equal(first, fresh) and np.array_equal(again, fresh)
    assert count == len({S.feature_key(u, status_store.report(u.doc), embed.model_id) for u in units}) == 42
    assert [x.has_commentary for x in inputs] == [x.has_commentary for x in S.gather_inputs(status_store, units)]
    assert {u.title: x.quality for u, x in zip(units, inputs) if x.quality} == {
        "Engelsk text": "language", "Bara siffror": "numbers", "Rubrik som bara upprepas": "title"}


def test_retrain_learns_decisions_and_keeps_the_analyst_labels_it_was_trained_on(status_store, tmp_path):
    from nlp.labels import load_labels

    units = status_store.units("c.txt")[:3]
    rows = [{"doc": "c.txt", "title": u.title, "line": u.line_start, "judged_status": judged}
            for u, judged in zip(units, ["försenad", "enligt_plan", "genomförd"])]
    labels = load_labels(_write_labels(tmp_path / "labels", rows))
    S.train_status(status_store, labels, embedder=HashEmbedder(), labels_info={"folder": "x", "fingerprint": "y",
                                                                              "reports": ["c.txt"]}, apply=True)
    assert not S.retrain_due(status_store)
    queued = [u.id for u in status_store.units("c.txt") if u.status is None and u.suggested_status][3:13]
    for uid in queued:
        _decide(status_store, uid, "försenad")
    assert S.retrain_due(status_store)
    lines = S.retrain_status(status_store, HashEmbedder())
    assert lines[0].startswith("status: omtränad på 37 exempel varav 10 granskarbeslut, förslag för 41 poster")
    model = S.StatusModel.load(S.model_path(status_store))
    assert model.trained_on["counts"] == {"decision:försenad": 10, "labels:enligt plan": 1, "labels:försenad": 1,
                                          "labels:genomförd": 1, "stated:enligt plan": 8, "stated:försenad": 8,
                                          "stated:genomförd": 8}
    assert model.trained_on["labels"] == {"folder": "x", "fingerprint": "y", "reports": ["c.txt"]}
    assert not S.retrain_due(status_store)


def test_review_priorities_rank_every_queued_unit_once_and_only_those(status_store):
    S.apply_status(status_store, None, embedder=HashEmbedder())
    ranks = status_store.review_order()
    queued = {u.id for u in status_store.units() if u.status is None and u.suggested_status}
    assert set(ranks) == queued and sorted(ranks.values()) == [float(k) for k in range(len(queued))]
    first = min(ranks, key=ranks.get)
    _decide(status_store, first, "enligt plan")
    S.apply_status(status_store, None, embedder=HashEmbedder())
    after = status_store.review_order()
    assert set(after) == queued - {first} and sorted(after.values()) == [float(k) for k in range(len(queued) - 1)]


def test_a_new_report_gets_the_suggestions_a_full_pass_gives_and_the_queue_order_follows_when_read(status_store):
    """Ingest of one report (no decisions in its kommun) reads only its own units; the review order is computed
    when the queue is read, equal to the order a pass over the whole store writes."""
    from pipeline import review

    S.apply_status(status_store, None, embedder=HashEmbedder())
    full_order = status_store.review_order()
    full = {u.id: (u.suggested_status, u.status_confidence, u.status_probs) for u in status_store.units()}
    status_store.set_review_order({})
    status_store.set_unit_fields({uid: {"suggested_status": None, "status_confidence": None, "status_probs": None}
                                  for uid in full if uid.startswith("c.txt")})
    status_store.set_meta("embedding_model", HashEmbedder().model_id)

    S.apply_status(status_store, ["c.txt"], embedder=HashEmbedder())
    assert {u.id: (u.suggested_status, u.status_confidence, u.status_probs) for u in status_store.units()} == full
    assert status_store.review_order() == {} and status_store.get_meta(S.REVIEW_ORDER_STALE) == "1"

    def no_model():
        raise AssertionError("every feature row is cached: no embedder needed")

    S.ensure_review_order(status_store, no_model)
    assert status_store.review_order() == full_order and status_store.get_meta(S.REVIEW_ORDER_STALE) == "0"
    status_store.set_meta(S.REVIEW_ORDER_STALE, "1")
    queue = review.status_queue(status_store)
    assert [u.id for u in queue][:len(full_order)] == sorted(full_order, key=full_order.get)


def test_a_report_in_a_kommun_with_decisions_is_suggested_with_the_whole_store(status_store):
    S.apply_status(status_store, None, embedder=HashEmbedder())
    first = min(status_store.review_order(), key=status_store.review_order().get)
    _decide(status_store, first, "enligt plan")
    doc = first.split("#")[0]
    assert S._decisions_reach(status_store, [doc]) is True
    S.apply_status(status_store, [doc], embedder=HashEmbedder())
    assert status_store.get_meta(S.REVIEW_ORDER_STALE) == "0" and first not in status_store.review_order()
