"""Uploads (pipeline.upload): safe file names, pending copies, and all-or-nothing ingest with roll-back."""
from __future__ import annotations

from pathlib import Path

import pytest

from errors import ToolError, UnreadableReport
from pipeline import upload
from index.store import Store

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "reports"


@pytest.mark.parametrize("name, expected", [
    ("rapport.txt", "rapport.txt"),
    ("../../etc/passwd.txt", "passwd.txt"),
    ("/abs/path/rapport.md", "rapport.md"),
    ("C:\\Users\\Åsa\\Delår 2024.PDF", "Delår-2024.pdf"),
    ("Årsrapport för Älvsbyn 2024.docx", "Årsrapport-för-Älvsbyn-2024.docx"),
    ("\x00ond\nfil\t.txt", "ondfil.txt"),
    (".dold.txt", "dold.txt"),
    ("<script>alert(1)</script>.md", "script.md"),  # '/' in '</script>' is a directory separator
    ("<b>fet</b>", "b"),
    ("a;b|c&d$(e).txt", "a-b-c-d-e.txt"),
    ("nämnd__rapport--2024.txt", "nämnd__rapport-2024.txt"),
    ("utan-ändelse", "utan-ändelse"),
    ("e\u0301-nfd.txt", "\u00e9-nfd.txt"),
    ("x" * 300 + ".txt", "x" * 120 + ".txt"),
])
def test_sanitise_filename(name, expected):
    assert upload.sanitise_filename(name) == expected


@pytest.mark.parametrize("name", ["", "....txt", "../", "\x00\x01.md", "   ", "---.pdf"])
def test_names_without_usable_characters_are_refused(name):
    with pytest.raises(UnreadableReport, match="filnamnet"):
        upload.sanitise_filename(name)


def test_save_pending_stays_inside_the_uploads_folder(tmp_path):
    path = upload.save_pending(tmp_path, "../../../utanför.txt", b"text")
    assert path == tmp_path / "uploads" / ".pending" / "utanför.txt"
    assert path.read_bytes() == b"text"
    assert not (tmp_path.parent / "utanför.txt").exists()


def test_discard_only_removes_pending_files(tmp_path):
    kept = tmp_path / "uploads" / "kvar.txt"
    kept.parent.mkdir(parents=True)
    kept.write_text("x")
    upload.discard(kept)
    assert kept.exists()
    pending = upload.save_pending(tmp_path, "bort.txt", b"x")
    upload.discard(pending)
    assert not pending.exists()


def test_preview_reads_meta_and_items_for_the_form(tmp_path):
    path = upload.save_pending(tmp_path, "h.md", (FIXTURES / "hudiksvall-markdown-2023-08.txt").read_bytes())
    found = upload.preview(path)
    meta = found.meta
    assert (meta.file, meta.kommun, meta.namnd, meta.year, meta.period) == (
        "h.md", "Hudiksvall", "Social- och omsorgsnämnden", 2023, None)
    assert [(i["Titel"][:40], i["Var"], i["Angiven status"]) for i in found.items] == [
        ("Kommunfullmäktiges verksamhetsmål: Minsk", "rad 14", "Delvis uppfyllt"),
        ("Kunderna ska känna trygghet och förtroen", "rad 27", "I hög grad uppfyllt"),
        ("Revidering av värdighetsgarantierna", "rad 34", "Ej påbörjad"),
        ("Utvärdera de sociala träffpunkterna", "rad 38", "Klar")]
    assert found.warnings == []


def test_unreadable_upload_leaves_nothing(tmp_path):
    store = Store.open(tmp_path, create=True)
    pending = upload.save_pending(tmp_path, "bin.txt", b"\x00\xff" * 50)
    with pytest.raises(UnreadableReport, match="binär"):
        upload.ingest_upload(store, pending, {})
    assert store.reports() == [] and not pending.exists()
    assert not (tmp_path / "uploads" / "bin.txt").exists()
    store.close()


def test_failure_after_storing_rolls_back_a_new_report(app_data_dir, monkeypatch):
    import pipeline.ingest

    store = Store.open(app_data_dir)
    before = [(r["doc"], r["sha256"]) for r in store.reports()]
    units_before = store.count("units")

    def broken(store, docs, progress=False):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pipeline.ingest, "derive", broken)
    pending = upload.save_pending(app_data_dir, "ny.md", (FIXTURES / "hudiksvall-markdown-2023-08.txt").read_bytes())
    with pytest.raises(ToolError, match="inläsningen avbröts.*inget sparades"):
        upload.ingest_upload(store, pending, {"kommun": "Testby"})
    assert [(r["doc"], r["sha256"]) for r in store.reports()] == before
    assert store.count("units") == units_before
    assert not (app_data_dir / "uploads" / "ny.md").exists() and not pending.exists()
    store.close()


def test_failure_when_replacing_restores_the_old_report(app_data_dir, monkeypatch):
    import pipeline.ingest

    store = Store.open(app_data_dir)
    doc = "uppsala-tabbad-2024-08.txt"
    old = store.report(doc)
    old_units = [u.id for u in store.units(doc)]
    real_derive = pipeline.ingest.derive
    calls = []

    def fails_once(store, docs, progress=False):
        calls.append(docs)
        if len(calls) == 1:
            raise RuntimeError("avbrott")
        return real_derive(store, docs, progress)

    monkeypatch.setattr(pipeline.ingest, "derive", fails_once)
    # A new version: the same name, kommun, nämnd, year and period, other text.
    newer = (FIXTURES / doc).read_text(encoding="utf-8").replace("Andelen inhyrd personal har minskat.",
                                                                 "Andelen inhyrd personal har halverats.")
    pending = upload.save_pending(app_data_dir, doc, newer.encode("utf-8"))
    with pytest.raises(ToolError, match="avbröts"):
        upload.ingest_upload(store, pending, {"kommun": old["kommun"]})
    assert [r["doc"] for r in store.reports_named(doc)] == [doc]
    restored = store.report(doc)
    assert (restored["sha256"], restored["kommun"], restored["namnd"], restored["path"]) == (
        old["sha256"], old["kommun"], old["namnd"], old["path"])
    assert [u.id for u in store.units(doc)] == old_units
    assert calls == [[doc], [doc]]
    store.close()


def test_successful_upload_is_kept_and_searchable(app_data_dir):
    from index.search import search

    store = Store.open(app_data_dir)
    pending = upload.save_pending(app_data_dir, "Ny rapport.md",
                                  (FIXTURES / "hudiksvall-markdown-2023-08.txt").read_bytes())
    seen = []
    result = upload.ingest_upload(store, pending, {"kommun": "Nyby", "year": 2025, "namnd": ""},
                                  progress=lambda f, text: seen.append(f))
    assert (result.doc, result.units, result.replaced) == ("Ny-rapport.md", 4, False)
    assert result.path == app_data_dir / "uploads" / "Ny-rapport.md" and result.path.exists()
    assert seen == sorted(seen) and seen[-1] == 1.0
    report = store.report("Ny-rapport.md")
    assert (report["kommun"], report["namnd"], report["year"]) == ("Nyby", "Social- och omsorgsnämnden", 2025)
    hits = search(store, "sjukfrånvaro", top=50, mode="bm25").hits
    assert "Nyby" in {h.kommun for h in hits}
    store.close()
