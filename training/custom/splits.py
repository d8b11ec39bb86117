"""Held-out validation and test parts, stratified by class, decided once from a seed and never by a model.

Items are grouped (an image is its own group; a signal recording, or the recordings sharing a `group` column, form
one), so no group ever lands in two parts: windows of one recording never straddle training and test.
"""
import math
import random
from collections import defaultdict

from .errors import DataError

VALIDATION_FRACTION = 0.15
TEST_FRACTION = 0.2


def minimum_groups(with_test: bool) -> int:
    """At least one group per part, and at least two for training."""
    return 4 if with_test else 3


def split_groups(groups_by_class: dict, with_test: bool, where, seed: int = 0, unit: str = "examples") -> dict:
    """groups_by_class: class name -> list of group keys. Returns {"train": [...], "validation": [...], "test": [...]}
    of group keys (test empty when the user brings a test folder). Refuses classes too small to split."""
    rng = random.Random(seed)
    parts = {"train": [], "validation": [], "test": []}
    need = minimum_groups(with_test)
    for name in sorted(groups_by_class):
        groups = sorted(set(groups_by_class[name]), key=str)
        if len(groups) < need:
            raise DataError(where, f"class '{name}' has {len(groups)} {unit}; at least {need} are needed to hold out "
                                   f"validation{' and test' if with_test else ''} data by {unit}")
        rng.shuffle(groups)
        n_test = max(1, math.floor(TEST_FRACTION * len(groups) + 0.5)) if with_test else 0
        n_val = max(1, math.floor(VALIDATION_FRACTION * len(groups) + 0.5))
        parts["test"] += groups[:n_test]
        parts["validation"] += groups[n_test:n_test + n_val]
        parts["train"] += groups[n_test + n_val:]
    return parts


def describe(counts: dict, unit: str) -> str:
    return ", ".join(f"{part} {n} {unit}" for part, n in counts.items())


def by_class(pairs) -> dict:
    out = defaultdict(list)
    for key, name in pairs:
        out[name].append(key)
    return out
