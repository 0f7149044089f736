"""The app in a real browser: Playwright for Python driving Debian's Chromium against one Streamlit process.

Types "hyrsjuksköterskor", expects hits from more than one kommun, opens a unit, accepts one status suggestion in
Granska and checks that the decision is in SQLite, and saves a screenshot of each page under tests/artifacts/.
"""
from __future__ import annotations

import io
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from openpyxl import load_workbook

from index.store import Store
from pipeline import review

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SLOW_MS = 300_000  # the first search loads the language model; CI has two cores

# No skip when the browser is missing: `make test` installs it, so a missing browser is a failure to see.


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"streamlit did not start in {timeout} s:\n{log.read_text(errors='replace')}")


@contextmanager
def streamlit_server(data: Path):
    """The app served by a real Streamlit process on a free local port, over the data directory `data`."""
    port = free_port()
    log = data.parent / "streamlit.log"
    env = {**os.environ, "KOMMUNRAPPORT_DATA": str(data), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def server(ingested_fixture_dir, tmp_path_factory):
    data = tmp_path_factory.mktemp("browser") / "data"
    shutil.copytree(ingested_fixture_dir, data)
    with streamlit_server(data) as url:
        yield url, data


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 1400}, locale="sv-SE")
        pg = context.new_page()
        yield pg
        context.close()
        browser.close()


IDLE_JS = ("() => !document.querySelector('[data-testid=\"stStatusWidget\"]') "
           "&& !document.querySelector('[data-stale=\"true\"]')")


def settle(page, timeout: int = SLOW_MS) -> None:
    """Wait until Streamlit has finished the current run: its status widget has detached and no element is stale.

    The widget shows up only about half a second into a run, so the check must hold twice in a row."""
    page.wait_for_timeout(300)  # let a rerun triggered by the last action begin
    for _ in range(50):
        page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=timeout)
        page.wait_for_function(IDLE_JS, timeout=timeout)
        page.wait_for_timeout(700)
        if page.evaluate(IDLE_JS):
            return
    raise AssertionError("Streamlit never became idle")


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def go_to(page, label: str) -> None:
    page.locator('[data-testid="stSidebar"]').get_by_text(label, exact=True).click()
    settle(page)


def test_search_review_and_every_page(server, page):
    from playwright.sync_api import expect

    url, data = server
    started = time.perf_counter()
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_text("Inlästa rapporter (5)").wait_for(timeout=SLOW_MS)
    settle(page)
    print(f"first page: {time.perf_counter() - started:.1f} s")
    page.locator('[data-testid="stDataFrame"]').wait_for(timeout=60_000)  # the grid's script loads lazily
    shot(page, "1-sok-start.png")

    box = page.get_by_role("textbox", name="Sökfråga")
    box.fill("xqzplorfbungt")  # no word at all: nothing found, in words or in meaning
    box.press("Enter")
    page.get_by_text("Inga träffar.", exact=False).wait_for(timeout=SLOW_MS)
    assert page.locator(".kr-count").inner_text() == "0 ordträffar i 0 kommuner · 0 träffar bara på betydelse · " \
                                                     "Hybrid (ord + betydelse)"
    box.fill("hyrsjuksköterskor")
    box.press("Enter")
    header = page.locator(".kr-count", has_text="ordträffar i 3 kommuner")
    header.wait_for(timeout=SLOW_MS)
    settle(page)
    counts = re.fullmatch(r"(\d+) ordträffar i 3 kommuner(?: \((\d+) visas\))? · (\d+) träffa?r? bara på betydelse · "
                          r"Hybrid \(ord \+ betydelse\)", header.inner_text())
    words, meaning = int(counts.group(1)), int(counts.group(3))
    shown = int(counts.group(2) or words)
    # The count on screen is the CLI's: every word match of `search --jsonl` (all of them listed) is tagged bm25.
    cli = subprocess.run([sys.executable, str(ROOT / "cli.py"), "search", "hyrsjuksköterskor", "--db", str(data),
                          "--top", "1000", "--jsonl"], capture_output=True, text=True, cwd=ROOT, check=True)
    assert words == sum('"bm25"' in line for line in cli.stdout.splitlines()) == 9
    n_hits = shown + meaning
    # Every hit card has one snippet; wait for all of them (the browser may still be drawing after the run).
    page.wait_for_function(f"() => document.querySelectorAll('.kr-snippet').length === {n_hits}", timeout=SLOW_MS)
    metas = page.locator(".kr-meta").all_inner_texts()
    kommuner = {m.split(" · ")[0] for m in metas}
    assert len(kommuner) >= 2, metas
    assert page.locator(".kr-snippet mark").count() >= 1
    shot(page, "2-sok-traffar.png")
    with page.expect_download(timeout=SLOW_MS) as download:
        page.get_by_role("button", name="Exportera träfflistan (Excel)").click()
    assert download.value.suggested_filename == "traffar.xlsx"
    sheet = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("rang", "kommun", "nämnd", "år") and len(rows) == 1 + len(metas)
    assert {r[1] for r in rows[1:]} == kommuner

    page.get_by_role("button", name=re.compile("Visa hela posten")).first.click()
    settle(page)
    assert page.locator("table.kr-lines").count() == 1
    page.get_by_role("button", name=re.compile("Liknande i andra kommuner")).first.click()
    page.get_by_text("Liknande i andra kommuner", exact=True).last.wait_for(timeout=SLOW_MS)
    settle(page)
    shot(page, "3-sok-post-och-liknande.png")

    go_to(page, "Granska")
    reviewer = page.get_by_role("textbox", name="Granskare")
    reviewer.fill("Playwright Testsson")
    reviewer.press("Enter")
    settle(page)
    accept = page.get_by_role("button", name=re.compile("^Godkänn"))
    expect(accept).to_have_count(1, timeout=SLOW_MS)  # the disabled one from before the name was entered goes
    expect(accept).to_be_enabled(timeout=SLOW_MS)
    shot(page, "4-granska-status.png")
    store = Store.open(data)
    assert store.decisions() == []
    accept.click()
    page.get_by_text("Förslaget godkänt").wait_for(timeout=SLOW_MS)
    settle(page)
    [decision] = store.decisions()
    assert (decision.reviewer, decision.action, decision.target_type) == ("Playwright Testsson", "accept",
                                                                          "unit_status")
    assert decision.new_value == store.unit(decision.target_id).suggested_status
    assert page.get_by_role("button", name="Ångra").count() == 1

    page.get_by_text("Flaggor", exact=True).click()
    settle(page)
    shot(page, "5-granska-flaggor.png")

    go_to(page, "Översikt")
    page.locator('[data-testid="stVegaLiteChart"]').first.wait_for(timeout=SLOW_MS)
    settle(page)
    assert page.locator('[data-testid="stVegaLiteChart"]').count() == 3
    page.wait_for_timeout(1000)  # charts draw after the run ends
    shot(page, "6-oversikt.png")
    with page.expect_download(timeout=SLOW_MS) as download:
        page.get_by_role("button", name="Diagram (PNG)").first.click()
    assert download.value.suggested_filename == "status_per_kommun.png"
    assert Path(download.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    go_to(page, "Läs in")
    page.locator('input[type="file"]').set_input_files(
        str(ROOT / "tests" / "fixtures" / "reports" / "hudiksvall-markdown-2023-08.txt"))
    settle(page)
    expect(page.get_by_role("textbox", name="Kommun")).to_have_value("Hudiksvall", timeout=SLOW_MS)
    shot(page, "7-las-in.png")
    page.get_by_role("textbox", name="Kommun").fill("Hudiksvall (ny version)")
    page.get_by_role("button", name="Läs in rapporten").click()
    page.get_by_text(re.compile("är inläst")).wait_for(timeout=SLOW_MS)
    settle(page)
    shot(page, "8-las-in-klar.png")
    assert store.report("hudiksvall-markdown-2023-08.txt")["kommun"] == "Hudiksvall (ny version)"
    assert (data / "uploads" / "hudiksvall-markdown-2023-08.txt").exists()
    store.close()


def test_a_corrected_title_and_the_reviewer_survive_a_reload_and_a_reingest(server, page, tmp_path):
    """Granska: the reviewer (from the URL) corrects the first item's title; after a reload the name and the new
    title are still there, and after the report is read again (a changed file, new rows from the segmenter) too."""
    from playwright.sync_api import expect

    from pipeline.ingest import ingest_paths

    url, data = server
    store = Store.open(data)
    unit = review.status_queue(store)[0]
    new_title = "Rättad titel från webbläsaren"
    page.goto(f"{url}/?sida=Granska&granskare=Titel+Testare", wait_until="domcontentloaded")
    page.get_by_text("Rätta posten (status, titel)").first.wait_for(timeout=SLOW_MS)
    settle(page)
    expect(page.locator(".kr-title").first).to_have_text(unit.title, timeout=SLOW_MS)
    page.get_by_text("Rätta posten (status, titel)").first.click()
    box = page.get_by_role("textbox", name="Titel").first
    box.fill(new_title)
    box.press("Enter")
    settle(page)
    page.get_by_role("button", name="Spara titel").first.click()
    page.get_by_text(re.compile("Titeln ändrad")).wait_for(timeout=SLOW_MS)
    settle(page)
    assert store.unit(unit.id).title == new_title
    expect(page.get_by_text(f"»{unit.title}« → »{new_title}«", exact=False)).to_be_visible()  # Senaste beslut
    [d] = store.decisions("unit_title")
    assert (d.reviewer, d.old_value, d.new_value) == ("Titel Testare", unit.title, new_title)

    page.reload(wait_until="domcontentloaded")
    page.get_by_text("Rätta posten (status, titel)").first.wait_for(timeout=SLOW_MS)
    settle(page)
    expect(page.get_by_role("textbox", name="Granskare")).to_have_value("Titel Testare")
    expect(page.locator(".kr-title").first).to_have_text(new_title)

    changed = tmp_path / unit.doc
    source = ROOT / "tests" / "fixtures" / "reports" / unit.doc
    shutil.copy(source.parent / "manifest.csv", tmp_path / "manifest.csv")  # same kommun, nämnd, year: a new version
    changed.write_text(source.read_text(encoding="utf-8") + "\nBilaga: inga ändringar.\n", encoding="utf-8")
    summary = ingest_paths([tmp_path], db_dir=data, progress=False)
    assert (summary.errors, summary.ingested) == ([], [unit.doc])
    page.reload(wait_until="domcontentloaded")
    page.get_by_text("Rätta posten (status, titel)").first.wait_for(timeout=SLOW_MS)
    settle(page)
    expect(page.locator(".kr-title").first).to_have_text(new_title)
    assert Store.open(data).unit(unit.id).title == new_title
    shot(page, "9-granska-rattad-titel.png")
    store.close()


@pytest.mark.parametrize("width", [1400, 800])
def test_every_page_fits_the_window_at_two_widths(server, page, width):
    """Each page at 1400 and 800 px (a laptop, half a screen): nothing wider than the window, screenshots kept."""
    url, _ = server
    page.set_viewport_size({"width": width, "height": 1000})
    try:
        page.goto(f"{url}/?q=hyrsjuksk%C3%B6terskor", wait_until="domcontentloaded")
        page.locator(".kr-count").wait_for(timeout=SLOW_MS)
        settle(page)
        for n, (label, name) in enumerate([("Sök", "sok"), ("Granska", "granska"), ("Översikt", "oversikt"),
                                           ("Läs in", "las-in")], 1):
            if label != "Sök":
                if not page.locator('[data-testid="stSidebar"]').get_by_text(label, exact=True).is_visible():
                    # the sidebar folds away on narrow windows: open it to change page
                    page.locator('[data-testid="stExpandSidebarButton"]').first.click()
                go_to(page, label)
            if label == "Läs in":  # the uploader's English words are replaced by Swedish ones (app.py CSS)
                after = page.evaluate("() => getComputedStyle(document.querySelector("
                                      "'[data-testid=\"stFileUploaderDropzone\"] button p'), '::after').content")
                assert after == '"Välj fil"'
            overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{label} at {width} px is {overflow} px wider than the window"
            shot(page, f"{width}-{n}-{name}.png")
    finally:
        page.set_viewport_size({"width": 1400, "height": 1400})


def test_a_pdf_hit_cites_the_readers_page_and_opens_the_page_itself(server, page, tmp_path):
    """A PDF in a layout of its own (a table whose title cells wrap, items listed on two pages) is read into the
    running app's store; every card of one item cites the pages the reader found, and the item's page opens as an
    image with the item marked."""
    from playwright.sync_api import expect

    from pipeline.ingest import ingest_paths

    url, data = server
    pdf = tmp_path / "aktiviteter.pdf"
    shutil.copy(ROOT / "tests" / "fixtures" / "render" / "cases" / "aktiviteter.pdf", pdf)
    assert ingest_paths([tmp_path], db_dir=data, progress=False).errors == []
    title = "Ta fram en plan för offentlig konst"
    pages = {u.page_start for u in Store.open(data).units("aktiviteter.pdf") if u.title == title}
    assert pages == {1, 2}
    page.goto(f"{url}/?q=offentlig+konst", wait_until="domcontentloaded")
    page.locator(".kr-count").wait_for(timeout=SLOW_MS)
    settle(page)
    cards = page.locator('[data-testid="stHtml"]', has=page.locator(".kr-title", has_text=title))
    cited = {int(m.group(1)) for text in cards.locator(".kr-meta").all_inner_texts()
             if (m := re.search(r"aktiviteter\.pdf s\. (\d+)$", text))}
    assert cited == pages
    first = int(re.search(r"s\. (\d+)$", cards.first.locator(".kr-meta").inner_text()).group(1))
    page.get_by_role("button", name="Visa hela posten").first.click()
    settle(page)
    page.get_by_text(f"Visa sidan i PDF:en (s. {first})").first.click()
    settle(page)
    expect(page.locator('[data-testid="stImage"] img').first).to_be_visible(timeout=SLOW_MS)
    expect(page.get_by_text(f"aktiviteter.pdf, s. {first} av 2 – gult: postens rubrik och första rad")).to_be_visible()
    shot(page, "10-sok-pdf-sida.png")
