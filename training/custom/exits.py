"""Which candidate exits to keep, from validation accuracy and cost only (never the test split).

Rules (issue #15): exit 1 costs at most EXIT1_MAX_SHARE of the final exit; each deeper exit is better on validation
than the one before; the kept exits lie on the validation cost-accuracy front. The final exit is the last unit.
"""
import math

EXIT1_MAX_SHARE = 0.15


def front(candidates) -> list:
    """Indices (0-based) of candidates no cheaper-or-equal candidate matches or beats on validation accuracy."""
    out = []
    for i, c in enumerate(candidates):
        dominated = any(o["flops"] <= c["flops"] and o["accuracy"] >= c["accuracy"] and j != i
                        and (o["flops"] < c["flops"] or o["accuracy"] > c["accuracy"] or j < i)
                        for j, o in enumerate(candidates))
        if not dominated:
            out.append(i)
    return out


def choose(candidates, count: int = 3, fixed=None):
    """candidates: per unit, {"flops": cumulative cost, "accuracy": validation accuracy}, shallowest first.
    Returns (kept 1-based unit indices, notes: what could not be met and why)."""
    last = len(candidates)
    if fixed:
        keep = sorted(set(fixed))
        if keep[-1] != last:
            keep.append(last)
        bad = [k for k in keep if not 1 <= k <= last]
        if bad:
            raise ValueError(f"--exits: units {bad} do not exist (1..{last})")
        return keep, _violations(candidates, keep)
    final = candidates[-1]
    on_front = set(front(candidates))
    cheap = [i for i in range(last - 1) if candidates[i]["flops"] <= EXIT1_MAX_SHARE * final["flops"]]
    notes = []
    if not cheap:
        cheap = [0]
        notes.append(f"no candidate exit costs <= {EXIT1_MAX_SHARE:.0%} of the final exit; exit 1 is the first unit "
                     f"({100 * candidates[0]['flops'] / final['flops']:.1f}%)")
    # Exit 1: the best on validation among the cheap ones (the cheaper on a tie).
    first = max(cheap, key=lambda i: (candidates[i]["accuracy"], -i))
    keep = [first]
    # Middle exits: front points strictly between exit 1 and the final exit in accuracy, spread evenly in log cost.
    middle = [i for i in sorted(on_front) if first < i < last - 1
              and candidates[first]["accuracy"] < candidates[i]["accuracy"] < final["accuracy"]]
    wanted = max(0, count - 2)
    if middle and wanted:
        lo, hi = math.log(candidates[first]["flops"]), math.log(final["flops"])
        for q in range(1, wanted + 1):
            target = lo + (hi - lo) * q / (wanted + 1)
            pick = min((i for i in middle if i > keep[-1]),
                       key=lambda i: abs(math.log(candidates[i]["flops"]) - target), default=None)
            if pick is not None:
                keep.append(pick)
    keep = [i + 1 for i in keep] + [last]
    if len(keep) < count:
        notes.append(f"{len(keep)} exits instead of {count}: no other candidate lies on the validation front "
                     f"between exit 1 and the final exit")
    return keep, notes + _violations(candidates, keep)


def _violations(candidates, keep) -> list:
    notes = []
    final = candidates[keep[-1] - 1]
    share = candidates[keep[0] - 1]["flops"] / final["flops"]
    if share > EXIT1_MAX_SHARE and len(keep) > 1:
        notes.append(f"exit 1 costs {100 * share:.1f}% of the final exit (target <= {100 * EXIT1_MAX_SHARE:.0f}%)")
    for a, b in zip(keep, keep[1:]):
        if candidates[b - 1]["accuracy"] <= candidates[a - 1]["accuracy"]:
            notes.append(f"the exit at unit {b} is not better on validation than the one at unit {a} "
                         f"({100 * candidates[b - 1]['accuracy']:.2f}% vs {100 * candidates[a - 1]['accuracy']:.2f}%)")
    return notes
