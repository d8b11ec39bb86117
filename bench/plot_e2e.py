"""Plot bench/results/e2e.json: attainment, accuracy and shed rate against offered load, and p50/p99 latency."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src, dst):
    data = json.loads(open(src).read())
    rows = data["loads"]
    loads = [r["load"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    left.plot(loads, [r["attainment"] for r in rows], "o-", label="deadline attainment")
    left.plot(loads, [r["accuracy"] for r in rows], "s-", label="accuracy")
    left.plot(loads, [r["shedRate"] for r in rows], "^-", label="shed rate")
    left.set_xlabel("offered load (x runtime capacity at the final exit)")
    left.set_ylim(0, 1.05)
    left.legend()
    by_exit = data.get("throughput_ratio_by_exit")
    if by_exit:
        ratios = ", ".join(f"exit {r['exit']} {r['throughput_ratio']:.2f}" for r in by_exit)
        left.set_title(f"{data['model']}: throughput ratio {ratios}", fontsize=9)
    else:
        left.set_title(f"{data['model']}: throughput ratio {data['throughput_ratio']:.2f}")
    right.plot(loads, [r["p50Ms"] for r in rows], "o-", label="p50")
    right.plot(loads, [r["p99Ms"] for r in rows], "s-", label="p99")
    right.axhline(rows[0]["deadlineMs"], color="gray", linestyle="--", label="deadline")
    right.set_xlabel("offered load (x capacity)")
    right.set_ylabel("end-to-end latency (ms)")
    right.legend()
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
