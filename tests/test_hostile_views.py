"""Report text is never interpreted in any app view: not as HTML, not as Markdown (links, images, formulas,
icon shortcodes), not as script.

One hostile payload goes into every text field a stored report can carry (kommun, nämnd, period, file name as far
as a file system allows, unit title, body text, source lines, stated status, status note, evidence sentence, theme
id and label, flag message and quotes, passage heading and text), then every view is rendered:

* through streamlit.testing.v1.AppTest: each st.html body must hold the payload escaped exactly as `app.esc`
  writes it (exact strings per view) and no tag or attribute that links, loads or runs anything; no Markdown-
  rendering element (markdown, caption, headers, alerts, labels) may hold live Markdown or any part of the payload,
  escaped or not (Chromium showed backslash escapes do not stop autolinks and icon shortcodes);
* in Debian's Chromium (Playwright) against a real Streamlit server: no request to the payload's hosts, no script
  ran (window.__pwned stays undefined), no <a href> to the phishing host and no <img> from the tracking host, while
  the payload is visibly on the page as text in each view.
"""
from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from index.store import Store
from records import Flag
from tests.conftest import app_on_copy
from tests.test_app import html, start

ROOT = Path(__file__).resolve().parents[1]

PAYLOAD = ('[länk](https://phish.example/login) ![](http://127.0.0.1:9/track.png) '
           '<img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script> $$x$$ :material/warning:')
# The payload as app.esc writes it (hand-written here, so the test does not trust the function it checks).
PAYLOAD_HTML = ('[länk](https://phish.example/login) ![](http://127.0.0.1:9/track.png) '
                '&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt; &lt;script&gt;window.__pwned=2&lt;/script&gt; '
                '&#36;&#36;x&#36;&#36; :material/warning:')
# What the reader keeps of the payload in a line's clean text and in segmented titles (tags dropped).
PAYLOAD_READ = ('[länk](https://phish.example/login) ![](http://127.0.0.1:9/track.png) window. pwned=2 $$x$$ '
                ':material/warning:')

KOMMUN = f"Kommun {PAYLOAD}"
NAMND = f"Nämnd {PAYLOAD}"
PERIOD = f"augusti {PAYLOAD}"
TITLE_1 = f"Revidering av värdighetsgarantierna {PAYLOAD}"
TITLE_2 = f"Utvärdera de sociala träffpunkterna {PAYLOAD}"
EVIDENCE_1 = f"Arbetet med värdighetsgarantierna är försenat {PAYLOAD}"
BODY_1 = f"Kommentar: {EVIDENCE_1} och hyrsjuksköterskor kostar mycket."
BODY_2 = f"Kommentar: De sociala träffpunkterna har utvärderats under våren. {PAYLOAD}"
STATED_1 = f"Oklart {PAYLOAD}"  # stated but not readable as a status: the unit stays in the status queue
STATED_2 = f"Klar {PAYLOAD}"  # stated and mapped: shown as the badge's title
NOTE_1 = f"Anteckning {PAYLOAD}"
THEME = {"id": f"tema {PAYLOAD}", "label": f"Tema {PAYLOAD}", "score": 0.9}
FLAG_MESSAGE = f"Flagga {PAYLOAD}"
QUOTE = f"Citat {PAYLOAD}"
HEADING = f"Rubrik {PAYLOAD}"
# A file name can hold everything but '/': the tag, a formula and link brackets. It sorts first ('<' < 'a'), so its
# units lead every queue ordered by report when confidences tie.
DOC = '<img src=x onerror="window.__pwned=3"> $$y$$ [länk](x) fientlig.txt'
DOC_HTML = '&lt;img src=x onerror=&quot;window.__pwned=3&quot;&gt; &#36;&#36;y&#36;&#36; [länk](x) fientlig.txt'

REPORT = f"""Fientliga kommunen

# Verksamhetsrapport delår 2024

## Uppdrag från nämnd

Uppdrag från nämnd\tStartdatum\tSlutdatum\tStatus
Revidering av värdighetsgarantierna {PAYLOAD}\t2020-02-17\t2023-06-30\tEj påbörjad

**Kommentar:** Arbetet med värdighetsgarantierna är försenat. {PAYLOAD} Hyrsjuksköterskor kostar mycket.

Utvärdera de sociala träffpunkterna {PAYLOAD}\t2019-05-27\t2023-06-30\tKlar

**Kommentar:** De sociala träffpunkterna har utvärderats under våren. {PAYLOAD}
"""

# Markdown syntax Streamlit would bring to life in a Markdown element (markdown, caption, headers, alerts, labels).
LIVE_MARKDOWN = {
    "link": re.compile(r"(?<!\\)\]\((?:https?|javascript)"),
    "image": re.compile(r"(?<!\\)!\["),
    "html tag": re.compile(r"(?<!\\)<(?:a|img|script)\b", re.IGNORECASE),
    "formula": re.compile(r"(?<!\\)\$"),
    "icon shortcode": re.compile(r"(?<!\\):material/"),
}
# Backslashes do not make report text safe there: in Chromium an escaped 'https\://…' still became a link (GFM
# autolink) and '\:material/warning:' still became an icon. So no part of the payload may reach such an element.
PAYLOAD_MARKERS = ("phish.example", "127.0.0.1", "material/warning")


def build_hostile_store(base: Path, target: Path, src: Path) -> str:
    """The ingested fixture store plus one hostile report, read by the real pipeline and then given the payload
    in every field the reader would have cleaned (it drops tags from titles and clean lines). Returns its doc."""
    from pipeline.ingest import ingest_paths

    shutil.copytree(base, target)
    src.mkdir(parents=True, exist_ok=True)
    (src / DOC).write_text(REPORT, encoding="utf-8")
    summary = ingest_paths([src / DOC], db_dir=target, progress=False,
                           overrides={"kommun": KOMMUN, "namnd": NAMND, "period": PERIOD})
    assert not summary.errors and summary.ingested == [DOC], (summary.errors, summary.ingested)
    store = Store.open(target)
    try:
        u1, u2 = store.units(DOC)
        assert u1.title.startswith("Revidering") and u2.title.startswith("Utvärdera"), (u1.title, u2.title)
        with store.transaction() as c:
            c.execute("UPDATE reports SET kommun=?, namnd=?, period=? WHERE doc=?", (KOMMUN, NAMND, PERIOD, DOC))
            c.execute("UPDATE lines SET clean=raw WHERE doc=?", (DOC,))
            c.execute("UPDATE units SET title=?, text=?, explicit_status=?, status=NULL WHERE id=?",
                      (TITLE_1, BODY_1, STATED_1, u1.id))
            c.execute("UPDATE units SET title=?, text=?, explicit_status=?, status='genomförd' WHERE id=?",
                      (TITLE_2, BODY_2, STATED_2, u2.id))
            for unit, body in ((u1, BODY_1), (u2, BODY_2)):
                c.execute("UPDATE passages SET heading=?, text=?, themes=? WHERE unit_id=?",
                          (HEADING, f"{body} värdighetsgarantierna träffpunkterna", json.dumps([THEME]), unit.id))
        store.set_unit_fields({
            u1.id: {"suggested_status": "försenad", "status_confidence": 0.0,
                    "status_probs": {"försenad": 0.5, "enligt plan": 0.3, "genomförd": 0.2},
                    "status_evidence": [{"line": u1.line_start, "text": EVIDENCE_1, "weight": 0.9}],
                    "status_note": NOTE_1, "themes": [THEME]},
            u2.id: {"themes": [THEME], "status_note": NOTE_1},
        })
        store.set_review_order({u1.id: 0.0})  # the hostile unit first in the Granska queue
        store.replace_flags(DOC, [
            Flag("fl-hostile", "status_text_conflict", DOC, [u1.id, u2.id], u1.line_start, "hög", 0.999,
                 FLAG_MESSAGE, [{"line": u1.line_start, "quote": QUOTE}, {"line": u2.line_start, "text": QUOTE}]),
        ])
        return DOC
    finally:
        store.close()


@pytest.fixture(scope="module")
def hostile_dir(ingested_fixture_dir, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile-views")
    build_hostile_store(ingested_fixture_dir, root / "data", root / "src")
    return root / "data"


@pytest.fixture
def hostile_app(hostile_dir, tmp_path, monkeypatch) -> Path:
    return app_on_copy(hostile_dir, tmp_path / "data", monkeypatch)


# -- AppTest helpers --------------------------------------------------------------------------------------------------

def esc_html(text: str) -> str:
    """The hostile strings as app.esc must write them (written out here rather than calling app.esc)."""
    return text.replace(PAYLOAD, PAYLOAD_HTML)


def markdown_texts(at: AppTest) -> list[tuple[str, str]]:
    """(element kind, text) for every element whose text Streamlit renders as Markdown."""
    out: list[tuple[str, str]] = []
    for kind in ("markdown", "caption", "title", "header", "subheader", "info", "warning", "error", "success",
                 "toast"):
        out += [(kind, e.value) for e in getattr(at, kind)]
    out += [("expander label", e.label) for e in at.expander]
    out += [("button label", e.label) for e in at.button]
    out += [("download button label", e.proto.label) for e in at.get("download_button")]
    out += [("metric label", e.label) for e in at.metric]
    for r in at.radio:
        out += [("radio label", r.label)] + [("radio option", str(o)) for o in r.options]
    for w in list(at.selectbox) + list(at.multiselect) + list(at.text_input) + list(at.text_area):
        out.append((f"{type(w).__name__} label", w.label))
    return out


def live_markdown(at: AppTest) -> list[str]:
    """Markdown-rendered texts holding syntax Streamlit would turn into a link, image, formula or icon, or any
    part of the payload (escaped or not)."""
    found = [f"{kind} {name}: {text!r}" for kind, text in markdown_texts(at)
             for name, pattern in LIVE_MARKDOWN.items() if pattern.search(text)]
    return found + [f"{kind} holds report text {marker!r}: {text!r}" for kind, text in markdown_texts(at)
                    for marker in PAYLOAD_MARKERS if marker in text]


class Tags(HTMLParser):
    """Every tag and attribute name in an HTML fragment, and its text as a browser would show it."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.text: list[str] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)

    def handle_data(self, data):
        self.text.append(data)


# Tags and attributes that link, load, run or embed something: none may come out of report text.
ACTIVE_TAGS = {"a", "img", "script", "iframe", "svg", "math", "object", "embed", "link", "form", "input", "video",
               "audio", "source", "base", "meta"}
ACTIVE_ATTRIBUTES = re.compile(r"^(?:on\w+|href|src|srcset|srcdoc|action|formaction|xlink:href|background)$")


def assert_inert(at: AppTest, shows: tuple[str, ...] = ()) -> str:
    """No tag or attribute built from report text in any st.html body, no live Markdown anywhere, and each of
    `shows` in the text a browser displays (so the check is not vacuous); returns the HTML."""
    assert not at.exception, at.exception
    page = html(at)
    parsed = Tags(page)
    assert parsed.tags & ACTIVE_TAGS == set(), f"tags from report text: {parsed.tags & ACTIVE_TAGS}"
    assert [a for a in parsed.attributes if ACTIVE_ATTRIBUTES.match(a)] == []
    for tag in ("<a ", "<img", "<script"):
        assert tag not in page.lower(), f"{tag!r} in the rendered HTML"
    live = live_markdown(at)
    assert live == [], "report text rendered as Markdown:\n" + "\n".join(live)
    shown = "".join(parsed.text)
    assert [s for s in shows if s not in shown] == []
    return page


def report_meta(line_ref: str) -> str:
    """The kr-meta line of a hostile unit or flag: kommun · nämnd · year · (level ·) file and place."""
    return f'{esc_html(KOMMUN)} · {esc_html(NAMND)} · 2023 · {line_ref}'


# -- AppTest: every view --------------------------------------------------------------------------------------------

def test_search_start_page_lists_the_hostile_report_as_plain_cells(hostile_app):
    at = start()
    assert_inert(at)
    assert [s.value for s in at.subheader] == ["Inlästa rapporter (6)"]
    table = at.dataframe[0].value
    row = table[table["Fil"] == DOC]
    assert len(row) == 1
    assert (row["Kommun"].item(), row["Nämnd"].item(), row["Period"].item()) == (KOMMUN, NAMND, PERIOD)
    assert f"{KOMMUN} (2 poster)" in at.multiselect(key="f_kommun").options
    assert f"{NAMND} (2 poster)" in at.multiselect(key="f_namnd").options


@pytest.mark.parametrize("grouping", ["Per kommun", "En lista"])
def test_search_hits_show_report_text_escaped(hostile_app, grouping):
    at = start()
    at.radio(key="group").set_value(grouping).run()
    at.multiselect(key="f_kommun").select(KOMMUN).run()
    at.text_input(key="q").input("värdighetsgarantierna").run()
    assert not at.exception, at.exception
    # The kommun heading of a group is Markdown: it must not turn the kommun's name into a link, image or formula.
    live = live_markdown(at)
    assert live == [], f"report text rendered as Markdown in the {grouping!r} hit list:\n" + "\n".join(live)
    page = assert_inert(at, shows=(KOMMUN, NAMND, DOC, TITLE_1, THEME["id"]))
    assert f'<div class="kr-meta">{report_meta("uppdrag från nämnd · " + DOC_HTML + " rad ")}' in page
    assert f'<div class="kr-title">{esc_html(TITLE_1)}</div>' in page
    # Snippets are cleaned of tags (index.indexes.clean_text); what is left is escaped and stays text.
    assert ("är försenat [länk](https://phish.example/login) ![](http://127.0.0.1:9/track.png) window.__pwned=2 "
            "&#36;&#36;x&#36;&#36; :material/warning: och hyrsjuksköterskor") in page
    assert f'<span class="kr-chip">{esc_html(THEME["id"])}</span>' in page  # not in the taxonomy: its id is shown
    assert "<mark>värdighetsgarantierna</mark>" in page


def test_unit_view_and_similar_units_show_report_text_escaped(hostile_app):
    at = start()
    at.radio(key="group").set_value("En lista").run()
    at.text_input(key="q").input("värdighetsgarantierna").run()
    next(b for b in at.button if b.label == "Visa hela posten" and "fientlig" in b.key).click().run()
    page = assert_inert(at, shows=(TITLE_1, STATED_1, NOTE_1, THEME["label"], TITLE_2, DOC))
    assert f'<span class="kr-note">I rapporten: »{esc_html(STATED_1)}«</span>' in page
    assert f'<span class="kr-chip">{esc_html(THEME["label"])}</span>' in page
    assert f'<div class="kr-note">{esc_html(NOTE_1)}</div>' in page
    assert (f'<td class="t">Revidering av värdighetsgarantierna {PAYLOAD_HTML}\t2020-02-17\t2023-06-30\t'
            'Ej påbörjad</td>') in page
    assert (f'<td class="t">**Kommentar:** Arbetet med värdighetsgarantierna är försenat. {PAYLOAD_HTML} '
            'Hyrsjuksköterskor kostar mycket.</td>') in page
    assert f'Nästa post: rad 12–14 · {esc_html(TITLE_2)}</div>' in page
    # Similar units of a Hudiksvall item: the hostile report's two items lead (same titles, other kommun).
    next(b for b in at.button if b.label == "Liknande i andra kommuner" and "hudiksvall" in b.key
         and b.key.endswith("p34-34")).click().run()
    page = assert_inert(at, shows=(KOMMUN, NAMND, TITLE_1, TITLE_2))  # STATED_2 is a title attribute
    assert f'<div class="kr-meta">{esc_html(KOMMUN)} · {esc_html(NAMND)} · 2023 · {DOC_HTML} rad ' in page
    assert f'<span class="kr-title">{esc_html(TITLE_1)}</span>' in page
    assert f'<span class="kr-title">{esc_html(TITLE_2)}</span>' in page
    assert f'title="I rapporten: {esc_html(STATED_2)}">Genomförd</span>' in page


def test_status_queue_shows_report_text_escaped(hostile_app):
    at = start("Granska")
    at.selectbox(key="rq_kommun").select(KOMMUN).run()
    page = assert_inert(at, shows=(KOMMUN, NAMND, DOC, TITLE_1, EVIDENCE_1, STATED_1, NOTE_1))
    assert [m.value for m in at.markdown if " i kön" in m.value] == ["**1 av 1** i kön"]
    assert f'<div class="kr-meta">{report_meta("uppdrag från nämnd · " + DOC_HTML + " rad 8–10")}</div>' in page
    assert f'<div class="kr-title">{esc_html(TITLE_1)}</div>' in page
    assert (f'<div class="kr-text kr-snippet">Kommentar: <mark class="kr-ev">{esc_html(EVIDENCE_1)}</mark> och '
            'hyrsjuksköterskor kostar mycket.</div>') in page
    assert (f'<div class="kr-caption">Rapporten skriver »{esc_html(STATED_1)}« men det kunde inte tolkas som en '
            'status.</div>') in page
    assert f'<div class="kr-note">{esc_html(NOTE_1)}</div>' in page
    table = next(d.value for d in at.dataframe if "Post" in d.value.columns)
    assert table.to_dict("records")[0]["Post"] == TITLE_1 and table.to_dict("records")[0]["Kommun"] == KOMMUN
    # A decision puts the title in "Senaste beslut" too.
    at.text_input(key="reviewer").input("Anna").run()
    store = Store.open(hostile_app)
    unit_id = next(u.id for u in store.units(DOC) if u.title == TITLE_1)
    store.close()
    at.button(key=f"acc_{unit_id}").click().run()
    page = assert_inert(at, shows=(TITLE_1[:80],))
    assert [s.value for s in at.success] == ["Förslaget godkänt",
                                             "Kön är tom – inget kvar att granska med de här filtren."]
    assert set(TITLE_1[:80]).isdisjoint('<>&"$')
    assert f"<div>{TITLE_1[:80]}</div>" in page


def test_flag_queue_shows_report_text_escaped(hostile_app):
    at = start("Granska")
    at.radio(key="queue").set_value("Flaggor").run()
    page = assert_inert(at, shows=(KOMMUN, NAMND, DOC, FLAG_MESSAGE, QUOTE, TITLE_1[:90], TITLE_2[:90]))
    assert f'<div class="kr-meta">{report_meta(DOC_HTML + " rad 8")}</div>' in page  # strongest flag first
    assert f'<div class="kr-title">{esc_html(FLAG_MESSAGE)}</div>' in page
    assert page.count(f'<div class="kr-quote">{esc_html(QUOTE)}</div>') == 2
    assert (f'<div class="kr-caption">Gäller: {TITLE_1[:90]} (rad 8–10); {TITLE_2[:90]} (rad 12–14)</div>'
            in page)
    assert set(TITLE_1[:90] + TITLE_2[:90]).isdisjoint('<>&"$')
    table = next(d.value for d in at.dataframe if "Meddelande" in d.value.columns)
    assert table.to_dict("records")[0]["Meddelande"] == FLAG_MESSAGE


def chart_data(element) -> list[dict]:
    import pyarrow as pa

    rows: list[dict] = []
    for dataset in element.proto.datasets:
        rows += pa.ipc.open_stream(dataset.data.data).read_all().to_pylist()
    return rows


def test_overview_charts_carry_report_names_as_data_not_markup(hostile_app):
    at = start("Översikt")
    assert_inert(at)
    charts = at.get("vega_lite_chart")
    assert len(charts) == 3
    label = f"{KOMMUN} – {NAMND} 2023"
    status, themes, flags = (chart_data(c) for c in charts)
    assert {r["rapport"] for r in status if r["kommun"] == KOMMUN} == {label}
    assert {(r["kommun"], r["tema"]) for r in themes if r["kommun"] == KOMMUN} == {(KOMMUN, THEME["label"])}
    assert [(r["rapport"], r["fil"], r["antal"]) for r in flags if r["fil"] == DOC] == [(label, DOC, 1)]
    for chart in charts:  # no channel that makes a mark a link or loads an image
        spec = json.loads(chart.proto.spec)
        assert not re.search(r'"(href|url|image)"', json.dumps(spec)), spec


# No '"' in it: Chromium sends it as %22 in the upload's file name, AppTest sends it as is.
UPLOAD_NAME = "<img src=x onerror=window.__pwned=3> [länk](phish) $$x$$ utkast.__fet__.md"
UPLOAD_STORED = "img-src-x-onerror-window.__pwned-3-länk-phish-x-utkast.__fet__.md"


def test_upload_preview_shows_items_as_plain_cells(hostile_app):
    at = start("Läs in")
    at.file_uploader(key="upload_file").set_value((UPLOAD_NAME, REPORT.encode("utf-8"), "text/markdown")).run()
    assert_inert(at)
    assert [s.value for s in at.subheader] == ["Poster som hittades (2)"]
    items = next(d.value for d in at.dataframe if "Angiven status" in d.value.columns)
    assert list(items["Titel"]) == [f"Revidering av värdighetsgarantierna {PAYLOAD_READ}",
                                    f"Utvärdera de sociala träffpunkterna {PAYLOAD_READ}"]


def test_upload_file_name_is_not_read_as_markdown(hostile_app):
    """The sanitised name keeps letters, digits, '.', '-' and '_': '__fet__' is Markdown for bold."""
    at = start("Läs in")
    at.file_uploader(key="upload_file").set_value((UPLOAD_NAME, REPORT.encode("utf-8"), "text/markdown")).run()
    [shown] = [m.value for m in at.markdown if m.value.startswith("**Fil:**")]
    assert shown.startswith("**Fil:** ") and shown.removeprefix("**Fil:** ").replace("\\", "") == UPLOAD_STORED
    # The stored name is shown in st.markdown: '__fet__' must not become bold (the name would read 'utkast.fet.md').
    assert not re.search(r"(?<![\\\w])__\w+(?<!\\)__(?!\w)", shown.removeprefix("**Fil:** ")), \
        f"file name rendered as Markdown emphasis: {shown!r}"


# -- the browser ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hostile_server(hostile_dir, tmp_path_factory):
    from tests.test_browser import streamlit_server

    data = tmp_path_factory.mktemp("hostile-browser") / "data"
    shutil.copytree(hostile_dir, data)
    with streamlit_server(data) as url:
        yield url


# Everything a view could do with the payload: run a script, link, load an image, typeset a formula, draw an icon.
PROBE = """() => ({
  pwned: window.__pwned === undefined ? null : String(window.__pwned),
  // (a heading's own anchor, href="#kommun-laenk-https-phish-…", is a slug, not a link out)
  links: Array.from(document.querySelectorAll('a[href*="phish"]:not([href^="#"]), a[href^="javascript"]'))
    .map(e => e.outerHTML),
  images: Array.from(document.querySelectorAll('img[src*="127.0.0.1:9"], img[src*="phish"], img[src="x"]'))
    .map(e => e.outerHTML),
  handlers: Array.from(document.querySelectorAll('[onerror], [onload]')).map(e => e.outerHTML.slice(0, 200)),
  scripts: Array.from(document.querySelectorAll('script')).filter(e => e.textContent.includes('__pwned')).length,
  formulas: document.querySelectorAll('.katex').length,
  icons: document.querySelectorAll('[aria-label="warning icon"]').length,
  // shown text: the page's, the charts' (SVG) and the data grids' (drawn on a canvas, mirrored as hidden cells)
  text: [document.body.innerText, ...Array.from(document.querySelectorAll('svg text, [role="gridcell"]'))
    .map(e => e.textContent)].join('\\n'),
})"""
HOSTS = ("phish.example", "127.0.0.1:9/")


def test_browser_every_view_shows_report_text_as_text(hostile_server):
    """One Chromium session through Sök (list, hits per kommun, one list, unit, similar units), Granska (status
    and flag queues), Översikt (charts and a tooltip) and Läs in (preview of an uploaded hostile file). Problems
    are collected per view and reported together, so one broken view does not hide another."""
    from playwright.sync_api import sync_playwright

    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, SLOW_MS, go_to, settle

    requests: list[tuple[str, str]] = []
    problems: list[str] = []
    view = ["start"]

    def check(name: str, shows: list[str], page) -> None:
        view[0] = name
        page.wait_for_timeout(500)  # images and icons load after the run has ended
        found = page.evaluate(PROBE)
        if found["pwned"] is not None:
            problems.append(f"{name}: a script from the report ran (window.__pwned = {found['pwned']})")
        for what in ("links", "images", "handlers"):
            if found[what]:
                problems.append(f"{name}: {what} from report text: {found[what]}")
        if found["scripts"]:
            problems.append(f"{name}: {found['scripts']} <script> element(s) from report text")
        if found["formulas"]:
            problems.append(f"{name}: {found['formulas']} formula(s) typeset from '$$x$$' in report text")
        if found["icons"]:
            problems.append(f"{name}: {found['icons']} icon(s) drawn from ':material/warning:' in report text")
        missing = [s for s in shows if s not in found["text"]]
        if missing:
            problems.append(f"{name}: hostile text not shown as text: {missing}")
        problems.extend(f"{name}: request to {url}" for seen, url in requests if seen == name
                        and any(h in url for h in HOSTS))

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 1400}, locale="sv-SE")
        page = context.new_page()
        page.on("request", lambda r: requests.append((view[0], r.url)))
        try:
            view[0] = "Sök: inlästa rapporter"
            page.goto(hostile_server, wait_until="domcontentloaded")
            page.get_by_text("Inlästa rapporter (6)").wait_for(timeout=SLOW_MS)
            settle(page)
            page.locator('[data-testid="stDataFrame"]').wait_for(timeout=60_000)
            page.get_by_text(KOMMUN, exact=True).first.wait_for(state="attached", timeout=60_000)  # a grid cell
            check(view[0], [KOMMUN, NAMND, DOC], page)

            view[0] = "Sök: träffar per kommun"
            box = page.get_by_role("textbox", name="Sökfråga")
            box.fill("värdighetsgarantierna")
            box.press("Enter")
            page.get_by_text(re.compile(r"\d+ träffar")).wait_for(timeout=SLOW_MS)
            settle(page)
            check(view[0], [TITLE_1, f"{KOMMUN} · {NAMND} · 2023", THEME["id"]], page)

            view[0] = "Sök: en lista"
            page.get_by_text("En lista", exact=True).click()
            settle(page)
            check(view[0], [TITLE_1, f"{KOMMUN} · {NAMND} · 2023"], page)

            view[0] = "Sök: hela posten"
            page.locator('[class*="st-key-open_"][class*="fientlig-txt"] button').first.click()
            page.locator("table.kr-lines").wait_for(timeout=SLOW_MS)
            settle(page)
            check(view[0], [f"I rapporten: »{STATED_1}«", NOTE_1, THEME["label"],
                            f"Nästa post: rad 12–14 · {TITLE_2}",
                            f"Arbetet med värdighetsgarantierna är försenat. {PAYLOAD} Hyrsjuksköterskor"], page)

            view[0] = "Sök: liknande i andra kommuner"
            page.locator('[class*="st-key-sim_"][class*="hudiksvall-markdown-2023-08-txt-p34-34"] button').click()
            page.get_by_text(re.compile("likhet")).first.wait_for(timeout=SLOW_MS)
            settle(page)
            check(view[0], [f"{KOMMUN} · {NAMND} · 2023 · {DOC} rad ", TITLE_2], page)

            view[0] = "Granska: statusförslag"
            go_to(page, "Granska")
            page.get_by_text("Rapporten skriver »").wait_for(timeout=SLOW_MS)
            check(view[0], [TITLE_1, f"Rapporten skriver »{STATED_1}« men det kunde inte tolkas som en status.",
                            EVIDENCE_1, NOTE_1], page)

            view[0] = "Granska: flaggor"
            page.get_by_text("Flaggor", exact=True).click()
            settle(page)
            check(view[0], [FLAG_MESSAGE, QUOTE, f"Gäller: {TITLE_1[:90]} (rad 8–10); {TITLE_2[:90]} (rad 12–14)",
                            DOC], page)

            view[0] = "Översikt"
            go_to(page, "Översikt")
            page.locator('[data-testid="stVegaLiteChart"] svg').first.wait_for(timeout=SLOW_MS)
            settle(page)
            page.wait_for_timeout(1000)  # charts draw after the run ends
            tooltip = ""
            marks = page.locator('[data-testid="stVegaLiteChart"]').first.locator('path[role="graphics-symbol"]')
            for i in range(marks.count()):
                marks.nth(i).hover(force=True)
                page.wait_for_timeout(150)
                box = page.locator("#vg-tooltip-element")
                tooltip = box.inner_html() if box.count() else ""
                if "phish.example" in tooltip:
                    break
            if "phish.example" not in tooltip:
                problems.append("Översikt: no tooltip showed the hostile report's name")
            elif not Tags(tooltip).tags <= {"table", "tbody", "tr", "td"} or f"{KOMMUN} – {NAMND}" not in "".join(
                    Tags(tooltip).text):
                problems.append(f"Översikt: tooltip renders the report's name as markup: {tooltip}")
            # Axis labels are cut at 300-320 px; their start is the report's name as text.
            check(view[0], ["Kommun [länk](https://phish.example/login)", "Tema [länk](https://phish.example/login)"],
                  page)

            view[0] = "Läs in: förhandsvisning"
            go_to(page, "Läs in")
            page.locator('input[type="file"]').set_input_files(files=[{
                "name": UPLOAD_NAME, "mimeType": "text/markdown", "buffer": REPORT.encode("utf-8")}])
            page.get_by_text("Poster som hittades (2)").wait_for(timeout=SLOW_MS)
            settle(page)
            page.get_by_text(f"Revidering av värdighetsgarantierna {PAYLOAD_READ}", exact=True).wait_for(
                state="attached", timeout=60_000)
            check(view[0], [f"Revidering av värdighetsgarantierna {PAYLOAD_READ}"], page)
            shown = page.locator('[data-testid="stMarkdownContainer"]', has_text="Fil:").first
            if shown.inner_text().strip() != f"Fil: {UPLOAD_STORED}":
                problems.append(f"Läs in: the stored file name is shown as {shown.inner_text().strip()!r}, "
                                f"rendered from Markdown as {shown.inner_html()}")
        finally:
            context.close()
            browser.close()

    assert problems == [], "report text interpreted in the browser:\n" + "\n".join(problems)
    assert not [url for _, url in requests if any(h in url for h in HOSTS)], \
        "requests to the payload's hosts:\n" + "\n".join(f"{v}: {u}" for v, u in requests if any(h in u for h in HOSTS))
