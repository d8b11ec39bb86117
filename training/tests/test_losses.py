import math

import pytest
import torch
import torch.nn.functional as F

from training.losses import DIVERGENCES, distillation_loss, js, kl, multi_exit_loss, wasserstein


def logp(logits):
    return F.log_softmax(torch.tensor(logits, dtype=torch.float64), 1)


@pytest.mark.parametrize("name", sorted(DIVERGENCES))
def test_divergence_is_zero_for_identical_and_positive_otherwise(name):
    a, b = logp([[2.0, 0.5, -1.0]]), logp([[-1.0, 0.5, 2.0]])
    assert DIVERGENCES[name](a, a).item() == pytest.approx(0, abs=1e-12)
    assert DIVERGENCES[name](a, b).item() > 0


def test_kl_matches_torch():
    a, b = logp([[1.0, 2.0, 3.0], [0.0, 0.0, 5.0]]), logp([[3.0, 2.0, 1.0], [1.0, 1.0, 1.0]])
    expected = F.kl_div(b, a, log_target=True, reduction="batchmean")
    assert kl(a, b).item() == pytest.approx(expected.item())


def test_js_is_symmetric_and_bounded_by_log2():
    a, b = logp([[30.0, 0.0]]), logp([[0.0, 30.0]])
    assert js(a, b).item() == pytest.approx(js(b, a).item())
    assert js(a, b).item() == pytest.approx(math.log(2), rel=1e-6)


def test_wasserstein_is_the_distance_between_class_positions_for_one_hot():
    a, b = logp([[50.0, 0.0, 0.0, 0.0]]), logp([[0.0, 0.0, 50.0, 0.0]])
    assert wasserstein(a, b).item() == pytest.approx(2.0, rel=1e-6)


def test_without_teacher_or_with_beta_zero_it_is_cross_entropy():
    logits, labels = torch.randn(5, 4), torch.tensor([0, 1, 2, 3, 0])
    ce = F.cross_entropy(logits, labels)
    assert distillation_loss(logits, None, labels, 4.0, 0.1).item() == pytest.approx(ce.item())
    assert distillation_loss(logits, torch.randn(5, 4), labels, 4.0, 0.0).item() == pytest.approx(ce.item())


def test_distillation_term_is_scaled_by_beta_and_t_squared():
    logits, teacher, labels = torch.randn(6, 3), torch.randn(6, 3), torch.randint(0, 3, (6,))
    t, b = 4.0, 0.3
    d = kl(F.log_softmax(teacher / t, 1), F.log_softmax(logits / t, 1))
    expected = (1 - b) * F.cross_entropy(logits, labels) + b * t * t * d
    assert distillation_loss(logits, teacher, labels, t, b).item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize("name", sorted(DIVERGENCES))
def test_multi_exit_loss_sums_exits_and_has_gradients(name):
    exits = [torch.randn(4, 5, requires_grad=True) for _ in range(3)]
    loss = multi_exit_loss(exits, torch.randn(4, 5), torch.tensor([0, 1, 2, 3]), 4.0, 0.1, name)
    loss.backward()
    assert all(torch.isfinite(e.grad).all() and e.grad.abs().sum() > 0 for e in exits)
