"""A child process for tests/test_integrity.py: runs one ingest or remove and is killed with SIGKILL part-way.

    python -m tests.integrity_child DB ingest DIR [--kill HOOK:N]
    python -m tests.integrity_child DB remove FILE [--kill HOOK:N]
    python -m tests.integrity_child DB upload FILE [--kill HOOK:N]

--kill makes the process SIGKILL itself at the N-th passage through HOOK, a place where a crash is most likely to
leave SQLite and the index files out of step:

    mid-transaction  inside replace_report / remove_report, after the old rows are deleted, before COMMIT
    replace_report   right after a report's rows are committed, before any derived step
    os.replace       just before the N-th rename of an index file (lexical .npz/.json, dense .faiss/.json)
    put_vectors      right after the N-th batch of vectors is committed to the embedding cache
    set_unit_fields  right after the N-th write of classifier output (status suggestions, themes)
    replace_flags    right after the N-th write of a report's flags
    clear_pending    just before the pending marker is cleared (everything else is done)
    os.rename        just before the N-th rename of a whole index generation folder into place
    renamed          right after that rename, before SQLite names the new generation
    move             (upload) right after the uploaded file is moved out of uploads/.pending/

`upload FILE` runs the app's upload path (pipeline/upload.py: pending copy, limited worker, store, derive).

Without --kill the test kills it at a random moment instead. The embedding model is replaced by the test suite's
deterministic HashEmbedder (see tests/conftest.py): what is tested here is the bookkeeping between SQLite and the
index files, which does not depend on the model, and loading the real one in every child would take most of the
time.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def use_hash_embedder() -> None:
    import index.embeddings
    from tests.conftest import HashEmbedder

    index.embeddings.Embedder.load = classmethod(lambda cls, *args, **kwargs: HashEmbedder())


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def install_kill(hook: str, n: int) -> None:
    import pipeline.ingest
    from index.store import Store

    calls = [0]

    def due() -> bool:
        calls[0] += 1
        return calls[0] == n

    if hook == "os.replace":
        real_replace = os.replace

        def replace(src, dst, *args, **kwargs):
            if due():
                die()
            return real_replace(src, dst, *args, **kwargs)

        os.replace = replace
    elif hook in ("os.rename", "renamed"):
        real_rename = os.rename

        def rename(src, dst, *args, **kwargs):
            fires = Path(dst).name.startswith("gen-") and due()
            if fires and hook == "os.rename":
                die()
            real_rename(src, dst, *args, **kwargs)
            if fires:
                die()

        os.rename = rename
    elif hook == "move":
        import shutil

        real_move = shutil.move

        def move(src, dst, *args, **kwargs):
            result = real_move(src, dst, *args, **kwargs)
            if due():
                die()
            return result

        shutil.move = move
    elif hook == "mid-transaction":
        real_delete = Store._delete_report_rows

        def delete(c, doc):
            real_delete(c, doc)
            if due():
                die()

        Store._delete_report_rows = staticmethod(delete)
    elif hook == "clear_pending":
        real_clear = pipeline.ingest.clear_pending

        def clear(store, docs=None):
            if due():
                die()
            return real_clear(store, docs)

        pipeline.ingest.clear_pending = clear
    elif hook in ("replace_report", "put_vectors", "set_unit_fields", "replace_flags"):
        real = getattr(Store, hook)

        def after(self, *args, **kwargs):
            result = real(self, *args, **kwargs)
            if due():
                die()
            return result

        setattr(Store, hook, after)
    else:
        raise SystemExit(f"unknown hook {hook}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("op", choices=["ingest", "remove", "upload"])
    parser.add_argument("target")
    parser.add_argument("--kill", default=None)
    args = parser.parse_args(argv)
    use_hash_embedder()
    from pipeline.ingest import ingest_paths, remove_report

    if args.kill:
        hook, n = args.kill.rsplit(":", 1)
        install_kill(hook, int(n))
    print("READY", flush=True)
    if args.op == "upload":
        from index.store import Store
        from pipeline.upload import ingest_upload, save_pending

        source = Path(args.target)
        store = Store.open(args.db, create=True)
        result = ingest_upload(store, save_pending(args.db, source.name, source.read_bytes()), {})
        print(result.doc, flush=True)
        return 0
    if args.op == "ingest":
        summary = ingest_paths([args.target], db_dir=args.db, progress=False)
        print(summary.line(), flush=True)
        return 1 if summary.errors else 0
    return 0 if remove_report(args.target, db_dir=args.db) else 1


if __name__ == "__main__":
    sys.exit(main())
