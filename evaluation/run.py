"""`python cli.py eval`: every metric the project has, against the analyst-labelled dev set read at run time."""
from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Iterator

from evaluation.gold import DEFAULT_GOLD_DIR, load_gold
from index.store import Store

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("segmentation", "renderings", "families", "status", "status_learning", "themes", "flags", "search")


def ensure_corpus(db_dir: Path | str | None, gold_dir: Path | str | None) -> Store:
    """The dev reports must be in the store; ingest corpus/ when any is missing."""
    from pipeline.ingest import ingest_paths
    from pipeline.recovery import open_store

    wanted = set(load_gold(gold_dir))
    try:
        store, _ = open_store(db_dir)  # as the app and the CLI open it: derived data brought up to date
        if wanted <= {r["doc"] for r in store.reports()}:
            return store
        store.close()
    except Exception:
        pass
    ingest_paths([ROOT / "corpus"], db_dir=db_dir, progress=False)
    return Store.open(db_dir)


def run_eval(db_dir: Path | str | None = None, gold_dir: Path | str | None = None,
             only: list[str] | None = None) -> Iterator[str]:
    gold_dir = gold_dir or DEFAULT_GOLD_DIR
    for name in only or []:
        if name not in SECTIONS:
            from errors import UnknownChoice

            raise UnknownChoice("--only", name, SECTIONS)
    store = ensure_corpus(db_dir, gold_dir)
    yield f"# Utvärdering mot analytikeretiketterna i {gold_dir}"
    yield ("Varje siffra står bredvid sin baslinje och säger hur den hölls utanför: status, teman och flaggor "
           "lämna-en-rapport-utanför, sökningens fusionsparameter lämna-en-fråga-utanför.")
    for name in only or SECTIONS:
        started = time.perf_counter()
        module = importlib.import_module(f"evaluation.{name}")
        yield ""
        yield from module.evaluate(store, gold_dir)
        yield f"({name}: {time.perf_counter() - started:.1f} s)"


def main(argv: list[str] | None = None) -> int:
    """`python -m evaluation.run` (what `python cli.py eval` runs, in a process of its own)."""
    import argparse
    import sys

    from errors import ToolError

    parser = argparse.ArgumentParser(prog="python -m evaluation.run")
    parser.add_argument("--gold"), parser.add_argument("--db"), parser.add_argument("--only", nargs="*")
    args = parser.parse_args(argv)
    try:
        for line in run_eval(db_dir=args.db, gold_dir=args.gold, only=args.only):
            print(line, flush=True)
    except ToolError as e:
        print(f"fel: {e.user_message()}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
