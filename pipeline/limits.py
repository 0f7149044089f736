"""Limits on reading one file: reading and segmenting run in a worker process under a time and memory limit, so a
hostile or broken file ends in a clear message instead of a hang or an exhausted machine. The CLI's ingest and the
app's uploads and previews all read through `prepare_limited`.
"""
from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path
from typing import Any, Callable

from errors import NoUnitsFound, UnreadableReport

TIME_LIMIT_ENV = "RAPPORT_TIME_LIMIT_S"  # 0 turns the worker off
MEMORY_LIMIT_ENV = "RAPPORT_MEMORY_LIMIT_MB"
DEFAULT_TIME_LIMIT_S = 120.0  # an 80 kB report takes about 2 s; 60x that is no report, it is a hang
PER_PAGE_S = 0.5  # a long PDF earns more time as it reports its pages (about 0.1 s a page is usual)
DEFAULT_MEMORY_LIMIT_MB = 2048  # on top of what the worker holds when it starts


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
        ctx.set_forkserver_preload(["pipeline.prepare", "nlp.status"])
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
    """pipeline.prepare.prepare under the time and memory limits: (meta, document, segmentation)."""
    from pipeline.prepare import prepare

    return run_limited(prepare, (Path(path), overrides, manifest, encoding, layout), Path(path).name, timeout,
                       memory_mb, progress)
