"""Plots query latency against offered load for every target.

usage: plot.py RESULTS.json OUT.png
RESULTS.json is the report `cmd/bench` writes (Runs with Phase "curve").
"""
import json
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src, dst):
    with open(src) as f:
        rep = json.load(f)
    curves = defaultdict(lambda: defaultdict(list))  # target -> rate -> [(p50, p99)]
    for r in rep["Runs"]:
        if r["phase"] != "curve":
            continue
        lat = r["results"]["latency"]["query"]
        if r["results"]["completed"] == 0:
            continue
        curves[r["target"]][r["rate"]].append((lat["p50_us"] / 1000, lat["p99_us"] / 1000))
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    for target in rep["Plan"]["Targets"]:
        pts = sorted(curves.get(target, {}).items())
        if not pts:
            continue
        rates = [rate for rate, _ in pts]
        med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
        p99 = [med([s[1] for s in samples]) for _, samples in pts]
        p50 = [med([s[0] for s in samples]) for _, samples in pts]
        line, = ax.plot(rates, p99, marker="o", label=f"{target} p99")
        ax.plot(rates, p50, marker=".", linestyle="--", color=line.get_color(), alpha=0.6, label=f"{target} p50")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("offered load (queries/s, open loop; 1 query = 1 submission + polls)")
    ax.set_ylabel("query latency (ms)")
    ax.set_title("Query latency against offered load (median of repeats)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(dst)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
