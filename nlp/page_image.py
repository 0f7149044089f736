"""One page of a stored PDF as an image, with an item's words marked: what a reviewer checks a reading against.

pypdfium2 renders (the PDFium engine pdfplumber already depends on); pdfplumber finds where the words stand. A
phrase is found by its first words in reading order (a title wrapping in a table cell has the next cells' words
between its lines), so a mark means the words were found on that page; no mark means they were not.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from errors import UnreadableReport

SCALE = 1.6  # 115 dpi: the page's small print is readable at 800 px wide
MARK = (255, 214, 0, 90)  # translucent yellow
PROBE_WORDS = 8  # the first words of a title or sentence are enough to find it, and wrap less often than all
GAP = 8  # other words allowed between two words of the phrase (a wrapped table cell's neighbours)


@dataclass
class PageImage:
    png: bytes
    page: int
    pages: int
    marked: int  # how many of the phrases were found and marked


def render_page(path: Path | str, page: int, phrases: list[str], scale: float = SCALE, nth: int = 0) -> PageImage:
    """Page `page` (1-based) of the PDF at `path` as PNG bytes, each phrase found on it marked. An
    UnreadableReport with a Swedish cause for a missing file, a page outside the file or a file PDFium cannot
    open. `nth`: which occurrence of the first phrase is meant (an item listed twice on one page)."""
    import pypdfium2 as pdfium
    from PIL import Image, ImageDraw

    path = Path(path)
    if not path.is_file():
        raise UnreadableReport(path.name, "källfilen finns inte längre där den lästes in")
    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as e:
        raise UnreadableReport(path.name, f"filen kan inte visas som PDF ({e})") from None
    try:
        if not 1 <= page <= len(pdf):
            raise UnreadableReport(path.name, f"sidan {page} finns inte (filen har {len(pdf)} sidor)")
        image = pdf[page - 1].render(scale=scale).to_pil().convert("RGBA")
        pages = len(pdf)
    finally:
        pdf.close()
    found = [find_phrase(path, page, phrase, nth if i == 0 else 0) for i, phrase in enumerate(phrases)]
    boxes = [b for f in found for b in f]
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for x0, top, x1, bottom in boxes:
        draw.rectangle([x0 * scale - 2, top * scale - 2, x1 * scale + 2, bottom * scale + 2], fill=MARK,
                       outline=(230, 150, 0, 255), width=2)
    out = io.BytesIO()
    Image.alpha_composite(image, overlay).convert("RGB").save(out, format="PNG", optimize=True)
    return PageImage(out.getvalue(), page, pages, sum(1 for f in found if f))


def find_phrase(path: Path, page: int, phrase: str, nth: int = 0) -> list[tuple[float, float, float, float]]:
    """Boxes (PDF points, top-left origin), one per line, of the phrase's first words on the page, in reading order
    with at most GAP other words between two of them: a title that wraps inside a table cell is read with the
    neighbouring cells' words in between; the nth such place (or the last there is). Empty when any of those
    words is missing."""
    import pdfplumber

    target = [t for t in (_token(w) for w in phrase.split()) if t][:PROBE_WORDS]
    if not target:
        return []
    with pdfplumber.open(path) as pdf:
        words = pdf.pages[page - 1].extract_words()
    tokens = [_token(w["text"]) for w in words]
    places: list[list[tuple[float, float, float, float]]] = []
    for i, token in enumerate(tokens):
        if token != target[0]:
            continue
        matched = [i]
        for want in target[1:]:
            k = next((k for k in range(matched[-1] + 1, min(matched[-1] + 2 + GAP, len(tokens)))
                      if tokens[k] == want), None)
            if k is None:
                break
            matched.append(k)
        if len(matched) == len(target):
            places.append(_line_boxes([words[k] for k in matched]))
    return places[min(nth, len(places) - 1)] if places else []


def _token(word: str) -> str:
    return word.strip(".,:;!?()[]»«\"'–-•●|").lower()


def _line_boxes(words: list[dict]) -> list[tuple[float, float, float, float]]:
    lines: dict[int, list[dict]] = {}
    for w in words:
        lines.setdefault(round(w["top"] / 3), []).append(w)
    return [(min(w["x0"] for w in ws), min(w["top"] for w in ws), max(w["x1"] for w in ws),
             max(w["bottom"] for w in ws)) for ws in lines.values()]
