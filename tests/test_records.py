"""Items as repeated records, each mechanism tested in a plain-text layout other than the generated Word/PDF
template family that motivated it (tests/fixtures/families)."""
from __future__ import annotations

from pathlib import Path

import pytest

import cli
from errors import NoUnitsFound
from pipeline.prepare import prepare

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def units_of(tmp_path: Path, text: str, name: str = "rapport.md", **kw):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    meta, document, seg = prepare(path, {}, {}, **kw)
    return seg


def summary(seg):
    return [(u.title, u.level, u.explicit_status, u.status, u.parent) for u in seg.units]


def test_headings_followed_by_a_status_line_are_records(tmp_path):
    # Motivated by Hypergene-style Word files; here a markdown export with "Läge"-less "Status:" lines.
    seg = units_of(tmp_path, "# Uppföljning\n\n## Fler unga i föreningslivet\n\nStatus: Pågår\n\n"
                             "Vi har startat två nya samarbeten.\n\n### Ta fram en föreningsstrategi\n\n"
                             "Status: Klar\n\nStrategin antogs i maj.\n\n### Se över bidragsreglerna\n\n"
                             "Arbetet har inte påbörjats.\n\n### Öppna en mötesplats i Norrby\n\nStatus: Försenad\n\n"
                             "Lokalen blev inte klar i tid.\n")
    assert summary(seg) == [
        ("Fler unga i föreningslivet", "mål", "Pågår", "enligt plan", None),
        ("Ta fram en föreningsstrategi", "åtgärd", "Klar", "genomförd", "Fler unga i föreningslivet"),
        # no status line, but its own sentence states one (the inline status mechanism)
        ("Se över bidragsreglerna", "åtgärd", "Arbetet har inte påbörjats.", "ej påbörjad",
         "Fler unga i föreningslivet"),
        ("Öppna en mötesplats i Norrby", "åtgärd", "Försenad", "försenad", "Fler unga i föreningslivet")]


def test_numbered_headings_are_records_under_their_parent_number(tmp_path):
    seg = units_of(tmp_path, "## 1 Trygg uppväxt\n\nNämndens mål för barn.\n\n### 1.1 Utöka fältarbetet\n\n"
                             "Fältarbetet pågår enligt plan.\n\n### 1.2 Inför läxhjälp\n\nUppdraget är genomfört.\n\n"
                             "## 2 Hälsa\n\nNämndens mål för hälsa.\n\n### 2.1 Ordna seniorgympa\n\n"
                             "Arbetet har inte påbörjats.\n")
    assert [(u.title, u.status, u.parent) for u in seg.units] == [
        ("1 Trygg uppväxt", None, None), ("1.1 Utöka fältarbetet", None, "1 Trygg uppväxt"),
        ("1.2 Inför läxhjälp", "genomförd", "1 Trygg uppväxt"), ("2 Hälsa", None, None),
        ("2.1 Ordna seniorgympa", "ej påbörjad", "2 Hälsa")]


def test_label_value_boxes_are_records(tmp_path):
    # Motivated by Word fact boxes; here the same as a tab export, two boxes printed as one table.
    seg = units_of(tmp_path, "Uppföljning av insatser\n\nInsats\tLäxhjälp på biblioteket\nStatus\tKlar\n"
                             "Kommentar\tLäxhjälpen har öppet två dagar i veckan.\nInsats\tBokbuss till byarna\n"
                             "Status\tPlanerad\nKommentar\tUpphandlingen startar i höst.\n", name="rutor.txt")
    assert summary(seg) == [("Läxhjälp på biblioteket", "insats", "Klar", "genomförd", None),
                            ("Bokbuss till byarna", "insats", "Planerad", "ej påbörjad", None)]


def test_an_enumerated_list_with_text_under_each_entry(tmp_path):
    seg = units_of(tmp_path, "Mål: Fler besökare i kulturhuset\n\n1) Förläng öppettiderna – klar\n\n"
                             "Kulturhuset har öppet till 21 alla vardagar.\n\n2) Starta en konsertserie (pågår)\n\n"
                             "Den första konserten hölls i september.\n\n3) Ny skyltning\n\n"
                             "Skyltarna är beställda men inte uppsatta.\n", name="lista.txt")
    assert [(u.title, u.explicit_status, u.status) for u in seg.units] == [
        ("Förläng öppettiderna", "klar", "genomförd"), ("Starta en konsertserie", "pågår", "enligt plan"),
        ("Ny skyltning", None, None)]


def test_an_item_column_after_a_number_column_and_responsible_and_date_columns_kept_out(tmp_path):
    seg = units_of(tmp_path, "Id\tInsats\tAnsvarig\tKlart senast\tStatus\tKommentar\n"
                             "1\tSommarlovsaktiviteter\tFritid\t2025-08-31\tKlar\tGenomfört med 400 deltagare.\n"
                             "2\tLovbiljett för unga\tKultur\t2025-12-31\tPågår\tSäljs från november.\n",
                   name="tabell.txt")
    assert [(u.title, u.level, u.status, u.text) for u in seg.units] == [
        ("Sommarlovsaktiviteter", "insats", "genomförd", "Genomfört med 400 deltagare."),
        ("Lovbiljett för unga", "insats", "enligt plan", "Säljs från november.")]


def test_a_layout_profile_names_items_the_vocabulary_does_not_know(tmp_path):
    text = ("Verksamhetsuppföljning T2\n\nInsatsområde 1: Läsfrämjande\n\nLäge: Pågår\n\n"
            "Redovisning: Fyra skolor deltar.\n\nInsatsområde 2: Meröppet bibliotek\n\nLäge: Klar\n\n"
            "Redovisning: Meröppet sedan april.\n")
    profile = tmp_path / "profil.toml"
    profile.write_text('name = "Kultur"\n[items]\nheading = \'^Insatsområde \\d+:\'\nlevel = "insats"\n'
                       '[labels]\nstatus = ["läge"]\ncomment = ["redovisning"]\n', encoding="utf-8")
    with pytest.raises(NoUnitsFound):
        units_of(tmp_path, text, name="utan.txt")
    seg = units_of(tmp_path, text, name="med.txt", layout=str(profile))
    assert summary(seg) == [("Insatsområde 1: Läsfrämjande", "insats", "Pågår", "enligt plan", None),
                            ("Insatsområde 2: Meröppet bibliotek", "insats", "Klar", "genomförd", None)]
    assert seg.notes == [f"layoutprofil: Kultur ({profile})"]


def test_far_fewer_items_than_stated_statuses_is_warned(tmp_path):
    rows = "".join(f"åtgärd nummer {k} med liten bokstav\tPågår\n" for k in range(8))
    seg = units_of(tmp_path, "Åtgärd\tStatus\nInför nattis\tKlar\nÖppna lekplats\tPågår\n" + rows, name="glest.txt")
    assert len(seg.units) == 2
    assert seg.notes == ["obs: bara 2 poster hittades men rapporten anger status 10 gånger; kontrollera med "
                         "`python cli.py ingest --explain glest.txt` eller skriv en layoutprofil (se layouts/)"]


def test_no_items_names_the_pages_with_text_and_what_to_try(tmp_path, capsys):
    pdf = FIXTURES / "render" / "cases" / "tva-spalter.pdf"
    assert cli.main(["ingest", str(pdf), "--db", str(tmp_path / "data"), "--quiet"]) == 1
    assert capsys.readouterr().err.strip() == (
        "fel: tva-spalter.pdf: inga uppföljda poster (åtgärder, uppdrag, mål) hittades; text finns på sidorna 1; "
        "pröva `python cli.py ingest --explain tva-spalter.pdf` eller en layoutprofil (--layout FIL, se "
        "layouts/exempel.toml)")


def test_explain_prints_templates_and_uncovered_pages(capsys):
    assert cli.main(["ingest", "--explain", str(FIXTURES / "render" / "cases" / "aktiviteter.pdf")]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "aktiviteter.pdf: 24 poster (pdf, 41 rader, 2 sidor)", "  postmallar:",
        "    tabellrader: 24 st, t.ex. s. 1: 'Öppna fritidsgården i Norrby på lördagar'",
        "  sidor med löptext men utan poster: 1", "  angivna statusar i texten: 24"]


def test_headings_ending_in_their_status(tmp_path):
    # Motivated by numbered Word headings; here markdown headings with a dash and a parenthesis.
    seg = units_of(tmp_path, "# Fritid\n\n## Utöka simskolan – Klar\n\nTre nya grupper startade i juni.\n\n"
                             "## Renovera spontanidrottsplatsen (försenad)\n\nEntreprenören har inte börjat.\n\n"
                             "## Inför lovaktiviteter – pågår\n\nFörsta lovet genomfördes i oktober.\n")
    assert [(u.title, u.explicit_status, u.status) for u in seg.units] == [
        ("Utöka simskolan", "Klar", "genomförd"), ("Renovera spontanidrottsplatsen", "försenad", "försenad"),
        ("Inför lovaktiviteter", "pågår", "enligt plan")]


def test_rows_shaded_in_their_status_colour_under_bold_goal_rows():
    # Motivated by Word tables whose title cells are shaded; here a hand-made model (as any reader would fill it).
    from nlp.document import TABLE, Block, Cell, DocModel, Row, linearize
    from nlp.reader import make_document
    from nlp.segmenter import segment

    model = DocModel("k.pdf", "pdf", blocks=[
        Block("paragraph", "Färgförklaring: grönt – enligt plan, rött – försenad."),
        Block(TABLE, rows=[Row([Cell("Insats", bold=True), Cell("Kommentar", bold=True)], header=True),
                           Row([Cell("Mål 1: Fler läser", bold=True, fill="grön")], group=True),
                           Row([Cell("Bokbuss till byarna", fill="grön"), Cell("Bussen går varje vecka.")]),
                           Row([Cell("Läsecirklar för unga", fill="röd"), Cell("Ledaren slutade i maj.")])])])
    lines = linearize(model)
    assert lines.raw[2:6] == ["Insats\tKommentar", "Mål 1: Fler läser\tgrön",
                              "Bokbuss till byarna\tBussen går varje vecka.\tgrön",
                              "Läsecirklar för unga\tLedaren slutade i maj.\tröd"]
    document = make_document("k.pdf", "\n".join(lines.raw), "pdf", "x")
    seg = segment(document)
    assert [(u.title, u.explicit_status, u.parent) for u in seg.units] == [
        ("Mål 1: Fler läser", "grön", None), ("Bokbuss till byarna", "grön", "Mål 1: Fler läser"),
        ("Läsecirklar för unga", "röd", "Mål 1: Fler läser")]


def test_a_store_with_a_column_this_version_does_not_know_still_reads(tmp_path):
    from tests.conftest import build_review_store

    store = build_review_store(tmp_path / "data")
    before = store.units()
    store.conn.execute("ALTER TABLE units ADD COLUMN written_by_a_newer_version REAL")
    store.conn.execute("UPDATE units SET written_by_a_newer_version = 1.5")
    assert store.units() == before
    store.close()
