"""A folder with one subfolder of images per class -> preprocessed tensors, the manifest's input section and the
held-out test images the runtime evaluates on.

Decoding follows the runtime (src/decode/image.ts): 8-bit, luminance with PIL's ITU-R 601-2 weights for grey input,
bilinear resize to the input size only where an image differs from it, then (pixel/255 - mean) / std per channel.
"""
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..datasets.splits import Split
from ..progress import Progress
from . import idx, splits as splitting
from .errors import DataError

SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"}
RUNTIME_SUFFIXES = {".jpg", ".jpeg", ".png"}  # what the runtime decoder (sharp) reads; others are served as PNG
NATIVE_MAX = 256   # images that all share one size up to this are used as they are (no resize at all)
CHOSEN_MIN, CHOSEN_MAX = 16, 224


@dataclass
class ImageItem:
    path: Path  # for IDX data: a name to show and to write the test image under
    label: int
    pixels: np.ndarray | None = None  # decoded already (IDX data): [H, W, C] uint8


@dataclass
class Probe:
    size: tuple   # (width, height)
    colour: bool  # channels differ somewhere


def scan(root: Path, classes=None):
    """Class folders and their image files, sorted. `classes` (from the training folder) fixes names and order."""
    if not root.is_dir():
        raise DataError(root, "not a folder (expected one subfolder of images per class)")
    found = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    names = found if classes is None else list(classes)
    if classes is not None and set(found) != set(classes):
        missing, extra = sorted(set(classes) - set(found)), sorted(set(found) - set(classes))
        raise DataError(root, f"its class folders differ from the training data's: missing {missing}, extra {extra}")
    if len(names) < 2:
        raise DataError(root, f"found {len(names)} class folder(s); at least 2 are needed (one subfolder per class)")
    items, ignored = [], []
    for label, name in enumerate(names):
        files = sorted((p for p in (root / name).rglob("*") if p.is_file()), key=lambda p: str(p))
        images = [p for p in files if p.suffix.lower() in SUFFIXES]
        ignored += [p for p in files if p.suffix.lower() not in SUFFIXES and not p.name.startswith(".")]
        if not images:
            raise DataError(root / name, f"class '{name}' has no images ({', '.join(sorted(SUFFIXES))})")
        items += [ImageItem(p, label) for p in images]
    return names, items, ignored


def _to_8bit(image: Image.Image) -> Image.Image:
    """16-bit and 32-bit grey modes scaled to 8 bits (as the runtime's decoder does), not clipped."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or a.max() > 255 else 255.0
        return Image.fromarray(np.clip(a * 255.0 / top + 0.5, 0, 255).astype(np.uint8), "L")
    if image.mode == "F":
        a = np.asarray(image, dtype=np.float64)
        return Image.fromarray(np.clip(a + 0.5, 0, 255).astype(np.uint8), "L")
    return image


def _open(item: ImageItem) -> Image.Image:
    if item.pixels is not None:
        return Image.fromarray(item.pixels[..., 0] if item.pixels.shape[-1] == 1 else item.pixels)
    with Image.open(item.path) as image:
        image.load()
        return _to_8bit(image)


def probe(items, label: str) -> list:
    """Decodes every image once: its size and whether it has colour. All unreadable files are listed in one error."""
    progress, probes, bad = Progress(f"{label} read", len(items), every_s=10), [], []
    for i, item in enumerate(items):
        try:
            image = _open(item)
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as error:
            bad.append(f"{item.path} ({error.__class__.__name__}: {error})")
            continue
        colour = False
        if image.mode not in ("1", "L", "LA"):
            rgb = np.asarray(image.convert("RGB"))
            colour = bool((rgb[..., 0] != rgb[..., 1]).any() or (rgb[..., 1] != rgb[..., 2]).any())
        probes.append(Probe(image.size, colour))
        progress.step(i + 1, "decoding to check every file")
    if bad:
        raise DataError(bad[0].split(" (")[0], f"cannot be read as an image ({len(bad)} unreadable file(s)): "
                        + "; ".join(bad[:5]) + (" ..." if len(bad) > 5 else ""))
    return probes


def choose_input(probes, size=None, channels=None):
    """(width, height, channels) from the data unless given: one shared size up to NATIVE_MAX is kept as it is;
    otherwise a square of the median short side, within [CHOSEN_MIN, CHOSEN_MAX]. Grey unless some image has colour."""
    if channels is None:
        channels = 3 if any(p.colour for p in probes) else 1
    if size is not None:
        width, height = size
    else:
        sizes = {p.size for p in probes}
        if len(sizes) == 1 and max(next(iter(sizes))) <= NATIVE_MAX:
            width, height = next(iter(sizes))
        else:
            side = int(np.median([min(p.size) for p in probes]))
            width = height = int(min(max(side, CHOSEN_MIN), CHOSEN_MAX))
    return width, height, channels


def pixels(items, width: int, height: int, channels: int, label: str) -> np.ndarray:
    """uint8 [N, H, W, C] at the input size."""
    out = np.empty((len(items), height, width, channels), dtype=np.uint8)
    progress = Progress(f"{label} decode", len(items), every_s=10)
    for i, item in enumerate(items):
        image = _open(item).convert("L" if channels == 1 else "RGB")
        if image.size != (width, height):
            image = image.resize((width, height), Image.BILINEAR)
        out[i] = np.asarray(image).reshape(height, width, channels)
        progress.step(i + 1, f"to {channels}x{height}x{width}")
    return out


def normalisation(train_pixels: np.ndarray):
    """Per-channel mean and std of pixel/255 over the training part, rounded so the runtime copies them exactly."""
    v = train_pixels.reshape(-1, train_pixels.shape[-1]).astype(np.float64) / 255.0
    return [round(float(m), 4) for m in v.mean(0)], [round(max(float(s), 1e-3), 4) for s in v.std(0)]


def to_tensor(p: np.ndarray, mean, std) -> torch.Tensor:
    x = torch.from_numpy(p).float().permute(0, 3, 1, 2) / 255.0
    return (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)


def input_section(width: int, height: int, channels: int, mean, std) -> dict:
    return {
        "name": "input", "shape": [channels, height, width], "layout": "NCHW", "dtype": "float32",
        "preprocessing": {"kind": "image", "width": width, "height": height, "channels": channels,
                          "resize": "bilinear", "fit": "fill", "scale": 1 / 255, "mean": mean, "std": std},
    }


def write_test_folder(items, classes, out: Path) -> int:
    """The test images, one folder per class, for `edgeke eval`: JPEG and PNG byte for byte, others as PNG."""
    if out.exists():
        shutil.rmtree(out)
    for name in classes:
        (out / name).mkdir(parents=True)
    for item in items:
        target = out / classes[item.label] / item.path.name
        if target.exists():  # same name in two subfolders of one class
            target = target.with_name(f"{item.path.parent.name}_{item.path.name}")
        if item.pixels is None and item.path.suffix.lower() in RUNTIME_SUFFIXES:
            shutil.copyfile(item.path, target)
        else:
            _open(item).save(target.with_suffix(".png"))
    return len(items)


@dataclass
class ImageData:
    classes: list
    train: Split
    validation: Split
    test: Split
    test_items: list
    input: dict
    description: dict
    notes: list


def scan_idx(root: Path):
    """Class names, training items and the IDX test pair's items (None without one), pixels already decoded."""
    train_pair, test_pair = idx.pair(root, idx.TRAIN_PREFIXES), idx.pair(root, idx.TEST_PREFIXES)
    arrays = [idx.read_pair(*p) for p in (train_pair, test_pair) if p is not None]
    classes = idx.class_names(root, [y for _, y in arrays])
    as_items = lambda x, y, prefix: [ImageItem(root / f"{prefix}_{i:05d}.png", int(y[i]), x[i]) for i in range(len(y))]
    items = as_items(*arrays[0], "train")
    test_items = as_items(*arrays[1], "test") if test_pair is not None else None
    print(f"[data] IDX dataset: {train_pair[0].name} ({len(items)} images)"
          + (f", test split {test_pair[0].name} ({len(test_items)} images)" if test_items else ""), flush=True)
    return classes, items, test_items, (test_pair[0] if test_pair else None)


def load(root: Path, test_root=None, size=None, channels=None, limit_per_class=None, seed: int = 0) -> ImageData:
    test_items = None
    if idx.is_idx_folder(root):
        classes, items, test_items, idx_test = scan_idx(root)
        if test_root is not None:
            raise DataError(test_root, f"{root} is an IDX dataset; its test split is {idx_test or 'held out'}: "
                                       f"drop --test or put the test pair (t10k-*) in the folder")
        test_root = idx_test
        ignored = []
    else:
        classes, items, ignored = scan(root)
        if test_root is not None:
            _, test_items, _ = scan(test_root, classes)
    notes = [f"ignored {len(ignored)} file(s) that are not images, e.g. {ignored[0]}"] if ignored else []
    if limit_per_class:
        items = _limit(items, limit_per_class, seed)
        test_items = _limit(test_items, max(4, limit_per_class // 4), seed) if test_items else None
    groups = splitting.split_groups(
        splitting.by_class((i, classes[item.label]) for i, item in enumerate(items)), test_root is None, root,
        seed, unit="images")
    parts = {k: [items[i] for i in sorted(v)] for k, v in groups.items()}
    if test_items is not None:
        parts["test"] = test_items
    everything = parts["train"] + parts["validation"] + parts["test"]
    probes = probe(everything, "images")
    width, height, channels = choose_input(probes, size, channels)
    print(f"[data] {len(classes)} classes, {len(everything)} images; input {channels}x{height}x{width} "
          f"({'given' if size else 'chosen from the data'}); "
          + splitting.describe({k: len(v) for k, v in parts.items()}, "images"), flush=True)
    raw = {k: pixels(v, width, height, channels, f"images {k}") for k, v in parts.items()}
    mean, std = normalisation(raw["train"])
    resized = sum(p.size != (width, height) for p in probes)
    if resized:
        notes.append(f"{resized} of {len(probes)} images differ from the input size {width}x{height}: frames of other "
                     f"sizes are resized by the runtime (sharp) as here (Pillow), bilinear; check `edgeke eval`'s diff")
    as_split = lambda k: Split(to_tensor(raw[k], mean, std), torch.tensor([i.label for i in parts[k]]))
    sizes = sorted({p.size for p in probes})
    return ImageData(
        classes=classes, train=as_split("train"), validation=as_split("validation"), test=as_split("test"),
        test_items=parts["test"], input=input_section(width, height, channels, mean, std), notes=notes,
        description={
            "name": f"{root.name}: {len(everything)} images in {len(classes)} class folders",
            "source": str(root.resolve()),
            "split": (f"stratified by class, seed {seed}: validation {splitting.VALIDATION_FRACTION:.0%} and "
                      + (f"test {splitting.TEST_FRACTION:.0%} of each class's images held out at random"
                         if test_root is None else f"the test set is the fixed {Path(test_root).resolve()}")
                      + f"; {splitting.describe({k: len(v) for k, v in parts.items()}, 'images')}"),
            "imageSizes": [list(s) for s in sizes[:5]] + (["..."] if len(sizes) > 5 else []),
        },
    )


def _limit(items, n: int, seed: int):
    rng = np.random.default_rng(seed)
    out = []
    for label in sorted({i.label for i in items}):
        of_class = [i for i in items if i.label == label]
        keep = sorted(rng.permutation(len(of_class))[:n])
        out += [of_class[k] for k in keep]
    return out
