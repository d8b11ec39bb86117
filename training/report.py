"""models/<name>/REPORT.md and accuracy_vs_cost.png from the results of one recipe run."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _pct(x):
    return f"{100 * x:.2f}%"


def _mflops(flops):
    return "—" if not flops else f"{flops / 1e6:.1f}"


def _spread(values):
    """'mean ± half-range (min-max)' over seeds, in percent."""
    v = 100 * np.asarray(values)
    return f"{v.mean():.2f}% ± {(v.max() - v.min()) / 2:.2f} ({v.min():.2f}-{v.max():.2f})"


def plot(path, manifest, kd_runs, plain_runs, pair_flops=None):
    """pair_flops: the KD/no-KD runs' exit costs when they are not the shipped student's (another size)."""
    mflops = [e["flops"] / 1e6 for e in manifest["exits"]]
    pair_mflops = mflops if pair_flops is None else [f / 1e6 for f in pair_flops]
    fig, ax = plt.subplots(figsize=(6, 4))
    for runs, label, marker in ((kd_runs, "KD student (mean of seeds)", "o"), (plain_runs, "no-KD (mean of seeds)", "s")):
        ax.plot(pair_mflops, 100 * np.mean([r["test"] for r in runs], axis=0), marker=marker, label=label)
    ax.plot(mflops, [100 * e["testAccuracy"] for e in manifest["exits"]], "k*--", label="shipped student", ms=9)
    teacher = manifest["teacher"]
    if teacher.get("flops"):  # a user's ONNX teacher has no counted FLOPs
        ax.plot([teacher["flops"] / 1e6], [100 * teacher["testAccuracy"]], "r^", ms=9, label="teacher")
    ax.set_xscale("log")
    ax.set_xlabel("cumulative MFLOPs to the exit (batch 1)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{manifest['name']}: accuracy vs cost per exit")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(path, manifest, kd_runs, plain_runs, command, shipped_seed, shipped_kind="KD", machine="2 shared CPU cores",
          pair_note=None):
    m, t = manifest, manifest["teacher"]
    last = m["exits"][-1]
    lines = [
        f"# {m['name']}: training report", "",
        f"Recipe: `{command}` — measured wall time of the full recipe (teacher, {len(kd_runs)} KD + "
        f"{len(plain_runs)} no-KD students, calibration, export, report): **{m['training']['durationSeconds']:.0f} s** "
        f"on {machine}, {m['training']['date']}.", "",
        f"Dataset: {m['dataset']['name']}. Split: {m['dataset']['split']}", "",
        f"Shipped student: {shipped_kind} seed {shipped_seed} (of seeds {[r['seed'] for r in kd_runs]}, chosen on validation "
        f"accuracy). Distillation: D = {m['training']['distillation']['divergence']}, "
        f"T = {m['training']['distillation']['temperature']}, b = {m['training']['distillation']['beta']}.", "",
        "## Exits (shipped student)", "",
        "| exit | cumulative MFLOPs | % of final | cumulative params | stage ONNX size | validation acc | test acc "
        "| thresholds 90/95/99% |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for e, s in zip(m["exits"], m["stages"]):
        th = " / ".join("—" if v is None else f"{v:.3f}" for v in e["thresholds"].values())
        lines.append(f"| {e['index']} | {e['flops'] / 1e6:.2f} | {100 * e['flops'] / last['flops']:.1f}% | "
                     f"{e['params']:,} | {s['bytes'] / 1024:.0f} KiB | {_pct(e['validationAccuracy'])} | "
                     f"{_pct(e['testAccuracy'])} | {th} |")
    v = m["vote"]
    lines += [
        "", f"Weighted vote of all exits (weights {v['weights']}, fitted on validation): validation "
              f"{_pct(v['validationAccuracy'])}, test {_pct(v['testAccuracy'])}; beats the last exit on validation: "
              f"{v['beatsLastExit']}.", "",
        "## Teacher vs student", "",
        "| | architecture | params | MFLOPs | size (float32) | test acc |", "| --- | --- | --- | --- | --- | --- |",
        f"| teacher | {t['architecture']} | {t['params']:,} | {_mflops(t['flops'])} | {t['params'] * 4 / 1e6:.2f} MB "
        f"| {_pct(t['testAccuracy'])} |",
        f"| student (final exit) | {m['training']['architecture']} | {last['params']:,} | {last['flops'] / 1e6:.1f} | "
        f"{sum(s['bytes'] for s in m['stages']) / 1e6:.2f} MB (ONNX) | {_pct(last['testAccuracy'])} |", "",
        (f"Student final exit: {t['flops'] / last['flops']:.1f}x fewer FLOPs and " if t["flops"] else
         "Student final exit: ") + f"{t['params'] / last['params']:.1f}x fewer parameters than the teacher.", "",
        "## KD vs no-KD (test accuracy per exit, mean ± half-range over seeds)", "",
    ] + ([pair_note, ""] if pair_note else []) + [
        "| exit | KD | no-KD | KD − no-KD (mean) |", "| --- | --- | --- | --- |",
    ]
    for k in range(len(kd_runs[0]["test"])):
        kd = [r["test"][k] for r in kd_runs]
        plain = [r["test"][k] for r in plain_runs]
        lines.append(f"| {k + 1} | {_spread(kd)} | {_spread(plain)} | "
                     f"{100 * (np.mean(kd) - np.mean(plain)):+.2f} points |")
    lines += ["", "Per seed (test accuracy per exit):", ""]
    for label, runs in (("KD", kd_runs), ("no-KD", plain_runs)):
        for r in runs:
            lines.append(f"- {label} seed {r['seed']}: " + ", ".join(_pct(a) for a in r["test"])
                         + f" (validation: {', '.join(_pct(a) for a in r['validation'])})")
    lines += ["", "![accuracy vs cost](accuracy_vs_cost.png)", ""]
    path.write_text("\n".join(lines))
