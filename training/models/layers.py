"""Building blocks that export to plain Conv/Relu/Add/pool ONNX ops (BatchNorm folds into Conv in eval export)."""
from torch import nn

CONV = {1: nn.Conv1d, 2: nn.Conv2d}
BATCH_NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}
MAX_POOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d}
GLOBAL_POOL = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d}


def conv_bn_relu(dim: int, cin: int, cout: int, kernel: int = 3, stride: int = 1, padding=None) -> nn.Sequential:
    padding = kernel // 2 if padding is None else padding
    return nn.Sequential(
        CONV[dim](cin, cout, kernel, stride, padding, bias=False), BATCH_NORM[dim](cout), nn.ReLU(inplace=True)
    )


def max_pool(dim: int, size: int = 2) -> nn.Module:
    return MAX_POOL[dim](size)


class Residual(nn.Module):
    """Basic ResNet block: two 3-wide convs plus a (projected when the shape changes) shortcut."""

    def __init__(self, dim: int, cin: int, cout: int, stride: int = 1):
        super().__init__()
        conv, bn = CONV[dim], BATCH_NORM[dim]
        self.branch = nn.Sequential(
            conv_bn_relu(dim, cin, cout, 3, stride), conv(cout, cout, 3, 1, 1, bias=False), bn(cout)
        )
        self.shortcut = (
            nn.Identity() if cin == cout and stride == 1
            else nn.Sequential(conv(cin, cout, 1, stride, 0, bias=False), bn(cout))
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.branch(x) + self.shortcut(x))


def classifier(dim: int, channels: int, classes: int, pre=()) -> nn.Sequential:
    """Exit head: optional pre-layers, global average pool, flatten (torch.flatten -> ONNX Flatten), linear (Gemm)."""
    return nn.Sequential(*pre, GLOBAL_POOL[dim](1), nn.Flatten(1), nn.Linear(channels, classes))
