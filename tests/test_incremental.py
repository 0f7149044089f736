"""Incremental updates: a new report adds only its rows and vectors, a changed file replaces exactly that report,
`cli.py remove` deletes one, and review decisions stay attached by stable ids (or are kept and reported when their
item disappears).

Most tests use the suite's deterministic HashEmbedder so exact vector bookkeeping can be checked quickly; the last
one runs the real model on the session's ingested fixture store.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import cli
from pipeline.recovery import orphan_decisions, orphan_lines
from index.store import Store
from records import Decision

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "reports"
NAMES = sorted(p.name for p in FIXTURES.glob("*.txt"))
NEW = "uppsala-statusord-2019-08.txt"  # the report that arrives later
FIRST = [n for n in NAMES if n != NEW]


class DenseSpy:
    """Records which passage ids the FAISS index gets added and removed."""

    def __init__(self, monkeypatch):
        from index.dense import DenseIndex

        self.added: list[int] = []
        self.removed: list[int] = []
        real_add, real_remove = DenseIndex.add, DenseIndex.remove

        def add(index, pids, vectors):
            self.added += [int(p) for p in pids]
            return real_add(index, pids, vectors)

        def remove(index, pids):
            self.removed += [int(p) for p in pids]
            return real_remove(index, pids)

        monkeypatch.setattr(DenseIndex, "add", add)
        monkeypatch.setattr(DenseIndex, "remove", remove)


@pytest.fixture
def hash_model(monkeypatch):
    import index.embeddings
    import index.indexes
    from tests.conftest import HashEmbedder

    monkeypatch.setattr(index.embeddings.Embedder, "load", classmethod(lambda cls, *a, **k: HashEmbedder()))
    monkeypatch.setattr(index.indexes, "_EMBEDDERS", {})
    monkeypatch.delenv(index.indexes.MODEL_ENV, raising=False)


@pytest.fixture(scope="module")
def base_store(tmp_path_factory) -> tuple[Path, Path]:
    """Four of the five fixture reports ingested (hash model); tests copy it."""
    import index.embeddings
    import index.indexes
    from pipeline.ingest import ingest_paths
    from tests.conftest import HashEmbedder

    root = tmp_path_factory.mktemp("incremental")
    reports = root / "rapporter"
    reports.mkdir()
    shutil.copy(FIXTURES / "manifest.csv", reports)
    for name in FIRST:
        shutil.copy(FIXTURES / name, reports)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(index.embeddings.Embedder, "load", classmethod(lambda cls, *a, **k: HashEmbedder()))
        mp.setattr(index.indexes, "_EMBEDDERS", {})
        mp.delenv(index.indexes.MODEL_ENV, raising=False)
        summary = ingest_paths([reports], db_dir=root / "data", progress=False)
    assert summary.errors == [] and sorted(summary.ingested) == FIRST
    return root / "data", reports


@pytest.fixture
def copy(base_store, tmp_path, hash_model) -> tuple[Path, Path]:
    db, reports = base_store
    shutil.copytree(db, tmp_path / "data")
    shutil.copytree(reports, tmp_path / "rapporter")
    store = Store.open(tmp_path / "data")  # the copy's reports were read from the copied folder
    store.conn.execute("UPDATE reports SET path=replace(path, ?, ?)", (str(reports.resolve()),
                                                                     str((tmp_path / "rapporter").resolve())))
    store.close()
    return tmp_path / "data", tmp_path / "rapporter"


def rows(store: Store, doc: str) -> dict[str, list]:
    """Everything SQLite holds for one report, ingest time included (unchanged means untouched)."""
    c = store.conn
    return {t: [tuple(r) for r in c.execute(f"SELECT * FROM {t} WHERE doc=? ORDER BY 1, 2", (doc,))]
            for t in ("reports", "lines", "passages", "units")}


def published(db: Path) -> dict[str, Path]:
    from index.indexes import current_files

    store = Store.open(db)
    files = current_files(store)
    store.close()
    return files


def vectors(db: Path, pids: list[int]) -> np.ndarray:
    from index.dense import DenseIndex

    files = published(db)
    return DenseIndex.load(files["dense"], files["dense_json"]).vectors(pids)


def index_pids(db: Path) -> tuple[list[int], list[int]]:
    from index.dense import DenseIndex
    from index.lexical import LexicalIndex

    files = published(db)
    lexical = LexicalIndex.load(files["lex_npz"], files["lex_json"])
    dense = DenseIndex.load(files["dense"], files["dense_json"])
    return sorted(lexical.pids.tolist()), sorted(dense.ids().tolist())


def ingest(reports: Path, db: Path):
    from pipeline.ingest import ingest_paths

    summary = ingest_paths([reports], db_dir=db, progress=False)
    assert summary.errors == []
    return summary


def test_a_new_report_adds_only_its_rows_and_vectors(copy, monkeypatch):
    db, reports = copy
    store = Store.open(db)
    before = {doc: rows(store, doc) for doc in FIRST}
    old_pids = store.passage_ids()
    old_vectors = vectors(db, old_pids)
    cached = store.count("embeddings")
    shutil.copy(FIXTURES / NEW, reports)
    spy = DenseSpy(monkeypatch)

    summary = ingest(reports, db)

    assert summary.ingested == [NEW] and sorted(summary.unchanged) == FIRST
    assert {doc: rows(store, doc) for doc in FIRST} == before
    new_pids = store.passage_ids(NEW)
    assert sorted(spy.added) == new_pids and spy.removed == []
    np.testing.assert_array_equal(vectors(db, old_pids), old_vectors)
    assert index_pids(db) == (sorted(old_pids + new_pids), sorted(old_pids + new_pids))
    assert store.count("embeddings") > cached  # the new report's texts were embedded ...
    spy.added.clear()
    assert sorted(ingest(reports, db).unchanged) == sorted(FIRST + [NEW])
    assert spy.added == [] and spy.removed == []  # ... and an unchanged folder touches nothing
    store.close()


def test_a_changed_file_replaces_exactly_that_report(copy, monkeypatch):
    from pipeline.prepare import prepare
    from nlp.metadata import read_manifest

    db, reports = copy
    changed = FIRST[0]
    store = Store.open(db)
    others = {doc: rows(store, doc) for doc in FIRST[1:]}
    old_pids = store.passage_ids(changed)
    cached = store.count("embeddings")
    path = reports / changed
    path.write_text(path.read_text(encoding="utf-8") + "\nTillägg: arbetet med handlingsplanen fortsätter.\n",
                    encoding="utf-8")
    spy = DenseSpy(monkeypatch)

    assert ingest(reports, db).ingested == [changed]

    assert {doc: rows(store, doc) for doc in FIRST[1:]} == others
    _, document, seg = prepare(path, {}, read_manifest(reports / "manifest.csv"))
    assert [(p.id, p.text) for p in store.passages(changed)] == [(p.id, p.text) for p in seg.passages]
    assert [u.id for u in store.units(changed)] == [u.id for u in seg.units]
    assert sorted(spy.removed) == old_pids and sorted(spy.added) == store.passage_ids(changed)
    # Only texts never seen before are embedded: the new paragraph and the passage whose text it changed.
    assert 1 <= store.count("embeddings") - cached <= 2 + len(seg.units)
    pids = store.passage_ids()
    assert index_pids(db) == (pids, pids)
    store.close()


def test_stable_ids_keep_decisions_attached_when_lines_shift(copy):
    db, reports = copy
    doc = FIRST[1]
    store = Store.open(db)
    unit = store.units(doc)[-1]
    did = store.add_decision(Decision("unit_status", unit.id, doc, "Anna", "correct", None, "försenad"))
    path = reports / doc
    path.write_text("Inledning\n\nEtt nytt stycke först i rapporten flyttar alla rader.\n\n"
                    + path.read_text(encoding="utf-8"), encoding="utf-8")

    summary = ingest(reports, db)

    moved = store.unit(unit.id)
    assert moved is not None and moved.line_start == unit.line_start + 4 and moved.title == unit.title
    assert store.current_decisions("unit_status")[unit.id].id == did
    assert orphan_decisions(store) == [] and summary.warnings == []
    store.close()


def test_a_decision_whose_unit_disappears_is_kept_and_reported(copy, capsys):
    db, reports = copy
    doc = FIRST[1]
    store = Store.open(db)
    unit = store.units(doc)[0]
    did = store.add_decision(Decision("unit_status", unit.id, doc, "Anna", "correct", None, "försenad"))
    path = reports / doc
    title_line = (unit.title_line or unit.line_start) - 1
    lines = path.read_text(encoding="utf-8").split("\n")
    last_word = unit.title.split()[-1]
    lines[title_line] = lines[title_line].replace(last_word, "omformulerad", 1)
    path.write_text("\n".join(lines), encoding="utf-8")

    assert cli.main(["ingest", str(reports), "--db", str(db), "--quiet"]) == 0

    err = capsys.readouterr().err
    decision = store.decisions("unit_status", unit.id)[0]
    assert store.unit(unit.id) is None and decision.id == did and not decision.undone
    assert [d.id for d in orphan_decisions(store)] == [did]
    assert err.splitlines() == ["obs: " + line for line in orphan_lines([decision])]
    store.close()


def test_remove_deletes_one_report_keeps_its_decisions_and_they_return_with_it(copy, capsys):
    db, reports = copy
    doc = FIRST[2]
    store = Store.open(db)
    kept = {d: rows(store, d) for d in FIRST if d != doc}
    gone = set(store.passage_ids(doc))
    unit = store.units(doc)[0]
    did = store.add_decision(Decision("unit_status", unit.id, doc, "Bertil", "accept", None, "genomförd"))
    all_decisions = [d.to_dict() for d in store.decisions()]

    assert cli.main(["remove", doc, "--db", str(db)]) == 0

    out, err = capsys.readouterr()
    assert out == f"borttagen: {doc}\n"
    assert err.splitlines() == ["obs: " + line for line in orphan_lines(store.decisions("unit_status", unit.id))]
    assert rows(store, doc) == {"reports": [], "lines": [], "passages": [], "units": []}
    assert store.flags(doc) == []
    assert {d: rows(store, d) for d in FIRST if d != doc} == kept
    pids = store.passage_ids()
    assert index_pids(db) == (pids, pids) and gone and not gone & set(index_pids(db)[1])
    assert [d.to_dict() for d in store.decisions()] == all_decisions
    assert [d.id for d in orphan_decisions(store)] == [did]

    assert cli.main(["remove", doc, "--db", str(db)]) == 1
    assert capsys.readouterr().out == f"{doc}: finns inte i databasen\n"

    ingest(reports, db)  # the file is still in the folder: it comes back, and so does the decision
    assert store.current_decisions("unit_status")[unit.id].id == did and orphan_decisions(store) == []
    store.close()


def test_real_model_remove_and_add_again_reuses_cached_vectors(ingested_fixture_dir, tmp_path, capsys):
    """The full pipeline with the real embedding model: removing and re-adding a report embeds nothing new (the
    vectors are cached by text in SQLite), and the indexes match the store after each step."""
    from index.indexes import check_indexes

    db = tmp_path / "data"
    shutil.copytree(ingested_fixture_dir, db)
    store = Store.open(db)
    doc = NAMES[0]
    n_embeddings, n_passages = store.count("embeddings"), store.count("passages")
    doc_passages = len(store.passage_ids(doc))

    assert cli.main(["remove", doc, "--db", str(db)]) == 0
    assert check_indexes(store) == [] and store.count("passages") == n_passages - doc_passages
    assert cli.main(["ingest", str(FIXTURES), "--db", str(db), "--quiet"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(
        f"rapporter: {len(NAMES)}, passager: {n_passages}, poster: ")
    assert check_indexes(store) == [] and store.count("embeddings") == n_embeddings
    store.close()


def test_backup_while_the_store_is_open_restores_decisions_and_indexes(copy, tmp_path, capsys):
    from index.indexes import check_indexes

    db, _ = copy
    store = Store.open(db)
    unit = store.units(FIRST[0])[0]
    store.add_decision(Decision("unit_status", unit.id, FIRST[0], "Cecilia", "accept", None, "genomförd"))
    dest = tmp_path / "kopia"

    assert cli.main(["backup", str(dest), "--db", str(db)]) == 0
    assert str(dest) in capsys.readouterr().out
    restored = Store.open(dest)
    assert [d.to_dict() for d in restored.decisions()] == [d.to_dict() for d in store.decisions()]
    assert rows(restored, FIRST[0]) == rows(store, FIRST[0])
    assert check_indexes(restored) == [] and index_pids(dest) == index_pids(db)

    assert cli.main(["backup", str(dest), "--db", str(db)]) == 2  # never over an existing store
    assert "redan en databas" in capsys.readouterr().err
    restored.close(), store.close()


def test_a_new_version_of_the_reading_code_reads_unchanged_files_again(copy, monkeypatch):
    import pipeline.ingest
    from pipeline.ingest import ingest_paths

    db, reports = copy
    assert ingest_paths([reports], db_dir=db, progress=False).ingested == []
    monkeypatch.setattr(pipeline.ingest, "reader_version", lambda: "next-version")
    again = ingest_paths([reports], db_dir=db, progress=False)
    assert sorted(again.ingested) == sorted(p.name for p in reports.glob("*.txt")) and not again.errors
    assert ingest_paths([reports], db_dir=db, progress=False).ingested == []


# -- cross-report flags follow the reports they name, and only those ---------------------------------------------
SHARED = ("Förvaltningen har tillsammans med regionen tagit fram en gemensam rutin för samordnad individuell plan "
          "som nu används i alla verksamheter och följs upp varje kvartal av ledningsgruppen.")


def plain_report(namnd: str, year: int, commentaries: list[str]) -> str:
    """A follow-up in a plain template: 'Uppdrag N: title', a status line, the commentary."""
    out = [namnd, f"Delårsrapport per augusti {year}", "", "Uppföljning av uppdrag", ""]
    titles = ["Stärka samverkan kring barn", "Minska sjukfrånvaron", "Utveckla digitala tjänster"]
    for k, (title, text) in enumerate(zip(titles, commentaries), 1):
        out += [f"Uppdrag {k}: {title}", "Status: Pågår", text, ""]
    return "\n".join(out)


def test_cross_report_flags_are_redone_for_the_reports_sharing_text_and_no_others(tmp_path, hash_model,
                                                                                   monkeypatch):
    import nlp.consistency
    from pipeline.ingest import ingest_paths

    own = ["Arbetet med att minska sjukfrånvaron fortsätter med hälsosamtal och en ny rutin för rehabilitering "
           "som alla chefer har gått igenom under våren tillsammans med HR.",
           "Tre nya e-tjänster har lanserats under perioden och ytterligare två planeras under hösten efter att "
           "användartester har genomförts med invånare och medarbetare."]
    unrelated = ["Antalet placeringar på HVB har minskat sedan förra året tack vare fler familjehem och ett "
                 "utvecklat öppenvårdsprogram för unga som erbjuds i egen regi.",
                 "Nämnden har beslutat om en ny plan för internkontroll med fyra granskningsområden som följs upp i "
                 "samband med årsbokslutet och redovisas för nämnden i februari."]
    texts = {"a": ("Omsorgsnämnden", [SHARED] + own), "b": ("Kultur- och fritidsnämnden", [SHARED, own[1][::-1]]),
             "c": ("Socialnämnden", unrelated)}
    for name, (namnd, comments) in texts.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / f"{name}-2024-08.txt").write_text(plain_report(namnd, 2024, comments), encoding="utf-8")
        assert ingest_paths([folder], tmp_path / "db", progress=False).errors == []
    store = Store.open(tmp_path / "db")
    assert [len(store.units(f"{n}-2024-08.txt")) for n in "abc"] == [3, 2, 2]
    cross = [f.message for f in store.flags("a-2024-08.txt") if f.unit_ids == []]
    assert cross == ["1 kommentarer återkommer ordagrant i Kultur- och fritidsnämnden (b-2024-08.txt); kontrollera "
                     "att texten gäller denna nämnd"]
    store.close()

    redone: list[str] = []
    real = nlp.consistency.apply_flags
    monkeypatch.setattr(nlp.consistency, "apply_flags",
                        lambda store, docs=None: redone.extend(docs or ["ALLA"]) or real(store, docs))
    # The unrelated report changes: only its own flags are redone.
    (tmp_path / "c" / "c-2024-08.txt").write_text(plain_report("Socialnämnden", 2024, unrelated[::-1]), encoding="utf-8")
    ingest_paths([tmp_path / "c"], tmp_path / "db", progress=False)
    assert redone == ["c-2024-08.txt"]
    # The report that shared the text drops it: the other side's flag goes too.
    redone.clear()
    (tmp_path / "b" / "b-2024-08.txt").write_text(
        plain_report("Kultur- och fritidsnämnden", 2024, [own[0][::-1], own[1][::-1]]), encoding="utf-8")
    ingest_paths([tmp_path / "b"], tmp_path / "db", progress=False)
    assert redone == ["a-2024-08.txt", "b-2024-08.txt"]
    store = Store.open(tmp_path / "db")
    assert [f.message for f in store.flags("a-2024-08.txt") if f.unit_ids == []] == []
    assert store.band_partners("a-2024-08.txt", 10) == {}
