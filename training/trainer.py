"""One training run of a (multi-exit) network, with optional online teacher; checkpoint chosen on validation."""
import copy
import math
import time

import numpy as np
import torch

from .custom.choice import final_first
from .losses import multi_exit_loss
from .progress import Progress


@torch.no_grad()
def predict(model, x: torch.Tensor, batch_size: int = 256):
    """Softmax probabilities of every exit, as float64 numpy arrays [N, classes]."""
    model.eval()
    outputs = [model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    return [torch.cat([o[k] for o in outputs]).softmax(1).double().numpy() for k in range(len(outputs[0]))]


@torch.no_grad()
def teacher_logits_cache(teacher, x: torch.Tensor, augmentation, batch_size: int = 256, label=None) -> torch.Tensor:
    """Teacher logits for every training sample under every flip variant: [variants, N, classes]. With a `label`,
    prints progress lines with an ETA."""
    teacher.eval()
    variants = augmentation.variants()
    batches = math.ceil(len(x) / batch_size)
    progress = Progress(label, len(variants) * batches, every_s=10) if label else None
    out = []
    for k, (h, v) in enumerate(variants):
        logits = []
        for b, i in enumerate(range(0, len(x), batch_size)):
            logits.append(teacher(augmentation.flip(x[i:i + batch_size], h, v))[-1])
            if progress:
                progress.step(k * batches + b + 1, "batches of training inputs")
        out.append(torch.cat(logits))
    return torch.stack(out)


def validation_score(exit_accuracies, exit_weights=None) -> float:
    """What picks a checkpoint (and the shipped seed): exit accuracies averaged with the recipe's exit weights."""
    return float(np.average(exit_accuracies, weights=exit_weights or None))


def accuracies(probabilities, labels: torch.Tensor):
    y = labels.numpy()
    return [float((p.argmax(1) == y).mean()) for p in probabilities]


class TimedOneCycle:
    """One-cycle learning rate (cosine warm-up from lr/25 over `pct`, cosine decay to lr/25e4, as OneCycleLR) at the
    progress max(steps done / total, time spent / time to the deadline)."""

    def __init__(self, optimizer, lr: float, total: int, pct: float, started: float, deadline: float):
        self.optimizer, self.lr, self.total, self.pct = optimizer, lr, total, pct
        self.started, self.span, self.steps = started, max(deadline - started, 1e-3), 0
        self._set(0.0)

    def _set(self, progress: float):
        low, end = self.lr / 25, self.lr / 25e4
        p = min(progress, 1.0)
        if p < self.pct:
            rate = low + (self.lr - low) * (1 - math.cos(math.pi * p / self.pct)) / 2
        else:
            rate = end + (self.lr - end) * (1 + math.cos(math.pi * (p - self.pct) / (1 - self.pct))) / 2
        for group in self.optimizer.param_groups:
            group["lr"] = rate

    def step(self):
        self.steps += 1
        self._set(max(self.steps / self.total, (time.time() - self.started) / self.span))


def train(model, splits, settings, label: str, seed: int, teacher=None, deadline=None, cache=None):
    """SGD (Nesterov) with a one-cycle LR; keeps the epoch with the best (exit_weights-weighted) mean validation
    accuracy over exits.

    settings: batch_size, epochs, lr, weight_decay, augmentation, temperature, beta, divergence.
    deadline: time.time() by which to stop; the epoch under way ends early, is validated, and the best epoch so far
    is kept, so the result is always a usable model. cache: teacher logits from teacher_logits_cache, computed once
    by the caller and reused across runs (instead of `teacher`).
    Returns (model with the chosen weights, history of per-epoch validation accuracies).
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x, y = splits.train.x, splits.train.y
    steps_per_epoch = math.ceil(len(y) / settings.batch_size)
    total = steps_per_epoch * settings.epochs
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=0.9, nesterov=True,
                                weight_decay=settings.weight_decay)
    # One-cycle needs a warm-up of at least one step and a decay after it; runs of a handful of steps (smoke runs,
    # tight budgets on small data) keep a constant rate instead (OneCycleLR divides by zero at 4 steps).
    started = time.time()
    if deadline is not None and total >= 5:
        # Under a deadline the one-cycle runs on whichever is further along, steps or time: when the machine turns
        # out slower than planned, the rate still anneals by the deadline instead of being cut off at its peak.
        pct = max(0.25, 2 / total)
        schedule = TimedOneCycle(optimizer, settings.lr, total, pct, started, deadline)
    else:
        schedule = (torch.optim.lr_scheduler.OneCycleLR(optimizer, settings.lr, total_steps=total,
                                                        pct_start=max(0.25, 2 / total)) if total >= 5
                    else torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0))
    if teacher is not None or cache is not None:
        if settings.augmentation.shift:
            raise ValueError("distillation caches teacher logits per flip variant: student augmentation cannot shift")
        cache = teacher_logits_cache(teacher, x, settings.augmentation) if cache is None else cache
    progress = Progress(label, total)
    best, history = None, []
    for epoch in range(settings.epochs):
        model.train()
        order = torch.randperm(len(y), generator=generator)
        running = 0.0
        for step in range(steps_per_epoch):
            index = order[step * settings.batch_size:(step + 1) * settings.batch_size]
            xb, variant = settings.augmentation(x[index], generator)
            teacher_logits = cache[variant, index] if cache is not None else None
            loss = multi_exit_loss(model(xb), teacher_logits, y[index], settings.temperature, settings.beta,
                                   settings.divergence, settings.exit_weights)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            running = 0.9 * running + 0.1 * loss.item() if step else loss.item()
            progress.step(epoch * steps_per_epoch + step + 1, f"epoch {epoch + 1}/{settings.epochs} loss {running:.4f}")
            if deadline is not None and time.time() > deadline:
                break
        val = accuracies(predict(model, splits.validation.x), splits.validation.y)
        history.append(val)
        score = (final_first(val, settings.exit_weights) if settings.checkpoint_final_first
                 else (validation_score(val, settings.exit_weights),))
        if best is None or score >= best[0]:
            best = (score, epoch, copy.deepcopy(model.state_dict()))
        progress.step((epoch + 1) * steps_per_epoch,
                      f"epoch {epoch + 1} done, validation accuracy per exit {[round(v, 4) for v in val]}", force=True)
        if deadline is not None and time.time() > deadline:
            print(f"[{label}] time budget reached after epoch {epoch + 1} of {settings.epochs}", flush=True)
            break
    model.load_state_dict(best[2])
    rule = "final exit, then weighted mean" if len(best[0]) > 1 else "weighted mean"
    print(f"[{label}] chose epoch {best[1] + 1} ({rule} validation accuracy {', '.join(f'{s:.4f}' for s in best[0])})",
          flush=True)
    return model, history
