"""Export units, flags, decisions or search hits as CSV or Excel (.xlsx via openpyxl).

`table_rows` builds plain rows (one dict per record, Swedish column names); `to_csv_bytes` / `to_xlsx_bytes` turn
them into file contents for the app's download buttons; `export_table` writes a file for `cli.py export`.

Report text is data, never formulas: cells that a spreadsheet would evaluate (=, +, @, ...) are written as text.
"""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

from errors import ToolError, UnknownChoice
from index.cite import at_line
from pipeline.review import ACTION_LABELS, FLAG, UNIT_STATUS, kind_label, status_view
from index.store import Store
from records import Hit

TABLES = ("units", "flags", "decisions", "hits")
FORMATS = (".csv", ".xlsx")
XLSX_CELL_MAX = 32_767  # Excel's limit per cell
# Characters openpyxl refuses in cells (XML 1.0 forbids them).
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# A leading = + @ (or - before a letter/paren, or a tab/CR) makes Excel and LibreOffice read a formula.
_FORMULA_START = re.compile(r"^(?:[=+@\t\r]|-(?![\d\s.,]|$))")


def _themes(themes: list[dict[str, Any]] | None) -> str:
    return ", ".join(t.get("label") or t.get("id", "") for t in themes or [])


def _evidence(items: list[dict[str, Any]] | None, pages: dict[int, int]) -> str:
    return " | ".join(f"{at_line(pages, e.get('line'))}: {e.get('quote') or e.get('text') or ''}" for e in items or [])


def _context(store: Store, target_type: str) -> tuple[dict, dict, dict]:
    """What every row of a table needs: reports by key, decisions in force, and each report's line -> page map."""
    reports = store.reports_by_doc()
    return reports, store.current_decisions(target_type), {doc: store.page_map(doc) for doc in reports}


def unit_rows(store: Store) -> list[dict[str, Any]]:
    reports, decided, pages = _context(store, UNIT_STATUS)
    rows = []
    for u in store.units():
        r = reports.get(u.doc, {})
        d = decided.get(u.id)
        view = status_view(u, d)
        rows.append({
            "id": u.id, "fil": u.doc, "kommun": r.get("kommun"), "nämnd": r.get("namnd"), "år": r.get("year"),
            "period": r.get("period"), "nivå": u.level, "överordnad": u.parent, "titel": u.title,
            "rad_från": u.line_start, "rad_till": u.line_end, "sida_från": u.page_start, "sida_till": u.page_end,
            "angiven_status_ordagrant": u.explicit_status,
            "angiven_status_källa": u.explicit_status_source, "angiven_status": u.status,
            "föreslagen_status": u.suggested_status, "säkerhet": u.status_confidence,
            "belägg": _evidence(u.status_evidence, pages.get(u.doc, {})), "granskad_status": d.new_value if d and d.action != "skip" else None,
            "granskare": d.reviewer if d else None, "granskad_tid": d.created_at if d else None,
            "gällande_status": view.value, "gällande_status_källa": view.source,
            "teman": _themes(u.themes), "text": u.text,
        })
    return rows


def flag_rows(store: Store) -> list[dict[str, Any]]:
    reports, decided, pages = _context(store, FLAG)
    rows = []
    for f in store.flags():
        r = reports.get(f.doc, {})
        d = decided.get(f.id)
        rows.append({
            "id": f.id, "typ": f.kind, "typ_namn": kind_label(f.kind), "fil": f.doc, "kommun": r.get("kommun"),
            "nämnd": r.get("namnd"), "år": r.get("year"), "rad": f.line,
            "sida": pages.get(f.doc, {}).get(f.line) if f.line else None, "allvar": f.severity, "poäng": f.score,
            "meddelande": f.message, "belägg": _evidence(f.evidence, pages.get(f.doc, {})), "poster": ", ".join(f.unit_ids),
            "beslut": ACTION_LABELS.get(d.action) if d else None, "granskare": d.reviewer if d else None,
            "kommentar": d.comment if d else None, "beslutstid": d.created_at if d else None,
        })
    return rows


def decision_rows(store: Store) -> list[dict[str, Any]]:
    """Every decision ever made, undone ones and undo rows included: the full audit trail."""
    reports = store.reports_by_doc()
    return [{
        "id": d.id, "tid": d.created_at, "granskare": d.reviewer, "typ": d.target_type, "mål_id": d.target_id,
        "fil": d.doc, "kommun": reports.get(d.doc or "", {}).get("kommun"),
        "nämnd": reports.get(d.doc or "", {}).get("namnd"), "beslut": d.action,
        "beslut_namn": ACTION_LABELS.get(d.action, d.action), "gammalt_värde": d.old_value,
        "nytt_värde": d.new_value, "kommentar": d.comment, "ångrat": "ja" if d.undone else "nej",
    } for d in store.decisions()]


def hit_rows(hits: Iterable[Hit]) -> list[dict[str, Any]]:
    return [{
        "rang": i, "kommun": h.kommun, "nämnd": h.namnd, "år": h.year, "fil": h.doc, "rad_från": h.line_start,
        "rad_till": h.line_end, "sida_från": h.page_start, "sida_till": h.page_end, "nivå": h.level, "titel": h.title, "utdrag": h.snippet, "poäng": round(h.score, 6),
        "ordträff": "ja" if h.lexical_rank is not None else "nej",
        "betydelseträff": "ja" if h.dense_rank is not None else "nej", "angiven_status": h.status,
        "föreslagen_status": h.suggested_status, "teman": ", ".join(h.themes), "post_id": h.unit_id,
        "passage_id": h.passage_id,
    } for i, h in enumerate(hits, 1)]


# Column order of each table, so an empty table still exports its header (the row builders use the same order).
COLUMNS = {
    "units": ["id", "fil", "kommun", "nämnd", "år", "period", "nivå", "överordnad", "titel", "rad_från", "rad_till",
              "sida_från", "sida_till", "angiven_status_ordagrant", "angiven_status_källa", "angiven_status",
              "föreslagen_status", "säkerhet", "belägg", "granskad_status", "granskare", "granskad_tid", "gällande_status", "gällande_status_källa",
              "teman", "text"],
    "flags": ["id", "typ", "typ_namn", "fil", "kommun", "nämnd", "år", "rad", "sida", "allvar", "poäng", "meddelande",
              "belägg", "poster", "beslut", "granskare", "kommentar", "beslutstid"],
    "decisions": ["id", "tid", "granskare", "typ", "mål_id", "fil", "kommun", "nämnd", "beslut", "beslut_namn",
                  "gammalt_värde", "nytt_värde", "kommentar", "ångrat"],
    "hits": ["rang", "kommun", "nämnd", "år", "fil", "rad_från", "rad_till", "sida_från", "sida_till", "nivå", "titel",
             "utdrag", "poäng", "ordträff", "betydelseträff", "angiven_status", "föreslagen_status", "teman", "post_id", "passage_id"],
}


def table_rows(store: Store, what: str, hits: Iterable[Hit] | None = None) -> list[dict[str, Any]]:
    if what == "units":
        return unit_rows(store)
    if what == "flags":
        return flag_rows(store)
    if what == "decisions":
        return decision_rows(store)
    if what == "hits":
        return hit_rows(hits or [])
    raise UnknownChoice("tabell", what, TABLES)


# -- file formats ---------------------------------------------------------------------------------------------------

def _cell(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        value = json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and _FORMULA_START.match(value):
        return "'" + value
    return value


def to_csv_bytes(rows: list[dict[str, Any]], columns: list[str] | None = None) -> bytes:
    """CSV as Swedish Excel opens it with a double click: semicolons between fields, decimal commas, UTF-8 with
    BOM (so å, ä and ö show), RFC 4180 quoting."""
    columns = columns or (list(rows[0]) if rows else [])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\r\n", delimiter=";")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row.get(k)) for k in columns})
    return buf.getvalue().encode("utf-8-sig")


def _csv_value(value: Any) -> Any:
    if isinstance(value, float) and not isinstance(value, bool):
        return repr(value).replace(".", ",") if value == value else ""
    return _cell(value)


def to_xlsx_bytes(rows: list[dict[str, Any]], sheet: str = "data", columns: list[str] | None = None) -> bytes:
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    columns = columns or (list(rows[0]) if rows else [])
    wb = Workbook()
    ws = wb.active
    ws.title = re.sub(r"[\[\]:*?/\\]", "_", sheet)[:31] or "data"
    ws.append(columns)
    for row in rows:
        ws.append([_xlsx_value(row.get(k)) for k in columns])
    # Strings are stored as strings even when they start with '=': openpyxl would otherwise write a formula.
    for r in ws.iter_rows(min_row=2):
        for c in r:
            if isinstance(c.value, str):
                c.data_type = "s"
    ws.freeze_panes = "A2"
    if columns:
        ws.auto_filter.ref = ws.dimensions
    for i, name in enumerate(columns, 1):
        longest = max([len(name)] + [len(str(row.get(name) or "")) for row in rows[:500]])
        ws.column_dimensions[get_column_letter(i)].width = min(60, max(10, longest + 2))
    for r in ws.iter_rows(min_row=2):
        for c in r:
            if isinstance(c.value, datetime):
                c.number_format = "yyyy-mm-dd hh:mm"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[+-]\d{2}:\d{2}|Z)?")


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        value = json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and _TIMESTAMP.fullmatch(value):
        # A decision time (stored in UTC) as a date Excel can sort and filter, in the reader's local time.
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone().replace(tzinfo=None)
    if isinstance(value, str):
        value = _ILLEGAL_XML.sub("", value)
        if len(value) > XLSX_CELL_MAX:
            value = value[:XLSX_CELL_MAX - 1] + "…"
    return value


def to_bytes(rows: list[dict[str, Any]], fmt: str, sheet: str = "data", columns: list[str] | None = None) -> bytes:
    """In-memory export for download buttons; fmt is 'csv' or 'xlsx'. `sheet` names a table in COLUMNS, so its
    header is written even when there are no rows."""
    fmt = fmt.lower().lstrip(".")
    columns = columns or COLUMNS.get(sheet)
    if fmt == "csv":
        return to_csv_bytes(rows, columns)
    if fmt == "xlsx":
        return to_xlsx_bytes(rows, sheet, columns)
    raise UnknownChoice("filformat", fmt, [f[1:] for f in FORMATS])


def export_table(what: str, out: Path, db_dir: Path | str | None = None, query: str | None = None,
                 top: int = 100) -> Path:
    """Write one table to `out` (.csv or .xlsx). `hits` needs a query and exports its search results."""
    out = Path(out)
    if what not in TABLES:
        raise UnknownChoice("tabell", what, TABLES)
    if out.suffix.lower() not in FORMATS:
        raise UnknownChoice("filändelse", out.suffix or "(ingen)", FORMATS)
    store = Store.open(db_dir)
    try:
        hits = None
        if what == "hits":
            if not (query or "").strip():
                raise ToolError("export av sökträffar kräver en sökfråga")
            from index.search import search

            hits = search(store, query, top=top).hits
        data = to_bytes(table_rows(store, what, hits), out.suffix, sheet=what)
    finally:
        store.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return out


# -- summaries for the overview charts ------------------------------------------------------------------------------

SOURCE_LABELS = {"angiven": "Angiven i rapporten", "granskad": "Granskad", "förslag": "Förslag (ej angiven)",
                 None: "Ingen status"}


def _report_label(r: dict[str, Any]) -> str:
    parts = [r.get("kommun") or "okänd kommun", r.get("namnd") or "okänd nämnd"]
    return " – ".join(parts) + (f" {r['year']}" if r.get("year") else "")


def _in_years(r: dict[str, Any], years: Iterable[int] | None) -> bool:
    return years is None or r.get("year") in set(years)


def status_summary(store: Store, years: Iterable[int] | None = None) -> list[dict[str, Any]]:
    """Units per report and status, split by where the status comes from (stated, reviewed, suggested)."""
    years = list(years) if years is not None else None
    reports = {d: r for d, r in store.reports_by_doc().items() if _in_years(r, years)}
    decided = store.current_decisions(UNIT_STATUS)
    counts: dict[tuple, int] = {}
    for u in store.units():
        r = reports.get(u.doc)
        if r is None:
            continue
        view = status_view(u, decided.get(u.id))
        key = (r.get("kommun"), r.get("namnd"), r.get("year"), _report_label(r), SOURCE_LABELS[view.source],
               view.value or "ingen status")
        counts[key] = counts.get(key, 0) + 1
    return [{"kommun": k[0], "nämnd": k[1], "år": k[2], "rapport": k[3], "källa": k[4], "status": k[5], "antal": n}
            for k, n in sorted(counts.items(), key=lambda kv: tuple(str(x) for x in kv[0]))]


def theme_summary(store: Store, years: Iterable[int] | None = None) -> list[dict[str, Any]]:
    """Per kommun and theme: how many units carry the theme, and their share of the kommun's units."""
    years = list(years) if years is not None else None
    reports = {d: r for d, r in store.reports_by_doc().items() if _in_years(r, years)}
    totals: dict[str, int] = {}
    counts: dict[tuple[str, str], int] = {}
    for u in store.units():
        r = reports.get(u.doc)
        if r is None:
            continue
        kommun = r.get("kommun") or "okänd kommun"
        totals[kommun] = totals.get(kommun, 0) + 1
        for label in {t.get("label") or t.get("id") for t in u.themes or [] if isinstance(t, dict)}:
            if label:
                counts[(kommun, label)] = counts.get((kommun, label), 0) + 1
    return [{"kommun": k, "tema": t, "antal": n, "andel": round(n / totals[k], 4)}
            for (k, t), n in sorted(counts.items())]


def flag_summary(store: Store, years: Iterable[int] | None = None) -> list[dict[str, Any]]:
    """Flags per report and kind, with how many are still open (no decision in force)."""
    years = list(years) if years is not None else None
    reports = {d: r for d, r in store.reports_by_doc().items() if _in_years(r, years)}
    decided = store.current_decisions(FLAG)
    counts: dict[tuple, list[int]] = {}
    for f in store.flags():
        r = reports.get(f.doc)
        if r is None:
            continue
        key = (_report_label(r), f.doc, f.kind, kind_label(f.kind))
        c = counts.setdefault(key, [0, 0])
        c[0] += 1
        c[1] += f.id not in decided
    return [{"rapport": k[0], "fil": k[1], "typ": k[2], "typ_namn": k[3], "antal": n, "öppna": o}
            for k, (n, o) in sorted(counts.items())]
