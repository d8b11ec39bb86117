"""Full recipe for one shipped model: teacher, KD students and no-KD ablation (seeds), calibration, export, report.

    /usr/bin/python3 -m training.train neu-surface            # writes models/neu-surface/
    /usr/bin/python3 -m training.train cwru-bearing --smoke --out /tmp/x   # CI: tiny subset, 1 epoch
"""
import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import torch

from . import calibration, manifest, report
from .flops import exit_costs
from .onnx_export import export_stages
from .paths import REPO_ROOT
from .recipes import RECIPES, smoke
from .trainer import accuracies, predict, train, validation_score

SMOKE_SIZES = {"train": 192, "validation": 64, "test": 64}


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python3 -m training.train", description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(RECIPES))
    parser.add_argument("--out", type=Path, help="model folder (default models/<name>)")
    parser.add_argument("--smoke", action="store_true", help="tiny subset, 1 epoch, 1 seed (needs --out or uses a temp dir)")
    parser.add_argument("--divergence", choices=["kl", "js", "wasserstein"])
    parser.add_argument("--beta", type=float)
    parser.add_argument("--temperature", type=float)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: on a shared 2-core box two 1-thread runs beat one "
                             "2-thread run, whose OpenMP barriers stall when a core is taken)")
    return parser.parse_args(argv)


def settings_dict(s) -> dict:
    d = dataclasses.asdict(s)
    d["augmentation"] = dataclasses.asdict(s.augmentation)
    return d


def run_student(recipe, splits, seed, teacher):
    label = f"{recipe.name} {'KD' if teacher is not None else 'no-KD'} seed {seed}"
    model, _ = train(recipe.student(len(splits.classes)), splits, recipe.student_settings, label, seed, teacher)
    val_p, test_p = predict(model, splits.validation.x), predict(model, splits.test.x)
    return {"seed": seed, "model": model, "val_p": val_p, "test_p": test_p,
            "validation": accuracies(val_p, splits.validation.y), "test": accuracies(test_p, splits.test.y)}


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(args.threads)
    started = time.time()
    recipe = RECIPES[args.name]
    if args.smoke:
        recipe = smoke(recipe)
    overrides = {k: v for k, v in (("divergence", args.divergence), ("beta", args.beta),
                                   ("temperature", args.temperature)) if v is not None}
    recipe = dataclasses.replace(recipe, student_settings=dataclasses.replace(recipe.student_settings, **overrides))
    out = args.out or (Path(tempfile.mkdtemp(prefix="edgeke-smoke-")) if args.smoke else REPO_ROOT / "models" / args.name)
    checkpoint = out / "student.pt" if args.smoke else REPO_ROOT / "training" / "checkpoints" / f"{args.name}.pt"

    splits = recipe.load()
    if args.smoke:
        for part, n in SMOKE_SIZES.items():
            setattr(splits, part, getattr(splits, part).subset(n))
    classes = splits.classes
    print(f"[{recipe.name}] train {len(splits.train)}, validation {len(splits.validation)}, test {len(splits.test)}",
          flush=True)

    teacher, _ = train(recipe.teacher(len(classes)), splits, recipe.teacher_settings, f"{recipe.name} teacher", 0)
    teacher_test = accuracies(predict(teacher, splits.test.x), splits.test.y)[0]
    print(f"[{recipe.name}] teacher test accuracy {teacher_test:.4f}", flush=True)

    kd_runs = [run_student(recipe, splits, seed, teacher) for seed in recipe.seeds]
    plain_runs = [run_student(recipe, splits, seed, None) for seed in recipe.seeds]
    weights = recipe.student_settings.exit_weights
    shipped = max(kd_runs, key=lambda r: (validation_score(r["validation"], weights), -r["seed"]))

    y_val, y_test = splits.validation.y.numpy(), splits.test.y.numpy()
    weights, vote_val = calibration.vote_weights(shipped["val_p"], y_val)
    vote_test = float((calibration.vote(shipped["test_p"], weights).argmax(1) == y_test).mean())
    exits = [{"testAccuracy": t, "validationAccuracy": v, "thresholds": calibration.thresholds(p, y_val)}
             for t, v, p in zip(shipped["test"], shipped["validation"], shipped["val_p"])]
    stop_loss = calibration.stop_losses(shipped["val_p"], y_val, [e["thresholds"] for e in exits])
    vote_levels = calibration.vote_by_level(shipped["val_p"], y_val, weights, [e["thresholds"] for e in exits])

    model = shipped["model"].eval()
    out.mkdir(parents=True, exist_ok=True)
    stages = export_stages(model, splits.test.x[:4], out)
    input_shape = recipe.input["shape"]
    teacher_cost = exit_costs(teacher, input_shape)[0]
    s = recipe.student_settings
    result = manifest.build(
        recipe, classes, stages, exit_costs(model, input_shape), exits,
        vote={"weights": weights, "validationAccuracy": vote_val, "testAccuracy": vote_test,
              "beatsLastExit": vote_val > shipped["validation"][-1], "byLevel": vote_levels},
        stop_loss=stop_loss,
        teacher={"architecture": teacher.architecture, "params": teacher_cost["params"],
                 "flops": teacher_cost["flops"], "testAccuracy": teacher_test},
        dataset=splits.description,
        training={
            "architecture": model.architecture,
            "distillation": {"divergence": s.divergence, "temperature": s.temperature, "beta": s.beta,
                             "appliedAt": "every exit",
                             "exitWeights": list(s.exit_weights or [1.0] * len(stages))},
            "epochs": s.epochs, "seed": shipped["seed"], "seeds": list(recipe.seeds),
            "student": settings_dict(s), "teacher": settings_dict(recipe.teacher_settings),
            "optimizer": "SGD momentum 0.9 Nesterov, one-cycle LR (25% warm-up), checkpoint = best mean validation "
                         "accuracy over exits, weighted by exitWeights",
            "command": f"/usr/bin/python3 -m training.train {args.name}" + (" --smoke" if args.smoke else ""),
            "smoke": args.smoke,
            "ablation": {
                "kd": [{"seed": r["seed"], "testAccuracy": r["test"], "validationAccuracy": r["validation"]}
                       for r in kd_runs],
                "noKd": [{"seed": r["seed"], "testAccuracy": r["test"], "validationAccuracy": r["validation"]}
                         for r in plain_runs],
            },
        },
    )
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), checkpoint)
    report.plot(out / "accuracy_vs_cost.png", result, kd_runs, plain_runs)
    result["training"]["durationSeconds"] = round(time.time() - started, 1)
    report.write(out / "REPORT.md", result, kd_runs, plain_runs, result["training"]["command"], shipped["seed"])
    manifest.write(result, out / "manifest.json")
    print(f"[{recipe.name}] exits test accuracy {[round(a, 4) for a in shipped['test']]}, "
          f"wrote {out} in {result['training']['durationSeconds']:.0f} s", flush=True)
    return result


if __name__ == "__main__":
    main()
