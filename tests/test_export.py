"""Exports (pipeline.export): whole rows, CSV and Excel round trips, formula-safe cells, CLI entry point."""
from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

import cli
from errors import ToolError, UnknownChoice
from pipeline import export, review
from records import Hit
from tests.conftest import HOSTILE_LINE, build_review_store


def read_csv(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # BOM: Excel must read åäö as UTF-8
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))


def read_xlsx(data: bytes) -> list[list[object]]:
    ws = load_workbook(io.BytesIO(data)).active
    return [list(r) for r in ws.iter_rows(values_only=True)]


def test_unit_rows_carry_report_meta_status_sources_and_decisions(review_store):
    review.decide_status(review_store, "a#u2", "Anna", "correct", "genomförd")
    rows = {r["id"]: r for r in export.unit_rows(review_store)}
    assert len(rows) == 6
    assert rows["a#u2"] == {
        "id": "a#u2", "fil": "a.txt", "kommun": "Uppsala", "nämnd": "Omsorgsnämnden", "år": 2024,
        "period": "augusti", "nivå": "uppdrag", "överordnad": None, "titel": "2. Införa nytt larmsystem",
        "rad_från": 6, "rad_till": 8, "sida_från": None, "sida_till": None, "angiven_status_ordagrant": None, "angiven_status_källa": None,
        "angiven_status": None, "föreslagen_status": "försenad", "säkerhet": 0.81,
        "belägg": "rad 7: Upphandlingen är försenad och beräknas klar 2025.", "granskad_status": "genomförd",
        "granskare": "Anna", "granskad_tid": rows["a#u2"]["granskad_tid"], "gällande_status": "genomförd",
        "gällande_status_källa": "granskad", "teman": "Trygghet",
        "text": "Upphandlingen är försenad och beräknas klar 2025.\n" + HOSTILE_LINE,
    }
    assert (rows["a#u1"]["gällande_status"], rows["a#u1"]["gällande_status_källa"]) == ("genomförd", "angiven")
    assert (rows["b#u2"]["gällande_status"], rows["b#u2"]["granskare"]) == (None, None)


def test_flag_rows_with_decision_and_evidence(review_store):
    review.decide_flag(review_store, "fl-b1", "Bo", "dismiss", "inte ett problem")
    rows = {r["id"]: r for r in export.flag_rows(review_store)}
    assert rows["fl-b1"] == {
        "id": "fl-b1", "typ": "overdue", "typ_namn": "Passerat slutdatum", "fil": "b.txt", "kommun": "Hudiksvall",
        "nämnd": "Socialnämnden", "år": 2023, "rad": 9, "sida": None, "allvar": "medel", "poäng": 0.6,
        "meddelande": "Slutdatum passerat", "belägg": "rad 10: Processen har startat men ligger efter.",
        "poster": "b#u3", "beslut": "avfärdad", "granskare": "Bo", "kommentar": "inte ett problem",
        "beslutstid": rows["fl-b1"]["beslutstid"],
    }
    assert rows["fl-a1"]["beslut"] is None


def test_decision_rows_are_the_full_audit_trail(review_store):
    did = review.decide_status(review_store, "a#u3", "Anna", "accept")
    review.undo(review_store, did, "Bo")
    rows = export.decision_rows(review_store)
    assert [(r["id"], r["granskare"], r["beslut"], r["gammalt_värde"], r["nytt_värde"], r["ångrat"])
            for r in rows] == [(did, "Anna", "accept", "enligt plan", "enligt plan", "ja"),
                               (did + 1, "Bo", "undo", "enligt plan", "enligt plan", "ja")]
    assert rows[0]["kommun"] == "Uppsala" and rows[1]["kommentar"] == f"ångrar beslut {did}"


def hit(**kw) -> Hit:
    base = dict(passage_id="p1", unit_id="a#u2", doc="a.txt", kommun="Uppsala", namnd="Omsorgsnämnden", year=2024,
                title="2. Införa nytt larmsystem", line_start=6, line_end=8, snippet="…försenad…", score=0.0328,
                lexical_rank=1, dense_rank=None, matched_terms=[], level="uppdrag", status=None,
                suggested_status="försenad", themes=["trygghet", "digitalisering"])
    return Hit(**{**base, **kw})


def test_hit_rows():
    rows = export.hit_rows([hit(), hit(passage_id="p2", lexical_rank=None, dense_rank=3, kommun="Hudiksvall")])
    assert rows[0] == {"rang": 1, "kommun": "Uppsala", "nämnd": "Omsorgsnämnden", "år": 2024, "fil": "a.txt",
                       "rad_från": 6, "rad_till": 8, "sida_från": None, "sida_till": None, "nivå": "uppdrag", "titel": "2. Införa nytt larmsystem",
                       "utdrag": "…försenad…", "poäng": 0.0328, "ordträff": "ja", "betydelseträff": "nej",
                       "angiven_status": None, "föreslagen_status": "försenad",
                       "teman": "trygghet, digitalisering", "post_id": "a#u2", "passage_id": "p1"}
    assert (rows[1]["rang"], rows[1]["ordträff"], rows[1]["betydelseträff"]) == (2, "nej", "ja")


@pytest.mark.parametrize("what", ["units", "flags", "decisions"])
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_round_trip_keeps_every_row_and_column(review_store, what, fmt):
    review.decide_flag(review_store, "fl-a1", "Åsa Öberg", "confirm", "Ärendet är <b>allvarligt</b>")
    rows = export.table_rows(review_store, what)
    data = export.to_bytes(rows, fmt, sheet=what)
    if fmt == "csv":
        back = read_csv(data)
        assert [list(r) for r in back][0] == list(rows[0])
        assert len(back) == len(rows)
        assert [r["id"] for r in back] == [str(r["id"]) for r in rows]
    else:
        back = read_xlsx(data)
        assert back[0] == list(rows[0])
        assert len(back) == len(rows) + 1
        assert [r[0] for r in back[1:]] == [r["id"] for r in rows]


HOSTILE_CELLS = ["=HYPERLINK(\"http://x\",\"klicka\")", "+1+2", "@SUM(A1)", "-cmd|' /C calc'!A0", "\tTAB"]


@pytest.mark.parametrize("value", HOSTILE_CELLS)
def test_formulas_are_never_written_as_formulas(value):
    rows = [{"id": 1, "text": value}]
    assert read_csv(export.to_csv_bytes(rows))[0]["text"] == "'" + value
    [header, row] = read_xlsx(export.to_xlsx_bytes(rows))
    assert row == [1, value]  # kept verbatim, stored as a string (openpyxl reads back the text, not a formula)
    from openpyxl import load_workbook as lw

    cell = lw(io.BytesIO(export.to_xlsx_bytes(rows))).active["B2"]
    assert cell.data_type == "s"


@pytest.mark.parametrize("value, expected", [("-5", "-5"), ("- punkt", "- punkt"), ("Vanlig text", "Vanlig text"),
                                             ("", "")])
def test_ordinary_values_are_untouched(value, expected):
    assert read_csv(export.to_csv_bytes([{"t": value}]))[0]["t"] == expected


def test_xlsx_drops_control_characters_and_caps_huge_cells():
    rows = [{"a": "före\x00\x07efter", "b": "x" * 40_000, "c": HOSTILE_LINE, "d": None, "e": 3.5}]
    [_, row] = read_xlsx(export.to_xlsx_bytes(rows))
    assert row[0] == "föreefter"
    assert len(row[1]) == export.XLSX_CELL_MAX and row[1].endswith("…")
    assert row[2:] == [HOSTILE_LINE, None, 3.5]


@pytest.mark.parametrize("what", ["units", "flags", "decisions", "hits"])
def test_empty_tables_export_as_header_only_files(tmp_path, what):
    from index.store import Store

    store = Store.open(tmp_path, create=True)
    rows = export.table_rows(store, what)
    store.close()
    assert rows == []
    header = ";".join(export.COLUMNS[what]) + "\r\n"
    assert export.to_bytes(rows, "csv", sheet=what) == b"\xef\xbb\xbf" + header.encode()
    assert read_xlsx(export.to_bytes(rows, "xlsx", sheet=what)) == [export.COLUMNS[what]]


def test_row_builders_follow_the_declared_columns(review_store):
    review.decide_status(review_store, "a#u2", "Anna", "accept")
    review.decide_flag(review_store, "fl-a1", "Anna", "confirm")
    for what in ("units", "flags", "decisions"):
        assert list(export.table_rows(review_store, what)[0]) == export.COLUMNS[what]
    assert list(export.hit_rows([hit()])[0]) == export.COLUMNS["hits"]


@pytest.mark.parametrize("what, suffix", [("units", ".csv"), ("flags", ".xlsx"), ("decisions", ".csv")])
def test_cli_export_writes_the_file(tmp_path, capsys, what, suffix):
    store = build_review_store(tmp_path / "db")
    review.decide_status(store, "a#u2", "Anna", "accept")
    expected = len(export.table_rows(store, what))
    store.close()
    out = tmp_path / "ut" / f"tabell{suffix}"
    assert cli.main(["export", what, str(out), "--db", str(tmp_path / "db")]) == 0
    assert capsys.readouterr().out.strip() == f"skrev {out}"
    data = out.read_bytes()
    n = len(read_csv(data)) if suffix == ".csv" else len(read_xlsx(data)) - 1
    assert n == expected and n > 0
    assert not list(out.parent.glob("*.tmp"))


@pytest.mark.parametrize("args, match", [
    (["units", "x.pdf"], "filändelse"),
    (["people", "x.csv"], "tabell"),
    (["units", "x"], "filändelse"),
])
def test_export_refuses_bad_table_or_suffix(tmp_path, args, match):
    build_review_store(tmp_path / "db").close()
    with pytest.raises(UnknownChoice, match=match):
        export.export_table(args[0], tmp_path / args[1], db_dir=tmp_path / "db")
    assert not (tmp_path / args[1]).exists()


def test_hits_export_needs_a_query(tmp_path):
    build_review_store(tmp_path / "db").close()
    with pytest.raises(ToolError, match="sökfråga"):
        export.export_table("hits", tmp_path / "h.csv", db_dir=tmp_path / "db", query="   ")


def test_to_bytes_unknown_format():
    with pytest.raises(UnknownChoice, match="filformat"):
        export.to_bytes([], "pdf")


def test_status_summary_counts_by_source(review_store):
    review.decide_status(review_store, "a#u2", "Anna", "correct", "genomförd")
    rows = export.status_summary(review_store)
    got = {(r["rapport"], r["källa"], r["status"]): r["antal"] for r in rows}
    assert got == {
        ("Uppsala – Omsorgsnämnden 2024", "Angiven i rapporten", "genomförd"): 1,
        ("Uppsala – Omsorgsnämnden 2024", "Granskad", "genomförd"): 1,
        ("Uppsala – Omsorgsnämnden 2024", "Förslag (ej angiven)", "enligt plan"): 1,
        ("Hudiksvall – Socialnämnden 2023", "Förslag (ej angiven)", "genomförd"): 1,
        ("Hudiksvall – Socialnämnden 2023", "Förslag (ej angiven)", "försenad"): 1,
        ("Hudiksvall – Socialnämnden 2023", "Ingen status", "ingen status"): 1,
    }
    assert {r["rapport"] for r in export.status_summary(review_store, years=[2023])} == {
        "Hudiksvall – Socialnämnden 2023"}
    assert export.status_summary(review_store, years=[1999]) == []


def test_theme_and_flag_summaries(review_store):
    assert export.theme_summary(review_store) == [
        {"kommun": "Hudiksvall", "tema": "Kompetensförsörjning", "antal": 1, "andel": round(1 / 3, 4)},
        {"kommun": "Uppsala", "tema": "Trygghet", "antal": 1, "andel": round(1 / 3, 4)},
    ]
    review.decide_flag(review_store, "fl-b1", "Anna", "dismiss")
    assert export.flag_summary(review_store) == [
        {"rapport": "Hudiksvall – Socialnämnden 2023", "fil": "b.txt", "typ": "duplicate_text",
         "typ_namn": "Kopierad text", "antal": 1, "öppna": 1},
        {"rapport": "Hudiksvall – Socialnämnden 2023", "fil": "b.txt", "typ": "overdue",
         "typ_namn": "Passerat slutdatum", "antal": 1, "öppna": 0},
        {"rapport": "Uppsala – Omsorgsnämnden 2024", "fil": "a.txt", "typ": "status_text_conflict",
         "typ_namn": "Status motsäger texten", "antal": 1, "öppna": 1},
    ]


def test_csv_opens_in_swedish_excel_and_xlsx_is_ready_to_filter():
    rows = [{"id": "a#u1", "säkerhet": 0.81, "antal": 3, "granskad_tid": "2026-11-27T09:30:00+00:00", "text": "a;b"}]
    assert export.to_csv_bytes(rows).decode("utf-8-sig") == (
        "id;säkerhet;antal;granskad_tid;text\r\na#u1;0,81;3;2026-11-27T09:30:00+00:00;\"a;b\"\r\n")
    ws = load_workbook(io.BytesIO(export.to_xlsx_bytes(rows))).active
    assert (ws.auto_filter.ref, ws.freeze_panes) == ("A1:E2", "A2")
    stamp = ws["D2"]
    assert (stamp.is_date, stamp.number_format) == (True, "yyyy-mm-dd hh:mm")
    from datetime import datetime, timezone

    assert stamp.value == datetime(2026, 11, 27, 9, 30, tzinfo=timezone.utc).astimezone().replace(tzinfo=None)
    assert ws["B2"].value == 0.81 and ws.column_dimensions["A"].width == 10
