"""`edgeke train`'s budget rules: the teacher's width, the sizes the search tries and their epochs, when the search
stops climbing sizes, and when the time after the search goes to the next student size. Epoch times are given as
numbers (what the timing would return)."""
from training.custom.budget import search_plan, widest_fitting
from training.train_data import cheapest_within_noise, grows, min_gain, still_gaining

# Epoch seconds measured on this 2-core machine (batch 32, 51,000 Fashion-MNIST images, 1 thread, busy):
# students 8x1, 16x1, 16x2, 32x2 and teachers of stem 8, 16, 32, 64.
STUDENTS = [6.0, 10.0, 19.0, 45.0]
TEACHERS = {8: 8.0, 16: 12.0, 32: 25.0, 64: 86.0}


def test_the_widest_teacher_that_gets_the_minimum_epochs_is_chosen_and_wider_ones_are_not_timed():
    timed = []
    per_epoch = lambda w: timed.append(w) or TEACHERS[w]
    assert widest_fitting((8, 16, 32, 64), per_epoch, 1300, 10) == 64  # 1300 s / 86 s = 15 epochs
    timed.clear()
    assert widest_fitting((8, 16, 32, 64), per_epoch, 400, 10) == 32 and timed == [8, 16, 32, 64]
    timed.clear()
    assert widest_fitting((8, 16, 32, 64), per_epoch, 100, 10) == 8 and timed == [8, 16]  # 64 never timed
    assert widest_fitting((8, 16, 32, 64), per_epoch, 5, 10) == 8  # none fits: the narrowest


def test_every_size_the_search_tries_gets_the_same_epochs():
    # 1,340 s: all four sizes at 16 epochs (80 s per round); an equal split of the time (335 s each) would have
    # given 32x2 7 epochs against 8x1's 55.
    times, epochs = search_plan(lambda i: STUDENTS[i], 4, 1340, 5, 200)
    assert times == STUDENTS and epochs == 16
    assert sum(times) * epochs <= 1340


def test_the_search_drops_the_largest_sizes_that_would_push_the_shared_epochs_under_the_minimum():
    timed = []
    per_epoch = lambda i: timed.append(i) or STUDENTS[i]
    times, epochs = search_plan(per_epoch, 4, 200, 5, 200)  # 35 s per round of three: 5 epochs; four: 2
    assert times == STUDENTS[:3] and epochs == 5 and timed == [0, 1, 2, 3]
    timed.clear()
    times, epochs = search_plan(per_epoch, 4, 40, 5, 200)  # not even two sizes: the cheapest alone, 6 epochs
    assert times == STUDENTS[:1] and epochs == 6 and timed == [0, 1]
    assert search_plan(per_epoch, 4, 1, 5, 200) == ([6.0], 1)  # at least one size, one epoch
    assert search_plan(per_epoch, 4, 1e6, 5, 40)[1] == 40  # the cap


def test_the_time_after_the_search_goes_to_the_next_size_only_when_the_budget_cut_a_search_still_gaining():
    small, large = {"name": "16x1", "validation": [0.8, 0.92]}, {"name": "16x2", "validation": [0.8, 0.93]}
    assert grows([small, large], large, 2, 4, n=9000)
    assert not grows([small, large], small, 2, 4, n=9000)  # the largest tried was not the one kept
    assert not grows([small, large], large, 2, 2, n=9000)  # no larger size
    saturated = {"name": "8x1", "validation": [0.87, 246 / 247]}  # CWRU by-time's search: 246 of 247 on validation
    assert not grows([saturated], saturated, 1, 4, n=247)  # one example left: within the noise
    assert not grows([{"validation": [1.0]}] * 1, {"validation": [1.0]}, 1, 4, n=247)
    edge = {"name": "8x1", "validation": [0.87, 0.995]}
    assert grows([edge], edge, 1, 4, n=9000)  # 45 of 9,000 examples left: more than the noise


def test_the_noise_a_gain_must_exceed_is_one_standard_error_of_the_kept_accuracy_on_the_validation_set():
    assert abs(min_gain(0.925, 9000) - 0.00278) < 1e-5   # Fashion-MNIST's 9,000 validation images
    assert abs(min_gain(213 / 216, 216) - 0.00913) < 1e-5  # NEU's 216
    assert min_gain(1.0, 247) > 0                         # saturated validation still has noise (add-one estimate)
    assert min_gain(0.925, 900) > min_gain(0.925, 9000)   # fewer examples: more noise


def test_a_larger_size_is_still_gaining_when_it_gains_more_than_validation_noise():
    # Fashion-MNIST's fourth retrain: 16x1 reached 92.49% and 16x2 92.86% on 9,000 validation images (+0.37 point,
    # one standard error 0.28).
    assert still_gaining(0.9249, 0.9286, 9000)
    assert not still_gaining(0.9262, 0.9279, 9000)    # the fifth: +0.17 point, within the noise
    assert not still_gaining(0.9254, 0.9200, 9000)    # worse
    # NEU: 8x1 at 213 of 216; 16x1 at 215 gains 0.93 point (more than 0.91), at 214 one example (0.46) does not.
    assert still_gaining(213 / 216, 215 / 216, 216)
    assert not still_gaining(213 / 216, 214 / 216, 216)
    # CWRU by-time: 246 of 247; even 247 of 247 is one example, within the noise of so small a set.
    assert not still_gaining(246 / 247, 1.0, 247)


def test_the_search_keeps_the_cheapest_size_within_noise_of_the_best_even_past_a_step_that_gained_little():
    size = lambda name, final: {"name": name, "validation": [0.6, final]}
    # Fashion-MNIST's fifth retrain, cheapest first: the depth step 16x1 -> 16x2 gained only +0.17 point (within the
    # noise) and a stop at the first such step kept 16x1; a 32x2 at 93.36% (the 12-epoch probe) is kept instead.
    sizes = [size("8x1", 0.9168), size("16x1", 0.9262), size("16x2", 0.9279), size("32x2", 0.9336)]
    assert cheapest_within_noise(sizes, 9000)["name"] == "32x2"
    # 32x2 at 92.95% is within 0.28 point of 16x2 but 0.33 over 16x1: 16x2 is the cheapest within the noise.
    sizes[-1] = size("32x2", 0.9295)
    assert cheapest_within_noise(sizes, 9000)["name"] == "16x2"
    sizes[-1] = size("32x2", 0.9280)  # no size gains more than the noise over 16x1
    assert cheapest_within_noise(sizes, 9000)["name"] == "16x1"
    # Saturated validation (CWRU): the cheapest, even when a larger size gets the one example left.
    assert cheapest_within_noise([size("8x1", 246 / 247), size("16x1", 1.0)], 247)["name"] == "8x1"
    assert cheapest_within_noise([size("8x1", 0.95)], 247)["name"] == "8x1"
