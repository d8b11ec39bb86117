"""Batch augmentation on preprocessed tensors: random flips and random shifts (pad by edge replication, then crop)."""
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class Augmentation:
    hflip: bool = False
    vflip: bool = False
    shift: int = 0  # max pixels of random translation per axis

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n = len(x)
        if self.hflip:
            x = torch.where((torch.rand(n, generator=generator) < 0.5)[:, None, None, None], x.flip(-1), x)
        if self.vflip:
            x = torch.where((torch.rand(n, generator=generator) < 0.5)[:, None, None, None], x.flip(-2), x)
        if self.shift:
            s = self.shift
            padded = F.pad(x, (s, s, s, s), mode="replicate")
            offsets = torch.randint(0, 2 * s + 1, (n, 2), generator=generator).tolist()
            h, w = x.shape[-2:]
            x = torch.stack([padded[i, :, dy:dy + h, dx:dx + w] for i, (dy, dx) in enumerate(offsets)])
        return x
