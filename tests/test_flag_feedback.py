"""Reviewers' flag decisions as feedback (nlp/flag_feedback.py) and rounding-aware table sums."""
from __future__ import annotations

import pytest

from nlp.consistency import rounding_slack
from nlp.flag_feedback import adjust, case, case_key, reviewed_flags
from records import Decision, Flag


def flag(fid: str, message: str, score: float = 0.8, kind: str = "status_text_conflict") -> Flag:
    return Flag(fid, kind, "r.txt", [fid], 1, "hög", score, message)


def test_a_case_is_the_detector_and_its_words_without_quotes_and_numbers():
    a = flag("a", 'Status "Klar" men texten säger att arbetet pågår (rad 12, 2024)')
    b = flag("b", 'Status "Genomförd" men texten säger att arbetet pågår (rad 40, 2023)')
    c = flag("c", 'Status "Klar" men texten säger att arbetet inte har påbörjats')
    assert case(a) == case(b) == ("status_text_conflict", "status … men texten säger att arbetet pågår …")
    assert case(c) != case(a)
    assert case(flag("d", a.message, kind="overdue")) != case(a)


def test_dismissals_lower_similar_flags_and_confirmations_lift_them_back():
    target = flag("t", 'Status "Klar" men texten säger att arbetet pågår', score=0.8)
    other = flag("o", 'Status "Försenad" men texten beskriver pågående arbete', score=0.6)
    seen = [case_key(flag(f"s{k}", 'Status "Pågår" men texten säger att arbetet pågår')) for k in range(3)]
    [once] = adjust([target], [(seen[0], False)])
    assert once.score == pytest.approx(round(1.6 / 3, 4)) and once.severity == "medel"
    assert once.message.endswith(" (poäng sänkt: granskare har avfärdat 1 och bekräftat 0 liknande flaggor)")
    [twice] = adjust([target], [(seen[0], False), (seen[1], False)])
    assert twice.score == pytest.approx(0.4) and twice.severity == "låg"
    [back] = adjust([target], [(seen[0], False), (seen[1], True), (seen[2], True)])
    assert back.score == pytest.approx(round(3.6 / 5, 4))
    assert adjust([other], [(seen[0], False)]) == [other]  # another kind of case is untouched
    assert adjust([target], [(seen[0], True)]) == [target]  # confirmations alone never raise a score


def test_a_lowered_flag_stored_with_its_note_is_still_the_same_case():
    [lowered] = adjust([flag("t", 'Status "Klar" men texten säger att arbetet pågår')],
                       [(case_key(flag("s", 'Status "Pågår" men texten säger att arbetet pågår')), False)])
    assert case(lowered) == case(flag("x", 'Status "Pågår" men texten säger att arbetet pågår'))


def test_reviewed_cases_come_from_the_decisions_even_when_the_flag_is_gone(review_store):
    from pipeline import review

    flags = review_store.flags()
    review.decide_flag(review_store, flags[0].id, "Anna", "dismiss")
    review.decide_flag(review_store, flags[1].id, "Anna", "confirm")
    review_store.add_decision(Decision("flag", flags[2].id, flags[2].doc, "Anna", "dismiss"))  # kept no case
    expected = sorted([(case_key(flags[0]), False), (case_key(flags[1]), True)])
    assert sorted(reviewed_flags(review_store)) == expected
    for doc in {f.doc for f in flags}:
        review_store.replace_flags(doc, [])  # recomputed away: the decisions still count
    assert sorted(reviewed_flags(review_store)) == expected


@pytest.mark.parametrize("values, slack", [
    ([1000.0, 1077.0, 2076.0], 1.5),  # two rounded parts and their rounded total
    ([12.5, 7.25, 19.7], 0.015),  # the finest shown digit sets the unit
    ([-780513.0, -774078.0, -6435.0, -1561026.0], 2.0),
])
def test_rounding_slack_is_half_a_unit_per_figure(values, slack):
    assert rounding_slack(values) == pytest.approx(slack)


def test_dismissing_a_flag_rescoring_its_report_lowers_that_kind_of_case(app_data_dir):
    from index.store import Store
    from pipeline import review

    store = Store.open(app_data_dir)
    target = max(store.flags(), key=lambda f: f.score)
    review.decide_flag(store, target.id, "Anna", "dismiss", "inte ett problem")
    review.rescore_flags(store, target.doc)
    after = {f.id: f for f in store.flags(doc=target.doc)}
    lowered = after[target.id]
    assert lowered.score == pytest.approx(round(2 * target.score / 3, 4))
    assert lowered.message == target.message + " (poäng sänkt: granskare har avfärdat 1 och bekräftat 0 liknande flaggor)"
    assert target.id not in [f.id for f in review.flag_queue(store)]  # dismissed: out of the queue
    store.close()
