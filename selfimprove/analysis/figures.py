"""The analysis figures, each a pure function from an instrument's JSON record to PNG bytes
(built like ``selfimprove/plots.py``: ``Figure`` directly, matplotlib imported inside)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from selfimprove.plots import _figure, _png


def _bars(ax, counts: Mapping[str, int], title: str, xlabel: str) -> None:
    keys = sorted(counts, key=lambda k: (not k.lstrip("-").isdigit(), int(k) if k.lstrip("-").isdigit() else 0, k))
    ax.bar(range(len(keys)), [counts[k] for k in keys], color="#1f77b4")
    ax.set_xticks(range(len(keys)), keys, fontsize=7, rotation=0 if len(keys) < 16 else 90)
    ax.set(title=title, xlabel=xlabel, ylabel="count")
    ax.grid(alpha=0.3, axis="y")


def taxonomy_png(summary: Mapping[str, Any], title: str) -> bytes:
    """Paper Figs 13, 23, 24: per position dropped vs wrong digits, off-by-k, first mismatch;
    for chain-of-thought the step verdicts, for mazes the failed checks."""
    digits = summary.get("digits")
    panels = [("checks", "which check failed", "check")]
    if "steps" in summary:
        panels.append(("steps", "chain-of-thought steps", "verdict"))
    if "failed" in summary:
        panels.append(("failed", "every failed check (a path can fail several)", "check"))
    fig = _figure(11.0, 6.4 if digits else 3.4)
    axes = fig.subplots(2 if digits else 1, 3, squeeze=False)
    for ax, (key, name, xlabel) in zip(axes[0], panels):
        _bars(ax, summary.get(key) or {}, name, xlabel)
    for ax in axes[0][len(panels):]:
        ax.axis("off")
    if digits:
        pos = digits["per_position"]
        xs = sorted(pos, key=int)
        dropped, wrong = [pos[x]["dropped"] for x in xs], [pos[x]["wrong"] for x in xs]
        ax = axes[1][0]
        ax.bar([int(x) for x in xs], wrong, color="#d62728", label="wrong digit")
        ax.bar([int(x) for x in xs], dropped, bottom=wrong, color="#7f7f7f", label="dropped digit")
        ax.set(title="errors per answer position", xlabel="position (as written)", ylabel="count")
        ax.legend(fontsize=8)
        _bars(axes[1][1], digits["off_by"], "wrong digits: answer - expected", "k")
        _bars(axes[1][2], digits["first_mismatch"], "first mismatching position", "position")
        share = digits.get("short_share")
        if share is not None:
            axes[0][-1].text(0.0, 0.5, f"{digits['wrong_answers']} wrong answers\n{share:.0%} shorter than expected\n"
                             f"{digits['long_share']:.0%} longer", fontsize=11, transform=axes[0][-1].transAxes)
    fig.suptitle(title)
    return _png(fig)


def carries_png(record: Mapping[str, Any]) -> bytes:
    """Paper Figs 29-30: accuracy by maximum carry-chain length (and by run of nines); chain lengths in training data."""
    fig = _figure(11.0, 4.2)
    left, right = fig.subplots(1, 2)
    for key, label, style in (("accuracy", "maximum cascading-carry chain", "o-"),
                              ("nines", "longest run of columns summing to 9", "o-"),
                              ("nines_fed", "… a carry enters the run", "v--"), ("nines_unfed", "… no carry enters it", "^--")):
        acc = record.get(key) or {}
        xs = sorted(acc, key=int)
        left.plot([int(x) for x in xs], [acc[x] for x in xs], style, ms=4, label=label)
    left.set(title=f"round {record.get('round')} model, {record.get('digits')}-digit additions",
             xlabel="length (columns)", ylabel="exact-match accuracy", ylim=(-0.02, 1.03))
    left.grid(alpha=0.3)
    left.legend(fontsize=7)
    for r, counts in (record.get("training") or {}).items():
        total = sum(counts.values()) or 1
        xs = sorted(counts, key=int)
        right.plot([int(x) for x in xs], [counts[x] / total for x in xs], "o-", ms=3, label=f"round {r}")
    right.set(title="training data", xlabel="maximum cascading-carry length", ylabel="share of problems", yscale="log")
    right.grid(alpha=0.3)
    if record.get("training"):
        right.legend(fontsize=7, ncol=2)
    return _png(fig)


def memorised_png(record: Mapping[str, Any]) -> bytes:
    """Paper Fig 26 (left) and Figs 12/22 (right)."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure(11.0, 4.2)
    left, right = fig.subplots(1, 2)
    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # rounds are ints
    for r, later in (record.get("memorised") or {}).items():
        xs = sorted(later, key=int)
        left.plot([int(x) for x in xs], [later[x]["repeats_label"] for x in xs], "o-", label=f"round {r} labels")
    left.set(title="wrong kept labels: later models repeat them", xlabel="round of the model",
             ylabel="share answering the wrong label", ylim=(-0.02, 1.03))
    left.grid(alpha=0.3)
    if record.get("memorised"):
        left.legend(fontsize=7)
    rows = record.get("data_vs_next") or []
    for key, label in (("kept_accuracy", "kept-label accuracy (round r data)"),
                       ("next_accuracy", "round r-1 model, one length beyond its training")):
        pts = [(x["round"], x[key]) for x in rows if x.get(key) is not None]
        if pts:
            right.plot(*zip(*pts), "o-", label=label)
    right.set(title="data accuracy vs next-length accuracy", xlabel="round", ylabel="accuracy", ylim=(-0.02, 1.03))
    right.grid(alpha=0.3)
    right.legend(fontsize=7)
    return _png(fig)


def sweep_png(record: Mapping[str, Any]) -> bytes:
    """One line per sweep point: the longest difficulty at >= 99% (or the chosen cell's accuracy) per
    round; with ``against`` a second panel: that accuracy against x (Figs 27, 28)."""
    from matplotlib.ticker import MaxNLocator

    versus = record.get("against")
    fig = _figure(13.0 if versus else 8.0, 4.6)
    axes = fig.subplots(1, 2 if versus else 1, squeeze=False)[0]
    ax = axes[0]
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    key = "accuracy_at" if record.get("at") is not None else "longest_at_99"
    for point in record.get("points", []):
        series = point.get(key) or {}
        xs = sorted(series, key=int)
        ys = [series[x] if series[x] is not None else 0 for x in xs]
        ax.plot([int(x) for x in xs], ys, "o-", ms=3, label=point["name"])
    ax.set(title=f"sweep {record.get('name')}", xlabel="round",
           ylabel=f"accuracy at difficulty {record.get('at')}" if key == "accuracy_at" else "longest difficulty at >= 99%")
    ax.grid(alpha=0.3)
    if record.get("points"):
        ax.legend(fontsize=7, ncol=2)
    if versus:
        _against(axes[1], versus, record.get("at"))
    return _png(fig)


def _against(ax, versus: Mapping[str, Any], at) -> None:
    """Lines by group (sorted by x); without a group, every point marked and named."""
    rows = versus["points"]
    when = f"after round {versus['round']}" if versus.get("round") is not None else "after each point's last round"
    if versus.get("group") is None:
        ax.plot([r["x"] for r in rows], [r["accuracy"] for r in rows], "o", ms=5)
        for r in rows:
            ax.annotate(r["name"], (r["x"], r["accuracy"]), fontsize=6, xytext=(3, 3), textcoords="offset points")
    else:
        for name in dict.fromkeys(r["group"] for r in rows):
            line = sorted((r for r in rows if r["group"] == name), key=lambda r: r["x"])
            ax.plot([r["x"] for r in line], [r["accuracy"] for r in line], "o-", ms=4, label=f"{versus['group']}={name}")
        ax.legend(fontsize=7)
    numbers = [r["x"] for r in rows]
    if versus["x"] != "kept_accuracy" and min(numbers) > 0 and max(numbers) >= 10 * min(numbers):
        ax.set_xscale("log")
    ax.set(title=f"accuracy at {at} {when}", xlabel="kept-label accuracy of the first labelled round"
           if versus["x"] == "kept_accuracy" else versus["x"], ylabel=f"accuracy at difficulty {at}")
    ax.grid(alpha=0.3)


def rescore_png(record: Mapping[str, Any]) -> bytes:
    """``analyze rescore``: accuracy by difficulty on n problems a cell with 95% intervals, beside the run's own reading."""
    fig = _figure(8.0, 4.2)
    ax = fig.subplots()
    cells = record["cells"]
    xs = [int(c["difficulty"]) for c in cells]
    acc = [c["accuracy"] for c in cells]
    ax.errorbar(xs, acc, yerr=[[a - c["low"] for a, c in zip(acc, cells)], [c["high"] - a for a, c in zip(acc, cells)]],
                fmt="o-", ms=4, capsize=2, label=f"rescored: n = {record['n']} a cell (95% interval)")
    run = [(x, c["run_accuracy"]) for x, c in zip(xs, cells) if c.get("run_accuracy") is not None]
    if run:
        ax.plot(*zip(*run), "x", color="gray", label=f"the run's evaluation (n = {record.get('run_n')})")
    ax.axhline(0.99, color="red", lw=0.8, ls="--", label="99%")
    ax.set(title=f"round {record['round']}: longest at ≥ 99% {record['longest_at_99']} "
                 f"(surely {record['longest_surely_at_99']}; the run read {record['run_longest_at_99']})",
           xlabel="difficulty", ylabel="exact-match accuracy", ylim=(-0.02, 1.03))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    return _png(fig)
