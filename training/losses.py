"""EdgeKE distillation loss: (1-b)·CE(exit, label) + b·T²·D(teacher/T, exit/T), applied at every exit.

Divergences D between the teacher's and the exit's temperature-softened class distributions:
- "kl": KL(p_teacher ‖ p_exit), the classic Hinton distillation term.
- "js": Jensen-Shannon divergence, symmetric and bounded by log 2.
- "wasserstein": 1-D earth mover's distance with the classes placed at positions 0..C-1 in manifest order,
  i.e. sum over classes of |CDF_teacher - CDF_exit|. Class order is arbitrary, so this is a distance over the
  class-probability CDF (as in the paper's code), not a semantic one.
"""
import math

import torch
import torch.nn.functional as F


def kl(teacher_logp: torch.Tensor, student_logp: torch.Tensor) -> torch.Tensor:
    return (teacher_logp.exp() * (teacher_logp - student_logp)).sum(1).mean()


def js(teacher_logp: torch.Tensor, student_logp: torch.Tensor) -> torch.Tensor:
    mixture_logp = torch.logsumexp(torch.stack([teacher_logp, student_logp]), 0) - math.log(2.0)
    return 0.5 * (kl(teacher_logp, mixture_logp) + kl(student_logp, mixture_logp))


def wasserstein(teacher_logp: torch.Tensor, student_logp: torch.Tensor) -> torch.Tensor:
    cdf_gap = teacher_logp.exp().cumsum(1) - student_logp.exp().cumsum(1)
    return cdf_gap.abs().sum(1).mean()


DIVERGENCES = {"kl": kl, "js": js, "wasserstein": wasserstein}


def distillation_loss(exit_logits, teacher_logits, labels, temperature: float, beta: float, divergence: str = "kl"):
    """Loss of one exit. Without a teacher (teacher_logits None) it is plain cross-entropy: the no-KD ablation."""
    ce = F.cross_entropy(exit_logits, labels)
    if teacher_logits is None:
        return ce
    d = DIVERGENCES[divergence](
        F.log_softmax(teacher_logits / temperature, 1), F.log_softmax(exit_logits / temperature, 1)
    )
    return (1 - beta) * ce + beta * temperature ** 2 * d


def multi_exit_loss(all_logits, teacher_logits, labels, temperature, beta, divergence="kl", exit_weights=None):
    """Weighted sum over exits (equal weights by default); the shared backbone gets the sum."""
    weights = exit_weights or [1.0] * len(all_logits)
    return sum(w * distillation_loss(l, teacher_logits, labels, temperature, beta, divergence)
               for w, l in zip(weights, all_logits))
