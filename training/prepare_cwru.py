"""Turns the shared CWRU recordings into folders that the GENERIC `edgeke train` reads (recordings + labels.csv), for
the two protocols of issue #15 item 5. No training code of the shipped recipe is used; only its 10-class naming.

    /usr/bin/python3 -m training.prepare_cwru --out DIR [--protocol by-time|cross-load] [--test-load 3] [--chunks 5]
    edgeke train DIR/train --test DIR/test --window 2048 --sample-rate 12000 --out models/<name>

Writes DIR/train/{labels.csv, *.f32} and DIR/test/{labels.csv, *.f32}, 12 kHz float32.

- by-time (the shipped split): the last 20% of every recording is test; the first 80% is cut by time into
  --chunks contiguous pieces, and labels.csv gives each piece its own group (`<recording>#k`), so the generic
  command holds out whole pieces for validation: a validation window never overlaps a training window.
- cross-load: every recording of a fault at --test-load HP is test, those at the other loads are training (cut into
  pieces the same way). With --group-by load, a fault's pieces at one load share a group, so the command validates
  on a held-out training load (a validation that sees the shift the test has). The literature's harder protocol: a by-time split of one recording leaks (the same bearing,
  load and sensor mounting on both sides).

The one normal recording. CWRU has a single normal baseline (0 HP, 48 kHz), so the normal class cannot be split by
recording or by load: in both protocols its test part is its last 20% by time and its training/validation pieces
are cut from its first 80%, i.e. normal is always tested on unseen time of the same recording (as in the shipped
split), never on an unseen load. The generic splitter needs at least 3 groups per class when a test folder is
given; the time pieces are those groups. Each piece is decimated 48 -> 12 kHz on its own (the shipped model's
filter), so no filter tap reaches across a boundary.
"""
import argparse
import json
from pathlib import Path

import numpy as np

from .datasets.cwru_bearing import TEST_FRACTION, class_name
from .datasets.fir import decimate
from .paths import datasets_root

RATE = 12000


def pieces(raw: np.ndarray, rate: int, n: int):
    """n contiguous pieces of raw, each brought to 12 kHz alone."""
    factor = rate // RATE
    bounds = np.linspace(0, len(raw), n + 1).round().astype(int)
    return [decimate(raw[a:b], factor) if factor > 1 else raw[a:b].astype(np.float32)
            for a, b in zip(bounds[:-1], bounds[1:])]


def prepare(out: Path, protocol: str = "by-time", test_load: int = 3, chunks: int = 5, root: Path | None = None,
            group_by: str = "time"):
    root = root or datasets_root() / "cwru-bearing"
    index = json.loads((root / "index.json").read_text())
    rows = {"train": [], "test": []}
    for part in rows:
        (out / part).mkdir(parents=True, exist_ok=True)
    for meta in index["recordings"]:
        label = class_name(meta)
        if label is None:
            continue
        raw = np.fromfile(root / meta["file"], dtype="<f4")
        stem = Path(meta["file"]).stem
        rate = meta["sample_rate_hz"]
        if protocol == "cross-load" and label != "normal":
            # A fault at the test load is all test; at the training loads all training (nothing of it tested).
            test, train = (pieces(raw, rate, 1)[0], []) if meta["load_hp"] == test_load else (None, pieces(raw, rate, chunks))
        else:
            cut = int(round(len(raw) * (1 - TEST_FRACTION)))
            test, train = pieces(raw[cut:], rate, 1)[0], pieces(raw[:cut], rate, chunks)
        if test is not None:
            test.astype("<f4").tofile(out / "test" / f"{stem}.f32")
            rows["test"].append(f"{stem}.f32,{label},{stem}")
        for k, piece in enumerate(train):
            name = f"{stem}_{k}.f32"
            piece.astype("<f4").tofile(out / "train" / name)
            # By load: a fault's pieces at one load form one group, so validation is a held-out training load.
            # The normal class has one load: its time pieces stay its groups.
            group = f"{label}@{meta['load_hp']}hp" if group_by == "load" and label != "normal" else f"{stem}#{k}"
            rows["train"].append(f"{name},{label},{group}")
    for part, lines in rows.items():
        (out / part / "labels.csv").write_text("file,label,group\n" + "\n".join(lines) + "\n")
    return {part: len(lines) for part, lines in rows.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--protocol", choices=["by-time", "cross-load"], default="by-time")
    p.add_argument("--test-load", type=int, default=3, choices=[0, 1, 2, 3],
                   help="cross-load: the motor load (HP) whose fault recordings are the test set")
    p.add_argument("--chunks", type=int, default=5, help="time pieces per training recording (the split's groups)")
    p.add_argument("--group-by", choices=["time", "load"], default="time",
                   help="validation groups: time pieces (default), or the motor load (a held-out training load)")
    args = p.parse_args(argv)
    counts = prepare(args.out, args.protocol, args.test_load, args.chunks, group_by=args.group_by)
    print(f"wrote {args.out}/train ({counts['train']} files) and {args.out}/test ({counts['test']} files), "
          f"protocol {args.protocol}" + (f", test load {args.test_load} HP" if args.protocol == "cross-load" else ""))


if __name__ == "__main__":
    main()
