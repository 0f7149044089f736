"""Reading speed and memory: PDF and Word files read into the document model and segmented, one core.

    python bench/read_bench.py

Prints, for each rendered sample (tests/fixtures/render), pages, seconds to read and seconds to segment; then a
534-page PDF (bench/fixtures/lang-rapport.pdf) read in a child process with its peak RSS and progress.
Targets: a 40-page PDF read in <= 10 s on one core; memory bounded for a 500-page PDF (peak RSS printed);
segmentation <= 1 s per report.
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RENDER = ROOT / "tests" / "fixtures" / "render"
LONG = ROOT / "bench" / "fixtures" / "lang-rapport.pdf"


def one_core() -> None:
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    except (AttributeError, OSError):
        pass


def read_and_segment(path: Path) -> tuple[int, float, float, int]:
    from nlp.reader import read_report
    from nlp.segmenter import segment

    started = time.perf_counter()
    document = read_report(path)
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    seg = segment(document)
    seg_s = time.perf_counter() - started
    pages = max((p for p in document.pages if p), default=0)
    return pages, read_s, seg_s, len(seg.units)


def thousand_items() -> tuple[float, int, float, int]:
    """A whole kommun's plan: 1,000 items as table rows and 1,000 as headings with status lines; seconds to
    segment each and the units found."""
    from nlp.reader import make_document
    from nlp.segmenter import segment

    rows = ["Åtgärd\tAnsvarig\tStatus\tKommentar"] + [
        f"Åtgärd nummer {k} för bättre service\tEnhet {k % 9}\t{('Pågår', 'Klar', 'Försenad')[k % 3]}\t"
        f"Arbetet med åtgärd {k} följs upp varje månad." for k in range(1000)]
    heads = []
    for k in range(1000):
        heads += [f"## Utveckla tjänst {k} för invånarna", "", f"Status: {('Pågår', 'Klar')[k % 2]}", "",
                  f"Tjänst {k} utvecklas tillsammans med brukarna.", ""]
    out = []
    for lines in (rows, heads):
        document = make_document("plan.md", "\n".join(lines), "md", "x")
        started = time.perf_counter()
        units = len(segment(document).units)
        out += [time.perf_counter() - started, units]
    return out[0], out[1], out[2], out[3]


def long_child() -> None:
    """Run in a child process: read the long PDF, printing progress every 50 pages."""
    from nlp.reader import read_report

    def progress(page: int, pages: int) -> None:
        if page % 50 == 0 or page == pages:
            print(f"  läst sida {page} av {pages}", flush=True)

    started = time.perf_counter()
    document = read_report(LONG, progress=progress)
    print(f"  {len(document.raw)} rader på {time.perf_counter() - started:.1f} s", flush=True)


def main() -> None:
    one_core()
    print("| fil | sidor | läsning s | s per sida | segmentering s | poster |")
    print("|---|---|---|---|---|---|")
    worst_40 = 0.0
    worst_seg = 0.0
    for folder in ("pdf", "textpdf", "docx"):
        for path in sorted((RENDER / folder).glob("*")):
            pages, read_s, seg_s, units = read_and_segment(path)
            per_page = read_s / pages if pages else float("nan")
            if pages:
                worst_40 = max(worst_40, 40 * per_page)
            worst_seg = max(worst_seg, seg_s)
            print(f"| {folder}/{path.name} | {pages or '–'} | {read_s:.2f} | {per_page:.3f} | {seg_s:.3f} | {units} |")
    print(f"40 sidor PDF, långsammaste takten ovan: {worst_40:.1f} s (mål <= 10 s på en kärna)")
    print(f"segmentering, långsammaste rapporten: {worst_seg:.2f} s (mål <= 1 s)")
    t_rows, n_rows, t_heads, n_heads = thousand_items()
    print(f"1 000 poster som tabellrader: {n_rows} poster på {t_rows:.2f} s; som rubriker med statusrad: "
          f"{n_heads} poster på {t_heads:.2f} s (mål: begränsad tid)")
    print(f"{LONG.name}:")
    started = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--long-child"], check=True)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"534 sidor: {time.perf_counter() - started:.1f} s med uppstart, högsta RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    if "--long-child" in sys.argv:
        one_core()
        long_child()
    else:
        main()
