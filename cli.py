"""Command line: a thin layer that parses arguments, calls one core function and formats the result.

Run `python cli.py COMMAND --help` for each command.
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # model loading must not write progress noise
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from errors import ReviewError, ToolError, storage_error  # noqa: E402

ROOT = Path(__file__).resolve().parent


def _print_jsonl(records: list[dict[str, Any]]) -> None:
    for r in records:
        print(json.dumps(r, ensure_ascii=False))


def cmd_ingest(args: argparse.Namespace) -> int:
    from pipeline.ingest import ingest_paths
    from pipeline.prepare import explain

    if args.explain:
        for path in args.paths or []:
            for line in explain(Path(path), layout=args.layout):
                print(line)
        if not args.paths:
            raise ToolError("ange filen att förklara: python cli.py ingest --explain FIL")
        return 0
    if args.device:
        from index.embeddings import DEVICE_ENV, resolve_device

        os.environ[DEVICE_ENV] = resolve_device(args.device)  # the ingest worker inherits it
    overrides = {k: v for k, v in {"kommun": args.kommun, "namnd": args.namnd, "year": args.year,
                                   "period": args.period}.items() if v is not None}
    # Without paths, --reindex rebuilds what the store holds; only a plain ingest falls back to the sample corpus.
    paths = args.paths or ([] if args.reindex else [ROOT / "corpus"])
    summary = ingest_paths(paths, db_dir=args.db, overrides=overrides,
                           reindex=args.reindex, progress=not args.quiet, layout=args.layout)
    for err in summary.errors:
        print(f"fel: {err}", file=sys.stderr)
    for line in summary.warnings:
        print(f"obs: {line}", file=sys.stderr)
    print(summary.line())
    return 1 if summary.errors else 0


def cmd_remove(args: argparse.Namespace) -> int:
    from pipeline.ingest import remove_report

    removed = remove_report(args.file, db_dir=args.db)
    print(f"borttagen: {removed}" if removed else f"{args.file}: finns inte i databasen")
    if removed:  # decisions on the removed report are kept; say so rather than let them vanish from view
        from pipeline.recovery import orphan_decisions, orphan_lines
        from index.store import Store

        orphans = [d for d in orphan_decisions(Store.open(args.db)) if d.doc == removed]
        for line in orphan_lines(orphans):
            print(f"obs: {line}", file=sys.stderr)
    return 0 if removed else 1


def cmd_retitle(args: argparse.Namespace) -> int:
    from index.store import Store
    from pipeline.corrections import edit_title

    store = Store.open(args.db)
    decision = edit_title(store, args.unit, args.reviewer, args.title)
    print(f"titel ändrad för {args.unit} (beslut {decision}; ångra med: python cli.py undo {decision} "
          f"--reviewer NAMN)")
    return 0


def cmd_edit_report(args: argparse.Namespace) -> int:
    from index.store import Store
    from pipeline.corrections import edit_report

    store = Store.open(args.db)
    changes = {f: getattr(args, f) for f in ("kommun", "namnd", "year", "period") if getattr(args, f) is not None}
    decision = edit_report(store, args.doc, args.reviewer, **changes)
    r = store.report(args.doc)
    print(f"{args.doc}: {r['kommun']}, {r['namnd']}, {r['year']}, {r['period']} (beslut {decision}; ångra med: "
          f"python cli.py undo {decision} --reviewer NAMN)")
    return 0


def cmd_structure(args: argparse.Namespace) -> int:
    """split, merge, delete-unit, move-end, set-level, set-parent: one stored, undoable correction each."""
    from index.store import Store
    from pipeline.structure import edit_structure, next_unit, split_id

    store = Store.open(args.db)
    action, params = args.action, {}
    if action == "split":
        params = {"line": args.line, "title": args.title}
    elif action == "merge":
        other = args.other or getattr(next_unit(store, args.unit), "id", None)
        if other is None:
            raise ReviewError(f"posten {args.unit} har ingen följande post att slå ihop med")
        params = {"with": other}
    elif action == "end":
        params = {"line": args.line}
    elif action == "level":
        params = {"level": args.level}
    elif action == "parent":
        params = {"parent": args.parent}
    decision = edit_structure(store, args.unit, args.reviewer, action, **params)
    line = getattr(args, "line", None)
    done = {"split": f"delad vid rad {line}; ny post {split_id(args.unit, line or 0)}",
            "merge": "ihopslagen med nästa post", "delete": "borttagen", "end": f"slutar nu på rad {line}",
            "level": f"har nu nivån {getattr(args, 'level', '')}",
            "parent": f"ligger nu under {getattr(args, 'parent', None) or 'ingen post'}"}[action]
    print(f"posten {args.unit} {done} (beslut {decision}; ångra med: python cli.py undo {decision} --reviewer NAMN)")
    return 0


def cmd_undo(args: argparse.Namespace) -> int:
    from index.store import Store
    from pipeline.review import undo

    undone = undo(Store.open(args.db), args.decision, args.reviewer)
    print(f"ångrat: beslut {undone.id} ({undone.target_type} {undone.target_id})")
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    from index.indexes import repair_indexes
    from index.store import Store

    result = repair_indexes(Store.open(args.db), dense_kind=args.dense)
    print(f"index ombyggda: {result.dense_added} vektorer ({result.embedded} nyberäknade), modell {result.model_id}")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from pipeline.backup import backup

    result = backup(args.db, args.dest)
    if result.finished:
        print(f"obs: inläsning som pågick när kopian togs slutfördes i kopian: {', '.join(result.finished)}",
              file=sys.stderr)
    print(f"säkerhetskopia: {result.dest} ({result.reports} rapporter; återställ genom att använda katalogen som "
          "--db eller kopiera den till data/)")
    return 0


def cmd_units(args: argparse.Namespace) -> int:
    from index.store import Store, unit_to_json

    store = Store.open(args.db)
    reports = {r["doc"]: r for r in store.reports()}
    units = store.units(args.doc)
    if args.doc and args.doc not in reports:
        raise ToolError(f"{args.doc}: ingen sådan rapport i databasen")
    records = [unit_to_json(u, reports.get(u.doc)) for u in units]
    if args.jsonl:
        _print_jsonl(records)
    else:
        for r in records:
            status = r["explicit_status"] or (f"förslag: {r['suggested_status']}" if r["suggested_status"] else "–")
            print(f"{r['doc']}:{r['line_start']}-{r['line_end']}  [{r['level']}] {r['title'][:80]}  ({status})")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from errors import BadQuery
    from index.search import SearchFilters, search
    from index.store import Store

    if args.year_to is not None and args.year and len(args.year) > 1:
        raise BadQuery("--year-to går bara med ett --year (ett intervall), inte med flera år")
    store = Store.open(args.db)
    year = args.year[0] if args.year and len(args.year) == 1 else args.year
    filters = SearchFilters(kommun=args.kommun, namnd=args.namnd, year=year, year_to=args.year_to,
                            level=args.level, status=args.status, theme=args.theme)
    result = search(store, args.query, top=args.top, mode=args.mode, filters=filters)
    if args.explain:
        print(json.dumps(result.plan.to_dict(), ensure_ascii=False, indent=2))
    if args.jsonl:
        _print_jsonl([h.to_dict() for h in result.hits])
    else:
        print(result.summary())
        for note in result.plan.notes:
            print(f"obs: {note}")
        for i, h in enumerate(result.hits, 1):
            print(f"{i:2d}. {h.kommun} · {h.namnd} · {h.year}  {h.doc}:{h.line_start}-{h.line_end}  {h.score:.4f}")
            print(f"    {h.title or ''}")
            print(f"    {h.snippet}")
    return 0


def cmd_similar(args: argparse.Namespace) -> int:
    from index.search import similar
    from index.store import Store

    hits = similar(Store.open(args.db), args.unit_id, top=args.top, other_kommuner=args.other_kommuner)
    if args.jsonl:
        _print_jsonl([h.to_dict() for h in hits])
    else:
        for i, h in enumerate(hits, 1):
            print(f"{i:2d}. {h.kommun} · {h.namnd} · {h.year}  {h.unit_id}  {h.score:.3f}  {h.title}")
    return 0


def cmd_flags(args: argparse.Namespace) -> int:
    from index.store import Store

    flags = Store.open(args.db).flags(args.doc, args.kind)
    if args.jsonl:
        _print_jsonl([f.to_dict() for f in flags])
    else:
        for f in flags:
            print(f"{f.doc}:{f.line}  [{f.kind}, {f.severity}, {f.score:.2f}] {f.message}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from pipeline.train import retrain_from_decisions, train_all

    if args.decisions and args.labels:
        raise ToolError("--decisions och --labels går inte att kombinera: etiketter läses bara av en full träning")
    lines = retrain_from_decisions(args.db) if args.decisions else train_all(db_dir=args.db, labels_dir=args.labels)
    for line in lines:
        print(line)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    # The evaluation is a developer tool beside the product, not part of it: it runs in a process of its own, so
    # nothing the product loads depends on evaluation/ (a deployment may leave that folder out).
    import subprocess

    if not (ROOT / "evaluation" / "run.py").is_file():
        raise ToolError("utvärderingen (evaluation/) finns inte i den här installationen")
    argv = [sys.executable, "-m", "evaluation.run"]
    for flag, value in (("--db", args.db), ("--gold", args.gold)):
        if value:
            argv += [flag, str(Path(value).resolve())]
    if args.only:
        argv += ["--only", *args.only]
    return subprocess.call(argv, cwd=ROOT)


def cmd_export(args: argparse.Namespace) -> int:
    from pipeline.export import export_table

    path = export_table(args.what, Path(args.out), db_dir=args.db)
    print(f"skrev {path}")
    return 0


def _db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="DIR", help="datakatalog med store.sqlite (standard: data/)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cli.py", description="Läs, sök och granska kommuners uppföljningsrapporter.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="läs in rapporter (txt, md, pdf, docx) till databasen och indexen")
    p.add_argument("paths", nargs="*", help="filer eller kataloger (standard: corpus/)")
    p.add_argument("--kommun"), p.add_argument("--namnd"), p.add_argument("--year", type=int)
    p.add_argument("--period")
    p.add_argument("--reindex", action="store_true", help="bygg om alla index och förslag även om inget ändrats")
    p.add_argument("--quiet", action="store_true", help="ingen förloppsindikator")
    p.add_argument("--explain", action="store_true", help="visa vilka postmallar som hittas i filen, utan att spara")
    p.add_argument("--layout", metavar="FIL", help="layoutprofil (TOML) för en mall som läses fel; se layouts/")
    p.add_argument("--device", metavar="ENHET", help="där texterna bäddas in: cpu (standard), cuda (GPU, fp16) eller "
                   "auto (GPU om det finns en)")
    _db(p)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("reindex", help="bygg om FAISS- och BM25-index från databasen")
    p.add_argument("--dense", metavar="KIND", help="flat (exakt, standard) eller ivf (approximativ, för mycket stora "
                   "databaser); valet sparas för senare ombyggen")
    _db(p)
    p.set_defaults(func=cmd_reindex)

    p = sub.add_parser("backup", help="säkerhetskopiera databas, index och beslut till en tom katalog")
    p.add_argument("dest", help="katalog för kopian (skapas)")
    _db(p)
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("remove", help="ta bort en rapport (beslut sparas)")
    p.add_argument("file", help="rapportens filnamn, t.ex. uppsala-omsorgsnamnden-2024-08.txt")
    _db(p)
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("retitle", help="rätta en posts titel (sparas som beslut, gäller även efter ny inläsning)")
    p.add_argument("unit", help="postens id, t.ex. uppsala-omsorgsnamnden-2024-08.txt#u12 (se: units --jsonl)")
    p.add_argument("title", help="den nya titeln")
    p.add_argument("--reviewer", required=True, metavar="NAMN", help="vem som rättar")
    _db(p)
    p.set_defaults(func=cmd_retitle)

    p = sub.add_parser("edit-report", help="rätta en rapports kommun, nämnd, år eller period (sparas som beslut, "
                       "gäller även efter ny inläsning)")
    p.add_argument("doc", help="rapportens filnamn i databasen")
    p.add_argument("--kommun"), p.add_argument("--namnd"), p.add_argument("--year")
    p.add_argument("--period", help="en månad (augusti), ett datum (ÅÅÅÅ-MM-DD) eller ett periodord (helår, tertial 2)")
    p.add_argument("--reviewer", required=True, metavar="NAMN", help="vem som rättar")
    _db(p)
    p.set_defaults(func=cmd_edit_report)

    structure = {
        "split": ("dela en post i två vid en rad (en missad rubrik)", "split"),
        "merge": ("slå ihop en post med den närmast följande", "merge"),
        "delete-unit": ("ta bort en post som inte är en post (texten blir kvar i rapporten)", "delete"),
        "move-end": ("låt en posts text sluta på en annan rad", "end"),
        "set-level": ("ändra en posts nivå (åtgärd, uppdrag, nämndmål …)", "level"),
        "set-parent": ("ändra vilken post en post ligger under", "parent"),
    }
    for name, (text, action) in structure.items():
        p = sub.add_parser(name, help=text + " (sparas som beslut, gäller även efter ny inläsning)")
        p.add_argument("unit", help="postens id (se: units --jsonl)")
        if action in ("split", "end"):
            p.add_argument("--line", type=int, required=True, help="radnummer i rapporten")
        if action == "split":
            p.add_argument("--title", help="den nya postens titel (annars raden själv, om den är en rubrik)")
        if action == "merge":
            p.add_argument("--with", dest="other", metavar="POST", help="posten att slå ihop med (standard: nästa)")
        if action == "level":
            p.add_argument("level", help="den nya nivån")
        if action == "parent":
            p.add_argument("parent", nargs="?", help="den överordnade postens id (utelämna: ingen)")
        p.add_argument("--reviewer", required=True, metavar="NAMN", help="vem som rättar")
        _db(p)
        p.set_defaults(func=cmd_structure, action=action)

    p = sub.add_parser("undo", help="ångra ett beslut (status, flagga, titel, poststruktur eller rapportuppgifter)")
    p.add_argument("decision", type=int, help="beslutets nummer")
    p.add_argument("--reviewer", required=True, metavar="NAMN", help="vem som ångrar")
    _db(p)
    p.set_defaults(func=cmd_undo)

    p = sub.add_parser("units", help="lista uppföljda poster (åtgärder, uppdrag, mål)")
    p.add_argument("--doc", metavar="FILE")
    p.add_argument("--jsonl", action="store_true", help="ett JSON-objekt per rad")
    _db(p)
    p.set_defaults(func=cmd_units)

    p = sub.add_parser("search", help="sök i alla rapporter (hybrid, bm25 eller dense)")
    p.add_argument("query")
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--mode", default="hybrid", help="hybrid (standard), bm25 eller dense")
    p.add_argument("--kommun", action="append", help="kommun; upprepa för flera (träffar i någon av dem)")
    p.add_argument("--namnd", action="append", help="nämnd; upprepa för flera")
    p.add_argument("--level", action="append", help="nivå (åtgärd, uppdrag …); upprepa för flera")
    p.add_argument("--year", type=int, action="append", help="år; upprepa för flera (eller från och med år, med "
                   "--year-to)")
    p.add_argument("--year-to", type=int)
    p.add_argument("--status", action="append", help="status (angiven, annars föreslagen); upprepa för flera")
    p.add_argument("--theme", action="append", help="tema (id eller namn); upprepa för flera")
    p.add_argument("--explain", action="store_true", help="visa sökplanen (termer, sammansättningsled, filter)")
    p.add_argument("--jsonl", action="store_true")
    _db(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("similar", help="närmaste poster, som standard från andra kommuner")
    p.add_argument("unit_id")
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--other-kommuner", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--jsonl", action="store_true")
    _db(p)
    p.set_defaults(func=cmd_similar)

    p = sub.add_parser("flags", help="lista flaggade inkonsekvenser")
    p.add_argument("--doc", metavar="FILE"), p.add_argument("--kind", metavar="K")
    p.add_argument("--jsonl", action="store_true")
    _db(p)
    p.set_defaults(func=cmd_flags)

    p = sub.add_parser("train", help="träna om status- och temaklassificerare från databasen (angivna statusar, "
                       "granskarbeslut) och, om du anger en mapp, analytikeretiketter")
    p.add_argument("--labels", metavar="DIR", help="mapp med units_<rapport>.jsonl (analytikeretiketter); utan den "
                   "används inga etiketter")
    p.add_argument("--decisions", action="store_true", help="bara statusmodellen, snabbt, med alla granskarbeslut "
                   "(det appen gör i bakgrunden efter var tionde beslut); tidigare etiketter behålls")
    _db(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="mät segmentering, sök, status, teman och flaggor mot utvecklingsmängden")
    p.add_argument("--gold", metavar="DIR", help="standard: ../shared/eval/dev")
    p.add_argument("--only", nargs="*", help="segmentation, status, themes, flags, search")
    _db(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("export", help="exportera units, flags eller decisions till CSV eller Excel")
    p.add_argument("what", help="units, flags eller decisions")
    p.add_argument("out", help="fil som slutar på .csv eller .xlsx")
    _db(p)
    p.set_defaults(func=cmd_export)
    return parser


def main(argv: list[str] | None = None, run: Callable[[argparse.Namespace], int] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return (run or args.func)(args)
    except ToolError as e:
        print(f"fel: {e.user_message()}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except (sqlite3.Error, OSError) as e:
        from index.store import DEFAULT_DB_DIR

        error = storage_error(e, getattr(args, "db", None) or DEFAULT_DB_DIR)
        if error is None:
            raise
        print(f"fel: {error.user_message()}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
