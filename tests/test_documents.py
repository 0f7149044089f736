"""The readers and the document model, on small files built for one mechanism each (tests/fixtures/render/cases.py,
an "Aktivitet | Ansvarig | Status | Kommentar" layout that none of the samples has) and on hand-made models."""
from __future__ import annotations

from pathlib import Path

import pytest

import cli
from errors import UnreadableReport
from pipeline.prepare import prepare
from index.store import Store
from nlp.document import (HEADING, LIST_ITEM, PARAGRAPH, TABLE, Block, Cell, DocModel, Prov, Row, colour_name,
                          hex_colour, linearize)
from nlp.reader import read_report, text_model

CASES = Path(__file__).resolve().parent / "fixtures" / "render" / "cases"
ROW = ["Öppna fritidsgården i Norrby på lördagar\tKultur\tgrön\tGården har öppet varje lördag sedan mars.",
       "Digitalisera bokningen av idrottshallar\tFritid\tgul\tUpphandlingen är försenad till hösten.",
       "Ta fram en plan för offentlig konst\tKultur\tröd\tArbetet har inte påbörjats.",
       "Utöka biblioteksfilialens öppettider\tBibliotek\tKlar\tNya öppettider gäller från juni."]


@pytest.mark.parametrize("rgb, name", [
    ((0, 176, 80), "grön"), ((146, 208, 80), "grön"), ((255, 192, 0), "gul"), ((255, 0, 0), "röd"),
    ((0.0, 0.44, 0.75), "blå"), ((255, 255, 255), None), ((0, 0, 0), None), ((217, 217, 217), None),
    ((0.0, 0.0, 1.0, 0.0), "gul"), (None, None),
])
def test_colours_are_named_by_the_nearest_status_colour(rgb, name):
    assert colour_name(rgb) == name


@pytest.mark.parametrize("value, name", [("92D050", "grön"), ("C00000", "röd"), ("auto", None), ("FFFFFF", None),
                                         ("zzzzzz", None)])
def test_word_shading_values(value, name):
    assert hex_colour(value) == name


def test_linearize_keeps_pages_lines_broken_by_hand_and_colour_cells():
    model = DocModel("x.pdf", "pdf", blocks=[
        Block(HEADING, "Aktiviteter", level=2, prov=Prov(page=3)),
        Block(PARAGRAPH, "Status\nPågår", prov=Prov(page=3)),
        Block(TABLE, rows=[Row([Cell("Aktivitet", bold=True), Cell("Status", bold=True)], header=True),
                           Row([Cell("Mål 1: Fler läsare")], group=True),
                           Row([Cell("Läsfrämjande för unga"), Cell("", fill="grön")], page=4),
                           Row([Cell("Bokbuss till byarna"), Cell("●", icon="röd")], page=4)],
              prov=Prov(page=3)),
        Block(LIST_ITEM, "En punkt", prov=Prov(page=4)),
    ])
    lines = linearize(model)
    assert lines.raw == ["## Aktiviteter", "", "Status", "Pågår", "", "Aktivitet\tStatus", "Mål 1: Fler läsare",
                         "Läsfrämjande för unga\tgrön", "Bokbuss till byarna\tröd", "", "- En punkt", ""]
    assert lines.pages == [3, 3, 3, 3, 3, 3, 3, 4, 4, 3, 4, 4]
    assert lines.colour_cells == {8: ["grön"], 9: ["röd"]}


def test_text_files_become_the_same_model():
    raw = ["# Uppföljning", "", "Åtgärd\tStatus", "<p>Bokbuss</p> <p>Kommentar: Körs varje vecka.</p>\tPågår",
           "", "| Aktivitet | Status |", "|---|---|", "| Läsecirklar | Klar |", "", "- punkt ett", "Vanlig text."]
    model = text_model("x.txt", raw)
    assert [(b.kind, b.prov.line_start, b.prov.line_end) for b in model.blocks] == [
        (HEADING, 1, 1), (TABLE, 3, 4), (TABLE, 6, 8), (LIST_ITEM, 10, 10), (PARAGRAPH, 11, 11)]
    assert [[c.text for c in r.cells] for r in model.blocks[1].rows] == [
        ["Åtgärd", "Status"], ["Bokbuss\nKommentar: Körs varje vecka.", "Pågår"]]
    assert [[c.text for c in r.cells] for r in model.blocks[2].rows] == [["Aktivitet", "Status"],
                                                                         ["Läsecirklar", "Klar"]]


def test_word_tables_shading_symbols_pictures_merges_and_tracked_changes():
    doc = read_report(CASES / "aktiviteter.docx")
    assert doc.raw[:16] == [
        "# Verksamhetsuppföljning per augusti 2025", "",
        "Nämnden följer upp sina aktiviteter tre gånger per år.", "",  # the insertion kept, the deletion gone
        "Färgförklaring: grönt – enligt plan, gult – försenad, rött – ej påbörjad.", "",
        "- Nämnden prioriterar barn och unga.", "", "- Nämnden prioriterar tillgänglighet.", "",
        "## Aktiviteter", "", "Aktivitet\tAnsvarig\tStatus\tKommentar", "**Mål 1: Fler unga deltar i kulturlivet**",
        ROW[0], ROW[1]]
    assert doc.raw[16:18] == ROW[2:4]  # a picture icon read by its colour; a word status kept as the word
    assert doc.raw[36:38] == [ROW[2].replace("Kultur", "Kultur Bibliotek"), ROW[3].replace("Bibliotek", "")]
    assert doc.furniture == ["Kultur- och fritidsnämnden – Verksamhetsuppföljning T2 2025", "SID 1 (1)"]
    assert doc.pages == []  # never laid out by Word: no page breaks recorded, so no page numbers


def test_pdf_tables_over_a_page_break_with_colours_pages_and_furniture():
    doc = read_report(CASES / "aktiviteter.pdf")
    assert doc.raw[12:18] == ["Aktivitet\tAnsvarig\tStatus\tKommentar", "**Mål 1: Fler unga deltar i kulturlivet**"] + ROW
    assert doc.raw[35:38] == [ROW[1], ROW[2].replace("Kultur", "Kultur Bibliotek"),
                              ROW[3].replace("Bibliotek", "")]  # one table, its continuation on page 2 joined
    assert sum(1 for line in doc.raw if line.startswith("Aktivitet\t")) == 1  # no header repeated
    assert [doc.page_of(n) for n in (1, 13, 27, 28, 38)] == [1, 1, 1, 2, 2]
    assert doc.furniture == ["Kultur- och fritidsnämnden – Verksamhetsuppföljning T2 2025", "SID 1 (2)",
                             "Kultur- och fritidsnämnden – Verksamhetsuppföljning T2 2025", "SID 2 (2)"]
    assert not any("SID" in line or "Verksamhetsuppföljning T2" in line for line in doc.raw)


@pytest.mark.parametrize("name", ["aktiviteter.docx", "aktiviteter.pdf"])
def test_colour_statuses_become_stated_statuses_through_the_reports_own_legend(name):
    meta, document, seg = prepare(CASES / name, {}, {})
    assert seg.legend == {"grön": "enligt plan", "gul": "försenad", "röd": "ej påbörjad"}
    first = [(u.title, u.explicit_status, u.explicit_status_source, u.status) for u in seg.units[:4]]
    assert first == [
        ("Öppna fritidsgården i Norrby på lördagar", "grön", "colour", "enligt plan"),
        ("Digitalisera bokningen av idrottshallar", "gul", "colour", "försenad"),
        ("Ta fram en plan för offentlig konst", "röd", "colour", "ej påbörjad"),  # the legend, not "röd = försenad"
        ("Utöka biblioteksfilialens öppettider", "Klar", "column", "genomförd")]
    assert len(seg.units) == 24
    pages = [(u.page_start, u.page_end) for u in seg.units]
    assert pages == ([(None, None)] * 24 if name.endswith(".docx") else [(1, 1)] * 13 + [(2, 2)] * 11)


def test_two_columns_are_read_one_after_the_other():
    doc = read_report(CASES / "tva-spalter.pdf")
    left = ("Vänsterspalten börjar här och berättar om besöksutvecklingen på biblioteken under våren, som ökade "
            "jämfört med samma period föregående år. ") * 12
    right = ("Högerspalten handlar om föreningsbidragen och hur de fördelats mellan idrott och kultur under året som "
             "gått. ") * 12
    assert [line for line in doc.raw if line] == ["# Nämndens analys", left.strip(), right.strip()]


@pytest.mark.parametrize("name, message", [
    ("skannad.pdf", "skannad.pdf: PDF:en saknar textlager (skannad bild?); OCR stöds inte – be om en textbaserad "
                    "PDF eller Word-filen"),
    ("krypterad.pdf", "krypterad.pdf: PDF:en är krypterad eller lösenordsskyddad; spara en kopia utan skydd och "
                      "läs in den"),
    ("bara-kommentar.pdf", "bara-kommentar.pdf: PDF:en innehåller bara formulärfält eller kommentarer, ingen "
                           "löptext"),
])
def test_pdfs_that_cannot_be_read_say_why_and_store_nothing(tmp_path, capsys, name, message):
    with pytest.raises(UnreadableReport) as info:
        read_report(CASES / name)
    assert str(info.value) == message
    db = tmp_path / "data"
    assert cli.main(["ingest", str(CASES / name), "--db", str(db), "--quiet"]) == 1
    assert capsys.readouterr().err.strip() == f"fel: {message}"
    assert Store.open(db).count("reports") == 0


def count_pages(n: int, progress=None) -> int:
    """A stand-in for a long PDF: reports each of its n pages."""
    for page in range(1, n + 1):
        progress(page, n)
    return n


def test_a_worker_reports_progress_and_long_files_earn_time():
    from pipeline.limits import run_limited

    seen: list[tuple[int, int]] = []
    assert run_limited(count_pages, (3,), "lång.pdf", timeout=30, progress=lambda d, t: seen.append((d, t))) == 3
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_cli_units_and_search_cite_pages_of_a_pdf(tmp_path, capsys):
    import json

    db = tmp_path / "data"
    assert cli.main(["ingest", str(CASES / "aktiviteter.pdf"), "--db", str(db), "--quiet"]) == 0
    capsys.readouterr()
    assert cli.main(["units", "--db", str(db), "--jsonl"]) == 0
    units = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(u["title"], u["page_start"], u["page_end"]) for u in (units[0], units[-1])] == [
        ("Öppna fritidsgården i Norrby på lördagar", 1, 1), ("Utöka biblioteksfilialens öppettider", 2, 2)]
    assert cli.main(["search", "offentlig konst", "--db", str(db), "--mode", "bm25", "--jsonl"]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {h["title"] for h in hits} == {"Ta fram en plan för offentlig konst"}
    assert sorted((h["line_start"], h["page_start"], h["page_end"]) for h in hits) == [
        (17, 1, 1), (21, 1, 1), (25, 1, 1), (29, 2, 2), (33, 2, 2), (37, 2, 2)]


def test_progress_is_read_from_a_progress_column_cell_or_an_html_bar(tmp_path):
    path = tmp_path / "kultur.txt"
    path.write_text("Verksamhetsuppföljning\n\nAktivitet\tStatus\tGenomförandegrad\n"
                    "Läsfrämjande insatser för unga\tPågår\t<div style=\"width: 40%; background-color: #92d050\"></div>\n"
                    "Bokbuss till byarna\tKlar\t100 %\nSommarlovsaktiviteter\tPlanerad\t\n", encoding="utf-8")
    meta, document, seg = prepare(path, {}, {})
    assert [(u.title, u.explicit_status, u.status, u.progress) for u in seg.units] == [
        ("Läsfrämjande insatser för unga", "Pågår", "enligt plan", 40),
        ("Bokbuss till byarna", "Klar", "genomförd", 100),
        ("Sommarlovsaktiviteter", "Planerad", "ej påbörjad", None)]
