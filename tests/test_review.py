"""Review queues and decisions (pipeline.review) on a hand-built store: membership, sorting, recording, undo."""
from __future__ import annotations

import pytest

from errors import ReviewError, UnknownChoice
from pipeline import review
from index.store import Store
from tests.conftest import build_review_store


def ids(items) -> list[str]:
    return [i.id for i in items]


def test_status_choices_match_the_status_module():
    from nlp.status import UNCERTAIN
    from nlp.status_vocab import CANONICAL

    assert review.STATUS_CHOICES == CANONICAL
    assert review.UNCERTAIN == UNCERTAIN


def test_informative_order_follows_the_review_priority_and_falls_back_to_confidence(review_store):
    review_store.set_review_order({"a#u2": 0.0, "b#u3": 1.0})
    assert ids(review.status_queue(review_store)) == ["a#u2", "b#u3", "b#u1", "a#u3"]


def test_a_decision_against_the_stated_status_is_kept_and_shown_as_a_conflict(review_store):
    stated = review_store.unit("a#u1")
    review.decide_status(review_store, "a#u1", "Anna", "correct", "försenad")
    view = review.status_view(stated, review_store.current_decisions("unit_status")["a#u1"])
    assert (view.value, view.source, view.conflict) == (
        "försenad", "granskad", f"Granskat som försenad, men rapporten anger »{stated.explicit_status}«")
    review.decide_status(review_store, "a#u1", "Anna", "correct", stated.status)
    again = review.status_view(stated, review_store.current_decisions("unit_status")["a#u1"])
    assert (again.value, again.conflict) == (stated.status, None)


@pytest.mark.parametrize("sort, expected", [
    ("confidence", ["b#u1", "a#u3", "b#u3", "a#u2"]),
    ("confidence_desc", ["a#u2", "b#u3", "a#u3", "b#u1"]),
    ("document", ["a#u2", "a#u3", "b#u1", "b#u3"]),
])
def test_status_queue_holds_unstated_units_with_a_suggestion(review_store, sort, expected):
    # a#u1 has a stated status, b#u2 no suggestion; b#u3 states "Gul" that maps to nothing, so it is reviewed
    assert ids(review.status_queue(review_store, sort=sort)) == expected


@pytest.mark.parametrize("kwargs, expected", [
    ({"kommun": "Uppsala"}, ["a#u3", "a#u2"]),
    ({"kommun": "Hudiksvall", "namnd": "Socialnämnden"}, ["b#u1", "b#u3"]),
    ({"namnd": "Omsorgsnämnden", "year": 2023}, []),
    ({"kommun": "Finns inte"}, []),
])
def test_status_queue_filters(review_store, kwargs, expected):
    assert ids(review.status_queue(review_store, **kwargs)) == expected


def test_unknown_sort_is_a_named_error(review_store):
    with pytest.raises(UnknownChoice, match="sortering"):
        review.status_queue(review_store, sort="random")
    with pytest.raises(UnknownChoice, match="sortering"):
        review.flag_queue(review_store, sort="confidence")


def test_accept_records_reviewer_old_and_new_value_and_leaves_the_queue(review_store):
    did = review.decide_status(review_store, "a#u2", "  Anna   Berg ", "accept")
    [d] = review_store.decisions("unit_status", "a#u2")
    assert (d.id, d.target_type, d.target_id, d.doc, d.reviewer, d.action, d.old_value, d.new_value, d.comment,
            d.undone) == (did, "unit_status", "a#u2", "a.txt", "Anna Berg", "accept", "försenad", "försenad", None,
                          False)
    assert d.created_at and d.created_at[:2] == "20"
    assert "a#u2" not in ids(review.status_queue(review_store))
    assert "a#u2" in ids(review.status_queue(review_store, include_decided=True))
    view = review.status_view(review_store.unit("a#u2"), review_store.current_decisions("unit_status")["a#u2"])
    assert (view.value, view.source, view.reviewer) == ("försenad", "granskad", "Anna Berg")


@pytest.mark.parametrize("value", ["genomförd", "enligt plan", "ej påbörjad", "stoppad"])
def test_correct_to_another_status(review_store, value):
    review.decide_status(review_store, "a#u2", "Anna", "correct", value, comment="läst hela texten")
    d = review_store.current_decisions("unit_status")["a#u2"]
    assert (d.action, d.old_value, d.new_value, d.comment) == ("correct", "försenad", value, "läst hela texten")


def test_a_second_decision_records_the_first_as_old_value(review_store):
    review.decide_status(review_store, "a#u3", "Anna", "accept")
    review.decide_status(review_store, "a#u3", "Bo", "correct", "försenad")
    d = review_store.current_decisions("unit_status")["a#u3"]
    assert (d.reviewer, d.old_value, d.new_value) == ("Bo", "enligt plan", "försenad")


def test_skip_keeps_the_unit_but_puts_it_last(review_store):
    review.decide_status(review_store, "b#u1", "Anna", "skip")
    assert ids(review.status_queue(review_store)) == ["a#u3", "b#u3", "a#u2", "b#u1"]
    d = review_store.current_decisions("unit_status")["b#u1"]
    assert (d.action, d.new_value) == ("skip", None)


@pytest.mark.parametrize("reviewer", ["", "   ", None, "\t\n"])
def test_every_decision_needs_a_reviewer(review_store, reviewer):
    for call in (lambda: review.decide_status(review_store, "a#u2", reviewer, "accept"),
                 lambda: review.decide_flag(review_store, "fl-a1", reviewer, "dismiss"),
                 lambda: review.undo(review_store, 1, reviewer)):
        with pytest.raises(ReviewError, match="namn"):
            call()
    assert review_store.decisions() == []


@pytest.mark.parametrize("unit_id, action, value, error, match", [
    ("nope", "accept", None, ReviewError, "finns inte"),
    ("b#u2", "accept", None, ReviewError, "inget statusförslag"),
    ("a#u2", "correct", "kanske", UnknownChoice, "status"),
    ("a#u2", "correct", None, UnknownChoice, "status"),
    ("a#u2", "delete", None, UnknownChoice, "beslut"),
    ("a#u2", "correct", "<script>alert(1)</script>", UnknownChoice, "status"),
])
def test_invalid_status_decisions_are_refused(review_store, unit_id, action, value, error, match):
    with pytest.raises(error, match=match):
        review.decide_status(review_store, unit_id, "Anna", action, value)
    assert review_store.decisions() == []


def test_overlong_reviewer_and_comment_are_refused(review_store):
    with pytest.raises(ReviewError, match="för långt"):
        review.decide_status(review_store, "a#u2", "x" * 101, "accept")
    with pytest.raises(ReviewError, match="för lång"):
        review.decide_status(review_store, "a#u2", "Anna", "accept", comment="x" * 10_000)


@pytest.mark.parametrize("sort, expected", [
    ("score", ["fl-a1", "fl-b1", "fl-b2"]),
    ("score_asc", ["fl-b2", "fl-b1", "fl-a1"]),
    ("document", ["fl-a1", "fl-b2", "fl-b1"]),
])
def test_flag_queue_sorting(review_store, sort, expected):
    assert ids(review.flag_queue(review_store, sort=sort)) == expected


@pytest.mark.parametrize("kwargs, expected", [
    ({"kind": "overdue"}, ["fl-b1"]),
    ({"kommun": "Hudiksvall"}, ["fl-b1", "fl-b2"]),
    ({"kommun": "Uppsala", "kind": "overdue"}, []),
])
def test_flag_queue_filters(review_store, kwargs, expected):
    assert ids(review.flag_queue(review_store, **kwargs)) == expected


@pytest.mark.parametrize("action", ["confirm", "dismiss"])
def test_flag_decision_with_comment(review_store, action):
    review.decide_flag(review_store, "fl-b1", "Cecilia", action, comment="  stämmer med protokollet  ")
    d = review_store.current_decisions("flag")["fl-b1"]
    assert (d.doc, d.reviewer, d.action, d.old_value, d.new_value, d.comment) == (
        "b.txt", "Cecilia", action, None, action, "stämmer med protokollet")
    assert ids(review.flag_queue(review_store)) == ["fl-a1", "fl-b2"]


def test_unknown_flag_and_action(review_store):
    with pytest.raises(ReviewError, match="finns inte"):
        review.decide_flag(review_store, "fl-none", "Anna", "dismiss")
    with pytest.raises(UnknownChoice):
        review.decide_flag(review_store, "fl-a1", "Anna", "accept")


def test_undo_restores_the_previous_decision_and_keeps_history(review_store):
    first = review.decide_status(review_store, "a#u3", "Anna", "accept")
    second = review.decide_status(review_store, "a#u3", "Bo", "correct", "försenad")
    review.undo(review_store, second, "Cecilia")
    assert review_store.current_decisions("unit_status")["a#u3"].id == first
    history = [(d.id, d.reviewer, d.action, d.undone) for d in review_store.decisions("unit_status", "a#u3")]
    assert history == [(first, "Anna", "accept", False), (second, "Bo", "correct", True),
                       (second + 1, "Cecilia", "undo", True)]
    review.undo(review_store, first, "Cecilia")
    assert "a#u3" not in review_store.current_decisions("unit_status")
    assert "a#u3" in ids(review.status_queue(review_store))


def test_undo_of_a_flag_decision_reopens_it(review_store):
    did = review.decide_flag(review_store, "fl-a1", "Anna", "dismiss")
    review.undo(review_store, did, "Anna")
    assert ids(review.flag_queue(review_store)) == ["fl-a1", "fl-b1", "fl-b2"]


@pytest.mark.parametrize("make_id, match", [(lambda ids_: 999, "finns inte"), (lambda ids_: ids_[0], "redan"),
                                            (lambda ids_: ids_[0] + 1, "finns inte")])
def test_undo_refuses_unknown_repeated_and_undo_rows(review_store, make_id, match):
    did = review.decide_status(review_store, "a#u2", "Anna", "accept")
    review.undo(review_store, did, "Anna")
    with pytest.raises(ReviewError, match=match):
        review.undo(review_store, make_id([did]), "Anna")


def test_decisions_survive_reopening_and_re_ingest(tmp_path):
    store = build_review_store(tmp_path / "d")
    review.decide_status(store, "a#u2", "Anna", "correct", "genomförd")
    review.decide_flag(store, "fl-a1", "Anna", "confirm")
    store.close()
    # Re-ingest replaces the report's rows (same stable ids) and keeps decisions.
    store = build_review_store(tmp_path / "d")
    assert {k: d.new_value for k, d in store.current_decisions("unit_status").items()} == {"a#u2": "genomförd"}
    assert list(store.current_decisions("flag")) == ["fl-a1"]
    assert "a#u2" not in ids(review.status_queue(store))
    store.close()


def test_status_view_order_decision_stated_suggested(review_store):
    u1, u2, b2 = review_store.unit("a#u1"), review_store.unit("a#u2"), review_store.unit("b#u2")
    assert review.status_view(u1) == review.StatusView("genomförd", "angiven", stated="Klar")
    assert review.status_view(u2) == review.StatusView("försenad", "förslag", 0.81)
    assert review.status_view(b2) == review.StatusView(None, None)
    review.decide_status(review_store, "a#u1", "Anna", "correct", "försenad")
    d = review_store.current_decisions("unit_status")["a#u1"]
    view = review.status_view(u1, d)
    assert (view.value, view.source, view.stated) == ("försenad", "granskad", "Klar")
    review.decide_status(review_store, "a#u2", "Anna", "skip")
    assert review.status_view(u2, review_store.current_decisions("unit_status")["a#u2"]).source == "förslag"


def test_recent_decisions_newest_first_without_undone(review_store):
    a = review.decide_status(review_store, "a#u2", "Anna", "accept")
    b = review.decide_flag(review_store, "fl-b1", "Bo", "dismiss")
    c = review.decide_status(review_store, "a#u3", "Anna", "skip")
    review.undo(review_store, c, "Anna")
    assert [d.id for d in review.recent_decisions(review_store)] == [b, a]
    assert [d.id for d in review.recent_decisions(review_store, reviewer="Anna")] == [a]


def test_data_version_changes_with_every_write(review_store):
    before = review.data_version(review_store)
    assert review.data_version(review_store) == before
    review.decide_status(review_store, "a#u2", "Anna", "accept")
    after = review.data_version(review_store)
    assert after != before
    review_store.set_unit_fields({"a#u3": {"status_confidence": 0.99}})
    assert review.data_version(review_store) != after


@pytest.mark.parametrize("kind, label", [("overdue", "Passerat slutdatum"), ("new_kind", "New kind")])
def test_kind_labels_are_swedish_with_a_fallback(kind, label):
    assert review.kind_label(kind) == label


def test_store_without_units_has_empty_queues(tmp_path):
    store = Store.open(tmp_path, create=True)
    assert review.status_queue(store) == [] and review.flag_queue(store) == []
    store.close()
