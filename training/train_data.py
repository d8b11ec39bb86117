"""`edgeke train`: a folder of labelled data -> a distilled multi-exit model folder and a ready flow file.

    /usr/bin/python3 -m training.train_data <data> --out models/<name> [--smoke] [--minutes N] [...]

<data> is a folder with one subfolder of images per class, or a folder of signal recordings with labels.csv
(file, label, optional group). Validation and test parts are held out automatically (stratified by class; signals by
recording or group); --test <folder> brings a fixed test set instead. Every choice (student width and depth, exits,
checkpoint, thresholds) is made on validation data; the test split is only measured. Exit code 2: bad input.
"""
import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from . import calibration, manifest, report
from .augment import Augmentation
from .custom import architecture, exits as exit_choice, images, signals
from .custom.choice import final_first, prefer_first
from .custom.budget import Budget, plan_epochs, search_plan, seconds_per_epoch, widest_fitting
from .custom.errors import DataError
from .custom.flow import flow_yaml
from .custom.onnx_teacher import OnnxTeacher, onnx_params
from .flops import exit_costs
from .onnx_export import export_stages
from .recipes import Settings
from .trainer import accuracies, predict, teacher_logits_cache, train

PHASES = ["data", "teacher", "search", "no-KD twin and longer run", "exits and calibration", "export"]
SMOKE_PER_CLASS = 40
# The student cap only bounds a run without --minutes: under a budget the time left sets the epochs (a 40-epoch cap
# left 17-23 of NEU's 41-48 minutes unused).
MAX_EPOCHS = {"teacher": 30, "student": 200}
UNBOUNDED_STUDENT_EPOCHS = 40  # without --minutes
DEFAULT_MINUTES = 60
TEACHER_SHARE, SEARCH_SHARE = 0.3, 0.4  # of what is left at the phase's start (after the reserve)
TEACHER_WIDTHS, TEACHER_MIN_EPOCHS = (8, 16, 32, 64), 10  # the widest teacher that gets at least this many epochs
# ... at this many times its timed speed: a few steps are timed in a quiet moment, and on a shared machine training
# ran at about half that (NEU's first retrain's teacher; Fashion-MNIST's first 85-minute try: stem 64 planned for
# 11 epochs at 86 s, 303 s for its first epoch and 880 s for 72% of its second).
TEACHER_SLOWDOWN = 2.0
SEARCH_MIN_EPOCHS = 5  # a student size that would get fewer in its share of the search is not tried
# The search tries every size its budget allows and keeps the cheapest whose final exit is within validation noise of
# the best one's (one standard error, `min_gain`: the one-standard-error rule). Stopping at the first size step
# that gained too little (a fixed 0.5 point, then one standard error) ended Fashion-MNIST's searches at 16x1: the
# depth step to 16x2 gains +0.17-0.37 point there, within the noise, and the width step to 32x2, the size that
# reaches the shipped model, was never tried.


def teacher_width(shape, classes, data, settings, deadline) -> int:
    """The widest of TEACHER_WIDTHS expected to train TEACHER_MIN_EPOCHS epochs by the deadline, each width timed on
    a real batch (a width-squared guess from the narrowest overrated the cost of small networks: Fashion-MNIST's
    68-minute run got a 2.5 MFLOP teacher that its 1.1 MFLOP student nearly matched)."""
    if deadline is None:
        return TEACHER_WIDTHS[-1]
    timed = lambda w: TEACHER_SLOWDOWN * seconds_per_epoch(architecture.teacher_net(shape, classes, width=w), data,
                                                           settings, False)[0]
    return widest_fitting(TEACHER_WIDTHS, timed, deadline - time.time(), min(TEACHER_MIN_EPOCHS, settings.epochs))


def grows(searched, chosen, tried: int, sizes: int, n: int) -> bool:
    """Whether the time after the search goes to the next student size: the budget let the search try fewer than all
    `sizes` (it tried `tried`), the largest it tried is the one it kept, and a larger size could still gain more than
    `min_gain` over it on its `n` validation examples (a kept size at 246 of 247 cannot: CWRU by-time's search kept
    8x1 there)."""
    return (len(searched) == tried < sizes and chosen is searched[-1]
            and still_gaining(chosen["validation"][-1], 1.0, n))


def min_gain(accuracy: float, n: int) -> float:
    """Validation noise at an accuracy measured on `n` examples: its binomial standard error, with the add-one
    (Laplace) estimate of the accuracy so that a saturated validation set does not claim to have none (at 246 of
    247 it is 0.57 point, more than the one example left to gain). 0.28 point at 92.5% of Fashion-MNIST's 9,000
    validation images, 0.91 at 213 of NEU's 216."""
    p = (accuracy * n + 1) / (n + 2)
    return (p * (1 - p) / max(n, 1)) ** 0.5


def still_gaining(kept_final: float, final: float, n: int) -> bool:
    """Whether a larger student size is worth its cost: its final exit gains more than validation noise (`min_gain`:
    one standard error of the kept size's accuracy on the `n` validation examples) over the kept one. One seed
    cannot tell a real gain from a lucky one much more finely than that."""
    return final - kept_final > min_gain(kept_final, n)


def cheapest_within_noise(per_size, n: int):
    """The size the search keeps: of the sizes tried (cheapest first), the cheapest whose final exit on validation is
    within one standard error of the best one's, i.e. no larger size is still gaining over it (the one-standard-error
    rule). The teacher is no reason to stop: a teacher cut short by its share of the budget is a weak target
    (Fashion-MNIST's 85-minute run stopped at 16x1, 91.97% on test, within 1 point of a 93.19%-validation teacher,
    where 32x2 without a teacher reached 93.36% on validation in 12 epochs)."""
    best = max(r["validation"][-1] for r in per_size)
    return next(r for r in per_size if not still_gaining(r["validation"][-1], best, n))


def reserve(budget) -> float:
    """Seconds kept for calibration, export and the report: 20 s plus 5% of what is left."""
    return 20 + 0.05 * budget.left() if budget.end is not None else 0.0


def parse_args(argv):
    p = argparse.ArgumentParser(prog="edgeke train", description=__doc__.splitlines()[0])
    p.add_argument("data", type=Path, help="image class folders, or recordings with labels.csv")
    p.add_argument("--out", type=Path, required=True, help="model folder to write (manifest, stage ONNX, report)")
    p.add_argument("--name", help="model name (default: the --out folder's name)")
    p.add_argument("--test", type=Path, help="a fixed test folder (same layout as <data>) instead of a held-out one")
    p.add_argument("--labels", type=Path, help="signals: labels CSV (default <data>/labels.csv)")
    p.add_argument("--size", help="images: input size, N or WxH (default: chosen from the data)")
    p.add_argument("--channels", type=int, choices=[1, 3], help="images: 1 grey, 3 colour (default: from the data)")
    p.add_argument("--window", type=int, help="signals: window length in samples (default: chosen from the data)")
    p.add_argument("--hop", type=int, help="signals: training hop in samples (default window/4)")
    p.add_argument("--sample-rate", type=float, help="signals: sample rate in Hz (default: from .wav headers)")
    p.add_argument("--augment", default="", help="comma list of hflip, vflip (images; default none)")
    p.add_argument("--teacher", type=Path, help="your own classifier as ONNX (same input as the student, logits out)")
    p.add_argument("--exits", help="number of exits (default 3), or the candidate units to keep, e.g. 2,5,9")
    p.add_argument("--max-mflops", type=float, help="largest final-exit cost in MFLOPs (batch 1)")
    p.add_argument("--minutes", type=float, help=f"bound on the whole run (default {DEFAULT_MINUTES}; none with "
                   f"--smoke); the output is complete when it ends")
    p.add_argument("--smoke", action="store_true", help=f"CI: <= {SMOKE_PER_CLASS} images (or windows) per class, a few epochs, one student size")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--flow-model-path", help="model path written into the flow file (default: --out as given)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    return p.parse_args(argv)


def parse_size(text):
    if text is None:
        return None
    w, _, h = text.lower().partition("x")
    try:
        size = (int(w), int(h or w))
    except ValueError:
        raise DataError("--size", f"expected N or WxH, got {text!r}") from None
    if min(size) < 8 or max(size) > 1024:
        raise DataError("--size", f"{size[0]}x{size[1]} is outside 8..1024")
    return size


def is_signal_folder(args) -> bool:
    return args.labels is not None or (args.data / "labels.csv").is_file()


def load_data(args):
    limit = SMOKE_PER_CLASS if args.smoke else None
    if is_signal_folder(args):
        d = signals.load(args.data, args.labels, args.test, args.window, args.hop, args.sample_rate, limit, args.seed)
        return d, "signal-classification", architecture.Shape(1, 1, d.window)
    d = images.load(args.data, args.test, parse_size(args.size), args.channels, limit, args.seed)
    c, h, w = d.input["shape"]
    return d, "image-classification", architecture.Shape(2, c, min(h, w), (h, w) if h != w else ())


def run_summary(model, data, label, seed, **extra):
    val_p, test_p = predict(model, data.validation.x), predict(model, data.test.x)
    return {"seed": seed, "label": label, "model": model, "val_p": val_p, "test_p": test_p,
            "validation": accuracies(val_p, data.validation.y), "test": accuracies(test_p, data.test.y), **extra}


def best_run(runs):
    """The run ranked first on validation (final exit, then mean over exits); the earliest on a tie."""
    return max(runs, key=lambda r: (final_first(r["validation"]), -runs.index(r)))


def at_units(run, keep):
    """A run's figures at the kept units only (the shape report.py and calibration expect)."""
    pick = lambda xs: [xs[k - 1] for k in keep]
    return {**run, "val_p": pick(run["val_p"]), "test_p": pick(run["test_p"]),
            "validation": pick(run["validation"]), "test": pick(run["test"])}


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return build(args)
    except DataError as error:
        print(f"edgeke train: {error}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def build(args):
    torch.set_num_threads(args.threads)
    minutes = args.minutes if args.minutes is not None else (None if args.smoke else DEFAULT_MINUTES)
    budget = Budget(minutes, PHASES)
    out = args.out.resolve()
    name = args.name or out.name
    notes = []

    budget.phase("data", f"reading {args.data}")
    for path, what in ((args.data, "data folder"), (args.test, "test folder"), (args.teacher, "teacher model"),
                       (args.labels, "labels file")):
        if path is not None and not path.exists():
            raise DataError(path, f"{what} not found")
    data, task, shape = load_data(args)
    notes += data.notes
    classes = data.classes
    augmentation = Augmentation(hflip="hflip" in args.augment, vflip="vflip" in args.augment)
    if task == "signal-classification" and (augmentation.hflip or augmentation.vflip):
        raise DataError("--augment", "flips are for images")
    batch = 32 if task == "image-classification" else 64
    student_epochs = MAX_EPOCHS["student"] if minutes is not None else UNBOUNDED_STUDENT_EPOCHS
    settings = Settings(epochs=student_epochs, lr=0.05, batch_size=batch, augmentation=augmentation,
                        checkpoint_final_first=True)
    teacher_settings = dataclasses.replace(settings, epochs=MAX_EPOCHS["teacher"])
    if args.smoke:
        settings, teacher_settings = (dataclasses.replace(s, epochs=e) for s, e in ((settings, 6), (teacher_settings, 4)))
    input_shape = data.input["shape"]

    families = architecture.families(args.smoke)
    # An image student's last exit head: global pooling, or dense over the last feature map; both are tried at the
    # cheapest size and the better on validation is used for every larger size (custom/architecture.py).
    heads = ("gap", "dense") if task == "image-classification" and not args.smoke else ("gap",)
    with_heads = lambda f: [dataclasses.replace(f, head=h) for h in heads]
    costs = {v: exit_costs(architecture.candidate_net(shape, v, len(classes)), input_shape)
             for f in families for v in with_heads(f)}
    if args.max_mflops is not None:
        fitting = [f for f in families if max(costs[v][-1]["flops"] for v in with_heads(f)) <= args.max_mflops * 1e6]
        if not fitting:
            cheapest = min(costs[f][-1]["flops"] for f in families) / 1e6
            raise DataError("--max-mflops", f"no student fits {args.max_mflops} MFLOPs; the cheapest costs {cheapest:.2f}")
        families = fitting

    # Teacher: the user's ONNX (run once over the training data), or trained here, as wide as its share allows.
    variants = len(augmentation.variants())
    passes = variants + (len(data.validation) + len(data.test)) / max(len(data.train), 1)
    if args.teacher is not None:
        budget.phase("teacher", f"running {args.teacher} once over the training data")
        teacher = OnnxTeacher(args.teacher, input_shape, len(classes))
        teacher_info = {"architecture": teacher.architecture, "params": onnx_params(args.teacher), "flops": None,
                        "source": str(args.teacher.resolve()), "runtime": teacher.runtime}
    else:
        deadline = budget.deadline(TEACHER_SHARE, reserve=reserve(budget))
        width = 8 if args.smoke else teacher_width(shape, len(classes), data, teacher_settings, deadline)
        net = architecture.teacher_net(shape, len(classes), width=width)
        epochs = plan_epochs(net, data, teacher_settings, deadline, teacher_settings.epochs, False, passes)
        teacher_settings = dataclasses.replace(teacher_settings, epochs=epochs)
        budget.phase("teacher", f"training {net.architecture}, {epochs} epoch(s)")
        teacher, _ = train(net, data, teacher_settings, "teacher", args.seed,
                           deadline=None if deadline is None else deadline - (deadline - time.time()) * 0.1)
        cost = exit_costs(teacher, input_shape)[0]
        teacher_info = {"architecture": teacher.architecture, "params": cost["params"], "flops": cost["flops"],
                        "source": "trained by edgeke train", "epochs": epochs}
    t0 = time.time()
    cache = teacher_logits_cache(teacher, data.train.x, augmentation, label="teacher logits")
    teacher_val_p, teacher_test_p = predict(teacher, data.validation.x)[-1], predict(teacher, data.test.x)[-1]
    teacher_info["validationAccuracy"] = float((teacher_val_p.argmax(1) == data.validation.y.numpy()).mean())
    teacher_info["testAccuracy"] = float((teacher_test_p.argmax(1) == data.test.y.numpy()).mean())
    print(f"[teacher] logits computed once over {len(data.train)} training inputs x {variants} flip variant(s) in "
          f"{time.time() - t0:.1f} s; validation accuracy {teacher_info['validationAccuracy']:.4f}", flush=True)

    # Search: students from the cheapest up, with distillation, as many as the time budget allows; the cheapest size
    # within validation noise of the best is kept (`cheapest_within_noise`). The teacher's validation accuracy is what
    # the report compares the final exit with, not a reason to stop. The cheapest size is tried with each last head
    # first; larger sizes use the better-scoring head.
    searched = []
    search_end = budget.deadline(SEARCH_SHARE, reserve=reserve(budget))
    plan = with_heads(families[0]) + families[1:]
    nets = [architecture.candidate_net(shape, f, len(classes)) for f in plan]
    if search_end is None:
        times, search_epochs = [1.0] * len(plan), settings.epochs
    else:
        times, search_epochs = search_plan(
            lambda i: seconds_per_epoch(nets[i], data, settings, True)[0], len(plan), search_end - time.time(),
            min(SEARCH_MIN_EPOCHS, settings.epochs), settings.epochs)
    if len(times) < len(plan):
        f = plan[len(times)]
        notes.append(f"the time budget let the search try {len(times)} of {len(plan)} student sizes and heads at "
                     f"{search_epochs} epoch(s) each (with the next, {f.describe()}, each would get fewer than "
                     f"{SEARCH_MIN_EPOCHS})")
    head, per_size = heads[0], []
    for i, family in enumerate(plan[:len(times)]):
        net = nets[i]
        if i >= len(heads) and family.head != head:
            family = dataclasses.replace(family, head=head)
            net = architecture.candidate_net(shape, family, len(classes))
        # Each size's share of what is left of the search is its planned time: a size that ran faster or slower
        # than timed gives or takes from the sizes after it, and its schedule anneals by its deadline either way.
        deadline = None if search_end is None else time.time() + (search_end - time.time()) * times[i] / sum(times[i:])
        s = dataclasses.replace(settings, epochs=search_epochs)
        budget.phase("search", f"student {i + 1}/{len(times)} ({family.describe()}, "
                               f"{costs[family][-1]['flops'] / 1e6:.2f} MFLOPs, {s.epochs} epoch(s))")
        model, history = train(net, data, s, f"student {family.describe()} KD", args.seed, deadline=deadline, cache=cache)
        # The epochs it ran, not those planned: a size that ran slower than timed is cut at its deadline (Fashion-
        # MNIST's 16x1 ran 12 of 17), and its no-KD twin is to get the same number.
        searched.append(run_summary(model, data, "KD", args.seed, family=family, epochs=len(history)))
        if i < len(heads) - 1:
            continue  # the cheapest size's other head first
        run = searched[-1]
        if i == len(heads) - 1 and len(heads) > 1:
            run = best_run(searched)
            head = run["family"].head
            tried = ", ".join(f"{r['family'].head} {100 * r['validation'][-1]:.2f}%" for r in searched)
            print(f"[edgeke train] last exit head: {head} (final exit on validation: {tried})", flush=True)
        per_size.append(run)
    n_val = len(data.validation)
    chosen = cheapest_within_noise(per_size, n_val) if per_size else best_run(searched)
    top = max(per_size or searched, key=lambda r: r["validation"][-1])
    if top is not chosen:
        notes.append(f"the search kept {chosen['family'].describe()} ({100 * chosen['validation'][-1]:.2f}% on "
                     f"validation): the best size, {top['family'].describe()} ({100 * top['validation'][-1]:.2f}%), "
                     f"is within one standard error of it ({100 * min_gain(chosen['validation'][-1], n_val):.2f} "
                     f"points on {n_val} examples)")
    family = chosen["family"]

    # The no-KD twin: the kept size without the teacher, for as many epochs as its distilled search run had (the
    # same batch order), so the two compare at equal training; the better on validation decides
    # whether the longer run below uses the teacher. (It used to be trained after the longer run for as many epochs
    # as that: on Fashion-MNIST it then took half of the time after the search, and the kept size got 24 epochs
    # where that time would have bought about 50.)
    twin_end = budget.deadline(0.5, reserve=reserve(budget))
    net = architecture.candidate_net(shape, family, len(classes))
    s = dataclasses.replace(settings, epochs=chosen["epochs"])
    budget.phase("no-KD twin and longer run", f"no-KD twin: {family.describe()}, {s.epochs} epoch(s), as its KD run")
    model, history = train(net, data, s, f"student {family.describe()} no-KD", args.seed, deadline=twin_end)
    plain = run_summary(model, data, "no-KD", args.seed, family=family, epochs=len(history))
    pair_kd = chosen
    distilled = prefer_first(chosen["validation"], plain["validation"])
    best = chosen if distilled else plain

    # The kept size again with the rest of the time, with or without the teacher as the twins decided, when that buys
    # more epochs (kept if better on validation). When the budget stopped the
    # search below the largest size while the largest tried was still the best, the longer run goes to the next size
    # up instead if it gets at least the search's epochs: the time left then buys a larger student, not more epochs
    # of one the search already trained.
    end = budget.deadline(1.0, reserve=reserve(budget))
    rerun = family
    if grows(searched, chosen, len(times), len(plan), n_val) and not args.smoke:
        bigger = plan[len(times)]
        bigger = dataclasses.replace(bigger, head=head) if len(times) >= len(heads) else bigger
        if plan_epochs(architecture.candidate_net(shape, bigger, len(classes)), data, settings, end,
                       settings.epochs, distilled) >= search_epochs:
            rerun = bigger
    net = architecture.candidate_net(shape, rerun, len(classes))
    epochs = plan_epochs(net, data, settings, end, settings.epochs, distilled)
    shipped_run = best
    if (epochs > best["epochs"] or rerun != family) and not args.smoke:
        what = "the kept student" if rerun == family else "the next student size"
        kind = "KD" if distilled else "no-KD"
        budget.phase("no-KD twin and longer run", f"{what} ({rerun.describe()}, {kind}, "
                     f"{costs[rerun][-1]['flops'] / 1e6:.2f} MFLOPs) for {epochs} epoch(s)")
        model, history = train(net, data, dataclasses.replace(settings, epochs=epochs), f"student {rerun.describe()} {kind}",
                         args.seed, deadline=end, cache=cache if distilled else None)
        longer = run_summary(model, data, kind, args.seed, family=rerun, epochs=len(history))
        searched.append(longer)
        if prefer_first(longer["validation"], best["validation"]):
            shipped_run = longer
        else:
            notes.append(f"the longer run ({rerun.describe()}, {kind}, {epochs} epochs) scored lower on validation "
                         f"than the {best['epochs']}-epoch {best['label']} run and is not shipped")
    family = shipped_run["family"]
    distilled = shipped_run["label"] == "KD"

    budget.phase("exits and calibration")
    # The shipped run's exits are chosen on its own validation accuracies; the twins (KD and no-KD at equal epochs)
    # are reported at the same units, or at their own size's exit choice when the longer run was the next size up.
    teacher_weak = teacher_info["validationAccuracy"] < plain["validation"][-1]
    if teacher_weak:
        notes.append(f"the teacher ({100 * teacher_info['validationAccuracy']:.2f}% on validation) is weaker than the "
                     f"student's final exit trained without it ({100 * plain['validation'][-1]:.2f}%)")
    if not distilled:
        notes.append("the no-KD twin scored better on validation than its KD twin at equal epochs (final exit, then "
                     "mean over exits), so the shipped student was trained without the teacher")
    candidates = [{"flops": c["flops"], "accuracy": a} for c, a in zip(costs[family], shipped_run["validation"])]
    fixed, count = None, 3
    if args.exits:
        try:
            fixed = [int(k) for k in args.exits.split(",")] if "," in args.exits else None
            count = max(2, int(args.exits)) if fixed is None else count
            keep, exit_notes = exit_choice.choose(candidates, count, fixed)
        except ValueError as error:
            raise DataError("--exits", f"expected a count or comma-separated units 1..{len(candidates)}: {error}") from None
    else:
        keep, exit_notes = exit_choice.choose(candidates, count, fixed)
    notes += exit_notes
    pair_keep, pair_flops = keep, None
    if pair_kd["family"] != family:
        pair_best = best_run([pair_kd, plain])
        pair_keep, _ = exit_choice.choose([{"flops": c["flops"], "accuracy": a} for c, a in
                                           zip(costs[pair_kd["family"]], pair_best["validation"])], len(keep), None)
        pair_flops = [costs[pair_kd["family"]][k - 1]["flops"] for k in pair_keep]
    kd, no_kd = at_units(pair_kd, pair_keep), at_units(plain, pair_keep)
    shipped = at_units(shipped_run, keep)
    pair_note = (f"The twins: {pair_kd['family'].describe()}, {pair_kd['epochs']} epoch(s) each, the same batch "
                 f"order" + (f", at their own size's exits (units {pair_keep})" if pair_flops else "")
                 + (f"; the shipped student is the longer {shipped_run['label']} run ({shipped_run['family'].describe()}, "
                    f"{shipped_run['epochs']} epochs)" if shipped_run is not pair_kd and shipped_run is not plain else "")
                 + ".")
    weights = [1.0] * len(keep)
    final_gap = teacher_info["validationAccuracy"] - shipped["validation"][-1]
    if final_gap > 0.01:
        notes.append(f"the final exit is {100 * final_gap:.2f} points below the teacher on validation (target: within "
                     f"1 point)")

    y_val, y_test = data.validation.y.numpy(), data.test.y.numpy()
    vote_w, vote_val = calibration.vote_weights(shipped["val_p"], y_val)
    vote_test = float((calibration.vote(shipped["test_p"], vote_w).argmax(1) == y_test).mean())
    exits = [{"testAccuracy": t, "validationAccuracy": v, "thresholds": calibration.thresholds(p, y_val)}
             for t, v, p in zip(shipped["test"], shipped["validation"], shipped["val_p"])]
    thresholds = [e["thresholds"] for e in exits]

    budget.phase("export", f"{len(keep)} stages to {out}")
    student = architecture.cut(shipped["model"], keep, shape, family).eval()
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("stage*.onnx"):
        old.unlink()
    stages = export_stages(student, data.test.x[:4] if len(data.test) else data.validation.x[:4], out)
    if task == "image-classification":
        images.write_test_folder(data.test_items, classes, out / "test")
        test_entry = {"kind": "image-folder", "path": "test"}
    else:
        signals.write_test_segments(data.test_recordings, classes, data.window, out / "test")
        test_entry = {"kind": "signal-segments", "index": "test/index.json", "hop": data.window}
    recipe = SimpleNamespace(name=name, task=task, input=data.input)
    command = os.environ.get("EDGEKE_TRAIN_COMMAND") or f"edgeke train {args.data} --out {args.out}"
    result = manifest.build(
        recipe, classes, stages, exit_costs(student, input_shape), exits,
        vote={"weights": vote_w, "validationAccuracy": vote_val, "testAccuracy": vote_test,
              "beatsLastExit": vote_val > shipped["validation"][-1],
              "byLevel": calibration.vote_by_level(shipped["val_p"], y_val, vote_w, thresholds)},
        stop_loss=calibration.stop_losses(shipped["val_p"], y_val, thresholds),
        teacher={**teacher_info, "usedForShippedStudent": distilled, "weakerThanStudent": teacher_weak},
        dataset={**data.description, "test": test_entry},
        training={
            "architecture": student.architecture,
            "distillation": {"divergence": settings.divergence, "temperature": settings.temperature,
                             "beta": settings.beta, "appliedAt": "every candidate exit", "exitWeights": weights},
            "epochs": shipped["epochs"], "seed": args.seed, "seeds": [args.seed],
            "optimizer": "SGD momentum 0.9 Nesterov, one-cycle LR (25% warm-up), checkpoint = best final-exit "
                         "validation accuracy, then best mean over candidate exits",
            "command": command, "smoke": args.smoke, "minutes": minutes,
            "search": [{"student": r["family"].describe(), "finalFlops": costs[r["family"]][-1]["flops"],
                        "epochs": r["epochs"], "candidateValidationAccuracy": r["validation"],
                        "candidateFlops": [c["flops"] for c in costs[r["family"]]]} for r in searched],
            "keptUnits": keep,
            "notes": notes,
            "ablation": {"kd": [{"seed": args.seed, "testAccuracy": kd["test"], "validationAccuracy": kd["validation"]}],
                         "noKd": [{"seed": args.seed, "testAccuracy": no_kd["test"],
                                   "validationAccuracy": no_kd["validation"]}]},
        },
    )
    torch.save(student.state_dict(), out / "student.pt")
    report.plot(out / "accuracy_vs_cost.png", result, [kd], [no_kd], pair_flops)
    result["training"]["durationSeconds"] = round(budget.elapsed(), 1)
    report.write(out / "REPORT.md", result, [kd], [no_kd], command, args.seed, shipped_kind="KD" if distilled else "no-KD",
                 machine=f"{os.cpu_count()} CPU core(s), {args.threads} torch thread(s)", pair_note=pair_note)
    with (out / "REPORT.md").open("a") as f:
        f.write(search_section(result, keep, notes))
    manifest.write(result, out / "manifest.json")
    flow_path = out / "flow.yaml"
    flow_path.write_text(flow_yaml(name, args.flow_model_path or str(args.out), task, classes,
                                   input_shape[-1] if task == "signal-classification" else None))
    print(f"[edgeke train] wrote {out} ({len(keep)} exits, validation {[round(a, 4) for a in shipped['validation']]}, "
          f"test {[round(a, 4) for a in shipped['test']]}) and {flow_path} in {budget.elapsed():.0f} s", flush=True)
    for note in notes:
        print(f"[edgeke train] note: {note}", flush=True)
    return result


def search_section(m, keep, notes) -> str:
    lines = ["", "## How the student and its exits were chosen (validation data only)", ""]
    for s in m["training"]["search"]:
        accs = ", ".join(f"{100 * a:.1f}" for a in s["candidateValidationAccuracy"])
        lines.append(f"- student {s['student']}: {s['finalFlops'] / 1e6:.2f} MFLOPs, {s['epochs']} epoch(s); "
                     f"validation accuracy after each unit: {accs}%")
    lines += ["", f"Kept units {keep} (exit 1 at most {exit_choice.EXIT1_MAX_SHARE:.0%} of the final exit's cost, each "
                  f"deeper exit better on validation, on the validation cost-accuracy front).",
              f"Teacher: {m['teacher']['architecture']}, validation {100 * m['teacher']['validationAccuracy']:.2f}%; "
              f"used for the shipped student: {m['teacher']['usedForShippedStudent']}.", ""]
    if notes:
        lines += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
