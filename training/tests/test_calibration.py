import numpy as np
import pytest

from training.calibration import MIN_SUPPORT, confidence_threshold, thresholds, vote, vote_weights


def test_threshold_is_the_lowest_confidence_meeting_the_target():
    # 20 frames at conf 0.9 all right, 10 at 0.6 with 5 right, 10 at 0.3 all wrong.
    conf = np.array([0.9] * 20 + [0.6] * 10 + [0.3] * 10)
    correct = np.array([1] * 20 + [1, 0] * 5 + [0] * 10, dtype=bool)
    assert confidence_threshold(conf, correct, 0.99) == 0.9
    assert confidence_threshold(conf, correct, 0.80) == 0.6  # 25/30 = 0.83
    assert confidence_threshold(conf, correct, 0.90) == 0.9  # 25/30 < 0.9 at 0.6


def test_threshold_is_none_when_unreachable_or_unsupported():
    conf = np.linspace(0.5, 1.0, 50)
    assert confidence_threshold(conf, np.zeros(50, dtype=bool), 0.9) is None
    few_right = np.zeros(50, dtype=bool)
    few_right[-(MIN_SUPPORT - 1):] = True  # only the top MIN_SUPPORT-1 frames are right
    assert confidence_threshold(conf, few_right, 0.99) is None


def test_threshold_never_splits_ties():
    conf = np.array([0.8] * 12)
    correct = np.array([1] * 11 + [0], dtype=bool)  # 91.7% at 0.8: cannot claim 99% on part of the tie
    assert confidence_threshold(conf, correct, 0.99) is None
    assert confidence_threshold(conf, correct, 0.90) == 0.8


def test_thresholds_reports_every_target():
    p = np.array([[0.9, 0.1]] * 30 + [[0.4, 0.6]] * 30)
    labels = np.array([0] * 30 + [0] * 30)
    th = thresholds(p, labels)
    assert set(th) == {"0.90", "0.95", "0.99"}
    assert th["0.99"] == pytest.approx(0.9)


def test_vote_prefers_the_exit_that_is_right():
    labels = np.array([0, 1, 0, 1] * 10)
    good = np.eye(2)[labels] * 0.8 + 0.1
    bad = np.eye(2)[1 - labels] * 0.8 + 0.1
    weights, accuracy = vote_weights([bad, good], labels)
    assert accuracy == 1.0 and weights[1] > weights[0]
    assert sum(weights) == pytest.approx(1.0)
    assert (vote([bad, good], weights).argmax(1) == labels).all()
