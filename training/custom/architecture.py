"""The generic student and teacher families for a user's data, and the cut of a trained backbone into stages.

A student is a plain chain of conv-bn-relu units (2-D for images, 1-D for signals) that halves the resolution and
widens at each level, with a candidate exit head (global average pool + linear) after every unit. It is trained
with all candidate heads; the exits kept are then chosen on validation accuracy and cost (exits.py), and the chain
is cut into one stage per kept exit. Dropping the other heads leaves the kept exits' outputs unchanged.

An image student's last head can instead be "dense": a conv as large as the last feature map (a dense layer over
all positions, exported as one Conv giving [N, C, 1, 1]) before the pool and linear, so the final exit sees where
things are, not only which (global pooling keeps only which). Which head a run uses is chosen on validation
(train_data.py); for signals the head stays global pooling (a fault's signature may appear anywhere in a window).
"""
import math
from dataclasses import dataclass

import torch
from torch import nn

from ..models.layers import Residual, classifier, conv_bn_relu, max_pool
from ..models.multi_exit import MultiExitNet, Stage


@dataclass(frozen=True)
class Shape:
    dim: int          # 2 images, 1 signals
    channels: int
    length: int       # the shorter spatial side (images) or the window length (signals)
    extent: tuple = ()  # images: (height, width) when not square; () = length x length (or the window)

    def input_size(self) -> tuple:
        return tuple(self.extent) or (self.length,) * self.dim


@dataclass(frozen=True)
class Family:
    width: int        # channels of the first level
    depth: int        # units per level
    max_width: int = 256
    head: str = "gap"  # the last unit's exit head: "gap" (global average pool + linear) or "dense" (see above)

    def describe(self) -> str:
        return f"width {self.width}, depth {self.depth}" + (", dense last head" if self.head == "dense" else "")


def levels(shape: Shape) -> int:
    """Resolution halvings until about 4-7 positions remain (images) or 8-15 (signals, after a stride-4 stem)."""
    target = 4 if shape.dim == 2 else 8
    start = shape.length if shape.dim == 2 else shape.length // 4
    return max(1, min(6, int(math.log2(max(start, 2) / target)) + (1 if shape.dim == 2 else 0)))


def units(shape: Shape, family: Family) -> list:
    """The backbone as a list of (module, out_channels)."""
    out, cin = [], shape.channels
    for level in range(levels(shape)):
        cout = min(family.width * 2 ** level, family.max_width)
        for k in range(family.depth):
            if k == 0 and level == 0 and shape.dim == 1:
                module = conv_bn_relu(1, cin, cout, 16, stride=4, padding=6)  # wide first kernel for raw signals
            else:
                module = conv_bn_relu(shape.dim, cin, cout, stride=2 if k == 0 else 1)
            out.append((module, cout))
            cin = cout
    return out


def dense_head(cin: int, extent: tuple, classes: int) -> nn.Sequential:
    """A conv as large as the feature map to 2 x cin channels (BN, ReLU), then the pool (over 1 x 1) and linear."""
    conv = nn.Sequential(nn.Conv2d(cin, 2 * cin, extent, bias=False), nn.BatchNorm2d(2 * cin), nn.ReLU(inplace=True))
    return classifier(2, 2 * cin, classes, pre=(conv,))


def candidate_net(shape: Shape, family: Family, classes: int) -> MultiExitNet:
    """One stage per unit: every unit is a candidate exit."""
    if family.head not in ("gap", "dense") or (family.head == "dense" and shape.dim != 2):
        raise ValueError(f"head {family.head!r} is not available for {shape.dim}-D input")
    chain = units(shape, family)
    heads = [classifier(shape.dim, c, classes) for _, c in chain]
    if family.head == "dense":
        with torch.no_grad():
            x = torch.zeros(1, shape.channels, *shape.input_size())
            for module, _ in chain:
                x = module.eval()(x)
        heads[-1] = dense_head(chain[-1][1], tuple(x.shape[2:]), classes)
    return MultiExitNet([Stage(m, h) for (m, _), h in zip(chain, heads)],
                        f"generic {shape.dim}-D conv chain ({family.describe()}), candidate exit after every unit")


def cut(candidates: MultiExitNet, keep: list, shape: Shape, family: Family) -> MultiExitNet:
    """The trained chain grouped into stages that end at the kept units (1-based, ascending, last = last unit);
    modules are shared with `candidates`, so weights and outputs carry over exactly."""
    stages, start = [], 0
    for k in keep:
        body = nn.Sequential(*[candidates.stages[i].body for i in range(start, k)])
        stages.append(Stage(body, candidates.stages[k - 1].head))
        start = k
    widths = [c for _, c in units(shape, family)]
    groups, start = [], 0
    for k in keep:
        groups.append("-".join(str(w) for w in widths[start:k]))
        start = k
    return MultiExitNet(stages, f"generic {shape.dim}-D conv chain ({family.describe()}), "
                                f"{len(keep)} stages ({' / '.join(groups)} channels), exit heads GAP+linear"
                                + (" (the last: a conv over the whole map first)" if family.head == "dense" else ""))


def teacher_net(shape: Shape, classes: int, width: int = 32) -> MultiExitNet:
    """A wider residual network with one exit, for distillation when the user brings no teacher."""
    d = shape.dim
    layers = [conv_bn_relu(d, shape.channels, width, 16, stride=4, padding=6) if d == 1
              else conv_bn_relu(d, shape.channels, width, stride=2)]
    c = width
    for level in range(max(1, levels(shape) - 1)):
        cout = min(width * 2 ** (level + 1), 256)
        layers += [max_pool(d), Residual(d, c, cout)]
        c = cout
    return MultiExitNet([Stage(nn.Sequential(*layers), classifier(d, c, classes))],
                        f"generic residual {d}-D teacher (stem {width}, {len(layers) // 2} blocks up to {c} channels)")


def families(smoke: bool) -> list:
    """Student widths and depths to search, cheapest first."""
    if smoke:
        return [Family(8, 1)]
    return [Family(8, 1), Family(16, 1), Family(16, 2), Family(32, 2)]
