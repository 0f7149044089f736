"""pdfplumber against two alternatives on the rendered samples (tests/fixtures/render/pdf): how long a PDF takes
and how many table rows each recovers. Kept to record why the reader uses pdfplumber; the alternatives are not
project requirements:

    python -m venv /tmp/alt && /tmp/alt/bin/pip install pdfplumber camelot-py opencv-python-headless docling-parse
    /tmp/alt/bin/python bench/pdf_alternatives.py

pdfplumber: words with fonts, lines, rectangles, curves and images, plus its lattice table finder (what
nlp/pdf_reader.py builds on). camelot (lattice): tables from ruling lines, rendered through OpenCV. docling-parse:
the low-level parser of Docling (characters, words and lines with fonts; tables are left to Docling's ML models,
which need model weights this project cannot download), so only its speed is comparable here.
"""
from __future__ import annotations

import time
from pathlib import Path

PDFS = sorted((Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "render" / "pdf").glob("*.pdf"))


def with_pdfplumber(path: Path) -> tuple[int, int]:
    import pdfplumber

    rows = 0
    with pdfplumber.open(path) as pdf:
        for page in pdf.pages:
            page.extract_words(extra_attrs=["fontname", "size"])
            rows += sum(len(t.rows) for t in page.find_tables({"vertical_strategy": "lines",
                                                              "horizontal_strategy": "lines"}))
            page.close()
        return len(pdf.pages), rows


def with_camelot(path: Path) -> int:
    import camelot

    tables = camelot.read_pdf(str(path), pages="all", flavor="lattice")
    return sum(t.shape[0] for t in tables)


def with_docling_parse(path: Path) -> int:
    from docling_parse.pdf_parser import DoclingPdfParser

    doc = DoclingPdfParser().load(path_or_stream=str(path))
    return sum(1 for _ in doc.iterate_pages())


def main() -> None:
    print("| fil | sidor | pdfplumber s | tabellrader | camelot s | tabellrader | docling-parse s |")
    print("|---|---|---|---|---|---|---|")
    for path in PDFS:
        started = time.perf_counter()
        pages, rows = with_pdfplumber(path)
        t_plumber = time.perf_counter() - started
        started = time.perf_counter()
        try:
            c_rows = with_camelot(path)
        except Exception as e:  # noqa: BLE001 - a comparison: report what failed and go on
            c_rows = f"fel ({e.__class__.__name__})"
        t_camelot = time.perf_counter() - started
        started = time.perf_counter()
        try:
            with_docling_parse(path)
            t_docling = f"{time.perf_counter() - started:.1f}"
        except Exception as e:  # noqa: BLE001
            t_docling = f"fel ({e.__class__.__name__})"
        print(f"| {path.name} | {pages} | {t_plumber:.1f} | {rows} | {t_camelot:.1f} | {c_rows} | {t_docling} |")


if __name__ == "__main__":
    main()
