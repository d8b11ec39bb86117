"""Plot bench/results/runtime.json: per model, exit and batch size, ms per call of each implementation (log scale)."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

SERIES = [("oursP25Ms", "EdgeKE runtime (onnx)"), ("bareOrtP25Ms", "bare onnxruntime"), ("pytorchP25Ms", "PyTorch eager"),
          ("tfjsP25Ms", "EdgeKE runtime (tfjs)")]


def main(src, dst):
    data = json.loads(open(src).read())
    rows = data["rows"]
    models = sorted({r["model"] for r in rows}, key=lambda m: [r["model"] for r in rows].index(m))
    batches = sorted({r["batchSize"] for r in rows})
    fig, axes = plt.subplots(len(batches), len(models), figsize=(4.2 * len(models), 3.4 * len(batches)), squeeze=False)
    for i, batch in enumerate(batches):
        for j, model in enumerate(models):
            ax = axes[i][j]
            sel = [r for r in rows if r["model"] == model and r["batchSize"] == batch]
            exits = [r["exit"] for r in sel]
            width = 0.8 / len(SERIES)
            for k, (key, label) in enumerate(SERIES):
                vals = [r[key] if r[key] is not None else np.nan for r in sel]
                ax.bar(np.arange(len(exits)) + (k - 1.5) * width, vals, width, label=label)
            ax.set_yscale("log")
            ax.set_xticks(range(len(exits)), [f"exit {e}" for e in exits])
            ax.set_title(f"{model}, batch {batch}", fontsize=10)
            ax.set_ylabel("ms per call (lower quartile)")
            ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(
        f"worst overhead vs bare ORT {data['overhead_vs_ort']:.3f}x; "
        f"min speedup vs PyTorch @b1 {data['speedup_vs_pytorch'] or float('nan'):.2f}x  ({data['cpu']}, {data['threads']} thread)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
