"""pipeline.corrections: a reviewer's title for an item, kept as a decision, shown at once, laid over a re-ingest of
the report, undoable; bad input refused with nothing changed. Through the functions and through cli.py."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import cli
from errors import ReviewError
from index.store import Store
from pipeline.corrections import UNIT_TITLE, edit_title, titles_in_force
from pipeline.ingest import ingest_paths
from pipeline.review import undo
from tests.test_integrity import hash_model  # noqa: F401 - fixture

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "reports"
DOC = "uppsala-tabbad-2024-08.txt"


@pytest.fixture
def store_dir(tmp_path, hash_model):  # noqa: F811
    reports = tmp_path / "rapporter"
    reports.mkdir()
    shutil.copy(FIXTURES / "manifest.csv", reports / "manifest.csv")
    shutil.copy(FIXTURES / DOC, reports / DOC)
    assert ingest_paths([reports], db_dir=tmp_path / "data", progress=False).errors == []
    return tmp_path


def first_unit(store: Store):
    return store.units(DOC)[0]


def test_a_new_title_is_shown_at_once_survives_reingest_and_undo_brings_back_the_read_one(store_dir):
    store = Store.open(store_dir / "data")
    unit = first_unit(store)
    original = unit.title
    decision = edit_title(store, unit.id, "Anna", "  Minska   behovet av hyrpersonal ")
    assert store.unit(unit.id).title == "Minska behovet av hyrpersonal"
    [d] = store.decisions(UNIT_TITLE)
    assert (d.id, d.reviewer, d.action, d.old_value, d.new_value) == (decision, "Anna", "correct", original,
                                                                      "Minska behovet av hyrpersonal")
    # The file changes (a line appended), is read again, and its units are written anew from the segmenter.
    path = store_dir / "rapporter" / DOC
    path.write_text(path.read_text(encoding="utf-8") + "\nBilaga: inga ändringar.\n", encoding="utf-8")
    summary = ingest_paths([store_dir / "rapporter"], db_dir=store_dir / "data", progress=False)
    assert (summary.errors, summary.ingested) == ([], [DOC])
    store = Store.open(store_dir / "data")
    assert store.unit(unit.id).title == "Minska behovet av hyrpersonal"
    second = edit_title(store, unit.id, "Bo", "Minska hyrpersonal")
    assert store.decisions(UNIT_TITLE)[-1].old_value == "Minska behovet av hyrpersonal"
    undo(store, second, "Bo")
    assert store.unit(unit.id).title == "Minska behovet av hyrpersonal"
    undo(store, decision, "Anna")
    assert store.unit(unit.id).title == original and titles_in_force(store) == {unit.id: original}


@pytest.mark.parametrize("title, message", [
    ("   ", "titeln kan inte vara tom; ingenting ändrades"),
    ("x" * 301, "titeln är 301 tecken; högst 300 (ingenting ändrades)"),
])
def test_an_empty_or_overlong_title_is_refused_and_nothing_changes(store_dir, title, message):
    store = Store.open(store_dir / "data")
    unit = first_unit(store)
    with pytest.raises(ReviewError) as e:
        edit_title(store, unit.id, "Anna", title)
    assert str(e.value) == message
    assert store.unit(unit.id).title == unit.title and store.decisions(UNIT_TITLE) == []


def test_the_cli_retitles_and_undoes_with_a_swedish_line_for_an_unknown_item(store_dir, capsys):
    db = str(store_dir / "data")
    unit = first_unit(Store.open(db))
    assert cli.main(["retitle", unit.id, "Ny titel", "--reviewer", "Anna", "--db", db]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"titel ändrad för {unit.id} (beslut ")
    decision = int(out.split("(beslut ")[1].split(";")[0])
    assert Store.open(db).unit(unit.id).title == "Ny titel"
    assert cli.main(["undo", str(decision), "--reviewer", "Anna", "--db", db]) == 0
    assert capsys.readouterr().out == f"ångrat: beslut {decision} (unit_title {unit.id})\n"
    assert Store.open(db).unit(unit.id).title == unit.title
    assert cli.main(["retitle", "saknas.txt#u1", "Ny titel", "--reviewer", "Anna", "--db", db]) == 2
    assert capsys.readouterr().err == "fel: posten saknas.txt#u1 finns inte i databasen\n"


def test_a_reports_details_are_corrected_kept_over_reingest_and_undone(store_dir):
    from pipeline.corrections import REPORT_META, edit_report

    store = Store.open(store_dir / "data")
    before = {f: store.report(DOC)[f] for f in ("kommun", "namnd", "year", "period")}
    decision = edit_report(store, DOC, "Anna", kommun="Knivsta", period="Tertial 2", year="2025")
    after = {f: store.report(DOC)[f] for f in ("kommun", "namnd", "year", "period")}
    assert after == before | {"kommun": "Knivsta", "period": "tertial 2", "year": 2025}
    [d] = store.decisions(REPORT_META)
    assert (d.target_id, d.reviewer) == (DOC, "Anna")
    path = store_dir / "rapporter" / DOC
    path.write_text(path.read_text(encoding="utf-8") + "\nBilaga: inga ändringar.\n", encoding="utf-8")
    summary = ingest_paths([store_dir / "rapporter"], db_dir=store_dir / "data", progress=False)
    assert (summary.errors, summary.ingested) == ([], [DOC])
    store = Store.open(store_dir / "data")
    assert {f: store.report(DOC)[f] for f in after} == after
    undo(store, decision, "Anna")
    assert {f: store.report(DOC)[f] for f in before} == before


@pytest.mark.parametrize("changes, message", [
    ({"year": "20x4"}, "året måste vara ett årtal mellan 1990 och 2100, inte »20x4«; ingenting ändrades"),
    ({"year": "1850"}, "året måste vara ett årtal mellan 1990 och 2100, inte »1850«; ingenting ändrades"),
    ({"period": "snart"}, "perioden »snart« är varken en månad (t.ex. augusti), ett datum (ÅÅÅÅ-MM-DD) eller ett "
                          "periodord (helår, tertial 2, kvartal 3 …); ingenting ändrades"),
    ({"period": "2024-13-01"}, "perioden »2024-13-01« är varken en månad (t.ex. augusti), ett datum (ÅÅÅÅ-MM-DD) "
                               "eller ett periodord (helår, tertial 2, kvartal 3 …); ingenting ändrades"),
    ({"kommun": "  "}, "kommun kan inte vara tom; ingenting ändrades"),
    ({"farg": "röd"}, "okänt fält: farg (giltiga: kommun, namnd, year, period)"),
])
def test_bad_report_details_are_refused_and_nothing_changes(store_dir, changes, message):
    from pipeline.corrections import REPORT_META, edit_report

    store = Store.open(store_dir / "data")
    before = store.report(DOC)
    with pytest.raises(ReviewError) as e:
        edit_report(store, DOC, "Anna", **changes)
    assert str(e.value) == message
    assert store.report(DOC) == before and store.decisions(REPORT_META) == []


def test_the_cli_corrects_a_reports_period(store_dir, capsys):
    db = str(store_dir / "data")
    assert cli.main(["edit-report", DOC, "--period", "Helår", "--year", "2023", "--reviewer", "Bo", "--db", db]) == 0
    report = Store.open(db).report(DOC)
    assert capsys.readouterr().out.startswith(f"{DOC}: {report['kommun']}, {report['namnd']}, 2023, helår (beslut ")
    assert cli.main(["edit-report", "saknas.txt", "--period", "augusti", "--reviewer", "Bo", "--db", db]) == 2
    assert capsys.readouterr().err == "fel: rapporten saknas.txt finns inte i databasen\n"
