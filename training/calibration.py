"""Per-exit confidence thresholds and the weighted vote of exits, both fitted on validation data only."""
import itertools

import numpy as np

TARGETS = (0.90, 0.95, 0.99)
MIN_SUPPORT = 10  # a threshold must be backed by at least this many validation frames exiting at it


def confidence_threshold(confidence: np.ndarray, correct: np.ndarray, target: float):
    """Lowest max-softmax t such that frames with confidence >= t are at least `target` accurate; None if none is.

    Candidates are the observed confidences; the accuracy of {conf >= t} is not monotone in t, so every candidate is
    checked and the lowest qualifying one wins.
    """
    order = np.argsort(-confidence, kind="stable")
    conf, hits = confidence[order], correct[order].astype(np.float64)
    accuracy = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    # Ties: a threshold admits every frame with the same confidence, so only the last index of a tie run counts.
    last_of_tie = np.append(conf[1:] != conf[:-1], True)
    ok = (accuracy >= target) & last_of_tie & (np.arange(1, len(hits) + 1) >= MIN_SUPPORT)
    if not ok.any():
        return None
    return float(conf[np.nonzero(ok)[0].max()])


def thresholds(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    confidence = probabilities.max(1)
    correct = probabilities.argmax(1) == labels
    return {f"{t:.2f}": confidence_threshold(confidence, correct, t) for t in TARGETS}


def vote_weights(exit_probabilities, labels: np.ndarray, step: float = 0.1):
    """Grid search on the simplex (weights summing to 1, in `step`s) for the vote with the best validation accuracy.

    Ties go to the lower validation negative log-likelihood. Returns (weights, validation accuracy).
    """
    n = len(exit_probabilities)
    units = int(round(1 / step))
    best = None
    for combo in itertools.product(range(units + 1), repeat=n):
        if sum(combo) != units:
            continue
        weights = np.array(combo, dtype=np.float64) / units
        mixed = sum(w * p for w, p in zip(weights, exit_probabilities))
        accuracy = float((mixed.argmax(1) == labels).mean())
        nll = float(-np.log(mixed[np.arange(len(labels)), labels] + 1e-12).mean())
        key = (accuracy, -nll)
        if best is None or key > best[0]:
            best = (key, weights)
    return [round(float(w), 4) for w in best[1]], best[0][0]


def vote(exit_probabilities, weights) -> np.ndarray:
    return sum(w * p for w, p in zip(weights, exit_probabilities))


def stop_losses(exit_probabilities, labels: np.ndarray, exit_thresholds) -> list:
    """What stopping a frame at its first confident exit costs against running it on, measured on validation data.

    For each level and each exit k before the last: the frames whose confidence first passes the level's threshold at
    exit k (no earlier exit passed), and for each later exit c, over those frames: accuracy at c minus accuracy at k
    (`loss`, negative where stopping helps) and the share answered differently (`disagreement`). The runtime learns the
    disagreement online without labels and scales this loss by it, so drift in the input still shows. Entries backed
    by fewer than MIN_SUPPORT frames are left out. exit_thresholds: per exit, the dict `thresholds` returns.
    """
    confidences = [p.max(1) for p in exit_probabilities]
    answers = [p.argmax(1) for p in exit_probabilities]
    entries = []
    for level in (f"{t:.2f}" for t in TARGETS):
        undecided = np.ones(len(labels), dtype=bool)
        for k in range(len(exit_probabilities) - 1):
            threshold = exit_thresholds[k].get(level)
            if threshold is None:
                continue
            first = undecided & (confidences[k] >= threshold)
            undecided &= ~first
            frames = int(first.sum())
            if frames < MIN_SUPPORT:
                continue
            right_at_k = (answers[k][first] == labels[first]).mean()
            for c in range(k + 1, len(exit_probabilities)):
                entries.append({
                    "exit": k + 1, "level": level, "laterExit": c + 1, "frames": frames,
                    "loss": round(float((answers[c][first] == labels[first]).mean() - right_at_k), 6),
                    "disagreement": round(float((answers[c][first] != answers[k][first]).mean()), 6),
                })
    return entries


def vote_by_level(exit_probabilities, labels: np.ndarray, weights, exit_thresholds) -> dict:
    """Where the runtime uses the vote: frames that pass no exit's threshold at a level reach the last exit and may be
    answered by the vote. Per level, on validation data: how many such frames, the vote's and the last exit's accuracy
    on them, and whether the vote is better there. Levels backed by fewer than MIN_SUPPORT frames are left out (the
    runtime then falls back to the vote's accuracy over all frames).
    """
    mixed = vote(exit_probabilities, weights).argmax(1)
    last = exit_probabilities[-1].argmax(1)
    levels = {}
    for level in (f"{t:.2f}" for t in TARGETS):
        unconfident = np.ones(len(labels), dtype=bool)
        for p, th in zip(exit_probabilities, exit_thresholds):
            if th.get(level) is not None:
                unconfident &= p.max(1) < th[level]
        frames = int(unconfident.sum())
        if frames < MIN_SUPPORT:
            continue
        vote_accuracy = float((mixed[unconfident] == labels[unconfident]).mean())
        last_accuracy = float((last[unconfident] == labels[unconfident]).mean())
        levels[level] = {"frames": frames, "accuracy": round(vote_accuracy, 6), "lastExitAccuracy": round(last_accuracy, 6),
                         "beatsLastExit": vote_accuracy > last_accuracy}
    return levels
