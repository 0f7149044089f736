"""A read-only folder, a full disk or a store locked by another program: one Swedish line with the next step, exit
code 3, and nothing already stored changes. Read-only and full disks are real: a small tmpfs, remounted read-only
or filled up (needs root, as in CI; elsewhere these tests are skipped and say why)."""
from __future__ import annotations

import errno
import shutil
import sqlite3
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

import cli
from errors import storage_error
from index.store import Store
from tests.test_bad_input import snapshot


def other_reports(db: Path, doc: str) -> dict[str, list[tuple]]:
    """snapshot() without the rows of one report."""
    store = Store.open(db)
    out = {t: sorted(tuple(r) for r in store.conn.execute(f"SELECT * FROM {t} WHERE doc IS NOT ?", (doc,)))
           for t in ("reports", "passages", "units", "decisions", "lines")}
    store.close()
    return out

FIXTURES = Path(__file__).parent / "fixtures" / "reports"


@contextmanager
def tmpfs(path: Path, size: str):
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()}); needs root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def run(capsys, *argv: str) -> tuple[int, str, list[str]]:
    rc = cli.main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err.strip().splitlines()


def new_report(folder: Path) -> Path:
    """A report the fixture store does not hold yet."""
    path = folder / "ny-rapport.txt"
    path.write_text((FIXTURES / "eskilstuna-symbol-2023-08.txt").read_text(encoding="utf-8")
                    + "\nEn rad som gör filen ny.\n", encoding="utf-8")
    return path


def read_only_message(db: Path) -> str:
    return (f"fel: datakatalogen {db} är skrivskyddad, så inget har ändrats. Sök och läsning fungerar; ge skrivrätt "
            "till katalogen eller kopiera den (`python cli.py backup KATALOG`) för att läsa in eller granska.")


def full_message(db: Path) -> str:
    return (f"fel: disken där {db} ligger är full. Det som redan var sparat är orört; frigör utrymme och kör "
            "kommandot igen, så görs det som inte hann klart färdigt.")


def test_sqlite_and_os_errors_map_to_their_line(tmp_path):
    db = tmp_path / "s.sqlite"
    sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(sqlite3.OperationalError) as read_only:
        sqlite3.connect(f"file:{db}?mode=ro", uri=True).execute("INSERT INTO t VALUES (1)")
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError) as locked:
        sqlite3.connect(db, timeout=0).execute("INSERT INTO t VALUES (1)")
    holder.execute("ROLLBACK")
    assert str(storage_error(read_only.value, "D")) == read_only_message(Path("D"))[len("fel: "):]
    assert str(storage_error(OSError(errno.EROFS, "Read-only file system"), "D")) == str(
        storage_error(read_only.value, "D"))
    assert str(storage_error(locked.value, "D")) == ("databasen i D är låst av ett annat program, så inget har "
                                                     "ändrats. Vänta tills det är klart och försök igen.")
    assert str(storage_error(OSError(errno.ENOSPC, "No space left on device"), "D")) == full_message(
        Path("D"))[len("fel: "):]
    assert storage_error(OSError(errno.ENOENT, "No such file"), "D") is None
    assert storage_error(sqlite3.OperationalError("no such table: x"), "D") is None
    assert storage_error(ValueError("disk is full"), "D") is None


def test_a_read_only_store_is_searched_and_refuses_writes_in_one_line(ingested_fixture_dir, tmp_path, capsys):
    writable = tmp_path / "rw"
    shutil.copytree(ingested_fixture_dir, writable)
    expected_search = run(capsys, "search", "sjukfrånvaro", "--db", str(writable))
    before = snapshot(writable)
    with tmpfs(tmp_path / "mnt", "64m") as mnt:
        db = mnt / "data"
        shutil.copytree(writable, db)
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        assert run(capsys, "search", "sjukfrånvaro", "--db", str(db)) == expected_search
        assert run(capsys, "ingest", str(new_report(tmp_path)), "--db", str(db), "--quiet") == (
            3, "", [read_only_message(db)])
        assert run(capsys, "remove", "eskilstuna-symbol-2023-08.txt", "--db", str(db)) == (
            3, "", [read_only_message(db)])
        assert snapshot(db) == before
        rc, out, err = run(capsys, "backup", str(tmp_path / "copy"), "--db", str(db))
        assert (rc, err) == (0, [])
    assert run(capsys, "search", "sjukfrånvaro", "--db", str(tmp_path / "copy")) == expected_search
    assert snapshot(tmp_path / "copy") == before


def test_a_full_disk_keeps_what_was_stored_and_the_rerun_finishes(ingested_fixture_dir, tmp_path, capsys):
    report = new_report(tmp_path)
    with tmpfs(tmp_path / "mnt", "32m") as mnt:
        db = mnt / "data"
        shutil.copytree(ingested_fixture_dir, db)
        expected_search = run(capsys, "search", "sjukfrånvaro", "--db", str(db))
        before = snapshot(db)
        filler = mnt / "filler"
        with open(filler, "wb") as f:  # leave 64 KiB: too little for the new report's rows and indexes
            f.write(b"\0" * (shutil.disk_usage(mnt).free - 64 * 1024))
        assert run(capsys, "ingest", str(report), "--db", str(db), "--quiet") == (3, "", [full_message(db)])
        filler.unlink()
        assert other_reports(db, report.name) == before
        assert run(capsys, "search", "sjukfrånvaro", "--db", str(db)) == expected_search
        rc, out, err = run(capsys, "ingest", str(report), "--db", str(db), "--quiet")
        assert rc == 0 and Store.open(db).get_meta("pending_derive") in (None, "[]")
        rc, out, err = run(capsys, "search", "gör filen ny", "--db", str(db), "--mode", "bm25")
        assert out.splitlines()[0] == "1 ordträff i 1 kommun" and "  ny-rapport.txt:" in out.splitlines()[1]
