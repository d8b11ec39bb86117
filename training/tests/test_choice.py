"""The rule that picks between `edgeke train`'s distilled and plain students (and between a kept student and its
longer rerun): the final exit's validation accuracy first, the mean over exits only on a tie there."""
import numpy as np
import pytest

from training.custom.choice import final_first, prefer_first

N_VAL = 216  # NEU's validation split: accuracies are multiples of 1/216


def acc(*correct):
    return [c / N_VAL for c in correct]


def test_a_better_final_exit_wins_even_with_worse_shallow_exits():
    # The 41-minute NEU retrain (training/retrains/neu-surface-41min): distillation hurt the shallow exits and helped
    # the final one by one validation input; the mean over exits shipped the plain student.
    distilled, plain = acc(132, 175, 210), acc(170, 185, 209)
    assert np.mean(distilled) < np.mean(plain)
    assert prefer_first(distilled, plain)
    assert not prefer_first(plain, distilled)


def test_one_more_validation_input_right_at_the_final_exit_is_enough():
    assert prefer_first(acc(100, 150, 201), acc(200, 210, 200))


def test_a_tie_at_the_final_exit_falls_back_to_the_mean_over_exits():
    # The 48-minute NEU retrain: both final exits 213/216 on validation, the plain student better at exits 1-2.
    distilled, plain = acc(169, 184, 213), acc(174, 190, 213)
    assert not prefer_first(distilled, plain)
    assert prefer_first(plain, distilled)


def test_a_full_tie_keeps_the_first_run():
    same = acc(174, 190, 213)
    assert prefer_first(same, list(same)) and prefer_first(list(same), same)


def test_float_noise_below_one_input_is_a_tie():
    exact = acc(100, 150, 213)
    noisy = [a + 1e-12 for a in exact[:2]] + [exact[2] - 1e-12]  # the same counts, summed in another order
    assert final_first(noisy) == final_first(exact)
    assert prefer_first(noisy, exact) and prefer_first(exact, noisy)


def test_key_orders_many_runs_as_max_would_pick():
    runs = [acc(200, 205, 210), acc(150, 170, 212), acc(190, 200, 212)]
    assert max(runs, key=final_first) == runs[2]


def test_a_single_exit_is_ranked_by_it():
    assert final_first([0.5]) == (0.5, 0.5)


def test_exit_weights_weight_only_the_tie_break():
    # The trainer's checkpoint key with a recipe's exit weights: the final exit still ranks first.
    early_heavy, late = acc(216, 216, 200), acc(100, 100, 201)
    assert final_first(late, (1.0, 1.0, 1.0)) > final_first(early_heavy, (1.0, 1.0, 1.0))
    assert final_first(acc(0, 216, 200), (0.0, 1.0, 1.0)) > final_first(acc(216, 0, 200), (0.0, 1.0, 1.0))


def test_no_accuracies_is_an_error():
    with pytest.raises(ValueError):
        final_first([])
