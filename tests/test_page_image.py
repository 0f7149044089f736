"""nlp.page_image: a stored PDF page rendered with an item's words marked, in a layout none of the samples has (a
table whose title cells wrap, the same items listed three times on a page). Bad input gets a Swedish cause."""
from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from PIL import Image

from errors import UnreadableReport
from nlp.page_image import SCALE, find_phrase, render_page

PDF = Path(__file__).resolve().parent / "fixtures" / "render" / "cases" / "aktiviteter.pdf"
TITLE = "Ta fram en plan för offentlig konst"  # wraps after "plan" in its table cell


def test_a_title_wrapping_in_a_table_cell_is_found_line_by_line_and_each_listing_by_its_order():
    first = find_phrase(PDF, 1, TITLE)
    assert [(round(x0), round(top)) for x0, top, _, _ in first] == [(90, 322), (90, 334)]
    second = find_phrase(PDF, 1, TITLE, nth=1)
    assert [round(top) for _, top, _, _ in second] == [464, 476]
    assert find_phrase(PDF, 1, TITLE, nth=9) == find_phrase(PDF, 1, TITLE, nth=2)  # the last there is
    assert find_phrase(PDF, 1, "Ta fram en plan för kommunens bibliotek") == []


def test_the_page_is_rendered_with_the_found_words_marked_in_yellow_and_nothing_else():
    image = render_page(PDF, 1, [TITLE, "Arbetet har inte påbörjats.", "ord som inte står på sidan"])
    assert (image.page, image.pages, image.marked) == (1, 2, 2)
    img = Image.open(io.BytesIO(image.png)).convert("RGB")
    assert img.size == (980, 1268)
    x0, top, x1, bottom = find_phrase(PDF, 1, TITLE)[0]
    inside = img.getpixel((int((x0 + 2) * SCALE), int((top + bottom) / 2 * SCALE)))
    r, g, b = inside
    assert r > 200 and g > 180 and b < 200  # white paper under translucent yellow, or a yellowed letter edge
    plain = render_page(PDF, 1, [])
    assert plain.marked == 0
    assert Image.open(io.BytesIO(plain.png)).convert("RGB").getpixel((int((x0 + 2) * SCALE), int(
        (top + bottom) / 2 * SCALE))) != inside


def test_bad_files_and_pages_give_a_swedish_cause(tmp_path):
    with pytest.raises(UnreadableReport) as e:
        render_page(tmp_path / "borta.pdf", 1, [TITLE])
    assert str(e.value) == "borta.pdf: källfilen finns inte längre där den lästes in"
    with pytest.raises(UnreadableReport) as e:
        render_page(PDF, 3, [TITLE])
    assert str(e.value) == "aktiviteter.pdf: sidan 3 finns inte (filen har 2 sidor)"
    fake = tmp_path / "rapport.pdf"
    fake.write_text("Det här är ingen PDF.", encoding="utf-8")
    with pytest.raises(UnreadableReport) as e:
        render_page(fake, 1, [TITLE])
    assert str(e.value).startswith("rapport.pdf: filen kan inte visas som PDF (")
    shutil.copy(PDF, tmp_path / "kopia.pdf")
    assert render_page(tmp_path / "kopia.pdf", 2, [TITLE]).marked == 1
