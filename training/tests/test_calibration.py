import numpy as np
import pytest

from training.calibration import (MIN_SUPPORT, confidence_threshold, stop_losses, thresholds, vote, vote_by_level,
                                  vote_weights)


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


def test_stop_losses_measure_the_frames_that_first_pass_at_each_exit():
    # 40 frames, 2 classes, 3 exits. Exit 1 is confident (0.97) on frames 0-19 and right on 16 of them; exit 2 is
    # confident on every frame (so at exit 2 only frames 20-39, which exit 1 left, count) and right on all but 20-21;
    # exit 3 is right everywhere.
    labels = np.array([0, 1] * 20)
    right = np.eye(2)[labels]
    wrong = np.eye(2)[1 - labels]

    def probs(confident_right, confident_wrong, rest):
        p = np.full((40, 2), 0.5)
        for i in range(40):
            p[i] = (0.97 * right[i] + 0.03 * wrong[i]) if i in confident_right else \
                   (0.97 * wrong[i] + 0.03 * right[i]) if i in confident_wrong else rest
        return p

    exit1 = probs(set(range(16)), {16, 17, 18, 19}, [0.5, 0.5])
    exit2 = probs(set(range(22, 40)) | set(range(0, 20)), {20, 21}, [0.5, 0.5])
    exit3 = probs(set(range(40)), set(), [0.5, 0.5])
    th = [{"0.90": 0.9, "0.95": 0.9, "0.99": None}] * 3
    entries = {(e["exit"], e["level"], e["laterExit"]): e for e in stop_losses([exit1, exit2, exit3], labels, th)}
    first = entries[(1, "0.95", 3)]
    assert first["frames"] == 20 and first["loss"] == pytest.approx(0.2) and first["disagreement"] == pytest.approx(0.2)
    assert entries[(1, "0.95", 2)]["loss"] == pytest.approx(0.2)
    second = entries[(2, "0.95", 3)]
    assert second["frames"] == 20 and second["loss"] == pytest.approx(0.1) and second["disagreement"] == pytest.approx(0.1)
    # No threshold at 0.99: nothing measured there; never an entry for the last exit, which has nothing after it.
    assert not any(level == "0.99" for _, level, _ in entries)
    assert not any(exit_ == 3 for exit_, _, _ in entries)


def test_stop_losses_leave_out_what_too_few_frames_back():
    labels = np.zeros(MIN_SUPPORT + 5, dtype=int)
    confident_few = np.array([[0.99, 0.01]] * (MIN_SUPPORT - 1) + [[0.5, 0.5]] * 6)
    sure = np.array([[0.99, 0.01]] * len(labels))
    th = [{"0.90": 0.9, "0.95": 0.9, "0.99": 0.9}] * 2
    assert stop_losses([confident_few, sure], labels, th) == []


def test_vote_by_level_judges_the_vote_on_the_frames_no_exit_passes():
    # 30 frames: 15 confident everywhere (right), 15 unconfident everywhere, where the last exit is right on 5 and
    # the vote (weights on exit 1, right on 10 of them) on 10.
    labels = np.zeros(30, dtype=int)
    sure = np.array([[0.99, 0.01]] * 15)
    unsure_right, unsure_wrong = [0.55, 0.45], [0.45, 0.55]
    exit1 = np.vstack([sure, [unsure_right] * 10 + [unsure_wrong] * 5])
    exit2 = np.vstack([sure, [unsure_right] * 5 + [unsure_wrong] * 10])
    th = [{"0.90": 0.9, "0.95": 0.9, "0.99": 0.999}] * 2
    levels = vote_by_level([exit1, exit2], labels, [1.0, 0.0], th)
    assert levels["0.95"] == {"frames": 15, "accuracy": pytest.approx(10 / 15), "lastExitAccuracy": pytest.approx(5 / 15),
                              "beatsLastExit": True}
    # At 0.99 no exit passes at all: every frame counts.
    assert levels["0.99"]["frames"] == 30 and levels["0.99"]["beatsLastExit"] is True
    # Flip the weights: the vote is the last exit, and does not beat it.
    assert vote_by_level([exit1, exit2], labels, [0.0, 1.0], th)["0.95"]["beatsLastExit"] is False
