"""How `edgeke train` ranks two runs (or checkpoints) of the same multi-exit student on validation data.

The final exit is what the accuracy target and a lightly loaded flow depend on, so it ranks first; the mean over
all exits only breaks a tie there. Accuracies on one validation split are counts over the same n inputs, so a tie is
the same number of inputs right (compared after rounding away float noise, far below one input in 1/n)."""
import numpy as np

FLOAT_NOISE_DIGITS = 9


def final_first(exit_accuracies, exit_weights=None) -> tuple:
    """Sort key, larger is better: (final exit's validation accuracy, mean validation accuracy over exits, weighted
    by `exit_weights` when given)."""
    accuracies = [float(a) for a in exit_accuracies]
    if not accuracies:
        raise ValueError("no exit accuracies to rank")
    return round(accuracies[-1], FLOAT_NOISE_DIGITS), round(float(np.average(accuracies, weights=exit_weights or None)), FLOAT_NOISE_DIGITS)


def prefer_first(first, second) -> bool:
    """True when the run with validation exit accuracies `first` ranks at least as high as `second` (a full tie keeps
    the first: callers pass the distilled or the later, longer run first)."""
    return final_first(first) >= final_first(second)
