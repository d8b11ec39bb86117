"""Recomputes the validation-calibrated parts of a shipped model's manifest that came after it was trained (the cost
of confidence stops, calibration.stop_losses; where the vote helps, calibration.vote_by_level) from its training
checkpoint, without retraining. New training runs write them themselves (train.py).

    /usr/bin/python3 -m training.recalibrate neu-surface [cwru-bearing ...]

Reads the validation split through the one dataset setting (EDGEKE_DATASETS, see paths.py). Refuses when the
checkpoint's validation accuracies differ from the manifest's: the figures must describe the shipped weights.
"""
import argparse
import json
import sys

import numpy as np
import torch

from . import calibration
from .paths import REPO_ROOT
from .recipes import RECIPES
from .trainer import accuracies, predict

TOLERANCE = 1e-3


def recalibrate(name: str) -> dict:
    path = REPO_ROOT / "models" / name / "manifest.json"
    manifest = json.loads(path.read_text())
    recipe = RECIPES[name]
    model = recipe.student(len(manifest["classes"]))
    model.load_state_dict(torch.load(REPO_ROOT / "training" / "checkpoints" / f"{name}.pt"))
    splits = recipe.load()
    val_p = predict(model, splits.validation.x)
    measured = accuracies(val_p, splits.validation.y)
    shipped = [e["validationAccuracy"] for e in manifest["exits"]]
    if not np.allclose(measured, shipped, atol=TOLERANCE):
        raise SystemExit(f"{name}: checkpoint validation accuracies {measured} differ from the manifest's {shipped}")
    labels = splits.validation.y.numpy()
    thresholds = [e["thresholds"] for e in manifest["exits"]]
    manifest["stopLoss"] = calibration.stop_losses(val_p, labels, thresholds)
    manifest["vote"]["byLevel"] = calibration.vote_by_level(val_p, labels, manifest["vote"]["weights"], thresholds)
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m training.recalibrate", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", choices=sorted(RECIPES))
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(1)
    for name in args.names:
        manifest = recalibrate(name)
        print(f"[{name}] stop costs (validation):", flush=True)
        for e in manifest["stopLoss"]:
            print(f"  exit {e['exit']} at {e['level']} vs exit {e['laterExit']}: {e['frames']} frames, "
                  f"loss {e['loss']:+.4f}, disagreement {e['disagreement']:.4f}", flush=True)
        for level, v in manifest["vote"]["byLevel"].items():
            print(f"  vote on the {v['frames']} frames no exit passes at {level}: {v['accuracy']:.4f} vs last exit "
                  f"{v['lastExitAccuracy']:.4f}", flush=True)


if __name__ == "__main__":
    main()
