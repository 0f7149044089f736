"""The document model between a file and the segmenter: blocks in reading order with their provenance.

Learned from Docling's DoclingDocument, smaller: headings (with level), paragraphs, list items and tables (rows of
cells with header and group rows, each cell's text, fill colour and any icon's colour), each with the page and
bounding box it came from (PDF, Word) or its line range (text files). Page headers and footers are furniture, kept
apart so they never reach a unit's title or text.

`linearize` turns a model into the numbered lines the segmenter reads: one line per paragraph, heading or table
row (cells separated by tabs), blank lines between blocks, each line remembering its page. A status shown only as
a colour (a shaded cell, a coloured symbol or icon) becomes its colour word in the cell ("grön"), recorded as read
from a colour.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

HEADING, PARAGRAPH, LIST_ITEM, TABLE = "heading", "paragraph", "list_item", "table"

# Base colours as (name, RGB). A fill or icon colour is named by its nearest base colour; the names are the colour
# words of nlp/status_map.toml, so a legend ("Grön = enligt plan") and a cell agree.
BASE_COLOURS: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("grön", (0, 160, 60)), ("grön", (110, 190, 70)), ("grön", (0, 128, 0)), ("grön", (146, 208, 80)),
    ("gul", (255, 200, 0)), ("gul", (255, 230, 0)), ("gul", (240, 190, 40)), ("gul", (255, 255, 0)),
    ("orange", (255, 140, 0)), ("orange", (240, 120, 30)),
    ("röd", (220, 0, 0)), ("röd", (200, 30, 40)), ("röd", (255, 0, 0)), ("röd", (190, 0, 0)),
    ("blå", (0, 90, 200)), ("blå", (30, 120, 220)), ("blå", (0, 112, 192)), ("blå", (0, 0, 255)),
    ("grå", (128, 128, 128)), ("grå", (170, 170, 170)),
    ("lila", (130, 50, 160)),
)


@dataclass
class Box:
    x0: float
    top: float
    x1: float
    bottom: float

    def union(self, other: "Box") -> "Box":
        return Box(min(self.x0, other.x0), min(self.top, other.top), max(self.x1, other.x1),
                   max(self.bottom, other.bottom))


@dataclass
class Prov:
    """Where a block came from: page (1-based) and bounding box for PDF and Word, line range for text files."""

    page: int | None = None
    bbox: Box | None = None
    line_start: int | None = None
    line_end: int | None = None


@dataclass
class Cell:
    text: str
    fill: str | None = None  # the cell's own shading, a colour word ("grön") when it is a colour
    icon: str | None = None  # colour word of an icon, image or coloured symbol in the cell
    bold: bool = False
    span: int = 1

    @property
    def colour(self) -> str | None:
        return self.icon or self.fill


@dataclass
class Row:
    cells: list[Cell]
    header: bool = False
    group: bool = False  # one cell spanning the table: a group heading inside it
    page: int | None = None


@dataclass
class Block:
    kind: str  # heading, paragraph, list_item, table
    text: str = ""
    level: int = 0  # heading level, 1 = top
    rows: list[Row] = field(default_factory=list)
    prov: Prov = field(default_factory=Prov)
    bold: bool = False
    line_pages: list[int] = field(default_factory=list)  # page of each "\n"-separated line, when they differ
    size: float = 0.0  # font size (PDF): how headings get their levels


@dataclass
class DocModel:
    file: str
    fmt: str
    blocks: list[Block] = field(default_factory=list)
    furniture: list[Block] = field(default_factory=list)  # page headers and footers
    pages: int = 0


@dataclass
class Lines:
    """The segmenter's view of a model: raw and clean lines (1:1), the page of each line, and the cells whose
    text was read from a colour: {line: [colour words]}."""

    raw: list[str]
    pages: list[int | None]
    colour_cells: dict[int, list[str]]


def colour_name(rgb: Iterable[float] | None) -> str | None:
    """The base colour nearest an RGB colour (0-255 or 0-1 components); None for white, black and near-greys
    too light or dark to be a status colour."""
    if rgb is None:
        return None
    values = [float(v) for v in rgb]
    if len(values) == 1:  # a grey level
        values = values * 3
    if len(values) == 4:  # CMYK
        c, m, y, k = values
        values = [255 * (1 - c) * (1 - k), 255 * (1 - m) * (1 - k), 255 * (1 - y) * (1 - k)]
    elif len(values) != 3:
        return None
    if max(values) <= 1.0:
        values = [v * 255 for v in values]
    r, g, b = values
    if min(r, g, b) > 225 or max(r, g, b) < 40:
        return None  # white paper or black text
    if max(r, g, b) - min(r, g, b) < 25 and not 100 <= r <= 190:
        return None  # light or dark greys are table shading, not status
    return min(BASE_COLOURS, key=lambda c: sum((a - b) ** 2 for a, b in zip(c[1], (r, g, b))))[0]


def picture_colour(picture: "Any") -> str | None:
    """The most common status colour of a (small) RGB picture: an icon in a status column."""
    from collections import Counter

    pixels = picture.get_flattened_data() if hasattr(picture, "get_flattened_data") else picture.getdata()
    counts = Counter(colour_name(px) for px in pixels)
    counts.pop(None, None)
    return counts.most_common(1)[0][0] if counts else None


def hex_colour(value: str | None) -> str | None:
    """'92D050' -> 'grön'; 'auto' and invalid values -> None."""
    if not value or len(value) != 6:
        return None
    try:
        return colour_name([int(value[i:i + 2], 16) for i in (0, 2, 4)])
    except ValueError:
        return None


def cell_text(cell: Cell) -> tuple[str, str | None]:
    """The text a cell contributes to its line, and the colour word when that text was read from a colour."""
    text = " ".join(cell.text.split())
    colour = cell.colour
    if colour and (not text or all(not ch.isalnum() for ch in text)):
        return colour, colour  # only a colour (or a coloured symbol): the colour is the stated value
    return text, None


def row_colour(row: Row) -> str | None:
    """The status colour of a row's first text cell when that cell is shaded (not a cell holding only a colour)."""
    first = next((c for c in row.cells if c.text.strip()), None)
    if first is None or not first.fill or first.icon:
        return None
    return first.fill


def linearize(model: DocModel) -> Lines:
    """One line per paragraph, heading or table row, a blank line between blocks; pages and colour cells kept."""
    raw: list[str] = []
    pages: list[int | None] = []
    colours: dict[int, list[str]] = {}

    def add(text: str, page: int | None) -> None:
        raw.append(text)
        pages.append(page)

    for block in model.blocks:
        page = block.prov.page
        if block.kind == TABLE:
            for row in block.rows:
                texts = []
                for cell in row.cells:
                    text, colour = cell_text(cell)
                    texts.append(text)
                    if colour:
                        colours.setdefault(len(raw) + 1, []).append(colour)
                shaded = row_colour(row) if not row.header and len(raw) + 1 not in colours else None
                if shaded:
                    # A row whose title cell is shaded in a status colour (the whole row or only the title):
                    # the colour is its stated status, given a cell of its own at the end of the line.
                    texts.append(shaded)
                    colours.setdefault(len(raw) + 1, []).append(shaded)
                if row.group:
                    line = texts[0] if not shaded else f"{texts[0]}\t{shaded}"
                    add(f"**{line}**" if row.cells[0].bold and not shaded else line, row.page or page)
                else:
                    add("\t".join(texts), row.page or page)
        elif block.kind == HEADING:
            add("#" * max(1, min(block.level, 6)) + " " + " ".join(block.text.split()), page)
        else:
            # Lines broken by hand inside a paragraph stay lines: a label above its value, a status on its own line.
            parts = block.text.split("\n")
            line_pages = block.line_pages if len(block.line_pages) == len(parts) else [page] * len(parts)
            for k, (part, part_page) in enumerate(zip(parts, line_pages)):
                text = "\t".join(" ".join(cell.split()) for cell in part.split("\t"))
                if block.bold and len(parts) == 1 and block.kind == PARAGRAPH:
                    text = f"**{text}**"  # a bold line on its own, as text exports mark it
                add(("- " if block.kind == LIST_ITEM and k == 0 else "") + text, part_page)
        add("", page)
    return Lines(raw, pages, colours)
