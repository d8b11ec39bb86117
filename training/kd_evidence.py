"""Distillation evidence for `edgeke train`'s students (issue #15 item 4): the same student trained with and without
the teacher, several seeds each, per exit, with a paired 95% interval of KD minus no-KD; on a capacity-bound setting
(a tiny student, a low input resolution, few labels per class) and on a less bound one.

    /usr/bin/python3 -m training.kd_evidence <data> --student 8x1 [--size 14] [--labels-per-class 500]
        [--epochs 15] [--teacher-width 32] [--teacher-epochs 15] [--seeds 0,1,2] --out results.json

<data> is anything `edgeke train` reads (class folders, an IDX folder, recordings with labels.csv). The split is the
generic command's (seeded, stratified; an IDX test pair is the test split). The teacher is trained once on the same
training images the students see (no extra labels: the only thing KD adds is the teacher's soft outputs), then its
logits are cached once and every KD student reads them. KD and no-KD runs of a seed share the initial weights, the
batch order and the epochs. Numbers are on the test split; the checkpoint is chosen on validation as everywhere.
"""
import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from .augment import Augmentation
from .custom import architecture
from .datasets.splits import Split
from .recipes import Settings
from .train_data import load_data
from .trainer import accuracies, predict, teacher_logits_cache, train

T_975 = {2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776}  # Student's t, two-sided 95%, by number of seeds (df = n - 1)


def per_class(split: Split, n: int, seed: int) -> Split:
    """The first n of each class in a seeded order (few labels)."""
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))
    keep = torch.cat([order[split.y[order] == c][:n] for c in split.y.unique()])
    return Split(split.x[keep], split.y[keep])


def interval(diffs):
    """(mean, half-width of the 95% t interval) of paired differences."""
    d = np.asarray(diffs, dtype=float)
    if len(d) < 2:
        return float(d.mean()), float("nan")
    return float(d.mean()), float(T_975.get(len(d), 2.0) * d.std(ddof=1) / np.sqrt(len(d)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", type=Path)
    p.add_argument("--student", default="8x1", help="width x depth of the generic student (architecture.Family)")
    p.add_argument("--size", help="images: input size (low resolution: e.g. 14 for 28 px data)")
    p.add_argument("--labels-per-class", type=int, help="few labels: training examples per class")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--teacher-width", type=int, default=32)
    p.add_argument("--teacher-epochs", type=int, default=15)
    p.add_argument("--augment", default="")
    p.add_argument("--window", type=int)
    p.add_argument("--hop", type=int)
    p.add_argument("--test", type=Path)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--temperature", type=float, default=4.0)
    p.add_argument("--beta", type=float, default=0.1)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(1)
    started = time.time()
    loader_args = SimpleNamespace(data=args.data, labels=None, test=args.test, size=args.size, channels=None,
                                  window=args.window, hop=args.hop, sample_rate=None, smoke=False, seed=0)
    data, task, shape = load_data(loader_args)
    if args.labels_per_class:
        data.train = per_class(data.train, args.labels_per_class, 0)
    augmentation = Augmentation(hflip="hflip" in args.augment, vflip="vflip" in args.augment)
    batch = 32 if task == "image-classification" else 64
    base = Settings(epochs=args.epochs, lr=0.05, batch_size=batch, augmentation=augmentation,
                    temperature=args.temperature, beta=args.beta)
    classes = len(data.classes)
    teacher, _ = train(architecture.teacher_net(shape, classes, args.teacher_width), data,
                       dataclasses.replace(base, epochs=args.teacher_epochs), "teacher", 0)
    teacher_test = accuracies(predict(teacher, data.test.x), data.test.y)[-1]
    teacher_val = accuracies(predict(teacher, data.validation.x), data.validation.y)[-1]
    cache = teacher_logits_cache(teacher, data.train.x, augmentation)
    width, depth = (int(v) for v in args.student.lower().split("x"))
    family = architecture.Family(width, depth)
    runs = {"kd": [], "noKd": []}
    for seed in (int(s) for s in args.seeds.split(",")):
        for kind in runs:
            torch.manual_seed(seed)  # the same initial weights for the KD and the no-KD run of a seed
            net = architecture.candidate_net(shape, family, classes)
            model, _ = train(net, data, base, f"{kind} seed {seed}", seed, cache=cache if kind == "kd" else None)
            runs[kind].append({"seed": seed, "test": accuracies(predict(model, data.test.x), data.test.y),
                               "validation": accuracies(predict(model, data.validation.x), data.validation.y)})
    exits = len(runs["kd"][0]["test"])
    summary = []
    for k in range(exits):
        kd = [r["test"][k] for r in runs["kd"]]
        no = [r["test"][k] for r in runs["noKd"]]
        mean, half = interval([a - b for a, b in zip(kd, no)])
        summary.append({"unit": k + 1, "kdMean": float(np.mean(kd)), "noKdMean": float(np.mean(no)),
                        "kdStd": float(np.std(kd, ddof=1)), "noKdStd": float(np.std(no, ddof=1)),
                        "diffMean": mean, "diff95": half})
    result = {"data": str(args.data), "task": task, "input": data.input["shape"], "student": family.describe(),
              "trainExamples": len(data.train), "validationExamples": len(data.validation),
              "testExamples": len(data.test), "epochs": args.epochs,
              "teacher": {"architecture": teacher.architecture, "epochs": args.teacher_epochs,
                          "testAccuracy": teacher_test, "validationAccuracy": teacher_val},
              "distillation": {"temperature": args.temperature, "beta": args.beta, "divergence": base.divergence},
              "runs": runs, "perExit": summary, "seconds": round(time.time() - started, 1),
              "command": "python3 -m training.kd_evidence " + " ".join(sys.argv[1:] if argv is None else argv)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"[kd evidence] teacher test {teacher_test:.4f}; per exit (test, mean of {len(runs['kd'])} seeds): "
          + "; ".join(f"unit {s['unit']}: KD {100 * s['kdMean']:.2f} vs no-KD {100 * s['noKdMean']:.2f}, "
                      f"diff {100 * s['diffMean']:+.2f} +- {100 * s['diff95']:.2f}" for s in summary), flush=True)
    return result


if __name__ == "__main__":
    main()
