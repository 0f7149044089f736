"""pipeline.structure: split, merge, delete an item, move its end, change its level or parent. Each is a stored
decision, shown at once (units, passages, suggestions redone), replayed over a re-ingest, undoable in any order;
a correction that does not apply is refused in Swedish with nothing changed. A markdown report of its own (not a
sample's layout): headings with item numbers, a status line, one item that hides a second one in its text."""
from __future__ import annotations

from pathlib import Path

import pytest

import cli
from errors import ReviewError
from index.store import Store
from pipeline.ingest import ingest_paths
from pipeline.review import undo
from pipeline.structure import UNIT_STRUCTURE, edit_structure, split_id
from tests.test_integrity import hash_model  # noqa: F401 - fixture

DOC = "exempelstad-vard-och-omsorgsnamnden-2024-08.md"
REPORT = """# Vård- och omsorgsnämnden, Exempelstad kommun
Uppföljning per augusti 2024

## Nämndmål 1: Trygg vård och omsorg

### Åtgärd 1.1 Minska behovet av inhyrd personal
Status: Pågår
Rekryteringen av sjuksköterskor fortsätter under hösten och andelen inhyrd personal har minskat.

Digital nattillsyn ska införas i alla hemtjänstområden. Upphandlingen är klar och införandet startar i oktober.

### Åtgärd 1.2 Utveckla hemtjänstens planering
Status: Genomförd
Ett nytt planeringsverktyg infördes i maj.

### Åtgärd 1.3 Fortsatt planering
Verktyget följs upp under hösten.

## Nämndmål 2: God arbetsmiljö

### Åtgärd 2.1 Sänka sjukfrånvaron
Status: Försenad
Arbetet har inte kommit igång på grund av vakanser.
"""


@pytest.fixture
def db(tmp_path, hash_model):  # noqa: F811
    reports = tmp_path / "rapporter"
    reports.mkdir()
    (reports / DOC).write_text(REPORT, encoding="utf-8")
    assert ingest_paths([reports], db_dir=tmp_path / "data", progress=False).errors == []
    return tmp_path / "data"


def titles(store: Store) -> list[tuple[str, int, int, str | None]]:
    return [(u.title, u.line_start, u.line_end, u.explicit_status) for u in store.units(DOC)]


def unit_titled(store: Store, prefix: str):
    return next(u for u in store.units(DOC) if u.title.startswith(prefix))


def passage_units(store: Store) -> dict[int, str | None]:
    names = {u.id: u.title.split()[1] for u in store.units(DOC)}
    return {p.line_start: names.get(p.unit_id) if p.unit_id else None for p in store.passages(DOC)}


READ = [("Åtgärd 1.1 Minska behovet av inhyrd personal", 6, 10, "Pågår"),
        ("Åtgärd 1.2 Utveckla hemtjänstens planering", 12, 14, "Genomförd"),
        ("Åtgärd 1.3 Fortsatt planering", 16, 17, None),
        ("Åtgärd 2.1 Sänka sjukfrånvaron", 21, 23, "Försenad")]


def test_a_split_gives_the_hidden_item_its_own_unit_passages_and_suggestion_and_survives_reingest(db):
    store = Store.open(db)
    assert titles(store) == READ
    first = unit_titled(store, "Åtgärd 1.1")
    decision = edit_structure(store, first.id, "Anna", "split", line=10, title="Digital nattillsyn")
    new = store.unit(split_id(first.id, 10))
    assert (new.title, new.text, new.line_start, new.line_end, new.level, new.explicit_status) == (
        "Digital nattillsyn", "Digital nattillsyn ska införas i alla hemtjänstområden. Upphandlingen är klar och "
        "införandet startar i oktober.", 10, 10, "åtgärd", None)
    old = store.unit(first.id)
    assert (old.text, old.line_end, old.explicit_status) == (
        "Rekryteringen av sjuksköterskor fortsätter under hösten och andelen inhyrd personal har "
        "minskat.", 9, "Pågår")
    assert [u.seq for u in store.units(DOC)] == [0, 1, 2, 3, 4]
    assert passage_units(store)[10] == "nattillsyn"
    assert new.suggested_status is not None and new.themes  # derived again for the new item
    [d] = store.decisions(UNIT_STRUCTURE)
    assert (d.id, d.reviewer, d.action, d.target_id) == (decision, "Anna", "split", first.id)
    # Re-ingest of a changed file: the reader's units come back, the split is laid over them again.
    path = db.parent / "rapporter" / DOC
    path.write_text(REPORT + "\nBilaga: inga ändringar.\n", encoding="utf-8")
    assert ingest_paths([db.parent / "rapporter"], db_dir=db, progress=False).ingested == [DOC]
    store = Store.open(db)
    assert [u.title for u in store.units(DOC)][:2] == ["Åtgärd 1.1 Minska behovet av inhyrd personal",
                                                       "Digital nattillsyn"]
    undo(store, decision, "Anna")  # the appended line runs on in the last item
    assert titles(store) == READ[:3] + [("Åtgärd 2.1 Sänka sjukfrånvaron", 21, 25, "Försenad")]
    assert store.unit(new.id) is None
    assert passage_units(store)[10] == "1.1"


def test_merge_delete_level_parent_and_end_replay_and_undo_in_any_order(db):
    store = Store.open(db)
    second, third = unit_titled(store, "Åtgärd 1.2"), unit_titled(store, "Åtgärd 1.3")
    merged = edit_structure(store, second.id, "Anna", "merge", **{"with": third.id})
    u = store.unit(second.id)
    assert (u.text, u.line_end, u.explicit_status, store.unit(third.id)) == (
        "Ett nytt planeringsverktyg infördes i maj.\nÅtgärd 1.3 Fortsatt planering\n"
        "Verktyget följs upp under hösten.", 17, "Genomförd", None)
    assert passage_units(store)[16] == "1.2"
    last = unit_titled(store, "Åtgärd 2.1")
    level = edit_structure(store, last.id, "Bo", "level", level="Aktivitet")
    parent = edit_structure(store, last.id, "Bo", "parent", parent=second.id)
    first = unit_titled(store, "Åtgärd 1.1")
    end = edit_structure(store, first.id, "Bo", "end", line=8)
    assert (store.unit(last.id).level, store.unit(last.id).parent_id, store.unit(last.id).parent) == (
        "aktivitet", second.id, "Åtgärd 1.2 Utveckla hemtjänstens planering")
    assert (store.unit(first.id).line_end, passage_units(store)[10]) == (8, None)
    deleted = edit_structure(store, second.id, "Bo", "delete")
    # The deleted item's child moves up to its parent (none here); its text is outside every item.
    assert (store.unit(second.id), store.unit(last.id).parent_id, passage_units(store)[12]) == (None, None, None)
    undo(store, merged, "Anna")  # the delete still applies to 1.2; 1.3 is back
    assert [u.title.split()[1] for u in store.units(DOC)] == ["1.1", "1.3", "2.1"]
    undo(store, deleted, "Bo")
    assert store.unit(last.id).parent_id == second.id
    for d in (end, parent, level):
        undo(store, d, "Bo")
    assert titles(store) == READ and [u.level for u in store.units(DOC)] == ["åtgärd"] * 4


@pytest.mark.parametrize("action, params, message", [
    ("split", {"line": 3}, "rad 3 ligger utanför postens text (rad 7–10); ingenting ändrades"),
    ("split", {"line": 40}, "rad 40 ligger utanför postens text (rad 7–10); ingenting ändrades"),
    ("split", {"line": 10}, "rad 10 är ett stycke, ingen rubrik; ge den nya posten en titel; ingenting ändrades"),
    ("split", {"line": 7}, "rad 7 är tom eller hör inte till postens text (en statusrad?); ingenting ändrades"),
    ("split", {"line": 9}, "rad 9 är tom eller hör inte till postens text (en statusrad?); ingenting ändrades"),
    ("end", {"line": 13}, "rad 13 ligger utanför det möjliga (rad 6–11; längre fram börjar nästa post – slå ihop i "
                          "stället); ingenting ändrades"),
    ("level", {"level": "kapitel"}, "okänd nivå »kapitel« (giltiga: inriktningsmål, verksamhetsmål, mål, nämndmål, "
                                    "delmål, ks-beslut, projekt, särskilt uppdrag, uppdrag, uppdrag från nämnd, "
                                    "åtagande, aktivitet, insats, åtgärd); ingenting ändrades"),
    ("rename", {}, "okänd ändring »rename« (giltiga: delete, merge, split, end, level, parent)"),
])
def test_a_correction_that_does_not_apply_is_refused_and_nothing_changes(db, action, params, message):
    store = Store.open(db)
    first = unit_titled(store, "Åtgärd 1.1")
    with pytest.raises(ReviewError) as e:
        edit_structure(store, first.id, "Anna", action, **params)
    assert str(e.value) == message
    assert titles(store) == READ and store.decisions(UNIT_STRUCTURE) == []


def test_merging_items_not_next_to_each_other_or_across_reports_is_refused(db, tmp_path):
    store = Store.open(db)
    first, third = unit_titled(store, "Åtgärd 1.1"), unit_titled(store, "Åtgärd 1.3")
    with pytest.raises(ReviewError) as e:
        edit_structure(store, first.id, "Anna", "merge", **{"with": third.id})
    assert str(e.value) == ("»Åtgärd 1.3 Fortsatt planering« står inte direkt efter »Åtgärd 1.1 Minska behovet av "
                            "inhyrd personal«; bara en post och den närmast följande kan slås ihop; ingenting ändrades")
    other = tmp_path / "rapporter" / "annan-2024-08.md"
    other.write_text(REPORT.replace("Exempelstad", "Annanstad"), encoding="utf-8")
    assert ingest_paths([tmp_path / "rapporter"], db_dir=db, progress=False).errors == []
    foreign = store.units("annan-2024-08.md")[1]
    with pytest.raises(ReviewError) as e:
        edit_structure(store, first.id, "Anna", "merge", **{"with": foreign.id})
    assert str(e.value) == "posterna hör till olika rapporter; ingenting ändrades"
    with pytest.raises(ReviewError) as e:
        edit_structure(store, first.id, "Anna", "parent", parent=first.id)
    assert str(e.value).startswith("»Åtgärd 1.1 Minska behovet av inhyrd personal« ligger under")
    assert titles(store) == READ and store.decisions(UNIT_STRUCTURE) == []


def test_the_cli_splits_merges_and_deletes_with_swedish_lines(db, capsys):
    store = Store.open(db)
    first, second = unit_titled(store, "Åtgärd 1.1"), unit_titled(store, "Åtgärd 1.2")
    args = ["--reviewer", "Anna", "--db", str(db)]
    assert cli.main(["split", first.id, "--line", "10", "--title", "Digital nattillsyn", *args]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"posten {first.id} delad vid rad 10; ny post {split_id(first.id, 10)} (beslut ")
    assert cli.main(["merge", second.id, *args]) == 0
    assert capsys.readouterr().out.startswith(f"posten {second.id} ihopslagen med nästa post (beslut ")
    assert cli.main(["delete-unit", first.id, *args]) == 0
    assert capsys.readouterr().out.startswith(f"posten {first.id} borttagen (beslut ")
    assert [u.title for u in Store.open(db).units(DOC)] == [
        "Digital nattillsyn", "Åtgärd 1.2 Utveckla hemtjänstens planering", "Åtgärd 2.1 Sänka sjukfrånvaron"]
    assert cli.main(["split", second.id, "--line", "99", *args]) == 2
    assert capsys.readouterr().err.strip() == "fel: rad 99 ligger utanför postens text (rad 13–17); ingenting ändrades"


def test_a_correction_whose_item_is_gone_after_a_reingest_is_kept_and_reported(db):
    store = Store.open(db)
    first = unit_titled(store, "Åtgärd 1.1")
    decision = edit_structure(store, first.id, "Anna", "split", line=10, title="Digital nattillsyn")
    path = db.parent / "rapporter" / DOC
    # The item is renamed in the new version of the file: its id changes, the split no longer applies.
    path.write_text(REPORT.replace("Minska behovet av inhyrd personal", "Minska inhyrd personal"), encoding="utf-8")
    summary = ingest_paths([db.parent / "rapporter"], db_dir=db, progress=False)
    assert summary.ingested == [DOC]
    assert summary.warnings == [
        "1 granskningsbeslut gäller poster eller flaggor som inte längre finns (besluten är sparade och exporteras "
        "med `python cli.py export decisions`):",
        f"  beslut {decision} (Anna, dela posten vid rad 10) på posten (ändrad avgränsning) {first.id}"]
    store = Store.open(db)
    assert [u.title for u in store.units(DOC)][:2] == ["Åtgärd 1.1 Minska inhyrd personal",
                                                       "Åtgärd 1.2 Utveckla hemtjänstens planering"]
    assert not store.decisions(UNIT_STRUCTURE)[0].undone
