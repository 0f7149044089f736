"""Read a report file (.txt, .md, .pdf, .docx) into the numbered lines the segmenter reads.

Text files keep their own lines (a 1:1 map from clean lines to source lines). PDF and Word files are read into the
document model (nlp/pdf_reader.py, nlp/docx_reader.py) and laid out as lines by nlp.document.linearize, each line
knowing its page; page headers and footers stay out.
"""
from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from errors import UnreadableReport
from records import Document

if TYPE_CHECKING:
    from nlp.document import DocModel

MAX_BYTES = 25 * 1024 * 1024  # larger files are almost certainly not a single nämnd's report
MAX_LINE_CHARS = 200_000
MAX_UNPACKED_BYTES = 8 * MAX_BYTES  # a .docx is a zip: refuse one that would unpack to more (a zip bomb)
TEXT_SUFFIXES = {".txt", ".md"}
SUFFIXES = TEXT_SUFFIXES | {".pdf", ".docx"}

TAG_RE = re.compile(r"<[^>\n]{0,400}>")
# A progress bar exported as HTML (<div style="width: 75%; background-color: ...">): its width is the percentage.
HTML_BAR_RE = re.compile(r"<div\b[^>\n]{0,200}?\bwidth:\s*(\d{1,3}(?:[.,]\d+)?)\s*%[^>\n]{0,200}>", re.I)
MD_EMPHASIS_RE = re.compile(r"(\*\*|__|(?<!\w)\*(?=\S)|(?<=\S)\*(?!\w))")
SEPARATOR_RE = re.compile(r"^[\s\-|:=\t]*$")


def check_name(path: Path) -> None:
    """Names with control characters or no usable stem cannot be stored or shown safely."""
    name = path.name
    if any(unicodedata.category(ch) in {"Cc", "Cf"} for ch in name):
        raise UnreadableReport(repr(name), "filnamnet innehåller styrtecken; byt namn på filen")
    if not path.stem.strip(" ."):
        raise UnreadableReport(repr(name), "filnamnet saknar namn före filändelsen")


def read_report(path: Path | str, encoding: str | None = None,
                progress: Callable[[int, int], None] | None = None) -> Document:
    """Read and clean one report; raises UnreadableReport with a one-line cause. `progress(page, pages)` is called
    while a PDF is read."""
    path = Path(path)
    check_name(path)
    name = path.name
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise UnreadableReport(name, f"okänd filtyp {suffix or '(ingen)'}; stöds: {', '.join(sorted(SUFFIXES))}")
    if not path.is_file():
        raise UnreadableReport(name, "filen finns inte")
    size = path.stat().st_size
    if size == 0:
        raise UnreadableReport(name, "filen är tom")
    if size > MAX_BYTES:
        raise UnreadableReport(name, f"filen är för stor ({size / 1e6:.0f} MB, högst {MAX_BYTES / 1e6:.0f} MB)")
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    if suffix in TEXT_SUFFIXES:
        return make_document(name, decode_text(name, data, encoding), suffix[1:], sha)
    if suffix == ".pdf":
        from nlp.pdf_reader import read_pdf

        model = read_pdf(path, name, progress)
    else:
        from nlp.docx_reader import read_docx

        model = read_docx(path, name)
    return model_document(model, sha)


def model_document(model: "DocModel", sha256: str) -> Document:
    """The segmenter's lines for a PDF or Word model, with each line's page and the cells read from colours."""
    from nlp.document import linearize

    lines = linearize(model)
    document = make_document(model.file, "\n".join(lines.raw), model.fmt, sha256)
    document.pages = lines.pages if any(p is not None for p in lines.pages) else []
    document.colour_cells = lines.colour_cells
    document.furniture = [b.text for b in model.furniture]
    return document


def make_document(name: str, text: str, fmt: str, sha256: str) -> Document:
    if len(text) > MAX_BYTES:  # PDF and Word files can hold far more text than their size suggests
        raise UnreadableReport(name, f"texten är för lång ({len(text) / 1e6:.0f} miljoner tecken, högst "
                                     f"{MAX_BYTES / 1e6:.0f})")
    raw = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if any(len(line) > MAX_LINE_CHARS for line in raw):
        raise UnreadableReport(name, f"en rad är längre än {MAX_LINE_CHARS} tecken; filen ser inte ut som en rapport")
    clean = [clean_line(line) for line in raw]
    if sum(len(c) for c in clean) < 20:
        raise UnreadableReport(name, "filen innehåller ingen läsbar text")
    return Document(file=name, raw=raw, clean=clean, sha256=sha256, fmt=fmt)


def decode_text(name: str, data: bytes, encoding: str | None) -> str:
    if looks_binary(data):
        raise UnreadableReport(name, "filen är binär, inte text")
    try:
        text = data.decode(encoding or "utf-8")
    except (UnicodeDecodeError, LookupError) as e:
        if encoding:
            raise UnreadableReport(name, f"kan inte avkodas som {encoding}: {e.__class__.__name__}") from None
        guess = "cp1252/latin-1" if _decodes_as_cp1252(data) else "okänd"
        raise UnreadableReport(
            name, f"texten är inte UTF-8 (teckenkodning {guess}); spara om som UTF-8 eller ange --encoding cp1252"
        ) from None
    return text.lstrip("\ufeff")


def _decodes_as_cp1252(data: bytes) -> bool:
    try:
        data.decode("cp1252")
        return True
    except UnicodeDecodeError:
        return False


def looks_binary(data: bytes) -> bool:
    """NUL bytes or many control bytes in the first 8 kB mean this is no text file."""
    head = data[:8192]
    if b"\x00" in head:
        return True
    control = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return control > max(8, len(head) // 50)


def clean_line(line: str) -> str:
    """Markup out, text kept: HTML fragments, markdown emphasis and heading marks, table rule rows.

    Cells stay tab-separated (a leading empty cell marks a continuation row, so it is kept)."""
    if "<" in line:
        line = HTML_BAR_RE.sub(lambda m: f" {round(float(m.group(1).replace(',', '.')))} % ", line)
        line = TAG_RE.sub(" ", line)
    line = html.unescape(line)
    line = "".join(ch for ch in line if ch == "\t" or unicodedata.category(ch) not in {"Cc", "Cf"})
    if not line.strip():
        return ""
    if SEPARATOR_RE.match(line) and ("-" in line or "=" in line):
        return ""
    cells = [clean_cell(c) for c in line.split("\t")]
    while cells and not cells[-1]:
        cells.pop()
    return "\t".join(cells)


def clean_cell(cell: str) -> str:
    cell = cell.strip()
    if cell.startswith("#"):
        cell = cell.lstrip("#").strip()
    # "KVAR FRÅN 2018:**1.2 Tydliggöra" must not glue words together when the markers go.
    cell = MD_EMPHASIS_RE.sub("", cell.replace("**", " ").replace("__", " "))
    return re.sub(r"[ \u00a0]+", " ", cell).strip()


# -- text files as a document model ----------------------------------------------------------------------------------

MD_ROW_RE = re.compile(r"^\s*\|.*\|\s*$")
MD_RULE_RE = re.compile(r"^\s*\|?[\s:\-|]+\|?\s*$")
HTML_PARA_RE = re.compile(r"</p>\s*<p>", re.I)
BULLET_RE = re.compile(r"^\s*[-•▪–*]\s+")


def text_model(name: str, raw_lines: list[str], fmt: str = "txt") -> "DocModel":
    """Headings, paragraphs, list items and tables of a text file, each with its line range.

    Consecutive tab rows (or markdown table rows) form one table; every other non-blank line is a block of its own,
    since a text export's line breaks carry meaning (a status word on its own line, a label above its value)."""
    from nlp.document import HEADING, LIST_ITEM, PARAGRAPH, TABLE, Block, Cell, DocModel, Prov, Row

    model = DocModel(file=name, fmt=fmt)
    table: Block | None = None
    for number, raw in enumerate(raw_lines, start=1):
        is_row = "\t" in raw.strip("\n") or MD_ROW_RE.match(raw)
        if is_row and not (MD_ROW_RE.match(raw) and MD_RULE_RE.match(raw)):
            if table is None:
                table = Block(TABLE, prov=Prov(line_start=number, line_end=number))
                model.blocks.append(table)
            cells = [Cell(_split_cell(p)) for p in _raw_cells(raw)]
            table.rows.append(Row(cells))
            table.prov.line_end = number
            continue
        if is_row:
            continue  # a markdown rule row inside a table
        table = None
        text = clean_line(raw)
        if not text.strip():
            continue
        prov = Prov(line_start=number, line_end=number)
        if raw.lstrip().startswith("#"):
            model.blocks.append(Block(HEADING, text, level=len(raw.lstrip()) - len(raw.lstrip().lstrip("#")),
                                      prov=prov))
        elif BULLET_RE.match(raw):
            model.blocks.append(Block(LIST_ITEM, BULLET_RE.sub("", text), prov=prov))
        else:
            model.blocks.append(Block(PARAGRAPH, text, prov=prov))
    return model


def _raw_cells(raw: str) -> list[str]:
    if MD_ROW_RE.match(raw):
        return raw.strip().strip("|").split("|")
    return raw.split("\t")


def _split_cell(raw_cell: str) -> str:
    """A cell's clean text; HTML paragraphs (<p>..</p><p>..</p>) stay separate lines of the cell."""
    parts = HTML_PARA_RE.split(raw_cell)
    return "\n".join(t for t in (clean_cell(clean_line(p)) for p in parts) if t)
