"""Word (.docx) -> document model, with python-docx for the package and its XML for what python-docx leaves out.

* headings from the heading styles (English and Swedish names, or an outline level), lists from numbering or list
  styles, everything else a paragraph;
* tables with merged cells (a horizontally merged cell once, a vertically merged one empty below its first row),
  header rows (marked to repeat, or bold), group rows spanning the table, cell shading, coloured symbols and images
  in cells (their dominant colour);
* tracked changes read as accepted: inserted text kept, deleted and moved-away text left out;
* page headers and footers as furniture;
* pages: Word records where pages broke when it last laid the file out (lastRenderedPageBreak); without those,
  explicit page and section breaks count; a file with neither has no page numbers (lines are cited instead).
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from errors import UnreadableReport
from nlp.document import HEADING, LIST_ITEM, PARAGRAPH, TABLE, Block, Cell, DocModel, Prov, Row, hex_colour, picture_colour

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
HEADING_STYLES = ("heading", "rubrik", "title")
LIST_STYLES = ("list", "lista", "punkt", "bullet")
SYMBOLS = set("●○◆■▲▼★✓✔✗✘⬤")


def read_docx(path: Path, name: str) -> DocModel:
    import docx

    from nlp import reader

    try:
        with zipfile.ZipFile(path) as z:
            unpacked = sum(i.file_size for i in z.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        raise UnreadableReport(name, "Word-filen kunde inte läsas (ingen giltig .docx)") from None
    if unpacked > reader.MAX_UNPACKED_BYTES:
        raise UnreadableReport(name, f"Word-filen packas upp till {unpacked / 1e6:.0f} MB (högst "
                                     f"{reader.MAX_UNPACKED_BYTES / 1e6:.0f} MB); den ser inte ut som en rapport")
    try:
        document = docx.Document(str(path))
    except Exception as e:  # python-docx and lxml raise many types for damaged packages
        raise UnreadableReport(name, f"Word-filen kunde inte läsas ({e.__class__.__name__})") from None
    return DocxWalker(document, name).model()


class DocxWalker:
    def __init__(self, document: Any, name: str):
        self.document = document
        self.name = name
        body = document.element.body
        self.rendered = bool(body.findall(f".//{W}lastRenderedPageBreak"))
        self.paged = self.rendered or any(True for _ in _explicit_breaks(body))
        self.page = 1

    def model(self) -> DocModel:
        model = DocModel(file=self.name, fmt="docx")
        for block in self.document.element.body.iterchildren():
            tag = block.tag.rsplit("}", 1)[-1]
            if tag == "p":
                found = self.paragraph(block)
                if found is not None:
                    model.blocks.append(found)
            elif tag == "tbl":
                model.blocks.append(self.table(block))
            elif tag == "sdt":  # a content control (cover pages, tables of contents) holds ordinary blocks
                for p in block.iter(f"{W}p"):
                    found = self.paragraph(p)
                    if found is not None:
                        model.blocks.append(found)
        model.furniture = self.furniture()
        model.pages = self.page if self.paged else 0
        return model

    # -- pages ------------------------------------------------------------------------------------
    def advance(self, element: Any) -> int | None:
        """The page `element` starts on, moving the page counter past the page breaks inside it. A break before
        any of the element's text means the element itself starts on the new page."""
        if not self.paged:
            return None
        ppr = element.find(f"{W}pPr")
        if not self.rendered and ppr is not None and ppr.find(f"{W}pageBreakBefore") is not None:
            self.page += 1
        start, text_seen = self.page, False
        breaks = set(id(b) for b in _explicit_breaks(element)) if not self.rendered else set()
        for node in element.iter():
            tag = node.tag.rsplit("}", 1)[-1] if isinstance(node.tag, str) else ""
            if tag == "t" and (node.text or "").strip():
                text_seen = True
            elif (tag == "lastRenderedPageBreak" and self.rendered) or id(node) in breaks:
                self.page += 1
                if not text_seen:
                    start = self.page
        return start

    # -- paragraphs -------------------------------------------------------------------------------
    def paragraph(self, p: Any) -> Block | None:
        page = self.advance(p)
        text = accepted_text(p)
        if not text.strip():
            return None
        style = _style_name(self.document, p).lower()
        prov = Prov(page=page)
        level = _outline_level(p)
        if style.startswith(HEADING_STYLES) or level is not None:
            digits = [int(ch) for ch in style if ch.isdigit()]
            return Block(HEADING, text, level=(level + 1 if level is not None else (digits[0] if digits else 1)),
                         prov=prov)
        ppr = p.find(f"{W}pPr")
        if (ppr is not None and ppr.find(f"{W}numPr") is not None) or any(k in style for k in LIST_STYLES):
            return Block(LIST_ITEM, text, prov=prov)
        bold = _all_bold(p)
        lead = None if bold else bold_lead(p)
        if lead and text.startswith(lead):
            text = f"**{lead.strip()}** {text[len(lead):].strip()}"  # a bold lead-in, marked as text exports do
        return Block(PARAGRAPH, text, prov=prov, bold=bold)

    # -- tables -----------------------------------------------------------------------------------
    def table(self, tbl: Any) -> Block:
        block = Block(TABLE, prov=Prov(page=self.page if self.paged else None))
        above: dict[int, Any] = {}  # column -> the cell element that started a vertical merge there
        width = max((sum(_span(tc) for tc in tr.findall(f"{W}tc")) for tr in tbl.findall(f"{W}tr")), default=0)
        for k, tr in enumerate(tbl.findall(f"{W}tr")):
            page = self.advance(tr)
            cells, col = [], 0
            for tc in tr.findall(f"{W}tc"):
                span = _span(tc)
                merge = _vmerge(tc)
                text = "" if merge == "continue" else cell_text(tc)
                cell = Cell(text, fill=_shading(tc), icon=self.cell_icon(tc), bold=_all_bold(tc), span=span)
                if merge == "continue" and col in above:
                    cell.fill = cell.fill or above[col].fill
                elif merge == "restart":
                    above[col] = cell
                cells.append(cell)
                col += span
            trpr = tr.find(f"{W}trPr")
            header = (trpr is not None and trpr.find(f"{W}tblHeader") is not None) or (
                k == 0 and all(c.bold or not c.text for c in cells) and any(c.text for c in cells))
            group = len(cells) == 1 and width > 1
            block.rows.append(Row(cells, header=header, group=group, page=page))
        return block

    def cell_icon(self, tc: Any) -> str | None:
        """A coloured symbol ("●") or a picture in the cell: its colour."""
        for r in tc.iter(f"{W}r"):
            text = "".join(t.text or "" for t in r.iter(f"{W}t")).strip()
            color = r.find(f"{W}rPr/{W}color")
            if text and all(ch in SYMBOLS for ch in text) and color is not None:
                name = hex_colour(color.get(f"{W}val"))
                if name:
                    return name
        for blip in tc.iter("{http://schemas.openxmlformats.org/drawingml/2006/main}blip"):
            rid = blip.get("{http://schemas.openxmlformats.org/officeDocument/2006/relationships}embed")
            part = self.document.part.related_parts.get(rid) if rid else None
            if part is not None:
                return blob_colour(part.blob)
        return None

    # -- furniture --------------------------------------------------------------------------------
    def furniture(self) -> list[Block]:
        out: list[Block] = []
        seen: set[str] = set()
        for section in self.document.sections:
            for part in (section.header, section.footer, section.first_page_header, section.first_page_footer):
                try:
                    paragraphs = part.paragraphs if not part.is_linked_to_previous or not out else []
                except Exception:  # a section without its own header part
                    continue
                for p in paragraphs:
                    text = accepted_text(p._p)
                    if text.strip() and text not in seen:
                        seen.add(text)
                        out.append(Block(PARAGRAPH, text))
        return out


def _explicit_breaks(element: Any):
    for br in element.iter(f"{W}br"):
        if br.get(f"{W}type") == "page":
            yield br
    for sect in element.iter(f"{W}sectPr"):
        kind = sect.find(f"{W}type")
        if sect.getparent() is not None and sect.getparent().tag == f"{W}pPr" and (
                kind is None or kind.get(f"{W}val") in (None, "nextPage", "oddPage", "evenPage")):
            yield sect


def accepted_text(element: Any) -> str:
    """The text as if every tracked change were accepted: insertions kept, deletions and moves away dropped, and
    the fallback copy of a text box (mc:Fallback repeats mc:Choice) skipped."""
    parts: list[str] = []
    for node in element.iter(f"{W}t", f"{W}tab", f"{W}br", f"{W}cr"):
        if _excluded(node):
            continue
        tag = node.tag.rsplit("}", 1)[-1]
        if tag == "t":
            parts.append(node.text or "")
        elif tag == "tab":
            parts.append(" ")
        elif node.get(f"{W}type") not in ("page", "column"):
            parts.append("\n")
    return "".join(parts)


def _excluded(node: Any) -> bool:
    parent = node.getparent()
    while parent is not None:
        local = parent.tag.rsplit("}", 1)[-1]
        if local in ("del", "moveFrom", "Fallback"):
            return True
        parent = parent.getparent()
    return False


def cell_text(tc: Any) -> str:
    """The cell's paragraphs, one per line (nested tables flattened)."""
    lines = [accepted_text(p).strip() for p in tc.iter(f"{W}p")]
    return "\n".join(x for x in lines if x)


def _style_name(document: Any, p: Any) -> str:
    ppr = p.find(f"{W}pPr")
    style = ppr.find(f"{W}pStyle") if ppr is not None else None
    if style is None:
        return ""
    sid = style.get(f"{W}val") or ""
    try:
        return document.styles.get_by_id(sid, 1).name or sid  # 1: WD_STYLE_TYPE.PARAGRAPH
    except Exception:  # an unknown style id: the id often names it ("Rubrik1")
        return sid


def _outline_level(p: Any) -> int | None:
    ppr = p.find(f"{W}pPr")
    lvl = ppr.find(f"{W}outlineLvl") if ppr is not None else None
    try:
        value = int(lvl.get(f"{W}val")) if lvl is not None else None
    except (TypeError, ValueError):
        return None
    return value if value is not None and value < 9 else None


def _all_bold(element: Any) -> bool:
    runs = [r for r in element.iter(f"{W}r") if "".join(t.text or "" for t in r.iter(f"{W}t")).strip()]
    if not runs:
        return False
    return all((b := r.find(f"{W}rPr/{W}b")) is not None and b.get(f"{W}val") not in ("0", "false") for r in runs)


def bold_lead(p: Any) -> str | None:
    """The text of the bold runs that open a paragraph whose rest is not bold (a lead-in title), else None."""
    lead: list[str] = []
    for r in p.iter(f"{W}r"):
        if _excluded(r):
            continue
        text = "".join(t.text or "" for t in r.iter(f"{W}t"))
        if not text:
            continue
        b = r.find(f"{W}rPr/{W}b")
        if b is not None and b.get(f"{W}val") not in ("0", "false"):
            if len(lead) == len([x for x in lead if x is not None]):
                lead.append(text)
                continue
        break
    joined = "".join(lead)
    return joined if joined.strip() and len(joined.split()) <= 40 else None


def _span(tc: Any) -> int:
    span = tc.find(f"{W}tcPr/{W}gridSpan")
    try:
        return int(span.get(f"{W}val")) if span is not None else 1
    except (TypeError, ValueError):
        return 1


def _vmerge(tc: Any) -> str | None:
    vm = tc.find(f"{W}tcPr/{W}vMerge")
    if vm is None:
        return None
    return "restart" if vm.get(f"{W}val") == "restart" else "continue"


def _shading(tc: Any) -> str | None:
    shd = tc.find(f"{W}tcPr/{W}shd")
    return hex_colour(shd.get(f"{W}fill")) if shd is not None else None


def blob_colour(blob: bytes) -> str | None:
    """The most common status colour of a small picture (an icon in a status column)."""
    try:
        from PIL import Image

        picture = Image.open(io.BytesIO(blob)).convert("RGB")
        picture.thumbnail((32, 32))
    except Exception:  # not a raster picture we can open (EMF, SVG ...)
        return None
    return picture_colour(picture)
