"""Signal recordings (.f32 little-endian float32, .npy, one-column .csv, .wav: PCM
8/16/24/32-bit, or float with scipy) with a labels file
(CSV: file, label, optional group) -> windowed tensors, the manifest's input section and the test segments.

Validation and test are held out by recording, or by group when the labels file has one (e.g. a machine or a
load), stratified by class: windows of one recording are never in two parts. Windows are z-scored one by one, as
the runtime does it (src/model/datasets/signal-segments.ts).
"""
import csv
import json
import shutil
import wave
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..datasets.cwru_bearing import zscore
from ..datasets.splits import Split
from . import splits as splitting
from .errors import DataError

SUFFIXES = {".f32", ".npy", ".csv", ".wav"}
WINDOW_MIN, WINDOW_MAX = 64, 2048
TRAIN_OVERLAP = 4  # training windows every window/4 samples (dense overlap is the augmentation); evaluation: every window


@dataclass
class Recording:
    path: Path
    label: int
    group: str
    samples: np.ndarray
    rate: float | None


def read_labels(path: Path):
    """Rows (file, label, group or None); a header row is recognised by its first cell reading 'file'."""
    if not path.is_file():
        raise DataError(path, "labels file not found (CSV: file, label, optional group)")
    rows = []
    with path.open(newline="") as f:
        for n, row in enumerate(csv.reader(f), start=1):
            cells = [c.strip() for c in row]
            if not cells or not any(cells) or cells[0].startswith("#"):
                continue
            if n == 1 and cells[0].lower() in ("file", "path", "filename"):
                continue
            if len(cells) < 2 or not cells[0] or not cells[1]:
                raise DataError(path, f"line {n}: expected file,label[,group], got {row}")
            rows.append((cells[0], cells[1], cells[2] if len(cells) > 2 and cells[2] else None))
    if not rows:
        raise DataError(path, "no rows")
    return rows


def read_signal(path: Path):
    """(1-D float32 samples, sample rate or None)."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(path, f"unsupported recording type (expected {', '.join(sorted(SUFFIXES))})")
    if not path.is_file():
        raise DataError(path, "listed in the labels file but not found")
    try:
        rate = None
        if suffix == ".f32":
            if path.stat().st_size % 4:
                raise DataError(path, f"{path.stat().st_size} bytes is not a whole number of float32 samples")
            data = np.fromfile(path, dtype="<f4")
        elif suffix == ".npy":
            data = np.load(path, allow_pickle=False)
        elif suffix == ".csv":
            data = np.genfromtxt(path, delimiter=",", dtype=np.float64, skip_header=_header_rows(path))
        else:
            rate, data = read_wav(path)
    except DataError:
        raise
    except Exception as error:  # numpy/scipy raise many kinds for a corrupt file
        raise DataError(path, f"cannot be read: {error.__class__.__name__}: {error}") from error
    data = np.asarray(data)
    if data.ndim == 2 and 1 in data.shape:
        data = data.reshape(-1)
    if data.ndim != 1:
        raise DataError(path, f"has shape {list(data.shape)}; one channel per recording is supported")
    if not np.isfinite(data).all():
        raise DataError(path, f"has {int((~np.isfinite(data)).sum())} non-finite samples (NaN or inf)")
    return data.astype(np.float32), (float(rate) if rate else None)


def read_wav(path: Path):
    """(sample rate, samples [n] or [n, channels]) scaled to [-1, 1): PCM with the standard library's wave module;
    floating-point WAV through scipy where it is installed."""
    try:
        with wave.open(str(path)) as w:
            rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
            raw = w.readframes(w.getnframes())
    except wave.Error as error:
        try:
            from scipy.io import wavfile
        except ImportError:
            raise DataError(path, f"{error} (floating-point WAV needs scipy; PCM WAV does not)") from None
        rate, data = wavfile.read(path)
        return rate, data
    if width == 3:  # 24-bit: sign-extend into int32
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        data = (b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8
    else:
        data = np.frombuffer(raw, {1: np.uint8, 2: "<i2", 4: "<i4"}[width]).astype(np.int64)
    if width == 1:
        data = data - 128
    data = data.astype(np.float64) / float(2 ** (8 * width - 1))
    return rate, data.reshape(-1, channels) if channels > 1 else data


def _header_rows(path: Path) -> int:
    with path.open() as f:
        first = f.readline().split(",")[0].strip()
    try:
        float(first)
        return 0
    except ValueError:
        return 1


def read_recordings(root: Path, labels_file: Path, classes=None):
    rows = read_labels(labels_file)
    names = sorted({label for _, label, _ in rows}) if classes is None else list(classes)
    if classes is not None and not {label for _, label, _ in rows} <= set(classes):
        raise DataError(labels_file, f"labels {sorted({l for _, l, _ in rows} - set(classes))} are not in the "
                                     f"training data's classes {classes}")
    if len(names) < 2:
        raise DataError(labels_file, f"found {len(names)} label(s); at least 2 classes are needed")
    recordings = []
    for file, label, group in rows:
        path = (root / file) if not Path(file).is_absolute() else Path(file)
        samples, rate = read_signal(path)
        recordings.append(Recording(path, names.index(label), group or file, samples, rate))
    rates = {r.rate for r in recordings if r.rate}
    if len(rates) > 1:
        raise DataError(labels_file, f"recordings have mixed sample rates {sorted(rates)}")
    return names, recordings


def choose_window(recordings, window=None) -> int:
    shortest = min(recordings, key=lambda r: len(r.samples))
    if window is None:
        window = WINDOW_MAX
        while window > WINDOW_MIN and window * 4 > len(shortest.samples):
            window //= 2
    if len(shortest.samples) < window:
        raise DataError(shortest.path, f"has {len(shortest.samples)} samples, fewer than one window of {window} "
                                       f"(set --window)")
    return window


def windows(recordings, window: int, hop: int) -> Split:
    xs, ys = [], []
    for r in recordings:
        starts = range(0, len(r.samples) - window + 1, hop)
        w = np.stack([r.samples[s:s + window] for s in starts])
        xs.append(zscore(w.astype(np.float64)))
        ys.append(np.full(len(w), r.label))
    x = torch.from_numpy(np.concatenate(xs).astype(np.float32)).unsqueeze(1)
    return Split(x, torch.from_numpy(np.concatenate(ys)).long())


def write_test_segments(recordings, classes, window: int, out: Path) -> int:
    """data/<name>/test-style segments for `edgeke eval`: one .f32 per test recording and index.json."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    segments = []
    for i, r in enumerate(recordings):
        name = f"{i:04d}_{r.path.stem}.f32"
        r.samples.astype("<f4").tofile(out / name)
        segments.append({"file": name, "class": classes[r.label], "source": str(r.path), "group": r.group,
                         "samples": int(len(r.samples))})
    (out / "index.json").write_text(json.dumps({
        "format": "float32 little-endian, one channel",
        "classes": classes,
        "evaluation": {"windowLength": window, "hop": window,
                       "windows": "start at sample 0 and every hop samples while they fit; each z-scored alone"},
        "segments": segments,
    }, indent=1) + "\n")
    return len(segments)


@dataclass
class SignalData:
    classes: list
    train: Split
    validation: Split
    test: Split
    test_recordings: list
    input: dict
    description: dict
    notes: list
    window: int


def load(root: Path, labels_file=None, test_root=None, window=None, hop=None, sample_rate=None,
         limit_per_class=None, seed: int = 0) -> SignalData:
    labels_file = labels_file or root / "labels.csv"
    classes, recordings = read_recordings(root, labels_file)
    test_recordings = None
    if test_root is not None:
        _, test_recordings = read_recordings(test_root, test_root / "labels.csv", classes)
    # A group belongs to its most common class, so it lands in one part as a whole.
    group_labels = defaultdict(Counter)
    for r in recordings:
        group_labels[r.group][r.label] += 1
    by_class = defaultdict(list)
    for group, counts in group_labels.items():
        by_class[classes[counts.most_common(1)[0][0]]].append(group)
    has_groups = any(group for _, _, group in read_labels(labels_file))
    unit = "groups" if has_groups else "recordings"
    parts_groups = splitting.split_groups(by_class, test_root is None, labels_file, seed, unit=unit)
    parts = {k: [r for r in recordings if r.group in set(v)] for k, v in parts_groups.items()}
    if test_recordings is not None:
        parts["test"] = test_recordings
    window = choose_window(recordings + (test_recordings or []), window)
    hop = hop or max(1, window // TRAIN_OVERLAP)
    data = {"train": windows(parts["train"], window, hop), "validation": windows(parts["validation"], window, window),
            "test": windows(parts["test"], window, window)}
    if limit_per_class:  # training and validation only: the test split stays what test/ holds for `edgeke eval`
        data = {k: v.subset(limit_per_class * len(classes), seed) if k != "test" else v for k, v in data.items()}
    rates = {r.rate for r in recordings if r.rate}
    rate = sample_rate or (rates.pop() if rates else None)
    notes = [] if rate else ["sample rate unknown (no .wav and no --sample-rate): the manifest says 1 Hz"]
    print(f"[data] {len(classes)} classes, {len(recordings)} recordings; window {window}, training hop {hop}; "
          + ", ".join(f"{k} {len(parts[k])} recordings / {len(data[k])} windows" for k in parts), flush=True)
    return SignalData(
        classes=classes, train=data["train"], validation=data["validation"], test=data["test"],
        test_recordings=parts["test"], window=window, notes=notes,
        input={"name": "input", "shape": [1, window], "layout": "NCL", "dtype": "float32",
               "preprocessing": {"kind": "signal", "windowLength": window, "sampleRateHz": rate or 1,
                                 "normalization": "zscore"}},
        description={
            "name": f"{root.name}: {len(recordings)} recordings in {len(classes)} classes",
            "source": str(root.resolve()),
            "split": (f"by {unit[:-1]}, stratified by class, seed {seed}: validation {splitting.VALIDATION_FRACTION:.0%}"
                      + (f" and test {splitting.TEST_FRACTION:.0%} of each class's {unit}" if test_root is None
                         else f" of each class's {unit}; test = the user's folder {Path(test_root).resolve()}")
                      + "; windows never cross recordings, no recording is in two parts"),
            "evaluation": {"windowLength": window, "hop": window, "trainingHop": hop},
        },
    )
