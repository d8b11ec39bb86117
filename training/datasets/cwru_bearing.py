"""CWRU bearing data, 10-class task, all four loads, 12 kHz drive-end windows.

Every recording is cut by time: first 70% train, next 10% validation, last 20% test (the dataset's fixed test split),
and windows are cut inside each part, so no window crosses a boundary.
"""
import json
from dataclasses import dataclass

import numpy as np
import torch

from ..paths import datasets_root
from .fir import decimate
from .splits import Split, Splits

SAMPLE_RATE_HZ = 12000
WINDOW = 2048
TRAIN_HOP = 256  # dense overlapping windows are the training augmentation
EVAL_HOP = 1024  # validation and test windows: start at 0 of the segment, every EVAL_HOP samples, while they fit
TEST_FRACTION = 0.2
VALIDATION_FRACTION = 0.1  # of the whole recording, taken from the end of the training 80%

CLASSES = [
    "normal",
    "inner_race_7", "inner_race_14", "inner_race_21",
    "ball_7", "ball_14", "ball_21",
    "outer_race_6_7", "outer_race_6_14", "outer_race_6_21",
]


@dataclass
class Recording:
    meta: dict       # the entry of the dataset's index.json
    label: int
    train: np.ndarray  # 12 kHz float32 segments
    validation: np.ndarray
    test: np.ndarray


def class_name(meta: dict):
    """The 10-class label of a recording, or None when it is not part of the task."""
    if meta["fault"] == "normal":
        return "normal"
    if meta["diameter_mils"] not in (7, 14, 21):
        return None
    if meta["fault"] == "outer_race":
        return f"outer_race_6_{meta['diameter_mils']}" if str(meta["outer_race_position"]) == "6" else None
    return f"{meta['fault']}_{meta['diameter_mils']}"


def _cut(raw: np.ndarray, rate: int):
    """Split by time at the raw sample rate first, then bring each part to 12 kHz on its own (no filter leakage)."""
    factor = rate // SAMPLE_RATE_HZ
    test_start = int(round(len(raw) * (1 - TEST_FRACTION)))
    val_start = int(round(len(raw) * (1 - TEST_FRACTION - VALIDATION_FRACTION)))
    parts = raw[:val_start], raw[val_start:test_start], raw[test_start:]
    return [decimate(p, factor) if factor > 1 else p.astype(np.float32) for p in parts]


def load_recordings() -> list:
    root = datasets_root() / "cwru-bearing"
    index = json.loads((root / "index.json").read_text())
    recordings = []
    for meta in index["recordings"]:
        name = class_name(meta)
        if name is None:
            continue
        raw = np.fromfile(root / meta["file"], dtype="<f4")
        train, validation, test = _cut(raw, meta["sample_rate_hz"])
        recordings.append(Recording(meta, CLASSES.index(name), train, validation, test))
    return recordings


def zscore(windows: np.ndarray) -> np.ndarray:
    """Per-window standardisation with the population std, as the runtime does it."""
    mean = windows.mean(axis=-1, keepdims=True)
    std = windows.std(axis=-1, keepdims=True)
    return (windows - mean) / (std + 1e-8)


def cut_windows(segment: np.ndarray, hop: int) -> np.ndarray:
    starts = range(0, len(segment) - WINDOW + 1, hop)
    return np.stack([segment[s:s + WINDOW] for s in starts])


def _split(recordings, part: str, hop: int) -> Split:
    xs, ys = [], []
    for rec in recordings:
        windows = cut_windows(getattr(rec, part), hop)
        xs.append(zscore(windows))
        ys.append(np.full(len(windows), rec.label))
    x = torch.from_numpy(np.concatenate(xs).astype(np.float32)).unsqueeze(1)  # NCL, C = 1
    return Split(x, torch.from_numpy(np.concatenate(ys)).long())


def load() -> Splits:
    recordings = load_recordings()
    return Splits(
        train=_split(recordings, "train", TRAIN_HOP),
        validation=_split(recordings, "validation", EVAL_HOP),
        test=_split(recordings, "test", EVAL_HOP),
        classes=CLASSES,
        description={
            "name": "CWRU bearing data (drive end), 10 classes, loads 0-3 HP",
            "split": (
                "by time within every recording: first 70% train, next 10% validation, last 20% test; windows never "
                "cross a boundary. The 48 kHz normal baseline is split first, then each part is decimated by 4 with "
                "a 129-tap Hamming windowed-sinc low-pass (cutoff 0.9 x 6 kHz)."
            ),
            "evaluation": {
                "windowLength": WINDOW, "hop": EVAL_HOP, "trainingHop": TRAIN_HOP,
                "protocol": (
                    f"for each test segment in data/cwru-bearing/test/index.json: windows start at sample 0 and every "
                    f"{EVAL_HOP} samples while start + {WINDOW} <= segment length; each window is z-scored on its own "
                    f"(population std, +1e-8); every window counts once"
                ),
            },
            "credit": (
                "Case Western Reserve University Bearing Data Center; public NumPy conversion of the original .mat "
                "files (Rigas et al., Sensors 24(16):5310, 2024)"
            ),
        },
    )
