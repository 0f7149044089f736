"""PDF -> document model, with pdfplumber: words with font and size, ruling lines and filled rectangles (table
grids, shaded cells), coloured symbols, curves and images (status icons), page by page.

What it rebuilds:
* tables from their ruling lines (pdfplumber's lattice finder), each cell's text, shading and icon colour; a table
  that continues on the next page is joined to the one before (a repeated header row dropped, a row broken by the
  page break mended);
* text lines from words, with a tab where a wide gap separates two columns of text (text printed from a tab file);
  paragraphs from lines that wrap (a line that ends early ends its paragraph), headings by size or weight,
  bullets as list items; reading order column by column on two-column pages;
* page headers and footers (text in the top or bottom band that repeats over pages, page numbers) as furniture.

Pages are read one at a time and their parsed objects dropped, so memory stays bounded for long files.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any, Callable

from errors import UnreadableReport
from nlp.document import (HEADING, LIST_ITEM, PARAGRAPH, TABLE, Block, Box, Cell, DocModel, Prov, Row,
                          colour_name, picture_colour)

MAX_PAGES = 3000
BAND = 0.085  # top and bottom share of the page where running headers and footers live
TABLE_SETTINGS = {"vertical_strategy": "lines", "horizontal_strategy": "lines", "snap_tolerance": 3,
                  "join_tolerance": 3, "intersection_tolerance": 4, "edge_min_length": 8}
PAGE_NUMBER_RE = re.compile(r"^(?:(?:sida|sid|s\.|page)\s*)?[-–(]?\s*\d{1,4}\s*[-–)]?(?:\s*(?:\(|av|/|of)\s*\d{1,4}\)?)?$",
                            re.I)
PAGE_REF_RE = re.compile(r"\b(?:sida|sid|s\.|page)\s*\d{1,4}\s*(?:\(\s*\d{1,4}\s*\)|(?:av|/|of)\s*\d{1,4})?\s*$", re.I)
# Bullets, including the private-use glyphs of the Symbol and Wingdings fonts that Word lists print with.
BULLET_RE = re.compile(r"^[•▪●◦·\-–*\uf0b7\uf0a7\uf076\uf0d8\uf0fc]\s+")
SYMBOLS = set("●○◆◇■□▲△▼▽★☆✓✔✗✘⬤⚫⚪🔴🟢🟡🔵")


@dataclass
class TextLine:
    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    size: float
    bold: bool
    page: int
    first_word_width: float = 0.0
    column_right: float = 0.0  # right edge of the text column the line stands in
    column: int = 0  # 0: the left (or only) column, 1: the right column


@dataclass
class PageItems:
    """One page read: its text lines outside tables, its tables, and the page size."""

    number: int
    width: float
    height: float
    lines: list[TextLine] = field(default_factory=list)
    columns: int = 1
    tables: list[tuple[Box, list[Row], list[float]]] = field(default_factory=list)  # bbox, rows, column x edges


def is_bold(fontname: str | None) -> bool:
    name = (fontname or "").lower()
    return any(k in name for k in ("bold", "black", "heavy", "semibold", ",b")) or name.endswith("-b")


def read_pdf(path: Path, name: str, progress: Callable[[int, int], None] | None = None) -> DocModel:
    import pdfplumber

    try:
        pdf = pdfplumber.open(path)
    except Exception as e:  # pdfminer raises many unrelated types for broken and encrypted files
        raise UnreadableReport(name, _open_error(e)) from None
    with pdf:
        n = len(pdf.pages)
        if n > MAX_PAGES:
            raise UnreadableReport(name, f"PDF:en har {n} sidor (högst {MAX_PAGES}); dela upp den")
        pages: list[PageItems] = []
        annotations = 0
        for i in range(n):
            page = pdf.pages[i]
            try:
                pages.append(read_page(page, i + 1))
                annotations += count_annotations(page)
            except Exception as e:  # a damaged page: say which
                raise UnreadableReport(name, f"sidan {i + 1} kunde inte läsas ({e.__class__.__name__})") from None
            finally:
                page.close()
            if progress:
                progress(i + 1, n)
    text_chars = sum(len(ln.text) for p in pages for ln in p.lines) + sum(
        len(c.text) for p in pages for _, rows, _ in p.tables for r in rows for c in r.cells)
    if text_chars < 20:
        if annotations:
            raise UnreadableReport(name, "PDF:en innehåller bara formulärfält eller kommentarer, ingen löptext")
        raise UnreadableReport(name, "PDF:en saknar textlager (skannad bild?); OCR stöds inte – be om en "
                                     "textbaserad PDF eller Word-filen")
    return build_model(name, pages)


def count_annotations(page: Any) -> int:
    """Comments and form fields on a page (the raw objects: pdfplumber cannot parse some without a Rect)."""
    from pdfminer.pdftypes import resolve1

    try:
        annots = resolve1(page.page_obj.annots)
    except Exception:  # an annotation list we cannot even resolve is still no running text
        return 0
    return len(annots) if isinstance(annots, list) else 0


def _open_error(e: Exception) -> str:
    kind = " ".join(repr(x) for x in (e, *e.args, e.__cause__, e.__context__))
    if re.search(r"password|encrypt", kind, re.I):
        return "PDF:en är krypterad eller lösenordsskyddad; spara en kopia utan skydd och läs in den"
    return f"PDF:en kunde inte läsas ({e.__class__.__name__})"


# -- one page ----------------------------------------------------------------------------------------------------

def read_page(page: Any, number: int) -> PageItems:
    items = PageItems(number, float(page.width), float(page.height))
    words = page.extract_words(x_tolerance=1.5, y_tolerance=2.5, keep_blank_chars=False, use_text_flow=False,
                               extra_attrs=["fontname", "size", "non_stroking_color"])
    tables = page.find_tables(TABLE_SETTINGS)
    boxes = []
    for t in tables:
        box = Box(*t.bbox)
        rows = table_rows(page, t, words)
        if len(rows) < 1 or max(len(r.cells) for r in rows) < 2:
            continue  # a frame around text, not a table
        boxes.append(box)
        items.tables.append((box, rows, column_edges(t)))
    free = [w for w in words if not any(inside(w, b) for b in boxes)]
    items.lines, items.columns = text_lines(free, number, float(page.width))
    return items


def inside(obj: dict[str, Any], box: Box, margin: float = 1.0) -> bool:
    cx = (float(obj["x0"]) + float(obj["x1"])) / 2
    cy = (float(obj["top"]) + float(obj["bottom"])) / 2
    return box.x0 - margin <= cx <= box.x1 + margin and box.top - margin <= cy <= box.bottom + margin


def column_edges(table: Any) -> list[float]:
    xs = sorted({round(c[0]) for r in table.rows for c in r.cells if c} | {round(table.bbox[2])})
    return [float(x) for x in xs]


def table_rows(page: Any, table: Any, words: list[dict[str, Any]]) -> list[Row]:
    rows = []
    fills = [r for r in page.rects if r.get("fill") and colour_name(_rgb(r.get("non_stroking_color")))]
    shapes = [c for c in page.curves if c.get("fill") and colour_name(_rgb(c.get("non_stroking_color")))]
    images = page.images
    for r in table.rows:
        cells: list[Cell] = []
        present = [c for c in r.cells if c]
        covered = -1.0  # right edge of the last cell in this row: a None cell left of it is a horizontal merge
        for j, c in enumerate(r.cells):
            if c is None:
                if not cells or _column_x0(table, j) >= covered - 1:
                    cells.append(Cell(""))  # merged with the cell above it: an empty cell keeps the columns
                elif cells:
                    cells[-1].span += 1
                continue
            covered = float(c[2])
            box = Box(*c)
            own = [w for w in words if inside(w, box)]
            text = cell_text(own)
            bold = bool(own) and sum(is_bold(w.get("fontname")) for w in own) >= len(own) / 2
            cells.append(Cell(text, fill=box_colour(box, fills), icon=icon_colour(page, box, own, shapes, images),
                              bold=bold))
        group = len(present) == 1 and len(r.cells) > 1
        rows.append(Row(cells, header=False, group=group, page=page.page_number))
    if rows and len(rows) > 1 and all(c.bold or not c.text for c in rows[0].cells) and any(c.text for c in rows[0].cells):
        rows[0].header = True
    return rows


def _column_x0(table: Any, j: int) -> float:
    xs = [float(c[0]) for r in table.rows if j < len(r.cells) and (c := r.cells[j]) is not None]
    return min(xs) if xs else float("inf")


def _rgb(colour: Any) -> Any:
    if colour is None:
        return None
    if isinstance(colour, (int, float)):
        return [colour]
    try:
        return list(colour)
    except TypeError:
        return None


def cell_text(words: list[dict[str, Any]]) -> str:
    """A cell's words in reading order; its lines joined by spaces, paragraphs by newlines."""
    lines = group_lines(words)
    return "\n".join(" ".join(w["text"] for w in ln) for ln in lines)


def group_lines(words: list[dict[str, Any]], tolerance: float = 2.5) -> list[list[dict[str, Any]]]:
    lines: list[list[dict[str, Any]]] = []
    for w in sorted(words, key=lambda w: (round(float(w["top"])), float(w["x0"]))):
        if lines and abs(float(lines[-1][0]["top"]) - float(w["top"])) <= tolerance:
            lines[-1].append(w)
        else:
            lines.append([w])
    return [sorted(ln, key=lambda w: float(w["x0"])) for ln in lines]


def box_colour(box: Box, fills: list[dict[str, Any]]) -> str | None:
    """The colour of a filled rectangle covering most of the cell (its shading)."""
    area = max(1.0, (box.x1 - box.x0) * (box.bottom - box.top))
    for r in fills:
        w = min(box.x1, float(r["x1"])) - max(box.x0, float(r["x0"]))
        h = min(box.bottom, float(r["bottom"])) - max(box.top, float(r["top"]))
        if w > 0 and h > 0 and w * h >= 0.5 * area:
            return colour_name(_rgb(r.get("non_stroking_color")))
    return None


def icon_colour(page: Any, box: Box, words: list[dict[str, Any]], shapes: list[dict[str, Any]],
                images: list[dict[str, Any]]) -> str | None:
    """A status shown inside the cell: a coloured symbol character, a filled shape, or an image's colour."""
    for w in words:
        if w["text"].strip() and all(ch in SYMBOLS for ch in w["text"].strip()):
            colour = colour_name(_rgb(w.get("non_stroking_color")))
            if colour:
                return colour
    for s in shapes:
        if inside(s, box) and float(s["x1"]) - float(s["x0"]) < 0.8 * (box.x1 - box.x0):
            return colour_name(_rgb(s.get("non_stroking_color")))
    for im in images:
        if inside(im, box):
            return image_colour(page, im)
    return None


def image_colour(page: Any, im: dict[str, Any]) -> str | None:
    """The most common status colour among an image's pixels (rendered small; white and black ignored)."""
    try:
        bbox = (max(0, float(im["x0"])), max(0, float(im["top"])), min(float(page.width), float(im["x1"])),
                min(float(page.height), float(im["bottom"])))
        picture = page.crop(bbox).to_image(resolution=36).original.convert("RGB")
    except Exception:  # an image we cannot render says nothing about status
        return None
    return picture_colour(picture)


# -- text lines outside tables ----------------------------------------------------------------------------------

def text_lines(words: list[dict[str, Any]], page: int, width: float) -> tuple[list[TextLine], int]:
    """Lines of words in reading order, column by column on a two-column page; and the number of columns."""
    columns = split_columns(words, width)
    out: list[TextLine] = []
    for k, column in enumerate(columns):
        lines = [make_line(ln, page) for ln in group_lines(column)]
        right = max((ln.x1 for ln in lines), default=0.0)
        for ln in lines:
            ln.column_right, ln.column = right, k
        out += lines
    return out, len(columns)


def split_columns(words: list[dict[str, Any]], width: float) -> list[list[dict[str, Any]]]:
    """Two columns when an empty vertical gutter runs through the middle of the page's text."""
    if len(words) < 40:
        return [words]
    bins = [0] * 100
    for w in words:
        for b in range(int(100 * float(w["x0"]) / width), min(100, int(100 * float(w["x1"]) / width) + 1)):
            bins[b] += 1
    middle = range(35, 66)
    empty = [b for b in middle if bins[b] == 0]
    if not empty:
        return [words]
    gutter = (min(empty) + max(empty)) / 2 * width / 100
    left = [w for w in words if float(w["x1"]) <= gutter]
    right = [w for w in words if float(w["x0"]) >= gutter]
    if min(len(left), len(right)) < 0.2 * len(words):
        return [words]
    return [left, right]


def char_widths(words: list[dict[str, Any]]) -> list[float]:
    return [(float(w["x1"]) - float(w["x0"])) / len(w["text"]) for w in words if len(w["text"]) >= 3]


def make_line(words: list[dict[str, Any]], page: int) -> TextLine:
    """Words joined by spaces, or by a tab where the gap is wide enough to separate columns of a table: in a
    monospaced line (text printed as it was typed) two character widths, else 1.6 em."""
    sizes = [float(w.get("size") or 10) for w in words]
    size = median(sizes)
    widths = char_widths(words)
    mono = len(widths) >= 2 and max(widths) - min(widths) < 0.04 * median(widths)
    tab_gap = 1.5 * median(widths) if mono else 1.6 * size
    parts = [words[0]["text"]]
    for prev, w in zip(words, words[1:]):
        gap = float(w["x0"]) - float(prev["x1"])
        parts.append(("\t" if gap > tab_gap else " ") + w["text"])
    lead = 0  # words of a bold lead-in that opens a line whose rest is regular
    while lead < len(words) and is_bold(words[lead].get("fontname")):
        lead += 1
    if 0 < lead < len(words) and not any(is_bold(w.get("fontname")) for w in words[lead:]):
        parts[0] = "**" + parts[0]
        parts[lead - 1] += "**"
    return TextLine("".join(parts), float(words[0]["x0"]), float(words[-1]["x1"]),
                    min(float(w["top"]) for w in words), max(float(w["bottom"]) for w in words), size,
                    sum(is_bold(w.get("fontname")) for w in words) > len(words) / 2, page,
                    float(words[0]["x1"]) - float(words[0]["x0"]))


# -- the whole document ------------------------------------------------------------------------------------------

def furniture_keys(pages: list[PageItems]) -> set[str]:
    """Normalised texts of lines in the top or bottom band that repeat on many pages, and page numbers."""
    def key(text: str) -> str:
        return re.sub(r"\d+", "#", " ".join(text.split()).lower())

    counts: Counter[str] = Counter()
    for p in pages:
        seen = {key(ln.text) for ln in p.lines if in_band(ln, p)}
        counts.update(seen)
    repeated = max(2, int(0.3 * len(pages)))
    return {k for k, c in counts.items() if c >= repeated and len(pages) >= 2}


def in_band(line: TextLine, page: PageItems) -> bool:
    return line.bottom < BAND * page.height or line.top > (1 - BAND) * page.height


def is_furniture(line: TextLine, page: PageItems, keys: set[str]) -> bool:
    if not in_band(line, page):
        return False
    text = " ".join(line.text.split())
    return (re.sub(r"\d+", "#", text.lower()) in keys or bool(PAGE_NUMBER_RE.match(text))
            or bool(PAGE_REF_RE.search(text)))


def set_text_width(pages: list[PageItems]) -> None:
    """One right margin for the single-column pages of a document (its usual text width), so that a page whose
    lines are all short does not read its longest line as running to the margin."""
    rights = sorted(max(ln.x1 for ln in p.lines) for p in pages if p.lines and p.columns == 1)
    if not rights:
        return
    right = rights[int(0.9 * (len(rights) - 1))]
    for p in pages:
        if p.columns == 1:
            for ln in p.lines:
                ln.column_right = max(right, ln.x1) if ln.x1 > right + 1 else right


def body_text_size(pages: list[PageItems]) -> float:
    """The running text's font size: the size carrying most characters of regular (not bold) lines."""
    counts: Counter[int] = Counter()
    for p in pages:
        for ln in p.lines:
            if not in_band(ln, p) and not ln.bold:
                counts[round(ln.size)] += len(ln.text)
    if not counts:
        counts.update(round(ln.size) for p in pages for ln in p.lines)
    return counts.most_common(1)[0][0] if counts else 10


def build_model(name: str, pages: list[PageItems]) -> DocModel:
    keys = furniture_keys(pages)
    set_text_width([PageItems(p.number, p.width, p.height, [ln for ln in p.lines if not is_furniture(ln, p, keys)],
                              p.columns) for p in pages])
    body_size = body_text_size(pages)
    model = DocModel(file=name, fmt="pdf", pages=len(pages))
    pending: list[TextLine] = []  # a paragraph being collected; it may go on over a page break
    for p in pages:
        flow: list[tuple[float, int, Any]] = []  # (top, order, item) on this page
        for k, ln in enumerate(p.lines):
            if is_furniture(ln, p, keys):
                model.furniture.append(Block(PARAGRAPH, ln.text, prov=Prov(page=p.number, bbox=line_box(ln))))
            else:
                flow.append((ln.top, k, ln))
        for box, rows, edges in p.tables:
            flow.append((box.top, -1, (box, rows, edges)))
        if p.columns == 1:  # on a two-column page the lines already come column by column, tables last
            flow.sort(key=lambda t: (t[0], t[1]))
        for _, _, item in flow:
            if isinstance(item, TextLine):
                if pending and not continues(pending[-1], item, body_size):
                    model.blocks.append(paragraph_block(pending, body_size))
                    pending = []
                pending.append(item)
                continue
            if pending:
                model.blocks.append(paragraph_block(pending, body_size))
                pending = []
            add_table(model, p.number, *item)
    if pending:
        model.blocks.append(paragraph_block(pending, body_size))
    heading_levels(model, body_size)
    return model


def line_box(ln: TextLine) -> Box:
    return Box(ln.x0, ln.top, ln.x1, ln.bottom)


def wrapped(prev: TextLine, line: TextLine) -> bool:
    """`prev` ran on to the right margin: the next line's first word would not have fitted after it (a rule of
    dashes starting the next line is no word that wrapped)."""
    left = prev.column_right - prev.x1
    if "\t" in prev.text and line.text[:1].isupper():
        return False  # a table row printed as text ends where it ends; the next capitalised line is the next row
    first = line.text.split(maxsplit=1)[0] if line.text.split() else ""
    return left < line.first_word_width + 0.25 * prev.size + 1.0 and any(ch.isalnum() for ch in first)


def continues(prev: TextLine, line: TextLine, body_size: float) -> bool:
    """Does `line` belong to the block `prev` ends? Same style and no extra space between them (a paragraph's
    wrapped lines, or lines broken by hand inside one paragraph); over a page break only a wrapped paragraph that
    goes on in lower case."""
    if abs(line.size - prev.size) > 0.6 or line.bold != prev.bold or BULLET_RE.match(line.text):
        return False
    if line.page == prev.page + 1 or (line.page == prev.page and line.column > prev.column):
        return line.text[:1].islower()  # a page or column break cut the block: it goes on in lower case
    gap = line.top - prev.bottom
    return line.page == prev.page and -0.5 * prev.size <= gap <= 0.55 * prev.size


def paragraph_block(lines: list[TextLine], body_size: float) -> Block:
    """A block of lines: wrapped lines joined by spaces, lines broken by hand kept apart by newlines."""
    text = lines[0].text.strip()
    line_pages = [lines[0].page]
    for prev, ln in zip(lines, lines[1:]):
        joined = wrapped(prev, ln) or (ln.page, ln.column) != (prev.page, prev.column)
        text += (" " if joined else "\n") + ln.text.strip()
        if not joined:
            line_pages.append(ln.page)
    prov = Prov(page=lines[0].page, bbox=Box(min(ln.x0 for ln in lines), lines[0].top, max(ln.x1 for ln in lines),
                                             lines[-1].bottom))
    size = lines[0].size
    words = len(text.split())
    bold = all(ln.bold for ln in lines)
    if words <= MAX_HEADING_WORDS and "\t" not in text and "\n" not in text and not text.rstrip().endswith((",", ";")) \
            and (size >= body_size * 1.08 or (bold and words <= 40)):
        return Block(HEADING, text, level=0, prov=prov, bold=bold, size=size)  # levels: heading_levels()
    if BULLET_RE.match(text):
        return Block(LIST_ITEM, BULLET_RE.sub("", text), prov=prov, line_pages=line_pages)
    return Block(PARAGRAPH, text, prov=prov, bold=lines[0].bold, line_pages=line_pages)


MAX_HEADING_WORDS = 60


def heading_levels(model: DocModel, body_size: float) -> None:
    """Heading levels from the document's own sizes: the largest heading size is level 1, the next 2 ...; bold
    headings at body size come after the sized ones."""
    sizes = sorted({round(b.size) for b in model.blocks if b.kind == HEADING and b.size >= body_size * 1.08},
                   reverse=True)
    for b in model.blocks:
        if b.kind == HEADING and b.level == 0:
            b.level = min(6, sizes.index(round(b.size)) + 1 if round(b.size) in sizes else len(sizes) + 1)


def add_table(model: DocModel, page: int, box: Box, rows: list[Row], edges: list[float]) -> None:
    """Append a table, or join it to the previous one when it continues that table on the next page."""
    prev = model.blocks[-1] if model.blocks else None
    if (prev is not None and prev.kind == TABLE and prev.prov.page == page - 1 and getattr(prev, "_edges", None)
            and same_columns(prev._edges, edges)):  # type: ignore[attr-defined]
        head = prev.rows[0] if prev.rows and prev.rows[0].header else None
        if head and rows and [c.text for c in rows[0].cells] == [c.text for c in head.cells]:
            rows = rows[1:]  # the header row repeated on the new page
        if rows and prev.rows and broken_row(rows[0]):
            mend(prev.rows[-1], rows[0])
            rows = rows[1:]
        prev.rows.extend(rows)
        prev.prov.bbox = prev.prov.bbox.union(box) if prev.prov.bbox else box
        prev._edges = edges  # type: ignore[attr-defined]
        return
    block = Block(TABLE, rows=rows, prov=Prov(page=page, bbox=box))
    block._edges = edges  # type: ignore[attr-defined]
    model.blocks.append(block)


def same_columns(a: list[float], b: list[float], tolerance: float = 4.0) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= tolerance for x, y in zip(a, b))


def broken_row(row: Row) -> bool:
    """The rest of a row the page break cut: its first cell empty (the title ended on the previous page) or
    starting in lower case mid-sentence."""
    first = row.cells[0].text.strip() if row.cells else ""
    return bool(row.cells) and (not first and any(c.text.strip() for c in row.cells[1:])
                                or (first[:1].islower() and not first[:2].isdigit()))


def mend(row: Row, rest: Row) -> None:
    for cell, more in zip(row.cells, rest.cells):
        if more.text.strip():
            cell.text = (cell.text + " " + more.text).strip()
        cell.fill = cell.fill or more.fill
        cell.icon = cell.icon or more.icon
