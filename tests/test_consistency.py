"""Flags for review: each detector on small synthetic reports, stable ids, hostile input, storage and evaluation."""
from __future__ import annotations

import json
from datetime import date

import pytest

from evaluation.flags import evaluate
from tests.conftest import HashEmbedder
from nlp.flag_thresholds import choose, score_all
from nlp.labels import Problem, finds
from index.store import Store
from nlp import consistency as c
from nlp.near_duplicates import MAX_SHARING_REPORTS, ensure_bands, refresh_bands
from records import Decision, Document, Flag, ReportMeta, Segmentation, Unit

DOC = "testkommun-omsorg-2024-08.txt"


def unit(uid: str, start: int, end: int, title: str, level: str = "uppdrag", status: str | None = None,
         legend: str | None = None, **kw) -> Unit:
    """`legend`: the canonical value the report's own legend gives a stated symbol or colour."""
    return Unit(id=uid, doc=DOC, seq=start, level=level, title=title, text="", line_start=start, line_end=end,
                title_line=start, explicit_status=status, status=legend or (c.canon(status) if status else None),
                **kw)


def ctx_of(lines: list[str], units: list[Unit], **meta) -> c.ReportContext:
    meta.setdefault("year", 2024)
    meta.setdefault("namnd", "Omsorgsnämnden")
    meta.setdefault("period", "augusti")
    return c.ReportContext(doc=DOC, lines={i + 1: t for i, t in enumerate(lines)}, units=units, **meta)


def kinds(flags: list[Flag]) -> list[tuple[str, list[str], int | None]]:
    return [(f.kind, f.unit_ids, f.line) for f in flags]


# ---------------------------------------------------------------------------------------------------------------
# status_text_conflict
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("status, text, tail", [
    ("Klar", "Förvaltningen har påbörjat förberedelserna. Modellen kommer att testköras under hösten.",
     "texten säger att arbetet pågår"),
    ("Färdig", "När det gäller planeringsprocessen så pågår handlingsplan Gottsunda.", "texten säger att arbetet pågår"),
    ("Ej påbörjad", "Arbetet pågår i två verksamheter.", "texten säger att arbete pågår"),
    ("Påbörjad", "Det planeras att påbörjas under hösten 2024.", "texten säger att arbetet inte har påbörjats"),
    ("Påbörjad", "En plan kommer att utarbetas och ett första möte är inplanerat.",
     "texten beskriver bara planerat, inte påbörjat arbete"),
])
def test_status_text_conflict_fires_with_the_sentence_as_evidence(status, text, tail):
    lines = ["Uppdrag", "Ta fram en ny modell", "Status", status, text]
    u = unit("u1", 2, 5, "Ta fram en ny modell", status=status, explicit_status_line=4)
    flags = c.status_text_conflict(ctx_of(lines, [u]))
    assert kinds(flags) == [("status_text_conflict", ["u1"], 4)]
    assert flags[0].message == f'Status "{status}" men {tail}'
    assert flags[0].evidence[0]["line"] == 5
    assert flags[0].severity in ("hög", "medel")


@pytest.mark.parametrize("status, text", [
    ("Klar", "Uppdraget är slutfört och utvärderingen har genomförts."),
    ("Pågår", "Arbetet pågår enligt plan."),
    ("Ej påbörjad", "Uppdraget har ännu inte påbörjats."),
    ("Stoppad", "Nämnden avstår från att arbeta med uppdraget."),
    (None, "Arbetet pågår men kommer att testköras under hösten."),
])
def test_status_text_conflict_is_silent_when_text_agrees_or_no_status(status, text):
    lines = ["Ta fram en ny modell", "Status", status or "", text]
    u = unit("u1", 1, 4, "Ta fram en ny modell", status=status, explicit_status_line=3)
    assert c.status_text_conflict(ctx_of(lines, [u])) == []


def test_year_end_forecast_status_makes_ongoing_work_a_weak_conflict():
    lines = ["Status anger vilken status åtagandet bedöms ha vid årsskiftet.", "Åtagande ett\t✓", "Arbete pågår."]
    u = unit("u1", 2, 3, "Åtagande ett", level="åtagande", status="✓", legend="genomförd", explicit_status_line=2)
    plain = c.status_text_conflict(ctx_of(["Förklaring saknas."] + lines[1:], [u]))
    forecast = c.status_text_conflict(ctx_of(lines, [u]))
    assert [f.severity for f in plain] == ["hög"] and [f.score for f in plain] == [0.75]
    assert [f.severity for f in forecast] == ["låg"] and forecast[0].score == 0.3


def test_classifier_probabilities_alone_flag_only_a_confident_disagreement():
    lines = ["Ta fram en ny modell", "Status", "Klar", "Texten säger inget om läget."]
    sure = unit("u1", 1, 4, "Ta fram en ny modell", status="Klar", explicit_status_line=3,
                status_probs={"genomförd": 0.05, "enligt plan": 0.9, "försenad": 0.05},
                status_evidence=[{"line": 4, "quote": "Texten säger inget om läget."}])
    unsure = unit("u2", 1, 4, "Ta fram en ny modell", status="Klar", explicit_status_line=3,
                  status_probs={"genomförd": 0.4, "enligt plan": 0.5, "försenad": 0.1})
    flags = c.status_text_conflict(ctx_of(lines, [sure]))
    assert kinds(flags) == [("status_text_conflict", ["u1"], 3)]
    assert flags[0].message == 'Status "Klar" men textens innehåll liknar status "enligt plan"'
    assert flags[0].score == round(0.55 * 0.95, 3)
    assert c.status_text_conflict(ctx_of(lines, [unsure])) == []


def test_classifier_agreement_raises_the_score_of_a_cue_conflict():
    lines = ["Ta fram en ny modell", "Status", "Klar", "Arbetet pågår."]
    base = dict(status="Klar", explicit_status_line=3)
    agree = unit("u1", 1, 4, "Ta fram en ny modell", status_probs={"genomförd": 0.1, "enligt plan": 0.9}, **base)
    disagree = unit("u1", 1, 4, "Ta fram en ny modell", status_probs={"genomförd": 0.9, "enligt plan": 0.1}, **base)
    high = c.status_text_conflict(ctx_of(lines, [agree]))[0].score
    low = c.status_text_conflict(ctx_of(lines, [disagree]))[0].score
    assert high > low


# ---------------------------------------------------------------------------------------------------------------
# overdue
# ---------------------------------------------------------------------------------------------------------------

ROW_HEADER = "Uppdrag från nämnd\tStartdatum\tSlutdatum\tStatus"


@pytest.mark.parametrize("status, expected", [
    ("Ej påbörjad", [("overdue", ["u1"], 2)]),
    ("Pågår", [("overdue", ["u1"], 2)]),
    ("Klar", []),
    ("Stoppad", []),
])
def test_overdue_end_date(status, expected):
    lines = [ROW_HEADER, f"Revidering av garantierna\t2020-02-17\t2023-06-30\t{status}", "Kommentar: Pausat."]
    u = unit("u1", 2, 3, "Revidering av garantierna", status=status, explicit_status_line=2)
    flags = c.overdue(ctx_of(lines, [u], year=2023, report_date=date(2023, 9, 22)))
    assert kinds(flags) == expected
    if expected:
        assert flags[0].message.startswith("Slutdatum 2023-06-30 har passerat (rapporten avser 2023-09-22)")


def test_overdue_start_date_long_passed_and_nothing_started():
    lines = [ROW_HEADER, "Stödja föreningslivet\t2017-08-21\t2026-12-31\tEj påbörjad"]
    u = unit("u1", 2, 2, "Stödja föreningslivet", status="Ej påbörjad", explicit_status_line=2)
    flags = c.overdue(ctx_of(lines, [u], year=2023, report_date=date(2023, 9, 22)))
    assert kinds(flags) == [("overdue", ["u1"], 2)]
    assert flags[0].message == 'Startdatum 2017-08-21 passerades för 6 år sedan men status är "Ej påbörjad"'


def test_overdue_year_in_title_moved_to_a_later_year():
    lines = ["12. Genomföra en mässa (2023).\t✓", "Resultat: Tidsplanen är dock framskjuten till maj 2024."]
    u = unit("u1", 1, 2, "12. Genomföra en mässa (2023).", level="åtagande", status="✓", legend="genomförd",
             explicit_status_line=1)
    flags = c.overdue(ctx_of(lines, [u], year=2023, report_date=date(2023, 8, 31)))
    assert kinds(flags) == [("overdue", ["u1"], 1)]
    assert [e["line"] for e in flags[0].evidence] == [1, 2]


def test_overdue_needs_a_reference_date():
    lines = [ROW_HEADER, "Revidering\t2020-02-17\t2023-06-30\tEj påbörjad"]
    u = unit("u1", 2, 2, "Revidering", status="Ej påbörjad")
    assert c.overdue(ctx_of(lines, [u], year=None, period=None, report_date=None)) == []


# ---------------------------------------------------------------------------------------------------------------
# period_mismatch
# ---------------------------------------------------------------------------------------------------------------

def test_prognosis_for_an_earlier_year():
    lines = ["Fokusmål 2", "Prognosen för utfallet i slutet av 2023 är att nämndens åtgärder leder till önskat resultat.",
             "Prognosen för utfallet i slutet av 2024 är att nämndens åtgärder leder till önskat resultat."]
    flags = c.period_mismatch(ctx_of(lines, []))
    assert kinds(flags) == [("period_mismatch", [], 2)]
    assert flags[0].message == "Prognosen avser 2023 men rapporten gäller 2024"


def test_plan_for_a_past_season_but_not_past_events():
    lines = ["Uppföljning under hösten 2023.", "Materialet har provats under våren 2023 och fungerade väl."]
    u = unit("u1", 1, 2, "Strategi")
    assert kinds(c.period_mismatch(ctx_of(lines, [u]))) == [("period_mismatch", ["u1"], 1)]


def test_another_namnd_named_as_author_of_our_plan():
    lines = ["Delårsuppföljningen utgår från den verksamhetsplan som äldrenämnden upprättat för året.",
             "Nämnden bidrar i det arbete som äldrenämnden samordnar för hela kommunen.",
             "Delårsuppföljningen utgår från den verksamhetsplan som omsorgsnämnden upprättat för året."]
    flags = c.period_mismatch(ctx_of(lines, []))
    assert kinds(flags) == [("period_mismatch", [], 1)]
    assert "äldrenämnden" in flags[0].message and "Omsorgsnämnden" in flags[0].message


def test_a_target_year_that_differs_from_the_rest():
    lines = ["Vi arbetar mot målbild Framtidens omsorg 2035 i alla verksamheter.",
             "Målbild Framtidens omsorg 2035 ger en inriktning för arbetet framåt.",
             "Cheferna har presenterat Målbild 2023 för allmänheten under våren."]
    flags = c.period_mismatch(ctx_of(lines, [], year=2023))
    assert kinds(flags) == [("period_mismatch", [], 3)]


def test_shorter_period_than_the_report_in_an_item():
    lines = ["Minska inhyrd personal.\tUnder perioden januari-juli 2024 var andelen inhyrd personal 6 procent."]
    u = unit("u1", 1, 1, "Minska inhyrd personal.", level="åtgärd")
    flags = c.period_mismatch(ctx_of(lines, [u]))
    assert kinds(flags) == [("period_mismatch", ["u1"], 1)] and flags[0].severity == "låg"
    assert c.period_mismatch(ctx_of(lines, [u], period="juli")) == []


# ---------------------------------------------------------------------------------------------------------------
# duplicate_text
# ---------------------------------------------------------------------------------------------------------------

COPIED = ("För att minska bilanvändandet till förmån för cykel och kollektivtrafik pågår ett arbete där gemensamma "
          "principer för resor inom stadskärnan förankras bland chefer och en rutin är framtagen för tjänstebilar.")


OTHER_TEXT = ("Förvaltningen har under våren kartlagt behoven av platser i särskilt boende och tagit fram en "
              "lokalförsörjningsplan som nämnden beslutar om i december tillsammans med budgeten för nästa år.")


def test_same_commentary_under_two_unrelated_items():
    lines = ["3.8 Öka återvinningen", COPIED, "3.10 Öka andelen förnybar energi", COPIED]
    units = [unit("u1", 1, 2, "3.8 Öka återvinningen"), unit("u2", 3, 4, "3.10 Öka andelen förnybar energi")]
    flags = c.duplicate_text(ctx_of(lines, units))
    assert kinds(flags) == [("duplicate_text", ["u1", "u2"], 4)]
    assert flags[0].severity == "hög"
    assert [e["line"] for e in flags[0].evidence] == [2, 4]


def test_duplicates_under_many_items_are_boilerplate_and_related_items_are_expected():
    lines = ["1 Bygga parkeringar", COPIED, "2 Minska buller", COPIED, "3 Gräva mindre", COPIED]
    units = [unit("u1", 1, 2, "1 Bygga parkeringar"), unit("u2", 3, 4, "2 Minska buller"),
             unit("u3", 5, 6, "3 Gräva mindre")]
    assert c.duplicate_text(ctx_of(lines, units)) == []
    linked = [unit("u1", 1, 2, "Uppdrag 4: Stärka kompetensen"),
              unit("u2", 3, 4, "Minska visstid", level="åtgärd", parent="Uppdrag 4: Stärka kompetensen")]
    assert c.duplicate_text(ctx_of(lines[:4], linked)) == []


def test_same_reasoning_with_different_assessments():
    reason = ("Prognosen för måluppfyllelse grundar sig bland annat i de arbetssätt som utvecklats inom förvaltningen "
              "för att erbjuda snabba kontaktvägar och en hög tillgänglighet för alla invånare.")
    lines = ["Förbättrad service", "I hög grad uppfyllt", reason, "Kunderna ska känna trygghet", "Delvis uppfyllt",
             reason.replace("förvaltningen", "nämnden")]
    units = [unit("g1", 1, 3, "Förbättrad service", level="verksamhetsmål", status="I hög grad uppfyllt",
                  explicit_status_line=2),
             unit("g2", 4, 6, "Kunderna ska känna trygghet", level="nämndmål", status="Delvis uppfyllt",
                  explicit_status_line=5)]
    flags = c.duplicate_text(ctx_of(lines, units))
    assert kinds(flags) == [("duplicate_text", ["g1", "g2"], 6)]
    units[1].explicit_status, units[1].status = "I hög grad uppfyllt", "enligt plan"
    assert c.duplicate_text(ctx_of(lines, units)) == []


# ---------------------------------------------------------------------------------------------------------------
# count_mismatch and summary_conflict
# ---------------------------------------------------------------------------------------------------------------

def test_stated_count_against_units_found():
    lines = ["Nämnden arbetar i 2 uppdrag samt fem åtgärder inom dessa tre fokusmål.",
             "Uppdrag 1", "Uppdrag 2", "Åtgärd a", "Åtgärd b", "Åtgärd c", "Åtgärd d"]
    units = ([unit(f"p{i}", i, i, f"Uppdrag nummer {i}") for i in (2, 3)]
             + [unit(f"a{i}", i, i, f"Åtgärd med bokstav {i}", level="åtgärd") for i in (4, 5, 6, 7)])
    flags = c.count_mismatch(ctx_of(lines, units))
    assert kinds(flags) == [("count_mismatch", [], 1)]
    assert flags[0].message == "Rapporten anger 5 åtgärder men 4 redovisas"


def test_a_symbol_without_a_legend_is_no_status_to_contradict():
    """A tick means "done" in one template and "expected by year end" in another: without the report's legend it
    is kept verbatim and nothing is flagged against it."""
    lines = ["Åtagande ett\t✓", "Arbetet pågår och planeras vara klart i december."]
    u = unit("u1", 1, 2, "Åtagande ett", level="åtagande", status="✓", explicit_status_line=1)
    assert u.status is None
    assert c.status_text_conflict(ctx_of(lines, [u])) == []


def test_summary_exceptions_against_items_that_deviate():
    lines = ["Arbetet pågår enligt plan för samtliga åtgärder med ett undantag:", "",
             "Åtgärden *Minska antalet visstidsanställningar* bedöms vara försenad.", "", "", "", "", "", "",
             "Minska antalet visstidsanställningar\tAntalet har inte minskat.",
             "Införa maxtak för kontinuitet\tArbetet har ännu inte påbörjats.",
             "Öka samnyttjandet av lokaler\tArbetet pågår enligt plan."]
    units = [unit("a1", 10, 10, "Minska antalet visstidsanställningar", level="åtgärd", status="bedöms vara försenad",
                  explicit_status_source="summary", explicit_status_line=3),
             unit("a2", 11, 11, "Införa maxtak för kontinuitet", level="åtgärd"),
             unit("a3", 12, 12, "Öka samnyttjandet av lokaler", level="åtgärd")]
    flags = c.summary_conflict(ctx_of(lines, units))
    assert kinds(flags) == [("summary_conflict", ["a2"], 1)]
    assert flags[0].evidence[1] == {"line": 11, "quote": "Arbetet har ännu inte påbörjats."}


def test_summary_says_some_items_delayed_but_none_is():
    lines = ["För fokusmålet *Uppsala ska leda klimatomställningen* bedöms åtgärderna delvis leda till önskat "
             "resultat. Inom detta fokusmål bedöms några av åtgärderna vara försenade.", "",
             "Uppsala ska leda klimatomställningen", "Arbetet pågår i alla verksamheter.",
             "20: Öka takten i klimatomställningen", "Kommentar: Arbetet pågår."]
    goal = unit("g", 3, 6, "Uppsala ska leda klimatomställningen", level="inriktningsmål")
    child = unit("u", 5, 6, "20: Öka takten i klimatomställningen", parent_id="g")
    flags = c.summary_conflict(ctx_of(lines, [goal, child]))
    assert kinds(flags) == [("summary_conflict", ["g"], 1)]
    child_late = unit("u", 5, 6, "20: Öka takten i klimatomställningen", parent_id="g", status="Försenad")
    assert c.summary_conflict(ctx_of(lines, [goal, child_late])) == []


def test_status_summary_table_against_item_statuses():
    lines = ["\tEj påbörjad\tPågår\tKlart, avslutat\tFörsenat\tTotal Summa", "Nämnden\t\t\t2\t1\t3",
             "1. Första\t✓", "Resultat: Klart.", "2. Andra\t✓", "Resultat: Klart.",
             "3. Tredje\t✓", "Resultat: Tidsplanen är framskjuten till maj 2025."]
    units = [unit(f"u{i}", 2 * i + 3, 2 * i + 4, t, level="åtagande", status="✓", legend="genomförd",
                  explicit_status_line=2 * i + 3)
             for i, t in enumerate(["1. Första", "2. Andra", "3. Tredje"])]
    flags = c.summary_conflict(ctx_of(lines, units))
    assert kinds(flags) == [("summary_conflict", ["u2"], 2)]
    assert flags[0].message == "Sammanställningen anger 1 försenad men 0 poster har den statusen"


# ---------------------------------------------------------------------------------------------------------------
# internal_contradiction
# ---------------------------------------------------------------------------------------------------------------

def test_claim_and_its_exception_in_one_commentary():
    lines = ["Tillämpa max 30 medarbetare per chef.\tRiktmärket tillämpas i samtliga verksamheter. Inom avdelningen "
             "finns ett fåtal verksamheter där antalet ligger upp mot 35."]
    u = unit("u1", 1, 1, "Tillämpa max 30 medarbetare per chef.", level="åtgärd")
    flags = c.internal_contradiction(ctx_of(lines, [u]))
    assert kinds(flags) == [("internal_contradiction", ["u1"], 1)]
    assert flags[0].message == ('Texten säger "samtliga verksamheter" men nämner sedan "ett fåtal verksamheter" '
                                "som undantag")


def test_same_event_told_as_done_and_as_coming():
    lines = ["Viktiga händelser", "Två drogförebyggare har rekryterats för att arbeta med drogfri skola i kommunen.",
             "", "Prioritera det drogförebyggande arbetet", "Kommentar: Två drogförebyggande samordnare rekryteras "
             "under 2023 för drogfri skola."]
    u = unit("u1", 4, 5, "Prioritera det drogförebyggande arbetet")
    flags = c.internal_contradiction(ctx_of(lines, [u], year=2023))
    assert kinds(flags) == [("internal_contradiction", ["u1"], 5)]
    assert [e["line"] for e in flags[0].evidence] == [2, 5]


def test_table_rows_that_do_not_add_up_and_those_that_do():
    lines = ["Anställda\t2022\t2023", "tillsvidare\t1 479\t1 495", "visstid\t206\t355", "timavlönade\t63\t63",
             "Alla\t1 748\t1 920", "", "Belopp\t2024", "Äldre\t94", "- varav hemtjänst\t50", "LSS\t1 980",
             "Nämnden totalt\t2 074"]
    flags = c.internal_contradiction(ctx_of(lines, []))
    assert kinds(flags) == [("internal_contradiction", [], 5)]
    assert flags[0].message == 'Raderna summerar inte till "Alla": 1 913 mot 1 920'


def test_years_said_against_table_years():
    lines = ["Kön\t2019\t2020\t2021\t2022\t2023", "Alla\t89\t90\t91\t93\t95", "",
             "Tabellen visar sysselsättningsgraden de senaste fyra åren för alla anställda."]
    flags = c.internal_contradiction(ctx_of(lines, []))
    assert kinds(flags) == [("internal_contradiction", [], 4)]


def test_amount_in_text_near_but_not_equal_to_the_table():
    lines = ["Missbrukarvård, tkr", "\tUtfall aug\tBudget aug\tPrognos aug",
             "Resultat missbrukarvård\t-12 289\t674\t-5 344", "",
             "Verksamheten har ett negativt resultat på 12,3 mnkr och en avvikelse på 7,0 mnkr jämfört med prognos."]
    flags = c.internal_contradiction(ctx_of(lines, []))
    assert kinds(flags) == [("internal_contradiction", [], 5)]
    assert flags[0].message.startswith("Texten anger 7,0 mnkr men tabellen ger 6,9")
    fixed = lines[:4] + [lines[4].replace("7,0", "6,9")]
    assert c.internal_contradiction(ctx_of(fixed, [])) == []


# ---------------------------------------------------------------------------------------------------------------
# Ids, caps, hostile input
# ---------------------------------------------------------------------------------------------------------------

def conflict_report(shift: int = 0) -> c.ReportContext:
    lines = [""] * shift + ["Genomlysning av hemtjänsten\t2021-07-26\t2023-12-31\tKlar",
                            "Kommentar: Modellen kommer att testköras under hösten och arbetet pågår."]
    u = unit("u1", 1 + shift, 2 + shift, "Genomlysning av hemtjänsten", status="Klar", explicit_status_line=1 + shift)
    return ctx_of(lines, [u], year=2023, report_date=date(2023, 9, 22))


def test_flag_ids_are_stable_across_recomputation_and_line_shifts():
    first = c.run_detectors(conflict_report())
    again = c.run_detectors(conflict_report())
    shifted = c.run_detectors(conflict_report(shift=5))
    assert [f.id for f in first] == [f.id for f in again] == [f.id for f in shifted]
    assert len({f.id for f in first}) == len(first) == 1
    assert first[0].id == c.flag_id("status_text_conflict", DOC, ["u1"], "genomförd")


def test_flag_ids_differ_by_kind_doc_and_unit():
    ids = {c.flag_id("overdue", DOC, ["u1"], "k"), c.flag_id("overdue", "other.txt", ["u1"], "k"),
           c.flag_id("overdue", DOC, ["u2"], "k"), c.flag_id("duplicate_text", DOC, ["u1"], "k")}
    assert len(ids) == 4


def test_no_detector_points_at_more_than_the_cap():
    lines, units = [], []
    for i in range(10):
        lines += [f"Uppdrag nummer {i}", "Status", "Klar", "Arbetet pågår fortfarande i verksamheten."]
        units.append(unit(f"u{i}", 4 * i + 1, 4 * i + 4, f"Uppdrag nummer {i}", status="Klar",
                          explicit_status_line=4 * i + 3))
    flags = c.run_detectors(ctx_of(lines, units), ["status_text_conflict"])
    assert len({uid for f in flags for uid in f.unit_ids}) == int(c.MAX_UNIT_SHARE * 10) == 2


@pytest.mark.parametrize("lines", [
    [],
    [""],
    ["och att det som en ett för med har till av den"],
    ["<script>alert('x')</script>\tKlar\t2020-01-01\t2021-01-01"],
    ["Prognosen " + "å" * 10_000 + " 2023"],
    ["\t\t\t", "1\t2\t3", "Summa\t\t"],
])
@pytest.mark.parametrize("with_unit", [False, True])
def test_hostile_input_gives_no_flags_and_no_errors(lines, with_unit):
    units = [unit("u1", 1, max(1, len(lines)), "<script>", status="Klar")] if with_unit else []
    assert c.run_detectors(ctx_of(lines, units)) == []


def test_severity_thresholds():
    assert [c.severity(x) for x in (0.0, 0.49, 0.5, 0.74, 0.75, 1.0)] == ["låg", "låg", "medel", "medel", "hög", "hög"]


# ---------------------------------------------------------------------------------------------------------------
# Store: recomputation keeps reviewers' decisions; cross-report information
# ---------------------------------------------------------------------------------------------------------------

def put_report(store: Store, doc: str, lines: list[str], units: list[Unit], namnd: str) -> None:
    for u in units:
        u.doc = doc
    document = Document(file=doc, raw=lines, clean=lines, sha256=doc, fmt="txt")
    meta = ReportMeta(file=doc, kommun="Testkommun", namnd=namnd, year=2023, period="augusti",
                      report_date="2023-09-22")
    store.replace_report(meta, document, Segmentation(passages=[], units=units), doc)


def test_apply_flags_replaces_flags_and_decisions_survive(tmp_path):
    store = Store.open(tmp_path, create=True)
    ctx = conflict_report()
    put_report(store, DOC, list(ctx.lines.values()), ctx.units, "Omsorgsnämnden")
    assert c.apply_flags(store) == {DOC: 1}
    flag = store.flags(DOC)[0]
    store.add_decision(Decision(target_type="flag", target_id=flag.id, doc=DOC, reviewer="anna", action="confirm"))
    ctx2 = conflict_report()
    put_report(store, DOC, list(ctx2.lines.values()), ctx2.units, "Omsorgsnämnden")  # re-ingest
    assert store.flags(DOC) == []
    c.apply_flags(store, [DOC])
    assert [f.id for f in store.flags(DOC)] == [flag.id]
    assert store.current_decisions("flag")[flag.id].action == "confirm"
    assert json.loads(json.dumps(store.flags(DOC)[0].to_dict()))["evidence"][0]["line"] == 2


def test_cross_report_duplicates_are_one_information_flag(tmp_path):
    store = Store.open(tmp_path, create=True)
    for doc, namnd in (("a.txt", "Omsorgsnämnden"), ("b.txt", "Äldrenämnden")):
        lines = ["Uppdrag ett", COPIED]
        u = unit("u-" + doc, 1, 2, "Uppdrag ett")
        u.text = COPIED
        put_report(store, doc, lines, [u], namnd)
    other = unit("u-c", 1, 2, "Uppdrag tre")
    other.text = OTHER_TEXT
    put_report(store, "c.txt", ["Uppdrag tre", OTHER_TEXT], [other], "Socialnämnden")
    assert ensure_bands(store) is True and ensure_bands(store) is False
    assert ensure_bands(store, rebuild=True) is True  # every report read again (reindex): bands made anew
    # Candidates come from the band index: the unrelated report is never read.
    assert store.band_partners("a.txt", MAX_SHARING_REPORTS) == {"b.txt": {"u-b.txt"}}
    flags = c.compute_flags(store, "a.txt")
    assert kinds(flags) == [("duplicate_text", [], 2)]
    assert flags[0].severity == "låg" and "Äldrenämnden (b.txt)" in flags[0].message


def test_text_in_more_reports_than_the_limit_is_a_template_not_a_copy(tmp_path):
    store = Store.open(tmp_path, create=True)
    docs = [f"r{i:02d}.txt" for i in range(MAX_SHARING_REPORTS + 1)]
    for doc in docs:
        u = unit("u-" + doc, 1, 2, "Uppdrag ett")
        u.text = COPIED
        put_report(store, doc, ["Uppdrag ett", COPIED], [u], f"Nämnd {doc}")
    refresh_bands(store, docs[:MAX_SHARING_REPORTS])
    assert len(store.band_partners("r00.txt", MAX_SHARING_REPORTS)) == MAX_SHARING_REPORTS - 1
    refresh_bands(store, docs[MAX_SHARING_REPORTS:])  # one report more holds the same text: a template
    assert store.band_partners("r00.txt", MAX_SHARING_REPORTS) == {}
    assert [f.kind for f in c.compute_flags(store, "r00.txt")] == []


def test_compute_flags_for_unknown_report_is_a_named_error(tmp_path):
    from errors import ToolError
    store = Store.open(tmp_path, create=True)
    with pytest.raises(ToolError):
        c.compute_flags(store, "saknas.txt")


# ---------------------------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------------------------

def flag(uids: list[str], line: int, evidence: list[int] = ()) -> Flag:
    return Flag(id="f", kind="overdue", doc=DOC, unit_ids=uids, line=line, severity="hög", score=0.8, message="m",
                evidence=[{"line": x, "quote": "q"} for x in evidence])


def test_a_gold_problem_is_found_by_unit_by_range_or_by_nearby_line():
    u = unit("u1", 10, 14, "Titel")
    unit_problem = Problem(DOC, "unit", 10, "x", u)
    doc_problem = Problem(DOC, "doc", 50, "y")
    assert finds(flag(["u1"], 99), unit_problem) and finds(flag([], 12), unit_problem)
    assert not finds(flag(["u2"], 15), unit_problem)
    assert finds(flag([], 53), doc_problem) and finds(flag([], 1, [47]), doc_problem)
    assert not finds(flag([], 54), doc_problem)
    assert score_all({DOC: [flag(["u1"], 10), flag([], 200)]}, {DOC: [unit_problem, doc_problem]}, finds) == (1, 2, 1, 2)


def test_thresholds_are_chosen_per_detector_to_maximise_f1():
    u = unit("u1", 10, 14, "Titel")
    problems = {DOC: [Problem(DOC, "unit", 10, "x", u)]}
    good = Flag("a", "overdue", DOC, ["u1"], 10, "hög", 0.8, "m")
    weak = Flag("b", "overdue", DOC, [], 90, "låg", 0.4, "m")
    noise = Flag("c", "duplicate_text", DOC, [], 70, "medel", 0.6, "m")
    chosen = choose({DOC: [good, weak, noise]}, problems, finds, ("overdue", "duplicate_text"))
    assert chosen == {"overdue": 0.45, "duplicate_text": 0.65}


def test_evaluate_reads_gold_at_run_time(tmp_path):
    store = Store.open(tmp_path / "db", create=True)
    ctx = conflict_report()
    put_report(store, DOC, list(ctx.lines.values()), ctx.units, "Omsorgsnämnden")
    gold = tmp_path / "gold"
    gold.mkdir()
    (gold / "units_testkommun.jsonl").write_text(json.dumps(
        {"doc": DOC, "title": "Genomlysning av hemtjänsten", "line": 1, "level": "uppdrag",
         "inconsistency": "Status Klar men testkörs i höst"}, ensure_ascii=False) + "\n", encoding="utf-8")
    (gold / "doc_testkommun.json").write_text(json.dumps({"doc": DOC, "doc_inconsistencies": [
        {"line": 40, "what": "nothing we can find"}]}), encoding="utf-8")
    lines = evaluate(store, gold, embedder=HashEmbedder())
    assert lines[2] == (f"  {DOC:46s} recall 0.500 (  1/  2)  precision 1.000 (  1/  1)")
    assert any(line.startswith("    missad " + DOC + ":40 [doc]") for line in lines)


# ---------------------------------------------------------------------------------------------------------------
# numbering reused, and a universal claim against a share
# ---------------------------------------------------------------------------------------------------------------

def numbered(titles: list[str]) -> list[Flag]:
    """A report of these items and eight other numbered ones (no detector may flag over a fifth of a report)."""
    lines, units = [], []
    for i, title in enumerate(titles + [f"Uppdrag {40 + k}. Ett annat uppdrag nummer {k}" for k in range(8)]):
        lines += [title, "Status", "Pågår", "Arbetet pågår enligt plan."]
        units.append(unit(f"u{i}", 4 * i + 1, 4 * i + 4, title, status="Pågår", explicit_status_line=4 * i + 3))
    return c.run_detectors(ctx_of(lines, units), ["internal_contradiction"])


def test_one_number_on_two_different_items_is_flagged():
    [flag] = numbered(["Uppdrag 12. Utveckla hemtjänstens planering", "Uppdrag 13. Inför digitala larm",
                       "Uppdrag 12. Minska sjukfrånvaron i äldreomsorgen"])
    assert (flag.unit_ids, flag.line, flag.message) == (
        ["u0", "u2"], 9, 'Samma nummer "uppdrag 12" står på två olika poster: "Uppdrag 12. Utveckla hemtjänstens '
        'planering" och "Uppdrag 12. Minska sjukfrånvaron i äldreomsorgen"')
    [dotted] = numbered(["3.8 Öka återvinningen i verksamheterna", "3.8 Minska matsvinnet i köken"])
    assert dotted.unit_ids == ["u0", "u1"]


@pytest.mark.parametrize("titles", [
    ["Uppdrag 12. Utveckla hemtjänstens planering", "Uppdrag 12. Utveckla hemtjänstens planering."],  # listed twice
    ["1. Utveckla hemtjänstens planering", "1. Minska sjukfrånvaron"],  # numbering restarts under each heading
    ["Uppdrag 12. Utveckla hemtjänsten", "Uppdrag 120. Minska sjukfrånvaron"],
])
def test_the_same_item_twice_or_restarting_numbers_are_not_flagged(titles):
    assert numbered(titles) == []


def referenced(sentence: str, extra_lines: list[str] | None = None) -> list[Flag]:
    """Five numbered åtgärder (1–4 and 6) in an "Åtgärd N – title" layout; the last commentary holds `sentence`."""
    lines, units = [], []
    for i, n in enumerate([1, 2, 3, 4, 6]):
        title = f"Åtgärd {n} – Åtgärd om område {n}"
        lines += [title, "Genomförd", sentence if n == 6 else "Arbetet är klart."]
        units.append(unit(f"u{n}", 3 * i + 1, 3 * i + 3, title, level="åtgärd", status="Genomförd",
                          explicit_status_line=3 * i + 2))
    return c.run_detectors(ctx_of(lines + (extra_lines or []), units), ["internal_contradiction"])


def test_a_reference_to_an_item_number_the_report_does_not_hold_is_flagged():
    [flag] = referenced("Arbetet fortsätter inom ramen för åtgärd 5, se ovan.")
    assert (flag.unit_ids, flag.line, flag.message) == (
        ["u6"], 15, 'Texten hänvisar till "åtgärd 5", men ingen post i rapporten har det numret (rapportens åtgärd: '
        '1, 2, 3, 4, 6)')
    assert flag.evidence == [{"line": 15, "quote": "Arbetet fortsätter inom ramen för åtgärd 5, se ovan."}]


@pytest.mark.parametrize("sentence, extra", [
    ("Arbetet fortsätter inom ramen för åtgärd 3, se ovan.", None),  # the item exists
    ("Kostnaden var 5,2 mnkr enligt uppdrag 5.", None),  # no item is numbered with "uppdrag" here
    ("Arbetet fortsätter inom ramen för åtgärd 5, se ovan.", ["Åtgärd 5", "Ingen text."]),  # its heading exists
    ("Kostnaden för åtgärd 7,5 mnkr är inte fördelad.", None),  # a decimal number, not an item number
])
def test_references_to_existing_items_or_other_numbers_are_not_flagged(sentence, extra):
    assert referenced(sentence, extra) == []


TREND_TABLE = ["Volymer\tUtfall 2023\tBudget 2024\tPrognos 2024", "Platser i korttidsboende\t40\t45\t48",
               "Hemsjukvårdsbesök\t12 000\t11 000\t10 500", ""]


def trend_flags(sentence: str, table: list[str] | None = None, gap: int = 0) -> list[Flag]:
    lines = (table or TREND_TABLE) + [""] * gap + ["Kommentar till volymerna", sentence]
    units = [unit("u1", len(lines) - 1, len(lines), "Kommentar till volymerna")]
    return c.run_detectors(ctx_of(lines, units), ["internal_contradiction"])


def test_a_trend_in_the_text_against_the_tables_earlier_and_current_year_is_flagged():
    [flag] = trend_flags("Platserna i korttidsboende har minskat under året.")
    assert (flag.line, flag.unit_ids, flag.message) == (
        6, ["u1"], 'Texten säger "Platserna i korttidsboende har minskat" men tabellen visar 40 (Utfall 2023) → 48 '
        '(Prognos 2024) för "Platser i korttidsboende"')
    assert [e["line"] for e in flag.evidence] == [6, 2]


@pytest.mark.parametrize("sentence, table, gap", [
    ("Hemsjukvårdsbesöken har minskat.", None, 0),  # the row agrees
    ("Platserna i korttidsboende har minskat jämfört med budget.", None, 0),  # against the plan, not last year
    ("Platserna i korttidsboende har inte minskat.", None, 0),
    ("Platserna i korttidsboende har minskat under året.", None, 40),  # too far from the table to speak of it
    ("Platserna i korttidsboende har minskat under året.",
     ["Volymer\tFörra året\tI år", "Platser i korttidsboende\t40\t48", ""], 0),  # no years: no before/after
    ("Verksamheten har minskat sina kostnader.", None, 0),  # names no row
])
def test_a_trend_that_agrees_is_against_the_plan_or_names_no_row_is_not_flagged(sentence, table, gap):
    assert trend_flags(sentence, table, gap) == []


@pytest.mark.parametrize("text, expected", [
    ("Samtliga medarbetare ska gå utbildningen. Hittills har 72 % av medarbetarna genomgått den.",
     'Texten säger "Samtliga medarbetare" men anger "72 % av medarbetarna"'),
    ("Alla enheter har en handlingsplan, men 86,5 procent av enheterna har följt upp den.",
     'Texten säger "Alla enheter" men anger "86,5 procent av enheterna"'),
    ("Samtliga medarbetare har gått utbildningen, det vill säga 100 % av medarbetarna.", None),
    ("Samtliga medarbetare har gått utbildningen. Sjukfrånvaron är 7 % av arbetstiden.", None),
])
def test_a_universal_claim_against_a_share_below_all(text, expected):
    lines = ["Uppdrag 1. Kompetens", "Status", "Pågår", text]
    units = [unit("u1", 1, 4, "Uppdrag 1. Kompetens", status="Pågår", explicit_status_line=3)]
    flags = c.run_detectors(ctx_of(lines, units), ["internal_contradiction"])
    assert [f.message for f in flags] == ([expected] if expected else [])
