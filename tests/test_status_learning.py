"""Learning from reviewers: the informative queue order and the per-report adaptation (nlp/status_learning.py)."""
import numpy as np
import pytest

from nlp import status_learning as L


def test_uncertainty_is_one_minus_the_margin_of_the_two_likeliest():
    probs = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.2, 0.5, 0.3]])
    assert L.uncertainty(probs).tolist() == pytest.approx([1.0, 0.0, 0.8])


def test_centred_rows_have_unit_length_and_near_copies_stand_out():
    raw = np.array([[1.0, 0.9, 0.0], [1.0, 0.91, 0.0], [1.0, 0.0, 0.9], [0.9, 0.5, 0.5]])
    v = L.centred(raw)
    assert np.linalg.norm(v, axis=1).tolist() == pytest.approx([1.0] * 4)
    sims = v @ v.T
    assert sims[0, 1] > 0.99 and sims[0, 2] < 0


def test_most_uncertain_first_but_a_near_copy_of_it_waits():
    probs = np.array([[0.34, 0.33, 0.33], [0.34, 0.33, 0.33], [0.4, 0.35, 0.25], [0.9, 0.05, 0.05]])
    vectors = L.centred(np.array([[1.0, 0.0, 0.0], [0.99, 0.01, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    assert L.informative_order(probs, vectors, ["a"] * 4) == [0, 2, 1, 3]
    # Without the near-copy's similarity the two ties come first.
    assert L.informative_order(probs, np.eye(4), ["a"] * 4) == [0, 1, 2, 3]


def test_decided_rows_are_left_out_and_count_as_seen():
    probs = np.array([[0.34, 0.33, 0.33], [0.34, 0.33, 0.33], [0.4, 0.35, 0.25]])
    vectors = L.centred(np.array([[1.0, 0.0, 0.0], [0.99, 0.01, 0.0], [0.0, 1.0, 0.0]]))
    assert L.informative_order(probs, vectors, ["a"] * 3, decided=[0]) == [2, 1]
    assert L.informative_order(probs, vectors, ["a"] * 3, decided=[0, 1, 2]) == []


def test_reports_take_turns_when_uncertainty_is_close():
    probs = np.array([[0.4, 0.35, 0.25]] * 3 + [[0.41, 0.34, 0.25]])
    assert L.informative_order(probs, np.eye(4), ["a", "a", "a", "b"]) == [0, 3, 1, 2]


def test_adaptation_moves_the_report_then_its_kommun_and_leaves_the_rest_exactly_alone():
    probs = np.array([[0.6, 0.3, 0.1], [0.5, 0.4, 0.1], [0.5, 0.4, 0.1], [0.5, 0.4, 0.1]])
    vectors = np.array([[1.0, 0.0], [0.99, 0.14], [0.99, 0.14], [0.99, 0.14]])  # already centred and normalised
    where = L.Local(["r1", "r1", "r2", "r3"], ["k1", "k1", "k1", "k2"])
    out = L.adapt_to_decisions(probs, vectors, where, {0: 1})
    assert np.array_equal(out[3], probs[3])  # another report in another kommun
    assert out[1][1] - probs[1][1] > out[2][1] - probs[2][1] > 0  # the report moves more than its kommun
    assert np.array_equal(L.adapt_to_decisions(probs, vectors, where, {}), probs)


def test_a_near_copy_of_a_decided_commentary_follows_the_decision_and_unlike_ones_do_not():
    probs = np.array([[0.7, 0.3], [0.7, 0.3], [0.7, 0.3], [0.7, 0.3]])
    vectors = L.centred(np.array([[1.0, 0.0, 0.0], [0.98, 0.02, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    out = L.adapt_to_decisions(probs, vectors, L.Local(["r"] * 4, [None] * 4), {0: 1})
    assert out[1].argmax() == 1  # the near-copy changes its mind
    assert out[2].tolist() == pytest.approx(probs[2].tolist()) and out[3].tolist() == pytest.approx(probs[3].tolist())
