"""The common container every loader returns."""
from dataclasses import dataclass, field

import torch


@dataclass
class Split:
    x: torch.Tensor  # float32, preprocessed, [N, *input_shape]
    y: torch.Tensor  # int64 class indices, [N]

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, n: int, seed: int = 0) -> "Split":
        """A class-mixed random subset, for smoke runs."""
        index = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n]
        return Split(self.x[index], self.y[index])


@dataclass
class Splits:
    train: Split
    validation: Split
    test: Split
    classes: list
    description: dict = field(default_factory=dict)  # split protocol, written into the manifest's dataset section
