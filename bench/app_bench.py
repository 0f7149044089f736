"""App speed as a user sees it: one Streamlit server, Debian's Chromium, a real store.

    python bench/app_bench.py [--db DIR] [--repeat 2]

Times (wall clock in the browser):
* first page: navigation start -> the report table is shown and Streamlit is idle (a fresh server process, so
  nothing is cached yet; the language model loads in the background and must not delay this);
* first search: Enter -> hits shown and idle (waits for the background model load if it has not finished);
* further searches: the same, for a list of everyday queries, each run `--repeat` times; median and max.
Also the server-side script time of a search rerun (AppTest, in-process, model loaded).

Targets: first page <= 5 s, first search <= 1.5 s, searches <= 0.6 s median. Prints figures and writes them to
bench/results/app_bench.json (bench/run.py puts them in docs/benchmarks.md); nothing here is a pass/fail test.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Not the dev-set queries (queries.json): the app's timings must not depend on what search was evaluated on.
QUERIES = ["personalomsättning", "anhörigstöd", "trygghetslarm", "schemaläggning", "digitalisering",
           "ekonomi i balans", "korttidsboende", "kompetensförsörjning", "våld i nära relationer", "brukarundersökning"]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
IDLE_JS = ("() => !document.querySelector('[data-testid=\"stStatusWidget\"]') "
           "&& !document.querySelector('[data-stale=\"true\"]')")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "KOMMUNRAPPORT_DATA": str(db)}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless",
                             "true", "--server.address", "127.0.0.1", "--server.port", str(port),
                             "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("streamlit did not start")


def idle(page, timeout: int = 300_000) -> None:
    """Streamlit's run indicator appears about 0.3-0.5 s into a run; the idle check must hold twice."""
    page.wait_for_timeout(100)
    while True:
        page.wait_for_function(IDLE_JS, timeout=timeout, polling=50)
        page.wait_for_timeout(600)
        if page.evaluate(IDLE_JS):
            return


BUSY_JS = ("() => !!(document.querySelector('[data-testid=\"stStatusWidget\"]') "
           "|| document.querySelector('[data-stale=\"true\"]'))")
# The result heading (".kr-count", "39 ordträffar i 3 kommuner (10 visas) · 2 träffar bara på betydelse") says how
# many hit cards the run draws; done when that many snippets are on screen and nothing is stale.
DONE_JS = ("() => { const m = document.querySelector('.kr-count'); if (!m) return false;"
           " const g = m.innerText.match(/(\\d+) ordträffar i \\d+ kommuner(?: \\((\\d+) visas\\))? · (\\d+) träff/);"
           " if (!g) return false; const n = parseInt(g[2] || g[1]) + parseInt(g[3]);"
           " return !document.querySelector('[data-stale=\"true\"]')"
           " && document.querySelectorAll('.kr-snippet').length === n; }")


def timed_search(page, query: str) -> float:
    """Seconds from Enter until the new run has started (elements go stale) and every hit of the new result is
    drawn with nothing stale left: what the user sees. (The run indicator fades out later; it is not waited for.)"""
    box = page.get_by_role("textbox", name="Sökfråga")
    box.fill(query)
    started = time.perf_counter()
    box.press("Enter")
    page.wait_for_function(BUSY_JS, timeout=10_000, polling=10)
    page.wait_for_function(DONE_JS, timeout=300_000, polling=20)
    elapsed = time.perf_counter() - started
    idle(page)
    return elapsed


def browser_figures(db: Path, repeat: int) -> dict:
    from playwright.sync_api import sync_playwright

    proc, url = start_server(db)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            started = time.perf_counter()
            page.goto(url, wait_until="commit")
            page.get_by_text("Inlästa rapporter").wait_for(timeout=120_000)
            page.locator('[data-testid="stDataFrame"]').wait_for(timeout=120_000)
            first_page = time.perf_counter() - started
            idle(page)
            print(f"first page (fresh server): {first_page:.2f} s   target <= 5 s")
            first = timed_search(page, QUERIES[0])
            print(f"first search (model may still be loading): {first:.2f} s   target <= 1.5 s")
            times = [timed_search(page, q) for _ in range(repeat) for q in QUERIES[1:] + QUERIES[:1]]
            print(f"search, {len(times)} runs: median {statistics.median(times):.2f} s, "
                  f"p90 {sorted(times)[int(0.9 * (len(times) - 1))]:.2f} s, max {max(times):.2f} s   target <= 0.6 s")
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {"first_page_s": round(first_page, 2), "first_search_s": round(first, 2),
            "search_median_s": round(statistics.median(times), 2), "search_max_s": round(max(times), 2),
            "searches": len(times)}


def script_figures(db: Path, repeat: int) -> None:
    from streamlit.testing.v1 import AppTest

    os.environ["KOMMUNRAPPORT_DATA"] = str(db)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600).run()
    at.text_input(key="q").input(QUERIES[0]).run()  # loads model and indexes
    times = []
    for _ in range(repeat):
        for q in QUERIES:
            started = time.perf_counter()
            at.text_input(key="q").input(q).run()
            times.append(time.perf_counter() - started)
    print(f"server-side search rerun (AppTest), {len(times)} runs: median {statistics.median(times):.3f} s, "
          f"max {max(times):.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=ROOT / "data", help="data directory with store.sqlite and indexes")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    from index.store import Store

    store = Store.open(args.db)
    print(f"store: {args.db} ({store.count('reports')} reports, {store.count('passages')} passages, "
          f"{store.count('units')} units)")
    store.close()
    figures = browser_figures(args.db, args.repeat)
    script_figures(args.db, args.repeat)
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "app_bench.json").write_text(json.dumps({**figures, "load_avg_end": os.getloadavg()}, indent=1),
                                            encoding="utf-8")


if __name__ == "__main__":
    main()
