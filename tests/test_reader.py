"""Reading .txt/.md/.pdf/.docx into clean lines that map 1:1 to source lines."""
from __future__ import annotations

from pathlib import Path

import pytest

from nlp.metadata import detect_meta, resolve_meta
from nlp.reader import clean_line, read_report
from nlp.segmenter import segment

FIXTURES = Path(__file__).parent / "fixtures" / "reports"


@pytest.mark.parametrize("raw, clean", [
    ("<p>Kommentar:</p> <p>Arbetet pågår.</p>\t", "Kommentar: Arbetet pågår."),
    ("<i>Uppdrag 4: Stärka kompetensförsörjningen</i>\t\t", "Uppdrag 4: Stärka kompetensförsörjningen"),
    ("\t<p>fortsättning efter sidbrytning</p>\t", "\tfortsättning efter sidbrytning"),
    ("#### Kommunfullmäktiges verksamhetsmål: Minska sjukskrivningarna", "Kommunfullmäktiges verksamhetsmål: Minska sjukskrivningarna"),
    ("KVAR FRÅN 2018:**2.9 Stärka krisberedskapen****Status**", "KVAR FRÅN 2018: 2.9 Stärka krisberedskapen Status"),
    ("---\t------------\t------", ""),
    ("**Kommentar:** Klart &amp; avslutat", "Kommentar: Klart & avslutat"),
    ("<ul style=\"list-style-type: none\"> • Ett • Två</ul>", "• Ett • Två"),
])
def test_clean_line(raw, clean):
    assert clean_line(raw) == clean


def test_text_lines_map_one_to_one():
    doc = read_report(FIXTURES / "uppsala-tabbad-2024-08.txt")
    source = (FIXTURES / "uppsala-tabbad-2024-08.txt").read_text(encoding="utf-8").split("\n")
    assert len(doc.raw) == len(doc.clean) == len(source)
    assert doc.line(37) == "Minska behovet av inhyrd legitimerad personal.\tAndelen inhyrd personal var 6 procent under perioden."
    assert doc.fmt == "txt" and len(doc.sha256) == 64


def test_docx_paragraphs_headings_and_tables(tmp_path):
    import docx

    d = docx.Document()
    d.add_heading("Uppdrag från nämnd", level=2)
    table = d.add_table(rows=2, cols=4)
    for cell, text in zip(table.rows[0].cells, ["Uppdrag från nämnd", "Startdatum", "Slutdatum", "Status"]):
        cell.text = text
    for cell, text in zip(table.rows[1].cells, ["Översyn av korttidsplatser", "2020-01-30", "2023-08-31", "Klar"]):
        cell.text = text
    d.add_paragraph("Kommentar: Uppdraget är slutfört och korttidsplatserna är färre.")
    path = tmp_path / "rapport.docx"
    d.save(path)
    doc = read_report(path)
    units = segment(doc).units
    assert doc.fmt == "docx"
    assert [(u.title, u.level, u.explicit_status) for u in units] == [
        ("Översyn av korttidsplatser", "uppdrag från nämnd", "Klar")]
    assert units[0].text == "Kommentar: Uppdraget är slutfört och korttidsplatserna är färre."


def minimal_pdf(lines: list[str]) -> bytes:
    """A one-page PDF with a text layer (Helvetica, WinAnsi), written by hand to avoid another dependency."""
    ops = ["BT", "/F1 11 Tf", "14 TL", "50 780 Td"]
    for line in lines:
        esc = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append("(" + "".join(ch if ord(ch) < 128 else f"\\{ord(ch):03o}" for ch in esc) + ") Tj T*")
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_pdf_text_layer_is_read(tmp_path):
    path = tmp_path / "rapport.pdf"
    path.write_bytes(minimal_pdf(["Uppdrag Status", "2. Minska behovet av inhyrd personal.", "",
                                  "Kommentar: Arbetet pågår enligt plan."]))
    doc = read_report(path)
    assert doc.fmt == "pdf"
    assert "2. Minska behovet av inhyrd personal." in doc.clean
    units = segment(doc).units
    assert [(u.title, u.level) for u in units] == [("2. Minska behovet av inhyrd personal.", "uppdrag")]


def test_metadata_detection_and_overrides():
    doc = read_report(FIXTURES / "hudiksvall-markdown-2023-08.txt")
    meta = detect_meta(doc)
    assert (meta.kommun, meta.namnd, meta.year, meta.period, meta.report_date) == (
        "Hudiksvall", "Social- och omsorgsnämnden", 2023, "augusti", "2023-09-22")
    manifest = {"kommun": "Hudiksvall", "namnd": "Socialnämnden", "year": "2024"}
    resolved = resolve_meta(meta, manifest, {"period": "april"})
    assert (resolved.namnd, resolved.year, resolved.period) == ("Socialnämnden", 2024, "april")


def test_metadata_from_letterhead_and_addressee():
    meta = detect_meta(read_report(FIXTURES / "uppsala-pdftext-2024-08.txt"))
    assert (meta.kommun, meta.namnd, meta.report_date) == ("Uppsala", "Äldrenämnden", "2024-08-23")
