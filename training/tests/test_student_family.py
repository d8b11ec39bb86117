"""The generic student's last exit head (training/custom/architecture.py): global average pooling, or "dense", a conv
as large as the last feature map, which keeps where things are. Shapes, the cut into stages and the ONNX export."""
import pytest
import torch

from training.custom.architecture import Family, Shape, candidate_net, cut
from training.onnx_export import export_stages
from training.onnx_reference import ALLOWED_OPS


@pytest.mark.parametrize("shape, extent", [
    (Shape(2, 1, 28), (4, 4)),              # Fashion-MNIST: 28 -> 14 -> 7 -> 4
    (Shape(2, 3, 24, (24, 40)), (3, 5)),    # not square: the kernel covers both sides of the last map
])
def test_a_dense_last_head_covers_the_whole_last_map(shape, extent):
    net = candidate_net(shape, Family(8, 1, head="dense"), 10).eval()
    conv = net.stages[-1].head[0][0]
    assert tuple(conv.kernel_size) == extent and conv.out_channels == 2 * conv.in_channels
    with torch.no_grad():
        logits = net(torch.randn(2, shape.channels, *shape.input_size()))
    assert [tuple(l.shape) for l in logits] == [(2, 10)] * len(logits)
    # Only the last head changes; the other candidate exits stay global pooling + linear.
    gap = candidate_net(shape, Family(8, 1), 10)
    assert [type(s.head[0]) for s in net.stages[:-1]] == [type(s.head[0]) for s in gap.stages[:-1]]


def test_the_dense_head_tells_apart_what_global_pooling_cannot():
    # An input and its mirror image through a chain of mirror-symmetric kernels: on odd sides (25 -> 13 -> 7 -> 4)
    # every map is mirrored too, so global pooling gives the same logits for both, while the dense head weighs
    # left and right positions differently (a left and a right sleeve, a shirt's open side).
    shape = Shape(2, 1, 25)
    torch.manual_seed(0)
    x = torch.zeros(1, 1, 25, 25)
    x[..., 4:12, 2:8] = 1.0
    pair = torch.cat([x, x.flip(-1)])
    differences = {}
    for head in ("gap", "dense"):
        net = candidate_net(shape, Family(8, 1, head=head), 10).eval()
        with torch.no_grad():
            for module in net.modules():
                if isinstance(module, torch.nn.Conv2d) and module.kernel_size == (3, 3):
                    module.weight.copy_((module.weight + module.weight.flip(-1)) / 2)
            logits = net(pair)[-1]
        differences[head] = (logits[0] - logits[1]).abs().max().item()
    assert differences["gap"] < 1e-5 and differences["dense"] > 1e-3, differences


def test_a_dense_head_student_cuts_into_stages_and_exports_with_the_allowed_ops(tmp_path):
    shape, family = Shape(2, 1, 28), Family(8, 1, head="dense")
    net = candidate_net(shape, family, 10).eval()
    student = cut(net, [1, 3], shape, family).eval()
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        full, stages = net(x), student(x)
    assert torch.equal(stages[0], full[0]) and torch.equal(stages[1], full[2])
    assert "the last: a conv over the whole map first" in student.architecture
    entries = export_stages(student, x, tmp_path)  # checks the op list and ONNX-vs-PyTorch parity itself
    assert all(set(e["ops"]) <= ALLOWED_OPS for e in entries) and "Conv" in entries[-1]["ops"]


def test_signals_keep_global_pooling_and_the_default_describes_as_before():
    with pytest.raises(ValueError, match="not available for 1-D"):
        candidate_net(Shape(1, 1, 2048), Family(8, 1, head="dense"), 4)
    assert Family(8, 1).describe() == "width 8, depth 1"  # existing reports, kd_evidence
    assert Family(8, 1, head="dense").describe() == "width 8, depth 1, dense last head"
