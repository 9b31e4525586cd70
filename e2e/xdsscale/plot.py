"""Plots the time for a change to reach every Envoy against the number of
Envoys, one line per cluster count.

usage: plot.py RESULTS.json OUT.png
RESULTS.json is the report `cmd/xdsbench` writes.
"""
import json
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def quantile(xs, q):
    s = sorted(xs)
    i = int(q * len(s) + 0.5) - 1
    return s[max(0, min(i, len(s) - 1))]


def main(src, dst):
    with open(src) as f:
        rep = json.load(f)
    curves = defaultdict(list)  # clusters -> [(envoys, p50, max)]
    for p in rep["points"]:
        alls = [c["all_ms"] for c in p["changes"] or []]
        if not alls:
            continue
        curves[p["clusters"]].append((p["envoys"], quantile(alls, 0.5), max(alls)))
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    for clusters in sorted(curves):
        pts = sorted(curves[clusters])
        xs = [e for e, _, _ in pts]
        line, = ax.plot(xs, [m for _, _, m in pts], marker="o", label=f"{clusters} clusters, max")
        ax.plot(xs, [p for _, p, _ in pts], marker=".", linestyle="--", color=line.get_color(), alpha=0.7,
                label=f"{clusters} clusters, p50")
    ax.axhline(1000, color="red", linewidth=0.8, linestyle=":", label="goal (1 s)")
    ax.set_xlabel("Envoys attached to one control plane")
    ax.set_ylabel("time from the admin call to the last Envoy running the change (ms)")
    ax.set_title("A drain or activation reaching every Envoy")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(dst)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
