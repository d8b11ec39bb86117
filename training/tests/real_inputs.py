"""Real preprocessed test inputs read from the committed data/ folder (and the Fashion-MNIST Debian package)."""
import json

import numpy as np
import torch

from training.datasets import cwru_bearing, fashion_mnist, neu_surface
from training.paths import REPO_ROOT

DATA = REPO_ROOT / "data"


def neu(n: int) -> torch.Tensor:
    paths = sorted((DATA / "neu-surface" / "test").rglob("*.jpg"))[:: max(1, 359 // n)][:n]
    return neu_surface.preprocess(np.stack([neu_surface.decode(p) for p in paths]))


def cwru_test_windows():
    """All test windows with labels, cut exactly as data/cwru-bearing/test/index.json documents."""
    folder = DATA / "cwru-bearing" / "test"
    index = json.loads((folder / "index.json").read_text())
    length, hop = index["evaluation"]["windowLength"], index["evaluation"]["hop"]
    xs, ys = [], []
    for segment in index["segments"]:
        signal = np.fromfile(folder / segment["file"], dtype="<f4")
        windows = cwru_bearing.cut_windows(signal, hop) if length == cwru_bearing.WINDOW else None
        xs.append(cwru_bearing.zscore(windows))
        ys += [segment["label"]] * len(windows)
    return torch.from_numpy(np.concatenate(xs).astype(np.float32)).unsqueeze(1), np.array(ys)


def cwru(n: int) -> torch.Tensor:
    x, _ = cwru_test_windows()
    return x[:: len(x) // n][:n]


def fashion(n: int) -> torch.Tensor:
    return fashion_mnist.preprocess(fashion_mnist.read_idx("t10k-images-idx3-ubyte.gz")[:n])


INPUTS = {"neu-surface": neu, "cwru-bearing": cwru, "fashion-mnist": fashion}
