"""`edgeke train`'s budget rules: the teacher's width, the sizes the search tries and their epochs, when the search
stops climbing sizes, and when the time after the search goes to the next student size. Epoch times are given as
numbers (what the timing would return)."""
from training.custom.budget import search_plan, widest_fitting
from training.train_data import SEARCH_MIN_GAIN, grows, still_gaining

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
    assert grows([small, large], large, 2, 4, stopped=False)
    assert not grows([small, large], small, 2, 4, stopped=False)  # the largest tried was not the best
    assert not grows([small, large], large, 2, 4, stopped=True)   # a larger size stopped gaining
    assert not grows([small, large], large, 2, 2, stopped=False)  # no larger size
    saturated = {"name": "8x1", "validation": [0.87, 0.996]}  # CWRU by-time's search: 99.60% on validation
    assert not grows([saturated], saturated, 1, 4, stopped=False)  # no size can gain half a point over it
    edge = {"name": "8x1", "validation": [0.87, 0.995]}
    assert grows([edge], edge, 1, 4, stopped=False)  # half a point under 100%: a larger size could still gain it


def test_the_search_climbs_while_a_larger_size_gains_half_a_point_on_validation():
    assert SEARCH_MIN_GAIN == 0.005
    # Fashion-MNIST: 16x1 distilled reached 92.54% on validation; 32x2 without a teacher 93.36% in 12 epochs.
    assert still_gaining(0.9254, 0.9336)
    assert still_gaining(0.9254, 0.9304)          # exactly half a point: still worth the cost
    assert not still_gaining(0.9254, 0.9303)      # less: the cheaper size is the plateau's cheapest
    assert not still_gaining(0.9254, 0.9200)      # worse
    assert not still_gaining(0.995, 0.999)        # near-saturated validation (NEU, CWRU) cannot gain half a point

