"""The run's time budget (--minutes) and its phases: each phase says where the run stands and what is left."""
import math
import time

import torch

from ..losses import multi_exit_loss


class Budget:
    def __init__(self, minutes, phases: list):
        self.start = time.time()
        self.end = None if minutes is None else self.start + 60 * minutes
        self.phases, self.index = phases, -1

    def left(self) -> float:
        return math.inf if self.end is None else max(0.0, self.end - time.time())

    def deadline(self, share: float, reserve: float = 0.0):
        """The time.time() at which a phase given `share` of what is left (after `reserve` seconds) must stop."""
        if self.end is None:
            return None
        return time.time() + max(0.0, self.left() - reserve) * share

    def phase(self, name: str, detail: str = ""):
        self.index = self.phases.index(name)
        elapsed = time.time() - self.start
        left = "no time bound" if self.end is None else f"{self.left():.0f} s of the budget left"
        print(f"[edgeke train] phase {self.index + 1}/{len(self.phases)} {name}: {detail}{'; ' if detail else ''}"
              f"{elapsed:.0f} s elapsed, {left}", flush=True)

    def elapsed(self) -> float:
        return time.time() - self.start


def seconds_per_epoch(model, splits, settings, distilled: bool):
    """(seconds per training epoch with its validation pass, seconds per forward pass over the training part), from
    a few timed steps on a real batch; the model's weights are left as they were."""
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = splits.train.x[:settings.batch_size], splits.train.y[:settings.batch_size]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    model.train()
    times = []
    for _ in range(3):
        t = time.time()
        logits = model(x)
        loss = multi_exit_loss(logits, logits[-1].detach() if distilled else None, y, settings.temperature,
                               settings.beta, settings.divergence, settings.exit_weights)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.time() - t)
    model.load_state_dict(state)
    step = min(times[1:])
    steps = math.ceil(len(splits.train) / settings.batch_size)
    forward = step / 3 * steps  # a forward pass is about a third of a training step
    return step * steps + forward * len(splits.validation) / max(len(splits.train), 1), forward


def plan_epochs(model, splits, settings, deadline, max_epochs: int, distilled: bool, forward_passes: float = 0.0):
    """Epochs that fit before `deadline` after `forward_passes` inference passes over the training data (a teacher's
    logit cache and predictions), at least 1 and at most max_epochs."""
    if deadline is None:
        return max_epochs
    per_epoch, forward = seconds_per_epoch(model, splits, settings, distilled)
    usable = deadline - time.time() - forward_passes * forward
    return int(max(1, min(max_epochs, usable // max(per_epoch, 1e-3))))


def widest_fitting(widths, per_epoch, seconds: float, min_epochs: int):
    """The widest of `widths` (ascending) whose measured epoch time `per_epoch(width)` fits `min_epochs` epochs into
    `seconds`; timed from the narrowest up and stopping at the first that does not fit (a wide network on large
    inputs is slow even to time). The narrowest when none fits."""
    chosen = widths[0]
    for width in widths:
        if seconds / max(per_epoch(width), 1e-3) < min_epochs:
            break
        chosen = width
    return chosen


def search_plan(per_epoch, count: int, seconds: float, min_epochs: int, max_epochs: int):
    """The student sizes the search tries (cheapest first) and the epochs each gets: every size tried gets the same
    number, so the search compares sizes rather than training lengths (an equal split of the time gave a size 4x as
    costly a quarter of the epochs, and the search then kept the smaller one). As many sizes as still get at least
    `min_epochs` (the first always). `per_epoch(i)` is timed only as far as needed.
    Returns (seconds per epoch of each size tried, epochs)."""
    times = []
    for i in range(count):
        t = max(per_epoch(i), 1e-3)
        epochs = int(seconds // (sum(times) + t))
        if times and epochs < min_epochs:
            break
        times.append(t)
    return times, int(max(1, min(max_epochs, seconds // sum(times))))
