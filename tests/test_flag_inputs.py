"""Odd numbers, tables and dates that report templates produce: parsed or left alone, never a false flag.

Each case is a small, internally consistent report (an item on plan, a table whose parts add up to its total, a
commentary that places work in a period before or around the report's date); the detectors must find nothing.
"""
from __future__ import annotations

import pytest

from nlp import consistency as c
from tests.test_consistency import ctx_of, unit


def report(table: list[str], commentary: str) -> list[c.Flag]:
    lines = ["Ekonomi", *table, "", "Uppdrag 1. Utveckla hemtjänsten", "Status", "Pågår", commentary]
    start = len(table) + 3
    units = [unit("u1", start, start + 3, "Uppdrag 1. Utveckla hemtjänsten", status="Pågår",
                  explicit_status_line=start + 2)]
    return c.run_detectors(ctx_of(lines, units, report_date=c.parse_date("2024-08-31")))


TABLES = {
    "spaces as thousands": ["Belopp, tkr\tUtfall\tBudget", "Hemtjänst\t1 234\t1 300", "Boende\t2 766\t2 700",
                            "Summa\t4 000\t4 000"],
    "unicode minus": ["Resultat, mnkr\tUtfall", "Hemtjänst\t−12,5", "Boende\t−7,5", "Summa\t−20,0"],
    "en dash minus": ["Resultat, mnkr\tUtfall", "Hemtjänst\t–3", "Boende\t5", "Totalt\t2"],
    "rounded parts": ["Belopp, mnkr\tUtfall", "Hemtjänst\t1 000", "Boende\t1 077", "Summa\t2 076"],
    "empty and merged cells": ["Belopp, tkr\tUtfall\tBudget", "Hemtjänst\t100\t", "Boende\t\t200",
                               "Summa\t100\t200"],
    "percent with comma": ["Andel\tUtfall", "Kvinnor\t52,5 %", "Män\t47,5 %", "Totalt\t100,0 %"],
    "units in the header only": ["Kostnad (tkr)\tUtfall\tPrognos", "Personal\t12 300\t12 900",
                                 "Övrigt\t700\t600", "Summa\t13 000\t13 500"],
}


@pytest.mark.parametrize("name", sorted(TABLES))
def test_consistent_tables_give_no_flag(name):
    assert report(TABLES[name], "Arbetet pågår enligt plan.") == []


@pytest.mark.parametrize("commentary", [
    "Arbetet pågår och en uppföljning gjordes v. 34.",
    "Arbetet pågår; nästa avstämning sker Q4 2024.",
    "Arbetet pågår och rapporterades i Q3, som planerat.",
    "Arbetet pågår och utvärderas under HT 2024.",
    "Arbetet pågår och planeras vara klart under hösten.",
    "Arbetet pågår enligt plan under VT 2024 och HT 2024.",
    "Arbetet pågår, 12,5 % av personalen är utbildad hittills.",
    "Arbetet pågår. Kostnaden hittills är −1,2 mnkr mot budget.",
])
def test_date_and_number_phrases_on_plan_give_no_flag(commentary):
    assert report([], commentary) == []


def test_the_same_layout_with_a_real_slip_is_flagged():
    """The control: the sums detector reads these tables (a total 50 off, beyond rounding, is found)."""
    table = ["Belopp, tkr\tUtfall\tBudget", "Hemtjänst\t1 234\t1 300", "Boende\t2 766\t2 700", "Summa\t4 050\t4 000"]
    [flag] = report(table, "Arbetet pågår enligt plan.")
    assert (flag.kind, flag.line, flag.message) == (
        "internal_contradiction", 5, 'Raderna summerar inte till "Summa": 4 000 mot 4 050')


@pytest.mark.parametrize("commentary, end", [
    ("Åtgärden ska vara klar senast v. 20 2024, men arbetet pågår.", "2024-05-19"),
    ("Arbetet ska vara klart Q2 2024 och pågår.", "2024-06-30"),
    ("Planen ska vara färdig till VT 2024; arbetet pågår.", "2024-06-30"),
    ("Arbetet ska vara klart senast 15 mars 2024 och pågår.", "2024-03-15"),
])
def test_deadlines_in_any_period_form_are_read(commentary, end):
    [flag] = report([], commentary)
    assert (flag.kind, flag.message) == ("overdue", f'Slutdatum {end} har passerat (rapporten avser 2024-08-31) men '
                                                    'status är "Pågår"')


@pytest.mark.parametrize("commentary", [
    "Arbetet ska vara klart HT 2024 och pågår.",  # the term has not ended
    "Arbetet ska vara klart under hösten och pågår.",  # no year: may mean any autumn
    "Arbetet ska vara klart senast v. 61 2024 och pågår.",  # no such week
    "Arbetet påbörjades v. 20 och pågår.",  # a past start
    "Arbetet pågår. Arbetet med enkäten påbörjas under hösten.",  # autumn began before the report's date
])
def test_deadlines_and_starts_that_fit_give_no_flag(commentary):
    assert report([], commentary) == []


def test_work_said_to_start_after_the_report_date_under_a_status_saying_it_is_under_way():
    [flag] = report([], "Arbetet påbörjas v. 40 när den nya chefen är på plats.")
    assert (flag.kind, flag.unit_ids, flag.message) == (
        "period_mismatch", ["u1"], 'Status är "Pågår" men texten säger att arbetet börjar v. 40 (2024-09-30), '
                                   'efter rapportens datum 2024-08-31')


OVERVIEW_AND_DETAIL = """Socialnämnden
Delårsrapport per augusti 2024

Översikt över uppdragen
Uppdrag\tStatus
Införa digitala trygghetslarm\t{overview}
Minska sjukfrånvaron\tPågår

Uppdrag i detalj

Uppdrag 1: Införa digitala trygghetslarm
Status: Pågår
Upphandlingen är klar och installationerna i hemmen fortsätter under hösten enligt tidplanen.

Uppdrag 2: Minska sjukfrånvaron
Status: Pågår
Arbetet med hälsosamtal och en ny rutin för rehabilitering fortsätter i alla enheter.
""" + "".join(f"""
Uppdrag {k}: Utveckla verksamhetsområde {k}
Status: Pågår
Arbetet i område {k} fortsätter enligt plan.
""" for k in range(3, 11))  # ten items: one flag on two of them stays within a detector's 20 % of a report


@pytest.mark.parametrize("overview, expected", [
    ("Genomförd", [("internal_contradiction", 'Samma post står på två ställen med olika status: "Genomförd" (rad 6) '
                                              'och "Pågår" (rad 12)')]),
    ("Pågår", []),  # the same status in both places
])
def test_one_item_in_an_overview_table_and_a_detail_section(tmp_path, overview, expected):
    from pipeline.prepare import prepare

    path = tmp_path / "overview-2024-08.txt"
    path.write_text(OVERVIEW_AND_DETAIL.format(overview=overview), encoding="utf-8")
    _, document, seg = prepare(path, {}, {})
    assert [(u.title, u.explicit_status) for u in seg.units[:4]] == [
        ("Införa digitala trygghetslarm", overview), ("Minska sjukfrånvaron", "Pågår"),
        ("Uppdrag 1: Införa digitala trygghetslarm", "Pågår"), ("Uppdrag 2: Minska sjukfrånvaron", "Pågår")]
    assert len(seg.units) == 12
    ctx = ctx_of(document.clean, seg.units, report_date=c.parse_date("2024-09-20"))
    assert [(f.kind, f.message) for f in c.run_detectors(ctx)] == expected
