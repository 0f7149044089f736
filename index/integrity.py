"""Nothing lost: limits on reading one file, crash recovery on start, orphaned decisions, safe upload names.

SQLite (store.sqlite) is the source of truth. Everything else in the data directory (BM25 and FAISS files, status
suggestions, themes, flags) is derived from it and can be rebuilt. Three mechanisms keep the two in step:

* a *pending* marker: before a report's rows change, its name is written to the store's meta table (committed);
  it is cleared only after every derived step for it has finished. A crash anywhere in between leaves the name
  there, and `recover` redoes the derived steps for it on the next start;
* `check_indexes` compares the index files with the passages in SQLite; `recover` rebuilds them from SQLite when
  they disagree, are missing or fail their checksums;
* review decisions are never deleted by ingest or remove; `orphan_decisions` reports those whose unit or flag is
  gone, so a reviewer sees them instead of losing them silently.

Reading and segmenting one file runs in a separate process under a time and memory limit (`prepare_limited`), so
a hostile or broken file ends in a clear message instead of a hang or an exhausted machine. (Uploaded file names are
sanitised in index/upload.py.)
"""
from __future__ import annotations

import json
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from errors import NoUnitsFound, UnreadableReport
from index.store import Store
from records import Decision

TIME_LIMIT_ENV = "RAPPORT_TIME_LIMIT_S"  # 0 turns the worker off
MEMORY_LIMIT_ENV = "RAPPORT_MEMORY_LIMIT_MB"
DEFAULT_TIME_LIMIT_S = 120.0  # an 80 kB report takes about 2 s; 60x that is no report, it is a hang
PER_PAGE_S = 0.5  # a long PDF earns more time as it reports its pages (about 0.1 s a page is usual)
DEFAULT_MEMORY_LIMIT_MB = 2048  # on top of what the worker holds when it starts
PENDING_KEY = "pending_derive"


# -- limits on reading one file --------------------------------------------------------------------------------
def time_limit_s() -> float:
    return float(os.environ.get(TIME_LIMIT_ENV) or DEFAULT_TIME_LIMIT_S)


def memory_limit_mb() -> int:
    return int(os.environ.get(MEMORY_LIMIT_ENV) or DEFAULT_MEMORY_LIMIT_MB)


def _context() -> multiprocessing.context.BaseContext | None:
    """forkserver: workers fork from a clean server process, never from one that runs threads (the app, torch),
    and the server imports the reader and segmenter once. None where only spawn exists (no limits there)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return None
    ctx = multiprocessing.get_context("forkserver")
    try:
        ctx.set_forkserver_preload(["index.ingest", "nlp.status"])
    except Exception:  # noqa: BLE001 - preload is an optimisation only
        pass
    return ctx


def _vm_size_bytes() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _worker(conn, fn: Callable[..., Any], args: tuple, memory_mb: int) -> None:
    """Runs in the child: cap the address space, call fn, send back ("ok", result) or ("error", ...)."""
    try:
        import resource

        base = _vm_size_bytes()
        if base is not None and memory_mb > 0:
            limit = base + memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass
    try:
        if _takes_progress(fn):
            result = fn(*args, progress=lambda done, total: conn.send(("progress", done, total)))
        else:
            result = fn(*args)
        conn.send(("ok", result))
    except NoUnitsFound as e:
        conn.send(("nounits", e.file, e.cause))
    except UnreadableReport as e:
        conn.send(("unreadable", e.file, e.cause))
    except MemoryError:
        conn.send(("memory",))
    except RecursionError:
        conn.send(("crash", "RecursionError"))
    except Exception as e:  # noqa: BLE001 - any other failure becomes one clear line in the parent
        conn.send(("crash", e.__class__.__name__))
    finally:
        conn.close()


def _takes_progress(fn: Callable[..., Any]) -> bool:
    import inspect

    try:
        return "progress" in inspect.signature(fn).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False


def run_limited(fn: Callable[..., Any], args: tuple, name: str, timeout: float | None = None,
                memory_mb: int | None = None, progress: Callable[[int, int], None] | None = None) -> Any:
    """fn(*args) in a worker process; UnreadableReport(name, ...) if it runs past `timeout` seconds, needs more
    than `memory_mb` MB beyond its start, or fails. `fn` must be importable (a module-level function). When fn
    takes a `progress` argument, its (done, total) reports reach `progress` here, and a long file earns
    PER_PAGE_S seconds per page beyond the limit."""
    timeout = time_limit_s() if timeout is None else timeout
    memory_mb = memory_limit_mb() if memory_mb is None else memory_mb
    ctx = _context() if timeout > 0 else None  # a limit of 0 runs fn here, unguarded (debugging, profiling)
    if ctx is None:
        return fn(*args)
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_worker, args=(child, fn, args, memory_mb), daemon=True)
    started = time.monotonic()
    deadline = started + timeout
    proc.start()
    child.close()
    try:
        while True:
            if not parent.poll(max(0.0, deadline - time.monotonic())):
                raise UnreadableReport(name, f"inläsningen tog längre än {deadline - started:.0f} s och avbröts; "
                                             "filen är för stor eller har ett format som inte går att tolka")
            try:
                msg = parent.recv()
            except EOFError:
                raise UnreadableReport(name, _died_message(proc, memory_mb)) from None
            if msg[0] != "progress":
                break
            deadline = max(deadline, started + PER_PAGE_S * msg[2])
            if progress is not None:
                progress(msg[1], msg[2])
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        parent.close()
    return _unpack(msg, name, memory_mb)


def _died_message(proc, memory_mb: int) -> str:
    proc.join(5)
    if proc.exitcode == -9:  # the kernel's out-of-memory killer, or someone killed the worker
        return f"inläsningen avbröts; filen kräver troligen mer än {memory_mb} MB minne"
    return f"inläsningen avbröts oväntat (kod {proc.exitcode}); spara om filen som text och försök igen"


def _unpack(msg: tuple, name: str, memory_mb: int) -> Any:
    kind = msg[0]
    if kind == "ok":
        return msg[1]
    if kind == "nounits":
        raise NoUnitsFound(msg[1], msg[2])
    if kind == "unreadable":
        raise UnreadableReport(msg[1], msg[2])
    if kind == "memory":
        raise UnreadableReport(name, f"inläsningen krävde mer än {memory_mb} MB minne och avbröts; filen är för "
                                     "stor eller felaktig")
    raise UnreadableReport(name, f"filen kunde inte tolkas (internt fel: {msg[1]}); spara om den som text och "
                                 "försök igen")


def prepare_limited(path: Path, overrides: dict[str, object], manifest: dict[str, dict[str, str]],
                    encoding: str | None = None, timeout: float | None = None, memory_mb: int | None = None,
                    progress: Callable[[int, int], None] | None = None, layout: str | None = None):
    """index.ingest.prepare under the time and memory limits: (meta, document, segmentation)."""
    from index.ingest import prepare

    return run_limited(prepare, (Path(path), overrides, manifest, encoding, layout), Path(path).name, timeout,
                       memory_mb, progress)


# -- pending derived work --------------------------------------------------------------------------------------
def pending(store: Store) -> list[str]:
    return json.loads(store.get_meta(PENDING_KEY) or "[]")


def mark_pending(store: Store, docs: list[str]) -> None:
    """Committed before a report's rows change: 'derived data for these reports may be stale'."""
    with store.transaction():
        current = pending(store)
        store.set_meta(PENDING_KEY, json.dumps(sorted(set(current) | set(docs)), ensure_ascii=False))


def clear_pending(store: Store, docs: list[str] | None = None) -> None:
    """After every derived step for `docs` (None: all) has finished."""
    with store.transaction():
        left = [] if docs is None else sorted(set(pending(store)) - set(docs))
        store.set_meta(PENDING_KEY, json.dumps(left, ensure_ascii=False))


# -- check and recover -----------------------------------------------------------------------------------------
@dataclass
class IntegrityReport:
    """What `check` saw and what `recover` did, for a log line and for tests."""

    passages: int = 0
    lexical: int | None = None  # rows in the BM25 index, None when it cannot be read
    vectors: int | None = None  # vectors in FAISS, None when it cannot be read
    problems: list[str] = field(default_factory=list)
    redone: list[str] = field(default_factory=list)  # reports whose derived data was redone after a crash
    rebuilt: bool = False  # indexes rebuilt from SQLite
    orphans: list[Decision] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not self.problems

    def repair_lines(self) -> list[str]:
        """Swedish lines for the user: what was repaired."""
        out = []
        if self.redone:
            out.append("avbruten inläsning slutförd för: " + ", ".join(self.redone))
        if self.rebuilt:
            out.append("sökindexen byggdes om från databasen (" + "; ".join(self.problems) + ")")
        return out

    def lines(self) -> list[str]:
        """What was repaired, then which decisions lost their unit or flag."""
        return self.repair_lines() + orphan_lines(self.orphans)


def check(store: Store) -> IntegrityReport:
    """Counts and disagreements between SQLite and the index files; reads, never writes."""
    from index.dense import DenseIndex
    from index.indexes import _paths, check_indexes
    from index.lexical import LexicalIndex
    from errors import IndexCorrupt

    report = IntegrityReport(passages=store.count("passages"))
    paths = _paths(store)
    try:
        report.lexical = LexicalIndex.load(paths["lex_npz"], paths["lex_json"]).size
    except IndexCorrupt:
        pass
    try:
        report.vectors = DenseIndex.load(paths["dense"], paths["dense_json"]).size
    except IndexCorrupt:
        pass
    report.problems = check_indexes(store)
    if pending(store):
        report.problems.append("en tidigare inläsning avbröts innan den var klar: " + ", ".join(pending(store)))
    report.orphans = orphan_decisions(store)
    return report


def recover(store: Store, embedder=None) -> IntegrityReport:
    """Bring derived data back in line with SQLite after a crash: redo pending reports, rebuild broken indexes."""
    from index.indexes import check_indexes, repair_indexes

    report = IntegrityReport()
    todo = pending(store)
    if todo:
        _derive(store, todo, embedder)
        clear_pending(store, todo)
        report.redone = todo
    problems = check_indexes(store)
    if problems:
        report.problems = problems
        repair_indexes(store, embedder=embedder)
        report.rebuilt = True
    final = check(store)
    final.redone, final.rebuilt, final.problems = report.redone, report.rebuilt, problems + final.problems
    return final


def _derive(store: Store, docs: list[str], embedder=None) -> None:
    from index.indexes import update_indexes
    from nlp.consistency import apply_flags
    from nlp.status import apply_status
    from nlp.themes import apply_themes

    present = {r["doc"] for r in store.reports()}
    update_indexes(store, changed_docs=docs, embedder=embedder)
    kept = [d for d in docs if d in present]
    if kept:
        apply_status(store, kept)
        apply_themes(store, kept)
    apply_flags(store, None)


def needs_recovery(store: Store) -> bool:
    """Cheap test for start-up: a pending marker or index files that do not match the store."""
    from index.indexes import check_indexes

    return bool(pending(store)) or (store.count("reports") > 0 and bool(check_indexes(store)))


def open_store(db_dir: Path | str | None = None, create: bool = False, embedder=None) -> tuple[Store, IntegrityReport]:
    """Open the store and repair derived data from SQLite if a crash left it behind (the app and CLI call this
    on start)."""
    store = Store.open(db_dir, create=create)
    if needs_recovery(store):
        return store, recover(store, embedder)
    return store, IntegrityReport(passages=store.count("passages"), orphans=orphan_decisions(store))


# -- decisions whose unit or flag is gone ----------------------------------------------------------------------
def orphan_decisions(store: Store) -> list[Decision]:
    """Decisions in force whose unit or flag no longer exists (the report was removed or the item changed).

    They stay in the decisions table and come back into force if the item reappears with the same stable id."""
    units = {r[0] for r in store.conn.execute("SELECT id FROM units")}
    flags = {r[0] for r in store.conn.execute("SELECT id FROM flags")}
    known = {"unit_status": units, "flag": flags}
    out: list[Decision] = []
    for target_type, ids in known.items():
        out += [d for d in store.current_decisions(target_type).values() if d.target_id not in ids]
    return sorted(out, key=lambda d: d.id or 0)


def orphan_lines(orphans: list[Decision]) -> list[str]:
    if not orphans:
        return []
    what = {"unit_status": "posten", "flag": "flaggan"}
    lines = [f"{len(orphans)} granskningsbeslut gäller poster eller flaggor som inte längre finns (besluten "
             "är sparade och exporteras med `python cli.py export decisions`):"]
    lines += [f"  beslut {d.id} ({d.reviewer}, {d.action}{': ' + d.new_value if d.new_value else ''}) på "
              f"{what.get(d.target_type, d.target_type)} {d.target_id}" for d in orphans]
    return lines
