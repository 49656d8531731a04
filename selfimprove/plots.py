"""The report's figures, each a pure function from plain data to PNG bytes.

Figures are built on ``matplotlib.figure.Figure`` directly rather than ``pyplot``: no global
backend switch, no figure registry to leak into a notebook that imported us, and the Agg renderer
is what ``savefig(format="png")`` uses for a canvas-less figure. matplotlib is imported inside the
functions so that importing ``selfimprove.report`` stays cheap.

Paper counterparts: ``accuracy_png`` is Fig. 3 (one line per round, trained range shaded),
``heatmap_png`` is Fig. 7 (accuracy per operand-size cell, trained cells boxed), ``rounds_png`` is
Figs. 8-right and 10 (self-labelled data accuracy and the longest length at >= 99% per round).
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from selfimprove.rundir import spans

DPI = 110
_LEGEND_MAX = 10  # more rounds than this get a colourbar: a 30-entry legend hides the data
_BASE_EDGE, _SELF_EDGE = "#d62728", "#ff7f0e"  # red: oracle-labelled cells; orange: self-labelled


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def accuracy_png(curves: Sequence[tuple[int, Mapping[int, float]]], trained: Iterable[int],
                 trained_round: int, title: str, xlabel: str) -> bytes:
    """Accuracy vs difficulty, one line per ``(round, {difficulty: accuracy})``, colour by round.

    ``trained`` (the latest round's trained difficulties) is shaded behind the curves.
    """
    import matplotlib as mpl
    import numpy as np
    from matplotlib import cm, colors, ticker

    fig = _figure(8.0, 4.6)
    ax = fig.add_subplot()
    first, last = curves[0][0], curves[-1][0]
    # Stop at 0.9 of viridis: its last tenth is a yellow that vanishes on white.
    cmap = colors.ListedColormap(mpl.colormaps["viridis"](np.linspace(0.0, 0.9, 256)))
    norm = colors.Normalize(vmin=first, vmax=max(last, first + 1))
    for i, (a, b) in enumerate(spans(trained)):
        ax.axvspan(a - 0.5, b + 0.5, color="0.88", zorder=0,
                   label=f"trained (round {trained_round})" if i == 0 else None)
    many = len(curves) > _LEGEND_MAX
    for rnd, accs in curves:
        xs = sorted(accs)
        ax.plot(xs, [accs[x] for x in xs], color=cmap(norm(rnd)), lw=1.6,
                marker="o" if len(xs) <= 40 else None, ms=3,
                label=None if many else f"round {rnd}")
    ax.axhline(0.99, color="0.35", ls=":", lw=0.9, label="99%")
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))  # difficulties are ints
    ax.set(xlabel=xlabel, ylabel="exact-match accuracy", ylim=(-0.02, 1.03), title=title)
    ax.grid(alpha=0.3)
    if many:
        fig.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="round")
    ax.legend(loc="lower left", fontsize=8, ncol=2 if 5 < len(curves) <= _LEGEND_MAX else 1)
    return _png(fig)


def heatmap_png(cells: Mapping[tuple[int, int], float], base_trained: Iterable[tuple[int, int]],
                self_trained: Iterable[tuple[int, int]], title: str,
                axis_labels: tuple[str, str]) -> bytes:
    """Accuracy grid (rows: first coordinate, columns: second) with the value in every cell.

    Values are floored percentages, so "100" only ever means every test problem was right.
    Trained cells are boxed: red for round-0 oracle data, orange for self-labelled rounds.
    """
    import matplotlib as mpl
    import numpy as np
    from matplotlib import patches

    rows = list(range(min(k[0] for k in cells), max(k[0] for k in cells) + 1))
    cols = list(range(min(k[1] for k in cells), max(k[1] for k in cells) + 1))
    grid = np.full((len(rows), len(cols)), np.nan)
    for (a, b), acc in cells.items():
        grid[a - rows[0], b - cols[0]] = acc
    n = max(len(rows), len(cols))
    side = min(10.0, max(4.5, 0.55 * n + 2.0))
    fig = _figure(side + 1.0, side)
    ax = fig.add_subplot()
    cmap = mpl.colormaps["Blues"].with_extremes(bad="0.93")  # unevaluated cells: light grey
    im = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0.0, vmax=1.0, aspect="equal")
    size = max(5.0, min(10.0, 70.0 / n))
    for (a, b), acc in cells.items():
        ax.text(b - cols[0], a - rows[0], str(math.floor(acc * 100 + 1e-9)), ha="center",
                va="center", fontsize=size, color="white" if acc > 0.6 else "black")
    handles = []
    for keys, colour, label in ((base_trained, _BASE_EDGE, "oracle-labelled (round 0)"),
                                (self_trained, _SELF_EDGE, "self-labelled")):
        keys = [k for k in keys if k[0] in rows and k[1] in cols]
        for a, b in keys:
            ax.add_patch(patches.Rectangle((b - cols[0] - 0.5, a - rows[0] - 0.5), 1, 1,
                                               fill=False, ec=colour, lw=2.0))
        if keys:
            handles.append(patches.Patch(fill=False, ec=colour, lw=2.0, label=label))
    ax.set_xticks(range(len(cols)), [str(c) for c in cols])
    ax.set_yticks(range(len(rows)), [str(r) for r in rows])
    ax.set(xlabel=axis_labels[1], ylabel=axis_labels[0], title=title)
    fig.colorbar(im, ax=ax, shrink=0.8, label="exact-match accuracy")
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=8)
    return _png(fig)


def rounds_png(rows: Sequence[Mapping[str, Any]], title: str, ylabel: str,
               reference: bool) -> bytes:
    """Per-round diagnostics: self-labelled data quality (top) and reach at >= 99% (bottom).

    Each row has ``round`` and optional ``label_accuracy``, ``kept_accuracy``, ``right_kept``, ``keep_rate``,
    ``longest`` (``None``: nothing reached 99%, drawn as 0) and ``waited`` (the schedule added
    no data that round: shaded, with no label-quality points). With ``reference`` a dashed line
    shows the +1-per-round pace of the standard schedule (paper Fig. 10).
    """
    from matplotlib.ticker import MaxNLocator

    fig = _figure(7.5, 6.4)
    top, bottom = fig.subplots(2, 1, sharex=True)
    # Fixed colours: a series keeps its colour whether or not the others have data yet.
    series = (("label_accuracy", "all self-labels correct", "o-", "#1f77b4"),
              ("kept_accuracy", "kept self-labels correct", "s-", "#ff7f0e"),
              ("right_kept", "correct self-labels kept (filter recall)", "d:", "#9467bd"),
              ("keep_rate", "kept / labelled (filter keep rate)", "^--", "#7f7f7f"))
    waited = [r["round"] for r in rows if r.get("waited")]
    for i, x in enumerate(waited):  # no data to score: shade the round instead of plotting 0
        for ax in (top, bottom):
            ax.axvspan(x - 0.4, x + 0.4, color="0.9", zorder=0,
                       label="waited: no new data" if i == 0 and ax is top else None)
    drawn = bool(waited)
    for key, label, style, colour in series:
        pts = [(r["round"], r[key]) for r in rows if r.get(key) is not None]
        if pts:
            top.plot(*zip(*pts), style, color=colour, ms=4, lw=1.4, label=label)
            drawn = True
    if drawn:
        top.legend(loc="lower left", fontsize=8)
    else:
        top.text(0.5, 0.5, "no self-labelled rounds yet", ha="center", va="center",
                 transform=top.transAxes, color="0.4")
    top.set(ylabel="fraction", ylim=(-0.02, 1.03), title=title)
    top.grid(alpha=0.3)

    xs = [r["round"] for r in rows]
    ys = [r.get("longest") or 0 for r in rows]
    bottom.plot(xs, ys, "o-", color="#2ca02c", ms=4, lw=1.6, label="measured")
    start = next((r["longest"] for r in rows if r["round"] == 0 and r.get("longest")), None)
    if reference and start is not None and len(xs) > 1:
        bottom.plot([0, xs[-1]], [start, start + xs[-1]], "--", color="0.5", lw=1.0,
                    label="+1 per round (standard schedule)")
        ys = ys + [start + xs[-1]]  # keep the reference inside the axes
    bottom.set(xlabel="round", ylabel=ylabel, ylim=(0, max(ys + [1]) * 1.08 + 0.5))
    bottom.legend(loc="upper left", fontsize=8)
    bottom.grid(alpha=0.3)
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _png(fig)


def losses_png(rounds: Sequence[tuple[int, Sequence[float]]], title: str) -> bytes:
    """Model 0's training loss at every step, rounds end to end (round r's steps follow round r-1's),
    log scale, each round's start marked: where a round's spikes are, and how high."""
    fig = _figure(9.0, 3.8)
    ax = fig.subplots()
    offset = 0
    for r, values in rounds:
        xs = range(offset, offset + len(values))
        ax.plot(xs, values, lw=0.6, color=f"C{r % 10}", label=f"round {r}" if len(rounds) <= 12 else None)
        ax.axvline(offset, color="0.8", lw=0.6, zorder=0)
        offset += len(values)
    ax.set(title=title, xlabel="training step (all rounds in order)", ylabel="loss (answer tokens)", yscale="log")
    ax.grid(alpha=0.3)
    if 1 < len(rounds) <= 12:
        ax.legend(fontsize=7, ncol=4, loc="upper right")
    return _png(fig)
