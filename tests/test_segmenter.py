"""Every sample layout segments into the expected units, with exact titles, levels, lines and stated statuses."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.prepare import prepare
from nlp.metadata import read_manifest
from nlp.reader import make_document, read_report
from nlp.segmenter import segment

FIXTURES = Path(__file__).parent / "fixtures" / "reports"
MANIFEST = read_manifest(FIXTURES / "manifest.csv")


def units_of(name: str):
    _, _, seg = prepare(FIXTURES / name, {}, MANIFEST)
    return seg.units


def summary(units):
    return [(u.line_start, u.line_end, u.level, u.title, u.explicit_status, u.explicit_status_source, u.status)
            for u in units]


def test_tab_tables_with_html_fragments():
    assert summary(units_of("uppsala-tabbad-2024-08.txt")) == [
        (20, 24, "inriktningsmål", "Fokusmål 1 Uppsala ska säkra en stark ekonomi och värna välfärden",
         "Nämndens åtgärder bedöms i hög grad svara mot utmaningarna att värna välfärden.", "inline", "enligt plan"),
        (27, 28, "uppdrag", "4. Stärka kompetensförsörjningen och säkerställa ett hållbart arbetsliv", None, None, None),
        (30, 31, "uppdrag", "11. Öka valdeltagandet i områden med lågt valdeltagande.", "Uppdraget är färdigt.",
         "inline", "genomförd"),
        (37, 37, "åtgärd", "Minska behovet av inhyrd legitimerad personal.", None, None, None),
        (38, 40, "åtgärd", "Minska antalet visstidsanställningar.", "bedöms vara försenad", "summary", "försenad"),
        (45, 46, "ks-beslut", "KS-BESLUT: Uppmana samtliga nämnder att höja beredskapen och genomföra övningar.",
         None, None, None),
    ]


def test_tab_table_commentary_and_parents():
    units = {u.title_line: u for u in units_of("uppsala-tabbad-2024-08.txt")}
    assert units[27].text == "Kommentar: Arbetet med att minska behovet av inhyrd personal pågår. Andelen inhyrd personal har minskat."
    # the continuation row (leading tab) after a page break belongs to the row above it
    assert units[38].text == ("Projektet Robust bemanning pågår i sex verksamheter.\n"
                              "Fler verksamheter ansluts under hösten.")
    assert units[38].parent == "Uppdrag 4: Stärka kompetensförsörjningen och säkerställa ett hållbart arbetsliv"
    assert units[38].parent_id == units[27].id
    assert units[27].parent_id == units[22].id
    assert units[45].parent is None  # 'Rapportering av KS beslut' closes the goal above


def test_status_words_and_bedomning_blocks():
    assert summary(units_of("uppsala-statusord-2019-08.txt")) == [
        (12, 20, "inriktningsmål", "Inriktningsmål 1: Uppsala kommun ska ha en jämställd och hållbar ekonomi",
         "Delvis uppfyllt", "column", "försenad"),
        (28, 34, "nämndmål", "Fler barn i social utsatthet klarar sin utbildning", "Helt uppfyllt", "column",
         "genomförd"),
        (38, 42, "uppdrag", "2.9 Stärka krisberedskapen i kommunens alla verksamheter", "Påbörjad", "column",
         "enligt plan"),
        (44, 52, "uppdrag", "2.13 Inför 24 timmars-garanti för samtal mellan vårdnadshavare och socialtjänst.",
         "Väntar", "column", "försenad"),
        (54, 60, "uppdrag", "2.14 Samordna upphandlingsarbetet rörande gaturummet.", "Stoppad", "column", "stoppad"),
    ]


def test_status_words_parent_is_the_goal_not_the_section_label():
    units = units_of("uppsala-statusord-2019-08.txt")
    assert [u.parent for u in units[2:]] == ["Inriktningsmål 2: Uppsala ska vara tryggt och attraktivt att leva, "
                                             "verka och vistas i"] * 3
    # the note between title and status stays commentary; label and value lines do not
    assert units[3].text == ("Motsvaras i Mål och budget 2018 av 2.11 Ta fram en handlingsplan för ökad trygghet.\n"
                             "Plan att påbörja under hösten.")


def test_symbol_column_and_result_blocks():
    # The tick is kept verbatim; with no legend in the report it has no canonical value (a tick is "done" in one
    # template and "expected by year end" in another).
    assert summary(units_of("eskilstuna-symbol-2023-08.txt")) == [
        (16, 21, "åtagande", "1. Barnrättsperspektivet ska synliggöras och barnkonsekvensanalyser ska genomföras "
         "när barn berörs.", "✓", "symbol", None),
        (23, 27, "åtagande", "2. Minska beroendet av inhyrda sjuksköterskor från bemanningsföretag.", None, None, None),
    ]


def test_markdown_headings_and_date_columns():
    units = units_of("hudiksvall-markdown-2023-08.txt")
    assert summary(units) == [
        (14, 24, "verksamhetsmål", "Kommunfullmäktiges verksamhetsmål: Minska sjukskrivningarna", "Delvis uppfyllt",
         "column", "försenad"),
        (27, 29, "nämndmål", "Kunderna ska känna trygghet och förtroende för våra verksamheter", "I hög grad uppfyllt",
         "column", "enligt plan"),
        (34, 36, "uppdrag från nämnd", "Revidering av värdighetsgarantierna", "Ej påbörjad", "column", "ej påbörjad"),
        (38, 41, "uppdrag från nämnd", "Utvärdera de sociala träffpunkterna", "Klar", "column", "genomförd"),
    ]
    assert units[1].parent == "Kommunfullmäktiges verksamhetsmål: Minska sjukskrivningarna"
    assert units[2].parent is None
    assert units[2].text == "Kommentar: Uppdraget pausades under pandemin och har sedan inte återupptagits."


def test_pdf_text_with_lost_tabs_and_wrapped_titles():
    units = [u for u in units_of("uppsala-pdftext-2024-08.txt") if u.level != "åtgärd"]
    assert [(u.line_start, u.level, u.title) for u in units] == [
        (10, "inriktningsmål", "Fokusmål 1 Uppsala ska säkra en stark ekonomi och värna välfärden"),
        (18, "uppdrag", "1. Frigöra tid och resurser till kommunens kärnverksamheter genom att effektivisera "
                        "administrationen och minska den administrativa belastningen."),
        (26, "uppdrag", "4. Stärka kompetensförsörjningen och säkerställa ett hållbart arbetsliv och "
                        "hälsofrämjande arbetssätt inom kommunkoncernen"),
    ]
    assert units[2].text == "Kommentar: Kostnaderna för inhyrd personal inom hälso- och sjukvården har minskat."
    assert units[1].parent == "Fokusmål 1 Uppsala ska säkra en stark ekonomi och värna välfärden"


def test_ids_are_stable_and_unique():
    first = [u.id for u in units_of("uppsala-tabbad-2024-08.txt")]
    again = [u.id for u in units_of("uppsala-tabbad-2024-08.txt")]
    assert first == again
    assert len(set(first)) == len(first)
    assert all(i.startswith("uppsala-tabbad-2024-08.txt#u") for i in first)


def test_passages_cover_every_paragraph_with_line_ranges():
    doc = read_report(FIXTURES / "hudiksvall-markdown-2023-08.txt")
    seg = segment(doc)
    by_start = {p.line_start: p for p in seg.passages}
    assert by_start[24].text.startswith("Sjukfrånvaron är fortsatt hög inom äldreomsorgen.")
    assert by_start[24].unit_id == seg.units[0].id
    assert by_start[46].text == "Sjukfrånvaro, procent | 9,8 | 9,1"  # indicator rows are searchable too
    assert by_start[46].unit_id is None and by_start[46].heading == "Indikatorer"
    assert all(p.line_start <= p.line_end for p in seg.passages)
    assert len({p.id for p in seg.passages}) == len(seg.passages)


def test_long_paragraphs_are_split_but_keep_their_lines():
    text = "Rubrik\n\n" + " ".join(f"ord{i}" for i in range(400)) + "\n"
    seg = segment(make_document("lang.txt", text, "txt", "x"))
    parts = [p for p in seg.passages if p.line_start == 3]
    assert [len(p.text.split()) for p in parts] == [160, 160, 80]
    assert {(p.line_start, p.line_end) for p in parts} == {(3, 3)}


@pytest.mark.parametrize("name", sorted(p.name for p in (Path(__file__).parents[1] / "corpus").glob("*.txt")))
def test_every_sample_report_yields_units_with_titles(name):
    corpus = Path(__file__).parents[1] / "corpus"
    _, _, seg = prepare(corpus / name, {}, read_manifest(corpus / "manifest.csv"))
    assert len(seg.units) >= 25
    assert all(u.title and u.line_start <= (u.title_line or u.line_start) <= u.line_end for u in seg.units)


def test_pdf_text_action_tables_find_actions_by_their_verbs():
    units = [u for u in units_of("uppsala-pdftext-2024-08.txt") if u.level == "åtgärd"]
    assert [(u.line_start, u.title) for u in units] == [
        (36, "Inför differentierade arbetsroller för att utbildad personal ska kunna fokusera på omsorgsnära insatser."),
        (46, "Minska behovet av inhyrd legitimerad personal."),
    ]
    assert units[0].text == ("Modellen är färdig och de första personerna har genomgått utbildning.\n"
                             "Digitala inköp och digital tillsyn tillämpas inom hemtjänsten.")
    assert units[1].text == "Behovet minskar, arbetet pågår. Andelen inhyrd personal var 22 procent."
    assert units[0].parent.startswith("Uppdrag 4: Stärka kompetensförsörjningen")


def test_commentary_goes_on_past_a_repeated_table_header():
    text = "\n".join([
        "Uppdrag från nämnd\tStartdatum\tSlutdatum\tStatus", "---\t---\t---\t---", "",
        "Översyn av korttidsplatser\t2020-01-30\t2023-08-31\tKlar", "---\t---\t---\t---", "",
        "**Kommentar:** Uppdraget är slutfört.", "",
        "Strategi för ökad brukartid\t2019-03-07\t2023-06-30\tKlar", "---\t---\t---\t---", "",
        "Uppdrag från nämnd\tStartdatum\tSlutdatum\tStatus", "---\t---\t---\t---", "",  # page break repeats the header
        "**Kommentar:** Arbetet är slutfört under maj.", ""])
    units = segment(make_document("sidbrytning.md", text, "md", "x")).units
    assert [(u.title, u.line_start, u.line_end) for u in units] == [
        ("Översyn av korttidsplatser", 4, 7), ("Strategi för ökad brukartid", 9, 15)]
    assert units[1].text == "Kommentar: Arbetet är slutfört under maj."


def test_short_lines_above_an_items_status_belong_to_the_item():
    text = "\n".join([
        "3.9 Minska energianvändningen i förvaltningens lokaler", "", "Tidigare 3.12", "", "Status", "", "Pågår", "",
        "Arbetet med energikartläggning pågår.", "",
        "3.10 Öka andelen förnybar energi", "", "Tidigare 3.14", "", "Status", "", "Påbörjad", "",
        "Under hösten påbörjas en kartläggning.", ""])
    units = segment(make_document("tidigare.txt", text, "txt", "x")).units
    assert [(u.title, u.line_end, u.explicit_status) for u in units] == [
        ("3.9 Minska energianvändningen i förvaltningens lokaler", 9, "Pågår"),
        ("3.10 Öka andelen förnybar energi", 19, "Påbörjad")]
    assert units[1].text.endswith("Under hösten påbörjas en kartläggning.")


def plain_items(lines: list[str]):
    return segment(make_document("plan.txt", "\n".join(lines), "txt", "sha")).units


def test_item_word_and_number_open_a_heading_in_plain_text():
    """No heading styles, no table: 'Uppdrag 1: ...' / 'Åtgärd 2.1 – ...' lines are the items, with or without a
    status line under them (the template the bench's generator and many Word exports use)."""
    units = plain_items(["Kultur- och fritidsnämnden", "Delårsrapport per april 2025", "",
                         "Uppdrag 1: Öka besöken på biblioteken", "Status: Enligt plan",
                         "Meröppet infördes i två filialer under våren.", "",
                         "Uppdrag 2: Utveckla lovaktiviteterna", "Status: Försenad",
                         "Upphandlingen av aktörer blev försenad.", "",
                         "Uppdrag 3: Renovera simhallen", "Status: Genomförd", "Simhallen öppnade i mars."])
    assert [s[:-1] for s in summary(units)] == [  # the canonical status is mapped later, by prepare
        (4, 6, "uppdrag", "Uppdrag 1: Öka besöken på biblioteken", "Enligt plan", "column"),
        (8, 10, "uppdrag", "Uppdrag 2: Utveckla lovaktiviteterna", "Försenad", "column"),
        (12, 14, "uppdrag", "Uppdrag 3: Renovera simhallen", "Genomförd", "column"),
    ]
    actions = plain_items(["Åtgärder", "", "Åtgärd 2.1 – Inför digital signering",
                           "Arbetet har påbörjats och beräknas vara klart i december.", "",
                           "Åtgärd 2.2 – Se över avgifterna", "En utredning pågår.", "",
                           "Åtgärd 2.3 – Minska matsvinnet", "Mätningar visar att svinnet minskat med 12 procent."])
    assert [(u.line_start, u.level, u.title) for u in actions] == [
        (3, "åtgärd", "Åtgärd 2.1 – Inför digital signering"), (6, "åtgärd", "Åtgärd 2.2 – Se över avgifterna"),
        (9, "åtgärd", "Åtgärd 2.3 – Minska matsvinnet")]


def test_item_word_headings_in_a_word_file_without_heading_styles(tmp_path):
    """The same template typed in Word as plain paragraphs (Normal style, no bold): the item word and number alone
    open each item."""
    import docx

    d = docx.Document()
    for text in ["Barn- och utbildningsnämnden", "Delårsrapport per augusti 2025", "Aktivitet 1. Utöka läxhjälpen",
                 "Status: Pågår", "Läxhjälp erbjuds nu på fyra skolor.", "Aktivitet 2. Införa digitala lärplattformar",
                 "Status: Ej påbörjad", "Upphandlingen startar i januari.", "Aktivitet 3. Minska frånvaron",
                 "Status: Klar", "Frånvarorutinen gäller från augusti."]:
        d.add_paragraph(text)
    path = tmp_path / "plan-2025-08.docx"
    d.save(path)
    units = segment(read_report(path)).units
    assert [(u.level, u.title, u.explicit_status) for u in units] == [
        ("aktivitet", "Aktivitet 1. Utöka läxhjälpen", "Pågår"),
        ("aktivitet", "Aktivitet 2. Införa digitala lärplattformar", "Ej påbörjad"),
        ("aktivitet", "Aktivitet 3. Minska frånvaron", "Klar")]
