"""The generic student and teacher families for a user's data, and the cut of a trained backbone into stages.

A student is a plain chain of conv-bn-relu units (2-D for images, 1-D for signals) that halves the resolution and
widens at each level, with a candidate exit head (global average pool + linear) after every unit. It is trained
with all candidate heads; the exits kept are then chosen on validation accuracy and cost (exits.py), and the chain
is cut into one stage per kept exit. Dropping the other heads leaves the kept exits' outputs unchanged.
"""
import math
from dataclasses import dataclass

from torch import nn

from ..models.layers import Residual, classifier, conv_bn_relu, max_pool
from ..models.multi_exit import MultiExitNet, Stage


@dataclass(frozen=True)
class Shape:
    dim: int          # 2 images, 1 signals
    channels: int
    length: int       # the shorter spatial side (images) or the window length (signals)


@dataclass(frozen=True)
class Family:
    width: int        # channels of the first level
    depth: int        # units per level
    max_width: int = 256

    def describe(self) -> str:
        return f"width {self.width}, depth {self.depth}"


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


def candidate_net(shape: Shape, family: Family, classes: int) -> MultiExitNet:
    """One stage per unit: every unit is a candidate exit."""
    return MultiExitNet([Stage(m, classifier(shape.dim, c, classes)) for m, c in units(shape, family)],
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
                                f"{len(keep)} stages ({' / '.join(groups)} channels), exit heads GAP+linear")


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
