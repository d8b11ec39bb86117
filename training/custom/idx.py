"""IDX image datasets (the MNIST family, e.g. Fashion-MNIST from the Debian package dataset-fashion-mnist): a folder
holding `<prefix>-images-idx3-ubyte[.gz]` with its `<prefix>-labels-idx1-ubyte[.gz]`, for the prefix `train` and
optionally `t10k` or `test`. The train pair is the data; the test pair, when present, is the fixed test split (as
`--test` would be). Classes are the label values (names from `classes.txt` in the folder, one a line, when there is
one). Images are 8-bit grey, [N, rows, cols] (a 4-D [N, rows, cols, 3] file is read as colour).
"""
import gzip
from pathlib import Path

import numpy as np

from .errors import DataError

DTYPES = {0x08: np.uint8}  # the only type an image dataset uses here; others are refused with the file
TRAIN_PREFIXES, TEST_PREFIXES = ("train",), ("t10k", "test")


def _find(root: Path, prefix: str, kind: str):
    for name in (f"{prefix}-{kind}", f"{prefix}-{kind}.gz"):
        if (root / name).is_file():
            return root / name
    return None


def pair(root: Path, prefixes):
    """(images file, labels file) for the first prefix that has an images file, else None."""
    for prefix in prefixes:
        images = _find(root, prefix, "images-idx3-ubyte")
        if images is not None:
            labels = _find(root, prefix, "labels-idx1-ubyte")
            if labels is None:
                raise DataError(images, f"has no labels file beside it ({prefix}-labels-idx1-ubyte[.gz])")
            return images, labels
    return None


def is_idx_folder(root: Path) -> bool:
    return root.is_dir() and pair(root, TRAIN_PREFIXES) is not None


def read(path: Path) -> np.ndarray:
    """One IDX file (gzip or not) as an array; a truncated or wrongly typed file is refused with its name."""
    try:
        raw = gzip.open(path, "rb").read() if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as error:
        raise DataError(path, f"cannot be read: {error.__class__.__name__}: {error}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(path, "is not an IDX file (the magic number must start with two zero bytes)")
    kind, dims = raw[2], raw[3]
    if kind not in DTYPES:
        raise DataError(path, f"has IDX element type 0x{kind:02x}; only unsigned bytes (0x08) are supported")
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    expected = 4 + 4 * dims + int(np.prod(shape))
    if len(raw) != expected:
        raise DataError(path, f"has {len(raw)} bytes; its header {shape} needs {expected}")
    return np.frombuffer(raw, dtype=DTYPES[kind], offset=4 + 4 * dims).reshape(shape)


def read_pair(images_path: Path, labels_path: Path):
    """(pixels uint8 [N, H, W, C], labels int64 [N])."""
    x, y = read(images_path), read(labels_path)
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in (1, 3)):
        raise DataError(images_path, f"has shape {list(x.shape)}; expected [N, rows, cols] or [N, rows, cols, 1|3]")
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(labels_path, f"has shape {list(y.shape)}; expected [{len(x)}] labels for {images_path.name}")
    return (x[..., None] if x.ndim == 3 else x), y.astype(np.int64)


def class_names(root: Path, labels) -> list:
    """Names for label values 0..max: classes.txt in the folder, else the numbers themselves."""
    count = int(max(int(l.max()) for l in labels)) + 1
    names_file = root / "classes.txt"
    if names_file.is_file():
        names = [line.strip() for line in names_file.read_text().splitlines() if line.strip()]
        if len(names) != count:
            raise DataError(names_file, f"names {len(names)} classes; the labels go up to {count - 1}")
        return names
    return [str(i) for i in range(count)]
