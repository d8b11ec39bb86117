"""Per-task teachers (single exit, larger) and multi-exit students (compact backbone, 3 stages, small heads).

Comments give FLOPs (2 x multiply-adds) at batch 1, as counted by training/flops.py.
"""
from torch import nn

from .layers import Residual, classifier, conv_bn_relu, max_pool
from .multi_exit import MultiExitNet, Stage


def neu_student(classes: int) -> MultiExitNet:
    """200x200 input. Exit 1 ~10 MFLOPs, exit 2 ~30, final ~163. Exit heads are only GAP+linear: with a conv in
    each head every exit reached the final exit's 99.4% and the early exits bought nothing. A narrower stem
    (16 channels into the last stage) cost the distilled last exit 1-2 points."""
    s = lambda *layers: nn.Sequential(*layers)
    return MultiExitNet([
        Stage(s(conv_bn_relu(2, 1, 8, stride=2), conv_bn_relu(2, 8, 24, stride=2)),            # 50x50
              classifier(2, 24, classes)),
        Stage(s(max_pool(2), conv_bn_relu(2, 24, 32), conv_bn_relu(2, 32, 32)),                # 25x25
              classifier(2, 32, classes)),
        Stage(s(conv_bn_relu(2, 32, 64), conv_bn_relu(2, 64, 64), max_pool(2),                 # 12x12
                conv_bn_relu(2, 64, 128), conv_bn_relu(2, 128, 128)),
              classifier(2, 128, classes)),
    ], "neu-student: 8 conv-bn-relu in 3 stages (8-24 / 32-32 / 64-64-128-128), exit heads GAP+linear")


def neu_teacher(classes: int) -> MultiExitNet:
    body = nn.Sequential(
        conv_bn_relu(2, 1, 32, stride=2), max_pool(2),                 # 50x50
        Residual(2, 32, 48), max_pool(2), Residual(2, 48, 96), max_pool(2), Residual(2, 96, 192),
    )
    return MultiExitNet([Stage(body, classifier(2, 192, classes))], "resnet-ish: stem + 3 residual blocks (48-96-192)")


def cwru_student(classes: int) -> MultiExitNet:
    """[1, 2048] input, WDCNN-style wide first kernel. Exit 1 ~0.07 MFLOPs, exit 2 ~0.08, final ~7.9.

    CWRU at 2048 samples is easy: with 4 or more filters in the first stage every exit scored 100% and the early
    exits bought nothing. So exit 1 reads only 2 learned frequency bands (about 92-95%), exit 2 adds 8 (about 98.5%).
    The last stage is wide because the runtime spends ~0.1 ms per batch outside the stages: a final exit much cheaper
    than this one would cost barely more than exit 2 end to end, and an early exit could not buy time under load."""
    s = lambda *layers: nn.Sequential(*layers)
    return MultiExitNet([
        Stage(s(conv_bn_relu(1, 1, 2, 64, stride=8, padding=28), max_pool(1)),                 # 128
              classifier(1, 2, classes)),
        Stage(s(conv_bn_relu(1, 2, 8), max_pool(1)),                                             # 64
              classifier(1, 8, classes)),
        Stage(s(conv_bn_relu(1, 8, 96), conv_bn_relu(1, 96, 96), max_pool(1),                   # 32
                conv_bn_relu(1, 96, 128), max_pool(1), conv_bn_relu(1, 128, 128)),              # 16
              classifier(1, 128, classes)),
    ], "cwru-student: wide-kernel 1-D CNN, 6 conv-bn-relu in 3 stages (2 / 8 / 96-96-128-128), exit heads GAP+linear")


def cwru_teacher(classes: int) -> MultiExitNet:
    body = nn.Sequential(
        conv_bn_relu(1, 1, 32, 64, stride=8, padding=28), max_pool(1),  # 128
        Residual(1, 32, 64), max_pool(1), Residual(1, 64, 128), max_pool(1), Residual(1, 128, 128),
    )
    return MultiExitNet([Stage(body, classifier(1, 128, classes))], "resnet-ish 1-D: wide stem + 3 residual blocks")


def spatial_head(cin: int, hidden: int, size: int, classes: int) -> nn.Sequential:
    """A conv as wide as the feature map (a dense layer over all positions, as [N, hidden, 1, 1]) keeps the spatial
    layout that Fashion-MNIST classes differ by, without a layout-dependent flatten of a [N, C, H, W] tensor."""
    return classifier(2, hidden, classes, pre=(conv_bn_relu(2, cin, hidden, size, padding=0),))


def fashion_student(classes: int) -> MultiExitNet:
    """28x28 input. Exit 1 ~2.3 MFLOPs, final ~11 MFLOPs."""
    s = lambda *layers: nn.Sequential(*layers)
    return MultiExitNet([
        Stage(s(conv_bn_relu(2, 1, 16), conv_bn_relu(2, 16, 24, stride=2)),                     # 14x14
              classifier(2, 32, classes, pre=(conv_bn_relu(2, 24, 32, stride=2),))),
        Stage(s(conv_bn_relu(2, 24, 48), max_pool(2)),                                           # 7x7
              spatial_head(48, 64, 7, classes)),
        Stage(s(conv_bn_relu(2, 48, 96)),                                                        # 7x7
              spatial_head(96, 128, 7, classes)),
    ], "fashion-student: 4 conv-bn-relu in 3 stages (16-24 / 48 / 96); exit 1 conv+GAP+linear, exits 2-3 "
       "7x7 conv+linear")


def fashion_teacher(classes: int) -> MultiExitNet:
    body = nn.Sequential(
        conv_bn_relu(2, 1, 32), conv_bn_relu(2, 32, 64, stride=2),     # 14x14
        conv_bn_relu(2, 64, 64), max_pool(2),                          # 7x7
        conv_bn_relu(2, 64, 128), conv_bn_relu(2, 128, 128),
    )
    return MultiExitNet([Stage(body, spatial_head(128, 256, 7, classes))],
                        "vgg-ish: 6 conv-bn-relu (32-64-64-128-128), 7x7 conv + linear head")
