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
