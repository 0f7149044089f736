"""index.cite: places in a report (page for PDF and Word, line for text) and the citation an analyst pastes."""
from __future__ import annotations

import pytest

from index.cite import at_line, citation, where


@pytest.mark.parametrize("args, expected", [
    ((27, 27, 600, 640), "s. 27"), ((27, 28, 600, 640), "s. 27–28"), ((None, None, 639, 639), "rad 639"),
    ((None, None, 639, 645), "rad 639–645"), ((None, None, None, None), ""),
])
def test_where_cites_pages_before_lines(args, expected):
    assert where(*args) == expected


def test_a_single_line_is_cited_by_its_page_when_the_report_has_pages():
    assert (at_line({12: 3}, 12), at_line({12: 3}, 13), at_line({}, None)) == ("s. 3", "rad 13", "")


@pytest.mark.parametrize("report, place, expected", [
    ({"kommun": "Eskilstuna", "namnd": "Vård- och omsorgsnämnden", "year": 2023, "period": "augusti",
      "doc": "esk.pdf"}, "s. 12",
     "Eskilstuna kommun, Vård- och omsorgsnämnden, uppföljning per augusti 2023, s. 12 (esk.pdf)"),
    ({"kommun": "Hudiksvall", "namnd": None, "year": 2024, "period": "helår", "doc": "hud.docx"}, "s. 3–4",
     "Hudiksvall kommun, årsredovisning 2024, s. 3–4 (hud.docx)"),
    ({"kommun": None, "namnd": None, "year": None, "period": None}, "rad 7", "rad 7"),
])
def test_a_citation_names_what_the_store_knows_and_guesses_nothing(report, place, expected):
    assert citation(report, place) == expected
