"""Time phrases resolved to spans (nlp/periods.py): every form report templates use, and the ones that must be left
alone because they name no real time."""
from __future__ import annotations

import pytest

from nlp.periods import find_periods


def spans(text: str, year: int | None = 2024) -> list[tuple[str, str, str, bool]]:
    return [(p.text, p.start.isoformat(), p.end.isoformat(), p.explicit_year) for p in find_periods(text, year)]


@pytest.mark.parametrize("text, expected", [
    ("senast 2024-03-15", [("2024-03-15", "2024-03-15", "2024-03-15", True)]),
    ("den 15 mars 2025", [("15 mars 2025", "2025-03-15", "2025-03-15", True)]),
    ("i mars", [("mars", "2024-03-01", "2024-03-31", False)]),
    ("aug. 2025", [("aug. 2025", "2025-08-01", "2025-08-31", True)]),
    ("klart v. 34", [("v. 34", "2024-08-19", "2024-08-25", False)]),
    ("vecka 12 2025", [("vecka 12 2025", "2025-03-17", "2025-03-23", True)]),
    ("under veckorna 40–42", [("veckorna 40–42", "2024-09-30", "2024-10-20", False)]),
    ("Q3 2024", [("Q3 2024", "2024-07-01", "2024-09-30", True)]),
    ("tredje kvartalet", [("tredje kvartalet", "2024-07-01", "2024-09-30", False)]),
    ("tertial 2", [("tertial 2", "2024-05-01", "2024-08-31", False)]),
    ("första halvåret 2023", [("första halvåret 2023", "2023-01-01", "2023-06-30", True)]),
    ("HT 2024", [("HT 2024", "2024-08-01", "2024-12-31", True)]),
    ("VT-25", [("VT-25", "2025-01-01", "2025-06-30", True)]),
    ("under hösten", [("hösten", "2024-08-01", "2024-12-31", False)]),
    ("våren 2025", [("våren 2025", "2025-02-01", "2025-06-30", True)]),
    ("i början av 2025", [("början av 2025", "2025-01-01", "2025-03-31", True)]),
    ("i slutet av året", [("slutet av året", "2024-10-01", "2024-12-31", False)]),
    ("i mitten av juni", [("mitten av juni", "2024-06-10", "2024-06-20", False)]),
    ("under 2026", [("under 2026", "2026-01-01", "2026-12-31", True)]),
    ("Q1 och Q2", [("Q1", "2024-01-01", "2024-03-31", False), ("Q2", "2024-04-01", "2024-06-30", False)]),
])
def test_phrases_resolve_to_spans(text, expected):
    assert spans(text) == expected


@pytest.mark.parametrize("text", [
    "v. 61", "vecka 0", "Q7", "kvartal 5", "HT 20244", "hösten 20244", "2024-02-30", "30 februari 2024",
    "i början av projektet", "under vintern", "v. 14-12", "tertial 4",
])
def test_what_names_no_real_time_is_left_alone(text):
    assert spans(text) == []


def test_a_phrase_without_a_year_needs_one_given():
    assert spans("under hösten", None) == [] and spans("HT 2024", None) == [("HT 2024", "2024-08-01", "2024-12-31", True)]
