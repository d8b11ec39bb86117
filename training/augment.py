"""Batch augmentation on preprocessed tensors: random flips and random shifts (pad by edge replication, then crop).

Flips form a small set of variants (identity, h, v, hv), so a teacher's logits can be computed once per variant and
looked up during distillation instead of running the teacher at every step. Shifts are teacher-only.
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class Augmentation:
    hflip: bool = False
    vflip: bool = False
    shift: int = 0  # max pixels of random translation per axis

    def variants(self) -> list:
        """The (hflip, vflip) combinations this augmentation can produce, in variant-index order."""
        return [(h, v) for v in ([False, True] if self.vflip else [False])
                for h in ([False, True] if self.hflip else [False])]

    @staticmethod
    def flip(x: torch.Tensor, h, v) -> torch.Tensor:
        """Flip per sample; h and v are bools or [N] bool masks."""
        shape = (len(x),) + (1,) * (x.dim() - 1)
        h, v = (torch.as_tensor(m).expand(len(x)).reshape(shape) for m in (h, v))
        if h.any():
            x = torch.where(h, x.flip(-1), x)
        return torch.where(v, x.flip(-2), x) if v.any() else x

    def __call__(self, x: torch.Tensor, generator: torch.Generator):
        """Returns (augmented batch, variant index per sample)."""
        n = len(x)
        h = (torch.rand(n, generator=generator) < 0.5) & self.hflip
        v = (torch.rand(n, generator=generator) < 0.5) & self.vflip
        if self.hflip or self.vflip:
            x = self.flip(x, h, v)
        if self.shift:
            s = self.shift
            padded = F.pad(x, (s, s, s, s), mode="replicate")
            offsets = torch.randint(0, 2 * s + 1, (n, 2), generator=generator).tolist()
            height, width = x.shape[-2:]
            x = torch.stack([padded[i, :, dy:dy + height, dx:dx + width] for i, (dy, dx) in enumerate(offsets)])
        variant = h.long() * int(self.hflip) + v.long() * (2 if self.hflip else 1) * int(self.vflip)
        return x, variant
