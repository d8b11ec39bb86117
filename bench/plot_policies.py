"""Plot bench/results/policies.json: per model, one row per deadline: deadline attainment and accuracy over offered
frames (unanswered = wrong) of each policy against offered load (multiples of the final exit's sustainable rate)."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src, out_prefix):
    data = json.loads(open(src).read())
    rows = data["rows"]
    for model in sorted({r["model"] for r in rows}):
        sel = [r for r in rows if r["model"] == model]
        deadlines = sorted({(r["deadline_ms"], r["deadline_from"]) for r in sel})
        policies = list(dict.fromkeys(r["policy"] for r in sel))
        fig, axes = plt.subplots(len(deadlines), 2, figsize=(10, 3.6 * len(deadlines)), squeeze=False)
        for (deadline, origin), (left, right) in zip(deadlines, axes):
            for policy in policies:
                pts = sorted(
                    (r["load"], r["attainment"], r["accuracy_offered"])
                    for r in sel
                    if r["policy"] == policy and r["deadline_ms"] == deadline
                )
                style = "o-" if policy == "ours" else ".--"
                width = 2.2 if policy == "ours" else 1
                left.plot([p[0] for p in pts], [p[1] for p in pts], style, label=policy, linewidth=width)
                right.plot([p[0] for p in pts], [p[2] for p in pts], style, label=policy, linewidth=width)
            left.set_title(f"{model}, {deadline:.0f} ms ({origin}): attainment (shed = miss)", fontsize=9)
            right.set_title(f"{model}, {deadline:.0f} ms: accuracy over offered frames", fontsize=9)
            for ax in (left, right):
                ax.set_xlabel("offered load (x final exit's sustainable rate with shedding)", fontsize=8)
                ax.set_ylim(0, 1.02)
            left.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(f"{out_prefix}-{model}.png", dpi=100)
        plt.close(fig)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
