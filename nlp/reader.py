"""Read a report file (.txt, .md, .pdf, .docx) into lines, keeping a 1:1 map from clean lines to source lines."""
from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from pathlib import Path

from errors import UnreadableReport
from records import Document

MAX_BYTES = 25 * 1024 * 1024  # larger files are almost certainly not a single nämnd's report
MAX_LINE_CHARS = 200_000
MAX_UNPACKED_BYTES = 8 * MAX_BYTES  # a .docx is a zip: refuse one that would unpack to more (a zip bomb)
TEXT_SUFFIXES = {".txt", ".md"}
SUFFIXES = TEXT_SUFFIXES | {".pdf", ".docx"}

TAG_RE = re.compile(r"<[^>\n]{0,400}>")
MD_EMPHASIS_RE = re.compile(r"(\*\*|__|(?<!\w)\*(?=\S)|(?<=\S)\*(?!\w))")
SEPARATOR_RE = re.compile(r"^[\s\-|:=\t]*$")


def check_name(path: Path) -> None:
    """Names with control characters or no usable stem cannot be stored or shown safely."""
    name = path.name
    if any(unicodedata.category(ch) in {"Cc", "Cf"} for ch in name):
        raise UnreadableReport(repr(name), "filnamnet innehåller styrtecken; byt namn på filen")
    if not path.stem.strip(" ."):
        raise UnreadableReport(repr(name), "filnamnet saknar namn före filändelsen")


def read_report(path: Path | str, encoding: str | None = None) -> Document:
    """Read and clean one report; raises UnreadableReport with a one-line cause."""
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
    if suffix in TEXT_SUFFIXES:
        text = decode_text(name, data, encoding)
        fmt = suffix[1:]
    elif suffix == ".pdf":
        text, fmt = pdf_text(name, path), "pdf"
    else:
        text, fmt = docx_text(name, path), "docx"
    return make_document(name, text, fmt, hashlib.sha256(data).hexdigest())


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


def pdf_text(name: str, path: Path) -> str:
    import pdfplumber

    try:
        with pdfplumber.open(path) as pdf:
            pages = [page.extract_text() or "" for page in pdf.pages]
    except Exception as e:  # pdfminer raises many unrelated types for broken files
        raise UnreadableReport(name, f"PDF:en kunde inte läsas ({e.__class__.__name__})") from None
    if sum(len(p.strip()) for p in pages) < 20:
        raise UnreadableReport(name, "PDF:en saknar textlager (skannad bild?); OCR stöds inte")
    return "\n\n".join(pages)


def docx_text(name: str, path: Path) -> str:
    """Paragraphs and tables in body order; table cells joined by tabs like the text exports."""
    import zipfile

    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        with zipfile.ZipFile(path) as z:
            unpacked = sum(i.file_size for i in z.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        raise UnreadableReport(name, "Word-filen kunde inte läsas (ingen giltig .docx)") from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise UnreadableReport(name, f"Word-filen packas upp till {unpacked / 1e6:.0f} MB (högst "
                                     f"{MAX_UNPACKED_BYTES / 1e6:.0f} MB); den ser inte ut som en rapport")
    try:
        document = docx.Document(str(path))
    except Exception as e:
        raise UnreadableReport(name, f"Word-filen kunde inte läsas ({e.__class__.__name__})") from None
    lines: list[str] = []
    for block in document.element.body.iterchildren():
        tag = block.tag.rsplit("}", 1)[-1]
        if tag == "p":
            para = Paragraph(block, document)
            style = (para.style.name or "").lower() if para.style is not None else ""
            text = para.text
            if style.startswith("heading") and text.strip():
                level = next((int(ch) for ch in style if ch.isdigit()), 1)
                text = "#" * level + " " + text
            lines.extend([text, ""])
        elif tag == "tbl":
            for row in Table(block, document).rows:
                lines.append("\t".join(cell.text.replace("\n", " ") for cell in row.cells))
            lines.append("")
    return "\n".join(lines)
