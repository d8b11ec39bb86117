"""NEU surface defects: 200x200 grayscale JPEGs at native size, fixed test split (file number multiple of 5)."""
import re

import numpy as np
import torch
from PIL import Image

from ..paths import datasets_root
from .splits import Split, Splits

CLASSES = ["crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches"]
SIZE = 200
# Mean and std of pixel/255 over the training images (validation excluded), rounded; fixed so the runtime can copy them.
MEAN = 0.5005
STD = 0.2128


def file_number(path) -> int:
    return int(re.search(r"_(\d+)\.jpg$", path.name).group(1))


def is_validation(path) -> bool:
    """Validation: training images whose file number ends in 1 (30 of 240 per class)."""
    return file_number(path) % 10 == 1


def decode(path) -> np.ndarray:
    """PIL (libjpeg-turbo) decode to 8-bit luminance; the three JPEG channels are identical, so L equals each."""
    with Image.open(path) as image:
        return np.asarray(image.convert("L"), dtype=np.uint8)


def preprocess(pixels: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W] -> float32 [N, 1, H, W]: (pixel/255 - MEAN) / STD."""
    return ((torch.from_numpy(pixels).float() / 255.0 - MEAN) / STD).unsqueeze(1)


def image_paths(folder: str):
    root = datasets_root() / "neu-surface" / folder
    return [(p, CLASSES.index(c)) for c in CLASSES for p in sorted((root / c).glob("*.jpg"), key=file_number)]


def _split(items) -> Split:
    pixels = np.stack([decode(p) for p, _ in items])
    return Split(preprocess(pixels), torch.tensor([label for _, label in items]))


def load() -> Splits:
    train_items = image_paths("train")
    return Splits(
        train=_split([i for i in train_items if not is_validation(i[0])]),
        validation=_split([i for i in train_items if is_validation(i[0])]),
        test=_split(image_paths("test")),
        classes=CLASSES,
        description={
            "name": "NEU surface defect database (NEU-DET release), 6 classes, 200x200 grayscale",
            "split": (
                "test: file number multiple of 5 (359 images, data/neu-surface/test); validation: training images "
                "whose file number ends in 1 (180); train: the other 1260"
            ),
            "credit": (
                "K. Song and Y. Yan, \"A noise robust method based on completed local binary patterns for hot-rolled "
                "steel strip surface defects\", Applied Surface Science 285 (2013) 858-864. For research use."
            ),
        },
    )
