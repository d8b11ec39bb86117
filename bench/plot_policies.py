"""Plot bench/results/policies.json: per model, deadline attainment and accuracy of each policy against offered load."""
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
        policies = list(dict.fromkeys(r["policy"] for r in sel))
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
        for policy in policies:
            pts = sorted((r["load"], r["attainment"], r["accuracy"]) for r in sel if r["policy"] == policy)
            style = "o-" if policy == "ours" else ".--"
            left.plot([p[0] for p in pts], [p[1] for p in pts], style, label=policy, linewidth=2.2 if policy == "ours" else 1)
            right.plot([p[0] for p in pts], [p[2] for p in pts], style, label=policy, linewidth=2.2 if policy == "ours" else 1)
        left.set_title(f"{model}: deadline attainment (shed = miss)")
        left.set_xlabel("offered load (x final-exit capacity)")
        left.set_ylim(0, 1.05)
        right.set_title(f"{model}: accuracy of answered frames")
        right.set_xlabel("offered load (x final-exit capacity)")
        left.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(f"{out_prefix}-{model}.png", dpi=110)
        plt.close(fig)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
