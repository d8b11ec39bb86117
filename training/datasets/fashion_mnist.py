"""Fashion-MNIST from the Debian package (IDX, gzip): standard 60k/10k, validation = 5,000 seeded-random training images."""
import gzip

import numpy as np
import torch

from ..paths import FASHION_MNIST_DIR
from .splits import Split, Splits

CLASSES = ["t-shirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot"]
SIZE = 28
VALIDATION_SIZE = 5000
# Mean and std of pixel/255 over the 55,000 training images, rounded.
MEAN = 0.2861
STD = 0.3530


def read_idx(name: str) -> np.ndarray:
    with gzip.open(FASHION_MNIST_DIR / name, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def preprocess(pixels: np.ndarray) -> torch.Tensor:
    """uint8 [N, 28, 28] -> float32 [N, 1, 28, 28]: (pixel/255 - MEAN) / STD."""
    return ((torch.from_numpy(pixels.copy()).float() / 255.0 - MEAN) / STD).unsqueeze(1)


def load() -> Splits:
    images, labels = read_idx("train-images-idx3-ubyte.gz"), read_idx("train-labels-idx1-ubyte.gz")
    order = np.random.default_rng(0).permutation(len(labels))
    val, train = order[:VALIDATION_SIZE], order[VALIDATION_SIZE:]
    as_split = lambda x, y: Split(preprocess(x), torch.from_numpy(y.astype(np.int64)))
    return Splits(
        train=as_split(images[train], labels[train]),
        validation=as_split(images[val], labels[val]),
        test=as_split(read_idx("t10k-images-idx3-ubyte.gz"), read_idx("t10k-labels-idx1-ubyte.gz")),
        classes=CLASSES,
        description={
            "name": "Fashion-MNIST (Debian package dataset-fashion-mnist)",
            "split": (
                "standard: test = the 10,000 t10k images; validation = 5,000 training images chosen by "
                "numpy default_rng(0).permutation(60000)[:5000]; train = the other 55,000"
            ),
            "credit": (
                "H. Xiao, K. Rasul, R. Vollgraf, \"Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine "
                "Learning Algorithms\", 2017. MIT license."
            ),
        },
    )
