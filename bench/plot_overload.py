"""Plot bench/results/overload*.json: on-time answers and attainment against offered load, and the burst and step
second by second."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src, dst):
    data = json.loads(open(src).read())
    rows = data["loads"]
    loads = [r["load"] for r in rows]
    cap = data["capacity"]["capacity_fps"]
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4))

    left.plot(loads, [r["offered_fps"] for r in rows], "k--", label="offered")
    left.plot(loads, [r["ontime_fps"] for r in rows], "o-", label="on time")
    left.axhline(0.9 * data["peak_ontime_fps"], color="gray", linestyle=":", label="0.9 x peak on time")
    left.set_xscale("log", base=2)
    left.set_xlabel("offered load (x C)")
    left.set_ylabel("frames / s")
    left.set_title(f"{data['flow']}: C = {cap:.0f} fps, deadline {data['deadline_ms']:.0f} ms")
    left.legend()

    middle.plot(loads, [r["attainment"] for r in rows], "o-", label="attainment (of offered)")
    middle.plot(loads, [r["accuracy"] for r in rows], "s-", label="accuracy (answered)")
    middle.plot(loads, [r["accuracy_offered"] for r in rows], "^-", label="accuracy (of offered)")
    middle.axhline(data["final_accuracy"], color="gray", linestyle=":", label="final-exit accuracy")
    middle.set_xscale("log", base=2)
    middle.set_ylim(0, 1.05)
    middle.set_xlabel("offered load (x C)")
    middle.legend(fontsize=8)

    for name, marker in (("burst", "o-"), ("step", "s-")):
        seconds = data[name]["seconds"]
        right.plot(
            [s["second"] for s in seconds],
            [s["attainment"] if s["attainment"] is not None else float("nan") for s in seconds],
            marker,
            label=f"{name} ({' / '.join(str(seg['load']) for seg in data[name]['segments'])} x C)",
        )
    right.set_ylim(0, 1.05)
    right.set_xlabel("second of the run")
    right.set_ylabel("attainment in that second")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
