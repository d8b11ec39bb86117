"""Adds the validation-measured cost of confidence stops (calibration.stop_losses) to a shipped model's manifest,
from its training checkpoint, without retraining. New training runs write it themselves (train.py).

    /usr/bin/python3 -m training.calibrate_stop_losses neu-surface [cwru-bearing ...]

Reads the validation split through the one dataset setting (EDGEKE_DATASETS, see paths.py). Refuses when the
checkpoint's validation accuracies differ from the manifest's: the stop costs must describe the shipped weights.
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


def calibrate(name: str) -> list:
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
    entries = calibration.stop_losses(val_p, splits.validation.y.numpy(), [e["thresholds"] for e in manifest["exits"]])
    manifest["stopLoss"] = entries
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return entries


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m training.calibrate_stop_losses", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", choices=sorted(RECIPES))
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(1)
    for name in args.names:
        entries = calibrate(name)
        print(f"[{name}] {len(entries)} stop-loss entries:", flush=True)
        for e in entries:
            print(f"  exit {e['exit']} at {e['level']} vs exit {e['laterExit']}: {e['frames']} frames, "
                  f"loss {e['loss']:+.4f}, disagreement {e['disagreement']:.4f}", flush=True)


if __name__ == "__main__":
    main()
