"""Report identity by content and metadata, not by file name; decisions follow their item into a new version.

Same-named files from two folders, the same stem with two suffixes, a copy of a stored file, a new version from
another folder, an edited title and a removed item, each ingested through `ingest_paths` as a user would.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import cli
from index.store import Store
from pipeline.ingest import ingest_paths
from pipeline.prepare import prepare
from records import Decision

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "reports"
UPPSALA = FIXTURES / "uppsala-tabbad-2024-08.txt"
HUDIKSVALL = FIXTURES / "hudiksvall-markdown-2023-08.txt"
KEPT_TITLE = "4. Stärka kompetensförsörjningen och säkerställa ett hållbart arbetsliv"
EDITED_TITLE = "4. Stärka kompetensförsörjningen och säkra ett hållbart arbetsliv"
DROPPED_TITLE = "11. Öka valdeltagandet i områden med lågt valdeltagande."
META = {"kommun": "Uppsala", "namnd": "Omsorgsnämnden", "year": 2024, "period": "augusti"}


@pytest.fixture
def hash_model(monkeypatch):
    import index.embeddings
    import index.indexes
    from tests.conftest import HashEmbedder

    monkeypatch.setattr(index.embeddings.Embedder, "load", classmethod(lambda cls, *a, **k: HashEmbedder()))
    monkeypatch.setattr(index.indexes, "_EMBEDDERS", {})
    monkeypatch.delenv(index.indexes.MODEL_ENV, raising=False)


def put(source: Path, dest: Path, text: str | None = None) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if text is None:
        shutil.copy(source, dest)
    else:
        dest.write_text(text, encoding="utf-8")
    return dest


def units_of(path: Path) -> int:
    return len(prepare(path, {}, {})[2].units)


def test_same_name_from_two_folders_are_two_reports(tmp_path, hash_model):
    a = put(UPPSALA, tmp_path / "a" / "rapport.txt")
    b = put(HUDIKSVALL, tmp_path / "b" / "rapport.txt")
    db = tmp_path / "data"
    summary = ingest_paths([a, b], db_dir=db, progress=False)
    assert summary.errors == [] and summary.reports == 2 and len(summary.ingested) == 2
    store = Store.open(db)
    by_path = {r["path"]: r for r in store.reports()}
    assert sorted(by_path) == sorted([str(a.resolve()), str(b.resolve())])
    first, second = by_path[str(a.resolve())], by_path[str(b.resolve())]
    assert first["doc"] == "rapport.txt" and re.fullmatch(r"rapport~[0-9a-f]{6}\.txt", second["doc"])
    assert first["file"] == second["file"] == "rapport.txt"
    assert (first["kommun"], second["kommun"]) == (None, "Hudiksvall")
    assert len(store.units(first["doc"])) == units_of(a) and len(store.units(second["doc"])) == units_of(b)
    assert all(u.id.startswith(second["doc"] + "#u") for u in store.units(second["doc"]))
    assert f"rapport.txt: en annan rapport med samma filnamn finns redan; den här sparas som {second['doc']}" \
        in summary.warnings
    again = ingest_paths([a, b], db_dir=db, progress=False)  # nothing changed: nothing is read again
    assert again.ingested == [] and again.unchanged == ["rapport.txt", "rapport.txt"] and again.reports == 2
    store.close()


def test_the_same_stem_with_two_suffixes_is_two_reports(tmp_path, hash_model):
    txt = put(UPPSALA, tmp_path / "rapport.txt")
    md = put(HUDIKSVALL, tmp_path / "rapport.md")
    db = tmp_path / "data"
    summary = ingest_paths([txt, md], db_dir=db, progress=False)
    assert summary.errors == [] and sorted(summary.ingested) == ["rapport.md", "rapport.txt"]
    store = Store.open(db)
    ids = {doc: {u.id for u in store.units(doc)} for doc in ("rapport.txt", "rapport.md")}
    assert not ids["rapport.txt"] & ids["rapport.md"]
    assert (len(ids["rapport.txt"]), len(ids["rapport.md"])) == (units_of(txt), units_of(md))
    store.close()


def test_a_copy_in_another_folder_is_the_stored_report(tmp_path, hash_model):
    a = put(UPPSALA, tmp_path / "a" / "rapport.txt")
    b = put(UPPSALA, tmp_path / "b" / "rapport.txt")
    db = tmp_path / "data"
    assert ingest_paths([a], db_dir=db, progress=False).ingested == ["rapport.txt"]
    summary = ingest_paths([b], db_dir=db, progress=False)
    assert summary.ingested == [] and summary.unchanged == ["rapport.txt"] and summary.reports == 1


def test_a_renamed_copy_is_the_stored_report_and_keeps_its_decisions(tmp_path, hash_model):
    first = put(UPPSALA, tmp_path / "delår-omsorg.txt")
    db = tmp_path / "data"
    ingest_paths([first], db_dir=db, progress=False)
    store = Store.open(db)
    unit = store.units("delår-omsorg.txt")[3]
    store.add_decision(Decision("unit_status", unit.id, unit.doc, "Anna", "correct", None, "försenad"))
    store.close()
    renamed = put(UPPSALA, tmp_path / "ny" / "Omsorgsnämnden delårsrapport.txt")
    summary = ingest_paths([renamed], db_dir=db, progress=False)
    assert (summary.ingested, summary.unchanged, summary.reports) == ([], ["Omsorgsnämnden delårsrapport.txt"], 1)
    assert summary.warnings == ["Omsorgsnämnden delårsrapport.txt: samma innehåll som den redan inlästa "
                                "delår-omsorg.txt; inte inläst igen"]
    # An upload or a metadata override goes through place(): the same content is the same report there too.
    from pipeline.identity import place

    meta, document, _ = prepare(renamed, {}, {})
    store = Store.open(db)
    assert place(store, renamed, meta, document).doc == "delår-omsorg.txt"
    assert store.current_decisions("unit_status")[unit.id].new_value == "försenad"
    store.close()


def test_the_same_bytes_given_another_kommun_are_another_report(tmp_path, hash_model):
    first = put(UPPSALA, tmp_path / "delår-omsorg.txt")
    db = tmp_path / "data"
    ingest_paths([first], db_dir=db, progress=False, overrides=META)
    other = put(UPPSALA, tmp_path / "ny" / "testkommun.txt")
    summary = ingest_paths([other], db_dir=db, progress=False, overrides=META | {"kommun": "Testkommun"})
    assert (summary.ingested, summary.reports) == (["testkommun.txt"], 2)


def test_a_new_version_replaces_its_report_and_decisions_follow_their_items(tmp_path, hash_model, capsys):
    v1 = put(UPPSALA, tmp_path / "april" / "rapport.txt")
    text = UPPSALA.read_text(encoding="utf-8").replace(KEPT_TITLE, EDITED_TITLE)
    text = text.replace(DROPPED_TITLE, "Inget motsvarande uppdrag finns kvar i den här versionen.")
    v2 = put(UPPSALA, tmp_path / "augusti" / "rapport.txt", text)
    db = tmp_path / "data"
    assert ingest_paths([v1], db_dir=db, overrides=META, progress=False).errors == []
    store = Store.open(db)
    kept = next(u for u in store.units("rapport.txt") if u.title == KEPT_TITLE)
    dropped = next(u for u in store.units("rapport.txt") if u.title == DROPPED_TITLE)
    for unit, value in ((kept, "försenad"), (dropped, "genomförd")):
        store.add_decision(Decision("unit_status", unit.id, "rapport.txt", "Cecilia", "correct", None, value))

    summary = ingest_paths([v2], db_dir=db, overrides=META, progress=False)
    assert summary.errors == [] and summary.ingested == ["rapport.txt"] and summary.reports == 1
    assert store.report("rapport.txt")["path"] == str(v2.resolve())
    edited = next(u for u in store.units("rapport.txt") if u.title == EDITED_TITLE)
    assert edited.id != kept.id
    current = store.current_decisions("unit_status")
    assert current[edited.id].new_value == "försenad" and kept.id not in current
    assert current[dropped.id].new_value == "genomförd"  # kept, and reported: its item is gone
    assert "rapport.txt: 1 granskningsbeslut följde med sina poster till den nya versionen" in summary.warnings
    assert any(f"på posten {dropped.id}" in line for line in summary.warnings)
    assert any(line.startswith("rapport.txt: ny version av rapport.txt") for line in summary.warnings)
    store.close()


def test_remove_by_the_path_a_report_was_read_from(tmp_path, hash_model, capsys):
    a = put(UPPSALA, tmp_path / "a" / "rapport.txt")
    b = put(HUDIKSVALL, tmp_path / "b" / "rapport.txt")
    db = tmp_path / "data"
    assert ingest_paths([a, b], db_dir=db, progress=False).errors == []
    store = Store.open(db)
    second = next(r["doc"] for r in store.reports() if r["path"] == str(b.resolve()))
    store.close()
    assert cli.main(["remove", str(b), "--db", str(db)]) == 0
    assert capsys.readouterr().out.strip() == f"borttagen: {second}"
    store = Store.open(db)
    assert [r["doc"] for r in store.reports()] == ["rapport.txt"]
    store.close()
