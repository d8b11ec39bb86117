"""Writes the test-split data the TypeScript side evaluates on (a fresh clone has no ../shared):

- data/neu-surface/test/<class>/*.jpg, copied byte for byte;
- data/cwru-bearing/test/*.f32 (the last 20% of every recording of the 10-class task, little-endian float32 at
  12 kHz, the normal baseline already decimated) and data/cwru-bearing/test/index.json.

    /usr/bin/python3 -m training.export_test_data
"""
import json
import shutil

from .datasets import cwru_bearing
from .paths import REPO_ROOT, datasets_root


def export_neu(out):
    source = datasets_root() / "neu-surface" / "test"
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(source, out)
    return sum(1 for _ in out.rglob("*.jpg"))


def export_cwru(out):
    out.mkdir(parents=True, exist_ok=True)
    segments = []
    for rec in cwru_bearing.load_recordings():
        name = rec.meta["file"].split("/")[-1]
        rec.test.astype("<f4").tofile(out / name)
        segments.append({
            "file": name, "class": cwru_bearing.CLASSES[rec.label], "label": rec.label,
            "fault": rec.meta["fault"], "diameter_mils": rec.meta["diameter_mils"],
            "outer_race_position": rec.meta["outer_race_position"], "load_hp": rec.meta["load_hp"],
            "rpm": rec.meta["rpm"], "source_sample_rate_hz": rec.meta["sample_rate_hz"],
            "sample_rate_hz": cwru_bearing.SAMPLE_RATE_HZ, "samples": int(len(rec.test)),
            "windows": len(range(0, len(rec.test) - cwru_bearing.WINDOW + 1, cwru_bearing.EVAL_HOP)),
        })
    index = {
        "format": "float32 little-endian, one channel, drive-end acceleration in g, 12 kHz",
        "classes": cwru_bearing.CLASSES,
        "split": "each file is the last 20% (by time) of one recording: the fixed test split, never used in training",
        "decimation": "the 48 kHz normal baseline: its last 20% decimated by 4 after a 129-tap Hamming windowed-sinc "
                      "low-pass at 0.9 x 6 kHz (training/datasets/fir.py)",
        "evaluation": {
            "windowLength": cwru_bearing.WINDOW, "hop": cwru_bearing.EVAL_HOP,
            "windows": "start at sample 0 of each file and every `hop` samples while start + windowLength <= samples",
            "normalization": "per window: (x - mean(x)) / (std(x) + 1e-8), population std",
            "accuracy": "correct windows / all windows, pooled over all files",
            "totalWindows": sum(s["windows"] for s in segments),
        },
        "segments": segments,
    }
    (out / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    return index["evaluation"]["totalWindows"]


def main():
    data = REPO_ROOT / "data"
    print("neu-surface test images:", export_neu(data / "neu-surface" / "test"))
    print("cwru-bearing test windows:", export_cwru(data / "cwru-bearing" / "test"))


if __name__ == "__main__":
    main()
