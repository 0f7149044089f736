"""Bad input: one clear line naming the file and the cause, exit code != 0, nothing already stored changes."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import cli
from pipeline.prepare import prepare
from index.store import Store
from records import Decision
from tests.test_reader import minimal_pdf

FIXTURES = Path(__file__).parent / "fixtures" / "reports"


@pytest.fixture
def stored(ingested_fixture_dir, tmp_path):
    """A private copy of the fixture store (indexes included) holding one reviewer decision."""
    db = tmp_path / "db"
    shutil.copytree(ingested_fixture_dir, db)
    store = Store.open(db)
    unit = store.units()[0]
    store.add_decision(Decision("unit_status", unit.id, unit.doc, "Anna", "accept", None, "försenad"))
    store.close()
    return db


def snapshot(db: Path) -> dict[str, list[tuple]]:
    store = Store.open(db)
    out = {t: sorted(tuple(r) for r in store.conn.execute(f"SELECT * FROM {t}").fetchall())
           for t in ("reports", "passages", "units", "decisions", "lines")}
    store.close()
    return out


def make_bad(kind: str, folder: Path) -> Path:
    if kind == "empty":
        p = folder / "tom.txt"
        p.write_bytes(b"")
    elif kind == "binary":
        p = folder / "skrap.txt"
        p.write_bytes(bytes(range(256)) * 40)
    elif kind == "pdf_no_text":
        p = folder / "skannad.pdf"
        p.write_bytes(minimal_pdf([]))
    elif kind == "cp1252":
        p = folder / "latin.txt"
        p.write_bytes("Uppdrag\tStatus\nMinska sjukfrånvaron\tPågår\n".encode("cp1252"))
    elif kind == "huge":
        p = folder / "stor.txt"
        with p.open("wb") as fh:
            fh.seek(50 * 1024 * 1024)
            fh.write(b"\n")
    elif kind == "no_units":
        p = folder / "inga-poster.txt"
        p.write_text("Ekonomi\n\nNämnden redovisar ett överskott på 13 miljoner kronor för perioden.\n", encoding="utf-8")
    elif kind == "control_name":
        p = folder / "rapport\x07.txt"
        p.write_text("Uppdrag\tStatus\nMinska sjukfrånvaron\tPågår\n", encoding="utf-8")
    elif kind == "broken_docx":
        p = folder / "trasig.docx"
        p.write_bytes(b"PK\x03\x04 inte en riktig zip")
    elif kind == "unknown_suffix":
        p = folder / "tabell.xlsx"
        p.write_bytes(b"PK\x03\x04")
    return p


CAUSES = {
    "empty": "filen är tom",
    "binary": "filen är binär",
    "pdf_no_text": "saknar textlager",
    "cp1252": "inte UTF-8 (teckenkodning cp1252/latin-1)",
    "huge": "filen är för stor",
    "no_units": "inga uppföljda poster",
    "control_name": "filnamnet innehåller styrtecken",
    "broken_docx": "Word-filen kunde inte läsas",
    "unknown_suffix": "okänd filtyp .xlsx",
}


@pytest.mark.parametrize("kind", sorted(CAUSES))
def test_bad_file_gives_one_line_and_changes_nothing(kind, stored, tmp_path, capsys):
    before = snapshot(stored)
    bad = make_bad(kind, tmp_path)
    rc = cli.main(["ingest", str(bad), "--db", str(stored), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0
    assert len(err) == 1
    assert err[0].startswith("fel: ")
    assert CAUSES[kind] in err[0]
    assert (bad.name if kind != "control_name" else "rapport") in err[0]
    assert snapshot(stored) == before


def test_cp1252_can_be_read_when_asked(tmp_path):
    bad = make_bad("cp1252", tmp_path)
    _, doc, seg = prepare(bad, {}, {}, encoding="cp1252")
    assert [(u.title, u.explicit_status) for u in seg.units] == [("Minska sjukfrånvaron", "Pågår")]


def test_odd_but_valid_file_name_is_fine(tmp_path):
    odd = tmp_path / "Rapport (ny) åäö #1 – delår.txt"
    shutil.copy(FIXTURES / "uppsala-statusord-2019-08.txt", odd)
    meta, doc, seg = prepare(odd, {}, {})
    assert doc.file == odd.name and len(seg.units) == 5
    assert all(u.id.startswith("Rapport (ny) åäö #1 – delår.txt#u") for u in seg.units)


def test_missing_store_is_a_clear_message(tmp_path, capsys):
    rc = cli.main(["units", "--db", str(tmp_path / "finns-inte"), "--jsonl"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err == f"fel: ingen databas i {tmp_path / 'finns-inte'} Kör `python cli.py ingest` först."
