"""SQLite store: the source of truth for reports, passages, units, suggestions, flags and review decisions.

Indexes (FAISS, BM25) are derived from it and can always be rebuilt from it.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from contextlib import contextmanager
from dataclasses import asdict, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import quote

import numpy as np

from errors import StoreNotFound
from records import Decision, Document, Flag, Passage, ReportMeta, Segmentation, Unit

DEFAULT_DB_DIR = Path(__file__).resolve().parent.parent / "data"
DB_NAME = "store.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    doc TEXT PRIMARY KEY, path TEXT, sha256 TEXT, fmt TEXT, kommun TEXT, namnd TEXT, year INTEGER,
    period TEXT, report_date TEXT, source TEXT, n_lines INTEGER, legend TEXT, ingested_at TEXT, file TEXT
);
CREATE TABLE IF NOT EXISTS lines (
    doc TEXT, line INTEGER, raw TEXT, clean TEXT, page INTEGER, PRIMARY KEY (doc, line)
);
CREATE TABLE IF NOT EXISTS passages (
    pid INTEGER PRIMARY KEY, id TEXT UNIQUE, doc TEXT, seq INTEGER, heading TEXT, text TEXT,
    line_start INTEGER, line_end INTEGER, unit_id TEXT, themes TEXT DEFAULT '[]', page_start INTEGER,
    page_end INTEGER
);
CREATE INDEX IF NOT EXISTS passages_doc ON passages(doc);
CREATE TABLE IF NOT EXISTS units (
    id TEXT PRIMARY KEY, doc TEXT, seq INTEGER, level TEXT, parent TEXT, parent_id TEXT, title TEXT,
    text TEXT, line_start INTEGER, line_end INTEGER, title_line INTEGER, explicit_status TEXT,
    explicit_status_source TEXT, explicit_status_line INTEGER, status TEXT, linked_unit_id TEXT,
    suggested_status TEXT, status_confidence REAL, status_probs TEXT, status_evidence TEXT DEFAULT '[]',
    status_note TEXT, themes TEXT DEFAULT '[]', page_start INTEGER, page_end INTEGER, progress INTEGER
);
CREATE INDEX IF NOT EXISTS units_doc ON units(doc);
CREATE TABLE IF NOT EXISTS embeddings (
    model TEXT, text_hash TEXT, vector BLOB, PRIMARY KEY (model, text_hash)
);
CREATE TABLE IF NOT EXISTS features (
    key TEXT PRIMARY KEY, vector BLOB, info TEXT
);
CREATE TABLE IF NOT EXISTS review_order (
    unit_id TEXT PRIMARY KEY, rank REAL
);
CREATE TABLE IF NOT EXISTS flags (
    id TEXT PRIMARY KEY, kind TEXT, doc TEXT, unit_ids TEXT, line INTEGER, severity TEXT, score REAL,
    message TEXT, evidence TEXT
);
CREATE INDEX IF NOT EXISTS flags_doc ON flags(doc);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, target_type TEXT, target_id TEXT, doc TEXT, reviewer TEXT,
    action TEXT, old_value TEXT, new_value TEXT, comment TEXT, created_at TEXT, undone INTEGER DEFAULT 0,
    flag_case TEXT
);
CREATE INDEX IF NOT EXISTS decisions_target ON decisions(target_type, target_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS text_bands (
    doc TEXT, unit_id TEXT, band INTEGER, key INTEGER
);
CREATE INDEX IF NOT EXISTS text_bands_key ON text_bands(band, key);
CREATE INDEX IF NOT EXISTS text_bands_doc ON text_bands(doc);
CREATE TABLE IF NOT EXISTS read_units (
    doc TEXT PRIMARY KEY, units TEXT, passage_units TEXT
);
"""

UNIT_JSON_FIELDS = ("status_probs", "status_evidence", "themes")
UNIT_FIELDS = frozenset(f.name for f in fields(Unit))
DECISION_FIELDS = frozenset(f.name for f in fields(Decision))


def _known(row: sqlite3.Row, names: frozenset[str]) -> dict[str, Any]:
    """A row's columns that are fields of the record: a column this version does not know (a store a newer
    version also wrote) is left out, not an error."""
    return {k: v for k, v in dict(row).items() if k in names}
# Columns added after the first release: a store made before them gets them on open (NULL for old rows).
ADDED_COLUMNS = (("reports", "file", "TEXT"), ("lines", "page", "INTEGER"), ("passages", "page_start", "INTEGER"),
                 ("passages", "page_end", "INTEGER"), ("units", "page_start", "INTEGER"),
                 ("units", "page_end", "INTEGER"), ("units", "progress", "INTEGER"),
                 ("decisions", "flag_case", "TEXT"))


def migrate(conn: sqlite3.Connection) -> None:
    for table, column, kind in ADDED_COLUMNS:
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def passage_int_id(passage_id: str) -> int:
    """A stable 63-bit integer for FAISS, derived from the stable text id (same file -> same ids)."""
    return int.from_bytes(hashlib.sha1(passage_id.encode()).digest()[:8], "big") & ((1 << 63) - 1)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _connect(uri: str) -> sqlite3.Connection:
    conn = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A store on a read-only share or disk can still be searched. A WAL database needs its -shm file to be read;
    where that cannot be created (read-only folder, cleanly closed store) the file is opened as immutable, which
    is safe because nobody can be writing a folder nobody may write."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        conn = _connect(uri)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        return _connect(uri + "&immutable=1")


class Store:
    """One SQLite file under a data directory; also the folder where index files live."""

    def __init__(self, db_dir: Path, conn: sqlite3.Connection, read_only: bool = False):
        self.dir = db_dir
        self.conn = conn
        self.read_only = read_only  # opened from a folder this process cannot write: search and read only

    @classmethod
    def open(cls, db_dir: Path | str | None = None, create: bool = False) -> "Store":
        db_dir = Path(db_dir) if db_dir else DEFAULT_DB_DIR
        path = db_dir / DB_NAME
        if not path.exists() and not create:
            raise StoreNotFound(f"ingen databas i {db_dir}")
        if path.exists() and not os.access(db_dir, os.W_OK):
            return cls(db_dir, _connect_read_only(path), read_only=True)
        db_dir.mkdir(parents=True, exist_ok=True)
        conn = _connect(f"file:{quote(str(path.resolve()))}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(SCHEMA)
        migrate(conn)
        return cls(db_dir, conn)

    def close(self) -> None:
        self.conn.close()

    def backup_sqlite(self, dest: Path) -> None:
        """A consistent copy of the database through SQLite's online backup API (a snapshot even mid-write)."""
        target = sqlite3.connect(dest)
        try:
            with target:
                self.conn.backup(target)
        finally:
            target.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE so concurrent writers queue instead of failing half-way."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            if self.conn.in_transaction:  # SQLite has already rolled back after a full disk or I/O error
                self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    # -- meta ------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # -- reports ---------------------------------------------------------------------------------
    def report_sha(self, doc: str) -> str | None:
        row = self.conn.execute("SELECT sha256 FROM reports WHERE doc=?", (doc,)).fetchone()
        return row[0] if row else None

    def replace_report(self, meta: ReportMeta, document: Document, seg: Segmentation, path: str,
                       file: str | None = None, moves: dict[str, str] | None = None) -> None:
        """All-or-nothing: the report's old rows go and the new ones come in one transaction. `file` is the name the
        report was read under (the key `meta.file` may carry a suffix that tells two same-named reports apart);
        `moves` re-points reviewers' decisions from old unit ids to the new ids of the same items."""
        with self.transaction() as c:
            self._delete_report_rows(c, meta.file)
            c.execute(
                "INSERT INTO reports(doc,path,sha256,fmt,kommun,namnd,year,period,report_date,source,n_lines,legend,"
                "ingested_at,file) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (meta.file, path, document.sha256, document.fmt, meta.kommun, meta.namnd, meta.year, meta.period,
                 meta.report_date, meta.source, len(document.raw), json.dumps(seg.legend, ensure_ascii=False),
                 now_iso(), file or meta.file),
            )
            c.executemany("UPDATE decisions SET target_id=? WHERE target_id=? AND target_type LIKE 'unit%'",
                          [(new, old) for old, new in (moves or {}).items()])
            c.executemany(
                "INSERT INTO lines(doc,line,raw,clean,page) VALUES (?,?,?,?,?)",
                [(meta.file, i + 1, r, cl, document.page_of(i + 1))
                 for i, (r, cl) in enumerate(zip(document.raw, document.clean))],
            )
            c.executemany(
                "INSERT INTO passages(pid,id,doc,seq,heading,text,line_start,line_end,unit_id,themes,page_start,"
                "page_end) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [(passage_int_id(p.id), p.id, p.doc, p.seq, p.heading, p.text, p.line_start, p.line_end, p.unit_id,
                  json.dumps(p.themes, ensure_ascii=False), p.page_start, p.page_end) for p in seg.passages],
            )
            self._insert_units(c, seg.units)

    def remove_report(self, doc: str) -> bool:
        with self.transaction() as c:
            found = c.execute("SELECT 1 FROM reports WHERE doc=?", (doc,)).fetchone() is not None
            self._delete_report_rows(c, doc)
        return found

    @staticmethod
    def _delete_report_rows(c: sqlite3.Connection, doc: str) -> None:
        # Decisions are deliberately kept: they are keyed by stable ids and outlive re-ingest.
        for table in ("reports", "lines", "passages", "units", "flags", "read_units"):
            c.execute(f"DELETE FROM {table} WHERE doc=?", (doc,))

    def reports(self) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT * FROM reports ORDER BY kommun, namnd, year, doc").fetchall()
        return [_report_row(r) for r in rows]

    def reports_with_content(self, sha256: str) -> list[dict[str, Any]]:
        """Stored reports read from files with these exact bytes, oldest first."""
        rows = self.conn.execute("SELECT * FROM reports WHERE sha256=? ORDER BY ingested_at, doc",
                                 (sha256,)).fetchall()
        return [_report_row(r) for r in rows]

    def reports_named(self, name: str) -> list[dict[str, Any]]:
        """Stored reports read from a file of this name (from any folder), oldest first."""
        rows = self.conn.execute("SELECT * FROM reports WHERE COALESCE(file, doc)=? ORDER BY ingested_at, doc",
                                 (name,)).fetchall()
        return [_report_row(r) for r in rows]

    def reports_by_doc(self) -> dict[str, dict[str, Any]]:
        return {r["doc"]: r for r in self.reports()}

    def report(self, doc: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM reports WHERE doc=?", (doc,)).fetchone()
        return None if row is None else _report_row(row)

    def lines(self, doc: str, start: int = 1, end: int | None = None, clean: bool = True) -> list[tuple[int, str]]:
        col = "clean" if clean else "raw"
        end = end if end is not None else 1 << 30
        rows = self.conn.execute(
            f"SELECT line, {col} FROM lines WHERE doc=? AND line BETWEEN ? AND ? ORDER BY line", (doc, start, end)
        ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def page_map(self, doc: str) -> dict[int, int]:
        """Line -> page for a PDF or Word report; empty for text files."""
        rows = self.conn.execute("SELECT line, page FROM lines WHERE doc=? AND page IS NOT NULL", (doc,))
        return {r[0]: r[1] for r in rows.fetchall()}

    # -- passages --------------------------------------------------------------------------------
    def passages(self, doc: str | None = None) -> list[Passage]:
        sql = "SELECT * FROM passages" + (" WHERE doc=?" if doc else "") + " ORDER BY doc, seq"
        return [self._passage(r) for r in self.conn.execute(sql, (doc,) if doc else ()).fetchall()]

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see one state of the store (a deferred read transaction under WAL)."""
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            self.conn.execute("COMMIT")

    def passage_docs(self) -> dict[int, str]:
        """Every passage's integer id and report: what an index update compares with what it holds."""
        return dict(self.conn.execute("SELECT pid, doc FROM passages ORDER BY doc, seq").fetchall())

    def passages_for(self, pids: Iterable[int]) -> dict[int, Passage]:
        """These passages keyed by integer id, in `passages()` order."""
        rows = sorted(self._rows_in("SELECT * FROM passages WHERE pid IN ({})", pids),
                      key=lambda r: (r["doc"], r["seq"]))
        return {r["pid"]: self._passage(r) for r in rows}

    def passage_rows(self, pids: Iterable[int]) -> dict[int, sqlite3.Row]:
        """Passages joined with report metadata and unit fields, keyed by integer id (for search hits)."""
        rows = self._rows_in(
            "SELECT p.*, r.kommun, r.namnd, r.year, u.title AS unit_title, u.level, u.status, u.suggested_status, "
            "u.themes AS unit_themes FROM passages p JOIN reports r ON r.doc = p.doc LEFT JOIN units u ON "
            "u.id = p.unit_id WHERE p.pid IN ({})", pids)
        return {r["pid"]: r for r in rows}

    def passage_kommuner(self) -> dict[int, str]:
        """Every passage's integer id and the kommun of its report ("" when unknown)."""
        return {pid: kommun or "" for pid, kommun in self.conn.execute(
            "SELECT p.pid, r.kommun FROM passages p JOIN reports r ON r.doc = p.doc")}

    def _rows_in(self, sql: str, ids: Iterable[Any]) -> list[sqlite3.Row]:
        """`sql` with its one `IN ({})` filled for `ids`, run a chunk at a time: SQLite bounds the number of bound
        parameters of one statement."""
        ids = list(ids)
        rows: list[sqlite3.Row] = []
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            rows += self.conn.execute(sql.format(",".join("?" * len(chunk))), chunk).fetchall()
        return rows

    def passage_ids(self, doc: str | None = None) -> list[int]:
        sql = "SELECT pid FROM passages" + (" WHERE doc=?" if doc else "") + " ORDER BY pid"
        return [r[0] for r in self.conn.execute(sql, (doc,) if doc else ()).fetchall()]

    def count(self, table: str) -> int:
        assert table in {"reports", "passages", "units", "flags", "decisions", "embeddings"}
        return self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    @staticmethod
    def _passage(r: sqlite3.Row) -> Passage:
        return Passage(id=r["id"], doc=r["doc"], seq=r["seq"], heading=r["heading"], text=r["text"],
                       line_start=r["line_start"], line_end=r["line_end"], unit_id=r["unit_id"],
                       themes=json.loads(r["themes"] or "[]"), page_start=r["page_start"], page_end=r["page_end"])

    def set_passage_themes(self, themes: dict[str, list[dict[str, Any]]]) -> None:
        with self.transaction() as c:
            c.executemany("UPDATE passages SET themes=? WHERE id=?",
                          [(json.dumps(v, ensure_ascii=False), k) for k, v in themes.items()])

    # -- units -----------------------------------------------------------------------------------
    def units(self, doc: str | None = None) -> list[Unit]:
        sql = "SELECT * FROM units" + (" WHERE doc=?" if doc else "") + " ORDER BY doc, seq"
        return [self._unit(r) for r in self.conn.execute(sql, (doc,) if doc else ()).fetchall()]

    def unit(self, unit_id: str) -> Unit | None:
        r = self.conn.execute("SELECT * FROM units WHERE id=?", (unit_id,)).fetchone()
        return self._unit(r) if r else None

    @staticmethod
    def _unit(r: sqlite3.Row) -> Unit:
        d = _known(r, UNIT_FIELDS)
        for f in UNIT_JSON_FIELDS:
            d[f] = json.loads(d[f]) if d[f] else ([] if f != "status_probs" else None)
        return Unit(**d)

    def set_unit_fields(self, updates: dict[str, dict[str, Any]]) -> None:
        """Write classifier output: {unit_id: {field: value}} for suggestion and theme fields only."""
        allowed = {"suggested_status", "status_confidence", "status_probs", "status_evidence", "status_note",
                   "themes"}
        with self.transaction() as c:
            for unit_id, fields in updates.items():
                bad = set(fields) - allowed
                if bad:
                    raise ValueError(f"not a classifier field: {sorted(bad)}")
                cols = ", ".join(f"{k}=?" for k in fields)
                vals = [json.dumps(v, ensure_ascii=False) if k in UNIT_JSON_FIELDS else v for k, v in fields.items()]
                c.execute(f"UPDATE units SET {cols} WHERE id=?", (*vals, unit_id))

    # -- the segmenter's units, kept under reviewers' structural corrections (pipeline/structure.py) --------
    def read_units(self, doc: str) -> tuple[list[Unit], dict[str, str | None]] | None:
        """The units as the reader found them and each passage's unit, if a structural correction kept them."""
        row = self.conn.execute("SELECT units, passage_units FROM read_units WHERE doc=?", (doc,)).fetchone()
        if row is None:
            return None
        return [Unit(**u) for u in json.loads(row[0])], json.loads(row[1])

    def keep_read_units(self, doc: str, units: list[Unit], passage_units: dict[str, str | None]) -> None:
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO read_units VALUES (?,?,?)",
                      (doc, json.dumps([asdict(u) for u in units], ensure_ascii=False),
                       json.dumps(passage_units, ensure_ascii=False)))

    def replace_units(self, doc: str, units: list[Unit], passage_units: dict[str, str | None]) -> None:
        """A report's units and its passages' units, rewritten in one transaction (derived fields are redone by
        pipeline/derive.py afterwards)."""
        with self.transaction() as c:
            c.execute("DELETE FROM units WHERE doc=?", (doc,))
            self._insert_units(c, units)
            c.executemany("UPDATE passages SET unit_id=? WHERE id=?",
                          [(uid, pid) for pid, uid in passage_units.items()])

    @staticmethod
    def _insert_units(c: sqlite3.Connection, units: list[Unit]) -> None:
        c.executemany(
            "INSERT INTO units(id,doc,seq,level,parent,parent_id,title,text,line_start,line_end,title_line,"
            "explicit_status,explicit_status_source,explicit_status_line,status,linked_unit_id,page_start,"
            "page_end,progress) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [(u.id, u.doc, u.seq, u.level, u.parent, u.parent_id, u.title, u.text, u.line_start, u.line_end,
              u.title_line, u.explicit_status, u.explicit_status_source, u.explicit_status_line, u.status,
              u.linked_unit_id, u.page_start, u.page_end, u.progress) for u in units],
        )

    # -- embedding cache -------------------------------------------------------------------------
    def cached_vectors(self, model: str, hashes: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(hashes), 500):
            chunk = hashes[i:i + 500]
            rows = self.conn.execute(
                f"SELECT text_hash, vector FROM embeddings WHERE model=? AND text_hash IN ({','.join('?' * len(chunk))})",
                (model, *chunk),
            ).fetchall()
            out.update({h: np.frombuffer(v, dtype=np.float32) for h, v in rows})
        return out

    def put_vectors(self, model: str, vectors: dict[str, np.ndarray]) -> None:
        with self.transaction() as c:
            c.executemany("INSERT OR REPLACE INTO embeddings VALUES (?,?,?)",
                          [(model, h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in vectors.items()])

    # -- feature cache: a classifier's rows keyed by a hash of everything they are computed from ---------------
    def cached_features(self, keys: list[str]) -> dict[str, tuple[np.ndarray, dict[str, Any]]]:
        out: dict[str, tuple[np.ndarray, dict[str, Any]]] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            rows = self.conn.execute(f"SELECT key, vector, info FROM features WHERE key IN ({','.join('?' * len(chunk))})",
                                     chunk).fetchall()
            out.update({k: (np.frombuffer(v, dtype=np.float32), json.loads(info)) for k, v, info in rows})
        return out

    def put_features(self, rows: dict[str, tuple[np.ndarray, dict[str, Any]]]) -> None:
        with self.transaction() as c:
            c.executemany("INSERT OR REPLACE INTO features VALUES (?,?,?)",
                          [(k, np.asarray(v, dtype=np.float32).tobytes(), json.dumps(info, ensure_ascii=False))
                           for k, (v, info) in rows.items()])

    # -- the status review queue's order: one ranking over every report, rewritten whole -------------------------
    def set_review_order(self, ranks: dict[str, float]) -> None:
        with self.transaction() as c:
            c.execute("DELETE FROM review_order")
            c.executemany("INSERT INTO review_order VALUES (?,?)", sorted(ranks.items()))

    def review_order(self) -> dict[str, float]:
        return dict(self.conn.execute("SELECT unit_id, rank FROM review_order").fetchall())

    # -- near-duplicate bands (nlp/near_duplicates.py) ---------------------------------------------
    # Kept when a report's rows are replaced or removed: until its derived data is redone they say which other
    # reports shared text with the version that left, so their cross-report flags are redone too.
    def replace_bands(self, doc: str, rows: Iterable[tuple[str, int, int]]) -> None:
        with self.transaction() as c:
            c.execute("DELETE FROM text_bands WHERE doc=?", (doc,))
            c.executemany("INSERT INTO text_bands VALUES (?,?,?,?)", [(doc, u, b, k) for u, b, k in rows])

    def band_partners(self, doc: str, max_docs: int) -> dict[str, set[str]]:
        """Other reports' units sharing at least one band key with a unit of `doc`: {doc: {unit id}}. A key held by
        more than `max_docs` reports is template text, not a copy, and is left out: that also bounds the work."""
        out: dict[str, set[str]] = {}
        for other, unit_id in self.conn.execute(
                "WITH mine AS (SELECT DISTINCT band, key FROM text_bands WHERE doc=?), "
                "rare AS (SELECT t.band, t.key FROM text_bands t JOIN mine m ON t.band=m.band AND t.key=m.key "
                "         GROUP BY t.band, t.key HAVING COUNT(DISTINCT t.doc) <= ?) "
                "SELECT DISTINCT o.doc, o.unit_id FROM rare r JOIN text_bands o ON o.band=r.band AND o.key=r.key "
                "WHERE o.doc<>?", (doc, max_docs, doc)):
            out.setdefault(other, set()).add(unit_id)
        return out

    def units_by_id(self, ids: Iterable[str]) -> list[Unit]:
        rows = self._rows_in("SELECT * FROM units WHERE id IN ({})", sorted(set(ids)))
        return sorted((self._unit(r) for r in rows), key=lambda u: (u.doc, u.seq))

    # -- flags -----------------------------------------------------------------------------------
    def replace_flags(self, doc: str, flags: list[Flag]) -> None:
        with self.transaction() as c:
            c.execute("DELETE FROM flags WHERE doc=?", (doc,))
            c.executemany("INSERT OR REPLACE INTO flags VALUES (?,?,?,?,?,?,?,?,?)",
                          [(f.id, f.kind, f.doc, json.dumps(f.unit_ids), f.line, f.severity, f.score, f.message,
                            json.dumps(f.evidence, ensure_ascii=False)) for f in flags])

    def flags(self, doc: str | None = None, kind: str | None = None) -> list[Flag]:
        where, args = [], []
        if doc:
            where.append("doc=?"), args.append(doc)
        if kind:
            where.append("kind=?"), args.append(kind)
        sql = "SELECT * FROM flags" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY doc, score DESC"
        return [Flag(id=r["id"], kind=r["kind"], doc=r["doc"], unit_ids=json.loads(r["unit_ids"]), line=r["line"],
                     severity=r["severity"], score=r["score"], message=r["message"],
                     evidence=json.loads(r["evidence"] or "[]")) for r in self.conn.execute(sql, args).fetchall()]

    # -- review decisions ------------------------------------------------------------------------
    def add_decision(self, d: Decision) -> int:
        with self.transaction() as c:
            return _insert_decision(c, d, d.old_value)

    def add_decision_over(self, d: Decision, default_old: str | None) -> int:
        """Like add_decision, but old_value is read inside the same write transaction: the value of the decision in
        force on the target (if it has one), else `default_old`. Two reviewers deciding at once then each record
        what they actually replaced, so the history shows which write won (last writer wins)."""
        with self.transaction() as c:
            row = c.execute("SELECT new_value FROM decisions WHERE target_type=? AND target_id=? AND undone=0 "
                            "ORDER BY id DESC LIMIT 1", (d.target_type, d.target_id)).fetchone()
            return _insert_decision(c, d, row[0] if row is not None and row[0] is not None else default_old)

    def undo_decision(self, decision_id: int, reviewer: str) -> None:
        """Undo keeps history: the decision is marked undone and an 'undo' row records who did it."""
        with self.transaction() as c:
            row = c.execute("SELECT * FROM decisions WHERE id=?", (decision_id,)).fetchone()
            if row is None:
                raise KeyError(decision_id)
            if row["undone"]:  # checked inside the transaction: two tabs undoing the same decision undo it once
                from errors import ReviewError

                raise ReviewError(f"beslut {decision_id} är redan ångrat")
            c.execute("UPDATE decisions SET undone=1 WHERE id=?", (decision_id,))
            c.execute(
                "INSERT INTO decisions(target_type,target_id,doc,reviewer,action,old_value,new_value,comment,"
                "created_at,undone) VALUES (?,?,?,?,?,?,?,?,?,1)",
                (row["target_type"], row["target_id"], row["doc"], reviewer, "undo", row["new_value"],
                 row["old_value"], f"ångrar beslut {decision_id}", now_iso()),
            )

    def decisions(self, target_type: str | None = None, target_id: str | None = None,
                  include_undone: bool = True) -> list[Decision]:
        where, args = [], []
        if target_type:
            where.append("target_type=?"), args.append(target_type)
        if target_id:
            where.append("target_id=?"), args.append(target_id)
        if not include_undone:
            where.append("undone=0")
        sql = "SELECT * FROM decisions" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        return [Decision(**{**_known(r, DECISION_FIELDS), "undone": bool(r["undone"])})
                for r in self.conn.execute(sql, args).fetchall()]

    def current_decisions(self, target_type: str) -> dict[str, Decision]:
        """The latest decision in force per target (last writer wins; undone ones do not count)."""
        out: dict[str, Decision] = {}
        for d in self.decisions(target_type, include_undone=False):
            out[d.target_id] = d
        return out


def unit_to_json(u: Unit, report: dict[str, Any] | None) -> dict[str, Any]:
    """The `units --jsonl` record: the CLI contract keys first, then the rest."""
    report = report or {}
    d = asdict(u)
    rec = {
        "id": u.id, "doc": u.doc, "kommun": report.get("kommun"), "namnd": report.get("namnd"),
        "year": report.get("year"), "period": report.get("period"), "level": u.level, "parent": u.parent,
        "title": u.title, "text": u.text, "line_start": u.line_start, "line_end": u.line_end,
        "page_start": u.page_start, "page_end": u.page_end, "progress": u.progress,
        "explicit_status": u.explicit_status, "explicit_status_source": u.explicit_status_source,
        "status": u.status, "suggested_status": u.suggested_status, "status_confidence": u.status_confidence,
        "status_evidence": u.status_evidence or [], "themes": u.themes or [],
    }
    for k, v in d.items():
        rec.setdefault(k, v)
    return rec


def _report_row(row: sqlite3.Row) -> dict[str, Any]:
    d = dict(row)
    d["legend"] = json.loads(d["legend"] or "{}")
    return d


def _insert_decision(c: sqlite3.Connection, d: Decision, old_value: str | None) -> int:
    cur = c.execute(
        "INSERT INTO decisions(target_type,target_id,doc,reviewer,action,old_value,new_value,comment,"
        "created_at,flag_case) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (d.target_type, d.target_id, d.doc, d.reviewer, d.action, old_value, d.new_value, d.comment,
         d.created_at or now_iso(), d.flag_case))
    return int(cur.lastrowid)
